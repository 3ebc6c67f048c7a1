/**
 * enableCmkGeoDr compensation end to end: a refusal injected at each step after the break (the
 * secondary's grant, the primary's encryption, the re-pair) → the pairing is restored and the outcome
 * says so; when re-pairing keeps failing → the critical outcome names the alias, both namespaces and
 * the command. The pairing state in the operation's status is checked against what ARM shows.
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, fault, grantDocumentedRoles } from './enable-cmk-support';
import { geoBody, geoDr, isPaired, pairAndSettle } from './geo-dr-support';

let e: Estate;
let n = 0;

beforeAll(async () => {
  e = await new Estate(await startLocalEstate()).init();
  await grantDocumentedRoles(e);
  await e.vault('kv-gc');
  await e.key('kv-gc', 'k1');
}, 120_000);

afterAll(async () => e?.estate.stop());

/** A fresh paired couple; the primary optionally with its system identity already on. */
async function couple(primaryIdentity = false): Promise<{ p: string; s: string; alias: string }> {
  const i = ++n;
  const p = `sb-gc${i}-p`;
  const s = `sb-gc${i}-s`;
  const alias = `gc${i}-alias`;
  await e.namespace(p);
  await e.namespace(s);
  if (primaryIdentity)
    await e.arm('PATCH', `${e.nsId(p)}?api-version=2021-11-01`, { identity: { type: 'SystemAssigned' } });
  await pairAndSettle(e, p, s, alias);
  return { p, s, alias };
}

// 409 Conflict ("Unable to freeze secondary namespace" is one seen in the wild): a refusal that is never
// retried. A 400 BadRequest right after this run's grant is the one retried refusal (grant propagation).
const refusal = (message: string) => ({ type: 'error' as const, status: 409, code: 'Conflict', message });

it('grant refused after the break → "CMK not enabled; pairing restored"', async () => {
  const { p, s, alias } = await couple();
  await fault(
    e,
    { method: 'PUT', path: '/vaults/kv-gc/accessPolicies/add$' },
    { type: 'error', status: 403, code: 'AuthorizationFailed', message: 'Injected: no write on the vault.' },
    1,
  );
  const { op } = await geoDr(e, geoBody(e, p, s, alias, [e.keyId('kv-gc', 'k1')]));
  const out = op.output!;
  expect(out.outcome).toBe('restored');
  expect(out.summary).toMatch(/^CMK not enabled; pairing restored/);
  expect(out.error?.step).toBe('grantSecondary');
  expect(out.pairing).toEqual(expect.objectContaining({ intact: true, state: 'paired' }));
  expect(op.customStatus).toEqual(expect.objectContaining({ state: 'restored' }));
  expect(out.steps.map((x) => `${x.kind}:${x.status}`)).toEqual([
    'preflight:done',
    'breakPairing:done',
    'waitForBreak:done',
    'grantSecondary:failed',
    'encryptPrimary:skipped',
    'pair:skipped',
    'waitForReplication:skipped',
    'restorePairing:done',
  ]);
  expect(await isPaired(e, p, s, alias)).toBe(true);
  expect((await e.getNamespace(p)).properties.encryption).toBeUndefined();
});

it('encryption refused after the break → pairing restored, primary not encrypted', async () => {
  const { p, s, alias } = await couple(true);
  await fault(
    e,
    { method: 'PATCH', path: `/namespaces/${p}$` },
    refusal('Injected: the encryption update is refused.'),
    1,
  );
  const { op } = await geoDr(e, geoBody(e, p, s, alias, [e.keyId('kv-gc', 'k1')]));
  const out = op.output!;
  expect(out.outcome).toBe('restored');
  expect(out.error?.step).toBe('encryptPrimary');
  expect(out.subOperations).toEqual([expect.objectContaining({ kind: 'encryptPrimary', outcome: 'failed' })]);
  expect(out.pairing.intact).toBe(true);
  expect(await isPaired(e, p, s, alias)).toBe(true);
  expect((await e.getNamespace(p)).properties.encryption).toBeUndefined();
});

