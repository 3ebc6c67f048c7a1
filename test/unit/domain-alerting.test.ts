import {
  alertLevel,
  alertRulesFor,
  decideHealth,
  healthSample,
  regionLabel,
  ruleAction,
  ruleTiming,
  rulesFingerprint,
  type ObservedRule,
  type PublishedHealth,
} from '../../src/domain/alerting';
import type { NamespaceHealth } from '../../src/domain/health';
import type { Finding } from '../../src/domain/preflight';
import { NS_ID, SUB, keyUrl } from './domain-fixtures';

const KEY_A = keyUrl('kv-a', 'cmk');
const KEY_B = keyUrl('kv-b', 'cmk');
const AG = `/subscriptions/${SUB}/resourceGroups/rg-ops/providers/microsoft.insights/actionGroups/ag-ops`;
const T0 = new Date('2026-06-01T10:00:20Z');

const finding = (ruleId: string, fix: string): Finding => ({
  ruleId,
  severity: 'critical',
  blocks: true,
  title: ruleId,
  message: `${ruleId} happened`,
  fix,
  subject: { kind: 'namespace', id: NS_ID },
});

function health(overrides: Partial<NamespaceHealth> = {}): NamespaceHealth {
  return {
    namespaceId: NS_ID,
    location: 'westeurope',
    verdict: 'healthy',
    ruleIds: [],
    usableKeyIds: [KEY_A, KEY_B],
    keyIds: [KEY_A, KEY_B],
    findings: [],
    ...overrides,
  };
}
const inoperable = (): NamespaceHealth =>
  health({
    verdict: 'inoperable',
    ruleIds: ['CMK-010'],
    usableKeyIds: [],
    findings: [finding('CMK-010', 'Restore access'), finding('PRE-001', 'unrelated')],
  });

describe('what a verdict publishes and alerts at', () => {
  it('inoperable is critical (CmkHealthy 0); degraded and at risk are warnings (CmkAtRisk 1); healthy neither', () => {
    expect(healthSample(inoperable())).toEqual({ healthy: 0, atRisk: 0 });
    expect(healthSample(health({ verdict: 'degraded', usableKeyIds: [KEY_B] }))).toEqual({
      healthy: 1,
      atRisk: 1,
    });
    expect(healthSample(health({ verdict: 'atRisk', daysToExpiry: 12.7 }))).toEqual({
      healthy: 1,
      atRisk: 1,
      daysToExpiry: 12,
    });
    expect(healthSample(health({ daysToExpiry: 200 }))).toEqual({ healthy: 1, atRisk: 0, daysToExpiry: 200 });
    expect([
      alertLevel('inoperable'),
      alertLevel('degraded'),
      alertLevel('atRisk'),
      alertLevel('healthy'),
    ]).toEqual(['critical', 'warning', 'warning', 'none']);
  });

  it('unknown and not-encrypted publish nothing (no value beats a false one)', () => {
    expect(healthSample(health({ verdict: 'unknown' }))).toBeUndefined();
    expect(healthSample(health({ verdict: 'notEncrypted' }))).toBeUndefined();
  });

  it('region labels: display names and names, nothing else', () => {
    expect(regionLabel('West Europe')).toBe('westeurope');
    expect(regionLabel('westeurope')).toBe('westeurope');
    expect(regionLabel('evil.example.com/x')).toBeUndefined();
    expect(regionLabel(undefined)).toBeUndefined();
  });
});

describe('publish, skip and change', () => {
  it('a new namespace: publish, one change record with the deciding findings and their fixes', () => {
    const d = decideHealth(undefined, inoperable(), T0);
    expect(d.publish).toEqual({ healthy: 0, atRisk: 0 });
    expect(d.change).toEqual({
      event: 'CmkVerdictChanged',
      namespaceId: NS_ID,
      verdict: 'inoperable',
      previousVerdict: null,
      level: 'critical',
      ruleIds: ['CMK-010'],
      keyIds: [KEY_A, KEY_B],
      usableKeyIds: [],
      findings: [{ ruleId: 'CMK-010', message: 'CMK-010 happened', fix: 'Restore access' }],
      at: T0.toISOString(),
    });
    expect(d.next).toMatchObject({ verdict: 'inoperable', minute: Date.parse('2026-06-01T10:00:00Z') });
  });

  it('same values in the same minute bucket: a duplicate — nothing published, logged or written', () => {
    const first = decideHealth(undefined, inoperable(), T0).next!;
    const again = decideHealth(first, inoperable(), new Date('2026-06-01T10:00:59.999Z'));
    expect(again).toEqual({});
  });

  it('the next minute: published again (the heartbeat a stateful alert needs), no change record', () => {
    const first = decideHealth(undefined, inoperable(), T0).next!;
    const later = decideHealth(first, inoperable(), new Date('2026-06-01T10:01:00Z'));
    expect(later.publish).toEqual({ healthy: 0, atRisk: 0 });
    expect(later.change).toBeUndefined();
    expect(later.next?.verdictSince).toBe(T0.toISOString());
  });

  it('a different value in the same minute is news: published and logged', () => {
    const first = decideHealth(undefined, inoperable(), T0).next!;
    const recovered = decideHealth(first, health(), new Date('2026-06-01T10:00:40Z'));
    expect(recovered.publish).toEqual({ healthy: 1, atRisk: 0 });
    expect(recovered.change).toMatchObject({
      verdict: 'healthy',
      previousVerdict: 'inoperable',
      level: 'none',
    });
  });

  it('unknown after inoperable: logged as a change, nothing published, last sample kept', () => {
    const first = decideHealth(undefined, inoperable(), T0).next!;
    const d = decideHealth(first, health({ verdict: 'unknown' }), new Date('2026-06-01T10:05:00Z'));
    expect(d.publish).toBeUndefined();
    expect(d.change).toMatchObject({ verdict: 'unknown', level: 'unpublished' });
    expect(d.next?.sample).toEqual(first.sample);
  });

  it('same verdict, different keys: remembered (written) without a change record', () => {
    const first: PublishedHealth = decideHealth(undefined, health(), T0).next!;
    const d = decideHealth(first, health({ keyIds: [KEY_A] }), T0);
    expect(d.publish).toBeUndefined();
    expect(d.change).toBeUndefined();
    expect(d.next?.keyIds).toEqual([KEY_A]);
  });
});

