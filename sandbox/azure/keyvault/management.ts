/**
 * Vault management (the ARM side of Microsoft.KeyVault/vaults): create, recover, replace, patch,
 * access policies, delete to soft-deleted vaults, purge, name availability. ARM authorises these calls
 * by RBAC before they reach here (arm.ts); each public method is one management operation, so an audit
 * of management calls belongs around the arm.ts handlers that call them.
 */
import { DAY_MS } from './duration';
import { armErrors, KeyVaultError } from './errors';
import type { KeyVaultEstate } from './estate';
import type { KeyVaultEvents } from './events';
import { applyAccessPolicyChange, type AccessPolicyEntry } from './permissions';
import { lower, type DeletedVault, type Vault, type VaultProperties } from './records';
import type { KeyVaultTimers } from './timers';
import {
  asObject,
  asTags,
  isGuid,
  mergeProperties,
  normaliseLocation,
  parseAccessPolicies,
  structuredCloneProps,
  validateCommonProperties,
  VAULT_NAME,
} from './vaultProperties';

export class VaultManagement {
  constructor(
    private readonly estate: KeyVaultEstate,
    private readonly events: KeyVaultEvents,
    private readonly timers: KeyVaultTimers,
  ) {}

  vaultByName(name: string): Vault | undefined {
    this.reconcile();
    return this.estate.vaults.get(lower(name));
  }

  setProvisioningState(vault: Vault, state: VaultProperties['provisioningState']): void {
    vault.properties.provisioningState = state;
    this.estate.changed();
  }

  /** Soft-deletes vaults whose resource group has gone. */
  private reconcile(): void {
    const exists = this.estate.options.resourceGroupExists;
    if (!exists) return;
    for (const vault of [...this.estate.vaults.values()]) {
      if (!exists(vault.subscriptionId, vault.resourceGroup)) {
        this.deleteVault(vault.subscriptionId, vault.resourceGroup, vault.name);
      }
    }
  }

