/**
 * Near expiry and expiry on the clock, end to end (issue 12 item 3): a key expiring in 30 days and
 * 10 minutes — Key Vault's default Notify fires KeyNearExpiry 30 days before — used alone by two
 * namespaces and beside a second key by a third; a fourth namespace uses only the other key. The app
 * reacts to the events (assessKeyImpact → the shared assessment → custom metrics), the metric alert
 * rules infra deploys (ALERT_RULES=external, the shape README gives) fire, and the action group's
 * webhook receiver (the sandbox sink) gets a warning, then a critical alert — for exactly the affected
 * namespaces; the one with a second usable key is degraded, not inoperable.
 *
 * Time: KEY_POLL_MINUTES=60, so the app's key watch (which re-assesses and publishes every namespace
 * each cycle) runs on the hour only; both events happen between two cycles, so the alerts can only come
 * from the reactions. After the warning the key's expiry is moved to 5 minutes ahead (a real attribute
 * update) instead of advancing 30 days of clock: Key Vault then fires KeyExpired at that time.
 */
import { startLocalEstate } from '../support/localEstate';
import { ReactionsEstate } from './reactions-support';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
let e: ReactionsEstate;
let actionGroupId: string;
const NAMES = ['sb-exp-one', 'sb-exp-two', 'sb-exp-dual', 'sb-exp-other'];

interface SinkEntry {
  body: {
    data: {
      essentials: { alertRule: string; severity: string; monitorCondition: string; alertTargetIDs: string[] };
    };
  };
}

beforeAll(async () => {
  e = await new ReactionsEstate(
    await startLocalEstate({
      env: {
        KEY_POLL_MINUTES: '60',
        UPTAKE_DEADLINE_MINUTES: '120',
        KEY_EXPIRY_WARNING_DAYS: '31',
        ALERT_RULES: 'external',
      },
    }),
  ).setup();
  await e.rotatableVault('kv-exp');
  await e.key('kv-exp', 'k-exp');
  await e.key('kv-exp', 'k-safe');
  await e.cmkNamespace('sb-exp-one', 'kv-exp', 'k-exp');
  await e.cmkNamespace('sb-exp-two', 'kv-exp', 'k-exp');
  const dual = await e.namespace('sb-exp-dual');
  const enabled = await e.enable({
    namespaceId: dual,
    keys: [{ keyId: e.keyId('kv-exp', 'k-exp') }, { keyId: e.keyId('kv-exp', 'k-safe') }],
  });
  if (enabled.op.output?.outcome !== 'enabled') throw new Error(JSON.stringify(enabled.op.output));
  await e.cmkNamespace('sb-exp-other', 'kv-exp', 'k-safe');
  await e.subscribeApp('kv-exp');
  actionGroupId = `${e.rgId()}/providers/Microsoft.Insights/actionGroups/ag-ops`;
  await e.arm('PUT', `${actionGroupId}?api-version=2021-09-01`, {
    location: 'Global',
    properties: {
      groupShortName: 'ops',
      enabled: true,
      webhookReceivers: [
        { name: 'sink', serviceUri: `${e.estate.azure.url}/_sandbox/sink/ops`, useCommonAlertSchema: true },
      ],
    },
  });
  await deployRules();
  // To one minute past the hour (the key watch's cycle has just run), then the key gets its expiry
  // (a real attribute update): Key Vault's default Notify (30 days before) is due in 10 minutes.
  const now = await clockNow();
  await e.advance(Math.ceil((now + 1) / HOUR) * HOUR + MINUTE - now);
  await setExpiry((await clockNow()) + 30 * DAY + 10 * MINUTE);
}, 120_000);

const HOUR = 60 * MINUTE;
async function setExpiry(at: number): Promise<void> {
  const version = await e.currentVersion('kv-exp', 'k-exp');
  await e.kv('PATCH', 'kv-exp', `keys/k-exp/${version}`, { attributes: { exp: Math.floor(at / 1000) } });
}
const clockNow = async (): Promise<number> =>
  (await e.estate.azure.control<{ nowMs: number }>('GET', '/clock')).body.nowMs;

afterAll(async () => e?.estate.stop());

