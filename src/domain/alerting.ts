/**
 * The alert path's decisions (docs/ARCHITECTURE.md "Alerting"), pure: which metric values a verdict
 * publishes, which severity it alerts at, whether a publish is a duplicate, whether the verdict changed
 * (one log record per change), and the managed metric alert rules. The I/O is in
 * src/azure/healthPublisher.ts and src/azure/alertRules.ts.
 *
 * Signals, on the namespace resource, metric namespace `CmkGuardian`, no dimensions:
 * - `CmkHealthy` 1/0: 0 = inoperable (no usable key) → the critical rule (Minimum < 1).
 * - `CmkAtRisk` 1/0: 1 = the namespace works but needs action (degraded: a key is unusable while another
 *   remains; atRisk: a key expires within the warning window) → the warning rule (Maximum > 0). A metric
 *   of its own rather than a dimension of CmkHealthy, so both series carry an explicit value every time
 *   and a verdict moving between levels resolves one alert and fires the other without relying on how
 *   a rule treats a dimension value that stopped reporting.
 * - `CmkKeyDaysToExpiry`: whole days until the first usable key expires (only when one has an expiry).
 * `unknown` (could not assess) and `notEncrypted` publish nothing: no value is better than a false one.
 */
import type { NamespaceHealth } from './health';
import type { CmkVerdict } from './preflight';
import { parseServiceBusNamespaceId, resourceIdKey } from './resourceIds';

export const METRIC_NAMESPACE = 'CmkGuardian';
export const METRICS = {
  healthy: 'CmkHealthy',
  atRisk: 'CmkAtRisk',
  daysToExpiry: 'CmkKeyDaysToExpiry',
} as const;

/** The values one assessment publishes. */
export interface HealthSample {
  healthy: 0 | 1;
  atRisk: 0 | 1;
  daysToExpiry?: number;
}

export type AlertLevel = 'critical' | 'warning' | 'none';

/** Azure Monitor severities: Sev0 Critical, Sev2 Warning. */
export const SEVERITY: Record<Exclude<AlertLevel, 'none'>, 0 | 2> = { critical: 0, warning: 2 };

/** What a verdict alerts at; undefined when no verdict can be published (unknown, not encrypted). */
export function alertLevel(verdict: CmkVerdict): AlertLevel | undefined {
  switch (verdict) {
    case 'inoperable':
      return 'critical';
    case 'degraded':
    case 'atRisk':
      return 'warning';
    case 'healthy':
      return 'none';
    case 'unknown':
    case 'notEncrypted':
      return undefined;
  }
}

/** The metric values of one assessment, or undefined when nothing is published. */
export function healthSample(health: NamespaceHealth): HealthSample | undefined {
  const level = alertLevel(health.verdict);
  if (level === undefined) return undefined;
  const sample: HealthSample = {
    healthy: level === 'critical' ? 0 : 1,
    atRisk: level === 'warning' ? 1 : 0,
  };
  if (health.daysToExpiry !== undefined && Number.isFinite(health.daysToExpiry))
    sample.daysToExpiry = Math.floor(health.daysToExpiry);
  return sample;
}

export const MINUTE_MS = 60_000;
/** Azure Monitor keeps metrics in one-minute buckets; alert rules evaluate whole buckets. */
export const minuteOf = (at: Date): number => Math.floor(at.getTime() / MINUTE_MS) * MINUTE_MS;

/** What the app remembers per namespace (in its storage account) between assessments. */
export interface PublishedHealth {
  namespaceId: string;
  verdict: CmkVerdict;
  ruleIds: string[];
  keyIds: string[];
  usableKeyIds: string[];
  /** When the verdict became the current one (ISO). */
  verdictSince: string;
  /** The last sample published and the minute bucket (ms) it went to. */
  sample?: HealthSample;
  minute?: number;
  /** Fingerprint of the managed alert rules last ensured for this namespace. */
  rules?: string;
}

/** One structured log record per verdict change. */
export interface VerdictChange {
  event: 'CmkVerdictChanged';
  namespaceId: string;
  verdict: CmkVerdict;
  previousVerdict: CmkVerdict | null;
  level: AlertLevel | 'unpublished';
  ruleIds: string[];
  keyIds: string[];
  usableKeyIds: string[];
  inoperableWithinMinutes?: number;
  /** The findings of the deciding rules, with the fix for each. */
  findings: Array<{ ruleId: string; message: string; fix: string; command?: string }>;
  at: string;
}

export interface HealthDecision {
  /** The sample to publish now; undefined when nothing is published (duplicate, or no verdict). */
  publish?: HealthSample;
  /** Set when the verdict differs from the remembered one (or the namespace is new). */
  change?: VerdictChange;
  /** The entry to remember; undefined when nothing changed (no write needed). */
  next?: PublishedHealth;
}

