/**
 * The compliance report endpoints on the local host, over HTTP, with the page rendered in headless
 * Chromium: JSON, CSV and HTML agree (same namespaces, same counts), `?at=` and bad input, and the
 * page's script runs under its CSP with a hostile namespace name shown as text.
 *
 * The reports are stored through the app's own ReportStore into the storage account the host uses
 * (Azurite), built from real evaluator output (test/unit/report-fixtures.ts) — the sweep e2e covers a
 * report the sweep itself wrote.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AzureClients } from '../../src/azure/clients';
import { reportStore } from '../../src/azure/reportStore';
import { loadConfig } from '../../src/config';
import { CSV_HEADER, type ComplianceReport } from '../../src/domain/complianceReport';
import { REPORT_PAGE_CSP } from '../../src/functions/reportHtml';
import { startBlobStorage, type BlobStorage } from '../../sandbox/azure/storage/azurite';
import { ROOT, TEST_KEYS, startHostProcess, type HostProcess } from '../support/hostProcess';
import { NOW } from '../unit/domain-fixtures';
import { HOSTILE_NAME, reportFrom } from '../unit/report-fixtures';

const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const key = { 'x-functions-key': TEST_KEYS.function };

let storage: BlobStorage;
let host: HostProcess;
let profile: string;

const older = reportFrom({ now: new Date(NOW.getTime() - 86_400_000), sweepId: 'sweep-older', specs: [] });
const latest = reportFrom({ now: NOW, sweepId: 'sweep-latest' });

beforeAll(async () => {
  storage = await startBlobStorage();
  host = await startHostProcess({
    app: ROOT,
    env: { AzureWebJobsStorage: storage.connectionString, REPORTS_CONTAINER: 'e2e-reports' },
  });
  profile = mkdtempSync(path.join(tmpdir(), 'cmk-chromium-'));
});
afterAll(async () => {
  await host?.stop();
  await storage?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Headless Chromium on a page of the host: the DOM after its scripts ran, and optionally a screenshot. */
async function chromium(url: string, screenshot?: string): Promise<string> {
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--no-proxy-server',
    '--no-first-run',
    `--user-data-dir=${profile}`,
    '--window-size=1280,2000',
    ...(screenshot ? [`--screenshot=${screenshot}`] : ['--dump-dom']),
    url,
  ];
  const { stdout } = await run(CHROMIUM, args, { timeout: 30_000, maxBuffer: 32 * 1024 * 1024 });
  return stdout;
}

const pageUrl = (query = '', hash = ''): string =>
  `${host.url}/api/compliance/report.html?code=${TEST_KEYS.function}${query}${hash}`;

/** `data-x="v"` attributes of every element whose tag starts with `open` (DOM as Chromium serialised it). */
function elements(dom: string, open: string): string[] {
  return [...dom.matchAll(new RegExp(`${open}[^>]*>`, 'g'))].map((m) => m[0]);
}
const attr = (tag: string, name: string): string | undefined =>
  new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
