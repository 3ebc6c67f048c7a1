/**
 * The real @azure/arm-servicebus client against the sandbox: namespace CRUD, queues and topics, and every
 * customer-managed-key rule the Service Bus resource provider enforces, with its error.
 */
import type { Encryption } from '@azure/arm-servicebus';
import { errorCode, restError, SbHarness } from './servicebus-support';

let h: SbHarness;

beforeAll(async () => {
  h = await SbHarness.start();
});
afterAll(async () => {
  await h.close();
});

/** A vault with an RSA key the namespace's system identity may use once granted. */
async function vaultWithKey(vault: string, key = 'cmk', spec: Parameters<SbHarness['vault']>[1] = {}) {
  const uri = await h.vault(vault, spec);
  await h.keys(vault).createRsaKey(key, { keySize: 2048 });
  return uri;
}

const encryption = (uri: string, key = 'cmk', extra: Partial<Encryption> = {}): Encryption => ({
  keySource: 'Microsoft.KeyVault',
  keyVaultProperties: [{ keyName: key, keyVaultUri: uri }],
  ...extra,
});

describe('namespaces', () => {
  it('creates through the LRO, reads, lists by resource group and subscription, patches tags and deletes', async () => {
    const ns = await h.namespace('sb-crud-1', { tags: { env: 'test' } });
    expect(ns.provisioningState).toBe('Succeeded');
    expect(ns.status).toBe('Active');
    expect(ns.sku?.tier).toBe('Premium');
    expect(ns.serviceBusEndpoint).toBe('https://sb-crud-1.servicebus.windows.net:443/');
    expect(ns.encryption).toBeUndefined();

    await h.namespace('sb-crud-std', { sku: { name: 'Standard', tier: 'Standard' } });
    const inRg: string[] = [];
    for await (const n of h.sb.namespaces.listByResourceGroup(h.rg)) inRg.push(n.name ?? '');
    expect(inRg).toEqual(expect.arrayContaining(['sb-crud-1', 'sb-crud-std']));
    const inSub: string[] = [];
    for await (const n of h.sb.namespaces.list()) inSub.push(n.name ?? '');
    expect(inSub).toEqual(expect.arrayContaining(['sb-crud-1', 'sb-crud-std']));

    const patched = await h.sb.namespaces.update(h.rg, 'sb-crud-1', { tags: { env: 'prod' } });
    expect(patched.tags).toEqual({ env: 'prod' });
    expect((await h.sb.namespaces.checkNameAvailability({ name: 'sb-crud-1' })).reason).toBe('NameInUse');

    await h.sb.namespaces.beginDeleteAndWait(h.rg, 'sb-crud-1', { updateIntervalInMs: 0 });
    expect(errorCode(await restError(h.sb.namespaces.get(h.rg, 'sb-crud-1')))).toBe('ResourceNotFound');
    expect((await h.sb.namespaces.checkNameAvailability({ name: 'sb-crud-1' })).nameAvailable).toBe(true);
  });

  it('provisions on the clock: Created/Activating until the operation is due', async () => {
    h.sandbox.control.updateSettings({ lroDurationMs: 60_000 });
    try {
      const poller = await h.sb.namespaces.beginCreateOrUpdate(
        h.rg,
        'sb-slow-create',
        { location: 'westeurope', sku: { name: 'Premium', tier: 'Premium' } },
        { updateIntervalInMs: 0 },
      );
      const early = await h.sb.namespaces.get(h.rg, 'sb-slow-create');
      expect(early.provisioningState).toBe('Created');
      expect(early.status).toBe('Activating');
      await h.minutes(1);
      const done = await poller.pollUntilDone();
      expect(done.provisioningState).toBe('Succeeded');
      expect(done.status).toBe('Active');
    } finally {
      h.sandbox.control.updateSettings({ lroDurationMs: 0 });
    }
  });

  it('creates, lists and deletes queues and topics', async () => {
    await h.namespace('sb-entities');
    await h.sb.queues.createOrUpdate(h.rg, 'sb-entities', 'orders', { maxDeliveryCount: 5 });
    await h.sb.topics.createOrUpdate(h.rg, 'sb-entities', 'events', {});
    const queues = [];
    for await (const q of h.sb.queues.listByNamespace(h.rg, 'sb-entities')) queues.push(q);
    expect(queues.map((q) => [q.name, q.maxDeliveryCount])).toEqual([['orders', 5]]);
    const topics = [];
    for await (const t of h.sb.topics.listByNamespace(h.rg, 'sb-entities')) topics.push(t.name);
    expect(topics).toEqual(['events']);
    await h.sb.queues.delete(h.rg, 'sb-entities', 'orders');
    expect(errorCode(await restError(h.sb.queues.get(h.rg, 'sb-entities', 'orders')))).toBe('NotFound');
  });

  it('registers the system-assigned identity as a principal and removes it with the namespace', async () => {
    const ns = await h.namespace('sb-identity', { identity: { type: 'SystemAssigned' } });
    expect(ns.identity?.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(ns.identity?.tenantId).toBe(h.sandbox.tenantId);
    expect(h.sandbox.control.principals().some((p) => p.objectId === ns.identity?.principalId)).toBe(true);
    await h.sb.namespaces.beginDeleteAndWait(h.rg, 'sb-identity', { updateIntervalInMs: 0 });
    expect(h.sandbox.control.principals().some((p) => p.objectId === ns.identity?.principalId)).toBe(false);
  });
});

describe('customer-managed keys: happy paths', () => {
  it('system-assigned identity: grant the namespace identity, then enable CMK with a PATCH', async () => {
    const uri = await vaultWithKey('kv-sai-ok');
    const ns = await h.namespace('sb-sai-ok', { identity: { type: 'SystemAssigned' } });
    await h.grant('kv-sai-ok', ns.identity!.principalId!);
    const mark = h.sandbox.control.mark();
    const updated = await h.sb.namespaces.update(h.rg, 'sb-sai-ok', {
      encryption: encryption(uri, 'cmk', { requireInfrastructureEncryption: true }),
    });
    expect(updated.encryption).toEqual({
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: [{ keyName: 'cmk', keyVaultUri: uri, keyVersion: '' }],
      requireInfrastructureEncryption: true,
    });
    // The namespace checked the key with its own identity: get, wrapKey, unwrapKey, in the request log.
    const kvCalls = h.sandbox.control
      .requests({ sinceSeq: mark, service: 'keyvault', principal: ns.identity!.principalId! })
      .map((r) => [r.operation, r.status]);
    expect(kvCalls).toEqual([
      ['Microsoft.KeyVault/vaults/keys/read', 200],
      ['Microsoft.KeyVault/vaults/keys/wrap/action', 200],
      ['Microsoft.KeyVault/vaults/keys/unwrap/action', 200],
    ]);
    expect(await h.operable('sb-sai-ok')).toBe(true);
  });

  it('user-assigned identity on an RBAC vault, set at creation, up to three keys', async () => {
    const uri = await h.vault('kv-uai-ok', { rbac: true });
    for (const k of ['k1', 'k2', 'k3']) await h.keys('kv-uai-ok').createRsaKey(k);
    const uai = await h.uai('id-sb-uai-ok');
    await h.grant('kv-uai-ok', uai.principalId);
    const ns = await h.namespace('sb-uai-ok', {
      identity: { type: 'UserAssigned', userAssignedIdentities: { [uai.id]: {} } },
      encryption: {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: ['k1', 'k2', 'k3'].map((keyName) => ({
          keyName,
          keyVaultUri: uri,
          identity: { userAssignedIdentity: uai.id },
        })),
      },
    });
    expect(ns.identity?.userAssignedIdentities?.[uai.id]?.principalId).toBe(uai.principalId);
    expect(ns.encryption?.keyVaultProperties?.map((k) => k.keyName)).toEqual(['k1', 'k2', 'k3']);
    expect(ns.encryption?.keyVaultProperties?.[0]?.identity?.userAssignedIdentity).toBe(uai.id);
  });

  it('a firewalled vault admits the namespace as a trusted service (bypass AzureServices)', async () => {
    const uri = await h.vault('kv-fw-ok', {
      networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices' },
    });
    // The admin creates the key before the firewall matters: add the admin's address, create, remove.
    await h.kv.vaults.update(h.rg, 'kv-fw-ok', {
      properties: {
        networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices', ipRules: [{ value: '127.0.0.1' }] },
      },
    });
    await h.keys('kv-fw-ok').createRsaKey('cmk');
    await h.kv.vaults.update(h.rg, 'kv-fw-ok', {
      properties: { networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices', ipRules: [] } },
    });
    const ns = await h.namespace('sb-fw-ok', { identity: { type: 'SystemAssigned' } });
    await h.grant('kv-fw-ok', ns.identity!.principalId!);
    await h.sb.namespaces.update(h.rg, 'sb-fw-ok', { encryption: encryption(uri) });
    expect(await h.operable('sb-fw-ok')).toBe(true);
  });
});

describe('customer-managed keys: refusals', () => {
  async function refused(nsName: string, update: Parameters<SbHarness['sb']['namespaces']['update']>[2]) {
    const e = await restError(h.sb.namespaces.update(h.rg, nsName, update));
    return { status: e.statusCode, code: errorCode(e), message: e.message };
  }

  it('refuses a Standard namespace', async () => {
    const uri = await vaultWithKey('kv-std');
    await h.namespace('sb-std-cmk', {
      sku: { name: 'Standard', tier: 'Standard' },
      identity: { type: 'SystemAssigned' },
    });
    const e = await refused('sb-std-cmk', { encryption: encryption(uri) });
    expect(e).toMatchObject({ status: 400, code: 'BadRequest' });
    expect(e.message).toMatch(/supported only on the Premium tier; the namespace's SKU is 'Standard'/);
  });

  it('refuses a namespace that has a queue or a topic', async () => {
    const uri = await vaultWithKey('kv-notempty');
    const ns = await h.namespace('sb-notempty', { identity: { type: 'SystemAssigned' } });
    await h.grant('kv-notempty', ns.identity!.principalId!);
    await h.sb.topics.createOrUpdate(h.rg, 'sb-notempty', 't1', {});
    const e = await refused('sb-notempty', { encryption: encryption(uri) });
    expect(e.code).toBe('BadRequest');
    expect(e.message).toMatch(
      /only be enabled on a new or empty namespace; this namespace contains 0 queue\(s\) and 1 topic\(s\)/,
    );
  });

  it('refuses without an identity', async () => {
    const uri = await vaultWithKey('kv-noid');
    await h.namespace('sb-noid');
    const e = await refused('sb-noid', { encryption: encryption(uri) });
    expect(e.message).toMatch(/enable identity type 'SystemAssigned'/);
  });

  it('refuses CMK in the same PUT that creates the system identity (it has no access yet)', async () => {
    const uri = await vaultWithKey('kv-chicken');
    const e = await restError(
      h.namespace('sb-chicken', { identity: { type: 'SystemAssigned' }, encryption: encryption(uri) }),
    );
    expect(e.message).toMatch(/cannot use the key .*ForbiddenByPolicy/);
    expect(errorCode(await restError(h.sb.namespaces.get(h.rg, 'sb-chicken')))).toBe('ResourceNotFound');
    // No identity was left behind for the namespace that was not created.
    expect(h.sandbox.control.principals().some((p) => p.resourceId === h.nsId('sb-chicken'))).toBe(false);
  });

  it('refuses zero or more than three keys', async () => {
    const uri = await vaultWithKey('kv-count');
    const ns = await h.namespace('sb-count', { identity: { type: 'SystemAssigned' } });
    await h.grant('kv-count', ns.identity!.principalId!);
    const four = ['a', 'b', 'c', 'd'].map((k) => ({ keyName: k, keyVaultUri: uri }));
    expect(
      (
        await refused('sb-count', {
          encryption: { keySource: 'Microsoft.KeyVault', keyVaultProperties: four },
        })
      ).message,
    ).toMatch(/between 1 and 3 keys in keyVaultProperties; the request has 4/);
    expect(
      (await refused('sb-count', { encryption: { keySource: 'Microsoft.KeyVault', keyVaultProperties: [] } }))
        .message,
    ).toMatch(/the request has 0/);
  });

  it('refuses keys that use different identities', async () => {
    const uri = await vaultWithKey('kv-twoid');
    await h.keys('kv-twoid').createRsaKey('cmk2');
    const a = await h.uai('id-twoid-a');
    const b = await h.uai('id-twoid-b');
    await h.namespace('sb-twoid', {
      identity: { type: 'UserAssigned', userAssignedIdentities: { [a.id]: {}, [b.id]: {} } },
    });
    const e = await refused('sb-twoid', {
      encryption: {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: [
          { keyName: 'cmk', keyVaultUri: uri, identity: { userAssignedIdentity: a.id } },
          { keyName: 'cmk2', keyVaultUri: uri, identity: { userAssignedIdentity: b.id } },
        ],
      },
    });
    expect(e.message).toMatch(/only a single encryption identity is supported/);
  });

  it('refuses a vault without purge protection', async () => {
    const uri = await vaultWithKey('kv-nopp', 'cmk', { purgeProtection: false });
    const ns = await h.namespace('sb-nopp', { identity: { type: 'SystemAssigned' } });
    await h.grant('kv-nopp', ns.identity!.principalId!);
    const e = await refused('sb-nopp', { encryption: encryption(uri) });
    expect(e.message).toMatch(/'kv-nopp' must have soft delete and purge protection enabled/);
  });

  it('refuses a vault with virtual network rules', async () => {
    const subnet = `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${h.rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default`;
    const uri = await h.vault('kv-vnet');
    await h.keys('kv-vnet').createRsaKey('cmk');
    await h.kv.vaults.update(h.rg, 'kv-vnet', {
      properties: {
        networkAcls: {
          defaultAction: 'Allow',
          bypass: 'AzureServices',
          virtualNetworkRules: [{ id: subnet }],
        },
      },
    });
    const ns = await h.namespace('sb-vnet', { identity: { type: 'SystemAssigned' } });
    await h.grant('kv-vnet', ns.identity!.principalId!);
    const e = await refused('sb-vnet', { encryption: encryption(uri) });
    expect(e.message).toMatch(/'kv-vnet' has virtual network rules/);
  });

  it('refuses when the identity cannot get/wrap/unwrap the key at the moment of the update', async () => {
    const uri = await vaultWithKey('kv-noaccess');
    const ns = await h.namespace('sb-noaccess', { identity: { type: 'SystemAssigned' } });
    let e = await refused('sb-noaccess', { encryption: encryption(uri) });
    expect(e.message).toMatch(
      /cannot use the key .*kv-noaccess.*\/keys\/cmk' \(it needs get, wrapKey and unwrapKey\): Forbidden \(ForbiddenByPolicy\)/,
    );
    // Only get is not enough: wrapKey is refused.
    await h.kv.vaults.updateAccessPolicy(h.rg, 'kv-noaccess', 'add', {
      properties: {
        accessPolicies: [
          {
            tenantId: h.sandbox.tenantId,
            objectId: ns.identity!.principalId!,
            permissions: { keys: ['get'] },
          },
        ],
      },
    });
    e = await refused('sb-noaccess', { encryption: encryption(uri) });
    expect(e.message).toMatch(/does not have keys wrapKey permission/);
    // A disabled key is refused too.
    await h.grant('kv-noaccess', ns.identity!.principalId!);
    await h.keys('kv-noaccess').updateKeyProperties('cmk', { enabled: false });
    e = await refused('sb-noaccess', { encryption: encryption(uri) });
    expect(e.message).toMatch(/KeyDisabled/);
    // And a key that does not exist.
    e = await refused('sb-noaccess', { encryption: encryption(uri, 'missing') });
    expect(e.message).toMatch(/KeyNotFound/);
    expect((await h.sb.namespaces.get(h.rg, 'sb-noaccess')).encryption).toBeUndefined();
  });

  it('refuses a key that is not valid yet (nbf) or already expired', async () => {
    const uri = await h.vault('kv-window');
    const day = 86_400_000;
    await h.keys('kv-window').createRsaKey('future', { notBefore: new Date(h.clock.now() + day) });
    await h.keys('kv-window').createRsaKey('past', {
      notBefore: new Date(h.clock.now() - 2 * day),
      expiresOn: new Date(h.clock.now() - day),
    });
    const ns = await h.namespace('sb-window', { identity: { type: 'SystemAssigned' } });
    await h.grant('kv-window', ns.identity!.principalId!);
    expect((await refused('sb-window', { encryption: encryption(uri, 'future') })).message).toMatch(
      /KeyNotYetValid/,
    );
    expect((await refused('sb-window', { encryption: encryption(uri, 'past') })).message).toMatch(
      /KeyExpired/,
    );
  });

  it('refuses to remove CMK once set, by PATCH or PUT, and to drop the identity it uses', async () => {
    const uri = await vaultWithKey('kv-remove');
    const ns = await h.namespace('sb-remove', { identity: { type: 'SystemAssigned' } });
    await h.grant('kv-remove', ns.identity!.principalId!);
    await h.sb.namespaces.update(h.rg, 'sb-remove', { encryption: encryption(uri) });
    const patch = await refused('sb-remove', {
      encryption: { keySource: 'Microsoft.KeyVault', keyVaultProperties: [] },
    });
    expect(patch.message).toMatch(/cannot be removed/);
    const put = await restError(
      h.sb.namespaces.beginCreateOrUpdateAndWait(h.rg, 'sb-remove', {
        location: 'westeurope',
        sku: { name: 'Premium', tier: 'Premium' },
        identity: { type: 'SystemAssigned' },
      }),
    );
    expect(put.message).toMatch(/cannot be removed/);
    const identity = await refused('sb-remove', { identity: { type: 'None' } });
    expect(identity.message).toMatch(/identity used for customer-managed key encryption cannot be removed/);
    const infra = await refused('sb-remove', {
      encryption: encryption(uri, 'cmk', { requireInfrastructureEncryption: true }),
    });
    expect(infra.message).toMatch(/requireInfrastructureEncryption/);
    // The SKU cannot drop below Premium either.
    const sku = await refused('sb-remove', { sku: { name: 'Standard', tier: 'Standard' } });
    expect(sku.message).toMatch(/Premium tier/);
    expect((await h.sb.namespaces.get(h.rg, 'sb-remove')).encryption?.keyVaultProperties).toHaveLength(1);
  });

  it('refuses a user-assigned identity on an already-paired primary', async () => {
    const uri = await vaultWithKey('kv-paired');
    const uai = await h.uai('id-paired');
    await h.grant('kv-paired', uai.principalId);
    const identity = { type: 'UserAssigned' as const, userAssignedIdentities: { [uai.id]: {} } };
    await h.namespace('sb-paired-p', { identity });
    await h.namespace('sb-paired-s', { identity });
    await h.sb.disasterRecoveryConfigs.createOrUpdate(h.rg, 'sb-paired-p', 'sb-paired-alias', {
      partnerNamespace: h.nsId('sb-paired-s'),
    });
    const e = await refused('sb-paired-p', {
      encryption: {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: [
          { keyName: 'cmk', keyVaultUri: uri, identity: { userAssignedIdentity: uai.id } },
        ],
      },
    });
    expect(e.message).toMatch(/cannot be enabled on a namespace that is the primary of a Geo-DR pairing/);
  });
});
