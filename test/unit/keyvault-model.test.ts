import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { VirtualClock } from '../../sandbox/clock';
import { addDuration, parseDuration } from '../../sandbox/azure/keyvault/duration';
import { KeyVaultError } from '../../sandbox/azure/keyvault/errors';
import { publicJwk } from '../../sandbox/azure/keyvault/keycrypto';
import {
  KeyVaultModel,
  validatePolicy,
  type KeyVaultEvent,
  type Vault,
} from '../../sandbox/azure/keyvault/model';
import { applyAccessPolicyChange, type Caller } from '../../sandbox/azure/keyvault/permissions';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SUB = '00000000-0000-0000-0000-000000000001';
const DAY = 86_400_000;
const admin: Caller = { objectId: 'admin-oid', tenantId: TENANT, clientAddress: '10.0.0.1' };
const app: Caller = { objectId: 'app-oid', tenantId: TENANT, clientAddress: '203.0.113.7' };
const ALL_KEYS = [
  'get',
  'list',
  'create',
  'update',
  'delete',
  'recover',
  'purge',
  'rotate',
  'wrapKey',
  'unwrapKey',
];
const POLICY_KEYS = [
  ...ALL_KEYS,
  'getrotationpolicy',
  'setrotationpolicy',
  'encrypt',
  'decrypt',
  'sign',
  'verify',
];

function setup(opts: { rbac?: (c: Caller, action: string, scope: string) => boolean } = {}) {
  const clock = new VirtualClock(Date.UTC(2026, 0, 1));
  const events: KeyVaultEvent[] = [];
  const model = new KeyVaultModel({
    clock,
    vaultUri: (name) => `https://${name}.vault.sandbox.test/`,
    ...(opts.rbac ? { checkDataAction: opts.rbac } : {}),
    onEvent: (e) => events.push(e),
  });
  const vault = (name: string, properties: Record<string, unknown> = {}): Vault =>
    model.putVault(
      SUB,
      'rg',
      name,
      {
        location: 'westeurope',
        properties: {
          tenantId: TENANT,
          sku: { family: 'A', name: 'standard' },
          accessPolicies: [
            { tenantId: TENANT, objectId: admin.objectId, permissions: { keys: POLICY_KEYS } },
          ],
          ...properties,
        },
      },
      admin.objectId,
    ).vault;
  return { clock, model, vault, events };
}

async function rejects(
  promise: Promise<unknown> | (() => unknown),
  status: number,
  code: string,
): Promise<KeyVaultError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(KeyVaultError);
    const e = error as KeyVaultError;
    expect({ status: e.status, code: e.code }).toEqual({ status, code });
    return e;
  }
  throw new Error('expected a KeyVaultError');
}