/** RFC 4180 (quoted cells, doubled quotes, CRLF rows) — enough to read the app's CSV back. */
function parseCsv(text: string): string[][] {
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
const unescape = (s: string): string =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

describe('GET /api/compliance/report and report.html', () => {
  it('before any sweep: 404 problem+json for JSON, CSV and page; a function key is required', async () => {
    for (const p of [
      '/api/compliance/report',
      '/api/compliance/report?format=csv',
      '/api/compliance/report.html',
    ]) {
      const response = await host.fetch(p, { headers: key });
      expect([p, response.status, response.headers.get('content-type')]).toEqual([
        p,
        404,
        'application/problem+json',
      ]);
      expect(await response.json()).toMatchObject({ status: 404, title: 'No compliance report' });
    }
    expect((await host.fetch('/api/compliance/report')).status).toBe(401);
  });

  it('bad at / format: 400 problem+json naming the parameter', async () => {
    for (const [query, title] of [
      ['at=yesterday', 'Invalid at'],
      ['at=2026-06-01T00:00:00', 'Invalid at'],
      ['format=xml', 'Invalid format'],
    ] as const) {
      const response = await host.json<{ title: string }>(`/api/compliance/report?${query}`, {
        headers: key,
      });
      expect([query, response.status, response.body.title]).toEqual([query, 400, title]);
    }
    const page = await host.fetch('/api/compliance/report.html?at=soon', { headers: key });
    expect(page.status).toBe(400);
  });

  it('JSON, CSV and the page rendered in Chromium agree: same namespaces, same counts', async () => {
    const store = reportStore(
      new AzureClients(
        loadConfig({ AzureWebJobsStorage: storage.connectionString, REPORTS_CONTAINER: 'e2e-reports' }),
        {
          getToken: () => Promise.reject(new Error('no token expected')),
        },
      ),
    );
    await store.save(older);
    await store.save(latest);

    const json = await host.json<ComplianceReport>('/api/compliance/report', { headers: key });
    expect(json.status).toBe(200);
    expect(json.body).toEqual(latest);
    const ids = latest.namespaces.map((n) => n.id);

    // CSV: the same namespaces; one row per finding (or per clean namespace) + could-not-assess rows.
    const csvResponse = await host.fetch('/api/compliance/report?format=csv', { headers: key });
    expect(csvResponse.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const csvText = await csvResponse.text();
    const [header, ...body] = parseCsv(csvText);
    expect(header).toEqual([...CSV_HEADER]);
    const col = (name: (typeof CSV_HEADER)[number]): number => CSV_HEADER.indexOf(name);
    const expectedRows = latest.namespaces.reduce((n, x) => n + Math.max(1, x.findings.length), 0) + 1;
    expect(body).toHaveLength(expectedRows);
    for (const n of latest.namespaces) {
      const rows = body.filter((r) => r[col('namespaceId')] === n.id);
      expect([n.name, rows.map((r) => [r[col('name')], r[col('verdict')], r[col('ruleId')]])]).toEqual([
        n.name,
        n.findings.length === 0
          ? [[n.name, n.verdict, '']]
          : n.findings.map((f) => [n.name, n.verdict, f.ruleId]),
      ]);
    }
    const bySeverity = (sev: string): number => body.filter((r) => r[col('severity')] === sev).length;
    expect([bySeverity('critical'), bySeverity('error'), bySeverity('warning')]).toEqual([
      json.body.summary.bySeverity.critical,
      json.body.summary.bySeverity.error,
      json.body.summary.bySeverity.warning,
    ]);
    expect(body.filter((r) => r[col('verdict')] === 'couldNotAssess').map((r) => r[0])).toEqual(
      json.body.couldNotAssess.map((c) => c.id),
    );

    // The page, as served: its CSP, then as Chromium runs it.
    const page = await host.fetch(pageUrl());
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(REPORT_PAGE_CSP);
    const dom = await chromium(pageUrl());
    const table = elements(dom, '<table id="ns"')[0] ?? '';
    // The inline script ran (so the CSP hashes match what was served) and counted every row shown.
    expect(attr(table, 'data-script')).toBe('ready');
    expect(attr(elements(dom, '<span id="shown"')[0] ?? '', 'data-shown')).toBe(String(ids.length));
    const rows = elements(dom, '<tr data-ns-id=');
    expect(rows.map((r) => unescape(attr(r, 'data-ns-id') ?? ''))).toEqual(ids);
    expect(rows.map((r) => [attr(r, 'data-verdict'), attr(r, 'data-findings')])).toEqual(
      latest.namespaces.map((n) => [n.verdict, String(n.findings.length)]),
    );
    const tiles: Record<string, number> = Object.fromEntries(
      [...dom.matchAll(/data-tile="([^"]+)"><span class="n" data-count="(\d+)"/g)].map(
        (m): [string, number] => [m[1] ?? '', Number(m[2])],
      ),
    );
    const s = json.body.summary;
    expect(tiles).toEqual({
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
    expect(Object.values(tiles)).toEqual([7, 2, 1, 1, 1, 1, 1, 1, 1, 3, 3]);
    // Rule table = summary.byRule; trend = both stored reports.
    expect(
      elements(dom, '<tr data-rule=').map((r) => [attr(r, 'data-rule'), Number(attr(r, 'data-findings'))]),
    ).toEqual(s.byRule.map((r) => [r.ruleId, r.findings]));
    expect(elements(dom, '<g data-trend-at=').map((g) => attr(g, 'data-trend-at'))).toEqual([
      older.generatedAt,
      latest.generatedAt,
    ]);
    // The hostile name is text in the DOM Chromium built: no element came from it.
    expect(dom).not.toContain('<img');
    expect(dom.match(/<script/g)).toHaveLength(1);
    expect(dom).toContain(
      'sb-&lt;script&gt;alert("x")&lt;/script&gt;-&amp;\'"&lt;img src=x onerror=alert(1)&gt;</strong>',
    );
    expect(unescape(attr(rows[0] ?? '', 'data-name') ?? '')).toBe(HOSTILE_NAME.toLowerCase());
  });

  it('the page filters and sorts in Chromium (view from the URL hash)', async () => {
    const inoperable = await chromium(pageUrl('', '#verdict=inoperable'));
    const visible = elements(inoperable, '<tr data-ns-id=').filter((r) => !/\shidden(=""|\s|>)/.test(r));
    expect(visible.map((r) => unescape(attr(r, 'data-ns-id') ?? ''))).toEqual(
      latest.namespaces.filter((n) => n.verdict === 'inoperable').map((n) => n.id),
    );
    expect(attr(elements(inoperable, '<span id="shown"')[0] ?? '', 'data-shown')).toBe('1');

    const sorted = await chromium(pageUrl('', '#sort=name:descending&noncompliant=1'));
    const shown = elements(sorted, '<tr data-ns-id=').filter((r) => !/\shidden(=""|\s|>)/.test(r));
    expect(shown.map((r) => unescape(attr(r, 'data-name') ?? ''))).toEqual(
      latest.namespaces
        .filter((n) => !n.compliant)
        .map((n) => n.name.toLowerCase())
        .sort()
        .reverse(),
    );
  });

  it('?at= an earlier instant: the older report in JSON and on the page; before the first: 404', async () => {
    const at = encodeURIComponent(new Date(Date.parse(latest.generatedAt) - 1).toISOString());
    const json = await host.json<ComplianceReport>(`/api/compliance/report?at=${at}`, { headers: key });
    expect([json.status, json.body.sweep.sweepId, json.body.summary.namespaces]).toEqual([
      200,
      'sweep-older',
      0,
    ]);
    const dom = await chromium(pageUrl(`&at=${at}`));
    expect(attr(elements(dom, '<p class="meta" id="sweep"')[0] ?? '', 'data-sweep-id')).toBe('sweep-older');
    expect(elements(dom, '<tr data-ns-id=')).toHaveLength(0);
    // The trend on an older page stops at that report.
    expect(elements(dom, '<g data-trend-at=').map((g) => attr(g, 'data-trend-at'))).toEqual([
      older.generatedAt,
    ]);
    const before = await host.fetch(`/api/compliance/report?at=2020-01-01`, { headers: key });
    expect(before.status).toBe(404);
  });

  it('a screenshot of the page: a PNG of the window size, not blank', async () => {
    const file = path.join(profile, 'report.png');
    await chromium(pageUrl(), file);
    const png = readFileSync(file);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    // IHDR: width and height, big-endian, at bytes 16..23.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 2000]);
    // A blank 1280x2000 page compresses to a few KB; tiles, table and charts do not.
    expect(statSync(file).size).toBeGreaterThan(60_000);
  });
});
