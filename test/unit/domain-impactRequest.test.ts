import { parseKeyImpactRequest } from '../../src/domain/impactRequest';
import type { RequestProblem } from '../../src/domain/requests';
import { SUFFIX, UAI_ID, V1 } from './domain-fixtures';

const K1 = 'https://kv-prod.vault.azure.net/keys/cmk-1';
const PRINCIPAL = '11111111-2222-4333-8444-555555555555';

// Jest's asymmetric matchers are typed any; one typed helper keeps the expectations exact where they can be.
const containing = (text: string): string => expect.stringContaining(text) as string;

function problemsOf(body: unknown): RequestProblem[] {
  const result = parseKeyImpactRequest(body, SUFFIX);
  if (result.ok) throw new Error(`expected problems, got ${JSON.stringify(result.value)}`);
  return result.problems;
}

describe('parseKeyImpactRequest', () => {
  it('a key id (any case, trailing slash) → the versionless key', () => {
    expect(
      parseKeyImpactRequest(
        { key: { keyId: `${K1.toUpperCase().replace('HTTPS', 'https')}/` }, change: 'disable' },
        SUFFIX,
      ),
    ).toEqual({
      ok: true,
      value: {
        change: 'disable',
        target: {
          key: {
            vaultName: 'kv-prod',
            keyName: 'CMK-1',
            versionlessKeyId: 'https://kv-prod.vault.azure.net/keys/CMK-1',
          },
        },
      },
    });
  });

  it('vault + name + version, a vault by name or URI, identities by principal or resource id', () => {
    expect(
      parseKeyImpactRequest(
        {
          key: { vaultUri: 'https://kv-prod.vault.azure.net', keyName: 'cmk-1', keyVersion: V1 },
          change: 'expire',
        },
        SUFFIX,
      ),
    ).toEqual({
      ok: true,
      value: {
        change: 'expire',
        target: { key: { vaultName: 'kv-prod', keyName: 'cmk-1', versionlessKeyId: K1, keyVersion: V1 } },
      },
    });
    expect(parseKeyImpactRequest({ vault: { vaultName: 'KV-Prod' }, change: 'delete' }, SUFFIX)).toEqual({
      ok: true,
      value: { change: 'delete', target: { vaultName: 'kv-prod' } },
    });
    expect(
      parseKeyImpactRequest(
        {
          vault: { vaultUri: 'https://kv-prod.vault.azure.net/' },
          identity: { principalId: PRINCIPAL.toUpperCase() },
          change: 'revokeAccess',
        },
        SUFFIX,
      ),
    ).toEqual({
      ok: true,
      value: {
        change: 'revokeAccess',
        target: { vaultName: 'kv-prod', identity: { principalId: PRINCIPAL } },
      },
    });
    expect(
      parseKeyImpactRequest(
        { identity: { resourceId: UAI_ID.toLowerCase() }, change: 'revokeAccess' },
        SUFFIX,
      ),
    ).toEqual({ ok: true, value: { change: 'revokeAccess', target: { identity: { resourceId: UAI_ID } } } });
  });

  it('refuses a foreign Key Vault host, a port and a vault URI with a path, naming the field', () => {
    expect(problemsOf({ key: { keyId: 'https://evil.example.com/keys/k' }, change: 'delete' })).toEqual([
      { field: 'key.keyId', message: containing('evil.example.com') },
    ]);
    expect(
      problemsOf({ key: { keyId: 'https://kv-prod.vault.azure.net:8443/keys/k' }, change: 'delete' }),
    ).toEqual([{ field: 'key.keyId', message: containing('port') }]);
    expect(
      problemsOf({ vault: { vaultUri: 'https://kv-prod.vault.azure.net/keys/x' }, change: 'delete' }),
    ).toEqual([{ field: 'vault.vaultUri', message: containing('has a path') }]);
  });

  it('reports every problem at once: bad change, unknown field, wrong union shape', () => {
    expect(problemsOf({ key: { id: K1 }, change: 'purge', extra: 1 })).toEqual([
      { field: 'key', message: 'must be { keyId } or { vaultUri, keyName, keyVersion? }' },
      { field: 'change', message: 'must be one of disable, delete, expire, revokeAccess' },
      { field: 'extra', message: 'is not a recognised field' },
    ]);
  });

  it('needs a target and a change; a key and a vault together are refused', () => {
    expect(problemsOf({ change: 'delete' })).toEqual([
      { field: '(body)', message: 'name a key, a vault or an identity' },
    ]);
    expect(problemsOf({ key: { keyId: K1 } })).toEqual([{ field: 'change', message: 'is required' }]);
    expect(problemsOf({ key: { keyId: K1 }, vault: { vaultName: 'kv-prod' }, change: 'delete' })).toEqual([
      { field: 'vault', message: 'give a key or a vault, not both (the key already names its vault)' },
    ]);
    expect(problemsOf([])).toEqual([{ field: '(body)', message: containing('object') }]);
  });

  it('an identity can only lose access; bad ids are named', () => {
    expect(problemsOf({ identity: { principalId: PRINCIPAL }, change: 'disable' })).toEqual([
      { field: 'change', message: containing('use revokeAccess') },
    ]);
    expect(problemsOf({ identity: { principalId: 'not-a-guid' }, change: 'revokeAccess' })).toEqual([
      { field: 'identity.principalId', message: 'must be an object id (a GUID)' },
    ]);
    expect(problemsOf({ identity: { resourceId: '/subscriptions/x' }, change: 'revokeAccess' })).toEqual([
      { field: 'identity.resourceId', message: containing('') },
    ]);
    expect(problemsOf({ vault: { vaultName: 'a' }, change: 'delete' })).toEqual([
      { field: 'vault.vaultName', message: containing('not a key vault name') },
    ]);
  });
});
