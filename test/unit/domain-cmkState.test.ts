import {
  cmkStateFromEncryption,
  evaluateKeyHealth,
  sameEncryptionIdentity,
  sameKeySet,
} from '../../src/domain/cmkState';
import {
  accessPolicyMissingPermissions,
  cryptoServiceEncryptionUserRoleDefinitionId,
  missingCmkKeyPermissions,
  roleAssignmentsGrantCmkAccess,
  roleCoversCmkAccess,
  scopeCovers,
} from '../../src/domain/keyAccess';
import { NOW, SUB, SUFFIX, UAI_ID, V1, keyFacts, vaultId } from './domain-fixtures';

describe('cmkStateFromEncryption', () => {
  it('is not encrypted without an encryption block or without keys', () => {
    expect(cmkStateFromEncryption(undefined, SUFFIX)).toEqual({ encrypted: false });
    expect(
      cmkStateFromEncryption({ keySource: 'Microsoft.KeyVault', keyVaultProperties: [] }, SUFFIX),
    ).toEqual({
      encrypted: false,
    });
  });

  it('describes versionless and pinned keys, the identity and infrastructure encryption', () => {
    const state = cmkStateFromEncryption(
      {
        keySource: 'Microsoft.KeyVault',
        requireInfrastructureEncryption: true,
        keyVaultProperties: [
          {
            keyName: 'cmk-1',
            keyVaultUri: 'https://KV-Prod.vault.azure.net',
            keyVersion: '',
            userAssignedIdentity: UAI_ID.toLowerCase(),
          },
          { keyName: 'cmk-2', keyVaultUri: 'https://kv-dr.vault.azure.net/', keyVersion: V1.toUpperCase() },
        ],
      },
      SUFFIX,
    );
    if (!state.encrypted) throw new Error('expected encrypted');
    expect(state.requireInfrastructureEncryption).toBe(true);
    expect(state.identity).toEqual({
      type: 'UserAssigned',
      resourceId: UAI_ID,
    });
    expect(state.keys[0]).toMatchObject({
      vaultUri: 'https://kv-prod.vault.azure.net/',
      vaultName: 'kv-prod',
      keyName: 'cmk-1',
      pinned: false,
      keyId: 'https://kv-prod.vault.azure.net/keys/cmk-1',
      hostTrusted: true,
    });
    expect(state.keys[0]?.keyVersion).toBeUndefined();
    expect(state.keys[1]).toMatchObject({
      pinned: true,
      keyVersion: V1,
      keyId: `https://kv-dr.vault.azure.net/keys/cmk-2/${V1}`,
      versionlessKeyId: 'https://kv-dr.vault.azure.net/keys/cmk-2',
      identity: { type: 'SystemAssigned' },
    });
  });

  it('marks a configured key on a foreign host as untrusted (never read)', () => {
    const state = cmkStateFromEncryption(
      { keyVaultProperties: [{ keyName: 'k', keyVaultUri: 'https://kv.other.example/' }] },
      SUFFIX,
    );
    expect(state.encrypted && state.keys[0]).toMatchObject({ hostTrusted: false, host: 'kv.other.example' });
    expect(state.encrypted && state.keys[0]?.vaultName).toBeUndefined();
  });

  it('compares key sets and identities case-insensitively', () => {
    const a = [{ vaultUri: 'https://kv.vault.azure.net/', keyName: 'k1' }];
    expect(sameKeySet(a, [{ vaultUri: 'https://KV.vault.azure.net', keyName: 'K1' }])).toBe(true);
    expect(sameKeySet(a, [{ vaultUri: 'https://kv.vault.azure.net/', keyName: 'k1', keyVersion: V1 }])).toBe(
      false,
    );
    expect(sameKeySet(a, [...a, { vaultUri: 'https://kv.vault.azure.net/', keyName: 'k2' }])).toBe(false);
    expect(
      sameEncryptionIdentity(
        { type: 'UserAssigned', resourceId: UAI_ID },
        { type: 'UserAssigned', resourceId: UAI_ID.toUpperCase() },
      ),
    ).toBe(true);
    expect(
      sameEncryptionIdentity({ type: 'SystemAssigned' }, { type: 'UserAssigned', resourceId: UAI_ID }),
    ).toBe(false);
  });
});

