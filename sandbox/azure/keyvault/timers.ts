/**
 * Everything the sandbox clock does to Key Vault objects: auto-rotation (the rotation policy's Rotate
 * action), the Notify (KeyNearExpiry) and KeyExpired events of the current version, and the scheduled
 * purge of soft-deleted keys and vaults. Timers are computed from the records, so they are re-armed
 * whenever a version, its attributes or the policy change, and after a restart (persistence.ts).
 */
import type { Cancel } from '../../clock';
import type { KeyVaultEstate } from './estate';
import type { KeyVaultEvents } from './events';
import { lower, type KeyRecord, type Vault } from './records';
import { DEFAULT_NOTIFY, triggerTime } from './rotationPolicy';

/** Creates a new current version of the key (keys.ts); the timers call it when auto-rotation is due. */
export type Rotate = (vault: Vault, record: KeyRecord) => Promise<unknown>;

export class KeyVaultTimers {
  constructor(
    private readonly estate: KeyVaultEstate,
    private readonly events: KeyVaultEvents,
    private readonly rotate: Rotate,
  ) {}

  cancel(record: KeyRecord): void {
    for (const cancel of record.timers) cancel();
    record.timers = [];
  }

  /**
   * (Re)schedules what the clock will do to the current version: auto-rotation (timeAfterCreate from
   * its creation, or timeBeforeExpiry before its expiry), the Notify (KeyNearExpiry) and KeyExpired
   * events. Called whenever the version, its attributes or the policy change. The near-expiry and
   * expiry times are decided here (`triggerTime` for Notify, the version's `exp` for KeyExpired).
   */
  arm(vault: Vault, record: KeyRecord): void {
    this.cancel(record);
    const current = record.versions[record.versions.length - 1];
    if (!current) return;
    const clock = this.estate.options.clock;
    const label = `keyvault ${vault.name}/${record.name}`;
    const actions = record.rotationPolicy?.lifetimeActions ?? [DEFAULT_NOTIFY];
    for (const action of actions) {
      const at = triggerTime(action, current);
      if (at === undefined) continue;
      if (action.action.type === 'Rotate') {
        record.timers.push(
          clock.schedule(
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
      } else if (at >= this.estate.now()) {
        record.timers.push(
          clock.schedule(
            at,
            () => this.events.keyNearExpiry(vault, record, current),
            `${label} notify near expiry`,
          ),
        );
      }
    }
    if (current.exp !== undefined && current.exp >= this.estate.now()) {
      record.timers.push(
        clock.schedule(current.exp, () => this.events.keyExpired(vault, record, current), `${label} expired`),
      );
    }
  }

  /** Key Vault purges a soft-deleted key on its own once the retention period has passed. */
  scheduleKeyPurge(vault: Vault, lowerName: string, at: number): Cancel {
    return this.estate.options.clock.schedule(
      at,
      () => {
        const d = vault.deletedKeys.get(lowerName);
        if (d && d.scheduledPurgeDate <= this.estate.now()) {
          vault.deletedKeys.delete(lowerName);
          this.estate.changed();
        }
      },
      `keyvault purge key ${vault.name}/${lowerName}`,
    );
  }

  /** And a soft-deleted vault (with its keys) once its own retention period has passed. */
  scheduleVaultPurge(name: string, at: number): Cancel {
    return this.estate.options.clock.schedule(
      at,
      () => {
        this.estate.deletedVaults.delete(lower(name));
        this.estate.changed();
      },
      `keyvault purge vault ${name}`,
    );
  }

  /** Arms the timers of a vault that becomes live (recovered, or loaded from the store). */
  armVault(vault: Vault): void {
    for (const key of vault.keys.values()) this.arm(vault, key);
    for (const [n, d] of vault.deletedKeys)
      d.purgeTimer = this.scheduleKeyPurge(vault, n, d.scheduledPurgeDate);
  }

  /** Cancels the timers of a vault that stops being live (deleted, or the estate reset). */
  cancelVault(vault: Vault): void {
    for (const key of vault.keys.values()) this.cancel(key);
    for (const d of vault.deletedKeys.values()) d.purgeTimer();
  }
}
