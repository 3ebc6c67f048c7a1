/**
 * Reports a real sweep wrote, on `npm start`'s composition (emulated Azure with the demo estate + the
 * local host, one virtual clock), driven over HTTP only: POST /api/compliance/sweeps, then JSON, CSV
 * and the page in headless Chromium agree and cover exactly the namespaces Azure lists; a second
 * sweep after a change in Azure moves the trend, and `?at=` still answers the first. One start.
 */
import type { ComplianceReport } from '../../src/domain/complianceReport';
import { startLocalEstate } from '../support/localEstate';
import { Estate } from './enable-cmk-support';
import {
  WINDOW,
  expectFormatsAgree,
  headlessChromium,
  pageFacts,
  type Chromium,
} from './report-page-support';

let e: Estate;
let chromium: Chromium;

beforeAll(async () => {
  e = await new Estate(await startLocalEstate({ seed: true })).init();
  chromium = headlessChromium();
}, 120_000);
afterAll(async () => {
  await e?.estate.stop();
  chromium?.close();
});

const key = (): Record<string, string> => ({ 'x-functions-key': e.estate.app.keys.function });
const pageUrl = (query = ''): string =>
  `${e.estate.app.url}/api/compliance/report.html?code=${e.estate.app.keys.function}${query}`;

/** Starts a sweep (after any sweep already running, e.g. npm start's first) and follows it to the end. */
async function sweep(): Promise<ComplianceReport> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const started = await e.estate.app.json('/api/compliance/sweeps', { method: 'POST', headers: key() });
    if (started.status === 202) break;
    expect(started.status).toBe(409);
    await e.settle('complianceSweep');
  }
  const op = await e.settle<Record<string, unknown>>('complianceSweep');
  expect(op.runtimeStatus).toBe('Completed');
  const r = await e.estate.app.json<ComplianceReport>('/api/compliance/report', { headers: key() });
  expect(r.status).toBe(200);
  return r.body;
}

/** What Azure lists: every Service Bus namespace of the swept subscriptions, read back as the administrator. */
async function azureNamespaceIds(report: ComplianceReport): Promise<string[]> {
  const ids: string[] = [];
  for (const s of report.sweep.subscriptions.filter((x) => x.status === 'assessed')) {
    const list = await e.arm<{ value: { id: string }[] }>(
      'GET',
      `/subscriptions/${s.subscriptionId}/providers/Microsoft.ServiceBus/namespaces?api-version=2021-11-01`,
    );
    ids.push(...list.value.map((n) => n.id.toLowerCase()));
  }
  return ids.sort();
}

async function agree(report: ComplianceReport, query = ''): Promise<ReturnType<typeof pageFacts>> {
  const csv = await fetch(`${e.estate.app.url}/api/compliance/report?format=csv${query}`, { headers: key() });
  expect(csv.status).toBe(200);
  const page = pageFacts(await chromium.dom(pageUrl(query)));
  expectFormatsAgree(report, await csv.text(), page);
  return page;
}

describe('reports written by the sweep', () => {
  let first: ComplianceReport;

  it('a sweep of the demo estate: JSON, CSV and page agree and cover every namespace Azure lists', async () => {
    first = await sweep();
    expect(first.namespaces.map((n) => n.id.toLowerCase()).sort()).toEqual(await azureNamespaceIds(first));
    const inScope = first.sweep.subscriptions.length;
    expect(first.summary.subscriptions).toEqual({ inScope, assessed: inScope, skipped: 0 });
    expect(first.summary.namespaces).toBe(first.sweep.subscriptions.reduce((n, s) => n + s.namespaces, 0));
    await agree(first);
  }, 120_000);

  it('a second sweep after a new namespace without CMK: the report and trend move; ?at= answers the first', async () => {
    const added = await e.namespace('sb-report-plain');
    await e.estate.azure.control('POST', '/clock/advance', { ms: 60 * 60_000 });
    const clock = async () => (await e.estate.azure.control<{ nowMs: number }>('GET', '/clock')).body.nowMs;
    const advancedTo = await clock();
    const second = await sweep();
    const after = await clock();
    // The sweep ran on the sandbox clock, an hour later: it started between the advanced clock and its end.
    const started = Date.parse(second.sweep.startedAt);
    expect([
      advancedTo - Date.parse(first.sweep.startedAt) >= 3_600_000,
      advancedTo <= started,
      started <= after,
    ]).toEqual([true, true, true]);
    expect(second.namespaces.map((n) => n.id.toLowerCase()).sort()).toEqual(await azureNamespaceIds(second));
    const entry = second.namespaces.find((n) => n.id.toLowerCase() === added.toLowerCase());
    expect([entry?.verdict, entry?.findings.map((f) => f.ruleId)]).toEqual(['notEncrypted', ['CMK-001']]);
    expect([
      second.summary.namespaces,
      second.summary.byVerdict.notEncrypted,
      second.summary.compliant,
    ]).toEqual([
      first.summary.namespaces + 1,
      first.summary.byVerdict.notEncrypted + 1,
      first.summary.compliant,
    ]);

    const page = await agree(second);
    // Trend: the stored reports up to this one, oldest first (npm start may have swept once before).
    expect(page.trend.slice(-2)).toEqual([first.generatedAt, second.generatedAt]);

    const at = `&at=${encodeURIComponent(first.generatedAt)}`;
    const older = await e.estate.app.json<ComplianceReport>(`/api/compliance/report?${at.slice(1)}`, {
      headers: key(),
    });
    expect(older.body).toEqual(first);
    const olderPage = await agree(first, at);
    expect(olderPage.trend.at(-1)).toBe(first.generatedAt);

    const shot = await chromium.screenshot(pageUrl(), 'sweep-report.png');
    expect([shot.width, shot.height]).toEqual([WINDOW.width, WINDOW.height]);
    expect(shot.bytes).toBeGreaterThan(60_000);
  }, 120_000);
});
