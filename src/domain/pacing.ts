/**
 * Pacing decisions for calls against a throttled budget (ARM's token buckets; Key Vault's 429s): pure
 * functions over a small state, so the policy that applies them (src/azure/armPacing.ts) stays I/O
 * and the decisions are unit-tested without a clock.
 *
 * ARM (docs/ARCHITECTURE.md "Compliance sweep"): reads are a token bucket per subscription + principal
 * (250, refilled at 25/s); every answer carries `x-ms-ratelimit-remaining-subscription-reads` (or
 * `-tenant-reads`), and a 429 carries `Retry-After` (seconds). The SDKs retry a 429 after Retry-After
 * but never slow down before it, so a sweep with many calls in flight would empty the bucket and
 * collect 429s. The gate estimates the tokens left (last reported remaining, minus the calls admitted
 * since, plus the refill since) and holds a call while the estimate is under a reserve kept for the
 * app's other flows (the same principal's enable or a reaction must not find the bucket empty).
 * After a 429 every call to that budget waits for Retry-After, not only the one the SDK retries.
 */

export interface PacingSettings {
  /** Tokens added per second (ARM reads: 25). */
  refillPerSecond: number;
  /** Bucket size (ARM reads: 250): the estimate never exceeds it. */
  capacity: number;
  /** Tokens left for others: calls wait while the estimate is below this. */
  reserve: number;
}

/** ARM's documented read bucket (regional token bucket since 2024); the reserve is ours. */
export const ARM_READ_PACING: PacingSettings = { refillPerSecond: 25, capacity: 250, reserve: 10 };
/** ARM writes and deletes (200, 10/s). */
export const ARM_WRITE_PACING: PacingSettings = { refillPerSecond: 10, capacity: 200, reserve: 5 };

export interface PacingState {
  /** Estimated tokens at `at`; undefined until an answer reported the budget (then nothing is held). */
  tokens?: number;
  /** When `tokens` was estimated (ms). */
  at: number;
  /** No call before this time (ms): a 429's Retry-After. */
  blockedUntil: number;
  /** Calls admitted (for figures). */
  admitted: number;
  /** Calls held at least once (for figures). */
  held: number;
  /** 429 answers seen. */
  throttled: number;
}

export const initialPacing = (now: number): PacingState => ({
  at: now,
  blockedUntil: 0,
  admitted: 0,
  held: 0,
  throttled: 0,
});

function estimate(state: PacingState, now: number, s: PacingSettings): number | undefined {
  if (state.tokens === undefined) return undefined;
  const elapsed = Math.max(0, now - state.at) / 1000;
  return Math.min(s.capacity, state.tokens + elapsed * s.refillPerSecond);
}

export type AdmitDecision =
  | { go: true; state: PacingState }
  /** Wait `waitMs`, then ask again (the state already counts the hold). */
  | { go: false; waitMs: number; state: PacingState };

/** May a call go now? When it may, the state counts its token as spent. */
export function admit(state: PacingState, now: number, s: PacingSettings, firstAsk = true): AdmitDecision {
  const hold = (waitMs: number): AdmitDecision => ({
    go: false,
    waitMs: Math.max(1, Math.ceil(waitMs)),
    state: firstAsk ? { ...state, held: state.held + 1 } : state,
  });
  if (state.blockedUntil > now) return hold(state.blockedUntil - now);
  const tokens = estimate(state, now, s);
  if (tokens !== undefined && tokens < s.reserve + 1) {
    return hold(((s.reserve + 1 - tokens) / s.refillPerSecond) * 1000);
  }
  return {
    go: true,
    state: {
      ...state,
      ...(tokens !== undefined ? { tokens: tokens - 1, at: now } : {}),
      admitted: state.admitted + 1,
    },
  };
}

export interface BudgetAnswer {
  status: number;
  /** The remaining-reads (or writes) header, when the answer had one. */
  remaining?: number;
  /** Retry-After of a 429 (or 503), in ms. */
  retryAfterMs?: number;
}

/**
 * What an answer says about the budget. The reported remaining already counts this call and every
 * call the service saw before it; calls admitted since but not yet answered are still in flight, so
 * the estimate keeps the lower of the two views.
 */
export function observe(
  state: PacingState,
  now: number,
  answer: BudgetAnswer,
  s: PacingSettings,
): PacingState {
  let next: PacingState = { ...state };
  if (answer.remaining !== undefined) {
    const current = estimate(state, now, s);
    next = {
      ...next,
      tokens: current === undefined ? answer.remaining : Math.min(current, answer.remaining),
      at: now,
    };
  }
  if (answer.status === 429 || (answer.status === 503 && answer.retryAfterMs !== undefined)) {
    const wait = answer.retryAfterMs ?? 1000;
    next = {
      ...next,
      tokens: 0,
      at: now,
      blockedUntil: Math.max(state.blockedUntil, now + wait),
      throttled: state.throttled + (answer.status === 429 ? 1 : 0),
    };
  }
  return next;
}

/**
 * Retry-After as ms: seconds (`"5"`), an HTTP date, or the ms variants Azure also sends
 * (`retry-after-ms`, `x-ms-retry-after-ms`). Undefined when absent or unreadable.
 */
export function retryAfterMs(header: (name: string) => string | undefined, now: number): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const v = header(name);
    if (v !== undefined && /^\d+$/.test(v.trim())) return Number(v.trim());
  }
  const v = header('retry-after')?.trim();
  if (v === undefined || v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Which budget a request spends: ARM subscription/tenant × operation type, or a Key Vault host. */
export interface BudgetKey {
  key: string;
  kind: 'arm' | 'keyVault' | 'other';
  /** The header ARM reports this budget's remaining tokens in (ARM only). */
  remainingHeader?: string;
  settings: PacingSettings;
}

const KEY_VAULT_PACING: PacingSettings = { refillPerSecond: 400, capacity: 4000, reserve: 0 };

export function budgetOf(
  url: string,
  method: string,
  endpoints: { resourceManager: string; keyVaultDnsSuffix: string },
): BudgetKey {
  const u = new URL(url);
  const host = u.hostname.toLowerCase();
  if (host.endsWith(`.${endpoints.keyVaultDnsSuffix.toLowerCase()}`))
    return { key: `kv|${host}`, kind: 'keyVault', settings: KEY_VAULT_PACING };
  const arm = new URL(endpoints.resourceManager);
  if (u.host.toLowerCase() !== arm.host.toLowerCase())
    return { key: `other|${u.host.toLowerCase()}`, kind: 'other', settings: KEY_VAULT_PACING };
  const m = method.toUpperCase();
  const type = m === 'GET' || m === 'HEAD' ? 'reads' : m === 'DELETE' ? 'deletes' : 'writes';
  const sub = /^\/subscriptions\/([^/]+)/i.exec(u.pathname)?.[1]?.toLowerCase();
  const scope = sub ? 'subscription' : 'tenant';
  return {
    key: `arm|${sub ?? 'tenant'}|${type}`,
    kind: 'arm',
    remainingHeader: `x-ms-ratelimit-remaining-${scope}-${type}`,
    settings: type === 'reads' ? ARM_READ_PACING : ARM_WRITE_PACING,
  };
}
