/**
 * The shared guardian activities (src/orchestrations/assess.ts) as plain functions, with the REAL SDK
 * clients against the sandbox and its storage account (Azurite): the refresh builds and stores the
 * index from one list per subscription; an assessment by key reads only that key's vault and key; a
 * deleted key is "inoperable within ≤ N min" exactly while the sandbox's Service Bus still serves from
 * its cache, and plain inoperable once it stopped — the app's bound holds against the service model.
 */
import { KeyIndexStore } from '../../src/azure/keyIndexStore';
import type { NamespaceHealth } from '../../src/domain';
import { assessNamespaces, refreshKeyIndex } from '../../src/orchestrations/assess';
import { SandboxAzureClients } from './app-clients-support';
import { MINUTE, SbHarness } from './servicebus-support';

const CACHE_MINUTES = 60; // the sandbox's and the app's default DELETED_KEY_CACHE_MINUTES
let h: SbHarness;
let clients: SandboxAzureClients;
const at = () => new Date(h.clock.now()).toISOString();

beforeAll(async () => {
  h = await SbHarness.start({ storage: true });
  const app = h.sandbox.app.objectId;
  h.sandbox.control.assignRole({
    principalId: app,
    role: 'Reader',
    scope: `/subscriptions/${h.sandbox.subscriptionId}`,
  });
  clients = new SandboxAzureClients(h.sandbox, app, {
    AzureWebJobsStorage: h.sandbox.storage!.connectionString,
    SWEEP_SUBSCRIPTIONS: h.sandbox.subscriptionId,
  });
  await h.vault('kv-guard');
  await h.vault('kv-other');
  await h.keys('kv-guard').createRsaKey('doomed', { keySize: 2048 });
  await h.keys('kv-other').createRsaKey('spare', { keySize: 2048 });
  for (const [name, keys] of [
    ['sb-guard-1', [['kv-guard', 'doomed']]],
    ['sb-guard-2', [['kv-guard', 'doomed']]],
    [
      'sb-guard-3',
      [
        ['kv-guard', 'doomed'],
        ['kv-other', 'spare'],
      ],
    ],
    ['sb-guard-4', [['kv-other', 'spare']]],
  ] as const) {
    const ns = await h.namespace(name, { identity: { type: 'SystemAssigned' } });
    for (const [vault] of keys) await h.grant(vault, ns.identity!.principalId!);
    await h.sb.namespaces.update(h.rg, name, {
      encryption: {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: keys.map(([vault, key]) => ({
          keyName: key,
          keyVaultUri: h.sandbox.vaultUri(vault),
        })),
      },
    });
  }
  await h.namespace('sb-guard-plain');
});
afterAll(async () => h?.close());

const appArm = (since: number) =>
  h.sandbox.control
    .requests({ sinceSeq: since, principal: h.sandbox.app.objectId })
    .filter((e) => e.service === 'arm');