describe('Key Vault model: vaults', () => {
  it('creates a vault with soft delete on, 90-day retention and the vault URI', () => {
    const { vault } = setup();
    const v = vault('kv-one');
    expect(v.properties).toMatchObject({
      enableSoftDelete: true,
      softDeleteRetentionInDays: 90,
      enableRbacAuthorization: false,
      vaultUri: 'https://kv-one.vault.sandbox.test/',
      provisioningState: 'Succeeded',
    });
    expect(v.properties.enablePurgeProtection).toBeUndefined();
    expect(v.id).toBe(`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-one`);
  });

  it('rejects invalid names, soft delete off and a changed retention', async () => {
    const { vault, model } = setup();
    await rejects(() => vault('1bad'), 400, 'VaultNameNotValid');
    await rejects(() => vault('a--b'), 400, 'VaultNameNotValid');
    await rejects(() => vault('kv-sd', { enableSoftDelete: false }), 400, 'BadRequest');
    vault('kv-ret', { softDeleteRetentionInDays: 7 });
    const e = await rejects(
      () => model.patchVault(SUB, 'rg', 'kv-ret', { properties: { softDeleteRetentionInDays: 30 } }, 'x'),
      400,
      'BadRequest',
    );
    expect(e.message).toContain('softDeleteRetentionInDays');
  });

  it('makes purge protection irreversible (PUT and PATCH)', async () => {
    const { vault, model } = setup();
    vault('kv-pp');
    model.patchVault(SUB, 'rg', 'kv-pp', { properties: { enablePurgeProtection: true } }, 'x');
    await rejects(
      () => model.patchVault(SUB, 'rg', 'kv-pp', { properties: { enablePurgeProtection: false } }, 'x'),
      400,
      'BadRequest',
    );
    // Stating false is refused even when creating a vault; omitting it means "off".
    await rejects(() => vault('kv-pp-new', { enablePurgeProtection: false }), 400, 'BadRequest');
    // A PUT that simply omits the flag keeps it on.
    const again = vault('kv-pp');
    expect(again.properties.enablePurgeProtection).toBe(true);
  });

  it('reserves a soft-deleted vault name until it is recovered or purged', async () => {
    const { vault, model, clock } = setup();
    const v = vault('kv-del', { softDeleteRetentionInDays: 7 });
    await model.createKey(v, admin, 'k1', { kty: 'EC' });
    expect(model.deleteVault(SUB, 'rg', 'kv-del')).toBe(true);
    await rejects(() => vault('kv-del'), 409, 'ConflictError');
    expect(model.listDeletedVaults(SUB).map((d) => d.vault.name)).toEqual(['kv-del']);
    const recovered = model.putVault(
      SUB,
      'rg',
      'kv-del',
      { location: 'westeurope', properties: { createMode: 'recover' } },
      'x',
    );
    expect(recovered.vault.keys.has('k1')).toBe(true);
    model.deleteVault(SUB, 'rg', 'kv-del');
    await clock.advanceBy(7 * DAY);
    expect(model.listDeletedVaults(SUB)).toEqual([]);
    expect(vault('kv-del').keys.size).toBe(0);
  });

  it('refuses to purge a purge-protected deleted vault', async () => {
    const { vault, model } = setup();
    vault('kv-ppd', { enablePurgeProtection: true });
    model.deleteVault(SUB, 'rg', 'kv-ppd');
    await rejects(() => model.purgeDeletedVault(SUB, 'westeurope', 'kv-ppd'), 409, 'ConflictError');
  });

  it('applies access policy add / replace / remove per identity', () => {
    const base = [{ tenantId: TENANT, objectId: 'a', permissions: { keys: ['get'] } }];
    const added = applyAccessPolicyChange(base, 'add', [
      { tenantId: TENANT, objectId: 'a', permissions: { keys: ['wrapKey', 'GET'] } },
      { tenantId: TENANT, objectId: 'b', permissions: { keys: ['list'] } },
    ]);
    expect(added).toEqual([
      { tenantId: TENANT, objectId: 'a', permissions: { keys: ['get', 'wrapKey'] } },
      { tenantId: TENANT, objectId: 'b', permissions: { keys: ['list'] } },
    ]);
    const replaced = applyAccessPolicyChange(added, 'replace', [
      { tenantId: TENANT, objectId: 'a', permissions: { keys: ['unwrapKey'] } },
    ]);
    expect(replaced[0]?.permissions.keys).toEqual(['unwrapKey']);
    const removed = applyAccessPolicyChange(replaced, 'remove', [
      { tenantId: TENANT, objectId: 'a', permissions: { keys: ['unwrapKey'] } },
    ]);
    expect(removed.map((e) => e.objectId)).toEqual(['b']);
  });

  it('emits VaultAccessPolicyChanged when policies change', () => {
    const { vault, model, events } = setup();
    vault('kv-ev');
    model.updateAccessPolicy(
      SUB,
      'rg',
      'kv-ev',
      'add',
      {
        properties: { accessPolicies: [{ tenantId: TENANT, objectId: 'z', permissions: { keys: ['get'] } }] },
      },
      'x',
    );
    expect(events.map((e) => e.type)).toContain('Microsoft.KeyVault.VaultAccessPolicyChanged');
  });
});

