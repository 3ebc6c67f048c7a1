/**
 * Azure Monitor in the sandbox, through the real @azure/arm-monitor client and the custom-metrics
 * endpoint: a metric alert on a custom metric fires once and resolves once on the clock, delivered to
 * an action group's webhook receiver (the sink) in the common alert schema; action-group test
 * notifications; the ingestion endpoint's authentication and authorisation.
 */
import type { Agent } from 'node:https';
import type { MonitorClient } from '@azure/arm-monitor';
import { MINUTE, SbHarness } from './servicebus-support';
import {
  agentFor,
  metricDocument,
  monitorClient,
  publishMetric,
  sink,
  sinkEntries,
  type CommonAlert,
} from './monitor-support';

let h: SbHarness;
let mon: MonitorClient;
let agent: Agent;

beforeAll(async () => {
  h = await SbHarness.start();
  mon = monitorClient(h);
  agent = agentFor(h);
});
afterAll(async () => {
  agent.destroy();
  await h.close();
});

const iso = (ms: number): string => new Date(ms).toISOString();

async function actionGroup(name: string, sinkName: string, common = true): Promise<string> {
  const g = await mon.actionGroups.createOrUpdate(h.rg, name, {
    location: 'Global',
    groupShortName: name.slice(0, 12),
    enabled: true,
    webhookReceivers: [{ name: 'sink', serviceUri: sink(h, sinkName), useCommonAlertSchema: common }],
  });
  return g.id!;
}

it('a metric alert on a custom metric fires once, then resolves once, on the clock (common alert schema)', async () => {
  await h.namespace('sb-m-custom');
  const nsId = h.nsId('sb-m-custom');
  const publisher = h.sandbox.control.createPrincipal({ displayName: 'cmk-guardian-app' });
  h.sandbox.control.assignRole({
    principalId: publisher.objectId,
    role: 'Monitoring Metrics Publisher',
    scope: nsId,
  });
  const groupId = await actionGroup('ag-custom', 'ag-custom');

  const t0 = h.clock.now();
  await mon.metricAlerts.createOrUpdate(h.rg, 'cmk-unhealthy', {
    location: 'global',
    description: 'A namespace lost its customer-managed key',
    severity: 1,
    enabled: true,
    scopes: [nsId],
    evaluationFrequency: 'PT1M',
    windowSize: 'PT5M',
    criteria: {
      odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion',
          name: 'unhealthy',
          metricName: 'CmkHealthy',
          metricNamespace: 'CmkGuardian',
          operator: 'LessThan',
          threshold: 1,
          timeAggregation: 'Minimum',
          skipMetricValidation: true,
        },
      ],
    },
    autoMitigate: true,
    actions: [{ actionGroupId: groupId, webHookProperties: { runbook: 'cmk' } }],
  });

  // Minute 0: the app reports the namespace unhealthy; afterwards healthy every minute.
  const published = await publishMetric(
    h,
    agent,
    publisher.objectId,
    nsId,
    metricDocument(t0, 'CmkHealthy', 0),
  );
  expect(published).toEqual({ status: 200, body: { statusCode: 200 } });
  const counts: number[] = [];
  for (let minute = 1; minute <= 11; minute++) {
    await h.minutes(1);
    counts.push((await sinkEntries(h, 'ag-custom')).length);
    const healthy = await publishMetric(
      h,
      agent,
      publisher.objectId,
      nsId,
      metricDocument(h.clock.now(), 'CmkHealthy', 1),
    );
    expect(healthy.status).toBe(200);
  }
  // Fired at the first evaluation (minute 1); the 0 leaves the 5-minute window at minute 6; resolved
  // after three consecutive healthy evaluations (minutes 6, 7, 8); nothing more afterwards.
  expect(counts).toEqual([1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);

  const [fired, resolved] = (await sinkEntries(h, 'ag-custom')).map((e) => e.body as CommonAlert);
  expect(fired!.schemaId).toBe('azureMonitorCommonAlertSchema');
  const e1 = fired!.data.essentials;
  expect(e1).toMatchObject({
    alertRule: 'cmk-unhealthy',
    severity: 'Sev1',
    signalType: 'Metric',
    monitorCondition: 'Fired',
    monitoringService: 'Platform',
    alertTargetIDs: [nsId.toLowerCase()],
    configurationItems: ['sb-m-custom'],
    firedDateTime: iso(t0 + MINUTE),
    description: 'A namespace lost its customer-managed key',
    essentialsVersion: '1.0',
    alertContextVersion: '1.0',
  });
  expect(e1.resolvedDateTime).toBeUndefined();
  expect(e1.alertId).toMatch(
    new RegExp(
      `^/subscriptions/${h.sandbox.subscriptionId}/providers/Microsoft.AlertsManagement/alerts/[0-9a-f-]{36}$`,
    ),
  );
  expect(fired!.data.alertContext).toEqual({
    properties: null,
    conditionType: 'SingleResourceMultipleMetricCriteria',
    condition: {
      windowSize: 'PT5M',
      allOf: [
        {
          metricName: 'CmkHealthy',
          metricNamespace: 'CmkGuardian',
          operator: 'LessThan',
          threshold: '1',
          timeAggregation: 'Minimum',
          dimensions: [],
          metricValue: 0,
          webTestName: null,
        },
      ],
      windowStartTime: iso(t0 - 4 * MINUTE),
      windowEndTime: iso(t0 + MINUTE),
    },
  });
  expect(fired!.data.customProperties).toEqual({ runbook: 'cmk' });

  const e2 = resolved!.data.essentials;
  expect(e2.monitorCondition).toBe('Resolved');
  expect(e2.alertId).toBe(e1.alertId);
  expect(e2.firedDateTime).toBe(iso(t0 + MINUTE));
  expect(e2.resolvedDateTime).toBe(iso(t0 + 8 * MINUTE));
  expect(
    (resolved!.data.alertContext as { condition: { allOf: Array<{ metricValue: number }> } }).condition
      .allOf[0]!.metricValue,
  ).toBe(1);

  // The custom metric is queryable with its namespace, as published.
  const series = await mon.metrics.list(nsId, {
    metricnamespace: 'CmkGuardian',
    metricnames: 'CmkHealthy',
    timespan: `${iso(t0)}/${iso(t0 + 3 * MINUTE)}`,
    interval: 'PT1M',
    aggregation: 'Minimum,Count',
  });
  expect(series.value[0]!.timeseries[0]!.data!.map((d) => [d.minimum, d.count])).toEqual([
    [0, 1],
    [1, 1],
    [1, 1],
  ]);
});

