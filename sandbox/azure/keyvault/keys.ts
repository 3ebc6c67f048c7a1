/**
 * The keys data plane: create, import, get, list, versions, update attributes, delete to deleted keys,
 * recover, purge, rotate (manual and, through timers.ts, automatic) and the rotation policy; plus the
 * ARM view of keys (`vaults/keys`, management-plane RBAC only). Each public data-plane method is one
 * Key Vault operation and starts with `access.authorize` (authorization.ts); dataplane.ts routes the
 * requests here. Every new key version (create, import, manual and auto-rotation) goes through
 * `addVersion`, which announces it (`events.keyVersionCreated`).
 */
import { randomBytes } from 'node:crypto';
import { vaultTag, type DataPlaneAuthorization } from './authorization';
import { addDuration, DAY_MS, parseDuration } from './duration';
import { kvErrors } from './errors';
import type { KeyVaultEstate } from './estate';
import type { KeyVaultEvents } from './events';
import {
  CURVES,
  generateMaterial,
  isRsa,
  materialFromJwk,
  RSA_SIZES,
  type CurveName,
  type KeyMaterial,
  type KeyType,
} from './keycrypto';
import type { Caller } from './permissions';
import {
  lower,
  type CreateKeyParams,
  type DeletedKeyRecord,
  type KeyRecord,
  type KeyVersion,
  type PolicyInput,
  type RotationPolicy,
  type UpdateKeyParams,
  type Vault,
} from './records';
import { hasExpiryTrigger, validatePolicy } from './rotationPolicy';
import type { KeyVaultTimers } from './timers';

const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const RSA_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];
const EC_OPS = ['sign', 'verify'];
const ALL_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import', 'export'];
const newVersionId = (): string => randomBytes(16).toString('hex');

export class KeyDataPlane {
  constructor(
    private readonly estate: KeyVaultEstate,
    private readonly access: DataPlaneAuthorization,
    private readonly events: KeyVaultEvents,
    private readonly timers: KeyVaultTimers,
  ) {}

  async createKey(vault: Vault, caller: Caller, name: string, params: CreateKeyParams): Promise<KeyVersion> {
    await this.access.authorize(vault, caller, 'create', name);
    return this.addKeyVersion(vault, name, params);
  }

  /**
   * ARM `vaults/keys` PUT (createIfNotExist): the management plane creates the first version only and
   * never updates an existing key. No data-plane permission or firewall applies: ARM authorised it.
   */
  async armCreateKeyIfNotExist(
    vault: Vault,
    name: string,
    params: CreateKeyParams,
    policy?: PolicyInput,
  ): Promise<{ record: KeyRecord; created: boolean }> {
    const existing = vault.keys.get(lower(name));
    if (existing) return { record: existing, created: false };
    const validated = policy ? validatePolicy(policy) : undefined;
    await this.addKeyVersion(vault, name, params);
    const record = this.liveKey(vault, name);
    if (validated) {
      const now = this.estate.now();
      record.rotationPolicy = {
        lifetimeActions: validated.lifetimeActions,
        ...(validated.expiryTime ? { expiryTime: validated.expiryTime } : {}),
        created: now,
        updated: now,
      };
      this.timers.arm(vault, record);
      this.estate.changed();
    }
    return { record, created: true };
  }

  /** ARM view of keys (no data-plane checks): live keys, or one key by name. */
  armKeys(vault: Vault): KeyRecord[] {
    return [...vault.keys.values()].sort((a, b) => lower(a.name).localeCompare(lower(b.name)));
  }

  armKey(vault: Vault, name: string, version?: string): { record: KeyRecord; version: KeyVersion } {
    const record = this.liveKey(vault, name);
    return { record, version: this.pickVersion(record, version) };
  }

