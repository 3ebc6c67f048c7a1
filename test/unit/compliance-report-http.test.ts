import { HttpRequest, InvocationContext } from '@azure/functions';
import {
  getComplianceReportHandler,
  getComplianceReportPageHandler,
} from '../../src/functions/complianceReport';

// No AzureWebJobsStorage in this process: whatever reaches the store fails with the setting named.
const request = (query: string): HttpRequest =>
  new HttpRequest({ url: `http://localhost/api/compliance/report${query}`, method: 'GET' });
const body = async (r: { body?: unknown }): Promise<Record<string, unknown>> =>
  JSON.parse(String(r.body)) as Record<string, unknown>;

describe('report triggers (no storage account configured)', () => {
  const saved = {
    conn: process.env.AzureWebJobsStorage,
    uri: process.env.AzureWebJobsStorage__blobServiceUri,
  };
  beforeAll(() => {
    delete process.env.AzureWebJobsStorage;
    delete process.env.AzureWebJobsStorage__blobServiceUri;
  });
  afterAll(() => {
    if (saved.conn !== undefined) process.env.AzureWebJobsStorage = saved.conn;
    if (saved.uri !== undefined) process.env.AzureWebJobsStorage__blobServiceUri = saved.uri;
  });

  it('bad input is refused before the store is touched', async () => {
    const bad = await getComplianceReportHandler(request('?at=tomorrow'), new InvocationContext());
    expect([bad.status, (await body(bad)).title]).toEqual([400, 'Invalid at']);
    const format = await getComplianceReportHandler(request('?format=pdf'), new InvocationContext());
    expect([format.status, (await body(format)).detail]).toEqual([
      400,
      'format must be one of json, csv (got "pdf").',
    ]);
    const page = await getComplianceReportPageHandler(request('?format=csv'), new InvocationContext());
    expect(page.status).toBe(400);
  });

  it('a missing storage setting is a refusal naming the settings, not a crash', async () => {
    const r = await getComplianceReportHandler(request(''), new InvocationContext());
    const b = await body(r);
    expect([r.status, b.errorClass, b.title]).toEqual([502, 'refusal', 'The report store refused the read']);
    expect(String(b.detail)).toContain('AzureWebJobsStorage__blobServiceUri');
  });
});