const sameSample = (a: HealthSample | undefined, b: HealthSample | undefined): boolean =>
  a !== undefined &&
  b !== undefined &&
  a.healthy === b.healthy &&
  a.atRisk === b.atRisk &&
  a.daysToExpiry === b.daysToExpiry;

/**
 * Publish or skip, change or not. A duplicate is the same values for the same namespace in the same
 * one-minute bucket: the bucket is the metric's grain, so a second identical point there changes no
 * Minimum/Maximum a rule evaluates and only inflates Count/Sum. A later minute is a new point (the
 * heartbeat a stateful alert needs to stay fired), and a different value in the same minute is news.
 */
export function decideHealth(
  previous: PublishedHealth | undefined,
  health: NamespaceHealth,
  at: Date,
): HealthDecision {
  const sample = healthSample(health);
  const minute = minuteOf(at);
  const duplicate = previous?.minute === minute && sameSample(previous.sample, sample);
  const changed = previous === undefined || previous.verdict !== health.verdict;
  const publish = sample !== undefined && !duplicate ? sample : undefined;
  const decision: HealthDecision = {};
  if (publish) decision.publish = publish;
  if (changed) decision.change = verdictChange(previous, health, at);
  const facts = {
    ruleIds: [...health.ruleIds],
    keyIds: [...health.keyIds],
    usableKeyIds: [...health.usableKeyIds],
  };
  const factsChanged =
    previous !== undefined &&
    (!sameList(previous.ruleIds, facts.ruleIds) ||
      !sameList(previous.keyIds, facts.keyIds) ||
      !sameList(previous.usableKeyIds, facts.usableKeyIds));
  if (publish || changed || factsChanged) {
    decision.next = {
      ...(previous ?? {}),
      namespaceId: health.namespaceId,
      verdict: health.verdict,
      ...facts,
      verdictSince: changed ? at.toISOString() : previous.verdictSince,
      ...(publish ? { sample: publish, minute } : {}),
    };
  }
  return decision;
}

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x.toLowerCase() === b[i]?.toLowerCase());

function verdictChange(
  previous: PublishedHealth | undefined,
  health: NamespaceHealth,
  at: Date,
): VerdictChange {
  const deciding = health.findings.filter((f) => health.ruleIds.includes(f.ruleId));
  return {
    event: 'CmkVerdictChanged',
    namespaceId: health.namespaceId,
    verdict: health.verdict,
    previousVerdict: previous?.verdict ?? null,
    level: alertLevel(health.verdict) ?? 'unpublished',
    ruleIds: [...health.ruleIds],
    keyIds: [...health.keyIds],
    usableKeyIds: [...health.usableKeyIds],
    ...(health.inoperableWithinMinutes !== undefined
      ? { inoperableWithinMinutes: health.inoperableWithinMinutes }
      : {}),
    findings: deciding.map((f) => ({
      ruleId: f.ruleId,
      message: f.message,
      fix: f.fix,
      ...(f.command !== undefined ? { command: f.command } : {}),
    })),
    at: at.toISOString(),
  };
}

/** The key a namespace is remembered under (ARM ids are case-insensitive). */
export const healthKey = (namespaceId: string): string => resourceIdKey(namespaceId);

