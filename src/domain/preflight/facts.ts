/**
 * The facts the preflight and diagnosis rules judge: a plain snapshot the gateways read from Azure
 * (docs/ARCHITECTURE.md "Rules"). Types only; nothing here reads or decides anything.
 */
import type { CmkState, EncryptionIdentity, KeyFacts, KeyRef, NamespaceIdentity } from '../cmkState';

export type GeoDrRole = 'Primary' | 'PrimaryNotReplicating' | 'Secondary';

export interface NamespaceFacts {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location?: string;
  /** `Basic` | `Standard` | `Premium` (ARM sku.tier, falling back to sku.name). */
  skuTier: string;
  provisioningState?: string;
  queueCount: number;
  topicCount: number;
  /** Set when the namespace is part of a Geo-DR alias. */
  geoDr?: { alias: string; role: GeoDrRole; partnerNamespaceId?: string };
  identity: NamespaceIdentity;
  cmk: CmkState;
}

export type VaultReadStatus = 'found' | 'notFound' | 'forbidden' | 'unreachable';

export interface VaultFacts {
  /** Lower-case vault name (joins KeyRef.vaultName). */
  vaultName: string;
  vaultUri: string;
  status: VaultReadStatus;
  /** ARM id, when found. */
  resourceId?: string;
  softDeleteEnabled?: boolean;
  purgeProtectionEnabled?: boolean;
  permissionModel?: 'rbac' | 'accessPolicy';
  networkAcls?: {
    defaultAction: 'Allow' | 'Deny';
    bypass: 'AzureServices' | 'None';
    virtualNetworkRuleIds: string[];
  };
  /** What went wrong when the vault could not be read (for the message). */
  detail?: string;
}

/** Per key: what Key Vault said and whether the encryption identity can already use it. */
export interface KeySubjectFacts {
  /** Undefined when the key was not read (foreign host, vault unavailable). */
  key?: KeyFacts;
  /** Undefined = unknown (e.g. the system-assigned identity does not exist yet). */
  identityHasAccess?: boolean;
  /**
   * What the app saw of this key before (guardian flows only): the last read that found it, and since
   * when it is known gone. The deleted-key cache window (CMK-010 `cached`) is judged from these.
   */
  seen?: { lastPresentAt?: string; goneSince?: string };
}

export interface UserAssignedIdentityFacts {
  resourceId: string;
  status: 'found' | 'notFound' | 'forbidden';
  principalId?: string;
  tenantId?: string;
}

export interface RuleSettings {
  keyVaultDnsSuffix: string;
  keyExpiryWarningDays: number;
  /** Diagnose only: every namespace must have infrastructure (double) encryption (CMK-013). */
  requireInfrastructureEncryption?: boolean;
  /**
   * Diagnose only: the ARM scopes (subscription, resource group or namespace ids) whose namespaces
   * must have infrastructure encryption (CMK-013; REQUIRE_INFRASTRUCTURE_ENCRYPTION). Lower-case.
   */
  infrastructureEncryptionScopes?: readonly string[];
  /**
   * DELETED_KEY_CACHE_MINUTES: how long Service Bus may keep using a key after it is deleted (the
   * 2019 article's "up to an hour"; the current docs describe a 5-minute poll instead) [U]. Default 60.
   */
  deletedKeyCacheMinutes?: number;
}

/** What the enable preflight reads before anything is written. */
export interface EnablePreflightFacts {
  namespace: NamespaceFacts;
  request: { keys: KeyRef[]; identity: EncryptionIdentity; requireInfrastructureEncryption: boolean };
  /** One per distinct trusted vault of the requested keys. */
  vaults: VaultFacts[];
  /** Aligned with request.keys. */
  keys: KeySubjectFacts[];
  /** When the request names a user-assigned identity. */
  userAssignedIdentity?: UserAssignedIdentityFacts;
  settings: RuleSettings;
}

/** What diagnose reads: the namespace and the keys it is configured with. */
export interface DiagnoseFacts {
  namespace: NamespaceFacts;
  vaults: VaultFacts[];
  /** Aligned with namespace.cmk.keys (empty when not encrypted). */
  keys: KeySubjectFacts[];
  /** Principal id of the encryption identity, when known (for grant commands). */
  principalId?: string;
  /**
   * Geo-DR primaries only (CMK-012): the partner's identity and whether it can use each of the
   * primary's keys (aligned with namespace.cmk.keys; `{}` = unknown).
   */
  geoDrPartner?: { namespaceId: string; principalId?: string; keys: { identityHasAccess?: boolean }[] };
  settings: RuleSettings;
}
