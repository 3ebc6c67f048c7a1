/**
 * ISO-8601 durations as Key Vault rotation policies use them (`P90D`, `P2M`, `P1Y`, `P1Y2M10D`, and the
 * time part `PT12H`). Months and years are calendar arithmetic (P1M from 31 Jan is 28/29 Feb, clamped),
 * which is what a day count cannot express; comparisons between durations use `approxMs`.
 */
export interface Duration {
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

const PATTERN =
  /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

export function parseDuration(text: string): Duration | undefined {
  const m = PATTERN.exec(text);
  if (!m) return undefined;
  const n = (i: number): number => (m[i] === undefined ? 0 : Number(m[i]));
  return { years: n(1), months: n(2), weeks: n(3), days: n(4), hours: n(5), minutes: n(6), seconds: n(7) };
}

/** Adds (sign 1) or subtracts (sign -1) a duration from an instant, in UTC calendar terms. */
export function addDuration(at: number, d: Duration, sign: 1 | -1 = 1): number {
  const date = new Date(at);
  const totalMonths = date.getUTCMonth() + sign * (d.years * 12 + d.months);
  const year = date.getUTCFullYear() + Math.floor(totalMonths / 12);
  const month = ((totalMonths % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const base = Date.UTC(
    year,
    month,
    Math.min(date.getUTCDate(), lastDay),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    date.getUTCMilliseconds(),
  );
  const fixed =
    (d.weeks * 7 + d.days) * 86_400_000 + d.hours * 3_600_000 + d.minutes * 60_000 + d.seconds * 1000;
  return base + sign * fixed;
}

/** Nominal length (30-day months, 365-day years), for "at least N days" style validation only. */
export function approxMs(d: Duration): number {
  const days = d.years * 365 + d.months * 30 + d.weeks * 7 + d.days;
  return days * 86_400_000 + d.hours * 3_600_000 + d.minutes * 60_000 + d.seconds * 1000;
}

export const DAY_MS = 86_400_000;
