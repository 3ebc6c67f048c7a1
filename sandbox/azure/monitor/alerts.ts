import { createHash, randomUUID } from 'node:crypto';
import type { Cancel } from '../../clock';
import type { SandboxCore } from '../core';
import { parseIsoDuration } from '../control';
import type { AuditLog } from './auditLog';
import { compileQuery } from './kql';
import { aggregate, MINUTE, splitBuckets, type Aggregation, type MetricStore } from './metrics';
import type { WebhookDelivery } from './sink';

/**
 * Alert rules on the sandbox clock and the action groups they notify.
 *
 * - Metric alerts (static thresholds): evaluated every `evaluationFrequency` over the last `windowSize`
 *   of one-minute buckets; one alert instance per scope and dimension combination. Stateful
 *   (`autoMitigate`, default true): Fired once when the condition becomes true, Resolved once after it
 *   was false for three consecutive evaluations (Azure's documented resolution rule). Stateless
 *   (`autoMitigate: false`): Fired at every evaluation that meets the condition, never Resolved.
 * - Log alerts over the Key Vault audit log (scheduledQueryRules): the legacy 2018-04-16 shape
 *   (stateless, "Number of results") and the LogAlert shape of 2021-08-01 and later (stateful with
 *   `autoMitigate`). Queries outside the evaluated subset (kql.ts) are stored and never fire.
 * - Action groups: each enabled webhook receiver gets one POST per notification, in the common alert
 *   schema when `useCommonAlertSchema` is true, else the rule type's own schema.
 */
export const ACTION_GROUPS = 'monitorActionGroups';
export const METRIC_ALERTS = 'monitorMetricAlerts';
export const LOG_ALERTS = 'monitorLogAlerts';
const ALERT_STATE = 'monitorAlertState';

export interface WebhookReceiver {
  name: string;
  serviceUri: string;
  useCommonAlertSchema?: boolean;
  useAadAuth?: boolean;
  objectId?: string;
  identifierUri?: string;
  tenantId?: string;
  status?: string;
}

export interface ActionGroupRecord {
  id: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  properties: {
    groupShortName: string;
    enabled: boolean;
    webhookReceivers: WebhookReceiver[];
    /** Other receiver kinds are stored and echoed, not notified (offline). */
    other: Record<string, unknown[]>;
  };
}

export interface StaticCriterion {
  criterionType: 'StaticThresholdCriterion' | 'DynamicThresholdCriterion';
  name: string;
  metricName: string;
  metricNamespace?: string;
  operator?: string;
  threshold?: number;
  timeAggregation: Aggregation;
  dimensions?: Array<{ name: string; operator: 'Include' | 'Exclude'; values: string[] }>;
  skipMetricValidation?: boolean;
}

export interface MetricAlertRecord {
  id: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  createdAt: number;
  lastUpdatedTime: number;
  properties: {
    description?: string;
    severity: number;
    enabled: boolean;
    scopes: string[];
    evaluationFrequency: string;
    windowSize: string;
    targetResourceType?: string;
    targetResourceRegion?: string;
    criteria: { 'odata.type': string; allOf: StaticCriterion[] };
    autoMitigate: boolean;
    actions: Array<{ actionGroupId: string; webHookProperties?: Record<string, string> }>;
  };
}

export interface LogAlertRecord {
  id: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  /** 'legacy' = 2018-04-16 LogSearchRuleResource; 'LogAlert' = 2021-08-01 and later. */
  shape: 'legacy' | 'LogAlert';
  createdAt: number;
  lastUpdatedTime: number;
  /** The body as the client wrote it (echoed back with read-only properties added). */
  properties: Record<string, unknown>;
  /** Normalised evaluation settings. */
  eval: {
    enabled: boolean;
    query: string;
    /** Workspace id, or a resource id for a resource-centric rule. */
    scope: string;
    frequencyMs: number;
    windowMs: number;
    operator: string;
    threshold: number;
    severity: number;
    actionGroups: string[];
    customProperties?: Record<string, string>;
    stateful: boolean;
    /** Why the sandbox does not evaluate the query (stored, never fires). */
    notEvaluated?: string;
  };
}

interface AlertState {
  fired: boolean;
  alertId: string;
  firedAt: number;
  healthy: number;
}

const sev = (n: number): string => `Sev${n}`;
const iso = (ms: number): string => new Date(ms).toISOString();

