/**
 * POST /api/cmk/geo-dr end to end (local host + sandbox, driven over HTTP only): the already-paired
 * system-assigned order (break → grant → encrypt → re-pair → wait), with the request log proving the
 * documented order of writes.
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, grantDocumentedRoles } from './enable-cmk-support';
import { geoBody, geoDr, isPaired, pairAndSettle, writesOf, type GeoDrOutput } from './geo-dr-support';

let e: Estate;

beforeAll(async () => {
  e = await new Estate(await startLocalEstate()).init();
  await grantDocumentedRoles(e);
  await e.vault('kv-geo');
  await e.vault('kv-geo-rbac', { rbac: true });
  for (const k of ['k-geo-1', 'k-geo-2']) await e.key('kv-geo', k);
  await e.key('kv-geo-rbac', 'k-geo-r');
}, 120_000);

afterAll(async () => e?.estate.stop());

describe('already paired, system-assigned: break → grant → encrypt → re-pair', () => {
  it('reaches CMK on the primary with the pairing intact, writes in the documented order', async () => {
    await e.namespace('sb-geo1-p');
    await e.namespace('sb-geo1-s');
    await pairAndSettle(e, 'sb-geo1-p', 'sb-geo1-s', 'geo1-alias');
    const mark = await e.mark();

    const { op } = await geoDr(
      e,
      geoBody(e, 'sb-geo1-p', 'sb-geo1-s', 'geo1-alias', [e.keyId('kv-geo', 'k-geo-1')]),
    );
    const out = op.output!;
    expect(out.outcome).toBe('enabled');
    expect(out.order).toBe('breakEncryptRepair');
    expect(out.pairing).toEqual(expect.objectContaining({ intact: true, state: 'paired' }));
    expect(op.customStatus).toEqual(expect.objectContaining({ state: 'succeeded' }));
    expect(out.steps.map((s) => `${s.kind}:${s.status}`)).toEqual([
      'preflight:done',
      'breakPairing:done',
      'waitForBreak:done',
      'grantSecondary:done',
      'encryptPrimary:done',
      'pair:done',
      'waitForReplication:done',
    ]);
    expect(await isPaired(e, 'sb-geo1-p', 'sb-geo1-s', 'geo1-alias')).toBe(true);

    const primary = await e.getNamespace('sb-geo1-p');
    const secondary = await e.getNamespace('sb-geo1-s');
    expect(primary.properties.encryption).toEqual(
      expect.objectContaining({ keyVaultProperties: [expect.objectContaining({ keyName: 'k-geo-1' })] }),
    );
    // Both identities were granted on the vault.
    expect(out.grants.map((g) => g.principalId).sort()).toEqual(
      [primary.identity?.principalId, secondary.identity?.principalId].sort(),
    );

    const writes = writesOf(await e.appRequests(mark, 'attempted'));
    expect(writes).toEqual([
      expect.stringMatching(
        /^POST .*namespaces\/sb-geo1-p\/disasterRecoveryConfigs\/geo1-alias\/breakPairing$/i,
      ),
      expect.stringMatching(/^PATCH .*namespaces\/sb-geo1-s$/i), // the secondary's system identity
      expect.stringMatching(/^PUT .*vaults\/kv-geo\/accessPolicies\/add$/i), // … granted
      expect.stringMatching(/^PATCH .*namespaces\/sb-geo1-p$/i), // enableCmk: the primary's identity
      expect.stringMatching(/^PUT .*vaults\/kv-geo\/accessPolicies\/add$/i), // … granted
      expect.stringMatching(/^PATCH .*namespaces\/sb-geo1-p$/i), // … encryption
      expect.stringMatching(/^PUT .*namespaces\/sb-geo1-p\/disasterRecoveryConfigs\/geo1-alias$/i), // re-pair
    ]);
  });
});

describe('after the happy path', () => {
  it("a re-run is a no-op; once the secondary's access is revoked (CMK-012) it is granted again without breaking the pairing", async () => {
    const body = geoBody(e, 'sb-geo1-p', 'sb-geo1-s', 'geo1-alias', [e.keyId('kv-geo', 'k-geo-1')]);
    let mark = await e.mark();
    const again = await geoDr(e, body);
    expect(again.op.output?.outcome).toBe('noOp');
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);

    const secondary = (await e.getNamespace('sb-geo1-s')).identity?.principalId;
    await e.arm('PUT', `${e.vaultId('kv-geo')}/accessPolicies/remove?api-version=2023-07-01`, {
      properties: {
        accessPolicies: [
          {
            tenantId: e.estate.azure.tenantId,
            objectId: secondary,
            permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
          },
        ],
      },
    });
    mark = await e.mark();
    const repaired = await geoDr(e, body);
    expect(repaired.op.output?.outcome).toBe('enabled');
    expect(repaired.op.output?.order).toBe('grantSecondaryOnly');
    expect(writesOf(await e.appRequests(mark, 'attempted'))).toEqual([
      expect.stringMatching(/^PUT .*vaults\/kv-geo\/accessPolicies\/add$/i),
    ]);
    expect(await isPaired(e, 'sb-geo1-p', 'sb-geo1-s', 'geo1-alias')).toBe(true);
  });

  it('a second request for the same primary while one runs gets 409 pointing at it', async () => {
    await e.namespace('sb-geo2-p');
    await e.namespace('sb-geo2-s');
    await pairAndSettle(e, 'sb-geo2-p', 'sb-geo2-s', 'geo2-alias');
    const body = geoBody(e, 'sb-geo2-p', 'sb-geo2-s', 'geo2-alias', [e.keyId('kv-geo', 'k-geo-2')]);
    const first = await e.post<{ id: string }>('/api/cmk/geo-dr', body);
    expect(first.status).toBe(202);
    const second = await e.post<{ operationId: string }>('/api/cmk/geo-dr', body);
    expect(second.status).toBe(409);
    expect(second.body.operationId).toBe(first.body.id);
    const op = await e.settle<GeoDrOutput>(first.body.id);
    expect(op.output?.outcome).toBe('enabled');
  });
});

describe('RBAC vaults', () => {
  it('already paired on an RBAC vault: both identities get the role at key scope, in the documented order', async () => {
    await e.namespace('sb-geo3-p');
    await e.namespace('sb-geo3-s');
    await pairAndSettle(e, 'sb-geo3-p', 'sb-geo3-s', 'geo3-alias');
    const mark = await e.mark();
    const { op } = await geoDr(
      e,
      geoBody(e, 'sb-geo3-p', 'sb-geo3-s', 'geo3-alias', [e.keyId('kv-geo-rbac', 'k-geo-r')]),
    );
    expect(op.output?.outcome).toBe('enabled');
    expect(op.output?.grants.map((g) => g.kind)).toEqual(['roleAssignment', 'roleAssignment']);
    const role =
      /^PUT .*vaults\/kv-geo-rbac\/keys\/k-geo-r\/providers\/Microsoft.Authorization\/roleAssignments\/[0-9a-f-]+$/i;
    expect(writesOf(await e.appRequests(mark, 'attempted'))).toEqual([
      expect.stringMatching(/breakPairing$/),
      expect.stringMatching(/^PATCH .*namespaces\/sb-geo3-s$/i),
      expect.stringMatching(role),
      expect.stringMatching(/^PATCH .*namespaces\/sb-geo3-p$/i),
      expect.stringMatching(role),
      expect.stringMatching(/^PATCH .*namespaces\/sb-geo3-p$/i),
      expect.stringMatching(/^PUT .*disasterRecoveryConfigs\/geo3-alias$/i),
    ]);
    expect(await isPaired(e, 'sb-geo3-p', 'sb-geo3-s', 'geo3-alias')).toBe(true);
  });

  it("slow RBAC propagation: the pairing is refused until the secondary's role takes effect, then succeeds — one pairing", async () => {
    await e.namespace('sb-geo4-p');
    await e.namespace('sb-geo4-s');
    const enabled = await e.enable({
      namespaceId: e.nsId('sb-geo4-p'),
      keys: [{ keyId: e.keyId('kv-geo-rbac', 'k-geo-r') }],
    });
    expect(enabled.op.output?.outcome).toBe('enabled');
    await e.estate.azure.control('PUT', '/settings', { propagationDelayMs: 150_000 });
    try {
      const mark = await e.mark();
      const { op } = await geoDr(
        e,
        geoBody(e, 'sb-geo4-p', 'sb-geo4-s', 'geo4-alias', [e.keyId('kv-geo-rbac', 'k-geo-r')]),
      );
      expect(op.output?.outcome).toBe('enabled');
      const pairings = (await e.appRequests(mark)).filter(
        (r) => r.method === 'PUT' && /disasterRecoveryConfigs\/geo4-alias$/.test(r.path),
      );
      // Refused exactly while the secondary's new grant was not yet effective (its creation + the
      // delay), accepted once after it: when each attempt happened is exact, their number is the flow's.
      const grants = (await e.appRequests(mark)).filter(
        (r) => r.method === 'PUT' && /roleAssignments/i.test(r.path) && r.status < 300,
      );
      expect(grants.length).toBeGreaterThan(0);
      const effectiveAt = Math.max(...grants.map((g) => Date.parse(g.time))) + 150_000;
      const refused = pairings.filter((r) => r.status === 400);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.filter((r) => Date.parse(r.time) >= effectiveAt)).toEqual([]);
      expect(pairings.filter((r) => r.status < 300).map((r) => Date.parse(r.time) >= effectiveAt)).toEqual([
        true,
      ]);
      expect(await isPaired(e, 'sb-geo4-p', 'sb-geo4-s', 'geo4-alias')).toBe(true);
    } finally {
      await e.estate.azure.control('PUT', '/settings', { propagationDelayMs: 0 });
    }
  });
});
