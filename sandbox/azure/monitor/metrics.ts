import type { SandboxCore } from '../core';
import { SandboxError } from '../errors';

/**
 * Azure Monitor's metric store as the sandbox keeps it: one-minute buckets (total, count, min, max) per
 * resource, metric namespace, metric and dimension combination — Azure's finest time grain for platform
 * and custom metrics. Buckets live in `core.store`; what is computed from other state (the synthetic
 * traffic of Service Bus namespaces) comes from `MetricSource`s at read time, so it needs no timers.
 */
export const MINUTE = 60_000;
const BUCKETS = 'monitorMetricBuckets';
const CUSTOM_DEFINITIONS = 'monitorCustomMetricDefinitions';

export type Aggregation = 'Average' | 'Count' | 'Maximum' | 'Minimum' | 'Total';
export const AGGREGATIONS: readonly Aggregation[] = ['Average', 'Count', 'Maximum', 'Minimum', 'Total'];

export interface Bucket {
  /** Start of the minute (ms). */
  minute: number;
  dims: Record<string, string>;
  total: number;
  count: number;
  min: number;
  max: number;
}

interface StoredBucket extends Bucket {
  resourceId: string;
  namespace: string;
  metric: string;
}

export interface MetricDefinition {
  name: string;
  displayName: string;
  description: string;
  unit: 'Count' | 'Percent' | 'MilliSeconds' | 'Unspecified';
  primaryAggregation: Aggregation;
  dimensions: string[];
}

/** Computed series (synthetic traffic): buckets of one metric of one resource between from and to. */
export interface MetricSource {
  appliesTo(resourceId: string, namespace: string): boolean;
  buckets(resourceId: string, metric: string, from: number, to: number): Bucket[];
}

/** Platform metrics per resource type: the names the product and infra alert on (supported-metrics docs). */
export const PLATFORM_METRICS: Record<string, MetricDefinition[]> = {
  'microsoft.servicebus/namespaces': [
    def('ServerErrors', 'Server Errors.', 'Server Errors for Microsoft.ServiceBus.', 'Count', 'Total', [
      'EntityName',
      'OperationResult',
    ]),
    def('UserErrors', 'User Errors.', 'User Errors for Microsoft.ServiceBus.', 'Count', 'Total', [
      'EntityName',
      'OperationResult',
    ]),
    def(
      'SuccessfulRequests',
      'Successful Requests',
      'Total successful requests for a namespace',
      'Count',
      'Total',
      ['EntityName', 'OperationResult'],
    ),
    def(
      'IncomingRequests',
      'Incoming Requests',
      'Incoming Requests for Microsoft.ServiceBus.',
      'Count',
      'Total',
      ['EntityName'],
    ),
    def(
      'IncomingMessages',
      'Incoming Messages',
      'Incoming Messages for Microsoft.ServiceBus.',
      'Count',
      'Total',
      ['EntityName'],
    ),
    def('NamespaceCpuUsage', 'CPU', 'CPU usage metric for Premium SKU namespaces.', 'Percent', 'Maximum', [
      'Replica',
    ]),
  ],
  'microsoft.keyvault/vaults': [
    def('ServiceApiHit', 'Total Service Api Hits', 'Number of total service api hits', 'Count', 'Count', [
      'ActivityType',
      'ActivityName',
    ]),
    def(
      'ServiceApiResult',
      'Total Service Api Results',
      'Number of total service api results',
      'Count',
      'Count',
      ['ActivityType', 'ActivityName', 'StatusCode', 'StatusCodeClass'],
    ),
    def('Availability', 'Overall Vault Availability', 'Vault requests availability', 'Percent', 'Average', [
      'ActivityType',
      'ActivityName',
      'StatusCode',
      'StatusCodeClass',
    ]),
    def(
      'ServiceApiLatency',
      'Overall Service Api Latency',
      'Overall latency of service api requests',
      'MilliSeconds',
      'Average',
      ['ActivityType', 'ActivityName', 'StatusCode', 'StatusCodeClass'],
    ),
  ],
};

function def(
  name: string,
  displayName: string,
  description: string,
  unit: MetricDefinition['unit'],
  primaryAggregation: Aggregation,
  dimensions: string[],
): MetricDefinition {
  return { name, displayName, description, unit, primaryAggregation, dimensions };
}

