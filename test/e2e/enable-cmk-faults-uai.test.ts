/**
 * enableCmk (user-assigned identity, RBAC vault) under platform faults, end to end over HTTP: 429 and
 * 503 on every call site the flow adds; retries exhausted; a failure after a grant.
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, fault, type EnableOutput } from './enable-cmk-support';
import {
  IN_A_ROW,
  MINIMUM_WRITES,
  NS,
  THROTTLE,
  UAI_RBAC_SITES,
  faultCases,
  hitsOf,
  nextCounter,
  runSystemAp,
  runUaiRbac,
  seed,
} from './enable-cmk-faults-support';

describe('platform faults: user-assigned + RBAC, exhausted retries, a failure after a grant', () => {
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

  it.each(faultCases(UAI_RBAC_SITES))(
    'user-assigned + RBAC: %s on %s — still enabled with the minimum writes',
    async (_label, _name, site, effect) => {
      const mark = await e.mark();
      const rule = await fault(e, site, effect, IN_A_ROW);
      const run = await runUaiRbac(e, uai.id);
      expect(run.out.outcome).toBe('enabled');
      expect(run.out.grants).toHaveLength(1);
      expect(run.succeeded).toBe(MINIMUM_WRITES.uaiRbac);
      expect(run.attempted).toBe(MINIMUM_WRITES.uaiRbac + (site.method === 'GET' ? 0 : IN_A_ROW));
      const failed = (await e.appRequests(mark)).filter((r) => r.status === 429 || r.status === 503);
      expect(failed.length).toBe(IN_A_ROW);
      expect(await hitsOf(e, rule)).toBe(IN_A_ROW);
    },
  );

  it('when the faults never stop, fails with a clear state after the retries — nothing half-reported', async () => {
    await fault(e, { method: 'PUT', path: '/accessPolicies/add$' }, THROTTLE);
    const { out, ns } = await runSystemAp(e);
    expect(out.outcome).toBe('failed');
    expect(out.error).toMatchObject({ step: 'grantKeyAccess', code: 'PlatformFault' });
    expect(out.summary).toMatch(/NOT enabled/);
    expect(out.steps.find((s) => s.kind === 'grantKeyAccess')?.status).toBe('failed');
    expect(out.steps.find((s) => s.kind === 'setEncryption')?.status).toBe('pending');
    expect(out.changes).toHaveLength(1); // the identity was turned on, and it says so
    expect(out.grants).toEqual([]);
    // Azure agrees: the identity is on, the vault has no policy for it, the namespace is not encrypted.
    const after = await e.getNamespace(ns);
    expect(after.properties.encryption).toBeUndefined();
    const vault = await e.arm<{ properties: { accessPolicies: Array<{ objectId: string }> } }>(
      'GET',
      `${e.vaultId('kv-f-ap')}?api-version=2023-07-01`,
    );
    expect(vault.properties.accessPolicies.map((p) => p.objectId)).not.toContain(after.identity?.principalId);
    expect(after.identity?.principalId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a failure after a grant reports the grant (output and customStatus)', async () => {
    await fault(e, { method: 'PATCH', path: `${NS}$` }, THROTTLE);
    const ns = await e.namespace(`sb-f-${nextCounter()}-late`);
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
    const markAgain = await e.mark();
    const encryptionFault = await fault(e, { method: 'PATCH', path: `${NS}$` }, THROTTLE);
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
    // Exactly one role assignment was written (attempts included), and Azure holds exactly that one.
    const grantWrites = (await e.appRequests(markAgain, 'attempted')).filter((r) =>
      /roleAssignments/.test(r.path),
    );
    expect(grantWrites.map((r) => `${r.method} ${r.status}`)).toEqual(['PUT 201']);
    const held = await e.arm<{ value: Array<{ properties: { principalId: string; scope: string } }> }>(
      'GET',
      `${e.vaultId('kv-f-rbac')}/keys/k-late/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`,
    );
    expect(
      held.value.filter((a) => a.properties.principalId === uai.principalId).map((a) => a.properties.scope),
    ).toEqual([`${e.vaultId('kv-f-rbac')}/keys/k-late`]);
    // The encryption PATCH was refused every time it was tried — and never accepted.
    const patches = (await e.appRequests(markAgain, 'attempted')).filter((r) => r.method === 'PATCH');
    expect(patches.length).toBeGreaterThan(0);
    expect(patches.filter((r) => r.status !== 429)).toEqual([]);
    expect(await hitsOf(e, encryptionFault)).toBe(patches.length);
    expect((await e.getNamespace(ns.split('/').pop()!)).properties.encryption).toBeUndefined();
  });
});