describe('evaluateKeyHealth', () => {
  it('is healthy with days to expiry when enabled and valid', () => {
    expect(evaluateKeyHealth(keyFacts(), NOW, 30)).toEqual({
      usable: true,
      status: 'healthy',
      issues: [],
      daysToExpiry: 365,
      expiresOn: '2027-06-01T00:00:00.000Z',
    });
  });

  it('is usable but expiring soon within the warning window', () => {
    const health = evaluateKeyHealth(keyFacts({ expiresOn: '2026-06-11T00:00:00Z' }), NOW, 30);
    expect(health).toMatchObject({ usable: true, status: 'expiringSoon', daysToExpiry: 10 });
    expect(evaluateKeyHealth(keyFacts({ expiresOn: '2026-06-11T00:00:00Z' }), NOW, 5).status).toBe('healthy');
  });

  it('reports disabled, expired and not-yet-valid together', () => {
    const health = evaluateKeyHealth(
      keyFacts({ enabled: false, expiresOn: '2026-05-01T00:00:00Z', notBefore: '2026-07-01T00:00:00Z' }),
      NOW,
      30,
    );
    expect(health.usable).toBe(false);
    expect(health.issues).toEqual(['disabled', 'expired', 'notYetValid']);
    expect(health.status).toBe('disabled');
    expect(health.daysToExpiry).toBe(-31);
  });

  it('treats expiry at exactly now as expired', () => {
    expect(evaluateKeyHealth(keyFacts({ expiresOn: NOW.toISOString() }), NOW, 30).issues).toEqual([
      'expired',
    ]);
  });

  it.each([
    ['notFound', 'missing'],
    ['deleted', 'deleted'],
    ['forbidden', 'unreadable'],
    ['unreachable', 'unreadable'],
  ] as const)('a %s key is %s and not usable', (status, issue) => {
    expect(evaluateKeyHealth({ status }, NOW, 30)).toEqual({ usable: false, status: issue, issues: [issue] });
  });

  it('has no days to expiry for a key without expiry', () => {
    const health = evaluateKeyHealth(keyFacts({ expiresOn: undefined }), NOW, 30);
    expect(health).toEqual({ usable: true, status: 'healthy', issues: [] });
  });
});

describe('key access', () => {
  const keyScope = `${vaultId('kv-prod')}/keys/cmk-1`;

  it('lists the CMK permissions an access policy lacks', () => {
    expect(missingCmkKeyPermissions(['Get', 'List'])).toEqual(['wrapKey', 'unwrapKey']);
    expect(missingCmkKeyPermissions(['get', 'wrapkey', 'unwrapKey'])).toEqual([]);
    expect(missingCmkKeyPermissions(['all'])).toEqual([]);
    expect(
      accessPolicyMissingPermissions(
        [
          { objectId: 'AAA', keys: ['get'] },
          { objectId: 'aaa', keys: ['wrapKey', 'unwrapKey'] },
          { objectId: 'bbb', keys: ['all'] },
        ],
        'aaa',
      ),
    ).toEqual([]);
    expect(accessPolicyMissingPermissions([{ objectId: 'bbb', keys: ['all'] }], 'aaa')).toEqual([
      'get',
      'wrapKey',
      'unwrapKey',
    ]);
  });

  it('knows which roles give key read, wrap and unwrap', () => {
    expect(roleCoversCmkAccess(cryptoServiceEncryptionUserRoleDefinitionId(SUB))).toBe(true);
    expect(roleCoversCmkAccess('12338AF0-0E69-4776-BEA7-57AE8D297424')).toBe(true);
    // Key Vault Reader and Contributor have no wrap/unwrap dataActions.
    expect(roleCoversCmkAccess('21090545-7ca7-4776-b22c-e363652d74d2')).toBe(false);
    expect(roleCoversCmkAccess('f25e0fa2-a7c8-4377-a976-54943a77a395')).toBe(false);
  });

  it('applies assignments at the key scope or an ancestor only', () => {
    expect(scopeCovers(vaultId('kv-prod'), keyScope)).toBe(true);
    expect(scopeCovers(`/subscriptions/${SUB}`, keyScope)).toBe(true);
    expect(scopeCovers(keyScope.toLowerCase(), keyScope)).toBe(true);
    expect(scopeCovers(vaultId('kv-prod2'), `${vaultId('kv-prod2')}x/keys/cmk-1`)).toBe(false);
    expect(scopeCovers(`${vaultId('kv-prod')}/keys/cmk-2`, keyScope)).toBe(false);
    expect(scopeCovers('/', keyScope)).toBe(true);
    // Management groups cannot be placed from ids alone: not covering (at worst one redundant grant).
    expect(scopeCovers('/providers/Microsoft.Management/managementGroups/mg-1', keyScope)).toBe(false);
  });

  it('decides whether role assignments already grant the principal CMK access', () => {
    const role = cryptoServiceEncryptionUserRoleDefinitionId(SUB);
    expect(
      roleAssignmentsGrantCmkAccess(
        [{ principalId: 'P1', roleDefinitionId: role, scope: vaultId('kv-prod') }],
        'p1',
        keyScope,
      ),
    ).toBe(true);
    expect(
      roleAssignmentsGrantCmkAccess(
        [{ principalId: 'p2', roleDefinitionId: role, scope: keyScope }],
        'p1',
        keyScope,
      ),
    ).toBe(false);
    expect(
      roleAssignmentsGrantCmkAccess(
        [{ principalId: 'p1', roleDefinitionId: '21090545-7ca7-4776-b22c-e363652d74d2', scope: keyScope }],
        'p1',
        keyScope,
      ),
    ).toBe(false);
  });
});
