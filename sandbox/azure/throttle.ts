import type { Clock } from '../clock';

/**
 * ARM's throttling model since 2024: token buckets per region, keyed by subscription + principal +
 * operation type (reads 250 burst / 25 per s, writes 200 / 10, deletes 200 / 10). Refill is computed at
 * each take from the time that passed — never from a timer.
 *
 * "Time that passed" is the larger of the sandbox clock's and the real clock's: a test that advances
 * virtual time by an hour finds full buckets (an hour passed for everyone), and an SDK that sleeps
 * Retry-After in real time finds its token when it comes back, as against Azure — otherwise a
 * virtual clock that nobody advances would throttle a retrying client forever.
 */
export interface BucketSpec {
  capacity: number;
  refillPerSecond: number;
}

export interface ThrottleProfile {
  reads: BucketSpec;
  writes: BucketSpec;
  deletes: BucketSpec;
}

export type OperationType = keyof ThrottleProfile;

export const AZURE_ARM_LIMITS: ThrottleProfile = {
  reads: { capacity: 250, refillPerSecond: 25 },
  writes: { capacity: 200, refillPerSecond: 10 },
  deletes: { capacity: 200, refillPerSecond: 10 },
};

/**
 * A token bucket whose state is a pure function of (tokens, time passed, now). Time passed since the
 * bucket was created is the larger of the clock's and the real clock's — taken since creation, so time
 * both clocks saw is counted once.
 */
export class TokenBucket {
  private tokens: number;
  private readonly origin: number;
  private readonly originReal: number;
  private passed = 0;

  constructor(
    readonly spec: BucketSpec,
    now: number,
    nowReal: number = now,
  ) {
    this.tokens = spec.capacity;
    this.origin = now;
    this.originReal = nowReal;
  }

  private refill(now: number, nowReal: number): void {
    const passed = Math.max(now - this.origin, nowReal - this.originReal, this.passed);
    this.tokens = Math.min(
      this.spec.capacity,
      this.tokens + ((passed - this.passed) / 1000) * this.spec.refillPerSecond,
    );
    this.passed = passed;
  }

  /** Takes one token if there is one. `retryAfterSeconds` says when the next token exists (≥ 1 s, as ARM rounds). */
  take(now: number, nowReal: number = now): { ok: boolean; remaining: number; retryAfterSeconds: number } {
    this.refill(now, nowReal);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true, remaining: Math.floor(this.tokens), retryAfterSeconds: 0 };
    }
    const wait = this.spec.refillPerSecond > 0 ? (1 - this.tokens) / this.spec.refillPerSecond : Infinity;
    return { ok: false, remaining: 0, retryAfterSeconds: Math.max(1, Math.ceil(wait)) };
  }

  remaining(now: number, nowReal: number = now): number {
    this.refill(now, nowReal);
    return Math.floor(this.tokens);
  }
}

export class Throttler {
  private readonly buckets = new Map<string, TokenBucket>();

  /** `profile` undefined = throttling off (fast tests); set through options or the control API. */
  constructor(
    private readonly clock: Clock,
    public profile: ThrottleProfile | undefined,
    private readonly realNow: () => number = Date.now,
  ) {}

  setProfile(profile: ThrottleProfile | undefined): void {
    this.profile = profile;
    this.buckets.clear();
  }

  /** Takes a token for `key` (e.g. subscription + principal). Undefined when throttling is off. */
  take(key: string, type: OperationType): ReturnType<TokenBucket['take']> | undefined {
    if (!this.profile) return undefined;
    const id = `${key.toLowerCase()}|${type}`;
    let bucket = this.buckets.get(id);
    if (!bucket)
      this.buckets.set(id, (bucket = new TokenBucket(this.profile[type], this.clock.now(), this.realNow())));
    return bucket.take(this.clock.now(), this.realNow());
  }

  reset(): void {
    this.buckets.clear();
  }
}

/** ARM's operation type for a method: GET/HEAD read, DELETE delete, everything else write. */
export function operationType(method: string): OperationType {
  const m = method.toUpperCase();
  return m === 'GET' || m === 'HEAD' ? 'reads' : m === 'DELETE' ? 'deletes' : 'writes';
}