/** The two rules per namespace infra deploys with ALERT_RULES=external (README "Alerts"). */
async function deployRules(): Promise<void> {
  for (const name of NAMES) {
    const rule = (
      rule: string,
      severity: number,
      metricName: string,
      operator: string,
      threshold: number,
      timeAggregation: string,
    ) =>
      e.arm(
        'PUT',
        `${e.rgId()}/providers/Microsoft.Insights/metricAlerts/${rule}-${name}?api-version=2018-03-01`,
        {
          location: 'global',
          properties: {
            severity,
            enabled: true,
            scopes: [e.nsId(name)],
            evaluationFrequency: 'PT1M',
            windowSize: 'PT5M',
            criteria: {
              'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
              allOf: [
                {
                  criterionType: 'StaticThresholdCriterion',
                  name: 'c1',
                  metricName,
                  metricNamespace: 'CmkGuardian',
                  operator,
                  threshold,
                  timeAggregation,
                  skipMetricValidation: true,
                },
              ],
            },
            autoMitigate: true,
            actions: [{ actionGroupId }],
          },
        },
      );
    await rule('cmk-inoperable', 0, 'CmkHealthy', 'LessThan', 1, 'Minimum');
    await rule('cmk-atrisk', 2, 'CmkAtRisk', 'GreaterThan', 0, 'Maximum');
  }
}

async function fired(since: number): Promise<string[]> {
  const entries = (await e.estate.azure.control<SinkEntry[]>('GET', `/sink/ops?since=${since}`)).body;
  return entries
    .map((s) => s.body.data.essentials)
    .filter((x) => x.monitorCondition === 'Fired')
    .map((x) => `${x.severity} ${x.alertRule}`)
    .sort();
}

async function sinkSeq(): Promise<number> {
  const entries = (await e.estate.azure.control<Array<{ seq: number }>>('GET', '/sink/ops')).body;
  return entries.reduce((m, x) => Math.max(m, x.seq), 0);
}

async function impact(kind: string): Promise<Record<string, string>> {
  const op = (await e.instances('assessKeyImpact')).find(
    (i) => (i.output as { kind?: string } | null)?.kind === kind,
  );
  const out = op?.output as
    { impacts: Array<{ namespaces: Array<{ namespaceId: string; verdict: string }> }> } | undefined;
  return Object.fromEntries(
    (out?.impacts[0]?.namespaces ?? []).map((n) => [n.namespaceId.split('/').pop()!, n.verdict]),
  );
}

it('KeyNearExpiry: a warning for exactly the three namespaces that use the key, naming whether another key remains', async () => {
  const since = await sinkSeq();
  await e.advance(20 * MINUTE);
  expect(await impact('KeyNearExpiry')).toEqual({
    'sb-exp-dual': 'atRisk',
    'sb-exp-one': 'atRisk',
    'sb-exp-two': 'atRisk',
  });
  expect(await fired(since)).toEqual([
    'Sev2 cmk-atrisk-sb-exp-dual',
    'Sev2 cmk-atrisk-sb-exp-one',
    'Sev2 cmk-atrisk-sb-exp-two',
  ]);
});

it('KeyExpired: critical for the two with no other key, degraded (no critical) for the one with a second key, nothing for the fourth', async () => {
  const since = await sinkSeq();
  await setExpiry((await clockNow()) + 5 * MINUTE);
  await e.advance(10 * MINUTE);
  expect(await impact('KeyExpired')).toEqual({
    'sb-exp-dual': 'degraded',
    'sb-exp-one': 'inoperable',
    'sb-exp-two': 'inoperable',
  });
  // Critical for the two, a warning — not critical — for the degraded one (its near-expiry warning had
  // resolved meanwhile: a metric window without samples is "condition not met" until the next cycle).
  expect(await fired(since)).toEqual([
    'Sev0 cmk-inoperable-sb-exp-one',
    'Sev0 cmk-inoperable-sb-exp-two',
    'Sev2 cmk-atrisk-sb-exp-dual',
  ]);
  const clock = new Date(await clockNow());
  expect(clock.getUTCMinutes()).toBeLessThan(59); // both events fell between two key-watch cycles
});
