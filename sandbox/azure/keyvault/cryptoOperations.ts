/**
 * Cryptographic operations of the keys data plane — encrypt, decrypt, wrapKey, unwrapKey, sign, verify —
 * with the checks Key Vault makes on the chosen version (enabled, nbf/exp, key_ops); the arithmetic is
 * keycrypto.ts. Each method is one Key Vault operation and starts with `access.authorize`. The Service
 * Bus provider's key polls (../servicebus/keys.ts) come through `cryptoOperation` too.
 */
import type { DataPlaneAuthorization } from './authorization';
import { kvErrors } from './errors';
import type { KeyVaultEstate } from './estate';
import { rsaDecrypt, rsaEncrypt, signDigest, verifyDigest } from './keycrypto';
import type { KeyDataPlane } from './keys';
import type { Caller } from './permissions';
import type { KeyRecord, KeyVersion, Vault } from './records';

/** Operations Key Vault refuses outside a key's nbf/exp window; decrypt, unwrapKey and verify stay allowed. */
const PROTECT_OPS = new Set(['encrypt', 'wrapKey', 'sign']);

type CryptoOperation = 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey' | 'sign' | 'verify';

export class KeyCryptoOperations {
  constructor(
    private readonly estate: KeyVaultEstate,
    private readonly access: DataPlaneAuthorization,
    private readonly keys: KeyDataPlane,
  ) {}

  /** encrypt, decrypt, wrapKey, unwrapKey with the chosen version; checks enabled/nbf/exp/key_ops. */
  async cryptoOperation(
    vault: Vault,
    caller: Caller,
    operation: 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey',
    name: string,
    versionId: string | undefined,
    algorithm: string,
    value: Buffer,
  ): Promise<{ record: KeyRecord; version: KeyVersion; result: Buffer }> {
    const { record, version } = await this.usableVersion(vault, caller, operation, name, versionId);
    const result =
      operation === 'encrypt' || operation === 'wrapKey'
        ? rsaEncrypt(version.material, algorithm, value)
        : rsaDecrypt(version.material, algorithm, value);
    return { record, version, result };
  }

  async sign(
    vault: Vault,
    caller: Caller,
    name: string,
    versionId: string | undefined,
    algorithm: string,
    digest: Buffer,
  ): Promise<{ record: KeyRecord; version: KeyVersion; result: Buffer }> {
    const { record, version } = await this.usableVersion(vault, caller, 'sign', name, versionId);
    return { record, version, result: signDigest(version.material, algorithm, digest) };
  }

  async verify(
    vault: Vault,
    caller: Caller,
    name: string,
    versionId: string | undefined,
    algorithm: string,
    digest: Buffer,
    signature: Buffer,
  ): Promise<boolean> {
    const { version } = await this.usableVersion(vault, caller, 'verify', name, versionId);
    return verifyDigest(version.material, algorithm, digest, signature);
  }

  /** The permission check, then the version and whether it may do this operation now. */
  private async usableVersion(
    vault: Vault,
    caller: Caller,
    operation: CryptoOperation,
    name: string,
    versionId: string | undefined,
  ): Promise<{ record: KeyRecord; version: KeyVersion }> {
    await this.access.authorize(vault, caller, operation, name);
    const record = this.keys.liveKey(vault, name);
    const version = this.keys.pickVersion(record, versionId);
    this.checkUsable(version, operation);
    return { record, version };
  }

  private checkUsable(version: KeyVersion, operation: string): void {
    if (!version.enabled) throw kvErrors.disabled(operation);
    if (!version.keyOps.includes(operation)) throw kvErrors.operationNotPermitted(operation);
    if (PROTECT_OPS.has(operation)) {
      const now = this.estate.now();
      if (version.nbf !== undefined && now < version.nbf) throw kvErrors.notYetValid(operation);
      if (version.exp !== undefined && now >= version.exp) throw kvErrors.expired(operation);
    }
  }
}