it('a stateless metric alert (autoMitigate false) fires at every evaluation that meets the condition', async () => {
  await h.namespace('sb-m-stateless');
  const nsId = h.nsId('sb-m-stateless');
  h.sandbox.control.assignRole({ principalId: h.admin, role: 'Monitoring Metrics Publisher', scope: nsId });
  const groupId = await actionGroup('ag-stateless', 'ag-stateless', false);
  await mon.metricAlerts.createOrUpdate(h.rg, 'stateless', {
    location: 'global',
    severity: 3,
    enabled: true,
    scopes: [nsId],
    evaluationFrequency: 'PT1M',
    windowSize: 'PT1M',
    criteria: {
      odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion',
          name: 'days',
          metricName: 'CmkKeyDaysToExpiry',
          metricNamespace: 'CmkGuardian',
          operator: 'LessThanOrEqual',
          threshold: 30,
          timeAggregation: 'Minimum',
          skipMetricValidation: true,
        },
      ],
    },
    autoMitigate: false,
    actions: [{ actionGroupId: groupId }],
  });
  for (const days of [10, 12, 90]) {
    expect(
      (
        await publishMetric(
          h,
          agent,
          h.admin,
          nsId,
          metricDocument(h.clock.now(), 'CmkKeyDaysToExpiry', days),
        )
      ).status,
    ).toBe(200);
    await h.minutes(1);
  }
  await h.minutes(2);
  const bodies = (await sinkEntries(h, 'ag-stateless')).map(
    (e) => e.body as { schemaId: string; data: { status: string; context: { name: string } } },
  );
  // Two evaluations met the condition (10 and 12 days); the receiver has no common schema.
  expect(bodies.map((b) => [b.schemaId, b.data.status, b.data.context.name])).toEqual([
    ['AzureMonitorMetricAlert', 'Activated', 'stateless'],
    ['AzureMonitorMetricAlert', 'Activated', 'stateless'],
  ]);
});

