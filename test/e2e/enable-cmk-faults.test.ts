/**
 * enableCmk under platform faults and duplicated activities, end to end over HTTP: throttling (429)
 * and server errors (503) injected on every ARM call site the flow uses, in turn; retries exhausted;
 * a failure after a grant; and the host's chaos mode that runs every activity twice.
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, fault, grantDocumentedRoles, type EnableOutput } from './enable-cmk-support';

const NS = '/namespaces/sb-f[^/]*';

/** Every call site of the flow: reads of the preflight, the writes, and the verification read. */
const SYSTEM_AP_SITES: Array<{ name: string; method: string; path: string }> = [
  { name: 'namespace GET', method: 'GET', path: `${NS}$` },
  { name: 'queues list', method: 'GET', path: `${NS}/queues$` },
  { name: 'topics list', method: 'GET', path: `${NS}/topics$` },
  { name: 'Geo-DR list', method: 'GET', path: `${NS}/disasterRecoveryConfigs$` },
  { name: 'vault list', method: 'GET', path: '/providers/Microsoft.KeyVault/vaults$' },
  { name: 'key GET', method: 'GET', path: '/vaults/kv-f-ap/keys/[^/]+$' },
  { name: 'namespace PATCH', method: 'PATCH', path: `${NS}$` },
  { name: 'access policy add', method: 'PUT', path: '/accessPolicies/add$' },
];
const UAI_RBAC_SITES: Array<{ name: string; method: string; path: string }> = [
  { name: 'identity GET', method: 'GET', path: '/userAssignedIdentities/id-f$' },
  {
    name: 'role assignments list',
    method: 'GET',
    path: '/vaults/kv-f-rbac/providers/Microsoft.Authorization/roleAssignments$',
  },
  {
    name: 'role assignment PUT',
    method: 'PUT',
    path: '/providers/Microsoft.Authorization/roleAssignments/[0-9a-f-]+$',
  },
];

async function seed(e: Estate): Promise<{ uai: { id: string; principalId: string } }> {
  await grantDocumentedRoles(e);
  await e.vault('kv-f-ap');
  await e.vault('kv-f-rbac', { rbac: true });
  await e.key('kv-f-ap', 'k1');
  await e.key('kv-f-rbac', 'k1');
  return { uai: await e.uai('id-f') };
}

let counter = 0;
async function runSystemAp(e: Estate): Promise<{ out: EnableOutput; writes: number }> {
  const ns = await e.namespace(`sb-f-${++counter}-sys`);
  const mark = await e.mark();
  const { op } = await e.enable({ namespaceId: ns, keys: [{ keyId: e.keyId('kv-f-ap', 'k1') }] });
  return { out: op.output as EnableOutput, writes: (await e.appRequests(mark, 'attempted')).length };
}
/** A fresh key each run, so the identity always needs a new role assignment. */
async function runUaiRbac(e: Estate, uaiId: string): Promise<{ out: EnableOutput; writes: number }> {
  const ns = await e.namespace(`sb-f-${++counter}-uai`);
  await e.key('kv-f-rbac', `k-${counter}`);
  const mark = await e.mark();
  const { op } = await e.enable({
    namespaceId: ns,
    keys: [{ keyId: e.keyId('kv-f-rbac', `k-${counter}`) }],
    identity: { type: 'UserAssigned', resourceId: uaiId },
  });
  return { out: op.output as EnableOutput, writes: (await e.appRequests(mark, 'attempted')).length };
}