  /**
   * PUT /keys/{name} (import, "bring your own key"): the key becomes a new version of `name`. Key Vault
   * needs the private parts; RSA sizes are 2048/3072/4096 and HSM protection needs a premium vault.
   */
  async importKey(
    vault: Vault,
    caller: Caller,
    name: string,
    params: {
      key: Record<string, unknown>;
      hsm?: boolean;
      attributes?: { enabled?: boolean; nbf?: number; exp?: number };
      tags?: Record<string, string>;
    },
  ): Promise<KeyVersion> {
    await this.access.authorize(vault, caller, 'import', name);
    assertKeyName(name);
    const material = materialFromJwk(params.key, params.hsm === true);
    if (!material) {
      throw kvErrors.badParameter('The key is not a valid RSA or EC JSON Web Key with its private parts.');
    }
    if (material.kty.endsWith('-HSM') && vault.properties.sku.name !== 'premium') {
      throw kvErrors.badParameter(
        `The Key Vault SKU 'standard' does not support HSM-protected keys (kty '${material.kty}'); use a premium vault.`,
      );
    }
    if (isRsa(material.kty) && !(RSA_SIZES as readonly number[]).includes(material.keySize ?? 0)) {
      throw kvErrors.badParameter(
        `The key size ${material.keySize ?? 0} is not supported for RSA keys. Supported sizes: 2048, 3072, 4096.`,
      );
    }
    const ops = Array.isArray(params.key.key_ops)
      ? (params.key.key_ops as unknown[]).map(String)
      : isRsa(material.kty)
        ? RSA_OPS
        : EC_OPS;
    for (const op of ops)
      if (!ALL_OPS.includes(op)) throw kvErrors.badParameter(`Invalid key operation: ${op}`);
    if (vault.deletedKeys.has(lower(name))) throw kvErrors.deletedButRecoverable(name);
    return this.storeVersion(vault, name, material, [...ops], params);
  }

  private async addKeyVersion(vault: Vault, name: string, params: CreateKeyParams): Promise<KeyVersion> {
    assertKeyName(name);
    const spec = this.validateCreate(vault, params);
    if (vault.deletedKeys.has(lower(name))) throw kvErrors.deletedButRecoverable(name);
    const material = await generateMaterial(spec.kty, spec.keySize, spec.curve);
    // Re-check after the asynchronous key generation: a concurrent delete may have happened meanwhile.
    if (vault.deletedKeys.has(lower(name))) throw kvErrors.deletedButRecoverable(name);
    return this.storeVersion(vault, name, material, spec.keyOps, params);
  }

  private storeVersion(
    vault: Vault,
    name: string,
    material: KeyMaterial,
    keyOps: string[],
    params: { attributes?: { enabled?: boolean; nbf?: number; exp?: number }; tags?: Record<string, string> },
  ): KeyVersion {
    const now = this.estate.now();
    const version: KeyVersion = {
      version: newVersionId(),
      material,
      keyOps,
      enabled: params.attributes?.enabled ?? true,
      created: now,
      updated: now,
      tags: { ...(params.tags ?? {}) },
      ...(params.attributes?.nbf !== undefined ? { nbf: params.attributes.nbf * 1000 } : {}),
      ...(params.attributes?.exp !== undefined ? { exp: params.attributes.exp * 1000 } : {}),
    };
    let record = vault.keys.get(lower(name));
    if (!record) {
      record = { name, versions: [], timers: [] };
      vault.keys.set(lower(name), record);
    }
    return this.addVersion(vault, record, version);
  }

  private validateCreate(
    vault: Vault,
    params: CreateKeyParams,
  ): { kty: KeyType; keySize?: number; curve?: CurveName; keyOps: string[] } {
    const kty = params.kty;
    if (kty === 'oct' || kty === 'oct-HSM') {
      throw kvErrors.badParameter(`Key type '${kty}' is only supported by Managed HSM.`);
    }
    if (kty !== 'RSA' && kty !== 'RSA-HSM' && kty !== 'EC' && kty !== 'EC-HSM') {
      throw kvErrors.badParameter(`The kty '${String(kty)}' is not a valid key type.`);
    }
    if (kty.endsWith('-HSM') && vault.properties.sku.name !== 'premium') {
      throw kvErrors.badParameter(
        `The Key Vault SKU 'standard' does not support HSM-protected keys (kty '${kty}'); use a premium vault.`,
      );
    }
    const ops = params.key_ops ?? (isRsa(kty) ? RSA_OPS : EC_OPS);
    for (const op of ops) {
      if (!ALL_OPS.includes(op)) throw kvErrors.badParameter(`Invalid key operation: ${op}`);
    }
    if (isRsa(kty)) {
      if (params.crv !== undefined)
        throw kvErrors.badParameter('The crv parameter is not valid for RSA keys.');
      const size = params.key_size ?? 2048;
      if (!(RSA_SIZES as readonly number[]).includes(size)) {
        throw kvErrors.badParameter(
          `The key size ${size} is not supported for RSA keys. Supported sizes: 2048, 3072, 4096.`,
        );
      }
      return { kty, keySize: size, keyOps: [...ops] };
    }
    const crv = (params.crv ?? 'P-256') as CurveName;
    if (!(crv in CURVES)) throw kvErrors.badParameter(`The curve '${crv}' is not supported.`);
    if (params.key_size !== undefined)
      throw kvErrors.badParameter('The key_size parameter is not valid for EC keys.');
    return { kty, curve: crv, keyOps: [...ops] };
  }