it('the ingestion endpoint refuses a caller without Monitoring Metrics Publisher (403) and a wrong audience (401); nothing is stored', async () => {
  await h.namespace('sb-m-ingest');
  const nsId = h.nsId('sb-m-ingest');
  const stranger = h.sandbox.control.createPrincipal({ displayName: 'no-publisher-role' });
  h.sandbox.control.assignRole({
    principalId: stranger.objectId,
    role: 'Monitoring Contributor',
    scope: nsId,
  });
  const doc = metricDocument(h.clock.now(), 'Refused', 1);

  const forbidden = await publishMetric(h, agent, stranger.objectId, nsId, doc);
  expect(forbidden.status).toBe(403);
  expect((forbidden.body as { error: { code: string } }).error.code).toBe('Forbidden');

  // A token for ARM (the audience of every other call the app makes) is not one for metrics ingestion.
  h.sandbox.control.assignRole({
    principalId: stranger.objectId,
    role: 'Monitoring Metrics Publisher',
    scope: nsId,
  });
  const wrongAudience = await publishMetric(
    h,
    agent,
    stranger.objectId,
    nsId,
    doc,
    `${h.sandbox.url}/.default`,
  );
  expect(wrongAudience.status).toBe(401);
  expect((wrongAudience.body as { error: { code: string } }).error.code).toBe(
    'InvalidAuthenticationTokenAudience',
  );

  // Bad documents: 400, nothing stored.
  const stale = await publishMetric(
    h,
    agent,
    stranger.objectId,
    nsId,
    metricDocument(h.clock.now() - 21 * MINUTE, 'Refused', 1),
  );
  const mismatched = await publishMetric(h, agent, stranger.objectId, nsId, {
    ...doc,
    data: {
      baseData: {
        metric: 'Refused',
        namespace: 'CmkGuardian',
        dimNames: ['a'],
        series: [{ min: 1, max: 1, sum: 1, count: 1 }],
      },
    },
  });
  const wrongTypes = await publishMetric(h, agent, stranger.objectId, nsId, {
    time: 5,
    data: { baseData: { metric: 1 } },
  });
  // Authorisation comes first: no role over a resource that does not exist → 403; with one → 404.
  const unauthorised = await publishMetric(h, agent, stranger.objectId, `${nsId}-gone`, doc);
  h.sandbox.control.assignRole({
    principalId: stranger.objectId,
    role: 'Monitoring Metrics Publisher',
    scope: `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${h.rg}`,
  });
  const missing = await publishMetric(h, agent, stranger.objectId, `${nsId}-gone`, doc);
  expect([stale.status, mismatched.status, wrongTypes.status, unauthorised.status, missing.status]).toEqual([
    400, 400, 400, 403, 404,
  ]);
  const definitions: string[] = [];
  for await (const d of mon.metricDefinitions.list(nsId, { metricnamespace: 'CmkGuardian' }))
    definitions.push(d.name!.value);
  expect(definitions).toEqual([]);

  // With the role and the right audience the same document is accepted and defines the metric.
  expect((await publishMetric(h, agent, stranger.objectId, nsId, doc)).status).toBe(200);
  for await (const d of mon.metricDefinitions.list(nsId, { metricnamespace: 'CmkGuardian' }))
    definitions.push(d.name!.value);
  expect(definitions).toEqual(['Refused']);
});

it('test notifications reach the receivers and report per action, as Azure answers them', async () => {
  const result = await mon.actionGroups.beginPostTestNotificationsAndWait(
    {
      alertType: 'metricstaticthreshold',
      webhookReceivers: [{ name: 'sink', serviceUri: sink(h, 'test-notify'), useCommonAlertSchema: true }],
    },
    { updateIntervalInMs: 0 },
  );
  const received = await sinkEntries(h, 'test-notify');
  expect(received).toHaveLength(1);
  expect((received[0]!.body as CommonAlert).data.essentials).toMatchObject({
    alertRule: 'test-alertRule',
    signalType: 'Metric',
    monitorCondition: 'Fired',
  });
  const details = result as unknown as {
    state: string;
    actionDetails: Array<{ mechanismType: string; name: string; status: string }>;
  };
  expect(details.state).toBe('Complete');
  expect(details.actionDetails.map((a) => [a.mechanismType, a.name, a.status])).toEqual([
    ['Webhook', 'sink', 'Success'],
  ]);
});
