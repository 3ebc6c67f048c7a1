import { VirtualClock, WallClock } from '../../sandbox/clock';

describe('VirtualClock', () => {
  it('stands still until advanced, then runs due callbacks in time order', async () => {
    const clock = new VirtualClock(1000);
    const seen: string[] = [];
    clock.schedule(3000, () => void seen.push(`b@${clock.now()}`));
    clock.schedule(2000, () => void seen.push(`a@${clock.now()}`));
    clock.schedule(9000, () => void seen.push('late'));
    expect(clock.now()).toBe(1000);
    await clock.advanceBy(2500);
    expect(seen).toEqual(['a@2000', 'b@3000']);
    expect(clock.now()).toBe(3500);
  });

  it('runs work scheduled by a callback within the same advance when it falls due', async () => {
    const clock = new VirtualClock(0);
    const seen: number[] = [];
    clock.schedule(100, () => {
      seen.push(clock.now());
      clock.schedule(clock.now() + 100, () => void seen.push(clock.now()));
    });
    await clock.advanceBy(1000);
    expect(seen).toEqual([100, 200]);
  });

  it('waits for settlers before moving on', async () => {
    const clock = new VirtualClock(0);
    let pendingWork = 0;
    let resolveWork: () => void = () => undefined;
    clock.addSettler(() =>
      pendingWork === 0 ? Promise.resolve() : new Promise<void>((r) => (resolveWork = r)),
    );
    const order: string[] = [];
    clock.schedule(10, () => {
      pendingWork = 1;
      setTimeout(() => {
        order.push('work done');
        pendingWork = 0;
        resolveWork();
      }, 5);
    });
    clock.schedule(20, () => void order.push('second'));
    await clock.advanceBy(100);
    expect(order).toEqual(['work done', 'second']);
  });

  it('cancels scheduled callbacks and refuses to go backwards', async () => {
    const clock = new VirtualClock(0);
    let fired = false;
    const cancel = clock.schedule(10, () => void (fired = true));
    cancel();
    await clock.advanceBy(100);
    expect(fired).toBe(false);
    expect(() => clock.advanceBy(-1)).toThrow(RangeError);
    await clock.advanceTo(50);
    expect(clock.now()).toBe(100);
  });
});

describe('WallClock', () => {
  // Real time is faked (jest's clock drives Date.now and setTimeout), so the expectations are exact.
  beforeEach(() => jest.useFakeTimers({ now: Date.UTC(2026, 0, 1) }));
  afterEach(() => jest.useRealTimers());

  it('runs faster than real time when asked', () => {
    const fast = new WallClock(3600);
    const start = fast.now();
    expect(start).toBe(Date.UTC(2026, 0, 1));
    jest.advanceTimersByTime(5);
    expect(fast.now() - start).toBe(5 * 3600);
  });

  it('fires a timer when its clock time is reached: 1 h at speed 3600 is 1 s of real time', async () => {
    const fast = new WallClock(3600);
    const due = fast.now() + 3600_000;
    const fired: number[] = [];
    fast.schedule(due, () => void fired.push(fast.now()));
    await jest.advanceTimersByTimeAsync(999);
    expect(fired).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(fired).toEqual([due]);
  });
});
