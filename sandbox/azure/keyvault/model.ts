/**
 * The Key Vault model: vaults (the Microsoft.KeyVault/vaults resource) and their keys, with the checks
 * Key Vault makes, its error codes, and everything time-based (expiry, auto-rotation, Notify, scheduled
 * purge) scheduled on the injected sandbox clock. Pure of HTTP: the ARM and data-plane routes (arm.ts,
 * dataplane.ts) translate requests into these calls, and other emulated services (Service Bus CMK) call
 * the data-plane methods directly with a `Caller`, so they meet the same firewall and permissions.
 *
 * This class is the one entry point and only puts the parts together; each part lives in its own module:
 * management.ts (vaults, access policies, soft delete), authorization.ts (tenant, firewall, permission
 * model), keys.ts (keys data plane, rotation), cryptoOperations.ts (wrap/unwrap, sign/verify),
 * backup.ts, timers.ts (the clock), events.ts (what the model announces), persistence.ts (the store).
 */
import { callerTag, DataPlaneAuthorization, vaultTag } from './authorization';
import { KeyBackup } from './backup';
import { KeyCryptoOperations } from './cryptoOperations';
import { KeyVaultEstate } from './estate';
import { KeyVaultEvents } from './events';
import { KeyDataPlane } from './keys';
import { VaultManagement } from './management';
import { exportEstate, importEstate, type StoredState } from './persistence';
import type { Caller } from './permissions';
import { lower, type KeyVaultModelOptions, type Vault } from './records';
import { KeyVaultTimers } from './timers';
import { recoveryLevel } from './vaultProperties';

export type * from './records';
export type { StoredDeletedVault, StoredKey, StoredState, StoredVault, StoredVersion } from './persistence';
export { validatePolicy } from './rotationPolicy';
export { normaliseLocation } from './vaultProperties';

/**
 * The facade re-exposes each part's methods bound to that part, so importers keep calling
 * `model.getKey(…)` and every signature is written once, where the method is.
 */
export class KeyVaultModel {
  private readonly estate: KeyVaultEstate;
  private readonly timers: KeyVaultTimers;

  // Management plane (management.ts).
  readonly vaultByName: VaultManagement['vaultByName'];
  readonly setProvisioningState: VaultManagement['setProvisioningState'];
  readonly getVault: VaultManagement['getVault'];
  readonly listVaults: VaultManagement['listVaults'];
  readonly checkNameAvailability: VaultManagement['checkNameAvailability'];
  readonly putVault: VaultManagement['putVault'];
  readonly patchVault: VaultManagement['patchVault'];
  readonly updateAccessPolicy: VaultManagement['updateAccessPolicy'];
  readonly deleteVault: VaultManagement['deleteVault'];
  readonly getDeletedVault: VaultManagement['getDeletedVault'];
  readonly listDeletedVaults: VaultManagement['listDeletedVaults'];
  readonly purgeDeletedVault: VaultManagement['purgeDeletedVault'];

  // Data plane: what Key Vault checks first (authorization.ts).
  readonly authorize: DataPlaneAuthorization['authorize'];
  readonly checkNetwork: DataPlaneAuthorization['checkNetwork'];

  // Data plane: keys and rotation (keys.ts), the ARM view of keys included.
  readonly createKey: KeyDataPlane['createKey'];
  readonly importKey: KeyDataPlane['importKey'];
  readonly getKey: KeyDataPlane['getKey'];
  readonly listKeys: KeyDataPlane['listKeys'];
  readonly listKeyVersions: KeyDataPlane['listKeyVersions'];
  readonly updateKey: KeyDataPlane['updateKey'];
  readonly deleteKey: KeyDataPlane['deleteKey'];
  readonly getDeletedKey: KeyDataPlane['getDeletedKey'];
  readonly listDeletedKeys: KeyDataPlane['listDeletedKeys'];
  readonly recoverDeletedKey: KeyDataPlane['recoverDeletedKey'];
  readonly purgeDeletedKey: KeyDataPlane['purgeDeletedKey'];
  readonly rotateKey: KeyDataPlane['rotateKey'];
  readonly getRotationPolicy: KeyDataPlane['getRotationPolicy'];
  readonly setRotationPolicy: KeyDataPlane['setRotationPolicy'];
  readonly armCreateKeyIfNotExist: KeyDataPlane['armCreateKeyIfNotExist'];
  readonly armKeys: KeyDataPlane['armKeys'];
  readonly armKey: KeyDataPlane['armKey'];

  // Data plane: backup and restore (backup.ts).
  readonly backupKey: KeyBackup['backupKey'];
  readonly restoreKey: KeyBackup['restoreKey'];

  // Data plane: cryptographic operations (cryptoOperations.ts).
  readonly cryptoOperation: KeyCryptoOperations['cryptoOperation'];
  readonly sign: KeyCryptoOperations['sign'];
  readonly verify: KeyCryptoOperations['verify'];

