/**
 * The key watch end to end: what Key Vault raises no event for — a key deleted, a key disabled, an
 * access policy removed, an RBAC role assignment removed, a vault firewall closed — done for real in
 * the sandbox, and seen by the app's next key-watch cycle (timer every KEY_POLL_MINUTES on the virtual
 * clock → orchestration → the shared assessment), with the verdict per namespace; then everything
 * recovered / restored and the next cycle healthy again. The verdicts travel the alert path
 * (ALERT_RULES=managed: the app's metric alert rules → the action group → the sandbox's webhook sink):
 * the critical alert of exactly the broken namespaces arrives before the next cycle, and resolves
 * before the cycle after recovery. Calls per cycle are counted from the request log: one vault list,
 * one read per distinct key, one role-assignment list per RBAC vault.
 */
import { startLocalEstate, type LocalEstate } from '../support/localEstate';
import { grantDocumentedRoles } from './enable-cmk-support';
import { refreshIndex, runKeyWatchCycle, type WatchCycle } from './guardian-index';
import { GuardianEstate } from './guardian-support';

const POLL_MINUTES = 5;
const SINK = 'ag-watch';
const ACTION_GROUP =
  '/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg-cmk/providers/Microsoft.Insights/actionGroups/ag-watch';

interface Essentials {
  alertRule: string;
  severity: string;
  monitorCondition: string;
  alertTargetIDs: string[];
}
const KV_ARM = '2023-07-01';

let estate: LocalEstate;
let e: GuardianEstate;
let uai = { id: '', principalId: '' };
let rbacAssignment = '';
const principal: Record<string, string> = {};
const NAMES = ['sb-del', 'sb-dis', 'sb-pol', 'sb-rbac', 'sb-fwall', 'sb-okay'];

beforeAll(async () => {
  estate = await startLocalEstate({
    env: {
      KEY_POLL_MINUTES: String(POLL_MINUTES),
      ALERT_RULES: 'managed',
      ALERT_ACTION_GROUP_ID: ACTION_GROUP,
    },
  });
  e = await new GuardianEstate(estate).init();
  expect(ACTION_GROUP.startsWith(e.rgId())).toBe(true);
  await grantDocumentedRoles(e);
  // The alert path's role (README "The alert path"): custom metrics are a data action.
  await e.grantApp('Monitoring Metrics Publisher', e.rgId());
  await e.arm('PUT', `${ACTION_GROUP}?api-version=2021-09-01`, {
    location: 'Global',
    properties: {
      groupShortName: 'watch',
      enabled: true,
      webhookReceivers: [
        { name: 'sink', serviceUri: `${estate.azure.url}/_sandbox/sink/${SINK}`, useCommonAlertSchema: true },
      ],
    },
  });
  await e.adminVault('kv-ap');
  await e.adminVault('kv-fw');
  await e.adminVault('kv-rbac', true);
  for (const k of ['k-del', 'k-dis', 'k-pol', 'k-ok']) await e.createKey('kv-ap', k);
  await e.createKey('kv-fw', 'k-fw');
  await e.createKey('kv-rbac', 'k-rbac');
  for (const [name, vault, key] of [
    ['sb-del', 'kv-ap', 'k-del'],
    ['sb-dis', 'kv-ap', 'k-dis'],
    ['sb-pol', 'kv-ap', 'k-pol'],
    ['sb-okay', 'kv-ap', 'k-ok'],
    ['sb-fwall', 'kv-fw', 'k-fw'],
  ] as const) {
    principal[name] = await e.identityNamespace(name);
    await e.accessPolicy(vault, principal[name], 'add');
    await e.encrypt(name, [{ vault, key }]);
  }
  uai = await e.uai('id-watch');
  await e.identityNamespace('sb-rbac', uai.id);
  rbacAssignment = await e.assignCryptoUser(uai.principalId, e.vaultId('kv-rbac'));
  await e.encrypt('sb-rbac', [{ vault: 'kv-rbac', key: 'k-rbac' }], uai.id);
  await refreshIndex(e);
}, 90_000);

afterAll(async () => estate?.stop());

const short = (id: string) => id.split('/').pop();

