/**
 * The Key Vault model: vaults (the Microsoft.KeyVault/vaults resource) and their keys, with the checks
 * Key Vault makes, its error codes, and everything time-based (expiry, auto-rotation, Notify, scheduled
 * purge) scheduled on the injected sandbox clock. Pure of HTTP: the ARM and data-plane routes (arm.ts,
 * dataplane.ts) translate requests into these calls, and other emulated services (Service Bus CMK) call
 * the data-plane methods directly with a `Caller`, so they meet the same firewall and permissions.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  randomBytes,
} from 'node:crypto';
import type { Cancel, Clock } from '../../clock';
import { addDuration, approxMs, DAY_MS, parseDuration, type Duration } from './duration';
import { armErrors, KeyVaultError, kvErrors } from './errors';
import {
  CURVES,
  generateMaterial,
  isRsa,
  materialFromJwk,
  RSA_SIZES,
  rsaDecrypt,
  rsaEncrypt,
  signDigest,
  verifyDigest,
  type CurveName,
  type KeyMaterial,
  type KeyType,
} from './keycrypto';
import {
  accessPolicyAllows,
  applyAccessPolicyChange,
  ipRuleMatches,
  KEY_OPERATIONS,
  KEY_PERMISSIONS,
  type AccessPolicyEntry,
  type Caller,
  type KeyOperation,
} from './permissions';

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

const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const VAULT_NAME = /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const RSA_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];
const EC_OPS = ['sign', 'verify'];
const ALL_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import', 'export'];
/** Operations Key Vault refuses outside a key's nbf/exp window; decrypt, unwrapKey and verify stay allowed. */
const PROTECT_OPS = new Set(['encrypt', 'wrapKey', 'sign']);
const DEFAULT_NOTIFY: LifetimeAction = { trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } };

const lower = (s: string): string => s.toLowerCase();
/** Prefix of sandbox key backups (the service's blobs are opaque too; this one says what it is). */
const BACKUP_MAGIC = Buffer.from('AKVSANDBOXBACKUP1');
const newVersionId = (): string => randomBytes(16).toString('hex');

export class KeyVaultModel {
  private readonly vaults = new Map<string, Vault>();
  /** Soft-deleted vaults by lower-cased name: names are global, so a deleted name blocks reuse. */
  private readonly deletedVaults = new Map<string, DeletedVault>();

  constructor(private readonly options: KeyVaultModelOptions) {}

  /** Forgets every vault (control-API reset): cancels their clock timers first. */
  reset(): void {
    for (const vault of this.vaults.values()) {
      for (const key of vault.keys.values()) this.cancelTimers(key);
      for (const d of vault.deletedKeys.values()) d.purgeTimer();
    }
    for (const d of this.deletedVaults.values()) d.purgeTimer();
    this.vaults.clear();
    this.deletedVaults.clear();
  }

  private now(): number {
    return this.options.clock.now();
  }

  // ─────────────────────────────── persistence ───────────────────────────────

  /** The whole estate as plain JSON (key material as PKCS#8 PEM), for the sandbox store/snapshot. */
  exportState(): StoredState {
    return {
      vaults: [...this.vaults.values()].map(storeVault),
      deletedVaults: [...this.deletedVaults.values()].map((d) => ({
        vault: storeVault(d.vault),
        deletionDate: d.deletionDate,
        scheduledPurgeDate: d.scheduledPurgeDate,
      })),
    };
  }

  /**
   * Replaces the estate with a stored one and re-arms everything time-based. What fell due while the
   * sandbox was stopped (a rotation, a scheduled purge) happens as soon as the clock runs.
   */
  importState(state: StoredState): void {
    this.reset();
    for (const stored of state.vaults) {
      const vault = loadVault(stored);
      this.bindUri(vault);
      this.vaults.set(lower(vault.name), vault);
      for (const key of vault.keys.values()) this.armTimers(vault, key);
      for (const [n, d] of vault.deletedKeys)
        d.purgeTimer = this.schedulePurge(vault, n, d.scheduledPurgeDate);
    }
    for (const stored of state.deletedVaults) {
      const vault = loadVault(stored.vault);
      this.bindUri(vault);
      const name = lower(vault.name);
      const purgeTimer = this.options.clock.schedule(
        stored.scheduledPurgeDate,
        () => {
          this.deletedVaults.delete(name);
          this.changed();
        },
        `keyvault purge vault ${vault.name}`,
      );
      this.deletedVaults.set(name, {
        vault,
        deletionDate: stored.deletionDate,
        scheduledPurgeDate: stored.scheduledPurgeDate,
        purgeTimer,
      });
    }
  }

  // ─────────────────────────────── management plane (ARM) ───────────────────────────────

  vaultByName(name: string): Vault | undefined {
    this.reconcile();
    return this.vaults.get(lower(name));
  }

  /**
   * `vaultUri` is derived, not stored: it names the port this run listens on, which a restarted sandbox
   * may change (and which is not known yet while a snapshot is loaded at start-up).
   */
  private bindUri(vault: Vault): void {
    Object.defineProperty(vault.properties, 'vaultUri', {
      get: () => this.options.vaultUri(vault.name),
      enumerable: true,
      configurable: true,
    });
  }

  private changed(): void {
    this.options.onChange?.();
  }

  setProvisioningState(vault: Vault, state: VaultProperties['provisioningState']): void {
    vault.properties.provisioningState = state;
    this.changed();
  }

  /** Soft-deletes vaults whose resource group has gone. */
  private reconcile(): void {
    const exists = this.options.resourceGroupExists;
    if (!exists) return;
    for (const vault of [...this.vaults.values()]) {
      if (!exists(vault.subscriptionId, vault.resourceGroup)) {
        this.deleteVault(vault.subscriptionId, vault.resourceGroup, vault.name);
      }
    }
  }

  getVault(subscriptionId: string, resourceGroup: string, name: string): Vault {
    this.reconcile();
    const vault = this.vaults.get(lower(name));
    if (
      !vault ||
      lower(vault.subscriptionId) !== lower(subscriptionId) ||
      lower(vault.resourceGroup) !== lower(resourceGroup)
    ) {
      throw armErrors.vaultNotFound(name, resourceGroup);
    }
    return vault;
  }

