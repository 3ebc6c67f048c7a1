/**
 * A snapshot-backed sandbox (what `npm start` uses) keeps vaults and keys across a restart: the same
 * key version unwraps what it wrapped before, and the rotation policy still runs on the clock.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { KeyVaultManagementClient, type VaultCreateOrUpdateParameters } from '@azure/arm-keyvault';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { SandboxCredential, sandboxAgent } from '../../sandbox/azure/testing';
import { KeyVaultProvider } from '../../sandbox/azure/keyvault';
import {
  DELETED_VAULTS,
  VAULTS,
  type StoredState,
  type StoredVault,
} from '../../sandbox/azure/keyvault/persistence';
import { fetchJson } from './keyvault-support';

const DAY = 86_400_000;

function clientsFor(sandbox: AzureSandbox): { agent: Agent; credential: TokenCredential } {
  return { agent: sandboxAgent(sandbox), credential: new SandboxCredential(sandbox, sandbox.admin.objectId) };
}

it('keeps vaults and keys across a sandbox restart', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'kv-persist-'));
  const start = Date.UTC(2026, 0, 1);
  const first = await startAzureSandbox({
    clock: new VirtualClock(start),
    stateDir,
    snapshotFile: 'estate.json',
    lroRetryAfterSeconds: 0,
  });
  const a = clientsFor(first);
  const sub = first.subscriptionId;
  await fetchJson(
    first,
    a.agent,
    first.admin.objectId,
    'PUT',
    `/subscriptions/${sub}/resourcegroups/rg-p?api-version=2021-04-01`,
    {
      location: 'westeurope',
    },
  );
  const arm = new KeyVaultManagementClient(a.credential, sub, { endpoint: first.url, agent: a.agent });
  await arm.vaults.createOrUpdate(
    'rg-p',
    'kv-persist',
    {
      location: 'westeurope',
      properties: {
        tenantId: first.tenantId,
        sku: { family: 'A', name: 'standard' },
        enablePurgeProtection: true,
        accessPolicies: [
          { tenantId: first.tenantId, objectId: first.admin.objectId, permissions: { keys: ['all'] } },
        ],
      },
    },
    { updateIntervalInMs: 0 },
  );
  const keys = new KeyClient(first.vaultUri('kv-persist'), a.credential, { agent: a.agent });
  const key = await keys.createRsaKey('cmk');
  await keys.updateKeyRotationPolicy('cmk', {
    lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P30D' }],
  });
  const cek = randomBytes(32);
  const wrapped = await new CryptographyClient(key.id ?? '', a.credential, { agent: a.agent }).wrapKey(
    'RSA-OAEP-256',
    cek,
  );
  a.agent.destroy();
  await first.close();

  const clock = new VirtualClock(start + DAY);
  const second = await startAzureSandbox({
    clock,
    stateDir,
    snapshotFile: 'estate.json',
    lroRetryAfterSeconds: 0,
  });
  try {
    const b = clientsFor(second);
    const vault = await new KeyVaultManagementClient(b.credential, sub, {
      endpoint: second.url,
      agent: b.agent,
    }).vaults.get('rg-p', 'kv-persist');
    expect(vault.properties.enablePurgeProtection).toBe(true);
    // The vault URI names the new port; the key is the same one.
    const keys2 = new KeyClient(second.vaultUri('kv-persist'), b.credential, { agent: b.agent });
    const again = await keys2.getKey('cmk');
    expect(again.properties.version).toBe(key.properties.version);
    const crypto = new CryptographyClient(again.id ?? '', b.credential, { agent: b.agent });
    expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', wrapped.result)).result).equals(cek)).toBe(
      true,
    );
    await clock.advanceBy(30 * DAY);
    expect((await keys2.getKey('cmk')).properties.version).not.toBe(key.properties.version);
    b.agent.destroy();
  } finally {
    await second.close();
  }
});

/** One store write as the spy saw it: [method, collection, key]. */
type StoreCall = [string, string, string];

