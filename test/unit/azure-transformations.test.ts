/** SDK shapes → domain facts (and domain intents → SDK bodies): src/azure/transformations.ts. */
import type { Key, Vault } from '@azure/arm-keyvault';
import type { ArmDisasterRecovery, SBNamespace } from '@azure/arm-servicebus';
import {
  accessPoliciesFromSdk,
  encryptionPatchBody,
  geoDrAliasFromSdk,
  identityPatchBody,
  keyFactsFromSdk,
  namespaceFactsFromSdk,
  namespaceGeoDrFromAlias,
  roleAssignmentFactsFromSdk,
  subscriptionSummaryFromSdk,
  userAssignedIdentityFactsFromSdk,
  vaultFactsFromSdk,
} from '../../src/azure/transformations';
import { NS_ID, RG, SUB, SUFFIX, UAI_ID, vaultId } from './domain-fixtures';

const ns = { id: NS_ID, subscriptionId: SUB, resourceGroup: RG, name: 'sb-prod-01' };

describe('Service Bus', () => {
  it('a namespace with a system identity and CMK through a user-assigned identity', () => {
    const body: SBNamespace = {
      name: 'sb-prod-01',
      location: 'westeurope',
      sku: { name: 'Premium', tier: 'Premium' },
      provisioningState: 'Succeeded',
      identity: {
        type: 'SystemAssigned, UserAssigned',
        principalId: 'p-sys',
        tenantId: 't-1',
        userAssignedIdentities: {
          [UAI_ID.replace('resourceGroups', 'resourcegroups').replace(
            'Microsoft.ManagedIdentity',
            'microsoft.managedidentity',
          )]: { principalId: 'p-uai', clientId: 'c-uai' },
        },
      },
      encryption: {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: [
          {
            keyName: 'cmk-1',
            keyVaultUri: `https://kv-prod.${SUFFIX}/`,
            identity: { userAssignedIdentity: UAI_ID },
          },
        ],
        requireInfrastructureEncryption: true,
      },
    };
    const facts = namespaceFactsFromSdk(body, ns, SUFFIX);
    expect(facts).toMatchObject({
      id: NS_ID,
      name: 'sb-prod-01',
      location: 'westeurope',
      skuTier: 'Premium',
      provisioningState: 'Succeeded',
      identity: {
        systemAssigned: { principalId: 'p-sys', tenantId: 't-1' },
        // ARM ids come back in any case: the provider segments are normalised.
        userAssigned: [{ resourceId: UAI_ID, principalId: 'p-uai', clientId: 'c-uai' }],
      },
      cmk: { encrypted: true, requireInfrastructureEncryption: true, identity: { type: 'UserAssigned' } },
    });
  });

  it('a bare namespace: no identity, Microsoft-managed keys, the SKU name when no tier', () => {
    expect(namespaceFactsFromSdk({ location: 'x', sku: { name: 'Standard' } }, ns, SUFFIX)).toEqual({
      id: NS_ID,
      name: 'sb-prod-01',
      subscriptionId: SUB,
      resourceGroup: RG,
      location: 'x',
      skuTier: 'Standard',
      identity: { userAssigned: [] },
      cmk: { encrypted: false },
    });
  });

  it('one Geo-DR alias: known roles only (any case), pending count defaults to 0', () => {
    const a: ArmDisasterRecovery = {
      name: 'al',
      role: 'primarynotreplicating' as never,
      provisioningState: 'Accepted',
    };
    expect(geoDrAliasFromSdk(a)).toEqual({
      name: 'al',
      role: 'PrimaryNotReplicating',
      provisioningState: 'Accepted',
      pendingReplicationOperationsCount: 0,
    });
    expect(geoDrAliasFromSdk({ name: 'al', role: 'Replica' as never })).toBeUndefined();
    expect(geoDrAliasFromSdk({ role: 'Primary' })).toBeUndefined();
  });

  it("the namespace's view of its alias", () => {
    const alias = geoDrAliasFromSdk({
      name: 'al',
      role: 'Primary',
      partnerNamespace: 'partner-id',
      pendingReplicationOperationsCount: 3,
    });
    expect(namespaceGeoDrFromAlias(alias)).toEqual({
      alias: 'al',
      role: 'Primary',
      partnerNamespaceId: 'partner-id',
    });
    expect(namespaceGeoDrFromAlias(undefined)).toBeUndefined();
  });

  it('PATCH bodies carry only identity, or only encryption', () => {
    expect(identityPatchBody({ type: 'SystemAssigned', userAssignedIdentityIds: [] })).toEqual({
      identity: { type: 'SystemAssigned' },
    });
    expect(identityPatchBody({ type: 'UserAssigned', userAssignedIdentityIds: [UAI_ID] })).toEqual({
      identity: { type: 'UserAssigned', userAssignedIdentities: { [UAI_ID]: {} } },
    });
    expect(
      encryptionPatchBody({
        keyVaultProperties: [
          {
            keyName: 'k',
            keyVaultUri: `https://kv.${SUFFIX}/`,
            keyVersion: 'v1',
            identity: { userAssignedIdentity: UAI_ID },
          },
        ],
        requireInfrastructureEncryption: false,
      } as never),
    ).toEqual({
      encryption: {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: [
          {
            keyName: 'k',
            keyVaultUri: `https://kv.${SUFFIX}/`,
            keyVersion: 'v1',
            identity: { userAssignedIdentity: UAI_ID },
          },
        ],
        requireInfrastructureEncryption: false,
      },
    });
  });
});

