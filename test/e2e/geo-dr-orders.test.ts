/**
 * enableCmkGeoDr end to end, the other order and identity kinds, and convergence: CMK first then
 * Geo-DR (system-assigned, with the primary unencrypted or already encrypted; user-assigned: the
 * secondary encrypted first with the same identity), a run terminated right after the break and
 * started again, and the host's chaos mode (every activity runs twice) reaching the same end state.
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, fault, grantDocumentedRoles } from './enable-cmk-support';
import { geoBody, geoDr, isPaired, pairAndSettle, writesOf, type GeoDrOutput } from './geo-dr-support';

let e: Estate;
let chaos: Estate;

async function seed(x: Estate): Promise<void> {
  await grantDocumentedRoles(x);
  await x.vault('kv-go');
  await x.vault('kv-go-rbac', { rbac: true });
  await x.key('kv-go', 'k1');
  await x.key('kv-go-rbac', 'k1');
}

beforeAll(async () => {
  [e, chaos] = await Promise.all([
    startLocalEstate().then((s) => new Estate(s).init()),
    startLocalEstate({ args: ['--chaos', 'duplicate-activities'] }).then((s) => new Estate(s).init()),
  ]);
  await Promise.all([seed(e), seed(chaos)]);
}, 120_000);

afterAll(async () => Promise.all([e?.estate.stop(), chaos?.estate.stop()]));

const encryptionKeys = async (x: Estate, ns: string) =>
  (
    (await x.getNamespace(ns)).properties.encryption as
      | { keyVaultProperties: Array<{ keyName: string; identity?: { userAssignedIdentity?: string } }> }
      | undefined
  )?.keyVaultProperties;

describe('CMK first, then Geo-DR', () => {
  it('system-assigned, primary not yet encrypted: encrypt → grant secondary → pair → wait', async () => {
    await e.namespace('sb-go1-p');
    await e.namespace('sb-go1-s');
    const mark = await e.mark();
    const { op } = await geoDr(e, geoBody(e, 'sb-go1-p', 'sb-go1-s', 'go1-alias', [e.keyId('kv-go', 'k1')]));
    const out = op.output!;
    expect(out.outcome).toBe('enabled');
    expect(out.order).toBe('cmkFirstThenPair');
    expect(out.steps.map((s) => `${s.kind}:${s.status}`)).toEqual([
      'preflight:done',
      'encryptPrimary:done',
      'grantSecondary:done',
      'pair:done',
      'waitForReplication:done',
    ]);
    expect(out.pairing).toEqual(expect.objectContaining({ intact: true, state: 'paired' }));
    expect(await isPaired(e, 'sb-go1-p', 'sb-go1-s', 'go1-alias')).toBe(true);
    expect(writesOf(await e.appRequests(mark, 'attempted'))).toEqual([
      expect.stringMatching(/^PATCH .*namespaces\/sb-go1-p$/i),
      expect.stringMatching(/^PUT .*vaults\/kv-go\/accessPolicies\/add$/i),
      expect.stringMatching(/^PATCH .*namespaces\/sb-go1-p$/i),
      expect.stringMatching(/^PATCH .*namespaces\/sb-go1-s$/i),
      expect.stringMatching(/^PUT .*vaults\/kv-go\/accessPolicies\/add$/i),
      expect.stringMatching(/^PUT .*namespaces\/sb-go1-p\/disasterRecoveryConfigs\/go1-alias$/i),
    ]);
  });

  it('system-assigned, primary already encrypted (RBAC vault): grant the secondary on the keys → pair; a re-run is a no-op', async () => {
    await e.namespace('sb-go2-p');
    await e.namespace('sb-go2-s');
    const enabled = await e.enable({
      namespaceId: e.nsId('sb-go2-p'),
      keys: [{ keyId: e.keyId('kv-go-rbac', 'k1') }],
    });
    expect(enabled.op.output?.outcome).toBe('enabled');
    const body = geoBody(e, 'sb-go2-p', 'sb-go2-s', 'go2-alias', [e.keyId('kv-go-rbac', 'k1')]);
    const mark = await e.mark();
    const { op } = await geoDr(e, body);
    expect(op.output?.outcome).toBe('enabled');
    expect(op.output?.steps.map((s) => s.kind)).toEqual([
      'preflight',
      'grantSecondary',
      'pair',
      'waitForReplication',
    ]);
    expect(writesOf(await e.appRequests(mark, 'attempted'))).toEqual([
      expect.stringMatching(/^PATCH .*namespaces\/sb-go2-s$/i),
      expect.stringMatching(
        /^PUT .*vaults\/kv-go-rbac\/keys\/k1\/providers\/Microsoft.Authorization\/roleAssignments\/[0-9a-f-]+$/i,
      ),
      expect.stringMatching(/^PUT .*namespaces\/sb-go2-p\/disasterRecoveryConfigs\/go2-alias$/i),
    ]);
    const mark2 = await e.mark();
    const rerun = await geoDr(e, body);
    expect(rerun.op.output?.outcome).toBe('noOp');
    expect(await e.appRequests(mark2, 'attempted')).toEqual([]);
  });

  it('user-assigned: the secondary is encrypted first with the same identity, then the primary, then pair', async () => {
    await e.namespace('sb-go3-p');
    await e.namespace('sb-go3-s');
    const uai = await e.uai('id-go3');
    const mark = await e.mark();
    const { op } = await geoDr(
      e,
      geoBody(e, 'sb-go3-p', 'sb-go3-s', 'go3-alias', [e.keyId('kv-go-rbac', 'k1')], {
        identity: { type: 'UserAssigned', resourceId: uai.id },
      }),
    );
    const out = op.output!;
    expect(out.outcome).toBe('enabled');
    expect(out.steps.map((s) => `${s.kind}:${s.status}`)).toEqual([
      'preflight:done',
      'encryptSecondary:done',
      'encryptPrimary:done',
      'pair:done',
      'waitForReplication:done',
    ]);
    expect(out.subOperations.map((s) => `${s.kind}:${s.outcome}`)).toEqual([
      'encryptSecondary:enabled',
      'encryptPrimary:enabled',
    ]);
    for (const ns of ['sb-go3-p', 'sb-go3-s'])
      expect((await encryptionKeys(e, ns))?.[0]?.identity?.userAssignedIdentity?.toLowerCase()).toBe(
        uai.id.toLowerCase(),
      );
    expect(await isPaired(e, 'sb-go3-p', 'sb-go3-s', 'go3-alias')).toBe(true);
    // The documented order: the secondary first (identity, grant, encryption), then the primary (the
    // identity already has access), then the pairing.
    expect(writesOf(await e.appRequests(mark, 'attempted'))).toEqual([
      expect.stringMatching(/^PATCH .*namespaces\/sb-go3-s$/i),
      expect.stringMatching(
        /^PUT .*vaults\/kv-go-rbac\/keys\/k1\/providers\/Microsoft.Authorization\/roleAssignments\/[0-9a-f-]+$/i,
      ),
      expect.stringMatching(/^PATCH .*namespaces\/sb-go3-s$/i),
      expect.stringMatching(/^PATCH .*namespaces\/sb-go3-p$/i),
      expect.stringMatching(/^PATCH .*namespaces\/sb-go3-p$/i),
      expect.stringMatching(/^PUT .*namespaces\/sb-go3-p\/disasterRecoveryConfigs\/go3-alias$/i),
    ]);
  });
});

describe('convergence', () => {
  it('a run terminated right after the break, started again, converges without breaking twice', async () => {
    await e.namespace('sb-go4-p');
    await e.namespace('sb-go4-s');
    await pairAndSettle(e, 'sb-go4-p', 'sb-go4-s', 'go4-alias');
    const mark = await e.mark();
    const body = geoBody(e, 'sb-go4-p', 'sb-go4-s', 'go4-alias', [e.keyId('kv-go', 'k1')]);
    const start = await e.post<{ id: string }>('/api/cmk/geo-dr', body);
    expect(start.status).toBe(202);
    // The clock does not move: the run breaks the pairing and then waits on a durable timer.
    let pairing = '';
    for (let i = 0; i < 100 && pairing !== 'broken'; i++) {
      const op = await e.operation<GeoDrOutput>(start.body.id);
      pairing = (op.customStatus as unknown as { pairing: { state: string } } | null)?.pairing.state ?? '';
      if (pairing !== 'broken') await new Promise((r) => setTimeout(r, 50));
    }
    expect(pairing).toBe('broken');
    const term = await e.estate.app.json(
      `/runtime/webhooks/durabletask/instances/${start.body.id}/terminate?reason=test&code=${e.estate.app.keys.durableTaskExtension}`,
      { method: 'POST' },
    );
    expect(term.status).toBe(202);
    expect((await e.operation(start.body.id)).runtimeStatus).toBe('Terminated');
    expect(await isPaired(e, 'sb-go4-p', 'sb-go4-s', 'go4-alias')).toBe(false);

    const { op } = await geoDr(e, body);
    expect(op.output?.outcome).toBe('enabled');
    expect(op.output?.steps.map((s) => s.kind)).not.toContain('breakPairing');
    expect(await isPaired(e, 'sb-go4-p', 'sb-go4-s', 'go4-alias')).toBe(true);
    const breaks = writesOf(await e.appRequests(mark, 'attempted')).filter((w) => /breakPairing$/.test(w));
    expect(breaks).toHaveLength(1);
  });

  it('chaos (every activity runs twice): the already-paired flow reaches the same end state', async () => {
    await chaos.namespace('sb-go5-p');
    await chaos.namespace('sb-go5-s');
    await pairAndSettle(chaos, 'sb-go5-p', 'sb-go5-s', 'go5-alias');
    const mark = await chaos.mark();
    const { op } = await geoDr(
      chaos,
      geoBody(chaos, 'sb-go5-p', 'sb-go5-s', 'go5-alias', [chaos.keyId('kv-go', 'k1')]),
    );
    expect(op.output?.outcome).toBe('enabled');
    expect(op.output?.pairing.intact).toBe(true);
    expect(await isPaired(chaos, 'sb-go5-p', 'sb-go5-s', 'go5-alias')).toBe(true);
    expect((await encryptionKeys(chaos, 'sb-go5-p'))?.map((k) => k.keyName)).toEqual(['k1']);
    // Proof the activities really ran twice: the break activity ran twice but broke once.
    const writes = writesOf(await chaos.appRequests(mark, 'attempted'));
    expect(writes.filter((w) => /breakPairing$/.test(w))).toHaveLength(1);
    // Two grants (the secondary's, the primary's), each activity run twice: exactly four `add`s.
    expect(writes.filter((w) => /accessPolicies\/add$/.test(w))).toHaveLength(4);
  });
});

describe('chaos and compensation', () => {
  it('every activity twice and the grant refused after the break: the same "pairing restored" outcome', async () => {
    await chaos.namespace('sb-go6-p');
    await chaos.namespace('sb-go6-s');
    await pairAndSettle(chaos, 'sb-go6-p', 'sb-go6-s', 'go6-alias');
    await fault(
      chaos,
      { method: 'PUT', path: '/vaults/kv-go/accessPolicies/add$' },
      {
        type: 'error',
        status: 403,
        code: 'AuthorizationFailed',
        message: 'Injected: no write on the vault.',
      },
      2,
    );
    const { op } = await geoDr(
      chaos,
      geoBody(chaos, 'sb-go6-p', 'sb-go6-s', 'go6-alias', [chaos.keyId('kv-go', 'k1')]),
    );
    expect(op.output?.outcome).toBe('restored');
    expect(op.output?.pairing.intact).toBe(true);
    expect(await isPaired(chaos, 'sb-go6-p', 'sb-go6-s', 'go6-alias')).toBe(true);
    expect((await chaos.getNamespace('sb-go6-p')).properties.encryption).toBeUndefined();
  });
});
