/**
 * Persistence of the Key Vault estate through the core's store (`core.store`, collection `keyvault`),
 * as every provider keeps its state (the Service Bus provider writes its records there too): the live
 * model holds key material as node:crypto objects and clock timers, so it is written through as one
 * plain-JSON record (key material as PKCS#8 PEM) after every change, coalesced to one write per tick,
 * and read back at start, where the timers are re-armed (what fell due while stopped happens as soon as
 * the clock runs). The backup-sealing secret lives in the same collection.
 */
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import type { Store } from '../store';
import type { KeyVaultEstate } from './estate';
import type { CurveName, KeyMaterial, KeyType } from './keycrypto';
import { lower, type KeyRecord, type KeyVersion, type RotationPolicy, type Vault } from './records';
import type { KeyVaultTimers } from './timers';

const STORE_COLLECTION = 'keyvault';
const STORE_KEY = 'state';
const BACKUP_SECRET_KEY = 'backup-secret';

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

/** The whole estate as plain JSON (key material as PKCS#8 PEM), for the sandbox store/snapshot. */
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

/** The provider's side: the estate record and the backup secret in `core.store`. */
export class KeyVaultStore {
  private dirty = false;

  constructor(private readonly store: Store) {}

  /** The estate saved by an earlier run (a snapshot-backed sandbox), if any. */
  load(): StoredState | undefined {
    return this.store.get<StoredState>(STORE_COLLECTION, STORE_KEY);
  }

  /** Writes the estate on the next microtask; any further change in the same tick joins that write. */
  scheduleWrite(exportState: () => StoredState): void {
    if (this.dirty) return;
    this.dirty = true;
    queueMicrotask(() => {
      this.dirty = false;
      this.store.put(STORE_COLLECTION, STORE_KEY, exportState());
    });
  }

  /** 32-byte secret sealing key backups, created once and kept so old backups still restore. */
  backupSecret(): Buffer {
    const stored = this.store.get<string>(STORE_COLLECTION, BACKUP_SECRET_KEY);
    if (stored) return Buffer.from(stored, 'base64');
    const secret = randomBytes(32);
    this.store.put(STORE_COLLECTION, BACKUP_SECRET_KEY, secret.toString('base64'));
    return secret;
  }
}

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