/** Records every put/delete on the Key Vault collections of a sandbox's store from now on. */
function watchKeyVaultRecords(sandbox: AzureSandbox): { calls: StoreCall[]; stop: () => void } {
  const store = sandbox.core.store;
  const calls: StoreCall[] = [];
  const ours = (c: string): boolean => c === VAULTS || c === DELETED_VAULTS || c === 'keyvault';
  const put = store.put.bind(store);
  const del = store.delete.bind(store);
  const putSpy = jest.spyOn(store, 'put').mockImplementation((c: string, k: string, v: unknown) => {
    if (ours(c)) calls.push(['put', c, k]);
    put(c, k, v);
  });
  const delSpy = jest.spyOn(store, 'delete').mockImplementation((c: string, k: string) => {
    if (ours(c)) calls.push(['delete', c, k]);
    return del(c, k);
  });
  return {
    calls,
    stop: () => {
      putSpy.mockRestore();
      delSpy.mockRestore();
    },
  };
}

async function putGroup(sandbox: AzureSandbox, agent: Agent, name: string): Promise<void> {
  const path = `/subscriptions/${sandbox.subscriptionId}/resourcegroups/${name}?api-version=2021-04-01`;
  await fetchJson(sandbox, agent, sandbox.admin.objectId, 'PUT', path, { location: 'westeurope' });
}

function vaultParams(sandbox: AzureSandbox): VaultCreateOrUpdateParameters {
  return {
    location: 'westeurope',
    properties: {
      tenantId: sandbox.tenantId,
      sku: { family: 'A', name: 'standard' },
      accessPolicies: [
        { tenantId: sandbox.tenantId, objectId: sandbox.admin.objectId, permissions: { keys: ['all'] } },
      ],
    },
  };
}

it('keeps one store record per vault and writes only the record of the vault that changed', async () => {
  const clock = new VirtualClock(Date.UTC(2026, 0, 1));
  const sandbox = await startAzureSandbox({ clock, lroRetryAfterSeconds: 0 });
  const c = clientsFor(sandbox);
  try {
    const sub = sandbox.subscriptionId;
    await putGroup(sandbox, c.agent, 'rg-rec');
    const arm = new KeyVaultManagementClient(c.credential, sub, { endpoint: sandbox.url, agent: c.agent });
    const a = await arm.vaults.createOrUpdate('rg-rec', 'kv-rec-a', vaultParams(sandbox), {
      updateIntervalInMs: 0,
    });
    const b = await arm.vaults.createOrUpdate('rg-rec', 'kv-rec-b', vaultParams(sandbox), {
      updateIntervalInMs: 0,
    });
    await clock.settle();
    const idA = (a.id ?? '').toLowerCase();
    const idB = (b.id ?? '').toLowerCase();
    expect(sandbox.core.store.entries(VAULTS).map(([k]) => k)).toEqual([idA, idB]);

    const watch = watchKeyVaultRecords(sandbox);
    const keysA = new KeyClient(sandbox.vaultUri('kv-rec-a'), c.credential, { agent: c.agent });
    const key = await keysA.createRsaKey('cmk');
    // A change to vault A: A's record only, written once.
    expect(watch.calls).toEqual([['put', VAULTS, idA]]);
    const stored = sandbox.core.store.get<StoredVault>(VAULTS, idA);
    expect(stored?.keys.map((k) => [k.name, k.versions.map((v) => v.version)])).toEqual([
      ['cmk', [key.properties.version]],
    ]);
    expect(stored?.keys[0]?.versions[0]?.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);

    // A read writes nothing; deleting vault B moves B's record to the deleted vaults, A untouched.
    watch.calls.length = 0;
    await keysA.getKey('cmk');
    await arm.vaults.delete('rg-rec', 'kv-rec-b');
    const deletedB = `/subscriptions/${sub}/providers/microsoft.keyvault/locations/westeurope/deletedvaults/kv-rec-b`;
    expect(watch.calls).toEqual([
      ['delete', VAULTS, idB],
      ['put', DELETED_VAULTS, deletedB],
    ]);
    watch.stop();
    expect(sandbox.core.store.entries(DELETED_VAULTS).map(([k]) => k)).toEqual([deletedB]);
  } finally {
    c.agent.destroy();
    await sandbox.close();
  }
});

