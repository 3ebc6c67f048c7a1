/**
 * The monitoring part of the `npm start` demo estate, checked through the real @azure/arm-monitor
 * client: every demo vault sends its audit log to the workspace, the action group's receiver is the
 * sink, and disabling the key a pinned CMK namespace depends on raises exactly the three alerts the
 * estate defines for it — the audit-log alert on the change, the one on Service Bus's refused key
 * calls, and ServerErrors on the namespace — each once.
 */
import { seedDemoEstate } from '../../sandbox/azure/demoEstate';
import { DEMO_SINK, seedDemoMonitoring } from '../../sandbox/azure/monitor/demo';
import { SbHarness } from './servicebus-support';
import { monitorClient, sinkEntries, type CommonAlert } from './monitor-support';

let h: SbHarness;

beforeAll(async () => {
  h = await SbHarness.start();
});
afterAll(async () => {
  await h.close();
});

it('wires diagnostic settings, the action group → sink and the alert rules; a disabled CMK key fires each alert once', async () => {
  await seedDemoEstate(h.sandbox);
  const summary = await seedDemoMonitoring(h.sandbox);
  expect(summary.text).toMatch(/_sandbox\/sink\/ag-demo-ops/);
  const mon = monitorClient(h);

  const vaults: Array<[string, string]> = [
    ['rg-demo-keys', 'kv-demo-ap'],
    ['rg-demo-keys', 'kv-demo-rbac'],
    ['rg-demo-keys', 'kv-demo-nopp'],
    ['rg-demo-keys', 'kv-demo-vnet'],
  ];
  for (const [rg, name] of vaults) {
    const id = `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${name}`;
    const settings = await mon.diagnosticSettings.list(id);
    expect(
      settings.value!.map((s) => [s.name, s.workspaceId, s.logs!.map((l) => [l.category, l.enabled])]),
    ).toEqual([['audit-to-law', summary.workspaceId, [['AuditEvent', true]]]]);
  }
  const group = await mon.actionGroups.get('rg-demo-keys', DEMO_SINK);
  expect(group.webhookReceivers!.map((r) => [r.serviceUri, r.useCommonAlertSchema])).toEqual([
    [`${h.sandbox.url}/_sandbox/sink/${DEMO_SINK}`, true],
  ]);

  await h.minutes(15);
  expect(await sinkEntries(h, DEMO_SINK)).toEqual([]); // a healthy estate raises nothing

  // The pinned namespace has one key version: disabling it makes the namespace inoperable at its next poll.
  const pinned = await h.sb.namespaces.get('rg-demo-messaging', 'sb-demo-cmk-pinned');
  const version = pinned.encryption!.keyVaultProperties![0]!.keyVersion!;
  await h.keys('kv-demo-ap').updateKeyProperties('sb-cmk-pinned', version, { enabled: false });
  await h.minutes(15);
  expect(await h.operable('sb-demo-cmk-pinned', 'rg-demo-messaging')).toBe(false);
  const alerts = (await sinkEntries(h, DEMO_SINK)).map((e) => (e.body as CommonAlert).data.essentials);
  expect(alerts.map((a) => [a.alertRule, a.monitorCondition, a.signalType]).sort()).toEqual([
    ['kv-demo-cmk-access-refused', 'Fired', 'Log'],
    ['kv-demo-key-deleted-or-disabled', 'Fired', 'Log'],
    ['sb-demo-server-errors-sb-demo-cmk-pinned', 'Fired', 'Metric'],
  ]);
  const metric = alerts.find((a) => a.alertRule === 'sb-demo-server-errors-sb-demo-cmk-pinned')!;
  expect(metric.alertTargetIDs).toEqual([
    `/subscriptions/${h.sandbox.subscriptionId}/resourcegroups/rg-demo-messaging/providers/microsoft.servicebus/namespaces/sb-demo-cmk-pinned`,
  ]);
});
