/**
 * The one place where Azure SDK shapes become domain facts (and domain intents become SDK bodies).
 * Pure functions: no I/O, no clients — the gateways call them on what the SDKs returned, and the unit
 * of truth for "what does ARM's JSON mean" lives here rather than spread over the gateways.
 */
import type { Key, Vault } from '@azure/arm-keyvault';
import type { Identity as MsiIdentity } from '@azure/arm-msi';
import type { ArmDisasterRecovery, SBNamespace, SBNamespaceUpdateParameters } from '@azure/arm-servicebus';
import type { RoleAssignment } from '@azure/arm-authorization';
import type { Subscription } from '@azure/arm-resources-subscriptions';
import {
  cmkStateFromEncryption,
  normalizeResourceId,
  type AccessPolicyFacts,
  type GeoDrAliasFacts,
  type GeoDrRole,
  type KeyFacts,
  type NamespaceEncryptionSettings,
  type NamespaceFacts,
  type NamespaceIdentity,
  type RoleAssignmentFacts,
  type SetEncryptionStep,
  type UserAssignedIdentityFacts,
  type VaultFacts,
} from '../domain';

export interface SubscriptionSummary {
  subscriptionId: string;
  displayName: string;
  state: string;
}

function safeNormalize(id: string): string {
  try {
    return normalizeResourceId(id);
  } catch {
    return id;
  }
}

// ---------------------------------------------------------------------------------------------------
// Service Bus
// ---------------------------------------------------------------------------------------------------

/** The namespace's `identity` block → domain identity. */
export function namespaceIdentityFromSdk(identity: SBNamespace['identity']): NamespaceIdentity {
  const type = identity?.type ?? 'None';
  const system = type.includes('SystemAssigned');
  const userAssigned = Object.entries(identity?.userAssignedIdentities ?? {}).map(([id, v]) => ({
    resourceId: safeNormalize(id),
    ...(v?.principalId ? { principalId: v.principalId } : {}),
    ...(v?.clientId ? { clientId: v.clientId } : {}),
  }));
  return {
    ...(system
      ? {
          systemAssigned: {
            ...(identity?.principalId ? { principalId: identity.principalId } : {}),
            ...(identity?.tenantId ? { tenantId: identity.tenantId } : {}),
          },
        }
      : {}),
    userAssigned,
  };
}

/** The namespace's `properties.encryption` → domain encryption settings. */
export function encryptionSettingsFromSdk(
  encryption: SBNamespace['encryption'],
): NamespaceEncryptionSettings | undefined {
  if (!encryption) return undefined;
  return {
    ...(encryption.keySource ? { keySource: encryption.keySource } : {}),
    keyVaultProperties: (encryption.keyVaultProperties ?? []).map((k) => ({
      ...(k.keyName ? { keyName: k.keyName } : {}),
      ...(k.keyVaultUri ? { keyVaultUri: k.keyVaultUri } : {}),
      ...(k.keyVersion ? { keyVersion: k.keyVersion } : {}),
      ...(k.identity?.userAssignedIdentity ? { userAssignedIdentity: k.identity.userAssignedIdentity } : {}),
    })),
    ...(encryption.requireInfrastructureEncryption !== undefined
      ? { requireInfrastructureEncryption: encryption.requireInfrastructureEncryption }
      : {}),
  };
}

/** What one namespace GET says, before entity counts and Geo-DR are known. */
export function namespaceFactsFromSdk(
  ns: SBNamespace,
  id: { id: string; subscriptionId: string; resourceGroup: string; name: string },
  keyVaultDnsSuffix: string,
): Omit<NamespaceFacts, 'queueCount' | 'topicCount'> {
  return {
    id: id.id,
    name: ns.name ?? id.name,
    subscriptionId: id.subscriptionId,
    resourceGroup: id.resourceGroup,
    ...(ns.location ? { location: ns.location } : {}),
    skuTier: ns.sku?.tier ?? ns.sku?.name ?? '',
    ...(ns.provisioningState ? { provisioningState: ns.provisioningState } : {}),
    identity: namespaceIdentityFromSdk(ns.identity),
    cmk: cmkStateFromEncryption(encryptionSettingsFromSdk(ns.encryption), keyVaultDnsSuffix),
  };
}

const GEO_DR_ROLES: readonly GeoDrRole[] = ['Primary', 'PrimaryNotReplicating', 'Secondary'];

/** One Geo-DR alias (`disasterRecoveryConfigs` item) → domain facts; undefined without a name or a known role. */
export function geoDrAliasFromSdk(a: ArmDisasterRecovery): GeoDrAliasFacts | undefined {
  const role = GEO_DR_ROLES.find((r) => r.toLowerCase() === (a.role ?? '').toLowerCase());
  if (!a.name || !role) return undefined;
  return {
    name: a.name,
    role,
    ...(a.partnerNamespace ? { partnerNamespaceId: a.partnerNamespace } : {}),
    ...(a.provisioningState ? { provisioningState: a.provisioningState } : {}),
    pendingReplicationOperationsCount: a.pendingReplicationOperationsCount ?? 0,
  };
}

/** The namespace's view of its alias (what the enable preflight needs to know about Geo-DR). */
export function namespaceGeoDrFromAlias(alias: GeoDrAliasFacts | undefined): NamespaceFacts['geoDr'] {
  if (!alias) return undefined;
  return {
    alias: alias.name,
    role: alias.role,
    ...(alias.partnerNamespaceId ? { partnerNamespaceId: alias.partnerNamespaceId } : {}),
  };
}