  getVault(subscriptionId: string, resourceGroup: string, name: string): Vault {
    this.reconcile();
    const vault = this.estate.vaults.get(lower(name));
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
    return [...this.estate.vaults.values()]
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
    if (this.estate.vaults.has(lower(name)) || this.estate.deletedVaults.has(lower(name))) {
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
    const existing = this.estate.vaults.get(lower(name));
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
      return { vault: this.recoverVault(subscriptionId, resourceGroup, name, location), created: false };

    const deleted = this.estate.deletedVaults.get(lower(name));
    if (!existing && deleted) {
      if (lower(deleted.vault.subscriptionId) === lower(subscriptionId)) throw armErrors.nameInDeletedState();
      throw armErrors.nameTaken(name);
    }

    const now = this.estate.now();
    const tenantId = props.tenantId;
    const sku = props.sku as { family?: string; name?: string } | undefined;
    if (!existing) {
      if (typeof tenantId !== 'string' || !isGuid(tenantId)) {
        throw armErrors.badRequest('The parameter tenantId must be a valid GUID.');
      }
      if (!sku || typeof sku !== 'object') throw armErrors.badRequest('The parameter sku must be specified.');
    }
    validateCommonProperties(props, existing);

    const base: VaultProperties = existing
      ? structuredCloneProps(existing.properties)
      : {
          tenantId: tenantId as string,
          sku: { family: 'A', name: 'standard' },
          accessPolicies: [],
          vaultUri: this.estate.options.vaultUri(name),
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
    const merged = mergeProperties(base, props, existing === undefined ? 'create' : 'put');
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
    const before = vault.properties;
    vault.properties = merged;
    this.estate.bindUri(vault);
    vault.tags = asTags(input.tags);
    vault.lastModifiedAt = now;
    vault.lastModifiedBy = principalId;
    this.estate.vaults.set(lower(name), vault);
    if (existing) this.announceAccessChange(vault, before);
    this.estate.changed();
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
    validateCommonProperties(props, vault);
    const before = vault.properties;
    vault.properties = mergeProperties(structuredCloneProps(vault.properties), props, 'patch');
    this.estate.bindUri(vault);
    if (input.tags !== undefined) vault.tags = asTags(input.tags);
    vault.lastModifiedAt = this.estate.now();
    vault.lastModifiedBy = principalId;
    this.announceAccessChange(vault, before);
    this.estate.changed();
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
    const before = { ...vault.properties };
    vault.properties.accessPolicies = next;
    vault.lastModifiedAt = this.estate.now();
    vault.lastModifiedBy = principalId;
    this.announceAccessChange(vault, before);
    this.estate.changed();
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
    this.timers.cancelVault(vault);
    const now = this.estate.now();
    const scheduledPurgeDate = now + vault.properties.softDeleteRetentionInDays * DAY_MS;
    this.estate.vaults.delete(lower(name));
    const purgeTimer = this.timers.scheduleVaultPurge(name, scheduledPurgeDate);
    this.estate.deletedVaults.set(lower(name), { vault, deletionDate: now, scheduledPurgeDate, purgeTimer });
    this.estate.changed();
    return true;
  }

  getDeletedVault(subscriptionId: string, location: string, name: string): DeletedVault {
    this.reconcile();
    const d = this.estate.deletedVaults.get(lower(name));
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
    return [...this.estate.deletedVaults.values()].filter(
      (d) => lower(d.vault.subscriptionId) === lower(subscriptionId),
    );
  }

  purgeDeletedVault(subscriptionId: string, location: string, name: string): void {
    const d = this.getDeletedVault(subscriptionId, location, name);
    if (d.vault.properties.enablePurgeProtection) throw armErrors.purgeProtected(name);
    d.purgeTimer();
    this.estate.deletedVaults.delete(lower(name));
    this.estate.changed();
  }

  /**
   * PUT with createMode "recover": a deleted vault comes back where it was deleted from — the same
   * subscription, resource group and location (its id and URI do not change). The Azure CLI refuses a
   * recover into another group before calling ("The vault or hsm must be recovered to the original
   * resource group"); the service answers such a PUT, like one for a name with no deleted vault, with
   * SoftDeletedVaultDoesNotExist (reported in public issue threads after a group was recreated under a
   * new name) [U: status 400 and the message wording].
   */
  private recoverVault(subscriptionId: string, resourceGroup: string, name: string, location: string): Vault {
    const d = this.estate.deletedVaults.get(lower(name));
    if (
      !d ||
      lower(d.vault.subscriptionId) !== lower(subscriptionId) ||
      lower(d.vault.resourceGroup) !== lower(resourceGroup) ||
      normaliseLocation(d.vault.location) !== normaliseLocation(location)
    ) {
      throw new KeyVaultError(
        400,
        'SoftDeletedVaultDoesNotExist',
        `A soft deleted vault with the given name does not exist. Ensure that the name for the vault that is being attempted to recover is in a recoverable state. The vault '${name}' cannot be recovered in resource group '${resourceGroup}' and location '${location}'; a deleted vault is recovered into the resource group and location it was deleted from.`,
      );
    }
    d.purgeTimer();
    this.estate.deletedVaults.delete(lower(name));
    this.estate.vaults.set(lower(name), d.vault);
    this.timers.armVault(d.vault);
    this.estate.changed();
    return d.vault;
  }

  /**
   * Where a change of who may use the vault's keys is decided, for put, patch and accessPolicies
   * updates alike: `before` is the vault's properties before the write. Today only a change of the
   * access policies raises VaultAccessPolicyChanged; a switch of the permission model shows here as
   * `before.enableRbacAuthorization !== vault.properties.enableRbacAuthorization`.
   */
  /**
   * One VaultAccessPolicyChanged for a change of the access policies and/or a switch of the permission
   * model to or from Azure RBAC (Key Vault's event docs count the switch as an access-policy change).
   * Role assignments on an RBAC vault raise nothing, as in Azure.
   */
  private announceAccessChange(vault: Vault, before: VaultProperties): void {
    const policies =
      JSON.stringify(before.accessPolicies) !== JSON.stringify(vault.properties.accessPolicies);
    const model = before.enableRbacAuthorization !== vault.properties.enableRbacAuthorization;
    if (policies || model) this.events.accessPolicyChanged(vault);
  }
}
