import {
  parseDiagnoseCmkRequest,
  parseEnableCmkGeoDrRequest,
  parseEnableCmkRequest,
  type RequestProblem,
} from '../../src/domain/requests';
import { NS_ID, SUB, SUFFIX, UAI_ID, V1, keyUrl } from './domain-fixtures';

function problemsOf(body: unknown): RequestProblem[] {
  const result = parseEnableCmkRequest(body, SUFFIX);
  if (result.ok) throw new Error('expected problems');
  return result.problems;
}

describe('parseEnableCmkRequest', () => {
  it('normalises ids and applies defaults', () => {
    const result = parseEnableCmkRequest(
      {
        namespaceId: NS_ID.toLowerCase() + '/',
        keys: [{ keyId: 'https://KV-PROD.vault.azure.net/keys/cmk-1/' }],
      },
      SUFFIX,
    );
    expect(result).toEqual({
      ok: true,
      value: {
        namespace: { id: NS_ID, subscriptionId: SUB, resourceGroup: 'rg-cmk', name: 'sb-prod-01' },
        keys: [
          {
            index: 0,
            vaultUri: 'https://kv-prod.vault.azure.net/',
            host: 'kv-prod.vault.azure.net',
            vaultName: 'kv-prod',
            keyName: 'cmk-1',
            keyId: 'https://kv-prod.vault.azure.net/keys/cmk-1',
            versionlessKeyId: 'https://kv-prod.vault.azure.net/keys/cmk-1',
            hostTrusted: true,
          },
        ],
        identity: { type: 'SystemAssigned' },
        requireInfrastructureEncryption: false,
        dryRun: false,
      },
    });
  });

  it('accepts both key forms, a user-assigned identity, infrastructure encryption and dry run', () => {
    const result = parseEnableCmkRequest(
      {
        namespaceId: NS_ID,
        keys: [
          { keyId: keyUrl('kv-prod', 'cmk-1') },
          { vaultUri: 'https://kv-dr.vault.azure.net/', keyName: 'cmk-2', keyVersion: V1 },
          { vaultUri: 'https://kv-dr.vault.azure.net', keyName: 'cmk-3' },
        ],
        identity: { type: 'UserAssigned', resourceId: UAI_ID.toLowerCase() },
        requireInfrastructureEncryption: true,
        dryRun: true,
      },
      SUFFIX,
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.value.keys.map((k) => k.keyId)).toEqual([
      'https://kv-prod.vault.azure.net/keys/cmk-1',
      `https://kv-dr.vault.azure.net/keys/cmk-2/${V1}`,
      'https://kv-dr.vault.azure.net/keys/cmk-3',
    ]);
    expect(result.value.keys[1]?.keyVersion).toBe(V1);
    expect(result.value.identity).toEqual({ type: 'UserAssigned', resourceId: UAI_ID });
    expect(result.value.requireInfrastructureEncryption).toBe(true);
    expect(result.value.dryRun).toBe(true);
  });

  it('keeps a key on a foreign host as untrusted so the preflight reports it (no vault name to call)', () => {
    const result = parseEnableCmkRequest(
      { namespaceId: NS_ID, keys: [{ keyId: 'https://kv-prod.attacker.example/keys/cmk-1' }] },
      SUFFIX,
    );
    if (!result.ok) throw new Error('expected ok');
    expect(result.value.keys[0]).toMatchObject({ hostTrusted: false, host: 'kv-prod.attacker.example' });
    expect(result.value.keys[0]?.vaultName).toBeUndefined();
    const ip = parseEnableCmkRequest(
      { namespaceId: NS_ID, keys: [{ keyId: 'https://169.254.169.254/keys/k' }] },
      SUFFIX,
    );
    expect(ip.ok && ip.value.keys[0]).toMatchObject({ hostTrusted: false, host: '169.254.169.254' });
  });

  it('lets four keys through to the preflight (PRE-005) but refuses oversized key lists', () => {
    const four = [1, 2, 3, 4].map((i) => ({ keyId: keyUrl('kv-prod', `cmk-${i}`) }));
    expect(parseEnableCmkRequest({ namespaceId: NS_ID, keys: four }, SUFFIX).ok).toBe(true);
    const many = Array.from({ length: 11 }, (_, i) => ({ keyId: keyUrl('kv-prod', `cmk-${i}`) }));
    const tooMany = problemsOf({ namespaceId: NS_ID, keys: many });
    expect(tooMany.map((p) => p.field)).toEqual(['keys']);
    expect(tooMany[0]?.message).toContain('at most 10 keys');
  });

  it('reports every problem at once with its field path', () => {
    const problems = problemsOf({
      namespaceId: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb-prod-01/queues/q`,
      keys: [
        { keyId: 'http://kv-prod.vault.azure.net/keys/cmk-1' },
        { vaultUri: 'https://kv-prod.vault.azure.net/keys', keyName: 'cmk-2' },
        { vaultUri: 'https://kv-prod.vault.azure.net', keyName: 'bad_name' },
        { vaultUri: 'https://kv-prod.vault.azure.net', keyName: 'cmk-4', keyVersion: 'v2' },
      ],
      identity: { type: 'UserAssigned', resourceId: NS_ID },
    });
    expect(problems.map((p) => p.field)).toEqual([
      'namespaceId',
      'keys[0].keyId',
      'keys[1].vaultUri',
      'keys[2].keyName',
      'keys[3].keyVersion',
      'identity.resourceId',
    ]);
    expect(problems[0]?.message).toContain('not a Service Bus namespace id');
    expect(problems[1]?.message).toContain('https://');
    expect(problems[5]?.message).toContain('not a user-assigned managed identity id');
  });

  it('explains structural problems: missing fields, unknown fields, wrong shapes', () => {
    expect(problemsOf({ keys: [] })).toEqual([
      { field: 'namespaceId', message: 'is required' },
      { field: 'keys', message: 'must list at least one key' },
    ]);
    expect(
      problemsOf({ namespaceId: NS_ID, keys: [{ keyId: keyUrl('kv', 'k') }], namespaceID: 'x' }),
    ).toEqual([{ field: 'namespaceID', message: 'is not a recognised field' }]);
    expect(problemsOf({ namespaceId: NS_ID, keys: [{ key: 'x' }] })).toEqual([
      { field: 'keys[0]', message: 'must be { keyId } or { vaultUri, keyName, keyVersion? }' },
    ]);
    const identity = problemsOf({
      namespaceId: NS_ID,
      keys: [{ keyId: keyUrl('kv-prod', 'k') }],
      identity: { type: 'Both' },
    });
    expect(identity).toHaveLength(1);
    expect(identity[0]?.field).toBe('identity.type');
    expect(problemsOf('not json object')[0]?.field).toBe('(body)');
    const dryRun = problemsOf({
      namespaceId: NS_ID,
      keys: [{ keyId: keyUrl('kv-prod', 'k') }],
      dryRun: 'yes',
    });
    expect(dryRun.map((p) => p.field)).toEqual(['dryRun']);
    expect(dryRun[0]?.message).toContain('boolean');
  });
});

describe('parseDiagnoseCmkRequest', () => {
  it('normalises the namespace id', () => {
    expect(
      parseDiagnoseCmkRequest({ namespaceId: NS_ID.toUpperCase().replace(SUB.toUpperCase(), SUB) }),
    ).toEqual({
      ok: true,
      value: {
        namespace: {
          id: `/subscriptions/${SUB}/resourceGroups/RG-CMK/providers/Microsoft.ServiceBus/namespaces/SB-PROD-01`,
          subscriptionId: SUB,
          resourceGroup: 'RG-CMK',
          name: 'SB-PROD-01',
        },
      },
    });
  });

  it('reports a malformed id and unknown fields', () => {
    const bad = parseDiagnoseCmkRequest({ namespaceId: 'sb-prod-01' });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.problems.map((p) => p.field)).toEqual(['namespaceId']);
    expect(!bad.ok && bad.problems[0]?.message).toContain('/subscriptions/');
    expect(parseDiagnoseCmkRequest({ namespaceId: NS_ID, keys: [] })).toEqual({
      ok: false,
      problems: [{ field: 'keys', message: 'is not a recognised field' }],
    });
  });
});

describe('ids with dot segments and key URLs with a port, in every field an id enters', () => {
  const DOTTED = `/subscriptions/${SUB}/resourceGroups/../providers/Microsoft.ServiceBus/namespaces/sb-prod-01`;
  const DOTTED_UAI = `/subscriptions/${SUB}/resourceGroups/%2e%2e/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1`;
  const SEC = NS_ID.replace('sb-prod-01', 'sb-prod-02');
  const KEY = { keyId: keyUrl('kv-prod', 'cmk-1') };

  it('enable, diagnose and Geo-DR refuse them with the field named', () => {
    expect(problemsOf({ namespaceId: DOTTED, keys: [KEY] }).map((p) => p.field)).toEqual(['namespaceId']);
    const diag = parseDiagnoseCmkRequest({ namespaceId: DOTTED });
    expect(!diag.ok && diag.problems.map((p) => p.field)).toEqual(['namespaceId']);
    const uai = problemsOf({
      namespaceId: NS_ID,
      keys: [KEY],
      identity: { type: 'UserAssigned', resourceId: DOTTED_UAI },
    });
    expect(uai.map((p) => p.field)).toEqual(['identity.resourceId']);
    const geo = parseEnableCmkGeoDrRequest(
      {
        primaryNamespaceId: DOTTED,
        secondaryNamespaceId: DOTTED.replace('sb-prod-01', 'sb-prod-02'),
        alias: 'sb-prod-alias',
        keys: [KEY],
      },
      SUFFIX,
    );
    expect(!geo.ok && geo.problems.map((p) => p.field)).toEqual([
      'primaryNamespaceId',
      'secondaryNamespaceId',
    ]);
    const dottedKey = problemsOf({
      namespaceId: NS_ID,
      keys: [{ keyId: 'https://kv-prod.vault.azure.net/keys/../keys/cmk-1' }],
    });
    expect(dottedKey.map((p) => p.field)).toEqual(['keys[0].keyId']);
    const dottedVault = problemsOf({
      namespaceId: NS_ID,
      keys: [{ vaultUri: 'https://kv-prod.vault.azure.net/%2e%2e/', keyName: 'k' }],
    });
    expect(dottedVault.map((p) => p.field)).toEqual(['keys[0].vaultUri']);
  });

  it('a key URL with a port is an untrusted key (PRE-007), in both key forms, never a vault to call', () => {
    const r = parseEnableCmkRequest(
      {
        namespaceId: NS_ID,
        keys: [
          { keyId: 'https://kv-prod.vault.azure.net:1/keys/cmk-1' },
          { vaultUri: 'https://kv-prod.vault.azure.net:65535/', keyName: 'cmk-2' },
        ],
      },
      SUFFIX,
    );
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.value.keys.map((k) => [k.hostTrusted, k.host, k.vaultName])).toEqual([
      [false, 'kv-prod.vault.azure.net:1', undefined],
      [false, 'kv-prod.vault.azure.net:65535', undefined],
    ]);
  });

  it('Geo-DR: one zod schema, no placeholder namespace; structural and id problems at once', () => {
    const r = parseEnableCmkGeoDrRequest(
      { primaryNamespaceId: 'not-an-id', secondaryNamespaceId: SEC, alias: 'x', keys: [], dryrun: true },
      SUFFIX,
    );
    expect(!r.ok && r.problems.map((p) => p.field).sort()).toEqual([
      'alias',
      'dryrun',
      'keys',
      'primaryNamespaceId',
    ]);
    const notObject = parseEnableCmkGeoDrRequest([], SUFFIX);
    expect(!notObject.ok && notObject.problems.map((p) => p.field)).toEqual(['(body)']);
    const ok = parseEnableCmkGeoDrRequest(
      {
        primaryNamespaceId: NS_ID,
        secondaryNamespaceId: SEC,
        alias: 'sb-prod-alias',
        keys: [KEY, KEY, KEY, KEY],
      },
      SUFFIX,
    );
    expect(ok.ok && ok.value.keys.length).toBe(4);
  });
});
