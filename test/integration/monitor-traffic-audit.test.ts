/**
 * What Azure Monitor shows about a CMK namespace and its vault, through the real @azure/arm-monitor
 * client: the synthetic traffic of an operable namespace, ServerErrors once the key poll finds its key
 * access revoked, success again after access is restored; the vault's audit log (diagnostic setting →
 * workspace) with Azure's operation names, caller and result — the Service Bus identity's own get /
 * wrap / unwrap included — and a log alert over it that fires on key disable and delete (which have no
 * Event Grid event).
 */
import type { MonitorClient } from '@azure/arm-monitor';
import type { KeyClient } from '@azure/keyvault-keys';
import { MINUTE, SbHarness } from './servicebus-support';
import { auditRows, monitorClient, setRate, sink, sinkEntries, type CommonAlert } from './monitor-support';

let h: SbHarness;
let mon: MonitorClient;

beforeAll(async () => {
  h = await SbHarness.start();
  mon = monitorClient(h);
});
afterAll(async () => {
  await h.close();
});

const iso = (ms: number): string => new Date(ms).toISOString();
const workspace = (name: string) =>
  `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${h.rg}/providers/Microsoft.OperationalInsights/workspaces/${name}`;

async function cmkNamespace(name: string, vault: string, keyName: string): Promise<string> {
  const ns = await h.namespace(name, { identity: { type: 'SystemAssigned' } });
  const principal = ns.identity!.principalId!;
  await h.grant(vault, principal);
  await h.sb.namespaces.update(h.rg, name, {
    encryption: {
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: [{ keyName, keyVaultUri: h.sandbox.vaultUri(vault) }],
    },
  });
  return principal;
}

/** Per-minute totals of some Service Bus metrics between two clock times. */
async function totals(
  nsId: string,
  from: number,
  to: number,
  names: string[],
): Promise<Record<string, number[]>> {
  const res = await mon.metrics.list(nsId, {
    metricnames: names.join(','),
    timespan: `${iso(from)}/${iso(to)}`,
    interval: 'PT1M',
    aggregation: 'Total',
  });
  return Object.fromEntries(
    res.value.map((m) => [m.name.value, m.timeseries[0]!.data!.map((d) => d.total ?? NaN)]),
  );
}

it('metrics show an operable namespace’s traffic, ServerErrors after its key access is revoked (at the poll), success after it is restored', async () => {
  const t0 = h.clock.now();
  await h.vault('kv-m-traffic');
  await h.keys('kv-m-traffic').createRsaKey('cmk');
  const principal = await cmkNamespace('sb-m-traffic', 'kv-m-traffic', 'cmk');
  const nsId = h.nsId('sb-m-traffic');
  await setRate(h, nsId, 120);
  const names = ['IncomingRequests', 'SuccessfulRequests', 'ServerErrors'];

  await h.minutes(10);
  expect(await totals(nsId, t0, t0 + 10 * MINUTE, names)).toEqual({
    IncomingRequests: Array<number>(10).fill(120),
    SuccessfulRequests: Array<number>(10).fill(120),
    ServerErrors: Array<number>(10).fill(0),
  });

  // Revoked at minute 10 (the poll of minute 10 already ran): the poll at minute 15 drops the key.
  await h.revoke('kv-m-traffic', principal);
  await h.minutes(10);
  expect(await h.operable('sb-m-traffic')).toBe(false);
  const five = (v: number): number[] => Array<number>(5).fill(v);
  expect(await totals(nsId, t0 + 10 * MINUTE, t0 + 20 * MINUTE, names)).toEqual({
    IncomingRequests: Array<number>(10).fill(120),
    SuccessfulRequests: [...five(120), ...five(0)],
    ServerErrors: [...five(0), ...five(120)],
  });

  // Restored at minute 20: the poll at minute 25 finds the key usable again.
  await h.grant('kv-m-traffic', principal);
  await h.minutes(10);
  expect(await h.operable('sb-m-traffic')).toBe(true);
  expect(await totals(nsId, t0 + 20 * MINUTE, t0 + 30 * MINUTE, names)).toEqual({
    IncomingRequests: Array<number>(10).fill(120),
    SuccessfulRequests: [...five(0), ...five(120)],
    ServerErrors: [...five(120), ...five(0)],
  });

  // The definitions name the platform metrics the product and AMBA alert on.
  const defs: string[] = [];
  for await (const d of mon.metricDefinitions.list(nsId)) defs.push(d.name!.value);
  expect(defs).toEqual([
    'ServerErrors',
    'UserErrors',
    'SuccessfulRequests',
    'IncomingRequests',
    'IncomingMessages',
    'NamespaceCpuUsage',
  ]);
});

