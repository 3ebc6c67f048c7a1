/**
 * The key watch end to end: what Key Vault raises no event for — a key deleted, a key disabled, an
 * access policy removed, an RBAC role assignment removed, a vault firewall closed — done for real in
 * the sandbox, and seen by the app's next key-watch cycle (timer every KEY_POLL_MINUTES on the virtual
 * clock → orchestration → the shared assessment), with the verdict per namespace; then everything
 * recovered / restored and the next cycle healthy again. Calls per cycle are counted from the request
 * log: one vault list, one read per distinct key, one role-assignment list per RBAC vault.
 */
import { startLocalEstate, type LocalEstate } from '../support/localEstate';
import { grantDocumentedRoles } from './enable-cmk-support';
import { refreshIndex, runKeyWatchCycle } from './guardian-index';
import { GuardianEstate } from './guardian-support';

const POLL_MINUTES = 5;
const KV_ARM = '2023-07-01';

let estate: LocalEstate;
let e: GuardianEstate;
let uai = { id: '', principalId: '' };
let rbacAssignment = '';
const principal: Record<string, string> = {};
const NAMES = ['sb-del', 'sb-dis', 'sb-pol', 'sb-rbac', 'sb-fwall', 'sb-okay'];

beforeAll(async () => {
  estate = await startLocalEstate({ env: { KEY_POLL_MINUTES: String(POLL_MINUTES) } });
  e = await new GuardianEstate(estate).init();
  await grantDocumentedRoles(e);
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

/** 3 vaults in one subscription (1 list), 6 keys, 1 RBAC vault (1 list). */
const CALLS_PER_CYCLE = 1 + 6 + 1;

it('a cycle sees every namespace healthy, with one read per vault list, key and RBAC list', async () => {
  const cycle = await runKeyWatchCycle(e, POLL_MINUTES);
  expect(cycle.byVerdict).toEqual({ healthy: 6 });
  expect(cycle.attention).toEqual([]);
  expect(cycle.byOperation).toEqual({
    'Microsoft.KeyVault/vaults/read': 1,
    'Microsoft.KeyVault/vaults/keys/read': 6,
    'Microsoft.Authorization/roleAssignments/read': 1,
  });
  expect(cycle.calls).toBe(CALLS_PER_CYCLE);
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
  // The deleted key is still read (its ARM read answers 404): same calls as a healthy cycle.
  expect(cycle.calls).toBe(CALLS_PER_CYCLE);
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
  for (const name of NAMES) expect([name, await e.serves(name)]).toEqual([name, true]);
});