/** PATCH body that turns on / attaches identities — identity only, nothing else of the namespace. */
export function identityPatchBody(target: {
  type: 'SystemAssigned' | 'UserAssigned' | 'SystemAssigned, UserAssigned';
  userAssignedIdentityIds: string[];
}): SBNamespaceUpdateParameters {
  return {
    identity: {
      type: target.type,
      ...(target.userAssignedIdentityIds.length
        ? { userAssignedIdentities: Object.fromEntries(target.userAssignedIdentityIds.map((id) => [id, {}])) }
        : {}),
    },
  };
}

/** PATCH body that sets the encryption — encryption only (never a read-modify-PUT of the namespace). */
export function encryptionPatchBody(
  encryption: SetEncryptionStep['encryption'],
): SBNamespaceUpdateParameters {
  return {
    encryption: {
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: encryption.keyVaultProperties.map((k) => ({
        keyName: k.keyName,
        keyVaultUri: k.keyVaultUri,
        ...(k.keyVersion ? { keyVersion: k.keyVersion } : {}),
        ...(k.identity ? { identity: { userAssignedIdentity: k.identity.userAssignedIdentity } } : {}),
      })),
      requireInfrastructureEncryption: encryption.requireInfrastructureEncryption,
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Key Vault
// ---------------------------------------------------------------------------------------------------

/** A vault found through ARM → domain vault facts. */
export function vaultFactsFromSdk(vault: Vault, vaultName: string, vaultUri: string): VaultFacts {
  const p = vault.properties;
  const acls = p.networkAcls;
  return {
    vaultName: vaultName.toLowerCase(),
    vaultUri,
    status: 'found',
    ...(vault.id ? { resourceId: safeNormalize(vault.id) } : {}),
    // Soft delete is on unless ARM says false (it has been the default, and irreversible, since 2020).
    softDeleteEnabled: p.enableSoftDelete !== false,
    purgeProtectionEnabled: p.enablePurgeProtection === true,
    permissionModel: p.enableRbacAuthorization === true ? 'rbac' : 'accessPolicy',
    ...(acls
      ? {
          networkAcls: {
            defaultAction: acls.defaultAction === 'Deny' ? 'Deny' : 'Allow',
            bypass: acls.bypass === 'None' ? 'None' : 'AzureServices',
            virtualNetworkRuleIds: (acls.virtualNetworkRules ?? []).map((r) => r.id),
          },
        }
      : {}),
  };
}

export function accessPoliciesFromSdk(vault: Vault): AccessPolicyFacts[] {
  return (vault.properties.accessPolicies ?? []).map((p) => ({
    objectId: p.objectId,
    keys: [...(p.permissions.keys ?? [])],
  }));
}

const secondsToIso = (s: number | undefined): string | undefined =>
  s === undefined || !Number.isFinite(s) ? undefined : new Date(s * 1000).toISOString();

/** The ARM view of a key (or one version) → domain key facts. */
export function keyFactsFromSdk(key: Key): KeyFacts {
  const a = key.attributes ?? {};
  const expiresOn = secondsToIso(a.expires);
  const notBefore = secondsToIso(a.notBefore);
  const currentVersion = key.keyUriWithVersion?.replace(/\/+$/, '').split('/').pop();
  const policy = key.rotationPolicy;
  const autoRotate = (policy?.lifetimeActions ?? []).some((l) => l.action?.type?.toLowerCase() === 'rotate');
  return {
    status: 'found',
    ...(a.enabled !== undefined ? { enabled: a.enabled } : {}),
    ...(expiresOn ? { expiresOn } : {}),
    ...(notBefore ? { notBefore } : {}),
    ...(key.kty ? { kty: key.kty } : {}),
    ...(key.keySize !== undefined ? { keySize: key.keySize } : {}),
    ...(key.keyOps ? { keyOps: [...key.keyOps] } : {}),
    ...(currentVersion ? { currentVersion } : {}),
    // ARM omits the policy when none is set: that is "none" (null), not "unknown".
    rotationPolicy: policy
      ? {
          autoRotate,
          ...(policy.attributes?.expiryTime ? { expiresIn: policy.attributes.expiryTime } : {}),
        }
      : null,
  };
}

// ---------------------------------------------------------------------------------------------------
// Authorization and identities
// ---------------------------------------------------------------------------------------------------

export function roleAssignmentFactsFromSdk(assignments: readonly RoleAssignment[]): RoleAssignmentFacts[] {
  return assignments
    .filter((a) => a.principalId && a.roleDefinitionId && a.scope)
    .map((a) => ({
      principalId: a.principalId as string,
      roleDefinitionId: a.roleDefinitionId as string,
      scope: a.scope as string,
    }));
}

export function userAssignedIdentityFactsFromSdk(
  resourceId: string,
  identity: MsiIdentity,
): UserAssignedIdentityFacts {
  return {
    resourceId,
    status: 'found',
    ...(identity.principalId ? { principalId: identity.principalId } : {}),
    ...(identity.tenantId ? { tenantId: identity.tenantId } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------------

/** A subscription the app identity can see (undefined when ARM gave no id). */
export function subscriptionSummaryFromSdk(s: Subscription): SubscriptionSummary | undefined {
  if (!s.subscriptionId) return undefined;
  return { subscriptionId: s.subscriptionId, displayName: s.displayName ?? '', state: s.state ?? 'Unknown' };
}
