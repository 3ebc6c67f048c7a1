import { createHash } from 'node:crypto';
import { complianceTrend } from '../../src/domain/complianceReport';
import { REPORT_PAGE_CSP, esc, renderReportHtml } from '../../src/functions/reportHtml';
import { NOW } from './domain-fixtures';
import { HOSTILE_NAME, reportFrom } from './report-fixtures';

const links = { json: 'report?at=x', csv: 'report?at=x&format=csv' };
const sha = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
const between = (html: string, open: string, close: string): string[] => {
  const out: string[] = [];
  let i = html.indexOf(open);
  while (i >= 0) {
    const start = i + open.length;
    const end = html.indexOf(close, start);
    out.push(html.slice(start, end));
    i = html.indexOf(open, end);
  }
  return out;
};

describe('the report page (pure renderer)', () => {
  const report = reportFrom();
  const older = reportFrom({ now: new Date(NOW.getTime() - 86_400_000), specs: [], sweepId: 'older' });
  const html = renderReportHtml(report, complianceTrend([older, report]), links);

  it('one row per namespace, with its verdict, compliance and finding count as data', () => {
    const rows = between(html, '<tr data-ns-id="', '"');
    expect(rows).toEqual(report.namespaces.map((n) => esc(n.id)));
    for (const n of report.namespaces) {
      const row = html.slice(html.indexOf(`<tr data-ns-id="${esc(n.id)}"`));
      expect(row.slice(0, 2000)).toContain(`data-verdict="${n.verdict}" data-verdict-rank=`);
      expect(row).toMatch(
        new RegExp(`^[^>]*data-compliant="${n.compliant}" data-findings="${n.findings.length}"`),
      );
    }
    expect(html).toContain(`<table id="ns" data-rows="7">`);
  });

  it('tiles carry the summary counts', () => {
    const tiles: Record<string, number> = Object.fromEntries(
      [...html.matchAll(/data-tile="([^"]+)"><span class="n" data-count="(\d+)"/g)].map(
        (m): [string, number] => [m[1] ?? '', Number(m[2])],
      ),
    );
    expect(tiles).toEqual({
      namespaces: 7,
      compliant: 2,
      inoperable: 1,
      degraded: 1,
      atRisk: 1,
      unknown: 1,
      notEncrypted: 1,
      couldNotAssess: 1,
      'sev-critical': 1,
      'sev-error': 3,
      'sev-warning': 3,
    });
  });

  it('a hostile name from Azure is text, never markup', () => {
    expect(html).not.toContain(HOSTILE_NAME);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<script>alert');
    expect(html).toContain(
      'sb-&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;-&amp;&#39;&quot;&lt;img src=x onerror=alert(1)&gt;',
    );
    // The only script element is the page's own.
    expect(html.match(/<script/g)).toHaveLength(1);
    // No tag has an event-handler attribute (attribute values, quoted, may hold the text).
    const tags = [...html.matchAll(/<[a-z][^>]*>/gi)].map((m) => m[0].replace(/"[^"]*"/g, '""'));
    expect(tags.filter((t) => /\son[a-z]+\s*=/i.test(t))).toEqual([]);
    expect(tags.length).toBeGreaterThan(100);
  });

  it('the CSP allows exactly the inline style and script, by hash; no external asset', () => {
    const [style] = between(html, '<style>', '</style>');
    const [script] = between(html, '<script>', '</script>');
    expect(REPORT_PAGE_CSP).toBe(
      `default-src 'none'; style-src ${sha(style!)}; script-src ${sha(script!)}; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/ style="/);
  });

  it('timeline: each distinct key once; trend: one point per stored report', () => {
    expect(html).toContain('<svg id="timeline"');
    expect(between(html, '<g data-key-id="', '"')).toEqual([
      'https://kv-prod.vault.azure.net/keys/cmk-old',
      'https://kv-dr.vault.azure.net/keys/cmk-soon',
      'https://kv-dr.vault.azure.net/keys/cmk-2',
      'https://kv-prod.vault.azure.net/keys/cmk-1',
      'https://kv-locked.vault.azure.net/keys/cmk-x',
    ]);
    expect(between(html, '<g data-trend-at="', '"')).toEqual([older.generatedAt, report.generatedAt]);
    expect(html).toContain(`data-trend-at="${report.generatedAt}" data-compliant="2" data-namespaces="7"`);
  });

  it('an empty report still renders (no namespaces, no history)', () => {
    const empty = renderReportHtml(reportFrom({ specs: [], withForbidden: false }), [], links);
    expect(empty).toContain('<table id="ns" data-rows="0">');
    expect(empty).toContain('No customer-managed keys in this report.');
    expect(empty).toContain('No history yet.');
  });
});
