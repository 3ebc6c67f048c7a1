import type { Response as MetricsResponse } from '@azure/arm-monitor';
import type { AzureClients } from './clients';
import { refusalOrThrow, type Result } from './results';
import type { GroupedResourceId, RequestMetricsMinute } from '../domain';

/**
 * A Service Bus namespace's platform metrics through the Azure Monitor metrics API (`GET
 * {namespaceId}/providers/Microsoft.Insights/metrics`, @azure/arm-monitor `metrics.list`): the
 * per-minute request totals rotation uptake is judged by — requests, successes, server errors
 * (docs/ARCHITECTURE.md "Reactions"). Read-only; needs Reader (Microsoft.Insights/metrics/read) on
 * the namespace, which the app's Reader role on the subscription covers.
 */
export const REQUEST_METRICS = ['IncomingRequests', 'SuccessfulRequests', 'ServerErrors'] as const;

export class PlatformMetricsGateway {
  constructor(private readonly clients: AzureClients) {}

  /** One call: the three request metrics per minute in [from, to). */
  async requestMetrics(
    namespace: GroupedResourceId,
    from: Date,
    to: Date,
  ): Promise<Result<RequestMetricsMinute[]>> {
    try {
      const response = await this.clients.monitor(namespace.subscriptionId).metrics.list(namespace.id, {
        metricnamespace: 'Microsoft.ServiceBus/namespaces',
        metricnames: REQUEST_METRICS.join(','),
        timespan: `${from.toISOString()}/${to.toISOString()}`,
        interval: 'PT1M',
        aggregation: 'Total',
      });
      return { ok: true, value: requestMetricsFromSdk(response) };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }
}

/**
 * The SDK's metrics response → per-minute totals. A minute a metric has no point for counts 0 (the
 * API leaves out empty minutes of some metrics); only the first time series is read (no dimension
 * filter is asked for, so there is one).
 */
export function requestMetricsFromSdk(response: MetricsResponse): RequestMetricsMinute[] {
  const byMinute = new Map<string, RequestMetricsMinute>();
  for (const metric of response.value ?? []) {
    const name = metric.name?.value?.toLowerCase();
    const field =
      name === 'incomingrequests'
        ? 'incoming'
        : name === 'successfulrequests'
          ? 'successful'
          : name === 'servererrors'
            ? 'serverErrors'
            : undefined;
    if (!field) continue;
    for (const point of metric.timeseries?.[0]?.data ?? []) {
      const at = new Date(point.timeStamp).toISOString();
      const minute = byMinute.get(at) ?? { at, incoming: 0, successful: 0, serverErrors: 0 };
      minute[field] = typeof point.total === 'number' && Number.isFinite(point.total) ? point.total : 0;
      byMinute.set(at, minute);
    }
  }
  return [...byMinute.values()].sort((a, b) => a.at.localeCompare(b.at));
}