function compare(operator: string, value: number, threshold: number): boolean {
  switch (operator.toLowerCase()) {
    case 'greaterthan':
      return value > threshold;
    case 'greaterthanorequal':
      return value >= threshold;
    case 'lessthan':
      return value < threshold;
    case 'lessthanorequal':
      return value <= threshold;
    case 'equals':
    case 'equal':
      return value === threshold;
    default:
      return false;
  }
}

export class AlertEngine {
  private readonly timers = new Map<string, Cancel>();

  constructor(
    private readonly core: SandboxCore,
    private readonly metrics: MetricStore,
    private readonly audit: AuditLog,
    private readonly delivery: WebhookDelivery,
  ) {}

  // ---- scheduling -----------------------------------------------------------------------------------

  /** (Re)arms a rule's evaluations: every frequency from its creation (or last update). */
  arm(kind: 'metric' | 'log', id: string): void {
    this.disarm(id);
    const rule =
      kind === 'metric'
        ? this.core.store.get<MetricAlertRecord>(METRIC_ALERTS, id)
        : this.core.store.get<LogAlertRecord>(LOG_ALERTS, id);
    if (!rule) return;
    const frequency =
      kind === 'metric'
        ? parseIsoDuration((rule as MetricAlertRecord).properties.evaluationFrequency)
        : (rule as LogAlertRecord).eval.frequencyMs;
    const since = rule.lastUpdatedTime;
    const now = this.core.clock.now();
    const next = since + Math.max(1, Math.ceil((now - since + 1) / frequency)) * frequency;
    const cancel = this.core.clock.schedule(
      next,
      async () => {
        this.timers.delete(id.toLowerCase());
        if (kind === 'metric') await this.evaluateMetricAlert(id, next);
        else await this.evaluateLogAlert(id, next);
        this.arm(kind, id);
      },
      `monitor ${kind} alert ${rule.name}`,
    );
    this.timers.set(id.toLowerCase(), cancel);
  }

  disarm(id: string): void {
    this.timers.get(id.toLowerCase())?.();
    this.timers.delete(id.toLowerCase());
  }

  forget(id: string): void {
    this.disarm(id);
    this.core.store.deletePrefix(ALERT_STATE, `${id}|`);
  }

  stopAll(): void {
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
  }

  resume(): void {
    for (const r of this.core.store.list<MetricAlertRecord>(METRIC_ALERTS)) this.arm('metric', r.id);
    for (const r of this.core.store.list<LogAlertRecord>(LOG_ALERTS)) this.arm('log', r.id);
  }

  // ---- metric alerts --------------------------------------------------------------------------------

  async evaluateMetricAlert(id: string, at: number): Promise<void> {
    const rule = this.core.store.get<MetricAlertRecord>(METRIC_ALERTS, id);
    if (!rule || !rule.properties.enabled) return;
    const p = rule.properties;
    const end = Math.floor(at / MINUTE) * MINUTE;
    const start = end - parseIsoDuration(p.windowSize);
    const criteria = p.criteria.allOf.filter((c) => c.criterionType === 'StaticThresholdCriterion');
    if (criteria.length === 0 || criteria.length !== p.criteria.allOf.length) return; // dynamic: stored only
    for (const scope of p.scopes) {
      // One criterion: an instance per dimension combination; several: one instance per scope.
      const split = criteria.length === 1;
      const perCriterion = criteria.map((c) => {
        const ns = c.metricNamespace ?? p.targetResourceType ?? '';
        const filter = (c.dimensions ?? []).map((d) => ({
          name: d.name,
          values: d.values,
          exclude: d.operator === 'Exclude',
        }));
        const groups = splitBuckets(this.metrics.buckets(scope, ns, c.metricName, start, end), filter);
        return { c, ns, groups };
      });
      const instances = new Map<
        string,
        { dims: Record<string, string>; values: Array<number | undefined> }
      >();
      if (split) {
        const only = perCriterion[0]!;
        for (const [key, g] of only.groups)
          instances.set(key, { dims: g.dims, values: [aggregate(g.buckets, only.c.timeAggregation)] });
      } else {
        instances.set('', {
          dims: {},
          values: perCriterion.map((pc) =>
            aggregate(
              [...pc.groups.values()].flatMap((g) => g.buckets),
              pc.c.timeAggregation,
            ),
          ),
        });
      }
      // Instances that fired before but have no data now are evaluated as "condition not met".
      for (const state of this.core.store.entries<AlertState>(ALERT_STATE, `${rule.id}|${scope}|`)) {
        const key = state[0].slice(`${rule.id}|${scope}|`.length);
        if (!instances.has(key.toLowerCase()) && !instances.has(key))
          instances.set(key, { dims: dimsFromKey(key), values: criteria.map(() => undefined) });
      }
      for (const [key, inst] of instances) {
        const met = criteria.every((c, i) => {
          const v = inst.values[i];
          return v !== undefined && compare(c.operator ?? '', v, c.threshold ?? 0);
        });
        await this.transition(
          rule.id,
          `${scope}|${key}`,
          met,
          p.autoMitigate,
          at,
          (condition, state) =>
            this.metricPayload(
              rule,
              scope,
              inst.dims,
              perCriterion.map((pc) => pc.c),
              inst.values,
              start,
              end,
              condition,
              state,
            ),
          p.actions.map((a) => a.actionGroupId),
          p.actions[0]?.webHookProperties,
        );
      }
    }
  }