describe('Key Vault', () => {
  const vault = (properties: Partial<Vault['properties']>): Vault =>
    ({
      id: vaultId('kv-prod'),
      name: 'kv-prod',
      properties: { tenantId: 't-1', sku: {}, ...properties },
    }) as Vault;

  it('soft delete on unless ARM says false; purge protection only when true; RBAC model; firewall', () => {
    const facts = vaultFactsFromSdk(
      vault({
        enableRbacAuthorization: true,
        networkAcls: { defaultAction: 'Deny', bypass: 'None', virtualNetworkRules: [{ id: 'subnet-1' }] },
      }),
      'KV-PROD',
      `https://kv-prod.${SUFFIX}/`,
    );
    expect(facts).toEqual({
      vaultName: 'kv-prod',
      vaultUri: `https://kv-prod.${SUFFIX}/`,
      status: 'found',
      resourceId: vaultId('kv-prod'),
      softDeleteEnabled: true,
      purgeProtectionEnabled: false,
      permissionModel: 'rbac',
      networkAcls: { defaultAction: 'Deny', bypass: 'None', virtualNetworkRuleIds: ['subnet-1'] },
    });
    expect(vaultFactsFromSdk(vault({ enableSoftDelete: false }), 'kv-prod', 'u')).toMatchObject({
      softDeleteEnabled: false,
      permissionModel: 'accessPolicy',
    });
  });

  it('access policies: object id and key permissions', () => {
    expect(
      accessPoliciesFromSdk(
        vault({
          accessPolicies: [
            { tenantId: 't', objectId: 'o-1', permissions: { keys: ['get', 'wrapKey'] } },
            { tenantId: 't', objectId: 'o-2', permissions: { secrets: ['get'] } },
          ],
        }),
      ),
    ).toEqual([
      { objectId: 'o-1', keys: ['get', 'wrapKey'] },
      { objectId: 'o-2', keys: [] },
    ]);
  });

  it('a key: epoch seconds → ISO, current version from its versioned URI, rotation policy', () => {
    const key: Key = {
      kty: 'RSA',
      keySize: 3072,
      keyOps: ['wrapKey'],
      keyUriWithVersion: `https://kv-prod.${SUFFIX}/keys/cmk-1/abc123`,
      attributes: { enabled: true, expires: 1_800_000_000, notBefore: 1_700_000_000 },
      rotationPolicy: {
        lifetimeActions: [{ action: { type: 'rotate' } }],
        attributes: { expiryTime: 'P1Y' },
      },
    };
    expect(keyFactsFromSdk(key)).toEqual({
      status: 'found',
      enabled: true,
      expiresOn: '2027-01-15T08:00:00.000Z',
      notBefore: '2023-11-14T22:13:20.000Z',
      kty: 'RSA',
      keySize: 3072,
      keyOps: ['wrapKey'],
      currentVersion: 'abc123',
      rotationPolicy: { autoRotate: true, expiresIn: 'P1Y' },
    });
    // No policy from ARM means "none", not "unknown".
    expect(keyFactsFromSdk({})).toEqual({ status: 'found', rotationPolicy: null });
  });
});

describe('Authorization, identities, subscriptions', () => {
  it('role assignments without principal, role or scope are dropped', () => {
    expect(
      roleAssignmentFactsFromSdk([
        { principalId: 'p', roleDefinitionId: 'r', scope: 's' },
        { principalId: 'p', roleDefinitionId: 'r' },
      ]),
    ).toEqual([{ principalId: 'p', roleDefinitionId: 'r', scope: 's' }]);
  });

  it('a user-assigned identity', () => {
    expect(userAssignedIdentityFactsFromSdk(UAI_ID, { principalId: 'p', tenantId: 't' } as never)).toEqual({
      resourceId: UAI_ID,
      status: 'found',
      principalId: 'p',
      tenantId: 't',
    });
  });

  it('a subscription summary; none without an id', () => {
    expect(
      subscriptionSummaryFromSdk({ subscriptionId: SUB, displayName: 'Prod', state: 'Enabled' }),
    ).toEqual({
      subscriptionId: SUB,
      displayName: 'Prod',
      state: 'Enabled',
    });
    expect(subscriptionSummaryFromSdk({ displayName: 'x' })).toBeUndefined();
    expect(subscriptionSummaryFromSdk({ subscriptionId: SUB })).toEqual({
      subscriptionId: SUB,
      displayName: '',
      state: 'Unknown',
    });
  });
});
