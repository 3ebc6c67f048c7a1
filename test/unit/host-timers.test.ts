import { VirtualClock } from '../../sandbox/clock';
import {
  ScheduleError,
  TimerScheduler,
  parseSchedule,
  resolveSetting,
  type TimerInfo,
} from '../../sandbox/host/timers';

const t = (iso: string) => Date.parse(iso);

describe('parseSchedule', () => {
  it('reads 6-field NCRONTAB with seconds first, in UTC', () => {
    const every5 = parseSchedule('0 */5 * * * *');
    expect(new Date(every5.next(t('2026-01-01T00:02:00Z'))).toISOString()).toBe('2026-01-01T00:05:00.000Z');
    const weekdays9 = parseSchedule('30 0 9 * * 1-5');
    expect(new Date(weekdays9.next(t('2026-01-02T10:00:00Z'))).toISOString()).toBe(
      '2026-01-05T09:00:30.000Z',
    ); // Fri → Mon
  });

  it('reads TimeSpan schedules', () => {
    expect(parseSchedule('00:10:00').next(1000)).toBe(1000 + 600_000);
    expect(parseSchedule('1.00:00:00').next(0)).toBe(86_400_000);
  });

  it('refuses 5-field cron and garbage with a message that says what is expected', () => {
    expect(() => parseSchedule('*/5 * * * *')).toThrow(/needs 6 fields/);
    expect(() => parseSchedule('a b c d e f')).toThrow(ScheduleError);
  });

  it('resolves %SETTING% names and reports a missing one', () => {
    expect(resolveSetting('%SWEEP_SCHEDULE%', { SWEEP_SCHEDULE: '0 0 * * * *' })).toBe('0 0 * * * *');
    expect(resolveSetting('0 0 * * * *', {})).toBe('0 0 * * * *');
    expect(() => resolveSetting('%NOPE%', {})).toThrow(/app setting 'NOPE', which is not set/);
  });
});

describe('TimerScheduler on a virtual clock', () => {
  it('fires at each occurrence with schedule status, and runOnStartup runs once at start', async () => {
    const clock = new VirtualClock(t('2026-01-01T00:00:00Z'));
    const scheduler = new TimerScheduler(clock);
    const calls: TimerInfo[] = [];
    const { next } = scheduler.start({
      functionName: 'sweep',
      schedule: parseSchedule('0 0 * * * *'),
      runOnStartup: true,
      invoke: async (info) => {
        calls.push(info);
      },
    });
    expect(new Date(next).toISOString()).toBe('2026-01-01T01:00:00.000Z');
    await clock.settle();
    expect(calls).toHaveLength(1);
    await clock.advanceBy(3 * 3600_000);
    expect(calls).toHaveLength(4);
    expect(calls[1]!.ScheduleStatus.Next).toBe('2026-01-01T02:00:00.000Z');
    expect(calls.every((c) => c.IsPastDue === false)).toBe(true);
    scheduler.stop();
    await clock.advanceBy(3600_000);
    expect(calls).toHaveLength(4);
  });

  it('never overlaps a slow run: the next occurrence waits and is marked past due', async () => {
    // The first run waits for a later clock time; the clock stops waiting for it after 20 ms (real).
    const clock = new VirtualClock(t('2026-01-01T00:00:00Z'), { settleTimeoutMs: 20 });
    const scheduler = new TimerScheduler(clock);
    const calls: TimerInfo[] = [];
    let release: () => void = () => undefined;
    scheduler.start({
      functionName: 'slow',
      schedule: parseSchedule('0 * * * * *'),
      runOnStartup: false,
      invoke: async (info) => {
        calls.push(info);
        if (calls.length === 1) {
          // The first run takes "two minutes" of clock time.
          await new Promise<void>((resolve) => {
            release = resolve;
            clock.schedule(clock.now() + 120_000, () => release());
          });
        }
      },
    });
    await clock.advanceBy(60_000);
    expect(calls).toHaveLength(1);
    // 00:02 falls due while the first run is still going; it runs once the first ends (00:03), past due.
    await clock.advanceBy(120_000);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.IsPastDue).toBe(true);
    expect(calls[1]!.ScheduleStatus.LastUpdated).toBe('2026-01-01T00:03:00.000Z');
  });
});