describe('guardian activities', () => {
  it('refresh: one list per subscription (+ alias list per CMK namespace), stored whole', async () => {
    const mark = h.sandbox.control.mark();
    const out = await refreshKeyIndex(clients, { reason: 'test', at: at() });
    expect(out).toMatchObject({ namespaces: 4, saved: true, builtAt: at() });
    expect(out.subscriptions).toEqual([{ subscriptionId: h.sandbox.subscriptionId, status: 'listed' }]);
    // 1 namespace list page (5 namespaces < the default page size) + 4 alias lists: nothing else.
    expect(appArm(mark)).toHaveLength(1 + 4);
    expect(out.calls).toBe(1 + 4);
    const stored = await new KeyIndexStore(clients).load();
    expect(stored?.namespaces.map((n) => n.name)).toEqual([
      'sb-guard-1',
      'sb-guard-2',
      'sb-guard-3',
      'sb-guard-4',
    ]);
  });

  it('assess by key: only that key read, every namespace that lists it judged; a deleted key is inoperable within ≤ N min while the service still serves from cache', async () => {
    const byKey = { selector: { keys: [{ vaultName: 'kv-guard', keyName: 'DOOMED' }] }, reason: 'test' };
    let mark = h.sandbox.control.mark();
    const healthy = await assessNamespaces(clients, { ...byKey, at: at() }, { publish: false });
    expect(healthy.assessed.map((a) => [a.namespaceId.split('/').pop(), a.verdict])).toEqual([
      ['sb-guard-1', 'healthy'],
      ['sb-guard-2', 'healthy'],
      ['sb-guard-3', 'healthy'],
    ]);
    // One vault list (both vaults in the subscription, one page) + the two distinct keys of those namespaces.
    expect(appArm(mark)).toHaveLength(1 + 2);
    expect(healthy.calls).toBe(3);

    // Let the service poll once with the key present, then delete it.
    await h.minutes(6);
    await (await h.keys('kv-guard').beginDeleteKey('doomed', { intervalInMs: 0 })).pollUntilDone();
    const deletedAt = h.clock.now();
    await h.minutes(1);
    const first = await assessNamespaces(clients, { ...byKey, at: at() }, { publish: false });
    const byName = (o: { assessed: NamespaceHealth[] }): Record<string, NamespaceHealth | undefined> =>
      Object.fromEntries(o.assessed.map((a) => [a.namespaceId.split('/').pop() ?? '', a]));
    let v = byName(first);
    // First read that misses the key: the window runs from now (the app cannot know the deletion time).
    expect(v['sb-guard-1']).toMatchObject({
      verdict: 'inoperable',
      ruleIds: ['CMK-010'],
      inoperableWithinMinutes: CACHE_MINUTES,
    });
    expect(v['sb-guard-2']?.inoperableWithinMinutes).toBe(CACHE_MINUTES);
    expect(v['sb-guard-3']).toMatchObject({ verdict: 'degraded', ruleIds: ['CMK-011'] });
    expect(v['sb-guard-3']?.inoperableWithinMinutes).toBeUndefined();
    // …and Service Bus indeed still serves sb-guard-1 from its cache.
    expect(await h.operable('sb-guard-1')).toBe(true);

    // 40 minutes later the bound has shrunk by 40 (goneSince was kept), the service still serves.
    await h.minutes(40);
    v = byName(await assessNamespaces(clients, { ...byKey, at: at() }, { publish: false }));
    expect(v['sb-guard-1']?.inoperableWithinMinutes).toBe(CACHE_MINUTES - 40);
    expect(await h.operable('sb-guard-1')).toBe(true);

    // Past the bound: the service has stopped, and the app says plain inoperable (no window).
    await h.minutes(CACHE_MINUTES - 40 + 1);
    expect(h.clock.now() - deletedAt).toBeGreaterThan(CACHE_MINUTES * MINUTE);
    expect(await h.operable('sb-guard-1')).toBe(false);
    mark = h.sandbox.control.mark();
    const after = await assessNamespaces(clients, { ...byKey, at: at() }, { publish: false });
    v = byName(after);
    expect(v['sb-guard-1']).toMatchObject({ verdict: 'inoperable', ruleIds: ['CMK-010'] });
    expect(v['sb-guard-1']?.inoperableWithinMinutes).toBeUndefined();
    expect(appArm(mark)).toHaveLength(after.calls);
  });

  it('an audit alert deletion time starts the window at the deletion, and a recovered key clears it', async () => {
    const keys = h.keys('kv-other');
    await (await keys.beginDeleteKey('spare', { intervalInMs: 0 })).pollUntilDone();
    const goneAt = new Date(h.clock.now() - 10 * MINUTE).toISOString(); // the log says: 10 min ago
    const out = await assessNamespaces(
      clients,
      {
        selector: { namespaceIds: [h.nsId('sb-guard-4')] },
        reason: 'audit alert',
        at: at(),
        goneKeys: [{ vaultName: 'kv-other', keyName: 'spare', goneAt }],
      },
      { publish: false },
    );
    expect(out.assessed).toEqual([
      expect.objectContaining({ verdict: 'inoperable', inoperableWithinMinutes: CACHE_MINUTES - 10 }),
    ]);
    await (await keys.beginRecoverDeletedKey('spare', { intervalInMs: 0 })).pollUntilDone();
    const recovered = await assessNamespaces(
      clients,
      { selector: { namespaceIds: [h.nsId('sb-guard-4')] }, reason: 'recovered', at: at() },
      { publish: false },
    );
    expect(recovered.assessed.map((a) => a.verdict)).toEqual(['healthy']);
    expect(
      (await new KeyIndexStore(clients).loadObservations())[
        `kv-other.${h.sandbox.keyVaultDnsSuffix}/keys/spare/`
      ],
    ).toEqual({
      lastPresentAt: at(),
    });
  });

  it("CMK-012: the Geo-DR secondary losing access to the primary's key is reported on the primary (one partner read)", async () => {
    await h.vault('kv-geo');
    await h.keys('kv-geo').createRsaKey('geo', { keySize: 2048 });
    const primary = await h.namespace('sb-geo-p', { identity: { type: 'SystemAssigned' } });
    const secondary = await h.namespace('sb-geo-s', { identity: { type: 'SystemAssigned' } });
    await h.grant('kv-geo', primary.identity!.principalId!);
    await h.grant('kv-geo', secondary.identity!.principalId!);
    await h.sb.namespaces.update(h.rg, 'sb-geo-p', {
      encryption: {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: [{ keyName: 'geo', keyVaultUri: h.sandbox.vaultUri('kv-geo') }],
      },
    });
    await h.sb.disasterRecoveryConfigs.createOrUpdate(h.rg, 'sb-geo-p', 'sb-geo-alias', {
      partnerNamespace: h.nsId('sb-geo-s'),
    });
    await h.minutes(1);
    await refreshKeyIndex(clients, {
      reason: 'paired',
      subscriptionIds: [h.sandbox.subscriptionId],
      at: at(),
    });
    const indexed = (await new KeyIndexStore(clients).load())?.namespaces.find((n) => n.name === 'sb-geo-p');
    expect(indexed?.geoDr).toEqual({
      alias: 'sb-geo-alias',
      role: 'Primary',
      partnerNamespaceId: h.nsId('sb-geo-s'),
    });
    const secondaryIndexed = (await new KeyIndexStore(clients).load())?.namespaces.some(
      (n) => n.name === 'sb-geo-s',
    );

    // The secondary lists no encryption of its own (Azure does not replicate it): not indexed.
    expect(secondaryIndexed).toBe(false);
    const byVault = { selector: { vaults: ['kv-geo'] }, reason: 'test' };
    const ok = await assessNamespaces(clients, { ...byVault, at: at() }, { publish: false });
    const primaryHealth = (o: typeof ok) => o.assessed.find((a) => a.namespaceId === h.nsId('sb-geo-p'));
    expect(primaryHealth(ok)?.findings.map((f) => f.ruleId)).not.toContain('CMK-012');

    await h.revoke('kv-geo', secondary.identity!.principalId!);
    const mark = h.sandbox.control.mark();
    const lost = await assessNamespaces(clients, { ...byVault, at: at() }, { publish: false });
    const p = primaryHealth(lost);
    expect(p?.verdict).toBe('healthy'); // the primary itself still works: the risk is the failover
    const cmk012 = p?.findings.filter((f) => f.ruleId === 'CMK-012') ?? [];
    expect(cmk012.map((f) => f.command)).toEqual([
      `az keyvault set-policy --name kv-geo --object-id ${secondary.identity!.principalId!} --key-permissions get wrapKey unwrapKey`,
    ]);
    // vault list + key read + one GET of the (unindexed) partner for its identity.
    expect(appArm(mark).filter((e) => /\/namespaces\/sb-geo-s$/i.test(e.path))).toHaveLength(1);
    expect(appArm(mark)).toHaveLength(3);
    expect(lost.calls).toBe(3);
  });
});
