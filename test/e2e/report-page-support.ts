/**
 * The report page in headless Chromium (Debian's /usr/bin/chromium; .ci/run installs it when missing)
 * and what the report e2e suites read back from it: the DOM after the page's script ran, parsed into
 * rows/tiles/rules/trend, and the CSV parsed back — so "JSON, CSV and HTML agree" is one check.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CSV_HEADER, type ComplianceReport } from '../../src/domain/complianceReport';

const run = promisify(execFile);
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const WINDOW = { width: 1280, height: 2000 };

export interface Chromium {
  /** The DOM as Chromium serialises it once the page loaded (its inline script has run). */
  dom(url: string): Promise<string>;
  /** A PNG of the window; returns its width, height and size in bytes. */
  screenshot(
    url: string,
    name: string,
  ): Promise<{ width: number; height: number; bytes: number; file: string }>;
  close(): void;
}

export function headlessChromium(): Chromium {
  const profile = mkdtempSync(path.join(tmpdir(), 'cmk-chromium-'));
  const args = (extra: string[], url: string): string[] => [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--no-proxy-server',
    '--no-first-run',
    `--user-data-dir=${profile}`,
    `--window-size=${WINDOW.width},${WINDOW.height}`,
    ...extra,
    url,
  ];
  return {
    async dom(url) {
      const { stdout } = await run(CHROMIUM, args(['--dump-dom'], url), {
        timeout: 30_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    },
    async screenshot(url, name) {
      const file = path.join(profile, name);
      await run(CHROMIUM, args([`--screenshot=${file}`], url), { timeout: 30_000 });
      const png = readFileSync(file);
      if (png.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error(`${file} is not a PNG`);
      // IHDR: width and height, big-endian, at bytes 16..23.
      return { width: png.readUInt32BE(16), height: png.readUInt32BE(20), bytes: statSync(file).size, file };
    },
    close: () => rmSync(profile, { recursive: true, force: true }),
  };
}

/** The opening tags that start with `open`, as serialised. */
export function elements(dom: string, open: string): string[] {
  return [...dom.matchAll(new RegExp(`${open}[^>]*>`, 'g'))].map((m) => m[0]);
}
export const attr = (tag: string, name: string): string | undefined =>
  new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
export const unescapeHtml = (s: string): string =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

export interface PageFacts {
  /** The inline script ran (so the CSP let it). */
  scriptRan: boolean;
  shown: number;
  rows: { id: string; name: string; verdict: string; findings: number; compliant: string; hidden: boolean }[];
  tiles: Record<string, number>;
  rules: [string, number][];
  trend: string[];
  sweepId: string;
}

export function pageFacts(dom: string): PageFacts {
  const table = elements(dom, '<table id="ns"')[0] ?? '';
  return {
    scriptRan: attr(table, 'data-script') === 'ready',
    shown: Number(attr(elements(dom, '<span id="shown"')[0] ?? '', 'data-shown')),
    rows: elements(dom, '<tr data-ns-id=').map((r) => ({
      id: unescapeHtml(attr(r, 'data-ns-id') ?? ''),
      name: unescapeHtml(attr(r, 'data-name') ?? ''),
      verdict: attr(r, 'data-verdict') ?? '',
      findings: Number(attr(r, 'data-findings')),
      compliant: attr(r, 'data-compliant') ?? '',
      hidden: /\shidden(=""|\s|>)/.test(r),
    })),
    tiles: Object.fromEntries(
      [...dom.matchAll(/data-tile="([^"]+)"><span class="n" data-count="(\d+)"/g)].map(
        (m): [string, number] => [m[1] ?? '', Number(m[2])],
      ),
    ),
    rules: elements(dom, '<tr data-rule=').map((r): [string, number] => [
      attr(r, 'data-rule') ?? '',
      Number(attr(r, 'data-findings')),
    ]),
    trend: elements(dom, '<g data-trend-at=').map((g) => attr(g, 'data-trend-at') ?? ''),
    sweepId: unescapeHtml(attr(elements(dom, '<p class="meta" id="sweep"')[0] ?? '', 'data-sweep-id') ?? ''),
  };
}

/** RFC 4180 (quoted cells, doubled quotes, CRLF rows) — enough to read the app's CSV back. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  return rows;
}

/**
 * JSON, CSV and page agree: the same namespaces in the same order with the same verdicts and finding
 * counts, one CSV row per finding (or per clean namespace) plus the could-not-assess rows, severity
 * counts equal to the summary, tiles and rule table equal to the summary.
 */
export function expectFormatsAgree(report: ComplianceReport, csvText: string, page: PageFacts): void {
  const [header, ...body] = parseCsv(csvText);
  expect(header).toEqual([...CSV_HEADER]);
  const col = (name: (typeof CSV_HEADER)[number]): number => CSV_HEADER.indexOf(name);
  expect(body).toHaveLength(
    report.namespaces.reduce((n, x) => n + Math.max(1, x.findings.length), 0) + report.couldNotAssess.length,
  );
  for (const n of report.namespaces) {
    const rows = body.filter((r) => r[col('namespaceId')] === n.id);
    expect([n.id, rows.map((r) => [r[col('name')], r[col('verdict')], r[col('ruleId')]])]).toEqual([
      n.id,
      n.findings.length === 0
        ? [[n.name, n.verdict, '']]
        : n.findings.map((f) => [n.name, n.verdict, f.ruleId]),
    ]);
  }
  const bySeverity = (sev: string): number => body.filter((r) => r[col('severity')] === sev).length;
  expect([bySeverity('critical'), bySeverity('error'), bySeverity('warning')]).toEqual([
    report.summary.bySeverity.critical,
    report.summary.bySeverity.error,
    report.summary.bySeverity.warning,
  ]);
  expect(body.filter((r) => r[col('verdict')] === 'couldNotAssess').map((r) => r[0])).toEqual(
    report.couldNotAssess.map((c) => c.id),
  );

  expect(page.scriptRan).toBe(true);
  expect(page.shown).toBe(report.namespaces.length);
  expect(page.rows.map((r) => [r.id, r.verdict, r.findings, r.compliant])).toEqual(
    report.namespaces.map((n) => [n.id, n.verdict, n.findings.length, String(n.compliant)]),
  );
  const s = report.summary;
  expect(page.tiles).toEqual({
    namespaces: s.namespaces,
    compliant: s.compliant,
    inoperable: s.byVerdict.inoperable,
    degraded: s.byVerdict.degraded,
    atRisk: s.byVerdict.atRisk,
    unknown: s.byVerdict.unknown,
    notEncrypted: s.byVerdict.notEncrypted,
    couldNotAssess: s.couldNotAssess,
    'sev-critical': s.bySeverity.critical,
    'sev-error': s.bySeverity.error,
    'sev-warning': s.bySeverity.warning,
  });
  expect(page.rules).toEqual(s.byRule.map((r) => [r.ruleId, r.findings]));
  expect(page.sweepId).toBe(report.sweep.sweepId);
}
