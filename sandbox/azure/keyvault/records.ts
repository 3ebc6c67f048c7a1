/**
 * What the Key Vault model holds: vaults (the Microsoft.KeyVault/vaults resource), their keys and
 * versions, rotation policies, soft-deleted vaults and keys, and the events the model raises. Plain
 * records with no behaviour; the modules beside this one (management.ts, keys.ts, cryptoOperations.ts,
 * timers.ts, persistence.ts) act on them, and model.ts puts them together.
 */
import type { Cancel, Clock } from '../../clock';
import type { KeyMaterial } from './keycrypto';
import type { AccessPolicyEntry, Caller } from './permissions';

export interface NetworkRuleSet {
  bypass?: 'AzureServices' | 'None';
  defaultAction?: 'Allow' | 'Deny';
  ipRules?: Array<{ value: string }>;
  virtualNetworkRules?: Array<{ id: string; ignoreMissingVnetServiceEndpoint?: boolean }>;
}

export interface VaultProperties {
  tenantId: string;
  sku: { family: 'A'; name: 'standard' | 'premium' };
  accessPolicies: AccessPolicyEntry[];
  vaultUri: string;
  enabledForDeployment: boolean;
  enabledForDiskEncryption: boolean;
  enabledForTemplateDeployment: boolean;
  enableSoftDelete: true;
  softDeleteRetentionInDays: number;
  enableRbacAuthorization: boolean;
  /** Absent until turned on; once true it can never be false again. */
  enablePurgeProtection?: true;
  networkAcls?: NetworkRuleSet;
  publicNetworkAccess: 'Enabled' | 'Disabled';
  provisioningState: 'Succeeded' | 'RegisteringDns';
}

export interface Vault {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  properties: VaultProperties;
  createdAt: number;
  createdBy: string;
  lastModifiedAt: number;
  lastModifiedBy: string;
  /** Live keys by lower-cased name (Key Vault object names are case-insensitive). */
  keys: Map<string, KeyRecord>;
  deletedKeys: Map<string, DeletedKeyRecord>;
}

export interface DeletedVault {
  vault: Vault;
  deletionDate: number;
  scheduledPurgeDate: number;
  purgeTimer: Cancel;
}

export interface KeyVersion {
  version: string;
  material: KeyMaterial;
  keyOps: string[];
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  tags: Record<string, string>;
}

export interface LifetimeAction {
  trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string };
  action: { type: 'Rotate' | 'Notify' };
}

export interface RotationPolicy {
  lifetimeActions: LifetimeAction[];
  expiryTime?: string;
  created: number;
  updated: number;
}

export interface KeyRecord {
  name: string;
  /** Oldest first; the last one is the current ("latest") version. */
  versions: KeyVersion[];
  rotationPolicy?: RotationPolicy;
  timers: Cancel[];
}

export interface DeletedKeyRecord {
  key: KeyRecord;
  deletedDate: number;
  scheduledPurgeDate: number;
  purgeTimer: Cancel;
}

/** Key Vault events (Event Grid `Microsoft.KeyVault.*` types) raised when their cause happens. */
export interface KeyVaultEvent {
  type:
    | 'Microsoft.KeyVault.KeyNewVersionCreated'
    | 'Microsoft.KeyVault.KeyNearExpiry'
    | 'Microsoft.KeyVault.KeyExpired'
    | 'Microsoft.KeyVault.VaultAccessPolicyChanged';
  vaultId: string;
  vaultName: string;
  objectName: string;
  version: string;
  id: string;
  nbf?: number;
  exp?: number;
  at: number;
}

export interface KeyVaultModelOptions {
  clock: Clock;
  /** The vault URI for a vault name, e.g. `https://<name>.vault.azure.net/` (trailing slash). */
  vaultUri: (name: string) => string;
  /** RBAC data-action check (the core's role assignments); required for RBAC vaults. */
  checkDataAction?: (caller: Caller, dataAction: string, scope: string) => boolean | Promise<boolean>;
  onEvent?: (event: KeyVaultEvent) => void;
  /**
   * Whether a resource group still exists. Deleting a resource group soft-deletes the vaults in it (as
   * in Azure); the model notices lazily, on its next read of vaults.
   */
  resourceGroupExists?: (subscriptionId: string, resourceGroup: string) => boolean;
  /** 32-byte secret that seals key backups (kept across restarts so old backups still restore). */
  backupSecret?: () => Buffer;
  /** Called after every change of state (requests and clock-driven ones), e.g. to persist it. */
  onChange?: () => void;
}

export interface CreateKeyParams {
  kty: string;
  key_size?: number;
  crv?: string;
  key_ops?: string[];
  attributes?: { enabled?: boolean; nbf?: number; exp?: number };
  tags?: Record<string, string>;
}

export interface UpdateKeyParams {
  key_ops?: string[];
  attributes?: { enabled?: boolean; nbf?: number | null; exp?: number | null };
  tags?: Record<string, string>;
}

export interface PolicyInput {
  lifetimeActions?: Array<{
    trigger?: { timeAfterCreate?: string; timeBeforeExpiry?: string };
    action?: { type?: string };
  }>;
  attributes?: { expiryTime?: string };
}

/** Key Vault object and vault names are case-insensitive: maps are keyed by the lower-cased name. */
export const lower = (s: string): string => s.toLowerCase();
