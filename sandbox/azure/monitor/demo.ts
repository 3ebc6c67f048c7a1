/**
 * The monitoring part of the demo estate `npm start` seeds, after `seedDemoEstate` (same admin, same
 * REST APIs, so every rule applies): synthetic traffic on every namespace, a diagnostic setting per
 * demo vault (AuditEvent → one Log Analytics workspace), an action group whose webhook receiver is the
 * sandbox's sink, the log alerts the product's infra deploys over the audit log, and the metric alerts
 * on each CMK namespace (platform ServerErrors, the app's CmkHealthy / CmkAtRisk). Idempotent (PUTs).
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
  const subB = sandbox.core.options.subscriptions[1]?.subscriptionId ?? subA;
  const rgKeys = `/subscriptions/${subA}/resourceGroups/rg-demo-keys`;
  const rgMsg = `/subscriptions/${subA}/resourceGroups/rg-demo-messaging`;
  const rgB = `/subscriptions/${subB}/resourceGroups/rg-demo-b`;
  const token = (await sandbox.control.token(sandbox.admin.objectId, 'arm')).access_token;
  const put = async (path: string, api: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await httpsJson(sandbox, 'PUT', `${sandbox.url}${path}?api-version=${api}`, { token, body });
    if (res.status >= 400) throw new Error(`demo monitoring: PUT ${path} → ${res.status} ${res.text}`);
    return (res.body ?? {}) as Record<string, unknown>;
  };

  const monitor = sandbox.core.providers.find((p): p is MonitorProvider => p instanceof MonitorProvider);
  if (monitor) monitor.parts.traffic.defaultPerMinute = DEMO_REQUESTS_PER_MINUTE;

  const workspaceId = `${rgKeys}/providers/Microsoft.OperationalInsights/workspaces/law-demo`;
  const vaults = [
    `${rgKeys}/providers/Microsoft.KeyVault/vaults/kv-demo-ap`,
    `${rgKeys}/providers/Microsoft.KeyVault/vaults/kv-demo-rbac`,
    `${rgKeys}/providers/Microsoft.KeyVault/vaults/kv-demo-nopp`,
    `${rgKeys}/providers/Microsoft.KeyVault/vaults/kv-demo-vnet`,
    `${rgB}/providers/Microsoft.KeyVault/vaults/kv-demo-b`,
  ];
  for (const vault of vaults) {
    await put(`${vault}/providers/Microsoft.Insights/diagnosticSettings/audit-to-law`, '2021-05-01-preview', {
      properties: { workspaceId, logs: [{ category: 'AuditEvent', enabled: true }] },
    });
  }

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

  // Log alerts over the audit log, in the shape the product's infra deploys (LogAlert, 2023-12-01).
  const logAlert = (name: string, description: string, severity: number, query: string) =>
    put(`${rgKeys}/providers/Microsoft.Insights/scheduledQueryRules/${name}`, '2023-12-01', {
      location: 'westeurope',
      kind: 'LogAlert',
      properties: {
        description,
        severity,
        enabled: true,
        scopes: [workspaceId],
        evaluationFrequency: 'PT5M',
        windowSize: 'PT5M',
        criteria: { allOf: [{ query, timeAggregation: 'Count', operator: 'GreaterThan', threshold: 0 }] },
        autoMitigate: true,
        actions: { actionGroups: [actionGroupId] },
      },
    });
  await logAlert(
    'kv-demo-key-deleted-or-disabled',
    'A key was deleted, disabled or changed in a monitored vault (no Event Grid event exists for these).',
    1,
    'AzureDiagnostics | where ResourceProvider == "MICROSOFT.KEYVAULT" and Category == "AuditEvent" | where OperationName in ("KeyDelete", "KeyPurge", "KeyUpdate") and ResultType == "Success"',
  );
  await logAlert(
    'kv-demo-cmk-access-refused',
    'Service Bus could not use its customer-managed key (access refused or key gone).',
    0,
    'AzureDiagnostics | where ResourceProvider == "MICROSOFT.KEYVAULT" | where OperationName in ("KeyGet", "KeyWrap", "KeyUnwrap") and httpStatusCode_d >= 400 and trustedService_s == "Microsoft.ServiceBus/namespaces"',
  );

  // Metric alerts on each CMK namespace (Azure has no multi-resource metric alerts for Service Bus):
  // the platform's ServerErrors, and the app's verdict in the shape README's alert path gives infra.
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
    await metricAlert(
      `cmk-inoperable-${ns}`,
      ns,
      `CMK Guardian: ${ns} has no usable customer-managed key.`,
      0,
      {
        metricName: 'CmkHealthy',
        metricNamespace: 'CmkGuardian',
        operator: 'LessThan',
        threshold: 1,
        timeAggregation: 'Minimum',
        skipMetricValidation: true,
      },
    );
    await metricAlert(
      `cmk-atrisk-${ns}`,
      ns,
      `CMK Guardian: ${ns} still works but a customer-managed key is unusable or expiring.`,
      2,
      {
        metricName: 'CmkAtRisk',
        metricNamespace: 'CmkGuardian',
        operator: 'GreaterThan',
        threshold: 0,
        timeAggregation: 'Maximum',
        skipMetricValidation: true,
      },
    );
  }
  // The app publishes its verdict as a custom metric on the namespaces it guards.
  sandbox.control.assignRole({
    principalId: sandbox.app.objectId,
    role: 'Monitoring Metrics Publisher',
    scope: rgMsg,
    immediate: true,
  });

  const ca = '--cacert .sandbox/tls/ca.pem';
  const auth = `-H "Authorization: Bearer ${sandbox.adminSecret}"`;
  return {
    workspaceId,
    actionGroupId,
    text: [
      `Azure Monitor (emulated): synthetic traffic ${DEMO_REQUESTS_PER_MINUTE} requests/min per namespace; vault audit logs → ${workspaceId.split('/').pop()};`,
      `  action group ${DEMO_SINK} → webhook sink; log alerts kv-demo-key-deleted-or-disabled, kv-demo-cmk-access-refused;`,
      '  metric alerts per CMK namespace: sb-demo-server-errors-<ns> (ServerErrors > 0), cmk-inoperable-<ns> (CmkHealthy < 1, Sev0), cmk-atrisk-<ns> (CmkAtRisk > 0, Sev2).',
      `  alerts that fired:   curl -s ${ca} ${auth} ${sandbox.url}/_sandbox/sink/${DEMO_SINK}`,
      `  Key Vault audit log: curl -s ${ca} ${auth} '${sandbox.url}/_sandbox/logs?workspace=${encodeURIComponent(workspaceId)}'`,
    ].join('\n'),
  };
}
