/**
 * The real @azure/arm-keyvault and @azure/keyvault-keys clients against the in-process sandbox over
 * HTTPS: every vault and key operation the product relies on, with Key Vault's checks and errors.
 */
import { constants, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import type { Vault, VaultCreateOrUpdateParameters } from '@azure/arm-keyvault';
import { CryptographyClient, type KeyClient } from '@azure/keyvault-keys';
import { isRestError, type RestError } from '@azure/core-rest-pipeline';
import { fetchJson, startKvHarness, type KvHarness } from './keyvault-support';

const DAY = 86_400_000;
let h: KvHarness;
let admin: string;

beforeAll(async () => {
  h = await startKvHarness();
  admin = h.sandbox.admin.objectId;
});
afterAll(async () => {
  await h.close();
});

function vaultParams(
  extra: Partial<VaultCreateOrUpdateParameters['properties']> = {},
): VaultCreateOrUpdateParameters {
  return {
    location: 'westeurope',
    properties: {
      tenantId: h.sandbox.tenantId,
      sku: { family: 'A', name: 'standard' },
      accessPolicies: [
        {
          tenantId: h.sandbox.tenantId,
          objectId: admin,
          permissions: {
            keys: ['all'],
          },
        },
      ],
      ...extra,
    },
  };
}

async function createVault(
  name: string,
  extra: Partial<VaultCreateOrUpdateParameters['properties']> = {},
): Promise<Vault> {
  return h.arm(admin).vaults.createOrUpdate(h.rg, name, vaultParams(extra), { updateIntervalInMs: 0 });
}

async function restError(promise: Promise<unknown>): Promise<RestError> {
  try {
    await promise;
  } catch (error) {
    if (isRestError(error)) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** The service's error object as the SDK parsed it (keyvault-keys maps `innererror` to `innerError`). */
function innerCode(e: RestError): string | undefined {
  const details = e.details as
    { error?: { innerError?: { code?: string }; innererror?: { code?: string } } } | undefined;
  return details?.error?.innerError?.code ?? details?.error?.innererror?.code;
}

describe('Key Vault management plane (arm-keyvault)', () => {
  it('creates a vault through the LRO and reads it back with Key Vault defaults', async () => {
    const vault = await createVault('kv-mgmt-1');
    expect(vault.properties.provisioningState).toBe('Succeeded');
    expect(vault.properties.enableSoftDelete).toBe(true);
    expect(vault.properties.softDeleteRetentionInDays).toBe(90);
    expect(vault.properties.vaultUri).toBe(h.sandbox.vaultUri('kv-mgmt-1'));
    const got = await h.arm(admin).vaults.get(h.rg, 'kv-mgmt-1');
    expect(got.id).toBe(
      `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${h.rg}/providers/Microsoft.KeyVault/vaults/kv-mgmt-1`,
    );
    const inRg: string[] = [];
    for await (const v of h.arm(admin).vaults.listByResourceGroup(h.rg)) inRg.push(v.name ?? '');
    expect(inRg).toContain('kv-mgmt-1');
    const inSub: string[] = [];
    for await (const v of h.arm(admin).vaults.listBySubscription()) inSub.push(v.name ?? '');
    expect(inSub).toContain('kv-mgmt-1');
    const taken = await h
      .arm(admin)
      .vaults.checkNameAvailability({ name: 'kv-mgmt-1', type: 'Microsoft.KeyVault/vaults' });
    expect(taken.nameAvailable).toBe(false);
  });

  it('keeps purge protection on for good', async () => {
    await createVault('kv-mgmt-pp');
    const on = await h
      .arm(admin)
      .vaults.update(h.rg, 'kv-mgmt-pp', { properties: { enablePurgeProtection: true } });
    expect(on.properties?.enablePurgeProtection).toBe(true);
    const e = await restError(
      h.arm(admin).vaults.update(h.rg, 'kv-mgmt-pp', { properties: { enablePurgeProtection: false } }),
    );
    expect(e.statusCode).toBe(400);
    expect(e.message).toContain('enablePurgeProtection');
    expect((await h.arm(admin).vaults.get(h.rg, 'kv-mgmt-pp')).properties.enablePurgeProtection).toBe(true);
  });

  it('adds, replaces and removes access policies', async () => {
    await createVault('kv-mgmt-ap');
    const other = h.principal('ap-user');
    const tenantId = h.sandbox.tenantId;
    const client = h.arm(admin);
    await client.vaults.updateAccessPolicy(h.rg, 'kv-mgmt-ap', 'add', {
      properties: { accessPolicies: [{ tenantId, objectId: other, permissions: { keys: ['get', 'list'] } }] },
    });
    await client.vaults.updateAccessPolicy(h.rg, 'kv-mgmt-ap', 'add', {
      properties: { accessPolicies: [{ tenantId, objectId: other, permissions: { keys: ['wrapKey'] } }] },
    });
    let policy = (await client.vaults.get(h.rg, 'kv-mgmt-ap')).properties.accessPolicies?.find(
      (p) => p.objectId === other,
    );
    expect(policy?.permissions.keys).toEqual(['get', 'list', 'wrapKey']);
    await client.vaults.updateAccessPolicy(h.rg, 'kv-mgmt-ap', 'replace', {
      properties: { accessPolicies: [{ tenantId, objectId: other, permissions: { keys: ['unwrapKey'] } }] },
    });
    policy = (await client.vaults.get(h.rg, 'kv-mgmt-ap')).properties.accessPolicies?.find(
      (p) => p.objectId === other,
    );
    expect(policy?.permissions.keys).toEqual(['unwrapKey']);
    await client.vaults.updateAccessPolicy(h.rg, 'kv-mgmt-ap', 'remove', {
      properties: { accessPolicies: [{ tenantId, objectId: other, permissions: { keys: ['unwrapKey'] } }] },
    });
    const after = (await client.vaults.get(h.rg, 'kv-mgmt-ap')).properties.accessPolicies ?? [];
    expect(after.map((p) => p.objectId)).toEqual([admin]);
  });

  it('refuses management without a role (AuthorizationFailed), then allows it after the assignment', async () => {
    await createVault('kv-mgmt-rbac');
    const operator = h.principal('operator');
    const e = await restError(h.arm(operator).vaults.get(h.rg, 'kv-mgmt-rbac'));
    expect(e.statusCode).toBe(403);
    expect(e.code).toBe('AuthorizationFailed');
    expect(e.message).toContain('Microsoft.KeyVault/vaults/read');
    h.sandbox.control.assignRole({
      principalId: operator,
      role: 'Reader',
      scope: `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${h.rg}`,
    });
    expect((await h.arm(operator).vaults.get(h.rg, 'kv-mgmt-rbac')).name).toBe('kv-mgmt-rbac');
    // Reader cannot write.
    const w = await restError(h.arm(operator).vaults.update(h.rg, 'kv-mgmt-rbac', { tags: { a: 'b' } }));
    expect(w.statusCode).toBe(403);
  });

  it('soft-deletes a vault: listed as deleted, name reserved, recoverable', async () => {
    await createVault('kv-mgmt-del');
    const client = h.arm(admin);
    await client.vaults.delete(h.rg, 'kv-mgmt-del');
    const e = await restError(client.vaults.get(h.rg, 'kv-mgmt-del'));
    expect(e.statusCode).toBe(404);
    const deleted = await client.vaults.getDeleted('kv-mgmt-del', 'westeurope');
    expect(deleted.properties?.vaultId).toContain('/vaults/kv-mgmt-del');
    const names: string[] = [];
    for await (const d of client.vaults.listDeleted()) names.push(d.name ?? '');
    expect(names).toContain('kv-mgmt-del');
    const conflict = await restError(createVault('kv-mgmt-del'));
    expect(conflict.statusCode).toBe(409);
    const recovered = await createVault('kv-mgmt-del', { createMode: 'recover' });
    expect(recovered.name).toBe('kv-mgmt-del');
  });
});

describe('Key Vault deleted vaults: purge', () => {
  it('purges a deleted vault (LRO) and frees its name; refuses while purge protection is on', async () => {
    const client = h.arm(admin);
    await createVault('kv-purge-1');
    await client.vaults.delete(h.rg, 'kv-purge-1');
    await client.vaults.purgeDeleted('kv-purge-1', 'westeurope', { updateIntervalInMs: 0 });
    expect((await restError(client.vaults.getDeleted('kv-purge-1', 'westeurope'))).statusCode).toBe(404);
    const free = await client.vaults.checkNameAvailability({
      name: 'kv-purge-1',
      type: 'Microsoft.KeyVault/vaults',
    });
    expect(free.nameAvailable).toBe(true);

    await createVault('kv-purge-2', { enablePurgeProtection: true });
    await client.vaults.delete(h.rg, 'kv-purge-2');
    const refused = await restError(
      client.vaults.purgeDeleted('kv-purge-2', 'westeurope', { updateIntervalInMs: 0 }),
    );
    expect(refused.statusCode).toBe(409);
    // After the retention period Key Vault purges it itself.
    await h.clock.advanceBy(90 * DAY);
    expect((await restError(client.vaults.getDeleted('kv-purge-2', 'westeurope'))).statusCode).toBe(404);
  });
});

describe('Key Vault ARM view of keys (arm-keyvault keys.*)', () => {
  it('creates a key if it does not exist, never updates it, and lists keys and versions', async () => {
    await createVault('kv-arm-keys');
    const client = h.arm(admin);
    const created = await client.keys.createIfNotExist(h.rg, 'kv-arm-keys', 'cmk', {
      properties: {
        kty: 'EC',
        curveName: 'P-384',
        rotationPolicy: {
          lifetimeActions: [{ trigger: { timeAfterCreate: 'P60D' }, action: { type: 'rotate' } }],
          attributes: { expiryTime: 'P90D' },
        },
      },
    });
    expect(created.curveName).toBe('P-384');
    expect(created.keyUri).toBe(`${h.sandbox.vaultUri('kv-arm-keys')}keys/cmk`);
    expect(created.rotationPolicy?.lifetimeActions?.map((a) => a.action?.type)).toEqual(['Rotate', 'Notify']);
    const again = await client.keys.createIfNotExist(h.rg, 'kv-arm-keys', 'cmk', {
      properties: { kty: 'RSA' },
    });
    expect(again.kty).toBe('EC');
    expect(again.keyUriWithVersion).toBe(created.keyUriWithVersion);
    // The data plane sees the same key, and ARM sees data-plane versions.
    await h.keys('kv-arm-keys', admin).rotateKey('cmk');
    const versions: string[] = [];
    for await (const v of client.keys.listVersions(h.rg, 'kv-arm-keys', 'cmk')) versions.push(v.name ?? '');
    expect(versions).toHaveLength(2);
    const first = await client.keys.getVersion(
      h.rg,
      'kv-arm-keys',
      'cmk',
      created.keyUriWithVersion?.split('/').pop() ?? '',
    );
    expect(first.keyUriWithVersion).toBe(created.keyUriWithVersion);
    const names: string[] = [];
    for await (const k of client.keys.list(h.rg, 'kv-arm-keys')) names.push(k.name ?? '');
    expect(names).toEqual(['cmk']);
    const missing = await restError(client.keys.get(h.rg, 'kv-arm-keys', 'absent'));
    expect(missing.statusCode).toBe(404);
  });
});

describe('Key Vault and resource groups', () => {
  it('soft-deletes the vaults of a deleted resource group', async () => {
    const sub = h.sandbox.subscriptionId;
    const rgPath = `/subscriptions/${sub}/resourcegroups/rg-kv-gone?api-version=2021-04-01`;
    await fetchJson(h.sandbox, h.agent, admin, 'PUT', rgPath, { location: 'westeurope' });
    await h
      .arm(admin)
      .vaults.createOrUpdate('rg-kv-gone', 'kv-rg-gone', vaultParams(), { updateIntervalInMs: 0 });
    const del = await fetchJson(h.sandbox, h.agent, admin, 'DELETE', rgPath);
    expect([200, 202]).toContain(del.status);
    await h.clock.settle();
    const gone = await restError(h.arm(admin).vaults.get('rg-kv-gone', 'kv-rg-gone'));
    expect(gone.statusCode).toBe(404);
    const deleted = await h.arm(admin).vaults.getDeleted('kv-rg-gone', 'westeurope');
    expect(deleted.properties?.vaultId).toContain('/resourceGroups/rg-kv-gone/');
  });

  it('soft-deletes them when the group goes, even if a group of that name is created again at once', async () => {
    const sub = h.sandbox.subscriptionId;
    const rgPath = `/subscriptions/${sub}/resourcegroups/rg-kv-again?api-version=2021-04-01`;
    await fetchJson(h.sandbox, h.agent, admin, 'PUT', rgPath, { location: 'westeurope' });
    await h
      .arm(admin)
      .vaults.createOrUpdate('rg-kv-again', 'kv-rg-again', vaultParams(), { updateIntervalInMs: 0 });
    const key = await h.keys('kv-rg-again', admin).createRsaKey('cmk');
    expect((await fetchJson(h.sandbox, h.agent, admin, 'DELETE', rgPath)).status).toBe(202);
    await h.clock.settle();
    // No read of the vault between the deletion and the new group of the same name.
    expect(
      (await fetchJson(h.sandbox, h.agent, admin, 'PUT', rgPath, { location: 'westeurope' })).status,
    ).toBe(201);
    expect((await restError(h.arm(admin).vaults.get('rg-kv-again', 'kv-rg-again'))).statusCode).toBe(404);
    const deleted = await h.arm(admin).vaults.getDeleted('kv-rg-again', 'westeurope');
    expect(deleted.properties?.vaultId).toBe(
      `/subscriptions/${sub}/resourceGroups/rg-kv-again/providers/Microsoft.KeyVault/vaults/kv-rg-again`,
    );
    // Recovered into the recreated group, with its keys.
    await h
      .arm(admin)
      .vaults.createOrUpdate('rg-kv-again', 'kv-rg-again', vaultParams({ createMode: 'recover' }), {
        updateIntervalInMs: 0,
      });
    expect((await h.keys('kv-rg-again', admin).getKey('cmk')).properties.version).toBe(
      key.properties.version,
    );
  });

  it('recovers a deleted vault only into the resource group and location it was deleted from', async () => {
    const sub = h.sandbox.subscriptionId;
    const other = 'rg-kv-other';
    await fetchJson(
      h.sandbox,
      h.agent,
      admin,
      'PUT',
      `/subscriptions/${sub}/resourcegroups/${other}?api-version=2021-04-01`,
      {
        location: 'westeurope',
      },
    );
    const client = h.arm(admin);
    const created = await createVault('kv-rec-rg');
    await client.vaults.delete(h.rg, 'kv-rec-rg');

    const elsewhere = await restError(
      client.vaults.createOrUpdate(other, 'kv-rec-rg', vaultParams({ createMode: 'recover' }), {
        updateIntervalInMs: 0,
      }),
    );
    expect([elsewhere.statusCode, elsewhere.code]).toEqual([400, 'SoftDeletedVaultDoesNotExist']);
    const otherLocation = await restError(
      client.vaults.createOrUpdate(
        h.rg,
        'kv-rec-rg',
        { ...vaultParams({ createMode: 'recover' }), location: 'northeurope' },
        { updateIntervalInMs: 0 },
      ),
    );
    expect([otherLocation.statusCode, otherLocation.code]).toEqual([400, 'SoftDeletedVaultDoesNotExist']);
    // Neither refusal touched the deleted vault or created one in the other group.
    expect((await restError(client.vaults.get(other, 'kv-rec-rg'))).statusCode).toBe(404);
    expect((await restError(client.vaults.get(h.rg, 'kv-rec-rg'))).statusCode).toBe(404);
    expect((await client.vaults.getDeleted('kv-rec-rg', 'westeurope')).properties?.vaultId).toBe(created.id);

    const recovered = await client.vaults.createOrUpdate(
      h.rg,
      'kv-rec-rg',
      vaultParams({ createMode: 'recover' }),
      { updateIntervalInMs: 0 },
    );
    expect(recovered.id).toBe(created.id);
    expect((await client.vaults.get(h.rg, 'kv-rec-rg')).id).toBe(created.id);
    expect((await restError(client.vaults.getDeleted('kv-rec-rg', 'westeurope'))).statusCode).toBe(404);
  });
});

describe('Key Vault data plane (keyvault-keys)', () => {
  let keys: KeyClient;
  beforeAll(async () => {
    await createVault('kv-data-1');
    keys = h.keys('kv-data-1', admin);
  });

  it('creates RSA and EC keys, gets latest and by version, lists keys and versions with paging', async () => {
    const k1 = await keys.createRsaKey('cmk', { keySize: 2048 });
    expect(k1.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(k1.keyType).toBe('RSA');
    expect(k1.key?.n?.length).toBe(256);
    const k2 = await keys.createKey('cmk', 'RSA', { tags: { owner: 'guardian' } });
    const ec = await keys.createEcKey('sig', { curve: 'P-384' });
    expect(ec.key?.crv).toBe('P-384');
    expect((await keys.getKey('cmk')).properties.version).toBe(k2.properties.version);
    expect((await keys.getKey('cmk', { version: k1.properties.version })).properties.version).toBe(
      k1.properties.version,
    );
    expect((await keys.getKey('cmk')).properties.tags).toEqual({ owner: 'guardian' });
    const pages: number[] = [];
    const names: string[] = [];
    for await (const page of keys.listPropertiesOfKeys().byPage({ maxPageSize: 1 })) {
      pages.push(page.length);
      names.push(...page.map((p) => p.name));
    }
    expect(names).toEqual(['cmk', 'sig']);
    expect(pages).toEqual([1, 1]);
    const versions: string[] = [];
    for await (const v of keys.listPropertiesOfKeyVersions('cmk')) versions.push(v.version ?? '');
    expect(versions.sort()).toEqual([k1.properties.version, k2.properties.version].sort());
    const missing = await restError(keys.getKey('nope'));
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe('KeyNotFound');
    expect(missing.message).toContain('A key with (name/id) nope was not found in this key vault');
  });

  it('wraps and unwraps a data key for real (local SDK wrap, service unwrap, RSA-OAEP-256 remote)', async () => {
    const key = await keys.createRsaKey('wrap-key');
    const crypto = new CryptographyClient(key.id ?? '', h.credential(admin), { agent: h.agent });
    const cek = randomBytes(32);
    const wrapped = await crypto.wrapKey('RSA-OAEP', cek);
    const unwrapped = await crypto.unwrapKey('RSA-OAEP', wrapped.result);
    expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
    const wrapped256 = await crypto.wrapKey('RSA-OAEP-256', cek);
    expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', wrapped256.result)).result).equals(cek)).toBe(
      true,
    );
    const enc = await crypto.encrypt({ algorithm: 'RSA1_5', plaintext: cek });
    expect(
      Buffer.from((await crypto.decrypt({ algorithm: 'RSA1_5', ciphertext: enc.result })).result).equals(cek),
    ).toBe(true);
  });

  it('imports a key (BYOK): the vault then unwraps with the key material the owner brought', async () => {
    const own = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = own.privateKey.export({ format: 'jwk' });
    const bytes = (v: string | undefined): Uint8Array => new Uint8Array(Buffer.from(v ?? '', 'base64url'));
    const imported = await keys.importKey('byok', {
      kty: 'RSA',
      n: bytes(jwk.n),
      e: bytes(jwk.e),
      d: bytes(jwk.d),
      p: bytes(jwk.p),
      q: bytes(jwk.q),
      dp: bytes(jwk.dp),
      dq: bytes(jwk.dq),
      qi: bytes(jwk.qi),
      keyOps: ['wrapKey', 'unwrapKey'],
    });
    expect(imported.keyOperations).toEqual(['wrapKey', 'unwrapKey']);
    expect(Buffer.from(imported.key?.n ?? new Uint8Array()).toString('base64url')).toBe(jwk.n);
    // Wrapped outside with the owner's public key, unwrapped by the vault.
    const cek = randomBytes(32);
    const outside = publicEncrypt(
      { key: own.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      cek,
    );
    const crypto = new CryptographyClient(imported.id ?? '', h.credential(admin), { agent: h.agent });
    expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', outside)).result).equals(cek)).toBe(true);
    const bad = await restError(
      keys.importKey('byok-public-only', { kty: 'RSA', n: bytes(jwk.n), e: bytes(jwk.e) }),
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.code).toBe('BadParameter');
  });

  it('backs a key up and restores it with all versions after it was purged', async () => {
    const v1 = await keys.createRsaKey('backed-up');
    const v2 = await keys.rotateKey('backed-up');
    const cek = randomBytes(32);
    const crypto = new CryptographyClient(v1.id ?? '', h.credential(admin), { agent: h.agent });
    const wrapped = await crypto.wrapKey('RSA-OAEP-256', cek);
    const backup = await keys.backupKey('backed-up');
    expect(backup?.length).toBeGreaterThan(0);
    const exists = await restError(keys.restoreKeyBackup(backup ?? new Uint8Array()));
    expect(exists.statusCode).toBe(409);
    await (await keys.beginDeleteKey('backed-up', { intervalInMs: 0 })).pollUntilDone();
    await keys.purgeDeletedKey('backed-up');
    const restored = await keys.restoreKeyBackup(backup ?? new Uint8Array());
    expect(restored.properties.version).toBe(v2.properties.version);
    const versions: string[] = [];
    for await (const v of keys.listPropertiesOfKeyVersions('backed-up')) versions.push(v.version ?? '');
    expect(versions.sort()).toEqual([v1.properties.version, v2.properties.version].sort());
    expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', wrapped.result)).result).equals(cek)).toBe(
      true,
    );
    const corrupt = await restError(keys.restoreKeyBackup(new Uint8Array([1, 2, 3])));
    expect(corrupt.statusCode).toBe(400);
    // Backups restore only in the same subscription and geography.
    await h
      .arm(admin)
      .vaults.createOrUpdate(
        h.rg,
        'kv-data-east',
        { ...vaultParams(), location: 'eastus' },
        { updateIntervalInMs: 0 },
      );
    const elsewhere = await restError(
      h.keys('kv-data-east', admin).restoreKeyBackup(backup ?? new Uint8Array()),
    );
    expect(elsewhere.statusCode).toBe(403);
  });

  it('reports a disabled key as Key Vault does: GET works, crypto is refused', async () => {
    const key = await keys.createRsaKey('disabled-key');
    await keys.updateKeyProperties('disabled-key', key.properties.version ?? '', { enabled: false });
    expect((await keys.getKey('disabled-key')).properties.enabled).toBe(false);
    const crypto = new CryptographyClient(key.id ?? '', h.credential(admin), { agent: h.agent });
    const e = await restError(crypto.wrapKey('RSA-OAEP-256', randomBytes(32)));
    expect(e.statusCode).toBe(403);
    expect(e.message).toBe('Operation wrapKey is not allowed on a disabled key.');
    expect(innerCode(e)).toBe('KeyDisabled');
  });

  it('deletes softly, blocks the name, reports the deleted key, recovers it', async () => {
    const created = await keys.createEcKey('del-key');
    const poller = await keys.beginDeleteKey('del-key', { intervalInMs: 0 });
    const deleted = await poller.pollUntilDone();
    expect(deleted.properties.recoveryId).toBe(`${h.sandbox.vaultUri('kv-data-1')}deletedkeys/del-key`);
    const fetched = await keys.getDeletedKey('del-key');
    expect(fetched.properties.scheduledPurgeDate?.getTime()).toBe(
      (fetched.properties.deletedOn?.getTime() ?? 0) + 90 * DAY,
    );
    expect((await restError(keys.getKey('del-key'))).statusCode).toBe(404);
    const conflict = await restError(keys.createEcKey('del-key'));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.message).toContain('is currently in a deleted but recoverable state');
    const listed: string[] = [];
    for await (const d of keys.listDeletedKeys()) listed.push(d.name);
    expect(listed).toContain('del-key');
    const recover = await keys.beginRecoverDeletedKey('del-key', { intervalInMs: 0 });
    const recovered = await recover.pollUntilDone();
    expect(recovered.properties.version).toBe(created.properties.version);
    expect((await restError(keys.getDeletedKey('del-key'))).message).toBe('Deleted Key not found: del-key');
  });

  it('purges a deleted key without purge protection and refuses under it', async () => {
    await keys.createEcKey('purge-me');
    await (await keys.beginDeleteKey('purge-me', { intervalInMs: 0 })).pollUntilDone();
    await keys.purgeDeletedKey('purge-me');
    expect((await restError(keys.getDeletedKey('purge-me'))).statusCode).toBe(404);

    await createVault('kv-data-pp', { enablePurgeProtection: true });
    const protectedKeys = h.keys('kv-data-pp', admin);
    const k = await protectedKeys.createEcKey('kept');
    expect(k.properties.recoveryLevel).toBe('Recoverable');
    await (await protectedKeys.beginDeleteKey('kept', { intervalInMs: 0 })).pollUntilDone();
    const e = await restError(protectedKeys.purgeDeletedKey('kept'));
    expect(e.statusCode).toBe(403);
    expect(e.message).toContain(
      'Operation "purge" is not allowed because purge protection is enabled for this vault',
    );
  });

  it('rotates on demand and automatically on the clock per the rotation policy', async () => {
    const first = await keys.createRsaKey('rotating');
    const empty = await keys.getKeyRotationPolicy('rotating');
    expect(empty.lifetimeActions).toEqual([{ action: 'Notify', timeBeforeExpiry: 'P30D' }]);
    const policy = await keys.updateKeyRotationPolicy('rotating', {
      lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P30D' }],
      expiresIn: 'P90D',
    });
    expect(policy.lifetimeActions).toEqual([
      { action: 'Rotate', timeAfterCreate: 'P30D' },
      { action: 'Notify', timeBeforeExpiry: 'P30D' },
    ]);
    expect(policy.expiresIn).toBe('P90D');
    const bad = await restError(
      keys.updateKeyRotationPolicy('rotating', {
        lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P1D' }],
      }),
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.code).toBe('BadParameter');

    await h.clock.advanceBy(30 * DAY);
    const latest = await keys.getKey('rotating');
    expect(latest.properties.version).not.toBe(first.properties.version);
    expect(latest.properties.expiresOn?.getTime()).toBe(h.clock.now() + 90 * DAY);

    const manual = await keys.rotateKey('rotating');
    const versions: string[] = [];
    for await (const v of keys.listPropertiesOfKeyVersions('rotating')) versions.push(v.version ?? '');
    expect(versions).toHaveLength(3);
    expect(versions).toContain(manual.properties.version);
  });
});

describe('Key Vault permissions and firewall', () => {
  it('access-policy vault: 403 until an access policy grants the permission', async () => {
    await createVault('kv-perm-ap');
    await h.keys('kv-perm-ap', admin).createRsaKey('cmk');
    const sb = h.principal('namespace-identity');
    const asSb = h.keys('kv-perm-ap', sb);
    const e = await restError(asSb.getKey('cmk'));
    expect(e.statusCode).toBe(403);
    expect(e.message).toContain(
      `does not have keys get permission on key vault 'kv-perm-ap;location=westeurope'`,
    );
    await h.arm(admin).vaults.updateAccessPolicy(h.rg, 'kv-perm-ap', 'add', {
      properties: {
        accessPolicies: [
          {
            tenantId: h.sandbox.tenantId,
            objectId: sb,
            permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
          },
        ],
      },
    });
    const key = await asSb.getKey('cmk');
    const crypto = new CryptographyClient(key.id ?? '', h.credential(sb), { agent: h.agent });
    const cek = randomBytes(32);
    const wrapped = await crypto.wrapKey('RSA-OAEP-256', cek);
    expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', wrapped.result)).result).equals(cek)).toBe(
      true,
    );
    const rotate = await restError(asSb.rotateKey('cmk'));
    expect(rotate.statusCode).toBe(403);
  });

  it('RBAC vault: data actions through role assignments at vault and key scope; access policies ignored', async () => {
    const vault = await createVault('kv-perm-rbac', { enableRbacAuthorization: true });
    const asAdmin = h.keys('kv-perm-rbac', admin);
    // Owner holds management actions only: no dataActions, so no keys.
    const denied = await restError(asAdmin.createRsaKey('cmk'));
    expect(denied.statusCode).toBe(403);
    expect(innerCode(denied)).toBe('ForbiddenByRbac');
    expect(denied.message).toContain("Action: 'Microsoft.KeyVault/vaults/keys/create/action'");
    h.sandbox.control.assignRole({
      principalId: admin,
      role: 'Key Vault Crypto Officer',
      scope: vault.id ?? '',
    });
    await asAdmin.createRsaKey('cmk');

    const sb = h.principal('rbac-namespace-identity');
    const asSb = h.keys('kv-perm-rbac', sb);
    expect((await restError(asSb.getKey('cmk'))).statusCode).toBe(403);
    h.sandbox.control.assignRole({
      principalId: sb,
      role: 'Key Vault Crypto Service Encryption User',
      scope: `${vault.id ?? ''}/keys/cmk`,
    });
    const key = await asSb.getKey('cmk');
    const crypto = new CryptographyClient(key.id ?? '', h.credential(sb), { agent: h.agent });
    const cek = randomBytes(32);
    const wrapped = await crypto.wrapKey('RSA-OAEP-256', cek);
    expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', wrapped.result)).result).equals(cek)).toBe(
      true,
    );
    expect((await restError(asSb.rotateKey('cmk'))).statusCode).toBe(403);
    // The role is scoped to that key: listing the vault is not granted.
    const list = await restError(asSb.listPropertiesOfKeys().next());
    expect(list.statusCode).toBe(403);
  });

  it('RBAC vault: a new assignment takes effect only after the propagation delay, on the clock', async () => {
    const vault = await createVault('kv-perm-delay', { enableRbacAuthorization: true });
    h.sandbox.control.assignRole({
      principalId: admin,
      role: 'Key Vault Crypto Officer',
      scope: vault.id ?? '',
    });
    await h.keys('kv-perm-delay', admin).createEcKey('cmk');
    const reader = h.principal('late-reader');
    h.sandbox.control.updateSettings({ propagationDelayMs: 5 * 60_000 });
    try {
      h.sandbox.control.assignRole({
        principalId: reader,
        role: 'Key Vault Reader',
        scope: vault.id ?? '',
        immediate: false,
      });
      const early = await restError(h.keys('kv-perm-delay', reader).getKey('cmk'));
      expect(early.statusCode).toBe(403);
      expect(early.message).toContain('please observe propagation time');
      await h.clock.advanceBy(5 * 60_000);
      expect((await h.keys('kv-perm-delay', reader).getKey('cmk')).name).toBe('cmk');
    } finally {
      h.sandbox.control.updateSettings({ propagationDelayMs: 0 });
    }
  });

  it('refuses wrap on an expired key but still unwraps what it protected', async () => {
    await createVault('kv-perm-exp');
    const adminKeys = h.keys('kv-perm-exp', admin);
    const key = await adminKeys.createRsaKey('cmk', { expiresOn: new Date(h.clock.now() + 10 * DAY) });
    // A caller with wrap/unwrap only: the SDK cannot read the key, so every operation goes to the service.
    const worker = h.principal('wrap-only');
    await h.arm(admin).vaults.updateAccessPolicy(h.rg, 'kv-perm-exp', 'add', {
      properties: {
        accessPolicies: [
          { tenantId: h.sandbox.tenantId, objectId: worker, permissions: { keys: ['wrapKey', 'unwrapKey'] } },
        ],
      },
    });
    const crypto = new CryptographyClient(key.id ?? '', h.credential(worker), { agent: h.agent });
    const cek = randomBytes(32);
    const wrapped = await crypto.wrapKey('RSA-OAEP', cek);
    // The same through a versionless key id (what a versionless CMK reference holds): current version.
    const versionless = new CryptographyClient(
      `${h.sandbox.vaultUri('kv-perm-exp')}keys/cmk`,
      h.credential(worker),
      {
        agent: h.agent,
      },
    );
    const viaName = await versionless.wrapKey('RSA-OAEP', cek);
    expect(Buffer.from((await versionless.unwrapKey('RSA-OAEP', viaName.result)).result).equals(cek)).toBe(
      true,
    );
    await h.clock.advanceBy(10 * DAY);
    const e = await restError(crypto.wrapKey('RSA-OAEP', cek));
    expect(e.statusCode).toBe(403);
    expect(e.message).toContain('expired');
    expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP', wrapped.result)).result).equals(cek)).toBe(true);
    // Still the expiry it was created with (the wrap above was refused because the clock passed it).
    expect((await adminKeys.getKey('cmk')).properties.expiresOn?.getTime()).toBe(
      key.properties.expiresOn?.getTime(),
    );
  });

  it('applies the vault firewall: ip rules, trusted-service bypass for a Service Bus identity', async () => {
    await createVault('kv-perm-fw');
    const adminKeys = h.keys('kv-perm-fw', admin);
    await adminKeys.createRsaKey('cmk');
    const namespaceId = `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${h.rg}/providers/Microsoft.ServiceBus/namespaces/sb-fw`;
    const sbIdentity = h.sandbox.core.principals.ensureSystemAssigned(namespaceId).objectId;
    await h.arm(admin).vaults.updateAccessPolicy(h.rg, 'kv-perm-fw', 'add', {
      properties: {
        accessPolicies: [
          {
            tenantId: h.sandbox.tenantId,
            objectId: sbIdentity,
            permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
          },
        ],
      },
    });
    await h.arm(admin).vaults.update(h.rg, 'kv-perm-fw', {
      properties: {
        networkAcls: {
          defaultAction: 'Deny',
          bypass: 'AzureServices',
          ipRules: [{ value: '203.0.113.0/24' }],
        },
      },
    });
    const blocked = await restError(adminKeys.getKey('cmk'));
    expect(blocked.statusCode).toBe(403);
    expect(innerCode(blocked)).toBe('ForbiddenByFirewall');
    expect(blocked.message).toContain('Client address is not authorized and caller is not a trusted service');
    // The Service Bus namespace's identity is a trusted service: it passes while bypass is AzureServices.
    expect((await h.keys('kv-perm-fw', sbIdentity).getKey('cmk')).name).toBe('cmk');
    await h.arm(admin).vaults.update(h.rg, 'kv-perm-fw', {
      properties: {
        networkAcls: { defaultAction: 'Deny', bypass: 'None', ipRules: [{ value: '127.0.0.1' }] },
      },
    });
    expect((await adminKeys.getKey('cmk')).name).toBe('cmk');
    await h.arm(admin).vaults.update(h.rg, 'kv-perm-fw', {
      properties: { networkAcls: { defaultAction: 'Deny', bypass: 'None', ipRules: [] } },
    });
    expect((await restError(h.keys('kv-perm-fw', sbIdentity).getKey('cmk'))).statusCode).toBe(403);
  });
});

