/**
 * The alert path (src/azure/healthPublisher.ts, alertRules.ts, blobStore.ts) through the real SDK
 * clients against the sandbox: custom metrics posted to the regional ingestion host with a
 * https://monitoring.azure.com/ token and read back through the metrics API; duplicates not posted
 * (request log counted); verdict changes logged once; managed rules created once and read back; and
 * the sandbox's own metric alert evaluation on the virtual clock delivering an inoperable verdict to
 * the action group's webhook (the sink) and resolving it on recovery, with exact sink counts.
 */
import type { Agent } from 'node:https';
import { MonitorClient } from '@azure/arm-monitor';
import type { PipelinePolicy, PipelineOptions } from '@azure/core-rest-pipeline';
import { ensureAlertRule } from '../../src/azure/alertRules';
import { blobContainer } from '../../src/azure/blobStore';
import { AzureClients } from '../../src/azure/clients';
import { publishHealth } from '../../src/azure/healthPublisher';
import { loadConfig } from '../../src/config';
import { alertRulesFor, type VerdictChange } from '../../src/domain/alerting';
import type { NamespaceHealth } from '../../src/domain/health';
import type { Finding } from '../../src/domain/preflight';
import { agentFor, sink, sinkEntries, type CommonAlert } from './monitor-support';
import { MINUTE, SbHarness } from './servicebus-support';

let h: SbHarness;
let agent: Agent;
let admin: MonitorClient;
let actionGroupId: string;
const APP_RG = 'rg-sb';

/** The app's AzureClients with the sandbox CA / host resolution passed in-process (the app uses the environment). */
class SandboxClients extends AzureClients {
  private readonly monitors = new Map<string, MonitorClient>();
  constructor(env: Record<string, string>) {
    super(
      loadConfig({
        AZURE_CLOUD: 'Custom',
        ARM_ENDPOINT: h.sandbox.url,
        KEYVAULT_DNS_SUFFIX: h.sandbox.keyVaultDnsSuffix,
        MONITORING_ENDPOINT: h.sandbox.env.MONITORING_ENDPOINT!,
        AzureWebJobsStorage: h.sandbox.env.AzureWebJobsStorage!,
        ...env,
      }),
      h.credential(h.sandbox.app.objectId),
    );
  }
  override monitor(sub: string): MonitorClient {
    let c = this.monitors.get(sub);
    if (!c) {
      c = new MonitorClient(this.credential, sub, {
        endpoint: h.sandbox.url,
        credentialScopes: [`${h.sandbox.url}/.default`],
        tlsOptions: { ca: h.sandbox.caPem },
        retryOptions: { maxRetries: 0 },
      });
      this.monitors.set(sub, c);
    }
    return c;
  }
  protected override dataPlanePipelineOptions(): PipelineOptions {
    return { retryOptions: { maxRetries: 0 } };
  }
  override dataPlanePipeline(audience: string): ReturnType<AzureClients['dataPlanePipeline']> {
    const made = super.dataPlanePipeline(audience);
    if (!made.pipeline.getOrderedPolicies().some((p) => p.name === 'sandbox-agent')) {
      // The regional host has no DNS: in-process, an agent resolves it (the app goes through HTTPS_PROXY).
      const policy: PipelinePolicy = {
        name: 'sandbox-agent',
        sendRequest: (request, next) => {
          request.agent = agent;
          return next(request);
        },
      };
      made.pipeline.addPolicy(policy);
    }
    return made;
  }
}

