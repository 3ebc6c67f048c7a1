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
import type { Caller, KeyOperation } from './permissions';
import type {
  CreateKeyParams,
  DeletedKeyRecord,
  DeletedVault,
  KeyRecord,
  KeyVaultModelOptions,
  KeyVersion,
  PolicyInput,
  RotationPolicy,
  UpdateKeyParams,
  Vault,
  VaultProperties,
} from './records';
import { KeyVaultTimers } from './timers';
import { recoveryLevel } from './vaultProperties';

export type * from './records';
export type { StoredKey, StoredState, StoredVault, StoredVersion } from './persistence';
export { validatePolicy } from './rotationPolicy';
export { normaliseLocation } from './vaultProperties';

type KeyView = { record: KeyRecord; version: KeyVersion };
type CryptoResult = KeyView & { result: Buffer };

export class KeyVaultModel {
  private readonly estate: KeyVaultEstate;
  private readonly timers: KeyVaultTimers;
  private readonly access: DataPlaneAuthorization;
  private readonly management: VaultManagement;
  private readonly keys: KeyDataPlane;
  private readonly crypto: KeyCryptoOperations;
  private readonly backup: KeyBackup;

  constructor(options: KeyVaultModelOptions) {
    this.estate = new KeyVaultEstate(options);
    const events = new KeyVaultEvents(this.estate);
    // Auto-rotation is the data plane's rotate, run by a timer; the timers exist before the data plane.
    this.timers = new KeyVaultTimers(this.estate, events, (vault, record) => this.keys.rotate(vault, record));
    this.access = new DataPlaneAuthorization(options.checkDataAction);
    this.management = new VaultManagement(this.estate, events, this.timers);
    this.keys = new KeyDataPlane(this.estate, this.access, events, this.timers);
    this.crypto = new KeyCryptoOperations(this.estate, this.access, this.keys);
    this.backup = new KeyBackup(this.estate, this.access, this.keys, this.timers);
  }

  /** Forgets every vault (control-API reset): cancels their clock timers first. */
  reset(): void {
    for (const vault of this.estate.vaults.values()) this.timers.cancelVault(vault);
    for (const d of this.estate.deletedVaults.values()) d.purgeTimer();
    this.estate.vaults.clear();
    this.estate.deletedVaults.clear();
  }

  // ─────────────────────────────── persistence (persistence.ts) ───────────────────────────────

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

  // ─────────────────────────────── management plane (management.ts) ───────────────────────────────

  vaultByName(name: string): Vault | undefined {
    return this.management.vaultByName(name);
  }

  setProvisioningState(vault: Vault, state: VaultProperties['provisioningState']): void {
    this.management.setProvisioningState(vault, state);
  }

  getVault(subscriptionId: string, resourceGroup: string, name: string): Vault {
    return this.management.getVault(subscriptionId, resourceGroup, name);
  }

  listVaults(subscriptionId: string, resourceGroup?: string): Vault[] {
    return this.management.listVaults(subscriptionId, resourceGroup);
  }

  checkNameAvailability(name: string): { nameAvailable: boolean; reason?: string; message?: string } {
    return this.management.checkNameAvailability(name);
  }

  putVault(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    body: unknown,
    principalId: string,
  ): { vault: Vault; created: boolean } {
    return this.management.putVault(subscriptionId, resourceGroup, name, body, principalId);
  }

  patchVault(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    body: unknown,
    principalId: string,
  ): Vault {
    return this.management.patchVault(subscriptionId, resourceGroup, name, body, principalId);
  }

  updateAccessPolicy(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
    kind: string,
    body: unknown,
    principalId: string,
  ): ReturnType<VaultManagement['updateAccessPolicy']> {
    return this.management.updateAccessPolicy(subscriptionId, resourceGroup, name, kind, body, principalId);
  }

  deleteVault(subscriptionId: string, resourceGroup: string, name: string): boolean {
    return this.management.deleteVault(subscriptionId, resourceGroup, name);
  }

  getDeletedVault(subscriptionId: string, location: string, name: string): DeletedVault {
    return this.management.getDeletedVault(subscriptionId, location, name);
  }

  listDeletedVaults(subscriptionId: string): DeletedVault[] {
    return this.management.listDeletedVaults(subscriptionId);
  }

  purgeDeletedVault(subscriptionId: string, location: string, name: string): void {
    this.management.purgeDeletedVault(subscriptionId, location, name);
  }

  // ─────────────────────────────── data plane: authorisation (authorization.ts) ───────────────────

  /** Caller description as Key Vault prints it in 403 messages. */
  static callerTag(caller: Caller): string {
    return callerTag(caller);
  }

  static vaultTag(vault: Vault): string {
    return vaultTag(vault);
  }

  authorize(vault: Vault, caller: Caller, operation: KeyOperation, keyName?: string): Promise<void> {
    return this.access.authorize(vault, caller, operation, keyName);
  }

