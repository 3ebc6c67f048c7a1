import { cmkStateFromEncryption, type NamespaceIdentity } from '../../src/domain/cmkState';
import {
  buildKeyIndex,
  distinctKeys,
  distinctVaults,
  geoDrPartnerOf,
  namespacesUsingIdentity,
  namespacesUsingKey,
  namespacesUsingVault,
  selectNamespaces,
  type KeyIndex,
  type ListedNamespace,
} from '../../src/domain/keyIndex';
import { RG, SUFFIX, UAI_ID, V1 } from './domain-fixtures';

const SUB_A = '00000000-0000-0000-0000-00000000000a';
const SUB_B = '00000000-0000-0000-0000-00000000000b';
const nsId = (sub: string, name: string): string =>
  `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/${name}`;
const BUILT = '2026-06-01T00:00:00.000Z';

function ns(
  sub: string,
  name: string,
  keys: { vault: string; key: string; version?: string; uai?: string; host?: string }[],
  identity: NamespaceIdentity = { systemAssigned: { principalId: `p-${name}` }, userAssigned: [] },
): ListedNamespace {
  return {
    id: nsId(sub, name),
    name,
    subscriptionId: sub,
    resourceGroup: RG,
    location: 'westeurope',
    skuTier: 'Premium',
    identity,
    cmk: cmkStateFromEncryption(
      keys.length
        ? {
            keySource: 'Microsoft.KeyVault',
            keyVaultProperties: keys.map((k) => ({
              keyName: k.key,
              keyVaultUri: `https://${k.host ?? `${k.vault}.${SUFFIX}`}/`,
              ...(k.version ? { keyVersion: k.version } : {}),
              ...(k.uai ? { userAssignedIdentity: k.uai } : {}),
            })),
          }
        : undefined,
      SUFFIX,
    ),
  };
}

function estate(): KeyIndex {
  return buildKeyIndex(
    [
      {
        subscriptionId: SUB_A,
        status: 'listed',
        namespaces: [
          ns(SUB_A, 'sb-c', [{ vault: 'kv-one', key: 'cmk' }]),
          ns(SUB_A, 'sb-a', [
            { vault: 'KV-One', key: 'CMK', version: V1 },
            { vault: 'kv-two', key: 'other' },
          ]),
          ns(SUB_A, 'sb-plain', []),
          ns(SUB_A, 'sb-foreign', [{ vault: 'kv-one', key: 'cmk', host: 'kv-one.evil.example' }]),
        ],
      },
      {
        subscriptionId: SUB_B,
        status: 'listed',
        namespaces: [
          ns(SUB_B, 'sb-uai', [{ vault: 'kv-two', key: 'other', uai: UAI_ID }], {
            userAssigned: [{ resourceId: UAI_ID, principalId: 'p-uai' }],
            systemAssigned: { principalId: 'p-sys-unused' },
          }),
        ],
      },
      { subscriptionId: 'sub-denied', status: 'forbidden', detail: '403 AuthorizationFailed' },
    ],
    BUILT,
  );
}

const names = (list: { name: string }[]): string[] => list.map((n) => n.name);

