/**
 * Gateway for the app's managed metric alert rules (ALERT_RULES=managed) through @azure/arm-monitor
 * (metricAlerts, api-version 2018-03-01), plus the one SDK → domain transformation of a rule. Ensure
 * is idempotent: read the rule, write it only when it is missing or differs (a rewrite restarts the
 * rule's evaluation), never touch a rule of the same name the app did not tag as its own.
 */
import type { MetricAlertResource } from '@azure/arm-monitor';
import { ruleAction, type AlertRuleSpec, type ObservedRule, type RuleAction } from '../domain/alerting';
import type { AzureClients } from './clients';
import { classifyError } from './errors';

export interface RuleOutcome {
  name: string;
  resourceGroup: string;
  action: RuleAction | 'refused';
  /** Refusals: the status/code and what to change. */
  detail?: string;
  fix?: string;
}

/** SDK → domain: the parts of a metric alert rule the app compares. */
export function observedRule(r: MetricAlertResource): ObservedRule {
  const criteria = r.criteria as { allOf?: unknown[] } | undefined;
  const allOf = Array.isArray(criteria?.allOf) ? criteria.allOf : [];
  return {
    tags: { ...(r.tags ?? {}) },
    severity: r.severity,
    enabled: r.enabled,
    scopes: [...r.scopes],
    evaluationFrequency: r.evaluationFrequency,
    windowSize: r.windowSize,
    autoMitigate: r.autoMitigate ?? true,
    actionGroupIds: (r.actions ?? []).map((a) => a.actionGroupId ?? ''),
    criteria: allOf.map((c) => {
      const m = c as Record<string, unknown>;
      return {
        metricName: typeof m.metricName === 'string' ? m.metricName : '',
        ...(typeof m.metricNamespace === 'string' ? { metricNamespace: m.metricNamespace } : {}),
        timeAggregation: typeof m.timeAggregation === 'string' ? m.timeAggregation : '',
        operator: typeof m.operator === 'string' ? m.operator : '',
        threshold: typeof m.threshold === 'number' ? m.threshold : Number.NaN,
      };
    }),
  };
}

/** Domain → SDK: the rule body written with createOrUpdate. */
export function metricAlertBody(spec: AlertRuleSpec): MetricAlertResource {
  return {
    location: 'global',
    tags: { ...spec.tags },
    description: spec.description,
    severity: spec.severity,
    enabled: true,
    scopes: [spec.scope],
    evaluationFrequency: spec.evaluationFrequency,
    windowSize: spec.windowSize,
    criteria: {
      odataType: 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion',
          name: spec.metricName,
          metricName: spec.metricName,
          metricNamespace: spec.metricNamespace,
          operator: spec.operator,
          threshold: spec.threshold,
          timeAggregation: spec.timeAggregation,
          // Custom metrics exist only after the first publish; the rule may come first.
          skipMetricValidation: true,
        },
      ],
    },
    autoMitigate: spec.autoMitigate,
    actions: [{ actionGroupId: spec.actionGroupId }],
  };
}

const isNotFound = (e: unknown): boolean => classifyError(e).status === 404;

/**
 * Ensures one rule. Platform faults are thrown (the caller's activity is retried); refusals (403
 * without Monitoring Contributor, a missing resource group) come back as a `refused` outcome with the fix.
 */
export async function ensureAlertRule(clients: AzureClients, spec: AlertRuleSpec): Promise<RuleOutcome> {
  const rules = clients.monitor(spec.subscriptionId).metricAlerts;
  const base = { name: spec.name, resourceGroup: spec.resourceGroup };
  try {
    let existing: ObservedRule | undefined;
    try {
      existing = observedRule(await rules.get(spec.resourceGroup, spec.name));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    const action = ruleAction(existing, spec);
    if (action === 'create' || action === 'update')
      await rules.createOrUpdate(spec.resourceGroup, spec.name, metricAlertBody(spec));
    return { ...base, action };
  } catch (e) {
    const c = classifyError(e);
    if (c.class !== 'refusal') throw e;
    return {
      ...base,
      action: 'refused',
      detail: c.detail,
      fix: `Give the app's identity Monitoring Contributor on resource group ${spec.resourceGroup} of subscription ${spec.subscriptionId} (the group must exist), or set ALERT_RULES=external and deploy the rules with infra.`,
    };
  }
}
