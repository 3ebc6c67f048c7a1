/**
 * Persistence of the Key Vault estate through the core's store (`core.store`), as every provider keeps
 * its state, and in the same shape as the Service Bus provider: one record per resource, keyed by its
 * ARM id (lower-case), so deleting a resource group reaches the records under it.
 *
 * - `keyVaultVaults`: one record per live vault (key: the vault's ARM id) holding its keys, their
 *   versions, rotation policies and soft-deleted keys. One record per vault rather than per key: a
 *   vault holds a handful of keys whose PEM export is cached, so rewriting a vault costs a string copy,
 *   while per-key records would add a third collection and a vault moving to the deleted vaults (with
 *   its keys) would become several writes that a stop between them could leave half done.
 * - `keyVaultDeletedVaults`: one record per soft-deleted vault (key: Azure's deleted-vault id,
 *   `/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}`),
 *   under the subscription and not the resource group, as in Azure: a soft-deleted vault outlives its
 *   group.
 * - `keyvault`: the backup-sealing secret; before per-vault records, also the whole estate as ONE
 *   record (`state`). A snapshot holding that record is still read, and rewritten as per-vault records
 *   (and the old record deleted) at once.
 *
 * The live model holds key material as node:crypto objects and clock timers, so records are plain JSON
 * (key material as PKCS#8 PEM). After a change the provider schedules one write per tick; the write
 * puts only the records whose content changed (compared with what this store last wrote), and deletes
 * the records of vaults that are gone, so a change to one vault writes that vault's record only, and
 * no change site has to name the vault it touched. At start the records are read back and the timers
 * re-armed (what fell due while stopped happens as soon as the clock runs).
 */
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import type { Store } from '../store';
import type { KeyVaultEstate } from './estate';
import type { CurveName, KeyMaterial, KeyType } from './keycrypto';
import {
  lower,
  type KeyRecord,
  type KeyVersion,
  type RotationPolicy,
  type Vault,
  type VaultProperties,
} from './records';
import type { KeyVaultTimers } from './timers';
import { normaliseLocation } from './vaultProperties';

/** Live vaults, one record per vault keyed by its ARM id (listed in the provider's `collections`). */
export const VAULTS = 'keyVaultVaults';
/** Soft-deleted vaults, one record per vault keyed by its deleted-vault id (under the subscription). */
export const DELETED_VAULTS = 'keyVaultDeletedVaults';
const SECRETS = 'keyvault';
const BACKUP_SECRET_KEY = 'backup-secret';
/** The single-record format written before per-vault records (read once, then replaced). */
const LEGACY_STATE_KEY = 'state';

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

export interface StoredVault extends Omit<Vault, 'keys' | 'deletedKeys' | 'properties'> {
  /** Without `vaultUri`: it is derived from the name and the port this run listens on (estate.ts). */
  properties: Omit<VaultProperties, 'vaultUri'> & { vaultUri?: string };
  keys: StoredKey[];
  deletedKeys: Array<{ key: StoredKey; deletedDate: number; scheduledPurgeDate: number }>;
}

export interface StoredDeletedVault {
  vault: StoredVault;
  deletionDate: number;
  scheduledPurgeDate: number;
}

export interface StoredState {
  vaults: StoredVault[];
  deletedVaults: StoredDeletedVault[];
}

/** The store key of a live vault's record: its ARM id, lower-case. */
export const vaultRecordKey = (vault: Pick<Vault, 'id'>): string => lower(vault.id);

/** The store key of a soft-deleted vault's record: Azure's deleted-vault id, lower-case. */
export const deletedVaultRecordKey = (vault: Pick<Vault, 'subscriptionId' | 'location' | 'name'>): string =>
  lower(
    `/subscriptions/${vault.subscriptionId}/providers/Microsoft.KeyVault/locations/${normaliseLocation(vault.location)}/deletedVaults/${vault.name}`,
  );

/** The whole estate as plain JSON (key material as PKCS#8 PEM). */
export function exportEstate(estate: KeyVaultEstate): StoredState {
  return {
    vaults: [...estate.vaults.values()].map(storeVault),
    deletedVaults: [...estate.deletedVaults.values()].map((d) => ({
      vault: storeVault(d.vault),
      deletionDate: d.deletionDate,
      scheduledPurgeDate: d.scheduledPurgeDate,
    })),
  };
}

/** Loads a stored estate into an empty one and re-arms everything time-based. */
export function importEstate(estate: KeyVaultEstate, timers: KeyVaultTimers, state: StoredState): void {
  for (const stored of state.vaults) {
    const vault = loadVault(stored);
    estate.bindUri(vault);
    estate.vaults.set(lower(vault.name), vault);
    timers.armVault(vault);
  }
  for (const stored of state.deletedVaults) {
    const vault = loadVault(stored.vault);
    estate.bindUri(vault);
    estate.deletedVaults.set(lower(vault.name), {
      vault,
      deletionDate: stored.deletionDate,
      scheduledPurgeDate: stored.scheduledPurgeDate,
      purgeTimer: timers.scheduleVaultPurge(vault.name, stored.scheduledPurgeDate),
    });
  }
}

