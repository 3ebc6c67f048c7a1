import {
  CSV_HEADER,
  complianceTrend,
  keyExpiryTimeline,
  parseReportInstant,
  reportCsvRows,
  toCsv,
} from '../../src/domain/complianceReport';
import { NOW, SUB } from './domain-fixtures';
import { HOSTILE_NAME, SUB2, SUB_FORBIDDEN, reportFrom } from './report-fixtures';

describe('compliance report (from real evaluator output)', () => {
  const report = reportFrom();
  const byName = new Map(report.namespaces.map((n) => [n.name, n]));

  it('each namespace gets the verdict and findings the evaluator gave it', () => {
    expect(
      report.namespaces.map((n) => [n.name, n.verdict, n.compliant, n.findings.map((f) => f.ruleId)]),
    ).toEqual([
      [HOSTILE_NAME, 'healthy', true, []],
      ['sb-expired', 'inoperable', false, ['CMK-010', 'CMK-004']],
      ['sb-healthy', 'healthy', true, []],
      ['sb-plain', 'notEncrypted', false, ['CMK-001']],
      ['sb-degraded', 'degraded', false, ['CMK-011', 'CMK-003']],
      ['sb-firewalled', 'unknown', false, ['PRE-011']],
      ['sb-soon', 'atRisk', false, ['CMK-005']],
    ]);
    expect(byName.get('sb-expired')?.keys).toEqual([
      {
        keyId: 'https://kv-prod.vault.azure.net/keys/cmk-old',
        keyName: 'cmk-old',
        vaultName: 'kv-prod',
        pinned: false,
        status: 'expired',
        usable: false,
        expiresOn: '2026-05-01T00:00:00.000Z',
        daysToExpiry: -31,
      },
    ]);
    expect(byName.get('sb-firewalled')?.keys.map((k) => [k.status, k.usable])).toEqual([['unknown', false]]);
    expect(byName.get('sb-degraded')?.verdictRuleIds).toEqual(['CMK-011']);
  });

  it('summary: by verdict, severity and rule, subscriptions and distinct keys', () => {
    const s = report.summary;
    expect([s.namespaces, s.compliant, s.nonCompliant, s.couldNotAssess]).toEqual([7, 2, 5, 1]);
    expect(s.byVerdict).toEqual({
      inoperable: 1,
      degraded: 1,
      atRisk: 1,
      unknown: 1,
      notEncrypted: 1,
      healthy: 2,
    });
    expect(s.bySeverity).toEqual({ critical: 1, error: 3, warning: 3 });
    expect(s.byRule.map((r) => [r.ruleId, r.severity, r.findings, r.namespaces])).toEqual([
      ['CMK-001', 'warning', 1, 1],
      ['CMK-003', 'error', 1, 1],
      ['CMK-004', 'error', 1, 1],
      ['CMK-005', 'warning', 1, 1],
      ['CMK-010', 'critical', 1, 1],
      ['CMK-011', 'warning', 1, 1],
      ['PRE-011', 'error', 1, 1],
    ]);
    expect(s.subscriptions).toEqual({ inScope: 3, assessed: 2, skipped: 1 });
    // kv-prod/cmk-1 is shared by three namespaces: counted once.
    expect(s.keys).toEqual({ distinct: 5, expired: 1, expiringWithinWarning: 1, unreadable: 1 });
    expect(report.sweep.subscriptions.map((x) => [x.subscriptionId, x.status, x.namespaces])).toEqual([
      [SUB, 'assessed', 4],
      [SUB2, 'assessed', 3],
      [SUB_FORBIDDEN, 'skipped', 0],
    ]);
  });

  it('a rule firing once per key counts findings and namespaces apart', () => {
    const r = reportFrom({
      withForbidden: false,
      specs: [
        {
          name: 'sb-two-pinned',
          keys: [
            { vault: 'kv-prod', key: 'a', version: '0123456789abcdef0123456789abcdef', facts: undefined },
            { vault: 'kv-prod', key: 'b', version: '0123456789abcdef0123456789abcdee', facts: undefined },
          ],
        },
      ],
    });
    const pinned = r.summary.byRule.find((x) => x.ruleId === 'CMK-006');
    expect([pinned?.findings, pinned?.namespaces]).toEqual([2, 1]);
  });

  it('CSV: one row per finding (or per clean namespace), could-not-assess rows last, same counts as JSON', () => {
    const rows = reportCsvRows(report);
    expect(rows[0]).toEqual([...CSV_HEADER]);
    const body = rows.slice(1);
    const findings = report.namespaces.reduce((n, x) => n + Math.max(1, x.findings.length), 0);
    expect(body).toHaveLength(findings + 1);
    expect(new Set(body.filter((r) => r[5] !== 'couldNotAssess').map((r) => r[0]))).toEqual(
      new Set(report.namespaces.map((n) => n.id)),
    );
    expect(body.at(-1)?.slice(0, 3)).toEqual([SUB_FORBIDDEN, '', SUB_FORBIDDEN]);
    const critical = body.filter((r) => r[8] === 'critical').map((r) => [r[1], r[7]]);
    expect(critical).toEqual([['sb-expired', 'CMK-010']]);
  });

  it('CSV text: quotes, and no cell a spreadsheet would run as a formula', () => {
    expect(toCsv([['a,b', 'say "hi"', '=HYPERLINK("x")', '-1+2', 'line\nbreak', 'plain']])).toBe(
      '"a,b","say ""hi""","\'=HYPERLINK(""x"")",\'-1+2,"line\nbreak",plain\r\n',
    );
  });

  it('key-expiry timeline: each distinct key once with its namespaces, soonest first, no expiry last', () => {
    const timeline = keyExpiryTimeline(report);
    expect(timeline.map((p) => [p.keyName, p.status, p.daysToExpiry, p.namespaceIds.length])).toEqual([
      ['cmk-old', 'expired', -31, 1],
      ['cmk-soon', 'expiringSoon', 10, 1],
      // Same expiry: by key id (kv-dr before kv-prod).
      ['cmk-2', 'disabled', 365, 1],
      ['cmk-1', 'healthy', 365, 3],
      ['cmk-x', 'unknown', undefined, 1],
    ]);
  });

  it('trend: oldest first, ratio of compliant namespaces', () => {
    const later = reportFrom({ now: new Date(NOW.getTime() + 86_400_000), specs: [] });
    const trend = complianceTrend([later, report]);
    expect(trend.map((t) => [t.generatedAt, t.namespaces, t.compliant, t.ratio])).toEqual([
      [report.generatedAt, 7, 2, 2 / 7],
      [later.generatedAt, 0, 0, 0],
    ]);
  });

  it('?at= instants: ISO with a zone or a date; anything else refused', () => {
    expect(parseReportInstant('2026-06-01T00:00:42Z')?.toISOString()).toBe('2026-06-01T00:00:42.000Z');
    expect(parseReportInstant('2026-06-01')?.toISOString()).toBe('2026-06-01T00:00:00.000Z');
    expect(parseReportInstant('2026-06-01T02:00:00+02:00')?.toISOString()).toBe('2026-06-01T00:00:00.000Z');
    for (const bad of ['yesterday', '2026-06-01T00:00:00', '2026-13-45T00:00:00Z', '1717200000', '']) {
      expect([bad, parseReportInstant(bad)]).toEqual([bad, undefined]);
    }
  });
});