describe('Key Vault wire shapes (plain HTTPS, from the REST reference)', () => {
  it('answers the first unauthenticated request with the 401 challenge', async () => {
    await createVault('kv-wire');
    const url = `${h.sandbox.vaultUri('kv-wire')}keys?api-version=7.4`;
    const res = await fetchJson(h.sandbox, h.agent, undefined, 'GET', url);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer authorization="https://login.microsoftonline.com/${h.sandbox.tenantId}", resource="https://${h.sandbox.keyVaultDnsSuffix}"`,
    );
    const armToken = await fetchJson(h.sandbox, h.agent, admin, 'GET', url);
    expect(armToken.status).toBe(401);
  });

  it('returns KeyBundle, KeyItem paging and Key Vault errors in the documented JSON', async () => {
    const base = h.sandbox.vaultUri('kv-wire');
    const kv = 'keyvault';
    const created = await fetchJson(
      h.sandbox,
      h.agent,
      admin,
      'POST',
      `${base}keys/wire-key/create?api-version=7.4`,
      {
        kty: 'RSA',
        key_size: 2048,
        attributes: { enabled: true },
        tags: { purpose: 'cmk' },
      },
      kv,
    );
    expect(created.status).toBe(200);
    const bundle = created.body as {
      key: Record<string, unknown>;
      attributes: Record<string, unknown>;
      tags: unknown;
    };
    expect(bundle.key.kid).toMatch(new RegExp(`^${base}keys/wire-key/[0-9a-f]{32}$`));
    expect(bundle.key).toMatchObject({
      kty: 'RSA',
      key_ops: ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'],
    });
    expect(typeof bundle.key.n).toBe('string');
    expect(bundle.key.e).toBe('AQAB');
    expect(bundle.attributes).toMatchObject({
      enabled: true,
      created: Math.floor(h.clock.now() / 1000),
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
    });
    expect(bundle.tags).toEqual({ purpose: 'cmk' });
    expect(created.headers['x-ms-keyvault-service-version']).toBe('1.9.2164.1');

    await fetchJson(
      h.sandbox,
      h.agent,
      admin,
      'POST',
      `${base}keys/wire-key-2/create?api-version=7.4`,
      { kty: 'EC' },
      kv,
    );
    const page1 = await fetchJson(
      h.sandbox,
      h.agent,
      admin,
      'GET',
      `${base}keys?api-version=7.4&maxresults=1`,
      undefined,
      kv,
    );
    const body1 = page1.body as { value: Array<{ kid: string }>; nextLink: string | null };
    expect(body1.value).toEqual([expect.objectContaining({ kid: `${base}keys/wire-key` })]);
    expect(body1.nextLink).toContain('$skiptoken=');
    const page2 = await fetchJson(h.sandbox, h.agent, admin, 'GET', body1.nextLink ?? '', undefined, kv);
    const body2 = page2.body as { value: Array<{ kid: string }>; nextLink: null };
    expect(body2.value.map((k) => k.kid)).toEqual([`${base}keys/wire-key-2`]);
    expect(body2.nextLink).toBeNull();

    const policy = await fetchJson(
      h.sandbox,
      h.agent,
      admin,
      'PUT',
      `${base}keys/wire-key/rotationpolicy?api-version=7.4`,
      {
        lifetimeActions: [{ trigger: { timeAfterCreate: 'P2M' }, action: { type: 'Rotate' } }],
        attributes: { expiryTime: 'P1Y' },
      },
      kv,
    );
    expect(policy.status).toBe(200);
    expect(policy.body).toEqual({
      id: `${base}keys/wire-key/rotationpolicy`,
      lifetimeActions: [
        { trigger: { timeAfterCreate: 'P2M' }, action: { type: 'Rotate' } },
        { trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } },
      ],
      attributes: {
        expiryTime: 'P1Y',
        created: Math.floor(h.clock.now() / 1000),
        updated: Math.floor(h.clock.now() / 1000),
      },
    });
    const oldApi = await fetchJson(
      h.sandbox,
      h.agent,
      admin,
      'GET',
      `${base}keys/wire-key/rotationpolicy?api-version=7.2`,
      undefined,
      kv,
    );
    expect(oldApi.status).toBe(400);

    const deleted = await fetchJson(
      h.sandbox,
      h.agent,
      admin,
      'DELETE',
      `${base}keys/wire-key-2?api-version=7.4`,
      undefined,
      kv,
    );
    expect(deleted.status).toBe(200);
    const now = Math.floor(h.clock.now() / 1000);
    expect(deleted.body).toMatchObject({
      recoveryId: `${base}deletedkeys/wire-key-2`,
      deletedDate: now,
      scheduledPurgeDate: now + 90 * 86_400,
      key: { kty: 'EC', crv: 'P-256' },
    });

    const bad = await fetchJson(
      h.sandbox,
      h.agent,
      admin,
      'GET',
      `${base}keys?api-version=1.0`,
      undefined,
      kv,
    );
    expect(bad.status).toBe(400);
    expect((bad.body as { error: { code: string } }).error.code).toBe('BadParameter');
    const notFound = await fetchJson(
      h.sandbox,
      h.agent,
      admin,
      'GET',
      `${base}keys/absent?api-version=7.4`,
      undefined,
      kv,
    );
    expect(notFound.status).toBe(404);
    expect(notFound.body).toEqual({
      error: {
        code: 'KeyNotFound',
        message:
          'A key with (name/id) absent was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182',
      },
    });
  });
});