it('re-pair refused once → the compensation re-pairs; CMK is on and the pairing intact', async () => {
  const { p, s, alias } = await couple();
  await fault(
    e,
    { method: 'PUT', path: `/namespaces/${p}/disasterRecoveryConfigs/${alias}$` },
    refusal('Injected: pairing refused.'),
    1,
  );
  const { op } = await geoDr(e, geoBody(e, p, s, alias, [e.keyId('kv-gc', 'k1')]));
  const out = op.output!;
  expect(out.outcome).toBe('enabled');
  expect(out.pairing).toEqual(expect.objectContaining({ intact: true }));
  expect(out.steps.at(-1)).toEqual(expect.objectContaining({ kind: 'restorePairing', status: 'done' }));
  expect(await isPaired(e, p, s, alias)).toBe(true);
  expect((await e.getNamespace(p)).properties.encryption).toMatchObject({
    keySource: 'Microsoft.KeyVault',
    keyVaultProperties: [expect.objectContaining({ keyName: 'k1' })],
  });
});

it('re-pair keeps failing → critical outcome with the alias, both namespaces and the az command', async () => {
  const { p, s, alias } = await couple();
  await fault(
    e,
    { method: 'PUT', path: `/namespaces/${p}/disasterRecoveryConfigs/${alias}$` },
    refusal('Injected: pairing refused.'),
  );
  const { op } = await geoDr(e, geoBody(e, p, s, alias, [e.keyId('kv-gc', 'k1')]));
  const out = op.output!;
  expect(out.outcome).toBe('critical');
  expect(op.customStatus).toEqual(expect.objectContaining({ state: 'critical' }));
  expect(out.pairing).toEqual(expect.objectContaining({ intact: false, state: 'broken' }));
  const command = `az servicebus georecovery-alias set --resource-group ${e.rg} --namespace-name ${p} --alias ${alias} --partner-namespace ${e.nsId(s)}`;
  expect(out.critical).toEqual({
    alias,
    primaryNamespaceId: e.nsId(p),
    secondaryNamespaceId: e.nsId(s),
    command,
  });
  expect(out.summary).toContain('CRITICAL');
  expect(out.summary).toContain(command);
  expect(await isPaired(e, p, s, alias)).toBe(false);
});

it('platform faults (503 on the break and the re-pair, 429 on alias reads) are retried: same end state, one break', async () => {
  const { p, s, alias } = await couple();
  const unavailable = {
    type: 'error' as const,
    status: 503,
    code: 'ServiceUnavailable',
    message: 'Injected: busy.',
  };
  await fault(
    e,
    { method: 'POST', path: `/namespaces/${p}/disasterRecoveryConfigs/${alias}/breakPairing$` },
    unavailable,
    2,
  );
  await fault(
    e,
    { method: 'PUT', path: `/namespaces/${p}/disasterRecoveryConfigs/${alias}$` },
    unavailable,
    2,
  );
  await fault(
    e,
    { method: 'GET', path: `/namespaces/${s}/disasterRecoveryConfigs$` },
    { type: 'throttle', retryAfterSeconds: 1 },
    3,
  );
  const mark = await e.mark();
  const { op } = await geoDr(e, geoBody(e, p, s, alias, [e.keyId('kv-gc', 'k1')]));
  expect(op.output?.outcome).toBe('enabled');
  expect(op.output?.steps.map((x) => x.kind)).not.toContain('restorePairing');
  expect(await isPaired(e, p, s, alias)).toBe(true);
  const all = await e.appRequests(mark);
  const breaks = all.filter((w) => /breakPairing$/.test(w.path));
  const writes = await e.appRequests(mark, 'attempted');
  expect(breaks.filter((w) => w.status === 503)).toHaveLength(2);
  expect(breaks.filter((w) => w.status < 300)).toHaveLength(1);
  expect(writes.filter((w) => /disasterRecoveryConfigs\/[^/]+$/.test(w.path) && w.status < 300)).toHaveLength(
    1,
  );
});