  checkNetwork(vault: Vault, caller: Caller): void {
    this.access.checkNetwork(vault, caller);
  }

  // ─────────────────────────────── data plane: keys (keys.ts, backup.ts) ───────────────────────────

  createKey(vault: Vault, caller: Caller, name: string, params: CreateKeyParams): Promise<KeyVersion> {
    return this.keys.createKey(vault, caller, name, params);
  }

  armCreateKeyIfNotExist(
    vault: Vault,
    name: string,
    params: CreateKeyParams,
    policy?: PolicyInput,
  ): Promise<{ record: KeyRecord; created: boolean }> {
    return this.keys.armCreateKeyIfNotExist(vault, name, params, policy);
  }

  armKeys(vault: Vault): KeyRecord[] {
    return this.keys.armKeys(vault);
  }

  armKey(vault: Vault, name: string, version?: string): KeyView {
    return this.keys.armKey(vault, name, version);
  }

  importKey(
    vault: Vault,
    caller: Caller,
    name: string,
    params: Parameters<KeyDataPlane['importKey']>[3],
  ): Promise<KeyVersion> {
    return this.keys.importKey(vault, caller, name, params);
  }

  getKey(vault: Vault, caller: Caller, name: string, version?: string): Promise<KeyView> {
    return this.keys.getKey(vault, caller, name, version);
  }

  listKeys(vault: Vault, caller: Caller): Promise<KeyView[]> {
    return this.keys.listKeys(vault, caller);
  }

  listKeyVersions(vault: Vault, caller: Caller, name: string): Promise<KeyView[]> {
    return this.keys.listKeyVersions(vault, caller, name);
  }

  updateKey(
    vault: Vault,
    caller: Caller,
    name: string,
    versionId: string | undefined,
    params: UpdateKeyParams,
  ): Promise<KeyView> {
    return this.keys.updateKey(vault, caller, name, versionId, params);
  }

  deleteKey(vault: Vault, caller: Caller, name: string): Promise<DeletedKeyRecord> {
    return this.keys.deleteKey(vault, caller, name);
  }

  getDeletedKey(vault: Vault, caller: Caller, name: string): Promise<DeletedKeyRecord> {
    return this.keys.getDeletedKey(vault, caller, name);
  }

  listDeletedKeys(vault: Vault, caller: Caller): Promise<DeletedKeyRecord[]> {
    return this.keys.listDeletedKeys(vault, caller);
  }

  recoverDeletedKey(vault: Vault, caller: Caller, name: string): Promise<KeyView> {
    return this.keys.recoverDeletedKey(vault, caller, name);
  }

  purgeDeletedKey(vault: Vault, caller: Caller, name: string): Promise<void> {
    return this.keys.purgeDeletedKey(vault, caller, name);
  }

  backupKey(vault: Vault, caller: Caller, name: string): Promise<Buffer> {
    return this.backup.backupKey(vault, caller, name);
  }

  restoreKey(vault: Vault, caller: Caller, blob: Buffer): Promise<KeyView> {
    return this.backup.restoreKey(vault, caller, blob);
  }

  rotateKey(vault: Vault, caller: Caller, name: string): Promise<KeyView> {
    return this.keys.rotateKey(vault, caller, name);
  }

  getRotationPolicy(
    vault: Vault,
    caller: Caller,
    name: string,
  ): Promise<{ record: KeyRecord; policy?: RotationPolicy }> {
    return this.keys.getRotationPolicy(vault, caller, name);
  }

  setRotationPolicy(
    vault: Vault,
    caller: Caller,
    name: string,
    input: PolicyInput,
  ): Promise<{ record: KeyRecord; policy: RotationPolicy }> {
    return this.keys.setRotationPolicy(vault, caller, name, input);
  }

  // ─────────────────────────────── data plane: crypto (cryptoOperations.ts) ───────────────────────

  cryptoOperation(
    vault: Vault,
    caller: Caller,
    operation: 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey',
    name: string,
    versionId: string | undefined,
    algorithm: string,
    value: Buffer,
  ): Promise<CryptoResult> {
    return this.crypto.cryptoOperation(vault, caller, operation, name, versionId, algorithm, value);
  }

  sign(
    vault: Vault,
    caller: Caller,
    name: string,
    versionId: string | undefined,
    algorithm: string,
    digest: Buffer,
  ): Promise<CryptoResult> {
    return this.crypto.sign(vault, caller, name, versionId, algorithm, digest);
  }

  verify(
    vault: Vault,
    caller: Caller,
    name: string,
    versionId: string | undefined,
    algorithm: string,
    digest: Buffer,
    signature: Buffer,
  ): Promise<boolean> {
    return this.crypto.verify(vault, caller, name, versionId, algorithm, digest, signature);
  }

  /** Recovery level Key Vault reports for objects in this vault. */
  static recoveryLevel(vault: Vault): string {
    return recoveryLevel(vault);
  }
}