describe('Key Vault model: keys', () => {
  it('creates RSA and EC keys with 32-hex versions and real public keys', async () => {
    const { vault, model } = setup();
    const v = vault('kv-keys');
    const rsa = await model.createKey(v, admin, 'cmk', { kty: 'RSA', key_size: 3072 });
    expect(rsa.version).toMatch(/^[0-9a-f]{32}$/);
    expect(Buffer.from(publicJwk(rsa.material).n ?? '', 'base64url').length).toBe(384);
    expect(rsa.keyOps).toEqual(['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']);
    const ec = await model.createKey(v, admin, 'sig', { kty: 'EC', crv: 'P-384' });
    expect(publicJwk(ec.material).crv).toBe('P-384');
    await rejects(model.createKey(v, admin, 'bad', { kty: 'RSA', key_size: 1024 }), 400, 'BadParameter');
    await rejects(model.createKey(v, admin, 'hsm', { kty: 'RSA-HSM' }), 400, 'BadParameter');
    await rejects(model.createKey(v, admin, 'bad_name', { kty: 'EC' }), 400, 'BadParameter');
    const second = await model.createKey(v, admin, 'CMK', { kty: 'RSA' });
    const versions = await model.listKeyVersions(v, admin, 'cmk');
    expect(versions.map((x) => x.version.version)).toEqual([rsa.version, second.version]);
    expect((await model.getKey(v, admin, 'cmk')).version.version).toBe(second.version);
    expect((await model.getKey(v, admin, 'cmk', rsa.version)).version.version).toBe(rsa.version);
    await rejects(model.getKey(v, admin, 'cmk', 'f'.repeat(32)), 404, 'KeyNotFound');
    expect((await model.listKeys(v, admin)).map((x) => x.record.name)).toEqual(['cmk', 'sig']);
  });

  it('wraps and unwraps for real with RSA-OAEP, RSA-OAEP-256 and RSA1_5', async () => {
    const { vault, model } = setup();
    const v = vault('kv-wrap');
    const key = await model.createKey(v, admin, 'cmk', { kty: 'RSA' });
    const cek = randomBytes(32);
    for (const alg of ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5']) {
      const wrapped = await model.cryptoOperation(v, admin, 'wrapKey', 'cmk', undefined, alg, cek);
      expect(wrapped.result.equals(cek)).toBe(false);
      const unwrapped = await model.cryptoOperation(
        v,
        admin,
        'unwrapKey',
        'cmk',
        key.version,
        alg,
        wrapped.result,
      );
      expect(unwrapped.result.equals(cek)).toBe(true);
    }
    // A value wrapped outside the vault with the exported public key unwraps inside it.
    const pub = createPublicKey({ key: { kty: 'RSA', ...publicJwk(key.material) }, format: 'jwk' });
    const outside = publicEncrypt(
      { key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      cek,
    );
    const back = await model.cryptoOperation(
      v,
      admin,
      'unwrapKey',
      'cmk',
      undefined,
      'RSA-OAEP-256',
      outside,
    );
    expect(back.result.equals(cek)).toBe(true);
    await rejects(
      model.cryptoOperation(v, admin, 'wrapKey', 'cmk', undefined, 'A256KW', cek),
      400,
      'BadParameter',
    );
  });

  it('refuses crypto on a disabled key but still answers GET', async () => {
    const { vault, model } = setup();
    const v = vault('kv-dis');
    await model.createKey(v, admin, 'cmk', { kty: 'RSA' });
    await model.updateKey(v, admin, 'cmk', undefined, { attributes: { enabled: false } });
    expect((await model.getKey(v, admin, 'cmk')).version.enabled).toBe(false);
    const e = await rejects(
      model.cryptoOperation(v, admin, 'wrapKey', 'cmk', undefined, 'RSA-OAEP', randomBytes(32)),
      403,
      'Forbidden',
    );
    expect(e.message).toBe('Operation wrapKey is not allowed on a disabled key.');
    expect(e.innerCode).toBe('KeyDisabled');
  });

  it('refuses wrap but allows unwrap once the key has expired on the clock', async () => {
    const { vault, model, clock, events } = setup();
    const v = vault('kv-exp');
    const exp = Math.floor((clock.now() + 10 * DAY) / 1000);
    await model.createKey(v, admin, 'cmk', { kty: 'RSA', attributes: { exp } });
    const cek = randomBytes(32);
    const wrapped = await model.cryptoOperation(v, admin, 'wrapKey', 'cmk', undefined, 'RSA-OAEP', cek);
    await clock.advanceBy(10 * DAY);
    await rejects(
      model.cryptoOperation(v, admin, 'wrapKey', 'cmk', undefined, 'RSA-OAEP', cek),
      403,
      'Forbidden',
    );
    const back = await model.cryptoOperation(
      v,
      admin,
      'unwrapKey',
      'cmk',
      undefined,
      'RSA-OAEP',
      wrapped.result,
    );
    expect(back.result.equals(cek)).toBe(true);
    expect(events.map((e) => e.type)).toEqual([
      'Microsoft.KeyVault.KeyNewVersionCreated',
      'Microsoft.KeyVault.KeyExpired',
    ]);
  });

  it('refuses protect operations before nbf and enforces key_ops', async () => {
    const { vault, model, clock } = setup();
    const v = vault('kv-nbf');
    const nbf = Math.floor((clock.now() + 2 * DAY) / 1000);
    await model.createKey(v, admin, 'later', {
      kty: 'RSA',
      attributes: { nbf },
      key_ops: ['wrapKey', 'unwrapKey'],
    });
    const cek = randomBytes(32);
    const early = await rejects(
      model.cryptoOperation(v, admin, 'wrapKey', 'later', undefined, 'RSA-OAEP', cek),
      403,
      'Forbidden',
    );
    expect(early.innerCode).toBe('KeyNotYetValid');
    await rejects(
      model.cryptoOperation(v, admin, 'encrypt', 'later', undefined, 'RSA-OAEP', cek),
      403,
      'Forbidden',
    );
    await clock.advanceBy(2 * DAY);
    const wrapped = await model.cryptoOperation(v, admin, 'wrapKey', 'later', undefined, 'RSA-OAEP', cek);
    expect(wrapped.result.length).toBe(256);
    await rejects(
      model.updateKey(v, admin, 'later', undefined, { attributes: { nbf: nbf + 10 * 86_400, exp: nbf } }),
      400,
      'BadParameter',
    );
  });

  it('soft-deletes, blocks the name, recovers, and purges only without purge protection', async () => {
    const { vault, model, clock } = setup();
    const v = vault('kv-sd', { softDeleteRetentionInDays: 7 });
    const created = await model.createKey(v, admin, 'cmk', { kty: 'EC' });
    const deleted = await model.deleteKey(v, admin, 'cmk');
    expect(deleted.scheduledPurgeDate - deleted.deletedDate).toBe(7 * DAY);
    await rejects(model.getKey(v, admin, 'cmk'), 404, 'KeyNotFound');
    const conflict = await rejects(model.createKey(v, admin, 'cmk', { kty: 'EC' }), 409, 'Conflict');
    expect(conflict.innerCode).toBe('ObjectIsDeletedButRecoverable');
    expect((await model.getDeletedKey(v, admin, 'cmk')).key.name).toBe('cmk');
    const recovered = await model.recoverDeletedKey(v, admin, 'cmk');
    expect(recovered.version.version).toBe(created.version);
    await rejects(model.getDeletedKey(v, admin, 'cmk'), 404, 'KeyNotFound');
    await model.deleteKey(v, admin, 'cmk');
    await model.purgeDeletedKey(v, admin, 'cmk');
    await model.createKey(v, admin, 'cmk', { kty: 'EC' });
    // Retention elapses on the clock: the deleted key is purged automatically.
    await model.deleteKey(v, admin, 'cmk');
    await clock.advanceBy(7 * DAY);
    expect(await model.listDeletedKeys(v, admin)).toEqual([]);
  });

  it('refuses purge under purge protection with Key Vault message', async () => {
    const { vault, model } = setup();
    const v = vault('kv-pp', { enablePurgeProtection: true });
    await model.createKey(v, admin, 'cmk', { kty: 'EC' });
    await model.deleteKey(v, admin, 'cmk');
    const e = await rejects(model.purgeDeletedKey(v, admin, 'cmk'), 403, 'Forbidden');
    expect(e.message).toContain(
      'Operation "purge" is not allowed because purge protection is enabled for this vault',
    );
    expect(KeyVaultModel.recoveryLevel(v)).toBe('Recoverable');
  });
});

describe('Key Vault model: permissions and firewall', () => {
  it('checks access policies by object id and permission, then succeeds after a grant', async () => {
    const { vault, model } = setup();
    const v = vault('kv-ap');
    await model.createKey(v, admin, 'cmk', { kty: 'EC' });
    const e = await rejects(model.getKey(v, app, 'cmk'), 403, 'Forbidden');
    expect(e.message).toContain("does not have keys get permission on key vault 'kv-ap;location=westeurope'");
    model.updateAccessPolicy(
      SUB,
      'rg',
      'kv-ap',
      'add',
      {
        properties: {
          accessPolicies: [{ tenantId: TENANT, objectId: app.objectId, permissions: { keys: ['get'] } }],
        },
      },
      'x',
    );
    expect((await model.getKey(v, app, 'cmk')).record.name).toBe('cmk');
    await rejects(model.listKeys(v, app), 403, 'Forbidden');
    // Rotation policy reads need their own permission on access-policy vaults.
    await rejects(model.getRotationPolicy(v, app, 'cmk'), 403, 'Forbidden');
  });

  it('uses RBAC data actions at the key scope on RBAC vaults and ignores access policies', async () => {
    const granted = new Set<string>();
    const { vault, model } = setup({
      rbac: (c, action, scope) => granted.has(`${c.objectId}|${action}|${scope}`),
    });
    const v = vault('kv-rbac', { enableRbacAuthorization: true });
    await rejects(model.createKey(v, admin, 'cmk', { kty: 'EC' }), 403, 'Forbidden');
    granted.add(`admin-oid|Microsoft.KeyVault/vaults/keys/create/action|${v.id}/keys/cmk`);
    await model.createKey(v, admin, 'cmk', { kty: 'EC' });
    const e = await rejects(model.getKey(v, app, 'cmk'), 403, 'Forbidden');
    expect(e.innerCode).toBe('ForbiddenByRbac');
    expect(e.message).toContain("Action: 'Microsoft.KeyVault/vaults/keys/read'");
    expect(e.message).toContain(`Resource: '${`${v.id}/keys/cmk`.toLowerCase()}'`);
    granted.add(`app-oid|Microsoft.KeyVault/vaults/keys/read|${v.id}/keys/cmk`);
    expect((await model.getKey(v, app, 'cmk')).record.name).toBe('cmk');
  });

  it('refuses a token from another tenant', async () => {
    const { vault, model } = setup();
    const v = vault('kv-tenant');
    const e = await rejects(
      model.listKeys(v, { ...admin, tenantId: '11111111-1111-1111-1111-111111111111' }),
      401,
      'Unauthorized',
    );
    expect(e.headers['WWW-Authenticate']).toBe(
      `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.sandbox.test"`,
    );
  });

  it('applies the firewall: ip rules, trusted-service bypass, bypass None, public access disabled', async () => {
    const { vault, model } = setup();
    const v = vault('kv-fw', {
      networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices', ipRules: [{ value: '10.0.0.0/24' }] },
    });
    expect((await model.listKeys(v, admin)).length).toBe(0); // 10.0.0.1 is inside the rule
    const outsider = { ...admin, clientAddress: '198.51.100.9' };
    const e = await rejects(model.listKeys(v, outsider), 403, 'Forbidden');
    expect(e.innerCode).toBe('ForbiddenByFirewall');
    expect(e.message).toContain('Client address: 198.51.100.9');
    const serviceBus = { ...outsider, trustedService: 'Microsoft.ServiceBus/namespaces' };
    expect(await model.listKeys(v, serviceBus)).toEqual([]);
    model.patchVault(
      SUB,
      'rg',
      'kv-fw',
      { properties: { networkAcls: { defaultAction: 'Deny', bypass: 'None' } } },
      'x',
    );
    await rejects(model.listKeys(v, serviceBus), 403, 'Forbidden');
    model.patchVault(
      SUB,
      'rg',
      'kv-fw',
      { properties: { networkAcls: { defaultAction: 'Allow' }, publicNetworkAccess: 'Disabled' } },
      'x',
    );
    const closed = await rejects(model.listKeys(v, admin), 403, 'Forbidden');
    expect(closed.innerCode).toBe('ForbiddenByConnection');
  });
});

describe('Key Vault model: rotation', () => {
  it('validates policies as Key Vault does', async () => {
    expect(validatePolicy({ lifetimeActions: [] }).lifetimeActions).toEqual([
      { trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } },
    ]);
    await rejects(
      () =>
        validatePolicy({
          lifetimeActions: [{ trigger: { timeAfterCreate: 'P1D' }, action: { type: 'Rotate' } }],
        }),
      400,
      'BadParameter',
    );
    await rejects(() => validatePolicy({ attributes: { expiryTime: 'P10D' } }), 400, 'BadParameter');
    await rejects(
      () =>
        validatePolicy({
          lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Notify' } }],
        }),
      400,
      'BadParameter',
    );
    await rejects(
      () =>
        validatePolicy({
          lifetimeActions: [{ trigger: { timeAfterCreate: 'P85D' }, action: { type: 'Rotate' } }],
          attributes: { expiryTime: 'P90D' },
        }),
      400,
      'BadParameter',
    );
    await rejects(
      () => validatePolicy({ lifetimeActions: [{ trigger: {}, action: { type: 'Rotate' } }] }),
      400,
      'BadParameter',
    );
  });

  it('auto-rotates on the clock after timeAfterCreate, giving new versions the policy expiry', async () => {
    const { vault, model, clock, events } = setup();
    const v = vault('kv-rot');
    const first = await model.createKey(v, admin, 'cmk', { kty: 'EC', tags: { purpose: 'cmk' } });
    await model.setRotationPolicy(v, admin, 'cmk', {
      lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }],
      attributes: { expiryTime: 'P90D' },
    });
    await clock.advanceBy(29 * DAY);
    expect((await model.listKeyVersions(v, admin, 'cmk')).length).toBe(1);
    await clock.advanceBy(1 * DAY);
    const versions = await model.listKeyVersions(v, admin, 'cmk');
    expect(versions.length).toBe(2);
    const latest = versions[1]?.version;
    expect(latest?.version).not.toBe(first.version);
    expect(latest?.exp).toBe(addDuration(first.created + 30 * DAY, parseDuration('P90D')!));
    expect(latest?.tags).toEqual({ purpose: 'cmk' });
    // And again 30 days after the new version was created.
    await clock.advanceBy(30 * DAY);
    expect((await model.listKeyVersions(v, admin, 'cmk')).length).toBe(3);
    expect(events.filter((e) => e.type === 'Microsoft.KeyVault.KeyNewVersionCreated').length).toBe(3);
  });

  it('rotates timeBeforeExpiry and notifies near expiry', async () => {
    const { vault, model, clock, events } = setup();
    const v = vault('kv-rot2');
    const exp = Math.floor((clock.now() + 60 * DAY) / 1000);
    await model.createKey(v, admin, 'cmk', { kty: 'EC', attributes: { exp } });
    await model.setRotationPolicy(v, admin, 'cmk', {
      lifetimeActions: [
        { trigger: { timeBeforeExpiry: 'P10D' }, action: { type: 'Rotate' } },
        { trigger: { timeBeforeExpiry: 'P20D' }, action: { type: 'Notify' } },
      ],
      attributes: { expiryTime: 'P60D' },
    });
    await clock.advanceBy(40 * DAY);
    expect(events.map((e) => e.type)).toContain('Microsoft.KeyVault.KeyNearExpiry');
    expect((await model.listKeyVersions(v, admin, 'cmk')).length).toBe(1);
    await clock.advanceBy(10 * DAY);
    expect((await model.listKeyVersions(v, admin, 'cmk')).length).toBe(2);
  });

  it('stops rotating a deleted key and resumes after recovery', async () => {
    const { vault, model, clock } = setup();
    const v = vault('kv-rot3');
    await model.createKey(v, admin, 'cmk', { kty: 'EC' });
    await model.setRotationPolicy(v, admin, 'cmk', {
      lifetimeActions: [{ trigger: { timeAfterCreate: 'P7D' }, action: { type: 'Rotate' } }],
    });
    await model.deleteKey(v, admin, 'cmk');
    await clock.advanceBy(8 * DAY);
    const recovered = await model.recoverDeletedKey(v, admin, 'cmk');
    expect(recovered.record.versions.length).toBe(1);
    // Overdue on recovery: the clock runs the rotation at once.
    await clock.settle();
    expect((await model.listKeyVersions(v, admin, 'cmk')).length).toBe(2);
  });
});

