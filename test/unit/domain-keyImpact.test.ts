import { cmkStateFromEncryption } from '../../src/domain/cmkState';
import { buildKeyIndex } from '../../src/domain/keyIndex';
import {
  applyKeyChange,
  impactNamespaces,
  predictKeyImpact,
  currentVersionsOf,
  type ImpactTarget,
  type KeyChange,
} from '../../src/domain/keyImpact';
import type { DiagnoseFacts } from '../../src/domain/preflight';
import { NOW, SUFFIX, SUB, UAI_ID, V1, keyFacts, namespaceFacts, vaultFacts } from './domain-fixtures';

const K1 = 'https://kv-prod.vault.azure.net/keys/cmk-1';
const K2 = 'https://kv-dr.vault.azure.net/keys/cmk-2';
const V2 = 'fedcba9876543210fedcba9876543210';
const nsId = (name: string): string =>
  `/subscriptions/${SUB}/resourceGroups/rg-cmk/providers/Microsoft.ServiceBus/namespaces/${name}`;
const key1 = (version?: string): ImpactTarget['key'] => ({
  vaultName: 'kv-prod',
  keyName: 'cmk-1',
  versionlessKeyId: K1,
  ...(version ? { keyVersion: version } : {}),
});

function ns(
  name: string,
  keys: string[],
  options: { geoDr?: { alias: string; partner: string }; uai?: string; current?: string } = {},
): DiagnoseFacts {
  const cmk = cmkStateFromEncryption(
    {
      keyVaultProperties: keys.map((k) => {
        const [vault, rest] = k.split('/keys/') as [string, string];
        const [keyName, keyVersion] = rest.split('/') as [string, string | undefined];
        return {
          keyName,
          keyVaultUri: `${vault}/`,
          ...(keyVersion ? { keyVersion } : {}),
          ...(options.uai ? { userAssignedIdentity: options.uai } : {}),
        };
      }),
    },
    SUFFIX,
  );
  const principalId = `00000000-0000-4000-8000-${name
    .replace(/[^a-z0-9]/g, '')
    .padStart(12, '0')
    .slice(-12)}`;
  return {
    namespace: namespaceFacts({
      id: nsId(name),
      name,
      cmk,
      identity: options.uai
        ? { userAssigned: [{ resourceId: options.uai, principalId }] }
        : { systemAssigned: { principalId }, userAssigned: [] },
      ...(options.geoDr
        ? {
            geoDr: {
              alias: options.geoDr.alias,
              role: 'Primary' as const,
              partnerNamespaceId: nsId(options.geoDr.partner),
            },
          }
        : {}),
    }),
    vaults: [vaultFacts('kv-prod'), vaultFacts('kv-dr')],
    keys: keys.map((k) => ({
      // A versionless reference reads the current version (V2 for K1 unless told); a pinned one its own.
      key: keyFacts({ currentVersion: k.split('/')[5] ?? options.current ?? V2 }),
      identityHasAccess: true,
    })),
    principalId: `00000000-0000-4000-8000-${name
      .replace(/[^a-z0-9]/g, '')
      .padStart(12, '0')
      .slice(-12)}`,
    settings: { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 },
  };
}

// K1 is used by sb-a (alone, Geo-DR paired with sb-a2 which also uses K1 alone) and sb-b (with K2).
const estate = [
  ns('sb-a', [K1], { geoDr: { alias: 'orders', partner: 'sb-a2' } }),
  ns('sb-a2', [K1], { geoDr: { alias: 'orders', partner: 'sb-a' } }),
  ns('sb-b', [K1, K2]),
  ns('sb-c', [K2]),
];

