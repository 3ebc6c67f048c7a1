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
import { KeyVaultStore } from './persistence';

export class KeyVaultProvider implements ResourceProvider {
  readonly name = 'Microsoft.KeyVault';
  private current?: KeyVaultModel;
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
      // Write-through to the core's store, so a snapshot-backed sandbox (`npm start`) keeps vaults and
      // keys across restarts (persistence.ts).
      onChange: () => store.scheduleWrite(() => model.exportState()),
      onEvent: (event) => {
        for (const listener of this.listeners) listener(event);
      },
    });
    this.current = model;
    const saved = store.load();
    if (saved) model.importState(saved);
    registerArm(core, model);
    registerDataPlane({ core, model, limits: this.limits });
  }

  reset(): void {
    this.limits.reset();
    this.current?.reset();
  }
}

export { KeyVaultModel } from './model';
export type { Caller } from './permissions';
