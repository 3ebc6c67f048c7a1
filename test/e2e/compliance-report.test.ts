/**
 * The compliance report endpoints on the local host, over HTTP, with the page rendered in headless
 * Chromium: JSON, CSV and HTML agree (same namespaces, same counts), `?at=` and bad input, and the
 * page's script runs under its CSP with a hostile namespace name shown as text.
 *
 * The reports are stored through the app's own ReportStore into the storage account the host uses
 * (Azurite), built from real evaluator output (test/unit/report-fixtures.ts): a name no real Service
 * Bus accepts can only come this way. compliance-report-sweep.test.ts covers reports a sweep wrote.
 */
import { AzureClients } from '../../src/azure/clients';
import { reportStore } from '../../src/azure/reportStore';
import { loadConfig } from '../../src/config';
import type { ComplianceReport } from '../../src/domain/complianceReport';
import { REPORT_PAGE_CSP } from '../../src/functions/reportHtml';
import { startBlobStorage, type BlobStorage } from '../../sandbox/azure/storage/azurite';
import { ROOT, TEST_KEYS, startHostProcess, type HostProcess } from '../support/hostProcess';
import { NOW } from '../unit/domain-fixtures';
import { HOSTILE_NAME, reportFrom } from '../unit/report-fixtures';
import {
  WINDOW,
  expectFormatsAgree,
  attr,
  elements,
  headlessChromium,
  pageFacts,
  unescapeHtml,
  type Chromium,
} from './report-page-support';

const key = { 'x-functions-key': TEST_KEYS.function };
const CONTAINER = 'e2e-reports';

let storage: BlobStorage;
let host: HostProcess;
let chromium: Chromium;

const older = reportFrom({ now: new Date(NOW.getTime() - 86_400_000), sweepId: 'sweep-older', specs: [] });
const latest = reportFrom({ now: NOW, sweepId: 'sweep-latest' });

beforeAll(async () => {
  storage = await startBlobStorage();
  host = await startHostProcess({
    app: ROOT,
    env: { AzureWebJobsStorage: storage.connectionString, REPORTS_CONTAINER: CONTAINER },
  });
  chromium = headlessChromium();
});
afterAll(async () => {
  await host?.stop();
  await storage?.close();
  chromium?.close();
});

const pageUrl = (query = '', hash = ''): string =>
  `${host.url}/api/compliance/report.html?code=${TEST_KEYS.function}${query}${hash}`;

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
    expect((await host.fetch('/api/compliance/report.html')).status).toBe(401);
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
        loadConfig({ AzureWebJobsStorage: storage.connectionString, REPORTS_CONTAINER: CONTAINER }),
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

    const csv = await host.fetch('/api/compliance/report?format=csv', { headers: key });
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');

    const served = await host.fetch(pageUrl());
    expect(served.status).toBe(200);
    expect(served.headers.get('content-security-policy')).toBe(REPORT_PAGE_CSP);
    const dom = await chromium.dom(pageUrl());
    const page = pageFacts(dom);
    expectFormatsAgree(json.body, await csv.text(), page);
    // The figures themselves (the estate of report-fixtures.ts), so an empty report could not pass.
    expect(Object.values(page.tiles)).toEqual([7, 2, 1, 1, 1, 1, 1, 1, 1, 3, 3]);
    expect(page.trend).toEqual([older.generatedAt, latest.generatedAt]);
    // Each trend point links to its report's page, the function key carried along.
    const links = elements(dom, '<a href="report.html').map((a) => unescapeHtml(attr(a, 'href') ?? ''));
    expect(links).toEqual(
      [older, latest].map(
        (r) => `report.html?at=${encodeURIComponent(r.generatedAt)}&code=${TEST_KEYS.function}`,
      ),
    );
    const followed = pageFacts(await chromium.dom(`${host.url}/api/compliance/${links[0]}`));
    expect([followed.sweepId, followed.rows.length]).toEqual(['sweep-older', 0]);

    // The hostile name is text in the DOM Chromium built: no element came from it.
    expect(dom).not.toContain('<img');
    expect(dom.match(/<script/g)).toHaveLength(1);
    expect(dom).toContain(
      'sb-&lt;script&gt;alert("x")&lt;/script&gt;-&amp;\'"&lt;img src=x onerror=alert(1)&gt;</strong>',
    );
    expect(page.rows[0]?.name).toBe(HOSTILE_NAME.toLowerCase());
  });

  it('the page filters and sorts in Chromium (view from the URL hash)', async () => {
    const inoperable = pageFacts(await chromium.dom(pageUrl('', '#verdict=inoperable')));
    expect(inoperable.rows.filter((r) => !r.hidden).map((r) => r.id)).toEqual(
      latest.namespaces.filter((n) => n.verdict === 'inoperable').map((n) => n.id),
    );
    expect(inoperable.shown).toBe(1);

    const sorted = pageFacts(await chromium.dom(pageUrl('', '#sort=name:descending&noncompliant=1')));
    expect(sorted.rows.filter((r) => !r.hidden).map((r) => r.name)).toEqual(
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
    const page = pageFacts(await chromium.dom(pageUrl(`&at=${at}`)));
    expect([page.sweepId, page.rows.length]).toEqual(['sweep-older', 0]);
    // The trend on an older page stops at that report.
    expect(page.trend).toEqual([older.generatedAt]);
    const before = await host.fetch(`/api/compliance/report?at=2020-01-01`, { headers: key });
    expect(before.status).toBe(404);
  });

  it('a screenshot of the page: a PNG of the window size, not blank', async () => {
    const shot = await chromium.screenshot(pageUrl(), 'report.png');
    expect([shot.width, shot.height]).toEqual([WINDOW.width, WINDOW.height]);
    // A blank 1280x2000 page compresses to a few KB; tiles, table and charts do not.
    expect(shot.bytes).toBeGreaterThan(60_000);
  });
});
