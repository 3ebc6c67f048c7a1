/**
 * The one source of time for everything offline: the local Functions host (durable timers,
 * `currentUtcDateTime`, timer triggers) and the emulated Azure (LROs, key expiry, key polls,
 * RBAC propagation) read and schedule on the same clock, so a test can fast-forward all of it at once.
 *
 * Two implementations:
 * - `WallClock`: real time, optionally faster (speed 60 → an hour passes in a minute).
 * - `VirtualClock`: time stands still until `advance()`; due callbacks run in time order, and after each
 *   one the clock waits for registered "settlers" (e.g. the Durable engine becoming idle) so work caused
 *   by one event finishes — and may schedule more — before time moves on. Deterministic, no sleeps.
 *   Work that itself waits for a later clock time (an activity polling an LRO that completes "on the
 *   clock") would block time forever, so each wait is bounded by `settleTimeoutMs` of real time; past
 *   it the work counts as "waiting on the clock" and time moves on.
 */

export type Cancel = () => void;

export interface Clock {
  /** Milliseconds since the epoch, in this clock's time. */
  now(): number;
  /** Runs `callback` once when the clock reaches `at` (immediately-ish if `at` is in the past). */
  schedule(at: number, callback: () => void | Promise<void>, label?: string): Cancel;
  /** Registers work that must settle after each due callback (virtual clock) before time moves on. */
  addSettler(settle: () => Promise<void>): void;
  readonly kind: 'wall' | 'virtual';
}

interface Scheduled {
  id: number;
  at: number;
  callback: () => void | Promise<void>;
  label: string;
}

export class VirtualClock implements Clock {
  readonly kind = 'virtual' as const;
  private current: number;
  private seq = 0;
  private readonly queue: Scheduled[] = [];
  private readonly settlers: Array<() => Promise<void>> = [];
  private advancing: Promise<void> = Promise.resolve();
  private readonly settleTimeoutMs: number;

  constructor(start: number | Date = Date.UTC(2026, 0, 1), options: { settleTimeoutMs?: number } = {}) {
    this.current = typeof start === 'number' ? start : start.getTime();
    this.settleTimeoutMs = options.settleTimeoutMs ?? 2000;
  }

  now(): number {
    return this.current;
  }

  schedule(at: number, callback: () => void | Promise<void>, label = 'callback'): Cancel {
    const entry: Scheduled = { id: ++this.seq, at, callback, label };
    this.queue.push(entry);
    this.queue.sort((a, b) => a.at - b.at || a.id - b.id);
    // A callback scheduled "now or earlier" must not wait for the next advance: run it on the next tick.
    if (at <= this.current) void this.advanceBy(0);
    return () => {
      const i = this.queue.indexOf(entry);
      if (i >= 0) this.queue.splice(i, 1);
    };
  }

  addSettler(settle: () => Promise<void>): void {
    this.settlers.push(settle);
  }

  /** Moves time forward by `ms`, running every callback that falls due on the way, in order. */
  advanceBy(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot advance the clock by ${ms} ms`);
    return this.serialise(() => this.runUntil(this.current + ms));
  }

  /** Moves time forward to `target` (never backwards). */
  advanceTo(target: number): Promise<void> {
    return this.serialise(() => this.runUntil(Math.max(target, this.current)));
  }

  /** Time of the next pending callback, if any (lets a caller "skip to the next thing"). */
  nextDue(): number | undefined {
    return this.queue[0]?.at;
  }

  pending(): Array<{ at: string; label: string }> {
    return this.queue.map((q) => ({ at: new Date(q.at).toISOString(), label: q.label }));
  }

  /** Waits until every settler reports idle (no time passes). */
  settle(): Promise<void> {
    return this.serialise(() => this.runUntil(this.current));
  }

  private serialise(work: () => Promise<void>): Promise<void> {
    const next = this.advancing.then(work, work);
    this.advancing = next.catch(() => undefined);
    return next;
  }

  private async runUntil(target: number): Promise<void> {
    await this.settleAll();
    for (;;) {
      const due = this.queue[0];
      if (!due || due.at > target) break;
      this.queue.shift();
      this.current = Math.max(this.current, due.at);
      await this.bounded(due.callback, due.label);
      await this.settleAll();
    }
    this.current = Math.max(this.current, target);
    await this.settleAll();
  }

  /** Runs `work`, waiting at most `settleTimeoutMs` (real time) for it; errors are logged, not thrown. */
  private async bounded(work: () => void | Promise<void>, label: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.settleTimeoutMs);
    });
    try {
      await Promise.race([
        Promise.resolve()
          .then(work)
          .catch((error: unknown) => console.error(`[clock] ${label} failed:`, error)),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async settleAll(): Promise<void> {
    // Settlers may trigger each other (an activity finishes → an episode → a new activity); loop until
    // a full pass changes nothing. Bounded so a runaway loop surfaces instead of hanging a test.
    for (let pass = 0; pass < 10_000; pass++) {
      const before = this.seq;
      for (const settle of this.settlers) await this.bounded(settle, 'settler');
      const due = this.queue[0];
      if (this.seq === before && !(due && due.at <= this.current)) return;
      if (due && due.at <= this.current) {
        this.queue.shift();
        await this.bounded(due.callback, due.label);
      }
    }
    throw new Error('clock: work did not settle after 10000 passes');
  }
}

export class WallClock implements Clock {
  readonly kind = 'wall' as const;
  private readonly origin = Date.now();
  private readonly settlers: Array<() => Promise<void>> = [];

  /** `speed` > 1 makes time pass faster than the wall clock (timers fire sooner, `now()` runs ahead). */
  constructor(private readonly speed = 1) {
    if (!(speed > 0)) throw new RangeError('clock speed must be > 0');
  }

  now(): number {
    const real = Date.now();
    return this.speed === 1 ? real : this.origin + (real - this.origin) * this.speed;
  }

  schedule(at: number, callback: () => void | Promise<void>, label = 'callback'): Cancel {
    let handle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      // setTimeout caps at ~24.8 days; re-arm for longer waits (durable timers can be months away).
      const delay = Math.min(Math.max(0, (at - this.now()) / this.speed), 2_000_000_000);
      handle = setTimeout(() => {
        if (this.now() + 1 < at) return arm();
        Promise.resolve()
          .then(callback)
          .catch((error: unknown) => console.error(`[clock] scheduled ${label} failed:`, error));
      }, delay);
      handle.unref?.();
    };
    arm();
    return () => {
      if (handle) clearTimeout(handle);
    };
  }

  addSettler(settle: () => Promise<void>): void {
    this.settlers.push(settle);
  }
}
