/**
 * The whole alert path from real Key Vault state, with the real SDK clients against the sandbox:
 * ASSESS_NAMESPACES (core's assessNamespaces: index, batch read, the one evaluator) hands its verdicts
 * to publishHealth, managed rules are ensured, and the sandbox's metric alert evaluation delivers to
 * the action group's sink. A disabled key: the namespace with only that key → critical, the one with
 * a second usable key → warning, exactly those two alerts; re-enabled → both resolve.
 */
import type { Agent } from 'node:https';
import { MonitorClient } from '@azure/arm-monitor';
import { armClientOptions } from '../../sandbox/azure/testing';
import { assessNamespaces, type AssessOutput } from '../../src/orchestrations/assess';
import { SandboxClients } from './alerting-support';
import { agentFor, sink, sinkEntries, type CommonAlert } from './monitor-support';
import { MINUTE, SbHarness } from './servicebus-support';

let h: SbHarness;
let agent: Agent;
let clients: SandboxClients;

beforeAll(async () => {
  h = await SbHarness.start({ storage: true });
  agent = agentFor(h);
  const sub = `/subscriptions/${h.sandbox.subscriptionId}`;
  const rg = `${sub}/resourceGroups/${h.rg}`;
  h.sandbox.control.assignRole({
    principalId: h.sandbox.app.objectId,
    role: 'Reader',
    scope: sub,
    immediate: true,
  });
  for (const role of ['Monitoring Metrics Publisher', 'Monitoring Contributor'])
    h.sandbox.control.assignRole({ principalId: h.sandbox.app.objectId, role, scope: rg, immediate: true });
  const admin = new MonitorClient(
    h.credential(h.admin),
    h.sandbox.subscriptionId,
    armClientOptions(h.sandbox),
  );
  const group = await admin.actionGroups.createOrUpdate(h.rg, 'ag-assess', {
    location: 'Global',
    groupShortName: 'ag-assess',
    enabled: true,
    webhookReceivers: [{ name: 'sink', serviceUri: sink(h, 'ag-assess'), useCommonAlertSchema: true }],
  });
  clients = new SandboxClients(h, agent, { ALERT_RULES: 'managed', ALERT_ACTION_GROUP_ID: group.id! });

  await h.vault('kv-as');
  await h.keys('kv-as').createRsaKey('k1', { keySize: 2048 });
  await h.keys('kv-as').createRsaKey('k2', { keySize: 2048 });
  for (const [name, keys] of [
    ['sb-as-one', ['k1']],
    ['sb-as-two', ['k1', 'k2']],
    ['sb-as-other', ['k2']],
  ] as const) {
    const ns = await h.namespace(name, { identity: { type: 'SystemAssigned' } });
    await h.grant('kv-as', ns.identity!.principalId!);
    await h.sb.namespaces.update(h.rg, name, {
      encryption: {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: keys.map((k) => ({ keyName: k, keyVaultUri: h.sandbox.vaultUri('kv-as') })),
      },
    });
  }
});
afterAll(async () => {
  agent.destroy();
  await h.close();
});

const assess = (): Promise<AssessOutput> =>
  assessNamespaces(clients, {
    selector: { all: true },
    reason: 'test',
    at: new Date(h.clock.now()).toISOString(),
  });
const verdicts = (out: AssessOutput): Record<string, string> =>
  Object.fromEntries(
    out.assessed.map((a): [string, string] => [a.namespaceId.split('/').pop() ?? '', a.verdict]),
  );

test('disabled key → critical for the namespace without another key, warning for the one with; re-enabled → both resolve', async () => {
  const t0 = h.clock.now();
  const first = await assess();
  expect(verdicts(first)).toEqual({
    'sb-as-one': 'healthy',
    'sb-as-two': 'healthy',
    'sb-as-other': 'healthy',
  });
  expect(first.published).toMatchObject({ published: 3, changes: 3, refused: [] });
  expect(first.published?.rules.map((r) => r.action)).toEqual(Array<string>(6).fill('create'));

  await h.minutes(5);
  await h.keys('kv-as').updateKeyProperties('k1', { enabled: false });
  const broken = await assess();
  expect(verdicts(broken)).toEqual({
    'sb-as-one': 'inoperable',
    'sb-as-two': 'degraded',
    'sb-as-other': 'healthy',
  });
  expect(broken.published).toMatchObject({ published: 3, changes: 2, rules: [] });

  await h.minutes(5);
  await h.keys('kv-as').updateKeyProperties('k1', { enabled: true });
  const fixed = await assess();
  expect(verdicts(fixed)).toEqual({
    'sb-as-one': 'healthy',
    'sb-as-two': 'healthy',
    'sb-as-other': 'healthy',
  });
  await h.minutes(5);
  await assess(); // the next key-watch heartbeat
  await h.minutes(5);

  const at = (min: number) => new Date(t0 + min * MINUTE).toISOString();
  const alerts = (await sinkEntries(h, 'ag-assess')).map((e) => {
    const x = (e.body as CommonAlert).data.essentials;
    return [x.alertRule, x.severity, x.monitorCondition, x.resolvedDateTime ?? x.firedDateTime];
  });
  // Bad points at minute 5 → fired at 6; good points at 10 → clean from 11, resolved at 13.
  expect(alerts).toEqual([
    ['cmk-inoperable-sb-as-one', 'Sev0', 'Fired', at(6)],
    ['cmk-atrisk-sb-as-two', 'Sev2', 'Fired', at(6)],
    ['cmk-inoperable-sb-as-one', 'Sev0', 'Resolved', at(13)],
    ['cmk-atrisk-sb-as-two', 'Sev2', 'Resolved', at(13)],
  ]);
});