  /** Applies the state machine for one alert instance and notifies on a change. */
  private async transition(
    ruleId: string,
    instance: string,
    met: boolean,
    stateful: boolean,
    at: number,
    payload: (condition: 'Fired' | 'Resolved', state: AlertState) => { common: unknown; legacy: unknown },
    actionGroups: string[],
    customProperties?: Record<string, string>,
  ): Promise<void> {
    const key = `${ruleId}|${instance}`;
    const state = this.core.store.get<AlertState>(ALERT_STATE, key);
    if (!stateful) {
      if (met)
        await this.notify(
          actionGroups,
          payload('Fired', { fired: true, alertId: randomUUID(), firedAt: at, healthy: 0 }),
          customProperties,
        );
      return;
    }
    if (met) {
      if (state?.fired) {
        if (state.healthy !== 0) this.core.store.put(ALERT_STATE, key, { ...state, healthy: 0 });
        return;
      }
      const next: AlertState = { fired: true, alertId: randomUUID(), firedAt: at, healthy: 0 };
      this.core.store.put(ALERT_STATE, key, next);
      await this.notify(actionGroups, payload('Fired', next), customProperties);
      return;
    }
    if (!state?.fired) return;
    const healthy = state.healthy + 1;
    if (healthy < 3) {
      this.core.store.put(ALERT_STATE, key, { ...state, healthy });
      return;
    }
    this.core.store.delete(ALERT_STATE, key);
    await this.notify(actionGroups, payload('Resolved', state), customProperties);
  }

