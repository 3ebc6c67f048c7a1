/**
 * The app identity's Azure roles (README "The app's Azure roles"): with exactly the documented set, at
 * the narrowest scopes, enable works for both vault permission models; without any one of them the
 * flow stops with a clear, 403-derived message that names the missing role and the command.
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, type EnableOutput } from './enable-cmk-support';

let e: Estate;
let readerId: string;
let uai: { id: string; principalId: string };

beforeAll(async () => {
  e = await new Estate(await startLocalEstate()).init();
  await e.vault('kv-r-ap');
  await e.vault('kv-r-rbac', { rbac: true });
  await e.vault('kv-r-ap-bare');
  await e.vault('kv-r-rbac-bare', { rbac: true });
  for (const v of ['kv-r-ap', 'kv-r-rbac', 'kv-r-ap-bare', 'kv-r-rbac-bare']) await e.key(v, 'k1');
  await e.key('kv-r-rbac', 'k2');
  uai = await e.uai('id-r');
  for (const ns of ['sb-r-ok-sys', 'sb-r-ok-uai', 'sb-r-bare', 'sb-r-noap', 'sb-r-norbac', 'sb-r-noread'])
    await e.namespace(ns);

  // Exactly the documented roles, each at the narrowest scope it is needed at.
  readerId = await e.grantApp('Reader', `/subscriptions/${e.sub}`);
  for (const ns of ['sb-r-ok-sys', 'sb-r-ok-uai', 'sb-r-noap', 'sb-r-norbac', 'sb-r-noread'])
    await e.grantApp('Contributor', e.nsId(ns));
  await e.grantApp('Key Vault Contributor', e.vaultId('kv-r-ap'));
  await e.grantApp('User Access Administrator', e.vaultId('kv-r-rbac'));
}, 120_000);

afterAll(async () => e?.estate.stop());

const enable = async (ns: string, keyId: string, identity?: Record<string, unknown>) =>
  (await e.enable({ namespaceId: e.nsId(ns), keys: [{ keyId }], ...(identity ? { identity } : {}) })).op
    .output as EnableOutput;

it('passes with exactly the documented set: system identity + access-policy vault', async () => {
  expect((await enable('sb-r-ok-sys', e.keyId('kv-r-ap', 'k1'))).outcome).toBe('enabled');
});

it('passes with exactly the documented set: user-assigned identity + RBAC vault', async () => {
  const out = await enable('sb-r-ok-uai', e.keyId('kv-r-rbac', 'k1'), {
    type: 'UserAssigned',
    resourceId: uai.id,
  });
  expect(out.outcome).toBe('enabled');
});

it('without Contributor on the namespace: stops at the identity step, names the role; its one write attempt was refused', async () => {
  const mark = await e.mark();
  const out = await enable('sb-r-bare', e.keyId('kv-r-ap', 'k1'));
  expect(out.outcome).toBe('failed');
  expect(out.error).toMatchObject({ step: 'ensureIdentity', code: 'AuthorizationFailed' });
  expect(out.error?.detail).toContain('403');
  expect(out.error?.detail).toContain('Microsoft.ServiceBus/namespaces/write');
  expect(out.error?.fix).toContain(`--role "Contributor" --scope ${e.nsId('sb-r-bare')}`);
  // Only ARM knows the caller's permissions: the identity PATCH was tried once, refused, not retried.
  const attempts = await e.appRequests(mark, 'attempted');
  expect(attempts.map((r) => `${r.method} ${r.path.split('/').pop()} ${r.status} ${r.errorCode}`)).toEqual([
    'PATCH sb-r-bare 403 AuthorizationFailed',
  ]);
  expect(await e.appRequests(mark, 'succeeded')).toEqual([]);
  expect((await e.getNamespace('sb-r-bare')).identity).toBeUndefined();
});

it('without Key Vault Contributor on an access-policy vault: stops at the grant, names the role', async () => {
  const out = await enable('sb-r-noap', e.keyId('kv-r-ap-bare', 'k1'));
  expect(out.outcome).toBe('failed');
  expect(out.error).toMatchObject({ step: 'grantKeyAccess', code: 'AuthorizationFailed' });
  expect(out.error?.detail).toContain('Microsoft.KeyVault/vaults/accessPolicies/write');
  expect(out.error?.fix).toContain(`--role "Key Vault Contributor" --scope ${e.vaultId('kv-r-ap-bare')}`);
  expect(out.summary).toContain('NOT enabled');
});

it('without User Access Administrator on an RBAC vault: stops at the grant, names the role', async () => {
  const out = await enable('sb-r-norbac', e.keyId('kv-r-rbac-bare', 'k1'));
  expect(out.outcome).toBe('failed');
  expect(out.error).toMatchObject({ step: 'grantKeyAccess', code: 'AuthorizationFailed' });
  expect(out.error?.detail).toContain('Microsoft.Authorization/roleAssignments/write');
  expect(out.error?.fix).toContain(
    `--role "User Access Administrator" --scope ${e.vaultId('kv-r-rbac-bare')}`,
  );
});

it('without Reader on the subscription: the preflight says which vault it cannot read and which role to grant', async () => {
  await e.arm('DELETE', `${readerId}?api-version=2022-04-01`);
  const mark = await e.mark();
  const out = await enable('sb-r-noread', e.keyId('kv-r-rbac', 'k2'));
  expect(out.outcome).toBe('blocked');
  const vault = out.findings.find((f) => f.ruleId === 'PRE-011');
  expect(vault?.message).toMatch(
    /kv-r-rbac could not be read: the app's identity is not allowed to read it \(403 AuthorizationFailed/,
  );
  expect(vault?.fix).toContain('Reader');
  expect(await e.appRequests(mark, 'attempted')).toEqual([]);

  const dry = await e.post<{ status: number; title: string }>('/api/cmk/diagnose', {
    namespaceId: e.nsId('sb-r-bare'),
  });
  expect(dry.status).toBe(403);
  expect(dry.body.title).toBe("The app's identity may not read the namespace");
});
