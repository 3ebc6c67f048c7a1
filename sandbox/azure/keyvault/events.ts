/**
 * The model-level changes Key Vault announces (its Event Grid `Microsoft.KeyVault.*` event types),
 * raised from one place each:
 * - a new key version (create, import, manual rotation, auto-rotation): `keyVersionCreated`, called
 *   by `KeyDataPlane.addVersion` (keys.ts), the one place a version is added;
 * - a version nearing its expiry (the policy's Notify) and a version expiring: `keyNearExpiry` /
 *   `keyExpired`, fired by the clock timers in timers.ts (`KeyVaultTimers.arm`);
 * - an access-policy change: `accessPolicyChanged`, from `VaultManagement.announceAccessChange`
 *   (management.ts), which also sees a switch of the permission model.
 * Listeners are the provider's `onEvent` subscribers (index.ts).
 */
import type { KeyVaultEstate } from './estate';
import type { KeyRecord, KeyVaultEvent, KeyVersion, Vault } from './records';

export class KeyVaultEvents {
  constructor(private readonly estate: KeyVaultEstate) {}

  keyVersionCreated(vault: Vault, record: KeyRecord, version: KeyVersion): void {
    this.emitVersion(vault, record, version, 'Microsoft.KeyVault.KeyNewVersionCreated');
  }

  keyNearExpiry(vault: Vault, record: KeyRecord, version: KeyVersion): void {
    this.emitVersion(vault, record, version, 'Microsoft.KeyVault.KeyNearExpiry');
  }

  keyExpired(vault: Vault, record: KeyRecord, version: KeyVersion): void {
    this.emitVersion(vault, record, version, 'Microsoft.KeyVault.KeyExpired');
  }

  accessPolicyChanged(vault: Vault): void {
    this.emit({
      type: 'Microsoft.KeyVault.VaultAccessPolicyChanged',
      vaultId: vault.id,
      vaultName: vault.name,
      objectName: vault.name,
      version: '',
      id: vault.properties.vaultUri,
      at: this.estate.now(),
    });
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
      at: this.estate.now(),
    });
  }

  private emit(event: KeyVaultEvent): void {
    try {
      this.estate.options.onEvent?.(event);
    } catch (error) {
      console.error('[keyvault] event listener failed:', error);
    }
  }
}