/** `Microsoft.ServiceBus/namespaces` from `/subscriptions/…/providers/Microsoft.ServiceBus/namespaces/x`. */
export function resourceTypeOf(resourceId: string): string | undefined {
  const m = /\/providers\/([^/]+)\/([^/]+)\/[^/]+$/i.exec(resourceId);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

const bucketKey = (
  resourceId: string,
  namespace: string,
  metric: string,
  dims: Record<string, string>,
  minute: number,
) => `${resourceId}|${namespace}|${metric}|${dimKey(dims)}|${minute}`;

export function dimKey(dims: Record<string, string>): string {
  return Object.keys(dims)
    .sort()
    .map((k) => `${k.toLowerCase()}=${dims[k]!.toLowerCase()}`)
    .join(',');
}

export class MetricStore {
  readonly sources: MetricSource[] = [];

  constructor(private readonly core: SandboxCore) {}

  /** Adds one value (or a pre-aggregated sample) to the minute bucket containing `time`. */
  record(
    resourceId: string,
    namespace: string,
    metric: string,
    dims: Record<string, string>,
    time: number,
    sample: { total: number; count: number; min: number; max: number },
  ): void {
    const minute = Math.floor(time / MINUTE) * MINUTE;
    const key = bucketKey(resourceId, namespace, metric, dims, minute);
    const existing = this.core.store.get<StoredBucket>(BUCKETS, key);
    const next: StoredBucket = existing
      ? {
          ...existing,
          total: existing.total + sample.total,
          count: existing.count + sample.count,
          min: Math.min(existing.min, sample.min),
          max: Math.max(existing.max, sample.max),
        }
      : { resourceId, namespace, metric, dims, minute, ...sample };
    this.core.store.put(BUCKETS, key, next);
  }

  /** Custom metric definitions are created by the first ingestion of a metric (as in Azure). */
  defineCustom(resourceId: string, namespace: string, metric: string, dimNames: string[]): void {
    const key = `${resourceId}|${namespace}|${metric}`;
    const existing = this.core.store.get<{ dimNames: string[] }>(CUSTOM_DEFINITIONS, key);
    const merged = [...new Set([...(existing?.dimNames ?? []), ...dimNames])];
    if (!existing || merged.length !== existing.dimNames.length)
      this.core.store.put(CUSTOM_DEFINITIONS, key, { resourceId, namespace, metric, dimNames: merged });
  }

  customNamespaces(resourceId: string): string[] {
    return [
      ...new Set(
        this.core.store
          .list<{ namespace: string }>(CUSTOM_DEFINITIONS, `${resourceId}|`)
          .map((d) => d.namespace),
      ),
    ];
  }

  /** Definitions of a namespace on a resource: the platform catalogue, or what was ingested (custom). */
  definitions(resourceId: string, namespace: string): MetricDefinition[] {
    const type = resourceTypeOf(resourceId)?.toLowerCase();
    if (type && namespace.toLowerCase() === type) return PLATFORM_METRICS[type] ?? [];
    return this.core.store
      .list<{ namespace: string; metric: string; dimNames: string[] }>(CUSTOM_DEFINITIONS, `${resourceId}|`)
      .filter((d) => d.namespace.toLowerCase() === namespace.toLowerCase())
      .map((d) => def(d.metric, d.metric, '', 'Unspecified', 'Average', d.dimNames));
  }

  /** Stored and computed buckets of one metric in [from, to). */
  buckets(resourceId: string, namespace: string, metric: string, from: number, to: number): Bucket[] {
    const source = this.sources.find((s) => s.appliesTo(resourceId, namespace));
    if (source) return source.buckets(resourceId, metric, from, to);
    const prefix = `${resourceId}|${namespace}|${metric}|`;
    return this.core.store
      .list<StoredBucket>(BUCKETS, prefix)
      .filter((b) => b.metric.toLowerCase() === metric.toLowerCase() && b.minute >= from && b.minute < to);
  }
}

// ---- query helpers shared by the metrics API and the alert evaluation ----------------------------------

/** A dimension filter: name → allowed values ('*' = any, and split by it). */
export type DimensionFilter = Array<{ name: string; values: string[]; exclude?: boolean }>;

/** Groups buckets by the split dimensions and keeps those the filter admits. */
export function splitBuckets(
  buckets: Bucket[],
  filter: DimensionFilter,
): Map<string, { dims: Record<string, string>; buckets: Bucket[] }> {
  const groups = new Map<string, { dims: Record<string, string>; buckets: Bucket[] }>();
  for (const b of buckets) {
    const dims: Record<string, string> = {};
    let admitted = true;
    for (const f of filter) {
      const value = valueOf(b.dims, f.name);
      const listed = f.values.some((v) => v === '*' || v.toLowerCase() === (value ?? '').toLowerCase());
      if (f.exclude ? listed : !listed) admitted = false;
      if (!f.exclude) dims[f.name] = value ?? '';
    }
    if (!admitted) continue;
    const key = dimKey(dims);
    const group = groups.get(key) ?? { dims, buckets: [] };
    group.buckets.push(b);
    groups.set(key, group);
  }
  return groups;
}

function valueOf(dims: Record<string, string>, name: string): string | undefined {
  const key = Object.keys(dims).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : dims[key];
}

/** The aggregate of some buckets; undefined when there is no data. */
export function aggregate(buckets: Bucket[], aggregation: Aggregation): number | undefined {
  if (buckets.length === 0) return undefined;
  const total = buckets.reduce((s, b) => s + b.total, 0);
  const count = buckets.reduce((s, b) => s + b.count, 0);
  switch (aggregation) {
    case 'Total':
      return total;
    case 'Count':
      return count;
    case 'Average':
      return count === 0 ? undefined : total / count;
    case 'Minimum':
      return Math.min(...buckets.map((b) => b.min));
    case 'Maximum':
      return Math.max(...buckets.map((b) => b.max));
  }
}

export function parseAggregation(text: string): Aggregation | undefined {
  return AGGREGATIONS.find((a) => a.toLowerCase() === text.trim().toLowerCase());
}

export function metricsBadRequest(message: string): SandboxError {
  return new SandboxError(400, 'BadRequest', message);
}