  private essentials(
    rule: { id: string; name: string },
    signalType: 'Metric' | 'Log',
    monitoringService: string,
    severity: number,
    targets: string[],
    condition: 'Fired' | 'Resolved',
    state: AlertState,
    description: string,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> {
    const sub = /^\/subscriptions\/([^/]+)/i.exec(rule.id)?.[1] ?? '';
    const rg = /\/resourceGroups\/([^/]+)/i.exec(rule.id)?.[1] ?? '';
    const hash = createHash('sha256')
      .update(`${rule.id}|${targets.join(',')}`)
      .digest('hex')
      .slice(0, 64);
    return {
      alertId: `/subscriptions/${sub}/providers/Microsoft.AlertsManagement/alerts/${state.alertId}`,
      alertRule: rule.name,
      severity: sev(severity),
      signalType,
      monitorCondition: condition,
      monitoringService,
      alertTargetIDs: targets.map((t) => t.toLowerCase()),
      configurationItems: targets.map((t) => t.split('/').pop() ?? t),
      originAlertId: `${sub}_${rg}_microsoft.insights_${signalType === 'Metric' ? 'metricAlerts' : 'scheduledqueryrules'}_${rule.name}_${hash}`,
      firedDateTime: iso(state.firedAt),
      ...(condition === 'Resolved' ? { resolvedDateTime: iso(this.core.clock.now()) } : {}),
      description,
      essentialsVersion: '1.0',
      alertContextVersion: '1.0',
      ...extra,
    };
  }

  private metricPayload(
    rule: MetricAlertRecord,
    scope: string,
    dims: Record<string, string>,
    criteria: StaticCriterion[],
    values: Array<number | undefined>,
    start: number,
    end: number,
    condition: 'Fired' | 'Resolved',
    state: AlertState,
  ): { common: unknown; legacy: unknown } {
    const p = rule.properties;
    const conditionType =
      p.scopes.length > 1 || p.criteria['odata.type'].endsWith('MultipleResourceMultipleMetricCriteria')
        ? 'MultipleResourceMultipleMetricCriteria'
        : 'SingleResourceMultipleMetricCriteria';
    const allOf = criteria.map((c, i) => ({
      metricName: c.metricName,
      metricNamespace: c.metricNamespace ?? p.targetResourceType ?? '',
      operator: c.operator,
      threshold: String(c.threshold),
      timeAggregation: c.timeAggregation,
      dimensions: Object.entries(dims).map(([name, value]) => ({ name, value })),
      metricValue: values[i] ?? null,
      webTestName: null,
    }));
    const alertCondition = {
      windowSize: p.windowSize,
      allOf,
      windowStartTime: iso(start),
      windowEndTime: iso(end),
    };
    const common = {
      schemaId: 'azureMonitorCommonAlertSchema',
      data: {
        essentials: this.essentials(
          rule,
          'Metric',
          'Platform',
          p.severity,
          [scope],
          condition,
          state,
          p.description ?? '',
        ),
        alertContext: { properties: null, conditionType, condition: alertCondition },
        customProperties: p.actions[0]?.webHookProperties ?? null,
      },
    };
    const parsed =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+\/[^/]+)\/([^/]+)$/i.exec(scope);
    // The metric alert's own schema (AzureMonitorMetricAlert), for receivers without the common schema.
    const legacy = {
      schemaId: 'AzureMonitorMetricAlert',
      data: {
        version: '2.0',
        properties: p.actions[0]?.webHookProperties ?? null,
        status: condition === 'Fired' ? 'Activated' : 'Deactivated',
        context: {
          timestamp: iso(this.core.clock.now()),
          id: rule.id,
          name: rule.name,
          description: p.description ?? '',
          conditionType,
          severity: String(p.severity),
          condition: alertCondition,
          subscriptionId: parsed?.[1] ?? '',
          resourceGroupName: parsed?.[2] ?? '',
          resourceName: parsed?.[4] ?? '',
          resourceType: parsed?.[3] ?? '',
          resourceId: scope,
          portalLink: `${this.core.urls.arm}/#resource${scope}`,
        },
      },
    };
    return { common, legacy };
  }

  // ---- log alerts -----------------------------------------------------------------------------------

  async evaluateLogAlert(id: string, at: number): Promise<void> {
    const rule = this.core.store.get<LogAlertRecord>(LOG_ALERTS, id);
    if (!rule || !rule.eval.enabled || rule.eval.notEvaluated) return;
    const compiled = compileQuery(rule.eval.query);
    if (!compiled.ok) return;
    const e = rule.eval;
    const start = at - e.windowMs;
    const workspaceScoped = /\/providers\/Microsoft\.OperationalInsights\/workspaces\//i.test(e.scope);
    const rows = this.audit
      .rows(workspaceScoped ? { workspaceId: e.scope } : { resourceId: e.scope })
      .filter((r) => {
        const t = Date.parse(String(r.TimeGenerated));
        return t >= start && t < at && compiled.predicate(r, at);
      });
    const met = compare(e.operator, rows.length, e.threshold);
    await this.transition(
      rule.id,
      'log',
      met,
      e.stateful,
      at,
      (condition, state) => this.logPayload(rule, rows, start, at, condition, state),
      e.actionGroups,
      e.customProperties,
    );
  }

