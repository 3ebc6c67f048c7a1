import { cmkStateFromEncryption } from '../../src/domain/cmkState';
import { namespaceHealth } from '../../src/domain/health';
import {
  assembleDiagnoseFacts,
  keyMaterialRequest,
  updateObservations,
  type KeyMaterial,
} from '../../src/domain/keyMaterial';
import type { ListedNamespace } from '../../src/domain/keyIndex';
import { evaluateDiagnosis } from '../../src/domain/preflight';
import { keyReferenceKey } from '../../src/domain/resourceIds';
import { NOW, RG, SUB, SUFFIX, UAI_ID, keyFacts, vaultFacts, vaultId } from './domain-fixtures';

const nsId = (n: string) =>
  `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/${n}`;
const KV = `https://kv-prod.${SUFFIX}/`;
function ns(name: string, extra: Partial<ListedNamespace> = {}, uai?: string): ListedNamespace {
  return {
    id: nsId(name),
    name,
    subscriptionId: SUB,
    resourceGroup: RG,
    skuTier: 'Premium',
    identity: { systemAssigned: { principalId: `p-${name}` }, userAssigned: [] },
    cmk: cmkStateFromEncryption(
      {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: [
          { keyName: 'cmk', keyVaultUri: KV, ...(uai ? { userAssignedIdentity: uai } : {}) },
        ],
      },
      SUFFIX,
    ),
    ...extra,
  };
}
const ref = { vaultUri: KV, keyName: 'cmk' };
const KID = keyReferenceKey(ref);

function material(over: Partial<KeyMaterial> = {}): KeyMaterial {
  return {
    vaults: {
      'kv-prod': {
        facts: vaultFacts('kv-prod'),
        accessPolicies: [
          { objectId: 'p-sb-a', keys: ['get', 'wrapKey', 'unwrapKey'] },
          { objectId: 'p-uai', keys: ['all'] },
        ],
      },
    },
    keys: { [KID]: keyFacts() },
    identities: {},
    partners: {},
    calls: 0,
    callsByOperation: {},
    ...over,
  };
}

describe('key material (pure)', () => {
  it('asks for each key once, partners only when not assessed themselves, identities only without a principal', () => {
    const a = ns('sb-a', { geoDr: { alias: 'al', role: 'Primary', partnerNamespaceId: nsId('sb-b') } });
    const b = ns('sb-b', { geoDr: { alias: 'al', role: 'Secondary', partnerNamespaceId: nsId('sb-a') } });
    const c = ns('sb-c', { geoDr: { alias: 'al2', role: 'Primary', partnerNamespaceId: nsId('sb-far') } });
    const u = ns('sb-u', { identity: { userAssigned: [{ resourceId: UAI_ID }] } }, UAI_ID);
    const req = keyMaterialRequest([a, b, c, u]);
    expect(req.keys.map(keyReferenceKey)).toEqual([KID]);
    expect(req.subscriptionIds).toEqual([SUB]);
    expect(req.partnerNamespaceIds).toEqual([nsId('sb-far')]);
    expect(Object.keys(req.knownPartners)).toEqual([nsId('sb-b').toLowerCase()]);
    expect(req.userAssignedIdentityIds).toEqual([UAI_ID]);
  });

  it('assembles access per model and the partner access of a primary (CMK-012)', () => {
    const a = ns('sb-a', { geoDr: { alias: 'al', role: 'Primary', partnerNamespaceId: nsId('sb-b') } });
    const m = material({
      partners: {
        [nsId('sb-b').toLowerCase()]: {
          status: 'found',
          identity: { systemAssigned: { principalId: 'p-sb-b' }, userAssigned: [] },
        },
      },
    });
    const facts = assembleDiagnoseFacts(a, m, { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 });
    expect(facts.keys).toEqual([{ key: keyFacts(), identityHasAccess: true }]);
    expect(facts.geoDrPartner).toEqual({
      namespaceId: nsId('sb-b'),
      principalId: 'p-sb-b',
      keys: [{ identityHasAccess: false }],
    });
    expect(evaluateDiagnosis(facts, NOW).findings.map((f) => f.ruleId)).toContain('CMK-012');
    // RBAC vault: the one vault-scope list decides, including a key-scope grant.
    const rbac = material({
      vaults: {
        'kv-prod': {
          facts: vaultFacts('kv-prod', { permissionModel: 'rbac' }),
          accessPolicies: [],
          roleAssignments: [
            {
              principalId: 'p-sb-a',
              roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6`,
              scope: `${vaultId('kv-prod')}/keys/cmk`,
            },
          ],
        },
      },
    });
    expect(
      assembleDiagnoseFacts(ns('sb-a'), rbac, { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 }).keys[0]
        ?.identityHasAccess,
    ).toBe(true);
    expect(
      assembleDiagnoseFacts(ns('sb-z'), rbac, { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 }).keys[0]
        ?.identityHasAccess,
    ).toBe(false);
    // A refused list: unknown, not denied.
    const refused = material({
      vaults: {
        'kv-prod': {
          facts: vaultFacts('kv-prod', { permissionModel: 'rbac' }),
          accessPolicies: [],
          roleAssignmentsRefused: '403',
        },
      },
    });
    expect(
      assembleDiagnoseFacts(ns('sb-a'), refused, { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 })
        .keys[0],
    ).toEqual({ key: keyFacts() });
  });

  it('observations: present resets, first miss starts goneSince (or the audit hint), later misses keep it', () => {
    const t0 = new Date('2026-06-01T00:00:00Z');
    const t1 = new Date('2026-06-01T00:05:00Z');
    const t2 = new Date('2026-06-01T00:10:00Z');
    const seen = updateObservations({}, { keys: { [KID]: keyFacts() } }, t0);
    expect(seen).toEqual({ [KID]: { lastPresentAt: t0.toISOString() } });
    const missed = updateObservations(seen, { keys: { [KID]: { status: 'notFound' } } }, t1, {
      [KID]: '2026-06-01T00:03:00.000Z',
    });
    expect(missed).toEqual({
      [KID]: { lastPresentAt: t0.toISOString(), goneSince: '2026-06-01T00:03:00.000Z' },
    });
    expect(updateObservations(missed, { keys: { [KID]: { status: 'notFound' } } }, t2)).toEqual(missed);
    // An unreadable key says nothing about presence.
    expect(updateObservations(missed, { keys: { [KID]: { status: 'forbidden' } } }, t2)).toEqual(missed);
  });

  it('NamespaceHealth carries the cache deadline and the soonest usable expiry', () => {
    const facts = assembleDiagnoseFacts(
      ns('sb-a'),
      material({ keys: { [KID]: { status: 'notFound' } } }),
      { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30, deletedKeyCacheMinutes: 30 },
      { [KID]: { lastPresentAt: '2026-05-31T23:55:00.000Z', goneSince: '2026-05-31T23:50:00.000Z' } },
    );
    const h = namespaceHealth(evaluateDiagnosis(facts, NOW), 'westeurope');
    expect(h).toMatchObject({
      namespaceId: nsId('sb-a'),
      location: 'westeurope',
      verdict: 'inoperable',
      ruleIds: ['CMK-010'],
      usableKeyIds: [],
      keyIds: [`${KV}keys/cmk`],
      inoperableWithinMinutes: 20,
    });
    const healthy = namespaceHealth(
      evaluateDiagnosis(assembleDiagnoseFacts(ns('sb-a'), material(), facts.settings), NOW),
    );
    expect(healthy.daysToExpiry).toBe(365);
    expect(healthy.inoperableWithinMinutes).toBeUndefined();
  });
});