describe('key index (pure)', () => {
  it('keeps only CMK namespaces, sorted by id, and records each subscription status', () => {
    const index = estate();
    expect(index.version).toBe(1);
    expect(index.builtAt).toBe(BUILT);
    expect(names(index.namespaces)).toEqual(['sb-a', 'sb-c', 'sb-foreign', 'sb-uai']);
    expect(index.subscriptions).toEqual([
      { subscriptionId: SUB_A, status: 'listed' },
      { subscriptionId: SUB_B, status: 'listed' },
      { subscriptionId: 'sub-denied', status: 'forbidden', detail: '403 AuthorizationFailed' },
    ]);
    // Entity counts and sku are not index fields.
    expect(Object.keys(index.namespaces[0] as object).sort()).toEqual(
      ['cmk', 'id', 'identity', 'location', 'name', 'resourceGroup', 'skuTier', 'subscriptionId'].sort(),
    );
  });

  it('finds namespaces by key case-insensitively, pinned or not, never through a foreign host', () => {
    const index = estate();
    expect(names(namespacesUsingKey(index, { vaultName: 'kv-ONE', keyName: 'cmk' }))).toEqual([
      'sb-a',
      'sb-c',
    ]);
    expect(names(namespacesUsingKey(index, { vaultName: 'kv-two', keyName: 'OTHER' }))).toEqual([
      'sb-a',
      'sb-uai',
    ]);
    expect(namespacesUsingKey(index, { vaultName: 'kv-two', keyName: 'cmk' })).toEqual([]);
    expect(names(namespacesUsingVault(index, 'KV-TWO'))).toEqual(['sb-a', 'sb-uai']);
    expect(names(namespacesUsingVault(index, 'kv-one'))).toEqual(['sb-a', 'sb-c']);
  });

  it('finds namespaces by their encryption identity only', () => {
    const index = estate();
    expect(names(namespacesUsingIdentity(index, { principalId: 'P-UAI' }))).toEqual(['sb-uai']);
    expect(names(namespacesUsingIdentity(index, { resourceId: UAI_ID.toUpperCase() }))).toEqual(['sb-uai']);
    expect(names(namespacesUsingIdentity(index, { principalId: 'p-sb-c' }))).toEqual(['sb-c']);
    // sb-uai has a system identity too, but it does not unwrap the keys.
    expect(namespacesUsingIdentity(index, { principalId: 'p-sys-unused' })).toEqual([]);
    expect(namespacesUsingIdentity(index, {})).toEqual([]);
  });

  it('lists distinct trusted keys and vaults with their namespaces and pinned versions', () => {
    const index = estate();
    expect(distinctKeys(index)).toEqual([
      {
        vaultName: 'kv-one',
        vaultUri: `https://kv-one.${SUFFIX}/`,
        keyName: 'CMK',
        versionlessKeyId: `https://kv-one.${SUFFIX}/keys/CMK`,
        pinnedVersions: [V1],
        versionless: true,
        namespaceIds: [nsId(SUB_A, 'sb-a'), nsId(SUB_A, 'sb-c')],
      },
      {
        vaultName: 'kv-two',
        vaultUri: `https://kv-two.${SUFFIX}/`,
        keyName: 'other',
        versionlessKeyId: `https://kv-two.${SUFFIX}/keys/other`,
        pinnedVersions: [],
        versionless: true,
        namespaceIds: [nsId(SUB_A, 'sb-a'), nsId(SUB_B, 'sb-uai')],
      },
    ]);
    expect(distinctVaults(index).map((v) => [v.vaultName, v.namespaceIds.length])).toEqual([
      ['kv-one', 2],
      ['kv-two', 2],
    ]);
  });

  it('selects the union of a selector, reporting ids the index does not know', () => {
    const index = estate();
    const picked = selectNamespaces(index, {
      keys: [{ vaultName: 'kv-one', keyName: 'cmk' }],
      identities: [{ principalId: 'p-uai' }],
      namespaceIds: [nsId(SUB_A, 'SB-C'), nsId(SUB_A, 'sb-unknown')],
    });
    expect(names(picked.namespaces)).toEqual(['sb-a', 'sb-c', 'sb-uai']);
    expect(picked.unindexedIds).toEqual([nsId(SUB_A, 'sb-unknown')]);
    expect(selectNamespaces(index, { all: true }).namespaces).toHaveLength(4);
    expect(selectNamespaces(index, {}).namespaces).toEqual([]);
  });

  it('carries a failed subscription over from the previous index instead of dropping it', () => {
    const first = estate();
    const second = buildKeyIndex(
      [
        {
          subscriptionId: SUB_A,
          status: 'listed',
          namespaces: [ns(SUB_A, 'sb-c', [{ vault: 'kv-one', key: 'cmk' }])],
        },
        { subscriptionId: SUB_B, status: 'failed', detail: '503 ServiceUnavailable' },
      ],
      '2026-06-01T01:00:00.000Z',
      first,
    );
    expect(names(second.namespaces)).toEqual(['sb-c', 'sb-uai']);
    expect(second.subscriptions).toEqual([
      { subscriptionId: SUB_A, status: 'listed' },
      { subscriptionId: SUB_B, status: 'failed', detail: '503 ServiceUnavailable', carriedOverFrom: BUILT },
    ]);
    // A second failure still points at the list that actually saw them.
    const third = buildKeyIndex(
      [{ subscriptionId: SUB_B, status: 'failed', detail: '503' }],
      '2026-06-01T02:00:00.000Z',
      second,
    );
    expect(third.subscriptions[0]?.carriedOverFrom).toBe(BUILT);
    expect(names(third.namespaces)).toEqual(['sb-uai']);
  });

  it('a partial refresh re-lists one subscription and keeps the others as they were', () => {
    const first = estate();
    const partial = buildKeyIndex(
      [{ subscriptionId: SUB_B, status: 'listed', namespaces: [] }],
      '2026-06-01T01:00:00.000Z',
      first,
      { keepUnlisted: true },
    );
    expect(names(partial.namespaces)).toEqual(['sb-a', 'sb-c', 'sb-foreign']);
    expect(partial.subscriptions.map((s) => [s.subscriptionId, s.status])).toEqual([
      [SUB_B, 'listed'],
      [SUB_A, 'listed'],
      ['sub-denied', 'forbidden'],
    ]);
  });

  it('keeps a namespace listed twice once and finds a Geo-DR partner only when indexed', () => {
    const primary = {
      ...ns(SUB_A, 'sb-p', [{ vault: 'kv-one', key: 'cmk' }]),
      geoDr: { alias: 'alias1', role: 'Primary' as const, partnerNamespaceId: nsId(SUB_A, 'sb-s') },
    };
    const secondary = {
      ...ns(SUB_A, 'sb-s', [{ vault: 'kv-one', key: 'cmk' }]),
      geoDr: { alias: 'alias1', role: 'Secondary' as const, partnerNamespaceId: nsId(SUB_A, 'sb-p') },
    };
    const index = buildKeyIndex(
      [
        {
          subscriptionId: SUB_A,
          status: 'listed',
          namespaces: [primary, { ...primary, id: primary.id.toUpperCase() }, secondary],
        },
      ],
      BUILT,
    );
    expect(names(index.namespaces)).toEqual(['sb-p', 'sb-s']);
    expect(geoDrPartnerOf(index, index.namespaces[0]!)?.name).toBe('sb-s');
    const alone = buildKeyIndex([{ subscriptionId: SUB_A, status: 'listed', namespaces: [primary] }], BUILT);
    expect(geoDrPartnerOf(alone, alone.namespaces[0]!)).toBeUndefined();
  });
});
