/**
 * Key backup and restore (POST /keys/{name}/backup, POST /keys/restore): every version and the
 * rotation policy in an opaque, encrypted blob sealed with a secret the provider keeps in the store,
 * so it restores in this sandbox only. Each method is one data-plane operation (`access.authorize`).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataPlaneAuthorization } from './authorization';
import { KeyVaultError, kvErrors } from './errors';
import type { KeyVaultEstate } from './estate';
import type { KeyDataPlane } from './keys';
import type { Caller } from './permissions';
import { loadKey, storeKey, type StoredKey } from './persistence';
import { lower, type KeyRecord, type KeyVersion, type Vault } from './records';
import type { KeyVaultTimers } from './timers';
import { normaliseLocation } from './vaultProperties';

/** Prefix of sandbox key backups (the service's blobs are opaque too; this one says what it is). */
const BACKUP_MAGIC = Buffer.from('AKVSANDBOXBACKUP1');

export class KeyBackup {
  constructor(
    private readonly estate: KeyVaultEstate,
    private readonly access: DataPlaneAuthorization,
    private readonly keys: KeyDataPlane,
    private readonly timers: KeyVaultTimers,
  ) {}

  /**
   * POST /keys/{name}/backup: every version and the rotation policy in an opaque, encrypted blob that
   * only this sandbox can read back, and only into a vault of the same subscription and geography
   * (Key Vault's rule for backups).
   */
  async backupKey(vault: Vault, caller: Caller, name: string): Promise<Buffer> {
    await this.access.authorize(vault, caller, 'backup', name);
    const record = this.keys.liveKey(vault, name);
    const payload = JSON.stringify({
      subscriptionId: lower(vault.subscriptionId),
      location: normaliseLocation(vault.location),
      key: storeKey(record),
    });
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.backupSecret(), iv);
    const body = Buffer.concat([cipher.update(payload, 'utf8'), cipher.final()]);
    return Buffer.concat([BACKUP_MAGIC, iv, cipher.getAuthTag(), body]);
  }

  /** POST /keys/restore: the key comes back with all its versions, under its original name. */
  async restoreKey(
    vault: Vault,
    caller: Caller,
    blob: Buffer,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.access.authorize(vault, caller, 'restore');
    let parsed: { subscriptionId: string; location: string; key: StoredKey };
    try {
      if (!blob.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) throw new Error('not a backup');
      const iv = blob.subarray(BACKUP_MAGIC.length, BACKUP_MAGIC.length + 12);
      const tag = blob.subarray(BACKUP_MAGIC.length + 12, BACKUP_MAGIC.length + 28);
      const decipher = createDecipheriv('aes-256-gcm', this.backupSecret(), iv);
      decipher.setAuthTag(tag);
      const text = Buffer.concat([
        decipher.update(blob.subarray(BACKUP_MAGIC.length + 28)),
        decipher.final(),
      ]);
      parsed = JSON.parse(text.toString('utf8')) as typeof parsed;
    } catch {
      throw kvErrors.badParameter('Backup blob contains invalid or corrupt data.');
    }
    if (
      parsed.subscriptionId !== lower(vault.subscriptionId) ||
      parsed.location !== normaliseLocation(vault.location)
    ) {
      throw new KeyVaultError(
        403,
        'Forbidden',
        'The backup can only be restored into a key vault in the same subscription and geography as the vault it was taken from.',
      );
    }
    const name = parsed.key.name;
    if (vault.deletedKeys.has(lower(name))) throw kvErrors.deletedButRecoverable(name);
    if (vault.keys.has(lower(name))) {
      throw new KeyVaultError(
        409,
        'Conflict',
        `There was a conflict restoring the key ${name}: a key with this name already exists.`,
      );
    }
    const record = loadKey(parsed.key);
    vault.keys.set(lower(name), record);
    this.timers.arm(vault, record);
    this.estate.changed();
    return { record, version: this.keys.pickVersion(record) };
  }

  private backupSecret(): Buffer {
    const secret = this.estate.options.backupSecret?.();
    if (!secret || secret.length !== 32)
      throw new Error('Key Vault model: no 32-byte backup secret configured');
    return secret;
  }
}
