/**
 * The key watch, pure half (docs/ARCHITECTURE.md "Key watch"): its timer schedule from
 * `KEY_POLL_MINUTES`, and the summary of one cycle an operator reads in the operation's output.
 */
import { unknownBecause, type NamespaceHealth } from './health';
import type { CmkVerdict } from './preflight';

/**
 * NCRONTAB for "every N minutes" (N = 1..60). Exact when N divides 60; otherwise the schedule
 * restarts at each hour, so one gap is shorter than N — never longer, which is what "seen within
 * one cycle" needs. NCRONTAB rather than a TimeSpan: TimeSpan schedules run only on App Service plans.
 */
export function keyWatchSchedule(minutes: number): string {
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 60) {
    throw new RangeError(`KEY_POLL_MINUTES must be a whole number of minutes from 1 to 60 (got ${minutes})`);
  }
  return minutes === 60 ? '0 0 * * * *' : `0 */${minutes} * * * *`;
}

export interface KeyWatchSummary {
  /** The cycle's instant (orchestration time). */
  at: string;
  namespaces: number;
  /** Azure calls the cycle made to read the truth (core's batch reader count). */
  calls: number;
  byVerdict: Partial<Record<CmkVerdict, number>>;
  /** Every namespace not healthy, most severe first, with what decided. */
  attention: {
    namespaceId: string;
    verdict: CmkVerdict;
    ruleIds: string[];
    inoperableWithinMinutes?: number;
    /** Verdict unknown: what could not be read, with the fix (the role to grant). */
    couldNotRead?: string[];
  }[];
}

const SEVERITY: readonly CmkVerdict[] = [
  'inoperable',
  'unknown',
  'degraded',
  'atRisk',
  'notEncrypted',
  'healthy',
];

export function summarizeKeyWatch(
  at: string,
  assessed: readonly NamespaceHealth[],
  calls: number,
): KeyWatchSummary {
  const byVerdict: KeyWatchSummary['byVerdict'] = {};
  for (const h of assessed) byVerdict[h.verdict] = (byVerdict[h.verdict] ?? 0) + 1;
  const attention = assessed
    .filter((h) => h.verdict !== 'healthy')
    .sort(
      (a, b) =>
        SEVERITY.indexOf(a.verdict) - SEVERITY.indexOf(b.verdict) || (a.namespaceId < b.namespaceId ? -1 : 1),
    )
    .map((h) => {
      const unread = unknownBecause(h.findings, h.verdict);
      return {
        namespaceId: h.namespaceId,
        verdict: h.verdict,
        ruleIds: h.ruleIds,
        ...(h.inoperableWithinMinutes !== undefined
          ? { inoperableWithinMinutes: h.inoperableWithinMinutes }
          : {}),
        ...(unread.length ? { couldNotRead: unread } : {}),
      };
    });
  return { at, namespaces: assessed.length, calls, byVerdict, attention };
}