beforeAll(async () => {
  h = await SbHarness.start({ storage: true });
  agent = agentFor(h);
  admin = new MonitorClient(h.credential(h.admin), h.sandbox.subscriptionId, {
    endpoint: h.sandbox.url,
    credentialScopes: [`${h.sandbox.url}/.default`],
    tlsOptions: { ca: h.sandbox.caPem },
    retryOptions: { maxRetries: 0 },
  });
  // As infra grants it: metrics publisher on the namespaces' group, rule writer on the rules' group.
  const rg = `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${APP_RG}`;
  for (const role of ['Monitoring Metrics Publisher', 'Monitoring Contributor'])
    h.sandbox.control.assignRole({ principalId: h.sandbox.app.objectId, role, scope: rg, immediate: true });
  const group = await admin.actionGroups.createOrUpdate(APP_RG, 'ag-cmk', {
    location: 'Global',
    groupShortName: 'ag-cmk',
    enabled: true,
    webhookReceivers: [{ name: 'sink', serviceUri: sink(h, 'ag-cmk'), useCommonAlertSchema: true }],
  });
  actionGroupId = group.id!;
});
afterAll(async () => {
  agent.destroy();
  await h.close();
});

const finding = (ruleId: string, nsId: string): Finding => ({
  ruleId,
  severity: 'critical',
  blocks: true,
  title: ruleId,
  message: `${ruleId} on ${nsId.split('/').pop()}`,
  fix: `fix ${ruleId}`,
  subject: { kind: 'namespace', id: nsId },
});
const keyA = (): string => `${h.sandbox.vaultUri('kv-al')}keys/cmk-a`;
const keyB = (): string => `${h.sandbox.vaultUri('kv-al')}keys/cmk-b`;

function verdict(nsId: string, v: 'healthy' | 'degraded' | 'inoperable' | 'unknown'): NamespaceHealth {
  const ruleIds = v === 'inoperable' ? ['CMK-010'] : v === 'degraded' ? ['CMK-011'] : [];
  return {
    namespaceId: nsId,
    location: 'West Europe',
    verdict: v,
    ruleIds,
    usableKeyIds: v === 'inoperable' ? [] : v === 'degraded' ? [keyB()] : [keyA(), keyB()],
    keyIds: [keyA(), keyB()],
    ...(v === 'inoperable' ? {} : { daysToExpiry: 90 }),
    findings: ruleIds.map((r) => finding(r, nsId)),
  };
}

const ingestionPosts = (since: number) =>
  h.sandbox.control.requests({ sinceSeq: since, service: 'monitoring', method: 'POST' });
const cursor = (): number => h.sandbox.control.mark();

async function minimumsPerMinute(nsId: string, metric: string, from: number, minutes: number) {
  const res = await admin.metrics.list(nsId, {
    metricnamespace: 'CmkGuardian',
    metricnames: metric,
    timespan: `${new Date(from).toISOString()}/${new Date(from + minutes * MINUTE).toISOString()}`,
    interval: 'PT1M',
    aggregation: 'Minimum,Count',
  });
  return res.value[0]!.timeseries[0]!.data!.map((d) => [d.minimum ?? null, d.count ?? 0]);
}