  listVaults(subscriptionId: string, resourceGroup?: string): Vault[] {
    this.reconcile();
    return [...this.vaults.values()]
      .filter(
        (v) =>
          lower(v.subscriptionId) === lower(subscriptionId) &&
          (resourceGroup === undefined || lower(v.resourceGroup) === lower(resourceGroup)),
      )
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  checkNameAvailability(name: string): { nameAvailable: boolean; reason?: string; message?: string } {
    if (!VAULT_NAME.test(name)) {
      return {
        nameAvailable: false,
        reason: 'AccountNameInvalid',
        message: armErrors.invalidName(name).message,
      };
    }
    if (this.vaults.has(lower(name)) || this.deletedVaults.has(lower(name))) {
      return {
        nameAvailable: false,
        reason: 'AlreadyExists',
        message: `The vault name '${name}' is already in use.`,
      };
    }
    return { nameAvailable: true };
  }

  /**
   * PUT vaults/{name}: creates, recovers (createMode "recover") or replaces a vault. Returns whether it
   * was created. The write rules are Key Vault's: soft delete cannot be off, retention is fixed once
   * set, purge protection is irreversible, names are global and a soft-deleted name is reserved.
   */
  putVault(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    body: unknown,
    principalId: string,
  ): { vault: Vault; created: boolean } {
    if (!VAULT_NAME.test(name)) throw armErrors.invalidName(name);
    this.reconcile();
    const input = asObject(body, 'The request body is not a valid vault definition.');
    const props = asObject(input.properties ?? {}, 'The property "properties" must be an object.');
    const location = input.location;
    if (typeof location !== 'string' || !location) {
      throw armErrors.badRequest('The parameter location must be specified.');
    }
    const existing = this.vaults.get(lower(name));
    if (existing && lower(existing.subscriptionId) !== lower(subscriptionId)) throw armErrors.nameTaken(name);
    if (existing && lower(existing.resourceGroup) !== lower(resourceGroup)) throw armErrors.nameTaken(name);
    if (existing && normaliseLocation(existing.location) !== normaliseLocation(location)) {
      throw new KeyVaultError(
        400,
        'InvalidResourceLocation',
        `The resource '${name}' already exists in location '${existing.location}' in resource group '${resourceGroup}'. A resource with the same name cannot be created in location '${location}'. Please select a new resource name.`,
      );
    }

    if (props.createMode === 'recover')
      return { vault: this.recoverVault(subscriptionId, name, location), created: false };

    const deleted = this.deletedVaults.get(lower(name));
    if (!existing && deleted) {
      if (lower(deleted.vault.subscriptionId) === lower(subscriptionId)) throw armErrors.nameInDeletedState();
      throw armErrors.nameTaken(name);
    }

    const now = this.now();
    const tenantId = props.tenantId;
    const sku = props.sku as { family?: string; name?: string } | undefined;
    if (!existing) {
      if (typeof tenantId !== 'string' || !isGuid(tenantId)) {
        throw armErrors.badRequest('The parameter tenantId must be a valid GUID.');
      }
      if (!sku || typeof sku !== 'object') throw armErrors.badRequest('The parameter sku must be specified.');
    }
    this.validateCommonProperties(props, existing);

    const base: VaultProperties = existing
      ? structuredCloneProps(existing.properties)
      : {
          tenantId: tenantId as string,
          sku: { family: 'A', name: 'standard' },
          accessPolicies: [],
          vaultUri: this.options.vaultUri(name),
          enabledForDeployment: false,
          enabledForDiskEncryption: false,
          enabledForTemplateDeployment: false,
          enableSoftDelete: true,
          softDeleteRetentionInDays: 90,
          enableRbacAuthorization: false,
          publicNetworkAccess: 'Enabled',
          provisioningState: 'Succeeded',
        };
    // A PUT restates the resource: optional flags not given fall back to their defaults, but the
    // immutable/irreversible ones (retention, purge protection) keep what the vault already has.
    const merged = this.mergeProperties(base, props, existing === undefined ? 'create' : 'put');
    const vault: Vault = existing ?? {
      id: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.KeyVault/vaults/${name}`,
      name,
      subscriptionId,
      resourceGroup,
      location,
      tags: {},
      properties: merged,
      createdAt: now,
      createdBy: principalId,
      lastModifiedAt: now,
      lastModifiedBy: principalId,
      keys: new Map(),
      deletedKeys: new Map(),
    };
    const policiesBefore = JSON.stringify(vault.properties.accessPolicies);
    vault.properties = merged;
    this.bindUri(vault);
    vault.tags = asTags(input.tags);
    vault.lastModifiedAt = now;
    vault.lastModifiedBy = principalId;
    this.vaults.set(lower(name), vault);
    if (existing && policiesBefore !== JSON.stringify(merged.accessPolicies)) this.accessPolicyChanged(vault);
    this.changed();
    return { vault, created: !existing };
  }

  /** PATCH vaults/{name}: changes only what the body names. */
  patchVault(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    body: unknown,
    principalId: string,
  ): Vault {
    const vault = this.getVault(subscriptionId, resourceGroup, name);
    const input = asObject(body, 'The request body is not a valid vault patch.');
    const props = asObject(input.properties ?? {}, 'The property "properties" must be an object.');
    this.validateCommonProperties(props, vault);
    const before = JSON.stringify(vault.properties.accessPolicies);
    vault.properties = this.mergeProperties(structuredCloneProps(vault.properties), props, 'patch');
    this.bindUri(vault);
    if (input.tags !== undefined) vault.tags = asTags(input.tags);
    vault.lastModifiedAt = this.now();
    vault.lastModifiedBy = principalId;
    if (before !== JSON.stringify(vault.properties.accessPolicies)) this.accessPolicyChanged(vault);
    this.changed();
    return vault;
  }

  updateAccessPolicy(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    kind: string,
    body: unknown,
    principalId: string,
  ): { vault: Vault; accessPolicies: AccessPolicyEntry[] } {
    if (kind !== 'add' && kind !== 'replace' && kind !== 'remove') {
      throw armErrors.badRequest(
        `The access policy operation kind '${kind}' is not valid. Use add, replace or remove.`,
      );
    }
    const vault = this.getVault(subscriptionId, resourceGroup, name);
    const input = asObject(body, 'The request body is not valid.');
    const props = asObject(input.properties ?? {}, 'The property "properties" must be an object.');
    const entries = parseAccessPolicies(props.accessPolicies);
    if (!entries) throw armErrors.badRequest('The parameter properties.accessPolicies must be an array.');
    const next = applyAccessPolicyChange(vault.properties.accessPolicies, kind, entries);
    if (next.length > 1024) throw armErrors.badRequest('A vault can hold at most 1024 access policies.');
    const changed = JSON.stringify(next) !== JSON.stringify(vault.properties.accessPolicies);
    vault.properties.accessPolicies = next;
    vault.lastModifiedAt = this.now();
    vault.lastModifiedBy = principalId;
    if (changed) this.accessPolicyChanged(vault);
    this.changed();
    return { vault, accessPolicies: next };
  }

  /** DELETE vaults/{name}: the vault (with its keys) moves to deleted vaults for its retention period. */
  deleteVault(subscriptionId: string, resourceGroup: string, name: string): boolean {
    let vault: Vault;
    try {
      vault = this.getVault(subscriptionId, resourceGroup, name);
    } catch {
      return false; // ARM deletes are idempotent: a missing vault answers 204.
    }
    for (const key of vault.keys.values()) this.cancelTimers(key);
    for (const d of vault.deletedKeys.values()) d.purgeTimer();
    const now = this.now();
    const scheduledPurgeDate = now + vault.properties.softDeleteRetentionInDays * DAY_MS;
    this.vaults.delete(lower(name));
    const purgeTimer = this.options.clock.schedule(
      scheduledPurgeDate,
      () => {
        this.deletedVaults.delete(lower(name));
        this.changed();
      },
      `keyvault purge vault ${name}`,
    );
    this.deletedVaults.set(lower(name), { vault, deletionDate: now, scheduledPurgeDate, purgeTimer });
    this.changed();
    return true;
  }

  getDeletedVault(subscriptionId: string, location: string, name: string): DeletedVault {
    this.reconcile();
    const d = this.deletedVaults.get(lower(name));
    if (
      !d ||
      lower(d.vault.subscriptionId) !== lower(subscriptionId) ||
      normaliseLocation(d.vault.location) !== normaliseLocation(location)
    ) {
      throw armErrors.deletedVaultNotFound(name);
    }
    return d;
  }

  listDeletedVaults(subscriptionId: string): DeletedVault[] {
    this.reconcile();
    return [...this.deletedVaults.values()].filter(
      (d) => lower(d.vault.subscriptionId) === lower(subscriptionId),
    );
  }

  purgeDeletedVault(subscriptionId: string, location: string, name: string): void {
    const d = this.getDeletedVault(subscriptionId, location, name);
    if (d.vault.properties.enablePurgeProtection) throw armErrors.purgeProtected(name);
    d.purgeTimer();
    this.deletedVaults.delete(lower(name));
    this.changed();
  }

  private recoverVault(subscriptionId: string, name: string, location: string): Vault {
    const d = this.deletedVaults.get(lower(name));
    if (!d || lower(d.vault.subscriptionId) !== lower(subscriptionId)) {
      throw armErrors.badRequest(
        `The vault '${name}' cannot be recovered because it is not in a deleted state in location '${location}'.`,
      );
    }
    d.purgeTimer();
    this.deletedVaults.delete(lower(name));
    this.vaults.set(lower(name), d.vault);
    for (const key of d.vault.keys.values()) this.armTimers(d.vault, key);
    for (const [n, dk] of d.vault.deletedKeys) {
      dk.purgeTimer = this.schedulePurge(d.vault, n, dk.scheduledPurgeDate);
    }
    this.changed();
    return d.vault;
  }

  private validateCommonProperties(props: Record<string, unknown>, existing: Vault | undefined): void {
    if (props.enableSoftDelete === false) {
      throw armErrors.badRequest(
        existing
          ? 'The property "enableSoftDelete" can be set to false only for creating new vault. Enabling the \'soft delete\' functionality is an irreversible action.'
          : 'The property "enableSoftDelete" cannot be set to false. Soft delete is always enabled for new vaults.',
      );
    }
    const retention = props.softDeleteRetentionInDays;
    if (retention !== undefined) {
      if (typeof retention !== 'number' || !Number.isInteger(retention) || retention < 7 || retention > 90) {
        throw armErrors.badRequest(
          'The property "softDeleteRetentionInDays" must be an integer between 7 and 90.',
        );
      }
      if (existing && retention !== existing.properties.softDeleteRetentionInDays) {
        throw armErrors.badRequest(
          'The property "softDeleteRetentionInDays" has been set already and it can\'t be modified.',
        );
      }
    }
    // The service refuses an explicit false outright — on a new vault too (deployments that state
    // `enablePurgeProtection: false` fail even on first creation); only omitting it means "off".
    if (props.enablePurgeProtection === false) {
      throw armErrors.badRequest(
        'The property "enablePurgeProtection" cannot be set to false. Enabling the purge protection for a vault is an irreversible action.',
      );
    }
    if (props.sku !== undefined) {
      const sku = props.sku as { family?: unknown; name?: unknown };
      if (!sku || (lower(String(sku.name)) !== 'standard' && lower(String(sku.name)) !== 'premium')) {
        throw armErrors.badRequest("The sku name must be 'standard' or 'premium'.");
      }
    }
    if (props.tenantId !== undefined && (typeof props.tenantId !== 'string' || !isGuid(props.tenantId))) {
      throw armErrors.badRequest('The parameter tenantId must be a valid GUID.');
    }
    if (props.accessPolicies !== undefined) {
      const entries = parseAccessPolicies(props.accessPolicies);
      if (!entries) throw armErrors.badRequest('The parameter accessPolicies is not valid.');
      if (entries.length > 1024) throw armErrors.badRequest('A vault can hold at most 1024 access policies.');
    }
    if (props.networkAcls !== undefined) parseNetworkAcls(props.networkAcls);
    if (
      props.publicNetworkAccess !== undefined &&
      props.publicNetworkAccess !== 'Enabled' &&
      props.publicNetworkAccess !== 'Disabled'
    ) {
      throw armErrors.badRequest("The property publicNetworkAccess must be 'Enabled' or 'Disabled'.");
    }
  }

  private mergeProperties(
    base: VaultProperties,
    props: Record<string, unknown>,
    mode: 'create' | 'put' | 'patch',
  ): VaultProperties {
    const flag = (key: string, current: boolean): boolean =>
      typeof props[key] === 'boolean' ? props[key] : mode === 'put' ? false : current;
    const next: VaultProperties = {
      ...base,
      tenantId: typeof props.tenantId === 'string' ? props.tenantId : base.tenantId,
      sku: props.sku
        ? {
            family: 'A',
            name: lower(String((props.sku as { name?: unknown }).name)) as 'standard' | 'premium',
          }
        : base.sku,
      accessPolicies: parseAccessPolicies(props.accessPolicies) ?? base.accessPolicies,
      enabledForDeployment: flag('enabledForDeployment', base.enabledForDeployment),
      enabledForDiskEncryption: flag('enabledForDiskEncryption', base.enabledForDiskEncryption),
      enabledForTemplateDeployment: flag('enabledForTemplateDeployment', base.enabledForTemplateDeployment),
      enableRbacAuthorization: flag('enableRbacAuthorization', base.enableRbacAuthorization),
      softDeleteRetentionInDays:
        mode === 'create' && typeof props.softDeleteRetentionInDays === 'number'
          ? props.softDeleteRetentionInDays
          : base.softDeleteRetentionInDays,
      publicNetworkAccess:
        props.publicNetworkAccess === 'Disabled' || props.publicNetworkAccess === 'Enabled'
          ? props.publicNetworkAccess
          : mode === 'put'
            ? 'Enabled'
            : base.publicNetworkAccess,
    };
    // Purge protection: true turns it on for good; false/absent never turns it off.
    if (props.enablePurgeProtection === true || base.enablePurgeProtection) next.enablePurgeProtection = true;
    else delete next.enablePurgeProtection;
    if (props.networkAcls !== undefined) {
      const acls = parseNetworkAcls(props.networkAcls);
      if (acls) next.networkAcls = acls;
      else delete next.networkAcls;
    } else if (mode === 'put') {
      delete next.networkAcls;
    }
    return next;
  }

  private accessPolicyChanged(vault: Vault): void {
    this.emit({
      type: 'Microsoft.KeyVault.VaultAccessPolicyChanged',
      vaultId: vault.id,
      vaultName: vault.name,
      objectName: vault.name,
      version: '',
      id: vault.properties.vaultUri,
      at: this.now(),
    });
  }

  // ─────────────────────────────── data plane: authorisation ───────────────────────────────

  /** Caller description as Key Vault prints it in 403 messages. */
  static callerTag(caller: Caller): string {
    return `appid=${caller.appId ?? caller.objectId};oid=${caller.objectId};iss=https://sts.windows.net/${caller.tenantId}/`;
  }

  static vaultTag(vault: Vault): string {
    return `${vault.name};location=${normaliseLocation(vault.location)}`;
  }

  /**
   * What Key Vault checks before touching an object, in its order: the token's tenant is the vault's,
   * the network rules admit the caller, then the permission model the vault uses allows the operation.
   */
  async authorize(vault: Vault, caller: Caller, operation: KeyOperation, keyName?: string): Promise<void> {
    if (lower(caller.tenantId) !== lower(vault.properties.tenantId)) {
      throw new KeyVaultError(
        401,
        'Unauthorized',
        `AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${vault.properties.tenantId}/, found https://sts.windows.net/${caller.tenantId}/.`,
        undefined,
        // A new challenge naming the vault's tenant, so a multi-tenant client can fetch the right token.
        {
          'WWW-Authenticate': `Bearer authorization="https://login.microsoftonline.com/${vault.properties.tenantId}", resource="https://${new URL(vault.properties.vaultUri).hostname.split('.').slice(1).join('.')}"`,
        },
      );
    }
    this.checkNetwork(vault, caller);
    const { permission, dataAction } = KEY_OPERATIONS[operation];
    if (vault.properties.enableRbacAuthorization) {
      const scope = keyName ? `${vault.id}/keys/${keyName}` : vault.id;
      const allowed = this.options.checkDataAction
        ? await this.options.checkDataAction(caller, dataAction, scope)
        : false;
      if (!allowed) {
        throw kvErrors.rbacDenied(
          KeyVaultModel.callerTag(caller),
          dataAction,
          scope,
          KeyVaultModel.vaultTag(vault),
        );
      }
      return;
    }
    if (!accessPolicyAllows(vault.properties.accessPolicies, caller, permission)) {
      throw kvErrors.accessPolicyDenied(
        KeyVaultModel.callerTag(caller),
        permission,
        KeyVaultModel.vaultTag(vault),
      );
    }
  }

  /**
   * The vault firewall. `publicNetworkAccess: Disabled` shuts every public caller out; `networkAcls`
   * with `defaultAction: Deny` admits trusted services (when `bypass` is AzureServices, the default)
   * and addresses matching an ipRule. Virtual network rules never match: sandbox callers do not come
   * from subnets (no service endpoints exist offline), so a vault relying on them denies everyone else.
   */
  checkNetwork(vault: Vault, caller: Caller): void {
    const acls = vault.properties.networkAcls;
    const bypass =
      (acls?.bypass ?? 'AzureServices') === 'AzureServices' && caller.trustedService !== undefined;
    if (vault.properties.publicNetworkAccess === 'Disabled') {
      if (bypass) return;
      throw kvErrors.publicAccessDisabled(
        caller.clientAddress,
        KeyVaultModel.callerTag(caller),
        KeyVaultModel.vaultTag(vault),
      );
    }
    if (!acls || acls.defaultAction !== 'Deny') return;
    if (bypass) return;
    if ((acls.ipRules ?? []).some((r) => ipRuleMatches(r.value, caller.clientAddress))) return;
    throw kvErrors.firewall(
      caller.clientAddress,
      KeyVaultModel.callerTag(caller),
      KeyVaultModel.vaultTag(vault),
    );
  }

  // ─────────────────────────────── data plane: keys ───────────────────────────────

  async createKey(vault: Vault, caller: Caller, name: string, params: CreateKeyParams): Promise<KeyVersion> {
    await this.authorize(vault, caller, 'create', name);
    return this.addKeyVersion(vault, name, params);
  }

  /**
   * ARM `vaults/keys` PUT (createIfNotExist): the management plane creates the first version only and
   * never updates an existing key. No data-plane permission or firewall applies: ARM authorised it.
   */
  async armCreateKeyIfNotExist(
    vault: Vault,
    name: string,
    params: CreateKeyParams,
    policy?: PolicyInput,
  ): Promise<{ record: KeyRecord; created: boolean }> {
    const existing = vault.keys.get(lower(name));
    if (existing) return { record: existing, created: false };
    const validated = policy ? validatePolicy(policy) : undefined;
    await this.addKeyVersion(vault, name, params);
    const record = this.liveKey(vault, name);
    if (validated) {
      const now = this.now();
      record.rotationPolicy = {
        lifetimeActions: validated.lifetimeActions,
        ...(validated.expiryTime ? { expiryTime: validated.expiryTime } : {}),
        created: now,
        updated: now,
      };
      this.armTimers(vault, record);
      this.changed();
    }
    return { record, created: true };
  }

  /** ARM view of keys (no data-plane checks): live keys, or one key by name. */
  armKeys(vault: Vault): KeyRecord[] {
    return [...vault.keys.values()].sort((a, b) => lower(a.name).localeCompare(lower(b.name)));
  }

  armKey(vault: Vault, name: string, version?: string): { record: KeyRecord; version: KeyVersion } {
    const record = this.liveKey(vault, name);
    return { record, version: this.pickVersion(record, version) };
  }

  /**
   * PUT /keys/{name} (import, "bring your own key"): the key becomes a new version of `name`. Key Vault
   * needs the private parts; RSA sizes are 2048/3072/4096 and HSM protection needs a premium vault.
   */
  async importKey(
    vault: Vault,
    caller: Caller,
    name: string,
    params: {
      key: Record<string, unknown>;
      hsm?: boolean;
      attributes?: { enabled?: boolean; nbf?: number; exp?: number };
      tags?: Record<string, string>;
    },
  ): Promise<KeyVersion> {
    await this.authorize(vault, caller, 'import', name);
    assertKeyName(name);
    const material = materialFromJwk(params.key, params.hsm === true);
    if (!material) {
      throw kvErrors.badParameter('The key is not a valid RSA or EC JSON Web Key with its private parts.');
    }
    if (material.kty.endsWith('-HSM') && vault.properties.sku.name !== 'premium') {
      throw kvErrors.badParameter(
        `The Key Vault SKU 'standard' does not support HSM-protected keys (kty '${material.kty}'); use a premium vault.`,
      );
    }
    if (isRsa(material.kty) && !(RSA_SIZES as readonly number[]).includes(material.keySize ?? 0)) {
      throw kvErrors.badParameter(
        `The key size ${material.keySize ?? 0} is not supported for RSA keys. Supported sizes: 2048, 3072, 4096.`,
      );
    }
    const ops = Array.isArray(params.key.key_ops)
      ? (params.key.key_ops as unknown[]).map(String)
      : isRsa(material.kty)
        ? RSA_OPS
        : EC_OPS;
    for (const op of ops)
      if (!ALL_OPS.includes(op)) throw kvErrors.badParameter(`Invalid key operation: ${op}`);
    if (vault.deletedKeys.has(lower(name))) throw kvErrors.deletedButRecoverable(name);
    return this.storeVersion(vault, name, material, [...ops], params);
  }

  private async addKeyVersion(vault: Vault, name: string, params: CreateKeyParams): Promise<KeyVersion> {
    assertKeyName(name);
    const spec = this.validateCreate(vault, params);
    if (vault.deletedKeys.has(lower(name))) throw kvErrors.deletedButRecoverable(name);
    const material = await generateMaterial(spec.kty, spec.keySize, spec.curve);
    // Re-check after the asynchronous key generation: a concurrent delete may have happened meanwhile.
    if (vault.deletedKeys.has(lower(name))) throw kvErrors.deletedButRecoverable(name);
    return this.storeVersion(vault, name, material, spec.keyOps, params);
  }

  private storeVersion(
    vault: Vault,
    name: string,
    material: KeyMaterial,
    keyOps: string[],
    params: { attributes?: { enabled?: boolean; nbf?: number; exp?: number }; tags?: Record<string, string> },
  ): KeyVersion {
    const now = this.now();
    const version: KeyVersion = {
      version: newVersionId(),
      material,
      keyOps,
      enabled: params.attributes?.enabled ?? true,
      created: now,
      updated: now,
      tags: { ...(params.tags ?? {}) },
      ...(params.attributes?.nbf !== undefined ? { nbf: params.attributes.nbf * 1000 } : {}),
      ...(params.attributes?.exp !== undefined ? { exp: params.attributes.exp * 1000 } : {}),
    };
    let record = vault.keys.get(lower(name));
    if (!record) {
      record = { name, versions: [], timers: [] };
      vault.keys.set(lower(name), record);
    }
    record.versions.push(version);
    this.armTimers(vault, record);
    this.emitVersion(vault, record, version, 'Microsoft.KeyVault.KeyNewVersionCreated');
    this.changed();
    return version;
  }

  private validateCreate(
    vault: Vault,
    params: CreateKeyParams,
  ): { kty: KeyType; keySize?: number; curve?: CurveName; keyOps: string[] } {
    const kty = params.kty;
    if (kty === 'oct' || kty === 'oct-HSM') {
      throw kvErrors.badParameter(`Key type '${kty}' is only supported by Managed HSM.`);
    }
    if (kty !== 'RSA' && kty !== 'RSA-HSM' && kty !== 'EC' && kty !== 'EC-HSM') {
      throw kvErrors.badParameter(`The kty '${String(kty)}' is not a valid key type.`);
    }
    if (kty.endsWith('-HSM') && vault.properties.sku.name !== 'premium') {
      throw kvErrors.badParameter(
        `The Key Vault SKU 'standard' does not support HSM-protected keys (kty '${kty}'); use a premium vault.`,
      );
    }
    const ops = params.key_ops ?? (isRsa(kty) ? RSA_OPS : EC_OPS);
    for (const op of ops) {
      if (!ALL_OPS.includes(op)) throw kvErrors.badParameter(`Invalid key operation: ${op}`);
    }
    if (isRsa(kty)) {
      if (params.crv !== undefined)
        throw kvErrors.badParameter('The crv parameter is not valid for RSA keys.');
      const size = params.key_size ?? 2048;
      if (!(RSA_SIZES as readonly number[]).includes(size)) {
        throw kvErrors.badParameter(
          `The key size ${size} is not supported for RSA keys. Supported sizes: 2048, 3072, 4096.`,
        );
      }
      return { kty, keySize: size, keyOps: [...ops] };
    }
    const crv = (params.crv ?? 'P-256') as CurveName;
    if (!(crv in CURVES)) throw kvErrors.badParameter(`The curve '${crv}' is not supported.`);
    if (params.key_size !== undefined)
      throw kvErrors.badParameter('The key_size parameter is not valid for EC keys.');
    return { kty, curve: crv, keyOps: [...ops] };
  }

  /** The live key record, or KeyNotFound (a soft-deleted key is not found by the keys endpoints). */
  private liveKey(vault: Vault, name: string): KeyRecord {
    const record = vault.keys.get(lower(name));
    if (!record) throw kvErrors.keyNotFound(name);
    return record;
  }

  private pickVersion(record: KeyRecord, version?: string): KeyVersion {
    if (!version) {
      const latest = record.versions[record.versions.length - 1];
      if (!latest) throw kvErrors.keyNotFound(record.name);
      return latest;
    }
    const found = record.versions.find((v) => v.version === lower(version));
    if (!found) throw kvErrors.keyNotFound(`${record.name}/${version}`);
    return found;
  }

  async getKey(
    vault: Vault,
    caller: Caller,
    name: string,
    version?: string,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.authorize(vault, caller, 'get', name);
    const record = this.liveKey(vault, name);
    // A disabled or expired key still answers GET (attributes and public key); only crypto is refused.
    return { record, version: this.pickVersion(record, version) };
  }

  async listKeys(vault: Vault, caller: Caller): Promise<Array<{ record: KeyRecord; version: KeyVersion }>> {
    await this.authorize(vault, caller, 'list');
    return [...vault.keys.values()]
      .sort((a, b) => lower(a.name).localeCompare(lower(b.name)))
      .map((record) => ({ record, version: this.pickVersion(record) }));
  }

  async listKeyVersions(
    vault: Vault,
    caller: Caller,
    name: string,
  ): Promise<Array<{ record: KeyRecord; version: KeyVersion }>> {
    await this.authorize(vault, caller, 'list', name);
    const record = this.liveKey(vault, name);
    return record.versions.map((version) => ({ record, version }));
  }

  async updateKey(
    vault: Vault,
    caller: Caller,
    name: string,
    versionId: string | undefined,
    params: UpdateKeyParams,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.authorize(vault, caller, 'update', name);
    const record = this.liveKey(vault, name);
    const version = this.pickVersion(record, versionId);
    const attrs = params.attributes ?? {};
    if (params.key_ops !== undefined) {
      for (const op of params.key_ops) {
        if (!ALL_OPS.includes(op)) throw kvErrors.badParameter(`Invalid key operation: ${op}`);
      }
    }
    const exp = attrs.exp === undefined ? version.exp : attrs.exp === null ? undefined : attrs.exp * 1000;
    const nbf = attrs.nbf === undefined ? version.nbf : attrs.nbf === null ? undefined : attrs.nbf * 1000;
    if (exp !== undefined && nbf !== undefined && nbf > exp) {
      throw kvErrors.badParameter('The key activation date (nbf) must be before its expiration date (exp).');
    }
    const isLatest = record.versions[record.versions.length - 1] === version;
    if (isLatest && exp === undefined && hasExpiryTrigger(record.rotationPolicy)) {
      throw kvErrors.badParameter(
        'The expiration date of the latest key version cannot be removed while the rotation policy has a time-before-expiry trigger.',
      );
    }
    if (typeof attrs.enabled === 'boolean') version.enabled = attrs.enabled;
    if (exp === undefined) delete version.exp;
    else version.exp = exp;
    if (nbf === undefined) delete version.nbf;
    else version.nbf = nbf;
    if (params.key_ops !== undefined) version.keyOps = [...params.key_ops];
    if (params.tags !== undefined) version.tags = { ...params.tags };
    version.updated = this.now();
    this.armTimers(vault, record);
    this.changed();
    return { record, version };
  }

  async deleteKey(vault: Vault, caller: Caller, name: string): Promise<DeletedKeyRecord> {
    await this.authorize(vault, caller, 'delete', name);
    const record = this.liveKey(vault, name);
    this.cancelTimers(record);
    vault.keys.delete(lower(name));
    const now = this.now();
    const scheduledPurgeDate = now + vault.properties.softDeleteRetentionInDays * DAY_MS;
    const deleted: DeletedKeyRecord = {
      key: record,
      deletedDate: now,
      scheduledPurgeDate,
      purgeTimer: this.schedulePurge(vault, lower(name), scheduledPurgeDate),
    };
    vault.deletedKeys.set(lower(name), deleted);
    this.changed();
    return deleted;
  }

  private schedulePurge(vault: Vault, lowerName: string, at: number): Cancel {
    // Key Vault purges a soft-deleted key on its own once the retention period has passed.
    return this.options.clock.schedule(
      at,
      () => {
        const d = vault.deletedKeys.get(lowerName);
        if (d && d.scheduledPurgeDate <= this.now()) {
          vault.deletedKeys.delete(lowerName);
          this.changed();
        }
      },
      `keyvault purge key ${vault.name}/${lowerName}`,
    );
  }

  async getDeletedKey(vault: Vault, caller: Caller, name: string): Promise<DeletedKeyRecord> {
    await this.authorize(vault, caller, 'getDeleted', name);
    const d = vault.deletedKeys.get(lower(name));
    if (!d) throw kvErrors.deletedKeyNotFound(name);
    return d;
  }

  async listDeletedKeys(vault: Vault, caller: Caller): Promise<DeletedKeyRecord[]> {
    await this.authorize(vault, caller, 'listDeleted');
    return [...vault.deletedKeys.values()].sort((a, b) => lower(a.key.name).localeCompare(lower(b.key.name)));
  }

  async recoverDeletedKey(
    vault: Vault,
    caller: Caller,
    name: string,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.authorize(vault, caller, 'recover', name);
    const d = vault.deletedKeys.get(lower(name));
    if (!d) throw kvErrors.deletedKeyNotFound(name);
    d.purgeTimer();
    vault.deletedKeys.delete(lower(name));
    vault.keys.set(lower(name), d.key);
    this.armTimers(vault, d.key);
    this.changed();
    return { record: d.key, version: this.pickVersion(d.key) };
  }

  async purgeDeletedKey(vault: Vault, caller: Caller, name: string): Promise<void> {
    await this.authorize(vault, caller, 'purge', name);
    const d = vault.deletedKeys.get(lower(name));
    if (!d) throw kvErrors.deletedKeyNotFound(name);
    if (vault.properties.enablePurgeProtection) throw kvErrors.purgeProtected(KeyVaultModel.vaultTag(vault));
    d.purgeTimer();
    vault.deletedKeys.delete(lower(name));
    this.changed();
  }

  /**
   * POST /keys/{name}/backup: every version and the rotation policy in an opaque, encrypted blob that
   * only this sandbox can read back, and only into a vault of the same subscription and geography
   * (Key Vault's rule for backups).
   */
  async backupKey(vault: Vault, caller: Caller, name: string): Promise<Buffer> {
    await this.authorize(vault, caller, 'backup', name);
    const record = this.liveKey(vault, name);
    const payload = JSON.stringify({
      subscriptionId: lower(vault.subscriptionId),
      location: normaliseLocation(vault.location),
      key: storeKey(record),
    });
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.backupSecret(), iv);
    const body = Buffer.concat([cipher.update(payload, 'utf8'), cipher.final()]);
    return Buffer.concat([BACKUP_MAGIC, iv, cipher.getAuthTag(), body]);
  }

  /** POST /keys/restore: the key comes back with all its versions, under its original name. */
  async restoreKey(
    vault: Vault,
    caller: Caller,
    blob: Buffer,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.authorize(vault, caller, 'restore');
    let parsed: { subscriptionId: string; location: string; key: StoredKey };
    try {
      if (!blob.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) throw new Error('not a backup');
      const iv = blob.subarray(BACKUP_MAGIC.length, BACKUP_MAGIC.length + 12);
      const tag = blob.subarray(BACKUP_MAGIC.length + 12, BACKUP_MAGIC.length + 28);
      const decipher = createDecipheriv('aes-256-gcm', this.backupSecret(), iv);
      decipher.setAuthTag(tag);
      const text = Buffer.concat([
        decipher.update(blob.subarray(BACKUP_MAGIC.length + 28)),
        decipher.final(),
      ]);
      parsed = JSON.parse(text.toString('utf8')) as typeof parsed;
    } catch {
      throw kvErrors.badParameter('Backup blob contains invalid or corrupt data.');
    }
    if (
      parsed.subscriptionId !== lower(vault.subscriptionId) ||
      parsed.location !== normaliseLocation(vault.location)
    ) {
      throw new KeyVaultError(
        403,
        'Forbidden',
        'The backup can only be restored into a key vault in the same subscription and geography as the vault it was taken from.',
      );
    }
    const name = parsed.key.name;
    if (vault.deletedKeys.has(lower(name))) throw kvErrors.deletedButRecoverable(name);
    if (vault.keys.has(lower(name))) {
      throw new KeyVaultError(
        409,
        'Conflict',
        `There was a conflict restoring the key ${name}: a key with this name already exists.`,
      );
    }
    const record = loadKey(parsed.key);
    vault.keys.set(lower(name), record);
    this.armTimers(vault, record);
    this.changed();
    return { record, version: this.pickVersion(record) };
  }

  private backupSecret(): Buffer {
    const secret = this.options.backupSecret?.();
    if (!secret || secret.length !== 32)
      throw new Error('Key Vault model: no 32-byte backup secret configured');
    return secret;
  }

  async rotateKey(
    vault: Vault,
    caller: Caller,
    name: string,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.authorize(vault, caller, 'rotate', name);
    const record = this.liveKey(vault, name);
    return { record, version: await this.rotate(vault, record) };
  }

  /** A new version like the current one (type, size/curve, key_ops, tags); expiry from the policy. */
  private async rotate(vault: Vault, record: KeyRecord): Promise<KeyVersion> {
    const current = this.pickVersion(record);
    const material = await generateMaterial(
      current.material.kty,
      current.material.keySize,
      current.material.curve,
    );
    const now = this.now();
    const expiry = record.rotationPolicy?.expiryTime
      ? parseDuration(record.rotationPolicy.expiryTime)
      : undefined;
    const version: KeyVersion = {
      version: newVersionId(),
      material,
      keyOps: [...current.keyOps],
      enabled: true,
      created: now,
      updated: now,
      tags: { ...current.tags },
      ...(expiry ? { exp: addDuration(now, expiry) } : {}),
    };
    record.versions.push(version);
    this.armTimers(vault, record);
    this.emitVersion(vault, record, version, 'Microsoft.KeyVault.KeyNewVersionCreated');
    this.changed();
    return version;
  }

  async getRotationPolicy(
    vault: Vault,
    caller: Caller,
    name: string,
  ): Promise<{ record: KeyRecord; policy?: RotationPolicy }> {
    await this.authorize(vault, caller, 'getrotationpolicy', name);
    const record = this.liveKey(vault, name);
    return { record, ...(record.rotationPolicy ? { policy: record.rotationPolicy } : {}) };
  }

  async setRotationPolicy(
    vault: Vault,
    caller: Caller,
    name: string,
    input: PolicyInput,
  ): Promise<{ record: KeyRecord; policy: RotationPolicy }> {
    await this.authorize(vault, caller, 'setrotationpolicy', name);
    const record = this.liveKey(vault, name);
    const { lifetimeActions, expiryTime } = validatePolicy(input);
    const latest = this.pickVersion(record);
    if (
      lifetimeActions.some((a) => a.action.type === 'Rotate' && a.trigger.timeBeforeExpiry) &&
      latest.exp === undefined &&
      !expiryTime
    ) {
      throw kvErrors.badParameter(
        'A rotation policy with a time-before-expiry Rotate trigger needs an expiry time on the policy or an expiration date on the latest key version.',
      );
    }
    const now = this.now();
    record.rotationPolicy = {
      lifetimeActions,
      ...(expiryTime ? { expiryTime } : {}),
      created: record.rotationPolicy?.created ?? now,
      updated: now,
    };
    this.armTimers(vault, record);
    this.changed();
    return { record, policy: record.rotationPolicy };
  }

  /** encrypt, decrypt, wrapKey, unwrapKey with the chosen version; checks enabled/nbf/exp/key_ops. */
  async cryptoOperation(
    vault: Vault,
    caller: Caller,
    operation: 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey',
    name: string,
    versionId: string | undefined,
    algorithm: string,
    value: Buffer,
  ): Promise<{ record: KeyRecord; version: KeyVersion; result: Buffer }> {
    await this.authorize(vault, caller, operation, name);
    const record = this.liveKey(vault, name);
    const version = this.pickVersion(record, versionId);
    this.checkUsable(version, operation);
    const result =
      operation === 'encrypt' || operation === 'wrapKey'
        ? rsaEncrypt(version.material, algorithm, value)
        : rsaDecrypt(version.material, algorithm, value);
    return { record, version, result };
  }

  async sign(
    vault: Vault,
    caller: Caller,
    name: string,
    versionId: string | undefined,
    algorithm: string,
    digest: Buffer,
  ): Promise<{ record: KeyRecord; version: KeyVersion; result: Buffer }> {
    await this.authorize(vault, caller, 'sign', name);
    const record = this.liveKey(vault, name);
    const version = this.pickVersion(record, versionId);
    this.checkUsable(version, 'sign');
    return { record, version, result: signDigest(version.material, algorithm, digest) };
  }

  async verify(
    vault: Vault,
    caller: Caller,
    name: string,
    versionId: string | undefined,
    algorithm: string,
    digest: Buffer,
    signature: Buffer,
  ): Promise<boolean> {
    await this.authorize(vault, caller, 'verify', name);
    const record = this.liveKey(vault, name);
    const version = this.pickVersion(record, versionId);
    this.checkUsable(version, 'verify');
    return verifyDigest(version.material, algorithm, digest, signature);
  }

  private checkUsable(version: KeyVersion, operation: string): void {
    if (!version.enabled) throw kvErrors.disabled(operation);
    if (!version.keyOps.includes(operation)) throw kvErrors.operationNotPermitted(operation);
    if (PROTECT_OPS.has(operation)) {
      const now = this.now();
      if (version.nbf !== undefined && now < version.nbf) throw kvErrors.notYetValid(operation);
      if (version.exp !== undefined && now >= version.exp) throw kvErrors.expired(operation);
    }
  }

  // ─────────────────────────────── time: rotation, Notify, expiry ───────────────────────────────

  private cancelTimers(record: KeyRecord): void {
    for (const cancel of record.timers) cancel();
    record.timers = [];
  }

  /**
   * (Re)schedules what the clock will do to the current version: auto-rotation (timeAfterCreate from
   * its creation, or timeBeforeExpiry before its expiry), the Notify (KeyNearExpiry) and KeyExpired
   * events. Called whenever the version, its attributes or the policy change.
   */
  private armTimers(vault: Vault, record: KeyRecord): void {
    this.cancelTimers(record);
    const current = record.versions[record.versions.length - 1];
    if (!current) return;
    const label = `keyvault ${vault.name}/${record.name}`;
    const actions = record.rotationPolicy?.lifetimeActions ?? [DEFAULT_NOTIFY];
    for (const action of actions) {
      const at = triggerTime(action, current);
      if (at === undefined) continue;
      if (action.action.type === 'Rotate') {
        record.timers.push(
          this.options.clock.schedule(
            at,
            async () => {
              // Rotate only if this version is still the live current one (not deleted meanwhile).
              if (vault.keys.get(lower(record.name)) !== record) return;
              if (record.versions[record.versions.length - 1] !== current) return;
              await this.rotate(vault, record);
            },
            `${label} auto-rotate`,
          ),
        );
      } else if (at >= this.now()) {
        record.timers.push(
          this.options.clock.schedule(
            at,
            () => this.emitVersion(vault, record, current, 'Microsoft.KeyVault.KeyNearExpiry'),
            `${label} notify near expiry`,
          ),
        );
      }
    }
    if (current.exp !== undefined && current.exp >= this.now()) {
      record.timers.push(
        this.options.clock.schedule(
          current.exp,
          () => this.emitVersion(vault, record, current, 'Microsoft.KeyVault.KeyExpired'),
          `${label} expired`,
        ),
      );
    }
  }

  private emitVersion(
    vault: Vault,
    record: KeyRecord,
    version: KeyVersion,
    type: KeyVaultEvent['type'],
  ): void {
    this.emit({
      type,
      vaultId: vault.id,
      vaultName: vault.name,
      objectName: record.name,
      version: version.version,
      id: `${vault.properties.vaultUri}keys/${record.name}/${version.version}`,
      ...(version.nbf !== undefined ? { nbf: Math.floor(version.nbf / 1000) } : {}),
      ...(version.exp !== undefined ? { exp: Math.floor(version.exp / 1000) } : {}),
      at: this.now(),
    });
  }

  private emit(event: KeyVaultEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch (error) {
      console.error('[keyvault] event listener failed:', error);
    }
  }

  /** Recovery level Key Vault reports for objects in this vault. */
  static recoveryLevel(vault: Vault): string {
    const custom = vault.properties.softDeleteRetentionInDays < 90 ? 'Customized' : '';
    return vault.properties.enablePurgeProtection ? `${custom}Recoverable` : `${custom}Recoverable+Purgeable`;
  }
}

export interface StoredVersion extends Omit<KeyVersion, 'material'> {
  kty: KeyType;
  keySize?: number;
  curve?: CurveName;
  privateKeyPem: string;
}

export interface StoredKey {
  name: string;
  versions: StoredVersion[];
  rotationPolicy?: RotationPolicy;
}

export interface StoredVault extends Omit<Vault, 'keys' | 'deletedKeys'> {
  keys: StoredKey[];
  deletedKeys: Array<{ key: StoredKey; deletedDate: number; scheduledPurgeDate: number }>;
}

export interface StoredState {
  vaults: StoredVault[];
  deletedVaults: Array<{ vault: StoredVault; deletionDate: number; scheduledPurgeDate: number }>;
}

// PEM export is the costly part of a snapshot; a version's material never changes, so it is cached.
const pemCache = new WeakMap<KeyMaterial, string>();

function storeKey(record: KeyRecord): StoredKey {
  return {
    name: record.name,
    versions: record.versions.map(({ material, ...rest }) => {
      let pem = pemCache.get(material);
      if (!pem) {
        pem = material.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
        pemCache.set(material, pem);
      }
      return {
        ...structuredClone(rest),
        kty: material.kty,
        ...(material.keySize !== undefined ? { keySize: material.keySize } : {}),
        ...(material.curve !== undefined ? { curve: material.curve } : {}),
        privateKeyPem: pem,
      };
    }),
    ...(record.rotationPolicy ? { rotationPolicy: structuredClone(record.rotationPolicy) } : {}),
  };
}

function storeVault(vault: Vault): StoredVault {
  const { keys, deletedKeys, ...rest } = vault;
  return {
    ...structuredClone(rest),
    keys: [...keys.values()].map(storeKey),
    deletedKeys: [...deletedKeys.values()].map((d) => ({
      key: storeKey(d.key),
      deletedDate: d.deletedDate,
      scheduledPurgeDate: d.scheduledPurgeDate,
    })),
  };
}

function loadKey(stored: StoredKey): KeyRecord {
  return {
    name: stored.name,
    versions: stored.versions.map(({ kty, keySize, curve, privateKeyPem, ...rest }) => {
      const privateKey = createPrivateKey(privateKeyPem);
      const material: KeyMaterial = {
        kty,
        ...(keySize !== undefined ? { keySize } : {}),
        ...(curve !== undefined ? { curve } : {}),
        privateKey,
        publicKey: createPublicKey(privateKey),
      };
      pemCache.set(material, privateKeyPem);
      return { ...rest, material };
    }),
    ...(stored.rotationPolicy ? { rotationPolicy: stored.rotationPolicy } : {}),
    timers: [],
  };
}

function loadVault(stored: StoredVault): Vault {
  const { keys, deletedKeys, ...rest } = stored;
  const vault: Vault = { ...structuredClone(rest), keys: new Map(), deletedKeys: new Map() };
  for (const k of keys) vault.keys.set(lower(k.name), loadKey(k));
  for (const d of deletedKeys) {
    vault.deletedKeys.set(lower(d.key.name), {
      key: loadKey(d.key),
      deletedDate: d.deletedDate,
      scheduledPurgeDate: d.scheduledPurgeDate,
      purgeTimer: () => undefined,
    });
  }
  return vault;
}

function triggerTime(action: LifetimeAction, version: KeyVersion): number | undefined {
  if (action.trigger.timeAfterCreate) {
    const d = parseDuration(action.trigger.timeAfterCreate);
    return d ? addDuration(version.created, d) : undefined;
  }
  if (action.trigger.timeBeforeExpiry && version.exp !== undefined) {
    const d = parseDuration(action.trigger.timeBeforeExpiry);
    return d ? addDuration(version.exp, d, -1) : undefined;
  }
  return undefined;
}

function hasExpiryTrigger(policy: RotationPolicy | undefined): boolean {
  return !!policy?.lifetimeActions.some((a) => a.action.type === 'Rotate' && a.trigger.timeBeforeExpiry);
}

/**
 * Rotation policy rules (key-rotation docs and observed service behaviour): at most one Rotate and one
 * Notify; each trigger names exactly one of timeAfterCreate / timeBeforeExpiry; Notify only before
 * expiry; triggers at least 7 days; expiryTime at least 28 days and triggers at least 7 days inside it.
 * A policy without Notify gets the default Notify 30 days before expiry; an empty list resets to it.
 */
export function validatePolicy(input: PolicyInput): {
  lifetimeActions: LifetimeAction[];
  expiryTime?: string;
} {
  const raw = input.lifetimeActions ?? [];
  if (!Array.isArray(raw)) throw kvErrors.badParameter('lifetimeActions must be an array.');
  let expiry: Duration | undefined;
  const expiryTime = input.attributes?.expiryTime ?? undefined;
  if (expiryTime !== undefined && expiryTime !== null) {
    expiry = parseDuration(expiryTime);
    if (!expiry) throw kvErrors.badParameter(`Invalid ISO 8601 duration for expiryTime: '${expiryTime}'.`);
    if (approxMs(expiry) < 28 * DAY_MS)
      throw kvErrors.badParameter('The expiryTime of a rotation policy must be at least 28 days (P28D).');
  }
  const actions: LifetimeAction[] = [];
  for (const item of raw) {
    const type = item?.action?.type;
    const normalised = typeof type === 'string' ? lower(type) : '';
    if (normalised !== 'rotate' && normalised !== 'notify') {
      throw kvErrors.badParameter(
        `Invalid lifetime action type: '${String(type)}'. Supported: Rotate, Notify.`,
      );
    }
    const kind = normalised === 'rotate' ? 'Rotate' : 'Notify';
    if (actions.some((a) => a.action.type === kind)) {
      throw kvErrors.badParameter(`A rotation policy can contain only one ${kind} action.`);
    }
    const after = item.trigger?.timeAfterCreate ?? undefined;
    const before = item.trigger?.timeBeforeExpiry ?? undefined;
    if ((after === undefined) === (before === undefined)) {
      throw kvErrors.badParameter(
        'Each lifetime action trigger must specify exactly one of timeAfterCreate or timeBeforeExpiry.',
      );
    }
    if (kind === 'Notify' && after !== undefined) {
      throw kvErrors.badParameter('A Notify action supports only a timeBeforeExpiry trigger.');
    }
    const text = (after ?? before) as string;
    const d = parseDuration(text);
    if (!d) throw kvErrors.badParameter(`Invalid ISO 8601 duration in trigger: '${text}'.`);
    if (approxMs(d) < 7 * DAY_MS)
      throw kvErrors.badParameter('A lifetime action trigger must be at least 7 days (P7D).');
    if (expiry && approxMs(d) > approxMs(expiry) - 7 * DAY_MS) {
      throw kvErrors.badParameter(
        'A lifetime action trigger must be at least 7 days before the expiryTime of the policy.',
      );
    }
    actions.push({
      trigger: after !== undefined ? { timeAfterCreate: after } : { timeBeforeExpiry: before },
      action: { type: kind },
    });
  }
  if (!actions.some((a) => a.action.type === 'Notify')) actions.push(DEFAULT_NOTIFY);
  return { lifetimeActions: actions, ...(expiryTime ? { expiryTime } : {}) };
}

function assertKeyName(name: string): void {
  if (!KEY_NAME.test(name)) {
    throw kvErrors.badParameter(
      `The request URI contains an invalid name: ${name}. Key names may contain only alphanumeric characters and dashes (1-127).`,
    );
  }
}

function asObject(value: unknown, message: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw armErrors.badRequest(message);
  return value as Record<string, unknown>;
}

function asTags(value: unknown): Record<string, string> {
  if (!value || typeof value !== 'object') return {};
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

function isGuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}

export function normaliseLocation(location: string): string {
  return lower(location.replace(/\s+/g, ''));
}

function structuredCloneProps(p: VaultProperties): VaultProperties {
  return JSON.parse(JSON.stringify(p)) as VaultProperties;
}

function parseAccessPolicies(value: unknown): AccessPolicyEntry[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) return undefined;
  const out: AccessPolicyEntry[] = [];
  for (const raw of value as unknown[]) {
    const e = raw as Partial<AccessPolicyEntry> | null;
    if (!e || typeof e.objectId !== 'string' || typeof e.tenantId !== 'string' || !e.permissions) {
      throw armErrors.badRequest('Each access policy needs tenantId, objectId and permissions.');
    }
    if (!isGuid(e.tenantId)) throw armErrors.badRequest('The access policy tenantId must be a valid GUID.');
    const perms: AccessPolicyEntry['permissions'] = {};
    for (const c of ['keys', 'secrets', 'certificates', 'storage'] as const) {
      const list = e.permissions[c];
      if (list === undefined) continue;
      if (!Array.isArray(list) || list.some((p) => typeof p !== 'string')) {
        throw armErrors.badRequest(`The access policy permissions.${c} must be an array of strings.`);
      }
      if (c === 'keys') {
        const unknown = list.find((p) => !KEY_PERMISSIONS.some((k) => k.toLowerCase() === p.toLowerCase()));
        if (unknown !== undefined) {
          throw armErrors.badRequest(
            `The access policy key permission '${unknown}' is not valid. Valid values: ${KEY_PERMISSIONS.join(', ')}.`,
          );
        }
      }
      perms[c] = [...list];
    }
    out.push({
      tenantId: e.tenantId,
      objectId: e.objectId,
      ...(typeof e.applicationId === 'string' && e.applicationId ? { applicationId: e.applicationId } : {}),
      permissions: perms,
    });
  }
  return out;
}