describe('predictKeyImpact', () => {
  it.each<KeyChange>(['disable', 'delete', 'expire', 'revokeAccess'])(
    '%s K1: sb-a and sb-a2 inoperable, sb-b degraded on K2, sb-c untouched, partners listed',
    (change) => {
      const impact = predictKeyImpact(
        estate,
        { key: { ...key1()!, versionlessKeyId: K1.toUpperCase() } },
        change,
        NOW,
      );
      expect(impact.inoperable.map((i) => [i.namespaceId, i.before, i.after, i.ruleIds])).toEqual([
        [nsId('sb-a'), 'healthy', 'inoperable', ['CMK-010']],
        [nsId('sb-a2'), 'healthy', 'inoperable', ['CMK-010']],
      ]);
      expect(impact.degraded).toEqual([
        {
          namespaceId: nsId('sb-b'),
          before: 'healthy',
          after: 'degraded',
          ruleIds: ['CMK-011'],
          affectedKeyIds: [K1],
          remainingKeyIds: [K2],
        },
      ]);
      expect(impact.undetermined).toEqual([]);
      expect(impact.unaffected).toEqual([]);
      expect(impact.assumptions).toEqual([]);
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
    const impact = predictKeyImpact(estate, { vaultName: 'KV-DR' }, 'delete', NOW);
    expect(impact.inoperable.map((i) => i.namespaceId)).toEqual([nsId('sb-c')]);
    expect(impact.degraded.map((i) => [i.namespaceId, i.remainingKeyIds])).toEqual([[nsId('sb-b'), [K1]]]);
    expect(impact.geoDrPartners).toEqual([]);
  });

  it('an identity target revokes that identity on all its keys only, whatever the change', () => {
    const principalId = estate[2]!.principalId!;
    const impact = predictKeyImpact(
      estate,
      { identity: { principalId: principalId.toUpperCase() } },
      'delete',
      NOW,
    );
    expect(impact.inoperable.map((i) => [i.namespaceId, i.affectedKeyIds])).toEqual([
      [nsId('sb-b'), [K1, K2]],
    ]);
    expect(impact.degraded).toEqual([]);
  });

  it('identity + vault = that identity loses access on that vault only (an access policy removed)', () => {
    const principalId = estate[2]!.principalId!;
    const impact = predictKeyImpact(
      estate,
      { identity: { principalId }, vaultName: 'kv-dr' },
      'revokeAccess',
      NOW,
    );
    expect(impact.inoperable).toEqual([]);
    expect(impact.degraded.map((i) => [i.namespaceId, i.affectedKeyIds, i.remainingKeyIds])).toEqual([
      [nsId('sb-b'), [K2], [K1]],
    ]);
  });

  it('a user-assigned identity is matched by its resource id, case-insensitively', () => {
    const withUai = [...estate, ns('sb-u', [K2], { uai: UAI_ID })];
    const impact = predictKeyImpact(
      withUai,
      { identity: { resourceId: UAI_ID.toUpperCase() } },
      'revokeAccess',
      NOW,
    );
    expect(impact.inoperable.map((i) => i.namespaceId)).toEqual([nsId('sb-u')]);
  });

  it('disabling the current version spares a namespace pinned to an older one; disabling that version hits only it', () => {
    const pinned = [...estate, ns('sb-p', [`${K1}/${V1}`])];
    const current = predictKeyImpact(pinned, { key: key1() }, 'disable', NOW);
    expect(current.inoperable.map((i) => i.namespaceId)).toEqual([nsId('sb-a'), nsId('sb-a2')]);
    expect(current.degraded.map((i) => i.namespaceId)).toEqual([nsId('sb-b')]);

    const old = predictKeyImpact(pinned, { key: key1(V1) }, 'disable', NOW);
    expect(old.inoperable.map((i) => [i.namespaceId, i.affectedKeyIds])).toEqual([
      [nsId('sb-p'), [`${K1}/${V1}`]],
    ]);
    expect(old.degraded).toEqual([]);

    // Deleting removes every version: the pinned namespace goes too.
    const deleted = predictKeyImpact(pinned, { key: key1() }, 'delete', NOW);
    // Service Bus may serve from its cached copy for DELETED_KEY_CACHE_MINUTES (default 60) after the delete.
    expect(deleted.inoperable.map((i) => i.inoperableWithinMinutes)).toEqual([60, 60, 60]);
    expect(current.inoperable.map((i) => i.inoperableWithinMinutes)).toEqual([undefined, undefined]);
    expect(deleted.inoperable.map((i) => i.namespaceId)).toEqual([nsId('sb-a'), nsId('sb-a2'), nsId('sb-p')]);
  });

  it('a pinned-only key with no known current version is assumed hit, and says so', () => {
    const only = [ns('sb-p', [`${K1}/${V1}`])];
    const impact = predictKeyImpact(only, { key: key1() }, 'expire', NOW, new Map());
    expect(impact.inoperable.map((i) => i.namespaceId)).toEqual([nsId('sb-p')]);
    expect(impact.assumptions).toEqual([
      `the current version of ${K1} is unknown; assumed to be the pinned ${V1}`,
    ]);
  });

  it('a partner outside the index is reported as notIndexed', () => {
    const impact = predictKeyImpact([estate[0]!], { key: key1() }, 'delete', NOW);
    expect(impact.geoDrPartners).toEqual([
      { namespaceId: nsId('sb-a2'), alias: 'orders', partnerOf: nsId('sb-a'), partnerVerdict: 'notIndexed' },
    ]);
  });

  it('a key nobody uses affects nothing', () => {
    const impact = predictKeyImpact(
      estate,
      {
        key: {
          vaultName: 'kv-prod',
          keyName: 'other',
          versionlessKeyId: 'https://kv-prod.vault.azure.net/keys/other',
        },
      },
      'disable',
      NOW,
    );
    expect(impact).toEqual({
      change: 'disable',
      inoperable: [],
      degraded: [],
      undetermined: [],
      unaffected: [],
      geoDrPartners: [],
      assumptions: [],
    });
  });

  it('currentVersionsOf takes versions from versionless references only', () => {
    const map = currentVersionsOf([ns('sb-p', [`${K1}/${V1}`]), ns('sb-c', [K2], { current: V1 })]);
    expect([...map]).toEqual([[K2.toLowerCase(), V1]]);
  });

  it('applyKeyChange changes only the matched key facts and does not mutate its input', () => {
    const b = estate[2]!;
    const { facts, affectedKeyIds } = applyKeyChange(
      b,
      { key: { vaultName: 'kv-dr', keyName: 'cmk-2', versionlessKeyId: K2 } },
      'disable',
      NOW,
    );
    expect(affectedKeyIds).toEqual([K2]);
    expect(facts.keys.map((k) => k.key?.enabled)).toEqual([true, false]);
    expect(b.keys.map((k) => k.key?.enabled)).toEqual([true, true]);
  });
});

