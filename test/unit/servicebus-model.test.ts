/**
 * The Service Bus model's time-derived state, without HTTP: Geo-DR replication progress, the deleted-key
 * cache window and the key-poll cadence on a virtual clock.
 */
import { VirtualClock } from '../../sandbox/clock';
import { SandboxCore, type ResolvedOptions } from '../../sandbox/azure/core';
import { MemoryStore } from '../../sandbox/azure/store';
import {
  ServiceBusModel,
  type AliasRecord,
  type NamespaceRecord,
} from '../../sandbox/azure/servicebus/model';

const MINUTE = 60_000;
const NS = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb-unit';

function setup() {
  const clock = new VirtualClock(Date.UTC(2026, 0, 1));
  const core = new SandboxCore({
    clock,
    store: new MemoryStore(),
    port: 0,
    options: {
      tenantId: 't',
      subscriptions: [],
      defaultLocation: 'westeurope',
      lroDurationMs: 0,
    } as unknown as ResolvedOptions,
  });
  const model = new ServiceBusModel(core, {
    keyPollMinutes: 5,
    deletedKeyCacheMinutes: 60,
    pairingBaseMs: 30_000,
    entitiesPerMinute: 60,
  });
  const ns: NamespaceRecord = {
    id: NS,
    name: 'sb-unit',
    subscriptionId: 's',
    resourceGroup: 'rg',
    location: 'westeurope',
    tags: {},
    sku: { name: 'Premium', tier: 'Premium', capacity: 1 },
    identityType: 'SystemAssigned',
    userAssignedIdentities: [],
    zoneRedundant: false,
    disableLocalAuth: false,
    createdAt: clock.now(),
    readyAt: clock.now(),
    updatedAt: clock.now(),
    updatingUntil: 0,
  };
  return { clock, core, model, ns };
}

it('counts pending replication down at the entity rate after the handshake', async () => {
  const { clock, model } = setup();
  const now = clock.now();
  const alias: AliasRecord = {
    id: `${NS}/disasterRecoveryConfigs/a`,
    name: 'a',
    namespaceId: NS,
    role: 'Primary',
    partnerNamespace: 'x',
    operation: 'pair',
    startedAt: now,
    dueAt: now + model.pairingDuration(120),
    toReplicate: 120,
    settled: false,
  };
  expect(model.pairingDuration(120)).toBe(30_000 + 2 * MINUTE);
  expect(model.pendingReplication(alias)).toBe(120);
  await clock.advanceBy(30_000 + MINUTE);
  expect(model.pendingReplication(alias)).toBe(60);
  expect(model.provisioningStateOf(alias)).toBe('Accepted');
  await clock.advanceBy(MINUTE);
  expect(model.pendingReplication(alias)).toBe(0);
  expect(model.provisioningStateOf(alias)).toBe('Succeeded');
});

it('keeps a deleted key usable until the cache window ends, computed from the clock', async () => {
  const { clock, model, ns } = setup();
  const t0 = clock.now();
  ns.encryption = {
    keySource: 'Microsoft.KeyVault',
    keys: [{ keyName: 'k', keyVaultUri: 'https://kv.vault.sandbox.localhost/' }],
    requireInfrastructureEncryption: false,
    enabledAt: t0,
    keyState: [
      { usable: true, version: 'v1', lastSuccessAt: t0, cachedUntil: t0 + 60 * MINUTE, checkedAt: t0 },
    ],
  };
  expect(model.isOperable(ns)).toBe(true);
  await clock.advanceBy(59 * MINUTE);
  expect(model.isOperable(ns)).toBe(true);
  await clock.advanceBy(MINUTE);
  expect(model.isOperable(ns)).toBe(false);
});

it('polls every keyPollMinutes from when encryption was enabled; a key it cannot reach drops out', async () => {
  const { clock, model, ns } = setup();
  ns.encryption = {
    keySource: 'Microsoft.KeyVault',
    keys: [{ keyName: 'k', keyVaultUri: 'https://kv.vault.sandbox.localhost/' }],
    requireInfrastructureEncryption: false,
    enabledAt: clock.now(),
    keyState: [{ usable: true, version: 'v1', lastSuccessAt: clock.now(), checkedAt: clock.now() }],
  };
  model.putNamespace(ns);
  model.startPolling(ns);
  await clock.advanceBy(4 * MINUTE);
  expect(model.isOperable(model.getNamespace(NS)!)).toBe(true);
  // This core runs no Key Vault provider: the vault is unreachable at the poll.
  await clock.advanceBy(MINUTE);
  const state = model.getNamespace(NS)!.encryption!.keyState[0]!;
  expect(state).toMatchObject({ usable: false, checkedAt: Date.UTC(2026, 0, 1) + 5 * MINUTE });
  expect(clock.pending().filter((p) => p.label.includes('key poll'))).toHaveLength(1);
  model.stopAll();
  expect(clock.pending().filter((p) => p.label.includes('key poll'))).toHaveLength(0);
});
