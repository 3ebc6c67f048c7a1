/**
 * Key Vault service limits (service-limits, current Learn copy): transactions per 10 seconds per vault,
 * enforced on a weighted sum. Key CREATE: 20 (software) / 10 (HSM). All other key transactions: 4,000,
 * where a transaction costs more on bigger keys (RSA 3072 ×4, RSA 4096 ×8) and on HSM keys (×2).
 * Active only while the sandbox's throttling profile is on (off in fast tests), like ARM's buckets;
 * refill is computed from the sandbox clock, so in virtual time a vault recovers when the test advances it.
 */
import { KeyVaultError } from './errors';
import type { KeyVersion } from './model';

const WINDOW_SECONDS = 10;
const CREATE_LIMIT = { software: 20, hsm: 10 };
const OTHER_LIMIT = 4000;

interface Bucket {
  tokens: number;
  capacity: number;
  updatedAt: number;
}

export function transactionWeight(version: KeyVersion | undefined): number {
  if (!version) return 1;
  const size = version.material.keySize ?? 2048;
  const bySize = size >= 4096 ? 8 : size >= 3072 ? 4 : 1;
  return bySize * (version.material.kty.endsWith('-HSM') ? 2 : 1);
}

export class VaultLimits {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * Takes `weight` from the vault's bucket for this class of transaction, or throws Key Vault's 429
   * (`Retry-After` = seconds until enough capacity has refilled).
   */
  take(vaultName: string, kind: 'create' | 'other', hsm: boolean, weight: number, now: number): void {
    const capacity = kind === 'create' ? (hsm ? CREATE_LIMIT.hsm : CREATE_LIMIT.software) : OTHER_LIMIT;
    const id = `${vaultName.toLowerCase()}|${kind}|${hsm && kind === 'create' ? 'hsm' : 'sw'}`;
    let bucket = this.buckets.get(id);
    if (!bucket) this.buckets.set(id, (bucket = { tokens: capacity, capacity, updatedAt: now }));
    const refillPerMs = capacity / (WINDOW_SECONDS * 1000);
    if (now > bucket.updatedAt) {
      bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.updatedAt) * refillPerMs);
      bucket.updatedAt = now;
    }
    if (bucket.tokens >= weight) {
      bucket.tokens -= weight;
      return;
    }
    const waitSeconds = Math.max(1, Math.ceil((weight - bucket.tokens) / refillPerMs / 1000));
    throw new KeyVaultError(
      429,
      'Throttled',
      'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
      undefined,
      { 'Retry-After': String(waitSeconds) },
    );
  }

  reset(): void {
    this.buckets.clear();
  }
}
