import { cmkStateFromEncryption } from '../../src/domain/cmkState';
import { assessKeyImpact, applyKeyChange, type KeyChange } from '../../src/domain/keyImpact';
import type { DiagnoseFacts } from '../../src/domain/preflight';
import { NOW, SUFFIX, SUB, keyFacts, namespaceFacts, vaultFacts } from './domain-fixtures';

const K1 = 'https://kv-prod.vault.azure.net/keys/cmk-1';
const K2 = 'https://kv-dr.vault.azure.net/keys/cmk-2';
const nsId = (name: string): string =>
  `/subscriptions/${SUB}/resourceGroups/rg-cmk/providers/Microsoft.ServiceBus/namespaces/${name}`;

function ns(name: string, keys: string[], geoDr?: { alias: string; partner: string }): DiagnoseFacts {
  const cmk = cmkStateFromEncryption(
    {
      keyVaultProperties: keys.map((k) => ({
        keyName: k.split('/keys/')[1] as string,
        keyVaultUri: `${k.split('/keys/')[0] as string}/`,
      })),
    },
    SUFFIX,
  );
  return {
    namespace: namespaceFacts({
      id: nsId(name),
      name,
      cmk,
      ...(geoDr
        ? { geoDr: { alias: geoDr.alias, role: 'Primary' as const, partnerNamespaceId: nsId(geoDr.partner) } }
        : {}),
    }),
    vaults: [vaultFacts('kv-prod'), vaultFacts('kv-dr')],
    keys: keys.map(() => ({ key: keyFacts(), identityHasAccess: true })),
    principalId: `p-${name}`,
    settings: { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 },
  };
}

// K1 is used by sb-a (alone, Geo-DR paired with sb-a2 which also uses K1 alone) and sb-b (with K2).
const estate = [
  ns('sb-a', [K1], { alias: 'orders', partner: 'sb-a2' }),
  ns('sb-a2', [K1], { alias: 'orders', partner: 'sb-a' }),
  ns('sb-b', [K1, K2]),
  ns('sb-c', [K2]),
];

describe('assessKeyImpact', () => {
  it.each<KeyChange>(['disable', 'delete', 'expire', 'revokeAccess'])(
    '%s K1: sb-a and sb-a2 inoperable, sb-b degraded on K2, sb-c untouched, partners listed',
    (change) => {
      const impact = assessKeyImpact(estate, { versionlessKeyId: K1.toUpperCase() }, change, NOW);
      expect(impact.inoperable.map((i) => [i.namespaceId, i.before, i.after])).toEqual([
        [nsId('sb-a'), 'healthy', 'inoperable'],
        [nsId('sb-a2'), 'healthy', 'inoperable'],
      ]);
      expect(impact.degraded).toEqual([
        { namespaceId: nsId('sb-b'), before: 'healthy', after: 'degraded', remainingKeyIds: [K2] },
      ]);
      expect(impact.geoDrPartners).toEqual([
        {
          namespaceId: nsId('sb-a2'),
          alias: 'orders',
          partnerOf: nsId('sb-a'),
          partnerVerdict: 'inoperable',
        },
        {
          namespaceId: nsId('sb-a'),
          alias: 'orders',
          partnerOf: nsId('sb-a2'),
          partnerVerdict: 'inoperable',
        },
      ]);
    },
  );

  it('a vault target hits every key in it: kv-dr takes down sb-c, degrades sb-b on K1', () => {
    const impact = assessKeyImpact(estate, { vaultName: 'KV-DR' }, 'delete', NOW);
    expect(impact.inoperable.map((i) => i.namespaceId)).toEqual([nsId('sb-c')]);
    expect(impact.degraded.map((i) => [i.namespaceId, i.remainingKeyIds])).toEqual([[nsId('sb-b'), [K1]]]);
    expect(impact.geoDrPartners).toEqual([]);
  });

  it('an identity target revokes that identity on all its keys only', () => {
    const impact = assessKeyImpact(estate, { principalId: 'p-sb-b' }, 'delete', NOW);
    expect(impact.inoperable.map((i) => i.namespaceId)).toEqual([nsId('sb-b')]);
    expect(impact.degraded).toEqual([]);
  });

  it('a key nobody uses affects nothing', () => {
    const impact = assessKeyImpact(
      estate,
      { versionlessKeyId: 'https://kv-prod.vault.azure.net/keys/other' },
      'disable',
      NOW,
    );
    expect(impact).toEqual({ inoperable: [], degraded: [], geoDrPartners: [] });
  });

  it('applyKeyChange changes only the matched key facts and does not mutate its input', () => {
    const b = estate[2] as DiagnoseFacts;
    const { facts, touched } = applyKeyChange(b, { versionlessKeyId: K2 }, 'disable', NOW);
    expect(touched).toBe(true);
    expect(facts.keys.map((k) => k.key?.enabled)).toEqual([true, false]);
    expect(b.keys.map((k) => k.key?.enabled)).toEqual([true, true]);
  });
});