/** The provider's side: one record per vault and per deleted vault, and the backup secret, in `core.store`. */
export class KeyVaultStore {
  private dirty = false;
  /** What this store last wrote (or read), per collection and key: JSON, to skip unchanged records. */
  private written = new Map<string, string>();

  constructor(private readonly store: Store) {}

  /**
   * The estate saved by an earlier run (a snapshot-backed sandbox), if any: the per-vault records, and
   * the single record of the earlier format if the snapshot still holds it (`needsRewrite` then says a
   * write must follow the load, to replace it).
   */
  load(): { state: StoredState; needsRewrite: boolean } | undefined {
    const legacy = this.store.get<StoredState>(SECRETS, LEGACY_STATE_KEY);
    const vaults = this.store.entries<StoredVault>(VAULTS);
    const deleted = this.store.entries<StoredDeletedVault>(DELETED_VAULTS);
    if (!legacy && vaults.length === 0 && deleted.length === 0) return undefined;
    for (const [key, value] of vaults) this.written.set(writtenKey(VAULTS, key), JSON.stringify(value));
    for (const [key, value] of deleted)
      this.written.set(writtenKey(DELETED_VAULTS, key), JSON.stringify(value));
    // Per-vault records win over the old single record for the same vault name.
    const byName = <T>(items: T[], name: (t: T) => string): Map<string, T> =>
      new Map(items.map((t) => [lower(name(t)), t]));
    const live = byName(legacy?.vaults ?? [], (v) => v.name);
    const gone = byName(legacy?.deletedVaults ?? [], (d) => d.vault.name);
    for (const [, v] of vaults) live.set(lower(v.name), v);
    for (const [, d] of deleted) gone.set(lower(d.vault.name), d);
    for (const name of live.keys()) gone.delete(name);
    return {
      state: { vaults: [...live.values()], deletedVaults: [...gone.values()] },
      needsRewrite: legacy !== undefined,
    };
  }

  /** Writes on the next microtask; any further change in the same tick joins that write. */
  scheduleWrite(exportState: () => StoredState): void {
    if (this.dirty) return;
    this.dirty = true;
    queueMicrotask(() => {
      this.dirty = false;
      this.write(exportState());
    });
  }

  /** Forgets what was written (the store was cleared by a reset). */
  reset(): void {
    this.written.clear();
  }

  /** 32-byte secret sealing key backups, created once and kept so old backups still restore. */
  backupSecret(): Buffer {
    const stored = this.store.get<string>(SECRETS, BACKUP_SECRET_KEY);
    if (stored) return Buffer.from(stored, 'base64');
    const secret = randomBytes(32);
    this.store.put(SECRETS, BACKUP_SECRET_KEY, secret.toString('base64'));
    return secret;
  }

  private write(state: StoredState): void {
    const next = new Map<string, Map<string, unknown>>([
      [VAULTS, new Map(state.vaults.map((v) => [vaultRecordKey(v), v]))],
      [DELETED_VAULTS, new Map(state.deletedVaults.map((d) => [deletedVaultRecordKey(d.vault), d]))],
    ]);
    for (const [collection, records] of next) {
      for (const [key, value] of records) {
        const json = JSON.stringify(value);
        // Unchanged and still there (the core deletes records under a deleted group by itself).
        const same = this.written.get(writtenKey(collection, key)) === json;
        if (same && this.store.get(collection, key) !== undefined) continue;
        this.store.put(collection, key, value);
        this.written.set(writtenKey(collection, key), json);
      }
      // Records of vaults that are no longer there (deleted, recovered, purged, or gone with their group).
      for (const [key] of this.store.entries(collection)) {
        if (records.has(lower(key))) continue;
        this.store.delete(collection, key);
        this.written.delete(writtenKey(collection, key));
      }
    }
    if (this.store.get(SECRETS, LEGACY_STATE_KEY) !== undefined) this.store.delete(SECRETS, LEGACY_STATE_KEY);
  }
}

const writtenKey = (collection: string, key: string): string => `${collection} ${lower(key)}`;

const pemCache = new WeakMap<KeyMaterial, string>();

export function storeKey(record: KeyRecord): StoredKey {
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
  const { keys, deletedKeys, properties, ...rest } = vault;
  const { vaultUri: _derived, ...props } = properties;
  return {
    ...structuredClone(rest),
    properties: structuredClone(props),
    keys: [...keys.values()].map(storeKey),
    deletedKeys: [...deletedKeys.values()].map((d) => ({
      key: storeKey(d.key),
      deletedDate: d.deletedDate,
      scheduledPurgeDate: d.scheduledPurgeDate,
    })),
  };
}

export function loadKey(stored: StoredKey): KeyRecord {
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
  const { keys, deletedKeys, properties, ...rest } = stored;
  // A record of the earlier format still carries the URI of its run; estate.bindUri derives it anew.
  const { vaultUri: _stale, ...props } = properties;
  const vault: Vault = {
    ...structuredClone(rest),
    properties: { ...structuredClone(props), vaultUri: '' },
    keys: new Map(),
    deletedKeys: new Map(),
  };
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