test('publish: metrics on the namespace via the regional endpoint, read back; duplicates not posted; one record per change', async () => {
  await h.namespace('sb-al-pub');
  const nsId = h.nsId('sb-al-pub');
  const clients = new SandboxClients({});
  const logs: VerdictChange[] = [];
  const log = (r: VerdictChange) => logs.push(r);
  const t0 = h.clock.now();
  const before = cursor();

  // The same assessment three times (one event delivered three times), then the next minute's heartbeat.
  const first = await publishHealth(clients, [verdict(nsId, 'inoperable')], new Date(t0), { log });
  const again = await publishHealth(clients, [verdict(nsId, 'inoperable')], new Date(t0 + 30_000), { log });
  const third = await publishHealth(clients, [verdict(nsId, 'inoperable')], new Date(t0), { log });
  expect([first, again, third].map((s) => [s.published, s.duplicates, s.changes])).toEqual([
    [1, 0, 1],
    [0, 1, 0],
    [0, 1, 0],
  ]);
  const posts = ingestionPosts(before);
  // One sample = CmkHealthy + CmkAtRisk (no expiry when no key is usable), to the region's host, as the app.
  expect(posts.map((p) => [p.host.split(':')[0], p.status, p.principal])).toEqual([
    ['westeurope.monitoring.sandbox.localhost', 200, h.sandbox.app.objectId],
    ['westeurope.monitoring.sandbox.localhost', 200, h.sandbox.app.objectId],
  ]);
  expect(logs).toHaveLength(1);
  expect(logs[0]).toMatchObject({
    event: 'CmkVerdictChanged',
    namespaceId: nsId,
    verdict: 'inoperable',
    previousVerdict: null,
    level: 'critical',
    ruleIds: ['CMK-010'],
    usableKeyIds: [],
    findings: [{ ruleId: 'CMK-010', fix: 'fix CMK-010' }],
  });

  await h.minutes(1);
  const heartbeat = await publishHealth(clients, [verdict(nsId, 'inoperable')], new Date(h.clock.now()), {
    log,
  });
  expect([heartbeat.published, heartbeat.changes]).toEqual([1, 0]);
  await h.minutes(1);
  const degraded = await publishHealth(clients, [verdict(nsId, 'degraded')], new Date(h.clock.now()), {
    log,
  });
  expect([degraded.published, degraded.changes]).toEqual([1, 1]);
  expect(logs.map((l) => [l.previousVerdict, l.verdict, l.level])).toEqual([
    [null, 'inoperable', 'critical'],
    ['inoperable', 'degraded', 'warning'],
  ]);
  expect(ingestionPosts(before)).toHaveLength(2 + 2 + 3);

  // Read back through the metrics API: one point per minute, never a doubled count.
  expect(await minimumsPerMinute(nsId, 'CmkHealthy', t0, 3)).toEqual([
    [0, 1],
    [0, 1],
    [1, 1],
  ]);
  expect(await minimumsPerMinute(nsId, 'CmkAtRisk', t0, 3)).toEqual([
    [0, 1],
    [0, 1],
    [1, 1],
  ]);
  expect(await minimumsPerMinute(nsId, 'CmkKeyDaysToExpiry', t0, 3)).toEqual([
    [null, 0],
    [null, 0],
    [90, 1],
  ]);

  // The remembered verdict is in the app's storage account, per subscription.
  const state = await blobContainer(clients).readJson<{ namespaces: Record<string, { verdict: string }> }>(
    `health/${h.sandbox.subscriptionId}.json`,
  );
  expect(state?.value.namespaces[nsId.toLowerCase()]?.verdict).toBe('degraded');
});

test('publish without the publisher role: a refusal with the fix, nothing remembered as published', async () => {
  await h.arm(
    'PUT',
    `/subscriptions/${h.sandbox.subscriptionId}/resourcegroups/rg-other?api-version=2021-04-01`,
    {
      location: 'westeurope',
    },
  );
  await h.namespace('sb-al-norole', {}, 'rg-other');
  const nsId = h.nsId('sb-al-norole', 'rg-other');
  const summary = await publishHealth(
    new SandboxClients({}),
    [verdict(nsId, 'healthy')],
    new Date(h.clock.now()),
    {
      log: () => undefined,
    },
  );
  expect(summary.published).toBe(0);
  // Remembered without a sample, so the next assessment tries again (not a "duplicate").
  const state = await blobContainer(new SandboxClients({})).readJson<{
    namespaces: Record<string, { verdict: string; sample?: unknown }>;
  }>(`health/${h.sandbox.subscriptionId}.json`);
  expect(state?.value.namespaces[nsId.toLowerCase()]).toMatchObject({ verdict: 'healthy' });
  expect(state?.value.namespaces[nsId.toLowerCase()]?.sample).toBeUndefined();
  const retry = await publishHealth(
    new SandboxClients({}),
    [verdict(nsId, 'healthy')],
    new Date(h.clock.now()),
    {
      log: () => undefined,
    },
  );
  expect([retry.published, retry.duplicates, retry.refused.length]).toEqual([0, 0, 1]);
  expect(summary.refused.map((r) => [r.namespaceId, r.code])).toEqual([[nsId, 'Forbidden']]);
  expect(summary.refused[0]?.fix).toContain('Monitoring Metrics Publisher');
});

