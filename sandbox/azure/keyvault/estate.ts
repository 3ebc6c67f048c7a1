/**
 * The state every part of the Key Vault model shares: live vaults, soft-deleted vaults, the injected
 * options (clock, vault URIs, RBAC check, store hooks), and the one place a change of state is
 * reported (`changed`, which the provider turns into a write to `core.store`, see persistence.ts).
 */
import type { DeletedVault, KeyVaultModelOptions, Vault } from './records';

export class KeyVaultEstate {
  /** Live vaults by lower-cased name. */
  readonly vaults = new Map<string, Vault>();
  /** Soft-deleted vaults by lower-cased name: names are global, so a deleted name blocks reuse. */
  readonly deletedVaults = new Map<string, DeletedVault>();

  constructor(readonly options: KeyVaultModelOptions) {}

  now(): number {
    return this.options.clock.now();
  }

  /** After every change of state (requests and clock-driven ones), so it can be persisted. */
  changed(): void {
    this.options.onChange?.();
  }

  /**
   * `vaultUri` is derived, not stored: it names the port this run listens on, which a restarted sandbox
   * may change (and which is not known yet while a snapshot is loaded at start-up).
   */
  bindUri(vault: Vault): void {
    Object.defineProperty(vault.properties, 'vaultUri', {
      get: () => this.options.vaultUri(vault.name),
      enumerable: true,
      configurable: true,
    });
  }
}