  /** The live key record, or KeyNotFound (a soft-deleted key is not found by the keys endpoints). */
  liveKey(vault: Vault, name: string): KeyRecord {
    const record = vault.keys.get(lower(name));
    if (!record) throw kvErrors.keyNotFound(name);
    return record;
  }

  /** The soft-deleted key, or DeletedKeyNotFound. */
  private deletedKey(vault: Vault, name: string): DeletedKeyRecord {
    const d = vault.deletedKeys.get(lower(name));
    if (!d) throw kvErrors.deletedKeyNotFound(name);
    return d;
  }

  pickVersion(record: KeyRecord, version?: string): KeyVersion {
    if (!version) {
      const latest = record.versions[record.versions.length - 1];
      if (!latest) throw kvErrors.keyNotFound(record.name);
      return latest;
    }
    const found = record.versions.find((v) => v.version === lower(version));
    if (!found) throw kvErrors.keyNotFound(`${record.name}/${version}`);
    return found;
  }

  async getKey(
    vault: Vault,
    caller: Caller,
    name: string,
    version?: string,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.access.authorize(vault, caller, 'get', name);
    const record = this.liveKey(vault, name);
    // A disabled or expired key still answers GET (attributes and public key); only crypto is refused.
    return { record, version: this.pickVersion(record, version) };
  }

  async listKeys(vault: Vault, caller: Caller): Promise<Array<{ record: KeyRecord; version: KeyVersion }>> {
    await this.access.authorize(vault, caller, 'list');
    return [...vault.keys.values()]
      .sort((a, b) => lower(a.name).localeCompare(lower(b.name)))
      .map((record) => ({ record, version: this.pickVersion(record) }));
  }

  async listKeyVersions(
    vault: Vault,
    caller: Caller,
    name: string,
  ): Promise<Array<{ record: KeyRecord; version: KeyVersion }>> {
    await this.access.authorize(vault, caller, 'list', name);
    const record = this.liveKey(vault, name);
    return record.versions.map((version) => ({ record, version }));
  }

  async updateKey(
    vault: Vault,
    caller: Caller,
    name: string,
    versionId: string | undefined,
    params: UpdateKeyParams,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.access.authorize(vault, caller, 'update', name);
    const record = this.liveKey(vault, name);
    const version = this.pickVersion(record, versionId);
    const attrs = params.attributes ?? {};
    if (params.key_ops !== undefined) {
      for (const op of params.key_ops) {
        if (!ALL_OPS.includes(op)) throw kvErrors.badParameter(`Invalid key operation: ${op}`);
      }
    }
    const exp = attrs.exp === undefined ? version.exp : attrs.exp === null ? undefined : attrs.exp * 1000;
    const nbf = attrs.nbf === undefined ? version.nbf : attrs.nbf === null ? undefined : attrs.nbf * 1000;
    if (exp !== undefined && nbf !== undefined && nbf > exp) {
      throw kvErrors.badParameter('The key activation date (nbf) must be before its expiration date (exp).');
    }
    const isLatest = record.versions[record.versions.length - 1] === version;
    if (isLatest && exp === undefined && hasExpiryTrigger(record.rotationPolicy)) {
      throw kvErrors.badParameter(
        'The expiration date of the latest key version cannot be removed while the rotation policy has a time-before-expiry trigger.',
      );
    }
    if (typeof attrs.enabled === 'boolean') version.enabled = attrs.enabled;
    if (exp === undefined) delete version.exp;
    else version.exp = exp;
    if (nbf === undefined) delete version.nbf;
    else version.nbf = nbf;
    if (params.key_ops !== undefined) version.keyOps = [...params.key_ops];
    if (params.tags !== undefined) version.tags = { ...params.tags };
    version.updated = this.estate.now();
    this.timers.arm(vault, record);
    this.estate.changed();
    return { record, version };
  }

  async deleteKey(vault: Vault, caller: Caller, name: string): Promise<DeletedKeyRecord> {
    await this.access.authorize(vault, caller, 'delete', name);
    const record = this.liveKey(vault, name);
    this.timers.cancel(record);
    vault.keys.delete(lower(name));
    const now = this.estate.now();
    const scheduledPurgeDate = now + vault.properties.softDeleteRetentionInDays * DAY_MS;
    const deleted: DeletedKeyRecord = {
      key: record,
      deletedDate: now,
      scheduledPurgeDate,
      purgeTimer: this.timers.scheduleKeyPurge(vault, lower(name), scheduledPurgeDate),
    };
    vault.deletedKeys.set(lower(name), deleted);
    this.estate.changed();
    return deleted;
  }

