import { compileQuery, type Row } from '../../sandbox/azure/monitor/kql';
import { parseFilter } from '../../sandbox/azure/monitor/routes';

const now = Date.UTC(2026, 0, 1, 12);
const row = (over: Partial<Row>): Row => ({
  TimeGenerated: new Date(now - 60_000).toISOString(),
  ResourceProvider: 'MICROSOFT.KEYVAULT',
  Category: 'AuditEvent',
  OperationName: 'KeyGet',
  ResultType: 'Success',
  httpStatusCode_d: 200,
  identity_claim_oid_g: 'aaaa',
  id_s: 'https://kv.vault.sandbox.localhost/keys/cmk',
  ...over,
});

function matches(query: string, rows: Row[]): number[] {
  const c = compileQuery(query);
  if (!c.ok) throw new Error(c.reason);
  return rows.flatMap((r, i) => (c.predicate(r, now) ? [i] : []));
}

describe('the evaluated KQL subset', () => {
  const rows = [
    row({ OperationName: 'KeyDelete' }),
    row({ OperationName: 'KeyUpdate', identity_claim_oid_g: 'bbbb' }),
    row({ OperationName: 'KeyWrap', httpStatusCode_d: 403, ResultType: 'Forbidden' }),
    row({ OperationName: 'KeyGet', TimeGenerated: new Date(now - 3_600_000).toISOString() }),
  ];

  it('filters by operation names, results, callers, keys and time', () => {
    expect(matches('AzureDiagnostics | where OperationName in ("KeyDelete", "KeyUpdate")', rows)).toEqual([
      0, 1,
    ]);
    expect(matches('AzureDiagnostics | where OperationName !in ("KeyDelete")', rows)).toEqual([1, 2, 3]);
    expect(
      matches("AzureDiagnostics | where httpStatusCode_d >= 400 and ResultType != 'Success'", rows),
    ).toEqual([2]);
    expect(
      matches('AzureDiagnostics | where identity_claim_oid_g == "bbbb" or OperationName =~ "keywrap"', rows),
    ).toEqual([1, 2]);
    expect(
      matches('AzureDiagnostics | where id_s contains "/keys/CMK" | where TimeGenerated > ago(10m)', rows),
    ).toEqual([0, 1, 2]);
    expect(
      matches(
        'AzureDiagnostics | where (OperationName == "KeyGet" or OperationName == "KeyWrap") and httpStatusCode_d < 300',
        rows,
      ),
    ).toEqual([3]);
    // project / order by do not change the count; comments are ignored.
    expect(
      matches(
        'AzureDiagnostics // audit\n| where OperationName == "KeyDelete" | project TimeGenerated | order by TimeGenerated',
        rows,
      ),
    ).toEqual([0]);
  });

  it('refuses what it cannot evaluate, with a reason', () => {
    expect(compileQuery('AzureDiagnostics | summarize count() by OperationName')).toEqual({
      ok: false,
      reason: "the 'summarize' operator is not evaluated by the sandbox",
    });
    expect(compileQuery('AzureActivity | where OperationName == "x"')).toMatchObject({ ok: false });
    expect(compileQuery('AzureDiagnostics | where OperationName matches regex "K.*"')).toMatchObject({
      ok: false,
    });
    expect(compileQuery('AzureDiagnostics | where OperationName == "unterminated')).toMatchObject({
      ok: false,
      reason: 'unterminated string literal',
    });
    expect(compileQuery('AzureDiagnostics | where httpStatusCode_d > "x"')).toMatchObject({ ok: false });
  });
});

describe('the metrics $filter', () => {
  it('parses eq / ne / or-lists / wildcards', () => {
    expect(
      parseFilter(
        "EntityName eq '*' and (StatusCode eq '200' or StatusCode eq '403') and ActivityName ne 'keyget'",
      ),
    ).toEqual([
      { name: 'EntityName', values: ['*'] },
      { name: 'StatusCode', values: ['200', '403'] },
      { name: 'ActivityName', values: ['keyget'], exclude: true },
    ]);
    expect(parseFilter(null)).toEqual([]);
    expect(() => parseFilter('EntityName = 1')).toThrow("Invalid $filter 'EntityName = 1'.");
    expect(() => parseFilter("(A eq 'x' or B eq 'y')")).toThrow(/'or' joins one dimension/);
  });
});