function parseNetworkAcls(value: unknown): NetworkRuleSet | undefined {
  if (value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    throw armErrors.badRequest('networkAcls must be an object.');
  const v = value as Record<string, unknown>;
  const out: NetworkRuleSet = {
    bypass: 'AzureServices',
    defaultAction: 'Allow',
    ipRules: [],
    virtualNetworkRules: [],
  };
  if (v.bypass !== undefined) {
    if (v.bypass !== 'AzureServices' && v.bypass !== 'None') {
      throw armErrors.badRequest("networkAcls.bypass must be 'AzureServices' or 'None'.");
    }
    out.bypass = v.bypass;
  }
  if (v.defaultAction !== undefined) {
    if (v.defaultAction !== 'Allow' && v.defaultAction !== 'Deny') {
      throw armErrors.badRequest("networkAcls.defaultAction must be 'Allow' or 'Deny'.");
    }
    out.defaultAction = v.defaultAction;
  }
  if (v.ipRules !== undefined) {
    if (!Array.isArray(v.ipRules)) throw armErrors.badRequest('networkAcls.ipRules must be an array.');
    for (const r of v.ipRules as Array<{ value?: unknown }>) {
      const text = typeof r?.value === 'string' ? r.value : '';
      if (
        !/^(\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?$/.test(text) ||
        !ipRuleMatches(text, text.split('/')[0] ?? '')
      ) {
        throw armErrors.badRequest(`The IP rule '${text}' is not a valid IPv4 address or CIDR range.`);
      }
      out.ipRules?.push({ value: text });
    }
  }
  if (v.virtualNetworkRules !== undefined) {
    if (!Array.isArray(v.virtualNetworkRules)) {
      throw armErrors.badRequest('networkAcls.virtualNetworkRules must be an array.');
    }
    for (const r of v.virtualNetworkRules as Array<{
      id?: unknown;
      ignoreMissingVnetServiceEndpoint?: unknown;
    }>) {
      if (typeof r?.id !== 'string' || !/\/subnets\/[^/]+$/i.test(r.id)) {
        throw armErrors.badRequest('Each virtual network rule needs the resource id of a subnet.');
      }
      out.virtualNetworkRules?.push({
        id: r.id,
        ...(typeof r.ignoreMissingVnetServiceEndpoint === 'boolean'
          ? { ignoreMissingVnetServiceEndpoint: r.ignoreMissingVnetServiceEndpoint }
          : {}),
      });
    }
  }
  return out;
}