test('managed rules: created once for two ensures, tagged, read back; a foreign rule of that name is left alone', async () => {
  await h.namespace('sb-al-rules');
  const nsId = h.nsId('sb-al-rules');
  const clients = new SandboxClients({ ALERT_RULES: 'managed', ALERT_ACTION_GROUP_ID: actionGroupId });
  const specs = alertRulesFor(nsId, { actionGroupId, heartbeatMinutes: 5 });
  const before = cursor();
  const firstEnsure = await Promise.all(specs.map((s) => ensureAlertRule(clients, s)));
  const secondEnsure = await Promise.all(specs.map((s) => ensureAlertRule(clients, s)));
  expect(firstEnsure.map((o) => o.action)).toEqual(['create', 'create']);
  expect(secondEnsure.map((o) => o.action)).toEqual(['unchanged', 'unchanged']);
  const writes = h.sandbox.control
    .requests({ sinceSeq: before, service: 'arm', writes: 'attempted' })
    .map((r) => `${r.method} ${r.path.split('/').pop()}`);
  expect(writes).toEqual(['PUT cmk-inoperable-sb-al-rules', 'PUT cmk-atrisk-sb-al-rules']);

  const inoperable = await admin.metricAlerts.get(APP_RG, 'cmk-inoperable-sb-al-rules');
  expect(inoperable).toMatchObject({
    tags: { 'cmk-guardian': 'managed' },
    severity: 0,
    enabled: true,
    scopes: [nsId],
    evaluationFrequency: 'PT1M',
    windowSize: 'PT5M',
    autoMitigate: true,
    actions: [{ actionGroupId }],
    criteria: {
      odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
      allOf: [
        expect.objectContaining({
          metricName: 'CmkHealthy',
          metricNamespace: 'CmkGuardian',
          operator: 'LessThan',
          threshold: 1,
          timeAggregation: 'Minimum',
        }),
      ],
    },
  });
  expect((await admin.metricAlerts.get(APP_RG, 'cmk-atrisk-sb-al-rules')).severity).toBe(2);

  // Someone else's rule with the app's name: never overwritten.
  await h.namespace('sb-al-foreign');
  const foreignNs = h.nsId('sb-al-foreign');
  const [spec] = alertRulesFor(foreignNs, { actionGroupId, heartbeatMinutes: 5 });
  await admin.metricAlerts.createOrUpdate(APP_RG, spec!.name, {
    location: 'global',
    severity: 3,
    enabled: true,
    scopes: [foreignNs],
    evaluationFrequency: 'PT5M',
    windowSize: 'PT15M',
    criteria: {
      odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion',
          name: 'x',
          metricName: 'CmkHealthy',
          metricNamespace: 'CmkGuardian',
          operator: 'LessThan',
          threshold: 1,
          timeAggregation: 'Average',
          skipMetricValidation: true,
        },
      ],
    },
  });
  const mark = cursor();
  expect((await ensureAlertRule(clients, spec!)).action).toBe('foreign');
  expect(h.sandbox.control.requests({ sinceSeq: mark, service: 'arm', writes: 'attempted' })).toHaveLength(0);
  expect((await admin.metricAlerts.get(APP_RG, spec!.name)).severity).toBe(3);
});