it('the audit log records key operations and the Service Bus identity’s calls; a log alert fires on disable/delete', async () => {
  await h.vault('kv-m-audit');
  const vaultId = h.vaultId('kv-m-audit');
  const ws = workspace('law-cmk');
  await mon.diagnosticSettings.createOrUpdate(vaultId, 'to-law', {
    workspaceId: ws,
    logs: [{ category: 'AuditEvent', enabled: true }],
  });
  const group = await mon.actionGroups.createOrUpdate(h.rg, 'ag-audit', {
    location: 'Global',
    groupShortName: 'ag-audit',
    enabled: true,
    webhookReceivers: [{ name: 'sink', serviceUri: sink(h, 'ag-audit'), useCommonAlertSchema: true }],
  });
  const query =
    'AzureDiagnostics | where ResourceProvider == "MICROSOFT.KEYVAULT" and Category == "AuditEvent" | where OperationName in ("KeyDelete", "KeyUpdate")';
  await mon.scheduledQueryRules.createOrUpdate(h.rg, 'kv-key-deleted-or-disabled', {
    location: 'westeurope',
    description: 'A key was disabled or deleted',
    enabled: 'true',
    source: { query, dataSourceId: ws, queryType: 'ResultCount' },
    schedule: { frequencyInMinutes: 5, timeWindowInMinutes: 5 },
    action: {
      odataType:
        'Microsoft.WindowsAzure.Management.Monitoring.Alerts.Models.Microsoft.AppInsights.Nexus.DataContracts.Resources.ScheduledQueryRules.AlertingAction',
      severity: '1',
      aznsAction: { actionGroup: [group.id!] },
      trigger: { thresholdOperator: 'GreaterThan', threshold: 0 },
    },
  });

  const keys: KeyClient = h.keys('kv-m-audit');
  await keys.createRsaKey('cmk');
  const principal = await cmkNamespace('sb-m-audit', 'kv-m-audit', 'cmk');
  await h.minutes(1);
  const afterEnable = await auditRows(h, ws);
  const pick = (r: Record<string, unknown>) => [r.OperationName, r.httpStatusCode_d, r.identity_claim_oid_g];
  const base = h.sandbox.vaultUri('kv-m-audit').replace(/\/$/, '');
  // The SDK's first call is answered with the challenge (401, no caller), as Key Vault logs it too.
  expect(afterEnable.map(pick)).toEqual([
    ['KeyCreate', 401, null],
    ['KeyCreate', 200, h.admin],
    ['VaultGet', 200, h.admin], // the harness reads the vault's permission model, then grants
    ['VaultPatch', 200, h.admin], // the access policy grant
    ['KeyGet', 200, principal], // Service Bus validates the key when encryption is enabled
    ['KeyWrap', 200, principal],
    ['KeyUnwrap', 200, principal],
  ]);
  const sbGet = afterEnable[4]!;
  expect(sbGet).toMatchObject({
    ResourceId: vaultId.toUpperCase(),
    ResourceProvider: 'MICROSOFT.KEYVAULT',
    Category: 'AuditEvent',
    ResultType: 'Success',
    ResultSignature: 'OK',
    id_s: `${base}/keys/cmk`,
    trustedService_s: 'Microsoft.ServiceBus/namespaces',
    Type: 'AzureDiagnostics',
  });
  expect(afterEnable[5]!.id_s).toMatch(new RegExp(`^${base}/keys/cmk/[0-9a-f]{32}$`));

  // Access revoked: the namespace identity's next poll is refused and logged as such.
  await h.revoke('kv-m-audit', principal);
  await h.minutes(4); // the poll at minute 5 after enabling
  const refused = (await auditRows(h, ws)).filter((r) => r.identity_claim_oid_g === principal).slice(3);
  expect(refused.map((r) => [r.OperationName, r.httpStatusCode_d, r.ResultSignature])).toEqual([
    ['KeyGet', 403, 'Forbidden'],
  ]);
  expect(await sinkEntries(h, 'ag-audit')).toEqual([]); // the rule's evaluation at minute 5 saw no delete/disable

  // Disable and delete the key: no Event Grid event exists for these, the log alert catches them.
  const at = h.clock.now();
  await keys.updateKeyProperties('cmk', { enabled: false });
  const deleting = await keys.beginDeleteKey('cmk', { intervalInMs: 0 });
  await deleting.pollUntilDone();
  await h.minutes(5);
  await h.minutes(5); // a second evaluation: the rows left the window, nothing more is sent
  const deliveries = await sinkEntries(h, 'ag-audit');
  expect(deliveries).toHaveLength(1);
  const alert = deliveries[0]!.body as CommonAlert;
  expect(alert.data.essentials).toMatchObject({
    alertRule: 'kv-key-deleted-or-disabled',
    severity: 'Sev1',
    signalType: 'Log',
    monitorCondition: 'Fired',
    monitoringService: 'Log Analytics',
    alertTargetIDs: [vaultId.toUpperCase().toLowerCase()],
    description: 'A key was disabled or deleted',
  });
  const context = alert.data.alertContext as {
    SearchQuery: string;
    ResultCount: number;
    Threshold: number;
    Operator: string;
    SearchIntervalStartTimeUtc: string;
    SearchResults: { tables: Array<{ columns: Array<{ name: string }>; rows: unknown[][] }> };
  };
  expect(context).toMatchObject({
    SearchQuery: query,
    ResultCount: 2,
    Threshold: 0,
    Operator: 'Greater Than',
  });
  const table = context.SearchResults.tables[0]!;
  const op = table.columns.findIndex((c) => c.name === 'OperationName');
  const caller = table.columns.findIndex((c) => c.name === 'identity_claim_oid_g');
  expect(table.rows.map((r) => [r[op], r[caller]])).toEqual([
    ['KeyUpdate', h.admin],
    ['KeyDelete', h.admin],
  ]);
  expect(Date.parse(context.SearchIntervalStartTimeUtc)).toBeLessThanOrEqual(at);
});

