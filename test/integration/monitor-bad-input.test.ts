/**
 * Bad input to every Microsoft.Insights route the sandbox serves: Azure's status and error code, and
 * nothing stored (the lists stay empty, the resources stay 404).
 */
import { httpsJson } from '../../sandbox/azure/testing';
import { SbHarness } from './servicebus-support';

let h: SbHarness;
let token: string;
let rgPath: string;

beforeAll(async () => {
  h = await SbHarness.start();
  token = (await h.sandbox.control.token(h.admin, 'arm')).access_token;
  rgPath = `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${h.rg}`;
  await h.vault('kv-bad');
  await h.namespace('sb-bad');
});
afterAll(async () => {
  await h.close();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; code?: string; body: unknown }> {
  const res = await httpsJson(h.sandbox, method, `${h.sandbox.url}${path}`, {
    token,
    ...(body === undefined ? {} : { body }),
  });
  return {
    status: res.status,
    code: (res.body as { error?: { code?: string } } | undefined)?.error?.code,
    body: res.body,
  };
}
const codeOf = async (method: string, path: string, body?: unknown) => {
  const r = await call(method, path, body);
  return [r.status, r.code];
};

const sinkUri = () => `${h.sandbox.url}/_sandbox/sink/bad`;
const group = (over: Record<string, unknown> = {}) => ({
  location: 'Global',
  properties: {
    groupShortName: 'ag',
    enabled: true,
    webhookReceivers: [{ name: 's', serviceUri: sinkUri() }],
    ...over,
  },
});
const metricAlert = (over: Record<string, unknown> = {}, criterion: Record<string, unknown> = {}) => ({
  location: 'global',
  properties: {
    severity: 2,
    enabled: true,
    scopes: [h.nsId('sb-bad')],
    evaluationFrequency: 'PT1M',
    windowSize: 'PT5M',
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion',
          name: 'c',
          metricName: 'ServerErrors',
          metricNamespace: 'Microsoft.ServiceBus/namespaces',
          operator: 'GreaterThan',
          threshold: 0,
          timeAggregation: 'Total',
          ...criterion,
        },
      ],
    },
    ...over,
  },
});