describe('Key Vault model: persistence', () => {
  it('round-trips the estate through JSON and keeps keys usable and timers armed', async () => {
    const { vault, model, clock } = setup();
    const v = vault('kv-persist', { softDeleteRetentionInDays: 7, enablePurgeProtection: true });
    const key = await model.createKey(v, admin, 'cmk', { kty: 'RSA', tags: { a: 'b' } });
    await model.setRotationPolicy(v, admin, 'cmk', {
      lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }],
    });
    await model.createKey(v, admin, 'gone', { kty: 'EC' });
    await model.deleteKey(v, admin, 'gone');
    const cek = randomBytes(32);
    const wrapped = await model.cryptoOperation(v, admin, 'wrapKey', 'cmk', undefined, 'RSA-OAEP', cek);

    const json = JSON.parse(JSON.stringify(model.exportState())) as ReturnType<KeyVaultModel['exportState']>;
    model.reset();
    const restored = new KeyVaultModel({ clock, vaultUri: (n) => `https://${n}.vault.sandbox.test/` });
    restored.importState(json);
    const rv = restored.vaultByName('kv-persist');
    expect(rv?.properties.enablePurgeProtection).toBe(true);
    if (!rv) throw new Error('vault not restored');
    const got = await restored.getKey(rv, admin, 'cmk');
    expect(got.version.version).toBe(key.version);
    expect(got.version.tags).toEqual({ a: 'b' });
    const back = await restored.cryptoOperation(
      rv,
      admin,
      'unwrapKey',
      'cmk',
      undefined,
      'RSA-OAEP',
      wrapped.result,
    );
    expect(back.result.equals(cek)).toBe(true);
    expect((await restored.getDeletedKey(rv, admin, 'gone')).key.name).toBe('gone');
    await clock.advanceBy(30 * DAY);
    expect((await restored.listKeyVersions(rv, admin, 'cmk')).length).toBe(2);
    expect(await restored.listDeletedKeys(rv, admin)).toEqual([]);
  });
});

describe('Key Vault model: access policy validation', () => {
  it('rejects unknown key permissions and accepts any casing of known ones', async () => {
    const { vault } = setup();
    await rejects(
      () =>
        vault('kv-badperm', {
          accessPolicies: [{ tenantId: TENANT, objectId: 'x', permissions: { keys: ['get', 'teleport'] } }],
        }),
      400,
      'BadRequest',
    );
    const v = vault('kv-okperm', {
      accessPolicies: [
        { tenantId: TENANT, objectId: 'x', permissions: { keys: ['Get', 'WRAPKEY', 'GetRotationPolicy'] } },
      ],
    });
    expect(v.properties.accessPolicies[0]?.permissions.keys).toEqual(['Get', 'WRAPKEY', 'GetRotationPolicy']);
  });
});