it('a vault without a diagnostic setting writes no audit rows, and a query outside the evaluated shape never fires', async () => {
  await h.vault('kv-m-quiet');
  await h.keys('kv-m-quiet').createRsaKey('k1');
  const ws = workspace('law-quiet');
  expect(await auditRows(h, ws)).toEqual([]);

  const vaultId = h.vaultId('kv-m-quiet');
  await mon.diagnosticSettings.createOrUpdate(vaultId, 'to-law', {
    workspaceId: ws,
    logs: [{ category: 'AuditEvent', enabled: true }],
  });
  const group = await mon.actionGroups.createOrUpdate(h.rg, 'ag-quiet', {
    location: 'Global',
    groupShortName: 'ag-quiet',
    enabled: true,
    webhookReceivers: [{ name: 'sink', serviceUri: sink(h, 'ag-quiet'), useCommonAlertSchema: true }],
  });
  // summarize is outside the evaluated subset: stored, never evaluated (README differences table).
  await mon.scheduledQueryRules.createOrUpdate(h.rg, 'kv-summarized', {
    location: 'westeurope',
    enabled: 'true',
    source: { query: 'AzureDiagnostics | summarize count() by OperationName', dataSourceId: ws },
    schedule: { frequencyInMinutes: 5, timeWindowInMinutes: 5 },
    action: {
      odataType:
        'Microsoft.WindowsAzure.Management.Monitoring.Alerts.Models.Microsoft.AppInsights.Nexus.DataContracts.Resources.ScheduledQueryRules.AlertingAction',
      severity: '3',
      aznsAction: { actionGroup: [group.id!] },
      trigger: { thresholdOperator: 'GreaterThan', threshold: 0 },
    },
  });
  const stored = await mon.scheduledQueryRules.get(h.rg, 'kv-summarized');
  expect(stored.source.query).toBe('AzureDiagnostics | summarize count() by OperationName');
  await h.keys('kv-m-quiet').updateKeyProperties('k1', { enabled: false });
  await h.minutes(10);
  expect((await auditRows(h, ws)).map((r) => [r.OperationName, r.httpStatusCode_d])).toEqual([
    ['KeyUpdate', 401],
    ['KeyUpdate', 200],
  ]);
  expect(await sinkEntries(h, 'ag-quiet')).toEqual([]);
});

it('vault metrics count the requests actually made: ServiceApiHit by activity, ServiceApiResult by status, Availability', async () => {
  await h.vault('kv-m-metrics');
  const vaultId = h.vaultId('kv-m-metrics');
  const t0 = Math.floor(h.clock.now() / MINUTE) * MINUTE;
  const keys = h.keys('kv-m-metrics');
  await keys.createRsaKey('k1'); // 401 challenge + 200
  await keys.getKey('k1');
  await keys.getKey('k1');
  const missing = await keys.getKey('nope').catch((e: { statusCode?: number }) => e.statusCode);
  expect(missing).toBe(404);
  await h.minutes(1);

  const span = `${iso(t0)}/${iso(t0 + MINUTE)}`;
  const hits = await mon.metrics.list(vaultId, {
    metricnames: 'ServiceApiHit',
    timespan: span,
    interval: 'PT1M',
    aggregation: 'Count',
    filter: "ActivityName eq '*'",
  });
  const byActivity: Record<string, number | undefined> = Object.fromEntries(
    (hits.value[0]?.timeseries ?? []).map((s) => [s.metadatavalues?.[0]?.value ?? '', s.data?.[0]?.count]),
  );
  expect(byActivity).toEqual({ keycreate: 2, keyget: 3 });

  const results = await mon.metrics.list(vaultId, {
    metricnames: 'ServiceApiResult,Availability',
    timespan: span,
    interval: 'PT1M',
    aggregation: 'Count,Average',
    filter: "StatusCode eq '*'",
  });
  const [result, availability] = results.value;
  const byStatus: Record<string, number | undefined> = Object.fromEntries(
    (result?.timeseries ?? []).map((s) => [s.metadatavalues?.[0]?.value ?? '', s.data?.[0]?.count]),
  );
  expect(byStatus).toEqual({ '401': 1, '200': 3, '404': 1 });
  // Refusals and missing keys are the caller's problem, not the vault's: availability stays 100 %.
  expect((availability?.timeseries ?? []).map((s) => s.data?.[0]?.average)).toEqual([100, 100, 100]);
});