  async getDeletedKey(vault: Vault, caller: Caller, name: string): Promise<DeletedKeyRecord> {
    await this.access.authorize(vault, caller, 'getDeleted', name);
    const d = this.deletedKey(vault, name);
    return d;
  }

  async listDeletedKeys(vault: Vault, caller: Caller): Promise<DeletedKeyRecord[]> {
    await this.access.authorize(vault, caller, 'listDeleted');
    return [...vault.deletedKeys.values()].sort((a, b) => lower(a.key.name).localeCompare(lower(b.key.name)));
  }

  async recoverDeletedKey(
    vault: Vault,
    caller: Caller,
    name: string,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.access.authorize(vault, caller, 'recover', name);
    const d = this.deletedKey(vault, name);
    d.purgeTimer();
    vault.deletedKeys.delete(lower(name));
    vault.keys.set(lower(name), d.key);
    this.timers.arm(vault, d.key);
    this.estate.changed();
    return { record: d.key, version: this.pickVersion(d.key) };
  }

  async purgeDeletedKey(vault: Vault, caller: Caller, name: string): Promise<void> {
    await this.access.authorize(vault, caller, 'purge', name);
    const d = this.deletedKey(vault, name);
    if (vault.properties.enablePurgeProtection) throw kvErrors.purgeProtected(vaultTag(vault));
    d.purgeTimer();
    vault.deletedKeys.delete(lower(name));
    this.estate.changed();
  }

  async rotateKey(
    vault: Vault,
    caller: Caller,
    name: string,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.access.authorize(vault, caller, 'rotate', name);
    const record = this.liveKey(vault, name);
    return { record, version: await this.rotate(vault, record) };
  }

  /** A new version like the current one (type, size/curve, key_ops, tags); expiry from the policy. */
  async rotate(vault: Vault, record: KeyRecord): Promise<KeyVersion> {
    const current = this.pickVersion(record);
    const material = await generateMaterial(
      current.material.kty,
      current.material.keySize,
      current.material.curve,
    );
    const now = this.estate.now();
    const expiry = record.rotationPolicy?.expiryTime
      ? parseDuration(record.rotationPolicy.expiryTime)
      : undefined;
    const version: KeyVersion = {
      version: newVersionId(),
      material,
      keyOps: [...current.keyOps],
      enabled: true,
      created: now,
      updated: now,
      tags: { ...current.tags },
      ...(expiry ? { exp: addDuration(now, expiry) } : {}),
    };
    return this.addVersion(vault, record, version);
  }

  /**
   * The one place a key gets a new version (create, import, manual and auto-rotation): it becomes the
   * current version, the clock's timers follow it, and KeyNewVersionCreated is announced.
   */
  private addVersion(vault: Vault, record: KeyRecord, version: KeyVersion): KeyVersion {
    record.versions.push(version);
    this.timers.arm(vault, record);
    this.events.keyVersionCreated(vault, record, version);
    this.estate.changed();
    return version;
  }

  async getRotationPolicy(
    vault: Vault,
    caller: Caller,
    name: string,
  ): Promise<{ record: KeyRecord; policy?: RotationPolicy }> {
    await this.access.authorize(vault, caller, 'getrotationpolicy', name);
    const record = this.liveKey(vault, name);
    return { record, ...(record.rotationPolicy ? { policy: record.rotationPolicy } : {}) };
  }

  async setRotationPolicy(
    vault: Vault,
    caller: Caller,
    name: string,
    input: PolicyInput,
  ): Promise<{ record: KeyRecord; policy: RotationPolicy }> {
    await this.access.authorize(vault, caller, 'setrotationpolicy', name);
    const record = this.liveKey(vault, name);
    const { lifetimeActions, expiryTime } = validatePolicy(input);
    const latest = this.pickVersion(record);
    if (
      lifetimeActions.some((a) => a.action.type === 'Rotate' && a.trigger.timeBeforeExpiry) &&
      latest.exp === undefined &&
      !expiryTime
    ) {
      throw kvErrors.badParameter(
        'A rotation policy with a time-before-expiry Rotate trigger needs an expiry time on the policy or an expiration date on the latest key version.',
      );
    }
    const now = this.estate.now();
    record.rotationPolicy = {
      lifetimeActions,
      ...(expiryTime ? { expiryTime } : {}),
      created: record.rotationPolicy?.created ?? now,
      updated: now,
    };
    this.timers.arm(vault, record);
    this.estate.changed();
    return { record, policy: record.rotationPolicy };
  }
}

function assertKeyName(name: string): void {
  if (!KEY_NAME.test(name)) {
    throw kvErrors.badParameter(
      `The request URI contains an invalid name: ${name}. Key names may contain only alphanumeric characters and dashes (1-127).`,
    );
  }
}