/** The Key Vault and RBAC reads of a cycle (the alert path's own ARM calls are counted apart). */
const keyReads = (cycle: WatchCycle): Record<string, number> =>
  Object.fromEntries(
    Object.entries(cycle.byOperation).filter(([op]) => /^Microsoft\.(KeyVault|Authorization)\//.test(op)),
  );
const writes = (cycle: WatchCycle) => cycle.requests.filter((r) => r.method !== 'GET');

let sinkSeen = 0;
/** Alerts that reached the action group's receiver since the last call, after `minutes` more minutes. */
async function alertsAfter(minutes: number): Promise<Array<[string, string, string]>> {
  for (let m = 0; m < minutes; m++) await e.advance(60_000);
  const r = await estate.azure.control<Array<{ kind: string; body: { data: { essentials: Essentials } } }>>(
    'GET',
    `/sink/${SINK}`,
  );
  const deliveries = r.body.filter((x) => x.kind === 'delivery');
  const fresh = deliveries.slice(sinkSeen);
  sinkSeen = deliveries.length;
  return fresh
    .map((x) => x.body.data.essentials)
    .map((x): [string, string, string] => [x.alertRule, x.severity, x.monitorCondition])
    .sort((a, b) => (a.join() < b.join() ? -1 : 1));
}

/** 3 vaults in one subscription (1 list), 6 keys, 1 RBAC vault (1 list). */
const CALLS_PER_CYCLE = 1 + 6 + 1;

it('a cycle sees every namespace healthy, with one read per vault list, key and RBAC list', async () => {
  const cycle = await runKeyWatchCycle(e, POLL_MINUTES);
  expect(cycle.byVerdict).toEqual({ healthy: 6 });
  expect(cycle.attention).toEqual([]);
  expect(keyReads(cycle)).toEqual({
    'Microsoft.KeyVault/vaults/read': 1,
    'Microsoft.KeyVault/vaults/keys/read': 6,
    'Microsoft.Authorization/roleAssignments/read': 1,
  });
  expect(Object.values(keyReads(cycle)).reduce((a, b) => a + b, 0)).toBe(CALLS_PER_CYCLE);
  // Every namespace published; no write this cycle: the app's two alert rules per namespace were
  // written once, by the first cycle (it ran with the index refresh), and are read back here.
  expect(cycle.published).toMatchObject({ published: 6, refused: [] });
  expect(writes(cycle)).toEqual([]);
  const rules = await e.arm<{ value: Array<{ name: string; tags?: Record<string, string> }> }>(
    'GET',
    `${e.rgId()}/providers/Microsoft.Insights/metricAlerts?api-version=2018-03-01`,
  );
  expect(rules.value.map((r) => [r.name, r.tags?.['cmk-guardian']]).sort()).toEqual(
    NAMES.flatMap((n) => [
      [`cmk-atrisk-${n}`, 'managed'],
      [`cmk-inoperable-${n}`, 'managed'],
    ]).sort(),
  );
  expect(await alertsAfter(3)).toEqual([]);
});

it('delete, disable, access policy removed, role assignment removed, firewall closed: all seen by the next cycle', async () => {
  await e.deleteKey('kv-ap', 'k-del');
  await e.setKeyAttributes('kv-ap', 'k-dis', { enabled: false });
  await e.accessPolicy('kv-ap', principal['sb-pol']!, 'remove');
  await e.removeRoleAssignment(rbacAssignment);
  await e.arm('PATCH', `${e.vaultId('kv-fw')}?api-version=${KV_ARM}`, {
    properties: { networkAcls: { defaultAction: 'Deny', bypass: 'None' } },
  });

  const cycle = await runKeyWatchCycle(e, POLL_MINUTES);
  expect(cycle.byVerdict).toEqual({ inoperable: 5, healthy: 1 });
  expect(
    cycle.attention.map((a) => [short(a.namespaceId), a.verdict, a.ruleIds, a.inoperableWithinMinutes]),
  ).toEqual([
    // The deleted key may still be in the service's cache: inoperable within at most an hour.
    ['sb-del', 'inoperable', ['CMK-010'], 60],
    ['sb-dis', 'inoperable', ['CMK-010'], undefined],
    ['sb-fwall', 'inoperable', ['CMK-010'], undefined],
    ['sb-pol', 'inoperable', ['CMK-010'], undefined],
    ['sb-rbac', 'inoperable', ['CMK-010'], undefined],
  ]);
  // The deleted key is still read (its ARM read answers 404): same reads as a healthy cycle, no write.
  expect(Object.values(keyReads(cycle)).reduce((a, b) => a + b, 0)).toBe(CALLS_PER_CYCLE);
  expect(writes(cycle)).toEqual([]);
  expect(cycle.published).toMatchObject({ published: 6, changes: 5, refused: [] });
  // Before the next cycle: the critical alert of exactly the five, once each.
  expect(await alertsAfter(3)).toEqual(
    ['sb-del', 'sb-dis', 'sb-fwall', 'sb-pol', 'sb-rbac'].map((n) => [
      `cmk-inoperable-${n}`,
      'Sev0',
      'Fired',
    ]),
  );
});

it('recover, enable, re-grant, re-assign, reopen: the next cycle is healthy again', async () => {
  await e.recoverKey('kv-ap', 'k-del');
  await e.setKeyAttributes('kv-ap', 'k-dis', { enabled: true });
  await e.accessPolicy('kv-ap', principal['sb-pol']!, 'add');
  rbacAssignment = await e.assignCryptoUser(uai.principalId, e.vaultId('kv-rbac'));
  await e.arm('PATCH', `${e.vaultId('kv-fw')}?api-version=${KV_ARM}`, {
    properties: { networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' } },
  });

  const cycle = await runKeyWatchCycle(e, POLL_MINUTES);
  expect(cycle.byVerdict).toEqual({ healthy: 6 });
  expect(cycle.attention).toEqual([]);
  expect(cycle.published).toMatchObject({ published: 6, changes: 5, refused: [] });
  // Before the next cycle: each of the five alerts resolved, once; nothing else.
  expect(await alertsAfter(4)).toEqual(
    ['sb-del', 'sb-dis', 'sb-fwall', 'sb-pol', 'sb-rbac'].map((n) => [
      `cmk-inoperable-${n}`,
      'Sev0',
      'Resolved',
    ]),
  );
  for (const name of NAMES) expect([name, await e.serves(name)]).toEqual([name, true]);
});