describe('managed metric alert rules', () => {
  it('two rules per namespace, in its subscription, windows that always hold one heartbeat', () => {
    const rules = alertRulesFor(NS_ID, { actionGroupId: AG, heartbeatMinutes: 5 });
    expect(
      rules.map((r) => [
        r.name,
        r.resourceGroup,
        r.severity,
        r.metricName,
        r.timeAggregation,
        r.operator,
        r.threshold,
      ]),
    ).toEqual([
      ['cmk-inoperable-sb-prod-01', 'rg-cmk', 0, 'CmkHealthy', 'Minimum', 'LessThan', 1],
      ['cmk-atrisk-sb-prod-01', 'rg-cmk', 2, 'CmkAtRisk', 'Maximum', 'GreaterThan', 0],
    ]);
    expect(rules[0]).toMatchObject({
      subscriptionId: SUB,
      scope: NS_ID,
      evaluationFrequency: 'PT1M',
      windowSize: 'PT5M',
      autoMitigate: true,
      tags: { 'cmk-guardian': 'managed' },
    });
    expect(
      alertRulesFor(NS_ID, { actionGroupId: AG, heartbeatMinutes: 5, rulesResourceGroup: 'rg-alerts' })[0]!
        .resourceGroup,
    ).toBe('rg-alerts');
    expect([1, 5, 6, 15, 20, 60].map((m) => ruleTiming(m).windowSize)).toEqual([
      'PT1M',
      'PT5M',
      'PT15M',
      'PT15M',
      'PT30M',
      'PT1H',
    ]);
  });

  it('ensure: create when missing, nothing when equal, update when drifted, never a foreign rule', () => {
    const [spec] = alertRulesFor(NS_ID, { actionGroupId: AG, heartbeatMinutes: 5 });
    const observed: ObservedRule = {
      tags: { 'CMK-Guardian': 'Managed' },
      severity: 0,
      enabled: true,
      scopes: [NS_ID.toLowerCase()],
      evaluationFrequency: 'PT1M',
      windowSize: 'PT5M',
      autoMitigate: true,
      actionGroupIds: [AG.replace('microsoft.insights', 'Microsoft.Insights')],
      criteria: [
        {
          metricName: 'CmkHealthy',
          metricNamespace: 'cmkguardian',
          timeAggregation: 'Minimum',
          operator: 'LessThan',
          threshold: 1,
        },
      ],
    };
    expect(ruleAction(undefined, spec!)).toBe('create');
    expect(ruleAction(observed, spec!)).toBe('unchanged');
    expect(ruleAction({ ...observed, windowSize: 'PT15M' }, spec!)).toBe('update');
    expect(ruleAction({ ...observed, enabled: false }, spec!)).toBe('update');
    expect(ruleAction({ ...observed, actionGroupIds: [] }, spec!)).toBe('update');
    expect(ruleAction({ ...observed, tags: {} }, spec!)).toBe('foreign');
  });

  it('the fingerprint changes with what the rules depend on (action group, window), not with the namespace state', () => {
    const a = rulesFingerprint(alertRulesFor(NS_ID, { actionGroupId: AG, heartbeatMinutes: 5 }));
    expect(
      rulesFingerprint(
        alertRulesFor(NS_ID, {
          actionGroupId: AG.toUpperCase().replace('/SUBSCRIPTIONS', '/subscriptions'),
          heartbeatMinutes: 5,
        }),
      ),
    ).toBe(a);
    expect(rulesFingerprint(alertRulesFor(NS_ID, { actionGroupId: AG, heartbeatMinutes: 15 }))).not.toBe(a);
    expect(
      rulesFingerprint(
        alertRulesFor(NS_ID, { actionGroupId: AG.replace('ag-ops', 'ag-2'), heartbeatMinutes: 5 }),
      ),
    ).not.toBe(a);
  });
});
