/**
 * The Key Vault resource provider of the sandbox: one model (model.ts) behind two surfaces — ARM
 * routes for Microsoft.KeyVault/vaults (arm.ts) and the keys data plane on `<vault>.<suffix>`
 * (dataplane.ts). Registered with `core.use(new KeyVaultProvider())`; other providers (Service Bus
 * CMK) reach keys through `provider.model` with a `Caller`, so they meet the same checks.
 */
import type { ResourceProvider, SandboxCore } from '../core';
import { requireResourceGroup } from '../arm/resources';
import { registerArm } from './arm';
import { registerDataPlane } from './dataplane';
import { VaultLimits } from './limits';
import { KeyVaultModel, type KeyVaultEvent } from './model';
import { DELETED_VAULTS, KeyVaultStore, VAULTS } from './persistence';

export class KeyVaultProvider implements ResourceProvider {
  readonly name = 'Microsoft.KeyVault';
  /** One record per vault / deleted vault keyed by ARM id (persistence.ts). */
  readonly collections = [VAULTS, DELETED_VAULTS];
  private current?: KeyVaultModel;
  private store?: KeyVaultStore;
  private readonly limits = new VaultLimits();
  private readonly listeners: Array<(event: KeyVaultEvent) => void> = [];

  get model(): KeyVaultModel {
    if (!this.current) throw new Error('KeyVaultProvider used before register(core)');
    return this.current;
  }

  /** Subscribes to Key Vault events (KeyNewVersionCreated, KeyNearExpiry, KeyExpired, VaultAccessPolicyChanged). */
  onEvent(listener: (event: KeyVaultEvent) => void): void {
    this.listeners.push(listener);
  }

  register(core: SandboxCore): void {
    const store = new KeyVaultStore(core.store);
    this.store = store;
    const model = new KeyVaultModel({
      clock: core.clock,
      vaultUri: (name) => core.urls.vaultUri(name),
      // RBAC vaults: data actions through the core's role assignments (inherited down the scope tree,
      // propagation delay included).
      checkDataAction: (caller, dataAction, scope) =>
        core.rbac.isAllowed(caller.objectId, dataAction, scope, 'dataAction'),
      backupSecret: () => store.backupSecret(),
      resourceGroupExists: (sub, rg) => {
        try {
          requireResourceGroup(core, sub, rg);
          return true;
        } catch {
          return false;
        }
      },
      // Write-through to the core's store, one record per vault, so a snapshot-backed sandbox
      // (`npm start`) keeps vaults and keys across restarts (persistence.ts).
      onChange: () => store.scheduleWrite(() => model.exportState()),
      onEvent: (event) => {
        for (const listener of this.listeners) listener(event);
      },
    });
    this.current = model;
    const saved = store.load();
    if (saved) {
      model.importState(saved.state);
      // A snapshot of the earlier single-record format: rewrite it as per-vault records now.
      if (saved.needsRewrite) store.scheduleWrite(() => model.exportState());
    }
    registerArm(core, model);
    registerDataPlane({ core, model, limits: this.limits });
  }

  /**
   * Deleting a resource group soft-deletes its vaults (as in Azure) before the core deletes the
   * records under the group, so the store ends with their deleted-vault records, not with nothing.
   */
  deletingScope(scope: string): void {
    this.current?.deleteVaultsUnder(scope);
  }

  reset(): void {
    this.limits.reset();
    this.store?.reset();
    this.current?.reset();
  }
}

export { KeyVaultModel } from './model';
export type { Caller } from './permissions';