  private logPayload(
    rule: LogAlertRecord,
    rows: Array<Record<string, unknown>>,
    start: number,
    end: number,
    condition: 'Fired' | 'Resolved',
    state: AlertState,
  ): { common: unknown; legacy: unknown } {
    const e = rule.eval;
    const targets = [...new Set(rows.map((r) => String(r.ResourceId)))];
    const columns = Object.keys(rows[0] ?? {}).filter((k) => k !== '_seq');
    const table = {
      name: 'PrimaryResult',
      columns: columns.map((name) => ({
        name,
        type: typeof rows[0]?.[name] === 'number' ? 'real' : 'string',
      })),
      rows: rows.map((r) => columns.map((c) => r[c] ?? null)),
    };
    const link = `${this.core.urls.arm}/_sandbox/logs?${/workspaces\//i.test(e.scope) ? 'workspace' : 'resourceId'}=${encodeURIComponent(e.scope)}`;
    const description = typeof rule.properties.description === 'string' ? rule.properties.description : '';
    let alertContext: Record<string, unknown>;
    let monitoringService: string;
    if (rule.shape === 'legacy') {
      monitoringService = 'Log Analytics';
      alertContext = {
        SearchQuery: e.query,
        SearchIntervalStartTimeUtc: iso(start),
        SearchIntervalEndtimeUtc: iso(end),
        ResultCount: rows.length,
        LinkToSearchResults: link,
        LinkToSearchResultsAPI: link,
        SeverityDescription:
          ['Critical', 'Error', 'Warning', 'Informational', 'Verbose'][e.severity] ?? 'Informational',
        WorkspaceId: e.scope.split('/').pop() ?? e.scope,
        SearchIntervalDurationMin: String(e.windowMs / MINUTE),
        AffectedConfigurationItems: targets,
        SearchIntervalInMinutes: String(e.frequencyMs / MINUTE),
        Threshold: e.threshold,
        Operator: e.operator.replace(/([a-z])([A-Z])/g, '$1 $2'),
        SearchResults: {
          tables: [table],
          dataSources: [{ resourceId: e.scope, tables: ['AzureDiagnostics'] }],
        },
        IncludedSearchResults: 'True',
        AlertType: 'Number of results',
      };
    } else {
      monitoringService = 'Log Alerts V2';
      alertContext = {
        properties: e.customProperties ?? {},
        conditionType: 'LogQueryCriteria',
        condition: {
          windowSize: `PT${e.windowMs / MINUTE}M`,
          allOf: [
            {
              searchQuery: e.query,
              metricMeasureColumn: null,
              targetResourceTypes: "['Microsoft.KeyVault/vaults']",
              operator: e.operator,
              threshold: String(e.threshold),
              timeAggregation: 'Count',
              dimensions: [],
              metricValue: rows.length,
              failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 },
              linkToSearchResultsUI: link,
              linkToFilteredSearchResultsUI: link,
              linkToSearchResultsAPI: link,
              linkToFilteredSearchResultsAPI: link,
            },
          ],
          windowStartTime: iso(start),
          windowEndTime: iso(end),
        },
      };
    }
    const common = {
      schemaId: 'azureMonitorCommonAlertSchema',
      data: {
        essentials: this.essentials(
          rule,
          'Log',
          monitoringService,
          e.severity,
          targets.length > 0 ? targets : [e.scope],
          condition,
          state,
          description,
        ),
        alertContext,
        customProperties: e.customProperties ?? null,
      },
    };
    // The legacy log alert webhook payload (no common schema).
    const legacy = {
      SubscriptionId: /^\/subscriptions\/([^/]+)/i.exec(rule.id)?.[1] ?? '',
      AlertRuleName: rule.name,
      SearchQuery: e.query,
      SearchIntervalStartTimeUtc: iso(start),
      SearchIntervalEndtimeUtc: iso(end),
      AlertThresholdOperator: e.operator,
      AlertThresholdValue: e.threshold,
      ResultCount: rows.length,
      SearchIntervalInSeconds: e.windowMs / 1000,
      LinkToSearchResults: link,
      Description: description,
      Severity: String(e.severity),
      SearchResult: { tables: [table] },
      WorkspaceId: e.scope.split('/').pop() ?? e.scope,
      AlertType: 'Number of results',
    };
    return { common, legacy };
  }

  // ---- notifications --------------------------------------------------------------------------------

  /** One POST per enabled webhook receiver of each enabled action group. */
  async notify(
    actionGroupIds: string[],
    payload: { common: unknown; legacy: unknown },
    _customProperties?: Record<string, string>,
  ): Promise<void> {
    const sends: Array<Promise<unknown>> = [];
    for (const id of actionGroupIds) {
      const group = this.core.store.get<ActionGroupRecord>(ACTION_GROUPS, id);
      if (!group) {
        console.error(`[sandbox] alert: action group ${id} does not exist; nothing sent`);
        continue;
      }
      if (!group.properties.enabled) continue;
      for (const r of group.properties.webhookReceivers) {
        if (r.status === 'Disabled') continue;
        sends.push(
          this.delivery.post(r.serviceUri, r.useCommonAlertSchema ? payload.common : payload.legacy),
        );
      }
    }
    await Promise.all(sends);
  }
}

function dimsFromKey(key: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of key.split(',').filter(Boolean)) {
    const [k = '', v = ''] = part.split('=');
    out[k] = v;
  }
  return out;
}
