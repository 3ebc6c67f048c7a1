/**
 * Timer triggers: NCRONTAB (6 fields, seconds first) or TimeSpan ("hh:mm:ss") schedules, `%SETTING%`
 * names resolved from the app settings, `runOnStartup`, and `isPastDue` — all on the host's clock, so
 * a virtual clock fast-forwards schedules deterministically. Like the Functions host, a timer function
 * never overlaps itself: an occurrence that falls due while the previous run is still going waits for
 * it and then runs once, marked past due.
 */
import { CronExpressionParser } from 'cron-parser';
import type { Cancel, Clock } from '../clock';

export interface Schedule {
  /** The next occurrence strictly after `after`. */
  next(after: number): number;
  readonly description: string;
}

export class ScheduleError extends Error {}

/** Resolves `%NAME%` to the setting's value, as the Functions host does for binding expressions. */
export function resolveSetting(value: string, settings: NodeJS.ProcessEnv): string {
  const match = /^%([^%]+)%$/.exec(value.trim());
  if (!match) return value;
  const resolved = settings[match[1]!];
  if (resolved === undefined || resolved.trim() === '') {
    throw new ScheduleError(`The schedule refers to the app setting '${match[1]}', which is not set.`);
  }
  return resolved;
}

export function parseSchedule(expression: string): Schedule {
  const text = expression.trim();
  const timeSpan = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(text);
  if (timeSpan) {
    const [, days, h, m, s] = timeSpan;
    const period = (((Number(days ?? 0) * 24 + Number(h)) * 60 + Number(m)) * 60 + Number(s)) * 1000;
    if (period <= 0) throw new ScheduleError(`The schedule '${text}' must be a positive interval.`);
    return { description: `every ${text}`, next: (after) => after + period };
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 6) {
    throw new ScheduleError(
      `The schedule '${text}' is not a valid NCRONTAB expression: it needs 6 fields ({second} {minute} {hour} {day} {month} {day-of-week}), got ${fields.length}.`,
    );
  }
  try {
    CronExpressionParser.parse(text, { tz: 'UTC' });
  } catch (error) {
    throw new ScheduleError(
      `The schedule '${text}' is not a valid NCRONTAB expression: ${(error as Error).message}`,
    );
  }
  return {
    description: text,
    next: (after) =>
      CronExpressionParser.parse(text, { currentDate: new Date(after), tz: 'UTC' })
        .next()
        .getTime(),
  };
}

/** The timer binding data the host sends (PascalCase; the library camel-cases it). */
export interface TimerInfo {
  Schedule: { AdjustForDST: boolean };
  ScheduleStatus: { Last: string; Next: string; LastUpdated: string };
  IsPastDue: boolean;
}

export interface TimerRegistration {
  functionName: string;
  schedule: Schedule;
  runOnStartup: boolean;
  invoke: (timer: TimerInfo) => Promise<void>;
}

/** Tolerance before an occurrence counts as past due (the wall clock's timers are never exact). */
const PAST_DUE_MS = 1000;

export class TimerScheduler {
  private readonly cancels: Cancel[] = [];
  private stopped = false;

  constructor(private readonly clock: Clock) {}

  start(timer: TimerRegistration): { next: number } {
    let last = this.clock.now();
    let running: Promise<void> | undefined;
    let lastStartedAt = -Infinity;
    const fire = async (scheduledAt: number, pastDueFloor = false): Promise<void> => {
      if (this.stopped) return;
      while (running) await running; // never overlap a previous run
      const now = this.clock.now();
      // A delayed run that started at or after this occurrence already covered it (coalesce).
      if (lastStartedAt >= scheduledAt) return;
      lastStartedAt = now;
      const next = timer.schedule.next(Math.max(now, scheduledAt));
      const info: TimerInfo = {
        Schedule: { AdjustForDST: true },
        ScheduleStatus: {
          Last: new Date(last).toISOString(),
          Next: new Date(next).toISOString(),
          LastUpdated: new Date(now).toISOString(),
        },
        IsPastDue: pastDueFloor || now - scheduledAt > PAST_DUE_MS,
      };
      last = now;
      running = timer.invoke(info).catch(() => undefined);
      await running;
      running = undefined;
    };
    const arm = (after: number): number => {
      const at = timer.schedule.next(after);
      this.cancels.push(
        this.clock.schedule(
          at,
          async () => {
            const run = fire(at);
            // Re-arm from the occurrence (not from now) so a slow run does not shift the schedule.
            arm(Math.max(at, this.clock.now() - 1));
            await run;
          },
          `timer ${timer.functionName}`,
        ),
      );
      return at;
    };
    if (timer.runOnStartup) void fire(this.clock.now());
    return { next: arm(this.clock.now()) };
  }

  stop(): void {
    this.stopped = true;
    for (const cancel of this.cancels.splice(0)) cancel();
  }
}
