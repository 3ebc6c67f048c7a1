/**
 * POST /api/keys/impact end to end, on an estate shaped like the `npm start` demo (access-policy and
 * RBAC vaults, a namespace on two keys, one pinned to an old version, a user-assigned identity, a
 * CMK Geo-DR pair): ask what a change would break, prove the question wrote nothing and read each
 * vault list / key / role-assignment list once, then REALLY make the change in the sandbox and check
 * that the app's own verdicts (POST /api/cmk/diagnose) and the service's behaviour (does Service Bus
 * still serve the namespace's entities after its key poll?) are exactly what was predicted.
 */
import { startLocalEstate, type LocalEstate } from '../support/localEstate';
import { grantDocumentedRoles } from './enable-cmk-support';
import { GuardianEstate } from './guardian-support';
import { quiesce, refreshIndex } from './guardian-index';

interface Impacted {
  namespaceId: string;
  before: string;
  after: string;
  ruleIds: string[];
  affectedKeyIds: string[];
  remainingKeyIds: string[];
}
interface Impact {
  change: string;
  inoperable: Impacted[];
  degraded: Impacted[];
  undetermined: Impacted[];
  unaffected: Impacted[];
  geoDrPartners: Array<{ namespaceId: string; alias: string; partnerOf: string; partnerVerdict: string }>;
  assumptions: string[];
  read: { namespaces: number; calls: number };
}

const KEY_POLL_MS = 5 * 60_000;
const NAMES = ['sb-one', 'sb-two', 'sb-pinned', 'sb-uai', 'sb-geo-p', 'sb-geo-s'] as const;
type Name = (typeof NAMES)[number];

let estate: LocalEstate;
let e: GuardianEstate;
let uaiAssignment = '';
const principals: Partial<Record<Name, string>> = {};
let uai = { id: '', principalId: '' };
let pinnedV1 = '';

beforeAll(async () => {
  estate = await startLocalEstate();
  e = await new GuardianEstate(estate).init();
  await grantDocumentedRoles(e);
  await e.adminVault('kv-ap');
  await e.adminVault('kv-ap2');
  await e.adminVault('kv-rbac', true);
  await e.createKey('kv-ap', 'k-shared');
  await e.createKey('kv-ap2', 'k-second');
  await e.createKey('kv-ap', 'k-geo');
  pinnedV1 = await e.createKey('kv-ap', 'k-pinned');
  await e.rotateKey('kv-ap', 'k-pinned');
  await e.createKey('kv-rbac', 'k-uai');

  for (const name of ['sb-one', 'sb-two', 'sb-pinned'] as const) {
    principals[name] = await e.identityNamespace(name);
    await e.accessPolicy('kv-ap', principals[name], 'add');
  }
  await e.accessPolicy('kv-ap2', principals['sb-two']!, 'add');
  await e.encrypt('sb-one', [{ vault: 'kv-ap', key: 'k-shared' }]);
  await e.encrypt('sb-two', [
    { vault: 'kv-ap', key: 'k-shared' },
    { vault: 'kv-ap2', key: 'k-second' },
  ]);
  await e.encrypt('sb-pinned', [{ vault: 'kv-ap', key: 'k-pinned', version: pinnedV1 }]);

  uai = await e.uai('id-uai');
  await e.identityNamespace('sb-uai', uai.id);
  uaiAssignment = await e.assignCryptoUser(uai.principalId, e.vaultId('kv-rbac'));
  await e.encrypt('sb-uai', [{ vault: 'kv-rbac', key: 'k-uai' }], uai.id);

  // The Geo-DR pair shares one user-assigned identity; the secondary is encrypted first, then paired.
  const geo = await e.uai('id-geo');
  await e.accessPolicy('kv-ap', geo.principalId, 'add');
  for (const name of ['sb-geo-s', 'sb-geo-p'] as const) {
    await e.identityNamespace(name, geo.id);
    await e.encrypt(name, [{ vault: 'kv-ap', key: 'k-geo' }], geo.id);
  }
  await e.pair('sb-geo-p', 'sb-geo-s', 'geo-alias');
  for (const name of NAMES) if (name !== 'sb-geo-s') await e.queue(name, 'orders');
  await refreshIndex(e);
}, 120_000);

afterAll(async () => estate?.stop());

async function impact(body: Record<string, unknown>): Promise<Impact> {
  const mark = await e.mark();
  const r = await e.post<Impact>('/api/keys/impact', body);
  expect(r.status).toBe(200);
  // No write of any kind was even attempted, and the reads are the batch reader's, counted.
  expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  const reads = (await e.appRequests(mark)).filter((x) => x.service === 'arm');
  expect(reads.length).toBe(r.body.read.calls);
  return r.body;
}