  constructor(options: KeyVaultModelOptions) {
    const estate = new KeyVaultEstate(options);
    const events = new KeyVaultEvents(estate);
    // Auto-rotation is the data plane's rotate, run by a timer; the timers exist before the data plane.
    const timers: KeyVaultTimers = new KeyVaultTimers(estate, events, (vault, record) =>
      keys.rotate(vault, record),
    );
    const access = new DataPlaneAuthorization(options.checkDataAction);
    const management = new VaultManagement(estate, events, timers);
    const keys: KeyDataPlane = new KeyDataPlane(estate, access, events, timers);
    const backup = new KeyBackup(estate, access, keys, timers);
    const crypto = new KeyCryptoOperations(estate, access, keys);
    this.estate = estate;
    this.timers = timers;

    this.vaultByName = management.vaultByName.bind(management);
    this.setProvisioningState = management.setProvisioningState.bind(management);
    this.getVault = management.getVault.bind(management);
    this.listVaults = management.listVaults.bind(management);
    this.checkNameAvailability = management.checkNameAvailability.bind(management);
    this.putVault = management.putVault.bind(management);
    this.patchVault = management.patchVault.bind(management);
    this.updateAccessPolicy = management.updateAccessPolicy.bind(management);
    this.deleteVault = management.deleteVault.bind(management);
    this.getDeletedVault = management.getDeletedVault.bind(management);
    this.listDeletedVaults = management.listDeletedVaults.bind(management);
    this.purgeDeletedVault = management.purgeDeletedVault.bind(management);

    this.authorize = access.authorize.bind(access);
    this.checkNetwork = access.checkNetwork.bind(access);

    this.createKey = keys.createKey.bind(keys);
    this.importKey = keys.importKey.bind(keys);
    this.getKey = keys.getKey.bind(keys);
    this.listKeys = keys.listKeys.bind(keys);
    this.listKeyVersions = keys.listKeyVersions.bind(keys);
    this.updateKey = keys.updateKey.bind(keys);
    this.deleteKey = keys.deleteKey.bind(keys);
    this.getDeletedKey = keys.getDeletedKey.bind(keys);
    this.listDeletedKeys = keys.listDeletedKeys.bind(keys);
    this.recoverDeletedKey = keys.recoverDeletedKey.bind(keys);
    this.purgeDeletedKey = keys.purgeDeletedKey.bind(keys);
    this.rotateKey = keys.rotateKey.bind(keys);
    this.getRotationPolicy = keys.getRotationPolicy.bind(keys);
    this.setRotationPolicy = keys.setRotationPolicy.bind(keys);
    this.armCreateKeyIfNotExist = keys.armCreateKeyIfNotExist.bind(keys);
    this.armKeys = keys.armKeys.bind(keys);
    this.armKey = keys.armKey.bind(keys);

    this.backupKey = backup.backupKey.bind(backup);
    this.restoreKey = backup.restoreKey.bind(backup);

    this.cryptoOperation = crypto.cryptoOperation.bind(crypto);
    this.sign = crypto.sign.bind(crypto);
    this.verify = crypto.verify.bind(crypto);
  }

  /** Forgets every vault (control-API reset): cancels their clock timers first. */
  reset(): void {
    for (const vault of this.estate.vaults.values()) this.timers.cancelVault(vault);
    for (const d of this.estate.deletedVaults.values()) d.purgeTimer();
    this.estate.vaults.clear();
    this.estate.deletedVaults.clear();
  }

  /**
   * A scope (a resource group) is being deleted: its vaults become soft-deleted vaults, as Azure does
   * with the vaults of a deleted group (soft delete is always on), keeping their keys for the retention
   * period; recovering one needs a group of the same name again (management.ts, recover).
   */
  deleteVaultsUnder(scope: string): void {
    const prefix = `${lower(scope).replace(/\/+$/, '')}/`;
    for (const vault of [...this.estate.vaults.values()]) {
      if (lower(vault.id).startsWith(prefix)) {
        this.deleteVault(vault.subscriptionId, vault.resourceGroup, vault.name);
      }
    }
  }

  /** The whole estate as plain JSON (key material as PKCS#8 PEM), for the sandbox store/snapshot. */
  exportState(): StoredState {
    return exportEstate(this.estate);
  }

  /**
   * Replaces the estate with a stored one and re-arms everything time-based. What fell due while the
   * sandbox was stopped (a rotation, a scheduled purge) happens as soon as the clock runs.
   */
  importState(state: StoredState): void {
    this.reset();
    importEstate(this.estate, this.timers, state);
  }

  /** Caller description as Key Vault prints it in 403 messages. */
  static callerTag(caller: Caller): string {
    return callerTag(caller);
  }

  static vaultTag(vault: Vault): string {
    return vaultTag(vault);
  }

  /** Recovery level Key Vault reports for objects in this vault. */
  static recoveryLevel(vault: Vault): string {
    return recoveryLevel(vault);
  }
}