test('an inoperable verdict reaches the action group (critical), degraded is a warning, recovery resolves both — exact sink counts', async () => {
  await h.namespace('sb-al-e2e');
  const nsId = h.nsId('sb-al-e2e');
  const clients = new SandboxClients({ ALERT_RULES: 'managed', ALERT_ACTION_GROUP_ID: actionGroupId });
  const log = () => undefined;
  const t0 = h.clock.now();
  const beforeSink = (await sinkEntries(h, 'ag-cmk')).length;

  // The key watch's heartbeat: every namespace's verdict every KEY_POLL_MINUTES (5).
  const timeline: Array<'inoperable' | 'degraded' | 'healthy'> = [
    'inoperable',
    'inoperable',
    'degraded',
    'degraded',
    'healthy',
    'healthy',
    'healthy',
  ];
  const counts: number[] = [];
  let rulesWritten = 0;
  for (const v of timeline) {
    const s = await publishHealth(clients, [verdict(nsId, v)], new Date(h.clock.now()), { log });
    rulesWritten += s.rules.filter((r) => r.action === 'create').length;
    for (let m = 0; m < 5; m++) {
      await h.minutes(1);
      counts.push((await sinkEntries(h, 'ag-cmk')).length - beforeSink);
    }
  }
  // Rules ensured once, when the namespace became guarded (first publish), not every cycle.
  expect(rulesWritten).toBe(2);
  const alerts = (await sinkEntries(h, 'ag-cmk'))
    .slice(beforeSink)
    .map((e) => (e.body as CommonAlert).data.essentials)
    .map((e) => [e.alertRule, e.severity, e.monitorCondition, e.firedDateTime, e.resolvedDateTime ?? null]);
  const at = (min: number) => new Date(t0 + min * MINUTE).toISOString();
  // Critical fired at the first evaluation (minute 1); the first degraded sample (minute 10) ends its
  // condition at minute 11 and three clean evaluations resolve it (minute 13). The warning fires at 11
  // (CmkAtRisk 1 at minute 10); the healthy sample at 20 clears it at 21, resolved at 23.
  expect(alerts).toEqual([
    ['cmk-inoperable-sb-al-e2e', 'Sev0', 'Fired', at(1), null],
    ['cmk-atrisk-sb-al-e2e', 'Sev2', 'Fired', at(11), null],
    ['cmk-inoperable-sb-al-e2e', 'Sev0', 'Resolved', at(1), at(13)],
    ['cmk-atrisk-sb-al-e2e', 'Sev2', 'Resolved', at(11), at(23)],
  ]);
  // Sink deliveries after each minute 1..35: critical fired (1), warning fired at 11 (2), critical
  // resolved at 13 (3), warning resolved at 23 (4) — nothing else, ever.
  expect(counts).toEqual([
    ...Array<number>(10).fill(1),
    2,
    2,
    ...Array<number>(10).fill(3),
    ...Array<number>(13).fill(4),
  ]);
});

test('the sandbox refuses a multi-resource metric alert on Service Bus namespaces, as Azure does: nothing stored', async () => {
  const ids = [h.nsId('sb-al-pub'), h.nsId('sb-al-rules')];
  const mark = cursor();
  const error = await admin.metricAlerts
    .createOrUpdate(APP_RG, 'cmk-multi', {
      location: 'global',
      severity: 0,
      enabled: true,
      scopes: ids,
      evaluationFrequency: 'PT1M',
      windowSize: 'PT5M',
      targetResourceType: 'Microsoft.ServiceBus/namespaces',
      targetResourceRegion: 'westeurope',
      criteria: {
        odataType: 'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria',
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion',
            name: 'c',
            metricName: 'CmkHealthy',
            metricNamespace: 'CmkGuardian',
            operator: 'LessThan',
            threshold: 1,
            timeAggregation: 'Minimum',
            skipMetricValidation: true,
          },
        ],
      },
    })
    .then(
      () => undefined,
      (e: { statusCode?: number; code?: string }) => [e.statusCode, e.code],
    );
  expect(error).toEqual([400, 'BadRequest']);
  expect(h.sandbox.control.requests({ sinceSeq: mark, service: 'arm' }).map((r) => r.status)).toEqual([400]);
  const names: string[] = [];
  for await (const r of admin.metricAlerts.listByResourceGroup(APP_RG)) names.push(r.name!);
  expect(names).not.toContain('cmk-multi');
});
