import { CronExpressionParser } from 'cron-parser';
import type { NamespaceHealth } from '../../src/domain/health';
import { keyWatchSchedule, summarizeKeyWatch } from '../../src/domain/keyWatch';

const health = (
  namespaceId: string,
  verdict: NamespaceHealth['verdict'],
  extra: Partial<NamespaceHealth> = {},
) => ({
  namespaceId,
  verdict,
  ruleIds: verdict === 'inoperable' ? ['CMK-010'] : verdict === 'degraded' ? ['CMK-011'] : [],
  usableKeyIds: [],
  keyIds: [],
  findings: [],
  ...extra,
});

/** The gaps between the occurrences of a schedule over one day, in minutes. */
function gaps(schedule: string): number[] {
  const it = CronExpressionParser.parse(schedule, {
    currentDate: new Date('2026-01-01T00:00:00Z'),
    tz: 'UTC',
  });
  const times: number[] = [];
  for (let i = 0; i < 24 * 60 + 1; i++) {
    const t = it.next().getTime();
    if (t > Date.parse('2026-01-02T00:00:00Z')) break;
    times.push(t);
  }
  return times.slice(1).map((t, i) => (t - times[i]!) / 60_000);
}

describe('keyWatchSchedule', () => {
  it('fires exactly every N minutes when N divides 60, never more than N apart otherwise', () => {
    expect(keyWatchSchedule(5)).toBe('0 */5 * * * *');
    expect(new Set(gaps(keyWatchSchedule(5)))).toEqual(new Set([5]));
    expect(new Set(gaps(keyWatchSchedule(60)))).toEqual(new Set([60]));
    expect(new Set(gaps(keyWatchSchedule(1)))).toEqual(new Set([1]));
    // 7 does not divide 60: 0, 7, …, 56, then 0 again — a 4-minute gap, never a longer one.
    expect(new Set(gaps(keyWatchSchedule(7)))).toEqual(new Set([7, 4]));
  });

  it('refuses what is not 1..60 whole minutes', () => {
    for (const bad of [0, 61, 2.5, Number.NaN]) expect(() => keyWatchSchedule(bad)).toThrow(RangeError);
  });
});

describe('summarizeKeyWatch', () => {
  it('counts verdicts and lists every namespace needing attention, most severe first', () => {
    const s = summarizeKeyWatch(
      '2026-01-01T00:05:00.000Z',
      [
        health('/ns/b', 'degraded'),
        health('/ns/a', 'healthy'),
        health('/ns/d', 'inoperable', { inoperableWithinMinutes: 60 }),
        health('/ns/c', 'atRisk'),
        health('/ns/e', 'inoperable'),
      ],
      7,
    );
    expect(s).toEqual({
      at: '2026-01-01T00:05:00.000Z',
      namespaces: 5,
      calls: 7,
      byVerdict: { degraded: 1, healthy: 1, inoperable: 2, atRisk: 1 },
      attention: [
        { namespaceId: '/ns/d', verdict: 'inoperable', ruleIds: ['CMK-010'], inoperableWithinMinutes: 60 },
        { namespaceId: '/ns/e', verdict: 'inoperable', ruleIds: ['CMK-010'] },
        { namespaceId: '/ns/b', verdict: 'degraded', ruleIds: ['CMK-011'] },
        { namespaceId: '/ns/c', verdict: 'atRisk', ruleIds: [] },
      ],
    });
  });
});

describe('summarizeKeyWatch: an unknown verdict', () => {
  it('carries what could not be read with its fix; other verdicts carry nothing', () => {
    const finding = (ruleId: string, message: string, fix: string) => ({
      ruleId,
      severity: 'error' as const,
      blocks: true,
      title: ruleId,
      message,
      fix,
      subject: { kind: 'vault' as const, id: 'kv' },
    });
    const s = summarizeKeyWatch(
      '2026-01-01T00:05:00.000Z',
      [
        health('/ns/u', 'unknown', {
          findings: [
            finding('PRE-011', 'Key vault kv could not be read (403).', 'Give the app Reader: az role …'),
            finding('PRE-011', 'Key vault kv could not be read (403).', 'Give the app Reader: az role …'),
            finding('CMK-007', 'Key vault kv has purge protection off.', 'Turn it on.'),
          ],
        }),
        health('/ns/i', 'inoperable', {
          findings: [finding('PRE-011', 'Key vault kv2 could not be read.', 'Reader')],
        }),
      ],
      2,
    );
    expect(s.attention).toEqual([
      { namespaceId: '/ns/i', verdict: 'inoperable', ruleIds: ['CMK-010'] },
      {
        namespaceId: '/ns/u',
        verdict: 'unknown',
        ruleIds: [],
        couldNotRead: ['Key vault kv could not be read (403). Give the app Reader: az role …'],
      },
    ]);
  });
});
