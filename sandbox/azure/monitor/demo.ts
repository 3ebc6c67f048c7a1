/**
 * The monitoring part of the demo estate `npm start` seeds, after `seedDemoEstate` (same admin, same
 * REST APIs, so every rule applies): synthetic traffic on every namespace, the operators' action group
 * whose webhook receiver is the sandbox's sink, and the platform ServerErrors metric alert on each CMK
 * namespace (Azure has no multi-resource metric alerts for Service Bus). The vaults' diagnostic settings (AuditEvent → the workspace below) and the audit log
 * alert are infra's, applied from infra/ (sandbox/infra/demo.ts). Idempotent (PUTs).
 */
import type { AzureSandbox } from '../index';
import { httpsJson } from '../testing';
import { MonitorProvider } from './index';
import { sinkUrl } from './sink';

export const DEMO_REQUESTS_PER_MINUTE = 60;
export const DEMO_SINK = 'ag-demo-ops';

type Sandbox = Pick<
  AzureSandbox,
  'url' | 'caPem' | 'keyVaultDnsSuffix' | 'port' | 'control' | 'core' | 'admin' | 'app' | 'adminSecret'
>;

export interface DemoMonitoringSummary {
  workspaceId: string;
  actionGroupId: string;
  text: string;
}

export async function seedDemoMonitoring(sandbox: Sandbox): Promise<DemoMonitoringSummary> {
  const subA = sandbox.core.options.subscriptions[0]!.subscriptionId;
  const rgKeys = `/subscriptions/${subA}/resourceGroups/rg-demo-keys`;
  const rgMsg = `/subscriptions/${subA}/resourceGroups/rg-demo-messaging`;
  const token = (await sandbox.control.token(sandbox.admin.objectId, 'arm')).access_token;
  const put = async (path: string, api: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await httpsJson(sandbox, 'PUT', `${sandbox.url}${path}?api-version=${api}`, { token, body });
    if (res.status >= 400) throw new Error(`demo monitoring: PUT ${path} → ${res.status} ${res.text}`);
    return (res.body ?? {}) as Record<string, unknown>;
  };

  const monitor = sandbox.core.providers.find((p): p is MonitorProvider => p instanceof MonitorProvider);
  if (monitor) monitor.parts.traffic.defaultPerMinute = DEMO_REQUESTS_PER_MINUTE;

  const workspaceId = `${rgKeys}/providers/Microsoft.OperationalInsights/workspaces/law-demo`;
  const actionGroupId = `${rgKeys}/providers/Microsoft.Insights/actionGroups/${DEMO_SINK}`;
  await put(actionGroupId, '2021-09-01', {
    location: 'Global',
    properties: {
      groupShortName: 'demo-ops',
      enabled: true,
      webhookReceivers: [
        { name: 'sink', serviceUri: sinkUrl(sandbox.core, DEMO_SINK), useCommonAlertSchema: true },
      ],
    },
  });

  // Metric alerts on each CMK namespace (Azure has no multi-resource metric alerts for Service Bus):
  // the platform's ServerErrors. The app's CmkHealthy / CmkAtRisk rules are infra's (infra/wiring/
  // metricAlertRules.json, ALERT_RULES=external) or the app's own (managed).
  const cmkNamespaces = ['sb-demo-cmk-sai', 'sb-demo-cmk-pinned', 'sb-demo-cmk-uai'];
  const metricAlert = (
    name: string,
    namespace: string,
    description: string,
    severity: number,
    criterion: Record<string, unknown>,
  ) =>
    put(`${rgMsg}/providers/Microsoft.Insights/metricAlerts/${name}`, '2018-03-01', {
      location: 'global',
      properties: {
        description,
        severity,
        enabled: true,
        scopes: [`${rgMsg}/providers/Microsoft.ServiceBus/namespaces/${namespace}`],
        evaluationFrequency: criterion.metricNamespace === 'CmkGuardian' ? 'PT1M' : 'PT5M',
        windowSize: 'PT5M',
        criteria: {
          'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
          allOf: [
            { criterionType: 'StaticThresholdCriterion', name: String(criterion.metricName), ...criterion },
          ],
        },
        autoMitigate: true,
        actions: [{ actionGroupId }],
      },
    });
  for (const ns of cmkNamespaces) {
    await metricAlert(`sb-demo-server-errors-${ns}`, ns, `${ns} answers with server errors.`, 1, {
      metricName: 'ServerErrors',
      metricNamespace: 'Microsoft.ServiceBus/namespaces',
      operator: 'GreaterThan',
      threshold: 0,
      timeAggregation: 'Total',
    });
  }
  // The app's role to publish its verdict (Monitoring Metrics Publisher) is infra's: infra/roles.json.

  const ca = '--cacert .sandbox/tls/ca.pem';
  const auth = `-H "Authorization: Bearer ${sandbox.adminSecret}"`;
  return {
    workspaceId,
    actionGroupId,
    text: [
      `Azure Monitor (emulated): synthetic traffic ${DEMO_REQUESTS_PER_MINUTE} requests/min per namespace; vault audit logs → ${workspaceId.split('/').pop()};`,
      `  action group ${DEMO_SINK} → webhook sink; metric alerts sb-demo-server-errors-<ns> (ServerErrors > 0) per CMK namespace.`,
      `  alerts that fired:   curl -s ${ca} ${auth} ${sandbox.url}/_sandbox/sink/${DEMO_SINK}`,
      `  Key Vault audit log: curl -s ${ca} ${auth} '${sandbox.url}/_sandbox/logs?workspace=${encodeURIComponent(workspaceId)}'`,
    ].join('\n'),
  };
}
