import { VirtualClock } from '../../sandbox/clock';
import { operationType, Throttler, TokenBucket } from '../../sandbox/azure/throttle';

describe('token bucket', () => {
  test('bursts to capacity, then refills at the rate, never above capacity', () => {
    const bucket = new TokenBucket({ capacity: 3, refillPerSecond: 2 }, 0);
    expect([0, 0, 0].map((t) => bucket.take(t).remaining)).toEqual([2, 1, 0]);
    expect(bucket.take(0)).toEqual({ ok: false, remaining: 0, retryAfterSeconds: 1 });
    expect(bucket.take(500).ok).toBe(true); // one token after 0.5 s at 2/s
    expect(bucket.take(500).ok).toBe(false);
    expect(bucket.remaining(60_000)).toBe(3);
  });

  test('refill counts the larger of clock time and real time that passed (not their sum)', () => {
    const bucket = new TokenBucket({ capacity: 10, refillPerSecond: 1 }, 0, 1_000_000);
    for (let i = 0; i < 10; i++) bucket.take(0, 1_000_000);
    expect(bucket.remaining(0, 1_003_000)).toBe(3); // a client slept 3 s in real time; the virtual clock stood still
    expect(bucket.remaining(5_000, 1_003_000)).toBe(5); // then a test advanced the clock to 5 s: 2 more
    expect(bucket.remaining(6_000, 1_004_000)).toBe(6); // both moved 1 s: counted once
  });

  test('Retry-After is the wait for the next token, in whole seconds, at least 1', () => {
    const slow = new TokenBucket({ capacity: 1, refillPerSecond: 0.1 }, 0);
    slow.take(0);
    expect(slow.take(0).retryAfterSeconds).toBe(10);
    expect(slow.take(5_000).retryAfterSeconds).toBe(5);
  });
});

describe('throttler', () => {
  test('keys by caller and operation type; off when no profile', async () => {
    const clock = new VirtualClock(0);
    const t = new Throttler(clock, undefined, () => 0);
    expect(t.take('s|p', 'reads')).toBeUndefined();
    t.setProfile({
      reads: { capacity: 1, refillPerSecond: 1 },
      writes: { capacity: 1, refillPerSecond: 1 },
      deletes: { capacity: 1, refillPerSecond: 1 },
    });
    expect(t.take('s|p', 'reads')?.ok).toBe(true);
    expect(t.take('s|p', 'reads')?.ok).toBe(false);
    expect(t.take('s|p', 'writes')?.ok).toBe(true);
    expect(t.take('s|other', 'reads')?.ok).toBe(true);
    await clock.advanceBy(1000);
    expect(t.take('S|P', 'reads')?.ok).toBe(true);
  });

  test('operation types follow ARM: GET/HEAD read, DELETE delete, the rest write', () => {
    expect(['GET', 'head', 'PUT', 'PATCH', 'POST', 'DELETE'].map(operationType)).toEqual([
      'reads',
      'reads',
      'writes',
      'writes',
      'writes',
      'deletes',
    ]);
  });
});