it('keeps the vaults of a deleted resource group as deleted vaults across a restart', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'kv-persist-rg-'));
  const start = Date.UTC(2026, 0, 1);
  const firstClock = new VirtualClock(start);
  const first = await startAzureSandbox({
    clock: firstClock,
    stateDir,
    snapshotFile: 'estate.json',
    lroRetryAfterSeconds: 0,
  });
  const a = clientsFor(first);
  const sub = first.subscriptionId;
  await putGroup(first, a.agent, 'rg-gone');
  const arm = new KeyVaultManagementClient(a.credential, sub, { endpoint: first.url, agent: a.agent });
  const vault = await arm.vaults.createOrUpdate('rg-gone', 'kv-rg-restart', vaultParams(first), {
    updateIntervalInMs: 0,
  });
  const key = await new KeyClient(first.vaultUri('kv-rg-restart'), a.credential, {
    agent: a.agent,
  }).createRsaKey('cmk');
  const rgPath = `/subscriptions/${sub}/resourcegroups/rg-gone?api-version=2021-04-01`;
  const deletion = await fetchJson(first, a.agent, first.admin.objectId, 'DELETE', rgPath);
  expect(deletion.status).toBe(202);
  // The client polls the deletion to its end, as the SDK's poller does.
  const poll = await fetchJson(
    first,
    a.agent,
    first.admin.objectId,
    'GET',
    String(deletion.headers.location),
  );
  expect(poll.status).toBe(204);
  await firstClock.settle();
  // No read of the vault before the stop: the store alone must say what became of it.
  a.agent.destroy();
  await first.close();

  const second = await startAzureSandbox({
    clock: new VirtualClock(start + DAY),
    stateDir,
    snapshotFile: 'estate.json',
    lroRetryAfterSeconds: 0,
  });
  const b = clientsFor(second);
  try {
    const deletedId = `/subscriptions/${sub}/providers/microsoft.keyvault/locations/westeurope/deletedvaults/kv-rg-restart`;
    expect(second.core.store.entries(VAULTS).map(([k]) => k)).toEqual([]);
    expect(second.core.store.entries(DELETED_VAULTS).map(([k]) => k)).toEqual([deletedId]);
    const arm2 = new KeyVaultManagementClient(b.credential, sub, { endpoint: second.url, agent: b.agent });
    expect((await arm2.vaults.getDeleted('kv-rg-restart', 'westeurope')).properties?.vaultId).toBe(vault.id);
    // Recovering needs the group again; the keys come back with it.
    await putGroup(second, b.agent, 'rg-gone');
    await arm2.vaults.createOrUpdate(
      'rg-gone',
      'kv-rg-restart',
      { ...vaultParams(second), properties: { ...vaultParams(second).properties, createMode: 'recover' } },
      { updateIntervalInMs: 0 },
    );
    const again = await new KeyClient(second.vaultUri('kv-rg-restart'), b.credential, {
      agent: b.agent,
    }).getKey('cmk');
    expect(again.properties.version).toBe(key.properties.version);
  } finally {
    b.agent.destroy();
    await second.close();
  }
});

