import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { azureClients } from '../azure/runtime';
import { reportStore } from '../azure/reportStore';
import { parseReportInstant, reportCsvRows, toCsv, type ComplianceReport } from '../domain/complianceReport';
import { errorProblem, problem } from './problem';
import { REPORT_PAGE_CSP, renderReportHtml } from './reportHtml';

/**
 * The stored compliance reports (docs/ARCHITECTURE.md "Compliance report"): `GET
 * /api/compliance/report` (JSON, `?format=csv`, `?at=` an instant for the report current then) and
 * `GET /api/compliance/report.html` (the page). Thin: the store reads, the domain and reportHtml render.
 */

type Query = { ok: true; at?: Date; format: string } | { ok: false; response: HttpResponseInit };

/** `?format=` (the first of `formats` by default) and `?at=`; anything else in the query is ignored. */
function readQuery(request: HttpRequest, formats: readonly [string, ...string[]]): Query {
  const format = (request.query.get('format') ?? formats[0]).toLowerCase();
  if (!formats.includes(format)) {
    return {
      ok: false,
      response: problem({
        status: 400,
        title: 'Invalid format',
        detail: `format must be one of ${formats.join(', ')} (got "${format}").`,
      }),
    };
  }
  const raw = request.query.get('at');
  if (raw === null) return { ok: true, format };
  const at = parseReportInstant(raw);
  if (!at) {
    return {
      ok: false,
      response: problem({
        status: 400,
        title: 'Invalid at',
        detail: `at must be an ISO 8601 instant with a time zone, e.g. 2026-06-01T08:00:00Z, or a date (got "${raw}").`,
      }),
    };
  }
  return { ok: true, at, format };
}

async function loadReport(at: Date | undefined): Promise<ComplianceReport | HttpResponseInit> {
  const store = reportStore(azureClients());
  const report = at ? await store.at(at) : await store.latest();
  if (report) return report;
  return problem({
    status: 404,
    title: 'No compliance report',
    detail: at
      ? `No compliance report was stored at or before ${at.toISOString()}.`
      : 'No compliance sweep has stored a report yet: start one with POST /api/compliance/sweeps, or wait for the schedule.',
  });
}

const isReport = (r: ComplianceReport | HttpResponseInit): r is ComplianceReport => 'schemaVersion' in r;

export async function getComplianceReportHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const query = readQuery(request, ['json', 'csv']);
  if (!query.ok) return query.response;
  try {
    const report = await loadReport(query.at);
    if (!isReport(report)) return report;
    if (query.format === 'csv') {
      return {
        status: 200,
        headers: {
          'content-type': 'text/csv; charset=utf-8',
          'content-disposition': `attachment; filename="cmk-compliance-${report.generatedAt.replace(/[^0-9TZ]/g, '')}.csv"`,
        },
        body: toCsv(reportCsvRows(report)),
      };
    }
    return { status: 200, jsonBody: report };
  } catch (error) {
    return errorProblem(error, context, { refusal: 'The report store refused the read' });
  }
}

export async function getComplianceReportPageHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const query = readQuery(request, ['html']);
  if (!query.ok) return query.response;
  try {
    const report = await loadReport(query.at);
    if (!isReport(report)) return report;
    const upTo = Date.parse(report.generatedAt);
    const trend = (await reportStore(azureClients()).trend()).filter(
      (p) => Date.parse(p.generatedAt) <= upTo,
    );
    // The JSON/CSV links open the same report; a function key given as ?code= travels with them.
    const code = request.query.get('code');
    const link = (path: string, query: Record<string, string>): string => {
      const params = new URLSearchParams(query);
      if (code) params.set('code', code);
      return `${path}?${params.toString()}`;
    };
    return {
      status: 200,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': REPORT_PAGE_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      },
      body: renderReportHtml(report, trend, {
        json: link('report', { at: report.generatedAt }),
        csv: link('report', { at: report.generatedAt, format: 'csv' }),
        pageAt: (at) => link('report.html', { at }),
      }),
    };
  } catch (error) {
    return errorProblem(error, context, { refusal: 'The report store refused the read' });
  }
}