/** The app's verdict for every namespace of the estate, by name. */
async function verdicts(): Promise<
  Record<Name, { verdict: string; ruleIds: string[]; usableKeyIds: string[] }>
> {
  const out = {} as Record<Name, { verdict: string; ruleIds: string[]; usableKeyIds: string[] }>;
  for (const name of NAMES) out[name] = await e.verdict(name);
  return out;
}

const nameOf = (id: string): Name => id.split('/').pop() as Name;

/**
 * After the real change: every namespace the prediction names has exactly the predicted verdict,
 * deciding rules and remaining keys; every other one kept its verdict.
 */
function expectPrediction(
  predicted: Impact,
  before: Awaited<ReturnType<typeof verdicts>>,
  after: Awaited<ReturnType<typeof verdicts>>,
): void {
  const hit = [
    ...predicted.inoperable,
    ...predicted.degraded,
    ...predicted.undetermined,
    ...predicted.unaffected,
  ];
  const expected = { ...before };
  for (const h of hit) {
    expected[nameOf(h.namespaceId)] = {
      verdict: h.after,
      ruleIds: h.ruleIds,
      usableKeyIds: h.remainingKeyIds,
    };
    expect(before[nameOf(h.namespaceId)].verdict).toBe(h.before);
  }
  expect(after).toEqual(expected);
}

async function pollAndCheckServing(expected: Partial<Record<Name, boolean>>): Promise<void> {
  await e.advance(KEY_POLL_MS + 1_000);
  // The move also ran the app's key watch: let it finish, so the next question's reads are its own.
  await quiesce(e);
  for (const [name, serves] of Object.entries(expected))
    expect([name, await e.serves(name)]).toEqual([name, serves]);
}

it('starts healthy everywhere, served by Service Bus', async () => {
  const all = await verdicts();
  for (const name of NAMES) expect([name, all[name].verdict]).toEqual([name, 'healthy']);
  for (const name of NAMES) expect(await e.serves(name)).toBe(true);
});

it('disable a shared key: the single-key namespace goes inoperable, the two-key one degrades on its other key', async () => {
  const predicted = await impact({ key: { keyId: e.keyId('kv-ap', 'k-shared') }, change: 'disable' });
  expect(predicted.inoperable.map((i) => nameOf(i.namespaceId))).toEqual(['sb-one']);
  expect(predicted.degraded.map((i) => [nameOf(i.namespaceId), i.remainingKeyIds])).toEqual([
    ['sb-two', [e.keyId('kv-ap2', 'k-second')]],
  ]);
  expect(predicted.geoDrPartners).toEqual([]);
  // Two namespaces, two distinct keys in two vaults of one subscription: 1 vault list + 2 key reads.
  expect(predicted.read).toEqual({ namespaces: 2, calls: 3, callsByOperation: expect.any(Object) as object });

  const before = await verdicts();
  await e.setKeyAttributes('kv-ap', 'k-shared', { enabled: false });
  expectPrediction(predicted, before, await verdicts());
  await pollAndCheckServing({ 'sb-one': false, 'sb-two': true });

  await e.setKeyAttributes('kv-ap', 'k-shared', { enabled: true });
  await pollAndCheckServing({ 'sb-one': true });
});

it('disable the current version of a key a namespace pins an older version of: nothing breaks; that version named: it does', async () => {
  const current = await impact({ key: { keyId: e.keyId('kv-ap', 'k-pinned') }, change: 'disable' });
  expect([current.inoperable, current.degraded, current.unaffected]).toEqual([[], [], []]);
  expect(current.assumptions).toEqual([]);
  const named = await impact({
    key: { keyId: `${e.keyId('kv-ap', 'k-pinned')}/${pinnedV1}` },
    change: 'disable',
  });
  expect(named.inoperable.map((i) => nameOf(i.namespaceId))).toEqual(['sb-pinned']);

  let before = await verdicts();
  await e.setKeyAttributes('kv-ap', 'k-pinned', { enabled: false });
  expectPrediction(current, before, await verdicts());
  await pollAndCheckServing({ 'sb-pinned': true });
  await e.setKeyAttributes('kv-ap', 'k-pinned', { enabled: true });

  before = await verdicts();
  await e.setKeyAttributes('kv-ap', 'k-pinned', { enabled: false }, pinnedV1);
  expectPrediction(named, before, await verdicts());
  await pollAndCheckServing({ 'sb-pinned': false });
  await e.setKeyAttributes('kv-ap', 'k-pinned', { enabled: true }, pinnedV1);
  await pollAndCheckServing({ 'sb-pinned': true });
});