it('action groups: unknown api-version, wrong types, bad names and receivers → Azure errors, nothing stored', async () => {
  const path = (name: string, v = '2021-09-01') =>
    `${rgPath}/providers/Microsoft.Insights/actionGroups/${name}?api-version=${v}`;
  expect(await codeOf('PUT', path('ag1', '2019-01-01'), group())).toEqual([400, 'NoRegisteredProviderFound']);
  expect(await codeOf('PUT', `${rgPath}/providers/Microsoft.Insights/actionGroups/ag1`, group())).toEqual([
    400,
    'MissingApiVersionParameter',
  ]);
  // metricAlerts' version is not an actionGroups version.
  expect(await codeOf('PUT', path('ag1', '2018-03-01'), group())).toEqual([400, 'NoRegisteredProviderFound']);
  expect(await codeOf('PUT', path('ag1'), group({ enabled: 'yes' }))).toEqual([400, 'InvalidRequestContent']);
  expect(await codeOf('PUT', path('ag1'), { location: 'Global', properties: 'x' })).toEqual([
    400,
    'InvalidRequestContent',
  ]);
  expect(await codeOf('PUT', path('ag1'), group({ groupShortName: 'thirteen-char' }))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(
    await codeOf('PUT', path('ag1'), group({ webhookReceivers: [{ name: 's', serviceUri: 'not a url' }] })),
  ).toEqual([400, 'BadRequest']);
  expect(
    await codeOf(
      'PUT',
      path('ag1'),
      group({
        webhookReceivers: [
          { name: 's', serviceUri: sinkUri() },
          { name: 'S', serviceUri: sinkUri() },
        ],
      }),
    ),
  ).toEqual([400, 'BadRequest']);
  expect(await codeOf('PUT', path('bad*name'), group())).toEqual([400, 'InvalidResourceName']);
  expect(
    await codeOf(
      'PUT',
      `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/rg-none/providers/Microsoft.Insights/actionGroups/ag1?api-version=2021-09-01`,
      group(),
    ),
  ).toEqual([404, 'ResourceGroupNotFound']);
  expect(await codeOf('GET', path('ag1'))).toEqual([404, 'ResourceNotFound']);
  expect(
    (await call('GET', `${rgPath}/providers/Microsoft.Insights/actionGroups?api-version=2021-09-01`)).body,
  ).toEqual({ value: [] });
  expect(
    await codeOf(
      'POST',
      `/subscriptions/${h.sandbox.subscriptionId}/providers/Microsoft.Insights/createNotifications?api-version=2021-09-01`,
      {
        alertType: 'nonsense',
        webhookReceivers: [{ name: 's', serviceUri: sinkUri() }],
      },
    ),
  ).toEqual([400, 'BadRequest']);
  // No test notification was sent anywhere.
  expect(
    h.sandbox.control.requests({ method: 'POST' }).filter((r) => r.path.includes('/_sandbox/sink/')),
  ).toEqual([]);
});

it('metric alerts: unknown api-version, bad durations, types, scopes and metrics → Azure errors, nothing stored', async () => {
  const path = (name: string, v = '2018-03-01') =>
    `${rgPath}/providers/Microsoft.Insights/metricAlerts/${name}?api-version=${v}`;
  expect(await codeOf('PUT', path('r1', '2021-09-01'), metricAlert())).toEqual([
    400,
    'NoRegisteredProviderFound',
  ]);
  expect(await codeOf('PUT', path('r1'), metricAlert({ severity: '2' }))).toEqual([
    400,
    'InvalidRequestContent',
  ]);
  expect(await codeOf('PUT', path('r1'), metricAlert({ scopes: 'x' }))).toEqual([
    400,
    'InvalidRequestContent',
  ]);
  expect(await codeOf('PUT', path('r1'), metricAlert({ severity: 7 }))).toEqual([400, 'BadRequest']);
  expect(await codeOf('PUT', path('r1'), metricAlert({ evaluationFrequency: 'PT2M' }))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(
    await codeOf('PUT', path('r1'), metricAlert({ windowSize: 'PT1M', evaluationFrequency: 'PT5M' })),
  ).toEqual([400, 'BadRequest']);
  expect(await codeOf('PUT', path('r1'), metricAlert({ scopes: [`${h.nsId('sb-bad')}-missing`] }))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(await codeOf('PUT', path('r1'), metricAlert({}, { metricName: 'NoSuchMetric' }))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(await codeOf('PUT', path('r1'), metricAlert({}, { operator: 'Above' }))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(await codeOf('PUT', path('r1'), metricAlert({}, { timeAggregation: 'Median' }))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(
    await codeOf('PUT', path('r1'), metricAlert({ criteria: { 'odata.type': 'Nope', allOf: [] } })),
  ).toEqual([400, 'InvalidRequestContent']);
  expect(await codeOf('GET', path('r1'))).toEqual([404, 'ResourceNotFound']);
  expect(
    (await call('GET', `${rgPath}/providers/Microsoft.Insights/metricAlerts?api-version=2018-03-01`)).body,
  ).toEqual({ value: [] });
  // No evaluation was armed for a refused rule.
  expect(h.clock.pending().filter((p) => p.label.startsWith('monitor'))).toEqual([]);
});

it('scheduled query rules: both shapes refuse wrong types and bad schedules; nothing stored', async () => {
  const path = (name: string, v: string) =>
    `${rgPath}/providers/Microsoft.Insights/scheduledQueryRules/${name}?api-version=${v}`;
  const ws = `${rgPath}/providers/Microsoft.OperationalInsights/workspaces/law`;
  const legacy = (over: Record<string, unknown> = {}) => ({
    location: 'westeurope',
    properties: {
      enabled: 'true',
      source: { query: 'AzureDiagnostics', dataSourceId: ws },
      schedule: { frequencyInMinutes: 5, timeWindowInMinutes: 5 },
      action: {
        'odata.type':
          'Microsoft.WindowsAzure.Management.Monitoring.Alerts.Models.Microsoft.AppInsights.Nexus.DataContracts.Resources.ScheduledQueryRules.AlertingAction',
        severity: '1',
        trigger: { thresholdOperator: 'GreaterThan', threshold: 0 },
      },
      ...over,
    },
  });
  expect(await codeOf('PUT', path('q1', '2018-04-16'), legacy({ enabled: true }))).toEqual([
    400,
    'InvalidRequestContent',
  ]);
  expect(
    await codeOf(
      'PUT',
      path('q1', '2018-04-16'),
      legacy({ schedule: { frequencyInMinutes: 1, timeWindowInMinutes: 5 } }),
    ),
  ).toEqual([400, 'BadRequest']);
  expect(await codeOf('PUT', path('q1', '2019-01-01'), legacy())).toEqual([400, 'NoRegisteredProviderFound']);
  const modern = (over: Record<string, unknown> = {}) => ({
    location: 'westeurope',
    kind: 'LogAlert',
    properties: {
      severity: 1,
      enabled: true,
      scopes: [ws],
      evaluationFrequency: 'PT5M',
      windowSize: 'PT5M',
      criteria: {
        allOf: [
          { query: 'AzureDiagnostics', timeAggregation: 'Count', operator: 'GreaterThan', threshold: 0 },
        ],
      },
      ...over,
    },
  });
  expect(await codeOf('PUT', path('q1', '2023-12-01'), modern({ criteria: { allOf: 'x' } }))).toEqual([
    400,
    'InvalidRequestContent',
  ]);
  expect(await codeOf('PUT', path('q1', '2023-12-01'), modern({ windowSize: 'PT1M' }))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(await codeOf('PUT', path('q1', '2023-12-01'), modern({ evaluationFrequency: 'soon' }))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(await codeOf('GET', path('q1', '2023-12-01'))).toEqual([404, 'ResourceNotFound']);
  expect(
    (await call('GET', `${rgPath}/providers/Microsoft.Insights/scheduledQueryRules?api-version=2023-12-01`))
      .body,
  ).toEqual({ value: [] });

  // The modern shape, accepted: 201, echoed with its kind.
  const created = await call('PUT', path('q-ok', '2023-12-01'), modern());
  expect([created.status, (created.body as { kind: string }).kind]).toEqual([201, 'LogAlert']);
});

it('diagnostic settings and metrics: bad targets, categories, destinations and queries → Azure errors, nothing stored', async () => {
  const vaultId = h.vaultId('kv-bad');
  const ds = (target: string, name = 'd1', v = '2021-05-01-preview') =>
    `${target}/providers/Microsoft.Insights/diagnosticSettings/${name}?api-version=${v}`;
  const ws = `${rgPath}/providers/Microsoft.OperationalInsights/workspaces/law`;
  const setting = (logs: unknown[], workspaceId: string | null = ws) => ({
    properties: { ...(workspaceId ? { workspaceId } : {}), logs },
  });
  const audit = [{ category: 'AuditEvent', enabled: true }];
  expect(await codeOf('PUT', ds(vaultId, 'd1', '2016-09-01'), setting(audit))).toEqual([
    400,
    'NoRegisteredProviderFound',
  ]);
  expect(await codeOf('PUT', ds(vaultId), setting([{ category: 'Foo', enabled: true }]))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(await codeOf('PUT', ds(vaultId), setting([{ category: 'AuditEvent', enabled: 'yes' }]))).toEqual([
    400,
    'InvalidRequestContent',
  ]);
  expect(await codeOf('PUT', ds(vaultId), setting(audit, 'law'))).toEqual([400, 'BadRequest']);
  expect(await codeOf('PUT', ds(vaultId), setting(audit, null))).toEqual([400, 'BadRequest']);
  expect(await codeOf('PUT', ds(`${vaultId}-gone`), setting(audit))).toEqual([404, 'ResourceNotFound']);
  expect(await codeOf('PUT', ds(`/subscriptions/${h.sandbox.subscriptionId}`), setting(audit))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(
    (
      await call(
        'GET',
        `${vaultId}/providers/Microsoft.Insights/diagnosticSettings?api-version=2021-05-01-preview`,
      )
    ).body,
  ).toEqual({
    value: [],
  });

  const nsId = h.nsId('sb-bad');
  const metrics = (target: string, query: string, v = '2018-01-01') =>
    `${target}/providers/Microsoft.Insights/metrics?api-version=${v}&${query}`;
  const failed = await call('GET', metrics(nsId, 'metricnames=NoSuchMetric'));
  expect([failed.status, failed.code]).toEqual([400, 'BadRequest']);
  expect((failed.body as { error: { message: string } }).error.message).toBe(
    'Failed to find metric configuration for provider: Microsoft.ServiceBus, resource Type: namespaces, metric: NoSuchMetric, Valid metrics: ServerErrors,UserErrors,SuccessfulRequests,IncomingRequests,IncomingMessages,NamespaceCpuUsage',
  );
  expect(await codeOf('GET', metrics(nsId, 'metricnames=ServerErrors&interval=PT7M'))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(await codeOf('GET', metrics(nsId, 'metricnames=ServerErrors&timespan=yesterday'))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(await codeOf('GET', metrics(nsId, 'metricnames=ServerErrors&aggregation=Median'))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(await codeOf('GET', metrics(nsId, "metricnames=ServerErrors&$filter=Nope eq 'x'"))).toEqual([
    400,
    'BadRequest',
  ]);
  expect(await codeOf('GET', metrics(`${nsId}-gone`, 'metricnames=ServerErrors'))).toEqual([
    404,
    'ResourceNotFound',
  ]);
  expect(await codeOf('GET', metrics(nsId, 'metricnames=ServerErrors', '2017-01-01'))).toEqual([
    400,
    'NoRegisteredProviderFound',
  ]);
  expect(
    await codeOf('GET', `${nsId}/providers/Microsoft.Insights/metricDefinitions?api-version=2017-01-01`),
  ).toEqual([400, 'NoRegisteredProviderFound']);
});