/** `westeurope` from `West Europe` / `westeurope` (the regional ingestion host's label). */
export function regionLabel(location: string | undefined): string | undefined {
  const label = location?.replace(/\s+/g, '').toLowerCase();
  return label && /^[a-z0-9]+$/.test(label) ? label : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Metric alert rules (ALERT_RULES=managed, and the shape README gives infra for `external`)
// ---------------------------------------------------------------------------------------------------

export const MANAGED_TAG = { name: 'cmk-guardian', value: 'managed' } as const;

/** One metric alert rule on one namespace, in Azure's terms (Microsoft.Insights/metricAlerts 2018-03-01). */
export interface AlertRuleSpec {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  description: string;
  severity: 0 | 2;
  scope: string;
  evaluationFrequency: string;
  windowSize: string;
  metricName: string;
  metricNamespace: string;
  timeAggregation: 'Minimum' | 'Maximum';
  operator: 'LessThan' | 'GreaterThan';
  threshold: number;
  autoMitigate: true;
  actionGroupId: string;
  tags: Record<string, string>;
}

/** Window sizes Azure accepts for metric alerts, in minutes. */
const WINDOWS: ReadonlyArray<[number, string]> = [
  [1, 'PT1M'],
  [5, 'PT5M'],
  [15, 'PT15M'],
  [30, 'PT30M'],
  [60, 'PT1H'],
  [360, 'PT6H'],
];

/**
 * Evaluated every minute over the smallest window that always holds one heartbeat (the key watch
 * republishes every namespace every `heartbeatMinutes`): a window without data counts as "condition
 * not met", and three of those in a row would resolve a real alert.
 */
export function ruleTiming(heartbeatMinutes: number): { evaluationFrequency: string; windowSize: string } {
  const window = WINDOWS.find(([m]) => m >= heartbeatMinutes)?.[1] ?? 'PT6H';
  return { evaluationFrequency: 'PT1M', windowSize: window };
}

/**
 * The two rules a guarded namespace gets: critical on inoperable, warning on at risk. One rule per
 * namespace because Azure's multi-resource metric alerts do not cover Microsoft.ServiceBus/namespaces.
 * The rules live in the namespace's subscription, in `rulesResourceGroup` or the namespace's own group.
 */
export function alertRulesFor(
  namespaceId: string,
  options: { actionGroupId: string; rulesResourceGroup?: string; heartbeatMinutes: number },
): AlertRuleSpec[] {
  const ns = parseServiceBusNamespaceId(namespaceId);
  const base = {
    subscriptionId: ns.subscriptionId,
    resourceGroup: options.rulesResourceGroup ?? ns.resourceGroup,
    scope: ns.id,
    ...ruleTiming(options.heartbeatMinutes),
    metricNamespace: METRIC_NAMESPACE,
    autoMitigate: true as const,
    actionGroupId: options.actionGroupId,
    tags: { [MANAGED_TAG.name]: MANAGED_TAG.value },
  };
  return [
    {
      ...base,
      name: `cmk-inoperable-${ns.name}`,
      description: `CMK Guardian: ${ns.name} has no usable customer-managed key (queues and topics are unavailable). The app's log record CmkVerdictChanged names the rule and the fix.`,
      severity: SEVERITY.critical,
      metricName: METRICS.healthy,
      timeAggregation: 'Minimum',
      operator: 'LessThan',
      threshold: 1,
    },
    {
      ...base,
      name: `cmk-atrisk-${ns.name}`,
      description: `CMK Guardian: ${ns.name} still works but a customer-managed key is unusable or expiring. The app's log record CmkVerdictChanged names the rule and the fix.`,
      severity: SEVERITY.warning,
      metricName: METRICS.atRisk,
      timeAggregation: 'Maximum',
      operator: 'GreaterThan',
      threshold: 0,
    },
  ];
}

/** The parts of an existing rule the app compares (read back from Azure by the gateway). */
export interface ObservedRule {
  tags: Record<string, string>;
  severity: number;
  enabled: boolean;
  scopes: string[];
  evaluationFrequency: string;
  windowSize: string;
  autoMitigate: boolean;
  actionGroupIds: string[];
  criteria: Array<{
    metricName: string;
    metricNamespace?: string;
    timeAggregation: string;
    operator: string;
    threshold: number;
  }>;
}

export type RuleAction = 'create' | 'update' | 'unchanged' | 'foreign';

/**
 * What ensuring a rule does. `foreign`: a rule of that name exists without the app's tag — someone
 * else's, never overwritten. An unchanged rule is not rewritten: a rewrite restarts the rule's
 * evaluation (and, in Azure, may re-notify an active alert [U]).
 */
export function ruleAction(existing: ObservedRule | undefined, desired: AlertRuleSpec): RuleAction {
  if (!existing) return 'create';
  const tag = Object.entries(existing.tags).find(([k]) => k.toLowerCase() === MANAGED_TAG.name)?.[1];
  if (tag?.toLowerCase() !== MANAGED_TAG.value) return 'foreign';
  const c = existing.criteria;
  const same =
    existing.severity === desired.severity &&
    existing.enabled &&
    existing.scopes.length === 1 &&
    resourceIdKey(existing.scopes[0]!) === resourceIdKey(desired.scope) &&
    existing.evaluationFrequency === desired.evaluationFrequency &&
    existing.windowSize === desired.windowSize &&
    existing.autoMitigate === desired.autoMitigate &&
    existing.actionGroupIds.length === 1 &&
    resourceIdKey(existing.actionGroupIds[0]!) === resourceIdKey(desired.actionGroupId) &&
    c.length === 1 &&
    c[0]!.metricName === desired.metricName &&
    (c[0]!.metricNamespace ?? '').toLowerCase() === desired.metricNamespace.toLowerCase() &&
    c[0]!.timeAggregation.toLowerCase() === desired.timeAggregation.toLowerCase() &&
    c[0]!.operator.toLowerCase() === desired.operator.toLowerCase() &&
    c[0]!.threshold === desired.threshold;
  return same ? 'unchanged' : 'update';
}

/** A short fingerprint of the desired rules (remembered per namespace: ensure once, again on change). */
export function rulesFingerprint(rules: readonly AlertRuleSpec[]): string {
  return rules
    .map((r) =>
      [
        r.name,
        r.resourceGroup,
        r.severity,
        r.windowSize,
        r.evaluationFrequency,
        resourceIdKey(r.actionGroupId),
      ].join(':'),
    )
    .join('|');
}