describe('platform faults', () => {
  let e: Estate;
  let uai: { id: string; principalId: string };
  beforeAll(async () => {
    e = await new Estate(await startLocalEstate()).init();
    ({ uai } = await seed(e));
  }, 120_000);
  afterAll(async () => e?.estate.stop());
  afterEach(async () => {
    await e.estate.azure.control('DELETE', '/faults');
  });

  const THROTTLE = { type: 'throttle' as const, retryAfterSeconds: 0 };

  const EFFECTS = [
    ['429', { type: 'throttle' as const, retryAfterSeconds: 0 }],
    ['503', { type: 'error' as const, status: 503, code: 'ServiceUnavailable', message: 'injected' }],
  ] as const;
  // One more fault in a row than the SDK's own retries (3), so the Durable retry has to step in too.
  const IN_A_ROW = 4;
  const cases = (sites: typeof SYSTEM_AP_SITES) =>
    sites.flatMap((site) => EFFECTS.map(([label, effect]) => [label, site.name, site, effect] as const));

  it.each(cases(SYSTEM_AP_SITES))(
    'system-assigned + access policy: %s on %s — still enabled with the minimum writes',
    async (_label, _name, site, effect) => {
      const mark = await e.mark();
      await fault(e, site, effect, IN_A_ROW);
      const { out, writes } = await runSystemAp(e);
      expect(out.outcome).toBe('enabled');
      expect(writes).toBe(out.minimumWrites?.total);
      const failed = (await e.appRequests(mark)).filter((r) => r.status === 429 || r.status === 503);
      expect(failed.length).toBe(IN_A_ROW); // every injected fault was met (and ridden through)
    },
  );

  it.each(cases(UAI_RBAC_SITES))(
    'user-assigned + RBAC: %s on %s — still enabled with the minimum writes',
    async (_label, _name, site, effect) => {
      const mark = await e.mark();
      await fault(e, site, effect, IN_A_ROW);
      const { out, writes } = await runUaiRbac(e, uai.id);
      expect(out.outcome).toBe('enabled');
      expect(out.grants).toHaveLength(1);
      expect(writes).toBe(out.minimumWrites?.total);
      const failed = (await e.appRequests(mark)).filter((r) => r.status === 429 || r.status === 503);
      expect(failed.length).toBe(IN_A_ROW);
    },
  );

  it('when the faults never stop, fails with a clear state after the retries — nothing half-reported', async () => {
    await fault(e, { method: 'PUT', path: '/accessPolicies/add$' }, THROTTLE);
    const { out } = await runSystemAp(e);
    expect(out.outcome).toBe('failed');
    expect(out.error).toMatchObject({ step: 'grantKeyAccess', code: 'PlatformFault' });
    expect(out.summary).toMatch(/NOT enabled/);
    expect(out.steps.find((s) => s.kind === 'grantKeyAccess')?.status).toBe('failed');
    expect(out.steps.find((s) => s.kind === 'setEncryption')?.status).toBe('pending');
    expect(out.changes).toHaveLength(1); // the identity was turned on, and it says so
    expect(out.grants).toEqual([]);
  });

  it('a failure after a grant reports the grant (output and customStatus)', async () => {
    await fault(e, { method: 'PATCH', path: `${NS}$` }, THROTTLE);
    const ns = await e.namespace(`sb-f-${++counter}-late`);
    await e.key('kv-f-rbac', 'k-late');
    const start = await e.post<{ id: string }>('/api/cmk/enable', {
      namespaceId: ns,
      keys: [{ keyId: e.keyId('kv-f-rbac', 'k-late') }],
      identity: { type: 'UserAssigned', resourceId: uai.id },
    });
    const op = await e.settle(start.body.id);
    const out = op.output as EnableOutput;
    expect(out.outcome).toBe('failed');
    expect(out.error?.step).toBe('ensureIdentity');
    expect(out.grants).toEqual([]);

    // Now with the identity already attached, so the grant happens and the encryption PATCH fails.
    await e.estate.azure.control('DELETE', '/faults');
    await e.arm('PATCH', `${ns}?api-version=2021-11-01`, {
      identity: { type: 'UserAssigned', userAssignedIdentities: { [uai.id]: {} } },
    });
    const grantsBefore = (await e.appRequests(0, 'attempted')).filter((r) =>
      /roleAssignments/.test(r.path),
    ).length;
    await fault(e, { method: 'PATCH', path: `${NS}$` }, THROTTLE);
    const again = await e.post<{ id: string }>('/api/cmk/enable', {
      namespaceId: ns,
      keys: [{ keyId: e.keyId('kv-f-rbac', 'k-late') }],
      identity: { type: 'UserAssigned', resourceId: uai.id },
    });
    const op2 = await e.settle(again.body.id);
    const out2 = op2.output as EnableOutput;
    expect(out2.outcome).toBe('failed');
    expect(out2.error?.step).toBe('setEncryption');
    expect(out2.grants).toEqual([
      expect.objectContaining({ kind: 'roleAssignment', principalId: uai.principalId }),
    ]);
    expect(op2.customStatus?.grants).toEqual(out2.grants);
    expect(op2.customStatus?.state).toBe('failed');
    expect(out2.summary).toContain('Key access granted before the failure stays in place');
    const grantsAfter = (await e.appRequests(0, 'attempted')).filter((r) =>
      /roleAssignments/.test(r.path),
    ).length;
    expect(grantsAfter).toBeGreaterThanOrEqual(grantsBefore);
  });
});

describe('chaos: every activity runs twice', () => {
  let normal: Estate;
  let chaos: Estate;
  beforeAll(async () => {
    [normal, chaos] = await Promise.all([
      startLocalEstate().then((s) => new Estate(s).init()),
      startLocalEstate({ args: ['--chaos', 'duplicate-activities'] }).then((s) => new Estate(s).init()),
    ]);
  }, 120_000);
  afterAll(async () => Promise.all([normal?.estate.stop(), chaos?.estate.stop()]));

  it('reaches the same outcome, steps and grants as a normal run', async () => {
    const results = [];
    for (const e of [normal, chaos]) {
      const { uai } = await seed(e);
      const sys = await runSystemAp(e);
      const user = await runUaiRbac(e, uai.id);
      const rerun = await e.enable({
        namespaceId: e.nsId(`sb-f-${counter - 1}-sys`),
        keys: [{ keyId: e.keyId('kv-f-ap', 'k1') }],
      });
      results.push({ e, sys, user, rerun: rerun.op.output as EnableOutput, uai });
    }
    const [a, b] = results as [(typeof results)[0], (typeof results)[0]];
    for (const r of [a, b]) {
      expect(r.sys.out.outcome).toBe('enabled');
      expect(r.user.out.outcome).toBe('enabled');
      expect(r.rerun.outcome).toBe('noOp');
    }
    const shape = (o: EnableOutput) => ({
      steps: o.steps.map((s) => `${s.kind}:${s.status}`),
      grants: o.grants.map((g) => `${g.vaultName}:${g.kind}`),
      changes: o.changes.length,
      keys: o.encryption?.keys.length,
    });
    expect(shape(b.sys.out)).toEqual(shape(a.sys.out));
    expect(shape(b.user.out)).toEqual(shape(a.user.out));
    // The chaos host really ran the activities twice (each idempotent write happened twice) …
    expect(a.sys.writes).toBe(a.sys.out.minimumWrites?.total);
    expect(b.sys.writes).toBe(2 * a.sys.writes);
    // … and the second run of each changed nothing: the namespace reads back the same.
    const names = (o: EnableOutput) => o.encryption?.keys.map((k) => k.keyId.replace(/^https:\/\/[^/]+/, ''));
    expect(names(b.sys.out)).toEqual(names(a.sys.out));
  });
});