it('reads a snapshot of the earlier single-record format and rewrites it as per-vault records', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'kv-persist-legacy-'));
  const start = Date.UTC(2026, 0, 1);
  const first = await startAzureSandbox({
    clock: new VirtualClock(start),
    stateDir,
    snapshotFile: 'estate.json',
    lroRetryAfterSeconds: 0,
  });
  const a = clientsFor(first);
  const sub = first.subscriptionId;
  await putGroup(first, a.agent, 'rg-legacy');
  const arm = new KeyVaultManagementClient(a.credential, sub, { endpoint: first.url, agent: a.agent });
  const live = await arm.vaults.createOrUpdate('rg-legacy', 'kv-legacy', vaultParams(first), {
    updateIntervalInMs: 0,
  });
  await arm.vaults.createOrUpdate('rg-legacy', 'kv-legacy-del', vaultParams(first), {
    updateIntervalInMs: 0,
  });
  await arm.vaults.delete('rg-legacy', 'kv-legacy-del');
  const key = await new KeyClient(first.vaultUri('kv-legacy'), a.credential, { agent: a.agent }).createRsaKey(
    'cmk',
  );
  const cek = randomBytes(32);
  const wrapped = await new CryptographyClient(key.id ?? '', a.credential, { agent: a.agent }).wrapKey(
    'RSA-OAEP-256',
    cek,
  );
  // The estate as the earlier format stored it: ONE record `keyvault`/`state` holding every vault,
  // each with the vaultUri of its run; no per-vault collections.
  const provider = first.core.providers.find((p): p is KeyVaultProvider => p instanceof KeyVaultProvider);
  const state = provider?.model.exportState();
  if (!state) throw new Error('no Key Vault provider');
  const withUri = (v: StoredVault): StoredVault => ({
    ...v,
    properties: { ...v.properties, vaultUri: first.vaultUri(v.name) },
  });
  const legacy: StoredState = {
    vaults: state.vaults.map(withUri),
    deletedVaults: state.deletedVaults.map((d) => ({ ...d, vault: withUri(d.vault) })),
  };
  a.agent.destroy();
  await first.close();
  const file = join(stateDir, 'estate.json');
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as Record<
    string,
    Array<{ key: string; value: unknown }>
  >;
  delete snapshot[VAULTS];
  delete snapshot[DELETED_VAULTS];
  snapshot.keyvault = [
    ...(snapshot.keyvault ?? []).filter((e) => e.key !== 'state'),
    { key: 'state', value: legacy },
  ];
  writeFileSync(file, JSON.stringify(snapshot));

  const second = await startAzureSandbox({
    clock: new VirtualClock(start + DAY),
    stateDir,
    snapshotFile: 'estate.json',
    lroRetryAfterSeconds: 0,
  });
  const b = clientsFor(second);
  try {
    const arm2 = new KeyVaultManagementClient(b.credential, sub, { endpoint: second.url, agent: b.agent });
    expect((await arm2.vaults.get('rg-legacy', 'kv-legacy')).properties.vaultUri).toBe(
      second.vaultUri('kv-legacy'),
    );
    expect((await arm2.vaults.getDeleted('kv-legacy-del', 'westeurope')).name).toBe('kv-legacy-del');
    const again = await new KeyClient(second.vaultUri('kv-legacy'), b.credential, { agent: b.agent }).getKey(
      'cmk',
    );
    expect(again.properties.version).toBe(key.properties.version);
    const crypto = new CryptographyClient(again.id ?? '', b.credential, { agent: b.agent });
    expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', wrapped.result)).result).equals(cek)).toBe(
      true,
    );
    // Rewritten at start: per-vault records, the single record gone.
    expect(second.core.store.get('keyvault', 'state')).toBeUndefined();
    expect(second.core.store.entries(VAULTS).map(([k]) => k)).toEqual([(live.id ?? '').toLowerCase()]);
    expect(second.core.store.entries(DELETED_VAULTS).map(([k]) => k)).toEqual([
      `/subscriptions/${sub}/providers/microsoft.keyvault/locations/westeurope/deletedvaults/kv-legacy-del`,
    ]);
    expect(second.core.store.get<StoredVault>(VAULTS, live.id ?? '')?.properties.vaultUri).toBeUndefined();
  } finally {
    b.agent.destroy();
    await second.close();
  }
});