describe('impactNamespaces', () => {
  const withUai = [...estate, ns('sb-u', [K2], { uai: UAI_ID })];
  const index = buildKeyIndex(
    [{ subscriptionId: SUB, status: 'listed', namespaces: withUai.map((f) => f.namespace) }],
    NOW.toISOString(),
  );
  const ids = (r: ReturnType<typeof impactNamespaces>) => [
    r.named.map((n) => n.name),
    r.partners.map((n) => n.name),
  ];

  it('a key names its users, and their indexed Geo-DR partners are read too', () => {
    expect(ids(impactNamespaces(index, { key: key1() }))).toEqual([['sb-a', 'sb-a2', 'sb-b'], []]);
    const onlyA = buildKeyIndex(
      [
        {
          subscriptionId: SUB,
          status: 'listed',
          namespaces: [estate[0]!.namespace, ns('sb-a2', [K2]).namespace],
        },
      ],
      NOW.toISOString(),
    );
    expect(ids(impactNamespaces(onlyA, { key: key1() }))).toEqual([['sb-a'], ['sb-a2']]);
  });

  it('a vault names every namespace with a key in it; an identity narrows to its namespaces', () => {
    expect(ids(impactNamespaces(index, { vaultName: 'KV-DR' }))).toEqual([['sb-b', 'sb-c', 'sb-u'], []]);
    expect(ids(impactNamespaces(index, { vaultName: 'kv-dr', identity: { resourceId: UAI_ID } }))).toEqual([
      ['sb-u'],
      [],
    ]);
    expect(ids(impactNamespaces(index, { identity: { principalId: estate[2]!.principalId! } }))).toEqual([
      ['sb-b'],
      [],
    ]);
  });
});

describe('a namespace whose vault the app may not read', () => {
  it('is undetermined, and says what could not be read and which role to grant', () => {
    const facts = ns('sb-unread', [K1]);
    const unread: DiagnoseFacts = {
      ...facts,
      vaults: [
        vaultFacts('kv-prod', {
          status: 'forbidden',
          detail: '403 AuthorizationFailed: no Microsoft.KeyVault/vaults/read',
        }),
        vaultFacts('kv-dr'),
      ],
      keys: [{ key: { status: 'notFound' }, identityHasAccess: undefined }],
    };
    const impact = predictKeyImpact([unread], { key: key1() }, 'disable', NOW);
    expect(impact.undetermined.map((i) => [i.before, i.after, i.couldNotRead])).toEqual([
      [
        'unknown',
        'unknown',
        [
          `Key vault kv-prod could not be read: the app's identity is not allowed to read it (403 AuthorizationFailed: no Microsoft.KeyVault/vaults/read). Give the app's identity Reader on the vault or its subscription (the app reads vaults and key metadata through Resource Manager): az role assignment create --assignee <app-principal-id> --role Reader --scope /subscriptions/${SUB}/resourceGroups/rg-cmk/providers/Microsoft.KeyVault/vaults/kv-prod`,
        ],
      ],
    ]);
    // A namespace with a verdict carries no such list.
    expect(predictKeyImpact([ns('sb-read', [K1])], { key: key1() }, 'disable', NOW).inoperable).toEqual([
      expect.not.objectContaining({ couldNotRead: expect.anything() as unknown }),
    ]);
  });
});