it("delete the Geo-DR pair's key: both inoperable, each listed as the other's affected partner; recover restores", async () => {
  const predicted = await impact({
    key: { vaultUri: e.vaultUri('kv-ap'), keyName: 'k-geo' },
    change: 'delete',
  });
  expect(predicted.inoperable.map((i) => nameOf(i.namespaceId))).toEqual(['sb-geo-p', 'sb-geo-s']);
  expect(
    predicted.geoDrPartners.map((p) => [
      nameOf(p.namespaceId),
      nameOf(p.partnerOf),
      p.alias,
      p.partnerVerdict,
    ]),
  ).toEqual([
    ['sb-geo-s', 'sb-geo-p', 'geo-alias', 'inoperable'],
    ['sb-geo-p', 'sb-geo-s', 'geo-alias', 'inoperable'],
  ]);

  const before = await verdicts();
  await e.deleteKey('kv-ap', 'k-geo');
  expectPrediction(predicted, before, await verdicts());
  // The service keeps a deleted key cached for up to an hour, then stops.
  await pollAndCheckServing({ 'sb-geo-p': true });
  await e.advance(60 * 60_000);
  await quiesce(e);
  await pollAndCheckServing({ 'sb-geo-p': false, 'sb-geo-s': false });

  await e.recoverKey('kv-ap', 'k-geo');
  await pollAndCheckServing({ 'sb-geo-p': true, 'sb-geo-s': true });
});

it("remove one identity's access policy on one vault: that namespace degrades on its key in the other vault", async () => {
  const predicted = await impact({
    identity: { principalId: principals['sb-two'] },
    vault: { vaultName: 'kv-ap' },
    change: 'revokeAccess',
  });
  expect(predicted.inoperable).toEqual([]);
  expect(predicted.degraded.map((i) => [nameOf(i.namespaceId), i.remainingKeyIds])).toEqual([
    ['sb-two', [e.keyId('kv-ap2', 'k-second')]],
  ]);

  const before = await verdicts();
  await e.accessPolicy('kv-ap', principals['sb-two']!, 'remove');
  expectPrediction(predicted, before, await verdicts());
  await pollAndCheckServing({ 'sb-two': true });
  await e.accessPolicy('kv-ap', principals['sb-two']!, 'add');
});

it('remove the RBAC role assignment of a user-assigned identity: its namespace goes inoperable; re-assigning restores', async () => {
  const predicted = await impact({ identity: { resourceId: uai.id }, change: 'revokeAccess' });
  expect(predicted.inoperable.map((i) => nameOf(i.namespaceId))).toEqual(['sb-uai']);
  // One namespace on an RBAC vault: 1 vault list + 1 key read + 1 role-assignment list.
  expect(predicted.read.calls).toBe(3);

  const before = await verdicts();
  await e.removeRoleAssignment(uaiAssignment);
  expectPrediction(predicted, before, await verdicts());
  await pollAndCheckServing({ 'sb-uai': false });
  uaiAssignment = await e.assignCryptoUser(uai.principalId, e.vaultId('kv-rbac'));
  await pollAndCheckServing({ 'sb-uai': true });
});

it('expire a key: the namespace that has another key degrades', async () => {
  const predicted = await impact({ key: { keyId: e.keyId('kv-ap2', 'k-second') }, change: 'expire' });
  expect(predicted.degraded.map((i) => [nameOf(i.namespaceId), i.remainingKeyIds])).toEqual([
    ['sb-two', [e.keyId('kv-ap', 'k-shared')]],
  ]);
  const before = await verdicts();
  // In the past on both the app's clock and the sandbox's.
  await e.setKeyAttributes('kv-ap2', 'k-second', { exp: '2025-06-01T00:00:00Z' });
  expectPrediction(predicted, before, await verdicts());
  await pollAndCheckServing({ 'sb-two': true });
});

it('bad input is a 400 problem and no call at all reaches Azure (not even to a host the request named)', async () => {
  const mark = await e.mark();
  for (const body of [
    { key: { keyId: 'https://evil.example.com/keys/k' }, change: 'delete' },
    {
      key: { keyId: `https://kv-ap.vault.sandbox.localhost:${new URL(estate.azure.url).port}/keys/k-shared` },
      change: 'delete',
    },
    { vault: { vaultName: 'kv-ap' }, change: 'purge' },
    { identity: { principalId: 'nope' }, change: 'revokeAccess' },
    { change: 'delete' },
  ]) {
    const r = await e.post<{ status: number; title: string; errors: Array<{ field: string }> }>(
      '/api/keys/impact',
      body,
    );
    expect([r.status, r.body.title]).toEqual([400, 'Invalid request']);
  }
  const raw = await e.post<{ status: number }>('/api/keys/impact', '{"key":', true);
  expect(raw.status).toBe(400);
  expect(await e.appRequests(mark)).toEqual([]);
});
