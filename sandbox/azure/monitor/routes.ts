import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseBody, requireResourceGroup, requireSubscription } from '../arm/resources';
import { reply, type RequestContext } from '../context';
import { parseIsoDuration } from '../control';
import type { SandboxCore } from '../core';
import { ArmErrors, SandboxError } from '../errors';
import type { KeyVaultProvider } from '../keyvault';
import {
  ACTION_GROUPS,
  LOG_ALERTS,
  METRIC_ALERTS,
  type ActionGroupRecord,
  type AlertEngine,
  type LogAlertRecord,
  type MetricAlertRecord,
  type StaticCriterion,
} from './alerts';
import { DIAGNOSTIC_SETTINGS, type DiagnosticSettingRecord } from './auditLog';
import { compileQuery } from './kql';
import {
  aggregate,
  AGGREGATIONS,
  MINUTE,
  metricsBadRequest,
  parseAggregation,
  resourceTypeOf,
  splitBuckets,
  type Aggregation,
  type DimensionFilter,
  type MetricStore,
} from './metrics';
import type { WebhookDelivery } from './sink';

/**
 * The Microsoft.Insights ARM surface: action groups (+ test notifications), metric alerts, scheduled
 * query rules (log alerts), diagnostic settings, metrics and metric definitions. Each resource type
 * accepts its own published api-versions (registered under `Microsoft.Insights/<type>`, so an
 * actionGroups version is refused on metricAlerts, as Azure does). Every refusal happens before any
 * write.
 */
export const API_VERSIONS: Record<string, string[]> = {
  actionGroups: [
    '2021-09-01',
    '2022-04-01',
    '2022-06-01',
    '2023-01-01',
    '2023-09-01-preview',
    '2024-10-01-preview',
  ],
  metricAlerts: ['2018-03-01', '2024-03-01-preview'],
  scheduledQueryRules: [
    '2018-04-16',
    '2020-05-01-preview',
    '2021-02-01-preview',
    '2021-08-01',
    '2022-06-15',
    '2022-08-01-preview',
    '2023-03-15-preview',
    '2023-12-01',
    '2024-01-01-preview',
    '2025-01-01-preview',
  ],
  diagnosticSettings: ['2017-05-01-preview', '2021-05-01-preview'],
  metrics: ['2018-01-01', '2019-07-01', '2021-05-01', '2023-10-01', '2024-02-01'],
};
const ns = (type: keyof typeof API_VERSIONS): string => `Microsoft.Insights/${type}`;

const RG = '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.Insights';
/** Azure's rule for alert and action-group names: no `*#&+:<>?@%{}\/`, no trailing dot or space. */
const NAME = /^[^*#&+:<>?@%{}\\/]{1,260}$/;

const durations = {
  frequency: ['PT1M', 'PT5M', 'PT15M', 'PT30M', 'PT1H'],
  window: ['PT1M', 'PT5M', 'PT15M', 'PT30M', 'PT1H', 'PT6H', 'PT12H', 'PT24H', 'P1D'],
  interval: ['PT1M', 'PT5M', 'PT15M', 'PT30M', 'PT1H', 'PT6H', 'PT12H', 'P1D'],
};

const bad = (message: string): SandboxError => new SandboxError(400, 'BadRequest', message);

function requireName(ctx: RequestContext, key: string): string {
  const name = ctx.params[key] ?? '';
  if (!NAME.test(name) || /[. ]$/.test(name))
    throw new SandboxError(400, 'InvalidResourceName', `The resource name '${name}' is invalid.`);
  return name;
}

export interface MonitorRouteDeps {
  core: SandboxCore;
  metrics: MetricStore;
  alerts: AlertEngine;
  delivery: WebhookDelivery;
}

/** Does the resource exist in the emulated estate? (Types the sandbox does not emulate: assumed yes.) */
export function resourceExists(core: SandboxCore, id: string): boolean {
  const type = resourceTypeOf(id)?.toLowerCase();
  if (!type || !/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\//i.test(id)) return false;
  if (type === 'microsoft.keyvault/vaults') {
    const kv = core.providers.find((p) => p.name === 'Microsoft.KeyVault') as KeyVaultProvider | undefined;
    return kv?.model.vaultByName(id.split('/').pop() ?? '')?.id.toLowerCase() === id.toLowerCase();
  }
  const emulated = core.providers.flatMap((p) => p.collections ?? []);
  if (type.startsWith('microsoft.servicebus/') || type.startsWith('microsoft.managedidentity/'))
    return emulated.some((c) => core.store.get(c, id) !== undefined);
  return true;
}

function notFound(id: string): SandboxError {
  const m = /\/resourceGroups\/([^/]+)\/providers\/([^/]+\/[^/]+)\/([^/]+)$/i.exec(id);
  return ArmErrors.resourceNotFound(m?.[2] ?? 'resource', m?.[3] ?? id, m?.[1] ?? '');
}

// ---- action groups ---------------------------------------------------------------------------------

const receiverSchema = z.object({
  name: z.string().min(1),
  serviceUri: z.string().min(1),
  useCommonAlertSchema: z.boolean().optional(),
  useAadAuth: z.boolean().optional(),
  objectId: z.string().optional(),
  identifierUri: z.string().optional(),
  tenantId: z.string().optional(),
});
const OTHER_RECEIVERS = [
  'emailReceivers',
  'smsReceivers',
  'itsmReceivers',
  'azureAppPushReceivers',
  'automationRunbookReceivers',
  'voiceReceivers',
  'logicAppReceivers',
  'azureFunctionReceivers',
  'armRoleReceivers',
  'eventHubReceivers',
] as const;
const actionGroupSchema = z.object({
  location: z.string().min(1),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.object({
    groupShortName: z.string(),
    enabled: z.boolean(),
    webhookReceivers: z.array(receiverSchema).optional(),
    ...Object.fromEntries(
      OTHER_RECEIVERS.map((k) => [k, z.array(z.record(z.string(), z.unknown())).optional()]),
    ),
  }),
});

function actionGroupBody(g: ActionGroupRecord): Record<string, unknown> {
  return {
    id: g.id,
    name: g.name,
    type: 'Microsoft.Insights/ActionGroups',
    location: g.location,
    tags: g.tags,
    properties: {
      groupShortName: g.properties.groupShortName,
      enabled: g.properties.enabled,
      webhookReceivers: g.properties.webhookReceivers.map((r) => ({
        useAadAuth: false,
        ...r,
        useCommonAlertSchema: r.useCommonAlertSchema ?? false,
      })),
      ...Object.fromEntries(OTHER_RECEIVERS.map((k) => [k, g.properties.other[k] ?? []])),
    },
  };
}

function validateReceivers(receivers: z.infer<typeof receiverSchema>[]): void {
  const names = new Set<string>();
  for (const r of receivers) {
    if (names.has(r.name.toLowerCase()))
      throw bad(`The receiver name '${r.name}' is used more than once. Receiver names must be unique.`);
    names.add(r.name.toLowerCase());
    let url: URL | undefined;
    try {
      url = new URL(r.serviceUri);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
      throw bad(`The webhook receiver '${r.name}' has an invalid service URI '${r.serviceUri}'.`);
  }
}

// ---- metric alerts ---------------------------------------------------------------------------------

const dimensionSchema = z.object({
  name: z.string().min(1),
  operator: z.enum(['Include', 'Exclude']),
  values: z.array(z.string()).min(1),
});
const criterionSchema = z.object({
  criterionType: z.enum(['StaticThresholdCriterion', 'DynamicThresholdCriterion']),
  name: z.string().min(1),
  metricName: z.string().min(1),
  metricNamespace: z.string().optional(),
  operator: z.string(),
  threshold: z.number().optional(),
  timeAggregation: z.string(),
  dimensions: z.array(dimensionSchema).optional(),
  skipMetricValidation: z.boolean().optional(),
  alertSensitivity: z.string().optional(),
  failingPeriods: z.unknown().optional(),
});
const metricAlertSchema = z.object({
  location: z.string().min(1),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.object({
    description: z.string().optional(),
    severity: z.number().int(),
    enabled: z.boolean(),
    scopes: z.array(z.string()).min(1),
    evaluationFrequency: z.string(),
    windowSize: z.string(),
    targetResourceType: z.string().optional(),
    targetResourceRegion: z.string().optional(),
    criteria: z.object({ 'odata.type': z.string(), allOf: z.array(criterionSchema).min(1) }),
    autoMitigate: z.boolean().optional(),
    actions: z
      .array(
        z.object({
          actionGroupId: z.string().min(1),
          webHookProperties: z.record(z.string(), z.string()).optional(),
        }),
      )
      .optional(),
  }),
});
const STATIC_OPERATORS = ['Equals', 'GreaterThan', 'GreaterThanOrEqual', 'LessThan', 'LessThanOrEqual'];
/**
 * Resource types the sandbox emulates whose metric alerts Azure does not support across several
 * resources ("Multi-resource alerts: No" in its supported-resources table). [U] Azure's error code.
 */
const NO_MULTI_RESOURCE_ALERTS: ReadonlySet<string> = new Set(['microsoft.servicebus/namespaces']);
const CRITERIA_TYPES = [
  'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
  'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria',
];

function metricAlertBody(r: MetricAlertRecord): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    type: 'Microsoft.Insights/metricAlerts',
    location: r.location,
    tags: r.tags,
    properties: {
      ...r.properties,
      lastUpdatedTime: new Date(r.lastUpdatedTime).toISOString(),
      isMigrated: false,
    },
  };
}

// ---- scheduled query rules ------------------------------------------------------------------------

const legacyLogSchema = z.object({
  location: z.string().min(1),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.object({
    description: z.string().optional(),
    displayName: z.string().optional(),
    enabled: z.enum(['true', 'false']).optional(),
    source: z.object({
      query: z.string().optional(),
      authorizedResources: z.array(z.string()).optional(),
      dataSourceId: z.string().min(1),
      queryType: z.enum(['ResultCount']).optional(),
    }),
    schedule: z.object({ frequencyInMinutes: z.number().int(), timeWindowInMinutes: z.number().int() }),
    action: z.object({
      'odata.type': z.string(),
      severity: z.enum(['0', '1', '2', '3', '4']).optional(),
      aznsAction: z
        .object({
          actionGroup: z.array(z.string()).optional(),
          emailSubject: z.string().optional(),
          customWebhookPayload: z.string().optional(),
        })
        .optional(),
      throttlingInMin: z.number().int().optional(),
      trigger: z
        .object({
          thresholdOperator: z.enum([
            'GreaterThanOrEqual',
            'LessThanOrEqual',
            'GreaterThan',
            'LessThan',
            'Equal',
          ]),
          threshold: z.number(),
        })
        .optional(),
    }),
  }),
});
const logAlertSchema = z.object({
  location: z.string().min(1),
  kind: z.enum(['LogAlert', 'LogToMetric', 'SimpleLogAlert']).optional(),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.object({
    displayName: z.string().optional(),
    description: z.string().optional(),
    severity: z.number().int().min(0).max(4).optional(),
    enabled: z.boolean().optional(),
    scopes: z.array(z.string()).min(1),
    evaluationFrequency: z.string().optional(),
    windowSize: z.string().optional(),
    targetResourceTypes: z.array(z.string()).optional(),
    criteria: z.object({
      allOf: z
        .array(
          z.object({
            query: z.string().optional(),
            timeAggregation: z.enum(['Count', 'Average', 'Minimum', 'Maximum', 'Total']).optional(),
            metricMeasureColumn: z.string().optional(),
            resourceIdColumn: z.string().optional(),
            operator: z
              .enum(['Equals', 'GreaterThan', 'GreaterThanOrEqual', 'LessThan', 'LessThanOrEqual'])
              .optional(),
            threshold: z.number().optional(),
            dimensions: z.array(z.unknown()).optional(),
            failingPeriods: z
              .object({
                numberOfEvaluationPeriods: z.number().int(),
                minFailingPeriodsToAlert: z.number().int(),
              })
              .optional(),
          }),
        )
        .min(1),
    }),
    muteActionsDuration: z.string().optional(),
    autoMitigate: z.boolean().optional(),
    skipQueryValidation: z.boolean().optional(),
    checkWorkspaceAlertsStorageConfigured: z.boolean().optional(),
    actions: z
      .object({
        actionGroups: z.array(z.string()).optional(),
        customProperties: z.record(z.string(), z.string()).optional(),
      })
      .optional(),
  }),
});

function logAlertBody(r: LogAlertRecord, apiVersion: string): Record<string, unknown> {
  const legacy = r.shape === 'legacy';
  return {
    id: r.id,
    name: r.name,
    type: 'Microsoft.Insights/scheduledQueryRules',
    location: r.location,
    tags: r.tags,
    ...(legacy ? {} : { kind: 'LogAlert' }),
    properties: {
      ...r.properties,
      ...(legacy
        ? { lastUpdatedTime: new Date(r.lastUpdatedTime).toISOString(), provisioningState: 'Succeeded' }
        : {
            createdWithApiVersion: apiVersion,
            isLegacyLogAnalyticsRule: false,
            isWorkspaceAlertsStorageConfigured: false,
          }),
    },
  };
}

// ---- diagnostic settings --------------------------------------------------------------------------

const diagnosticSchema = z.object({
  properties: z.object({
    workspaceId: z.string().optional(),
    storageAccountId: z.string().optional(),
    eventHubAuthorizationRuleId: z.string().optional(),
    eventHubName: z.string().optional(),
    serviceBusRuleId: z.string().optional(),
    marketplacePartnerId: z.string().optional(),
    logAnalyticsDestinationType: z.string().nullable().optional(),
    logs: z
      .array(
        z.object({
          category: z.string().optional(),
          categoryGroup: z.string().optional(),
          enabled: z.boolean(),
          retentionPolicy: z.object({ enabled: z.boolean(), days: z.number().int() }).optional(),
        }),
      )
      .optional(),
    metrics: z
      .array(
        z.object({
          category: z.string().optional(),
          timeGrain: z.string().optional(),
          enabled: z.boolean(),
          retentionPolicy: z.object({ enabled: z.boolean(), days: z.number().int() }).optional(),
        }),
      )
      .optional(),
  }),
});

/** Log categories (and groups) per resource type. */
const LOG_CATEGORIES: Record<string, { categories: Record<string, string[]> }> = {
  'microsoft.keyvault/vaults': {
    categories: { AuditEvent: ['audit', 'allLogs'], AzurePolicyEvaluationDetails: ['allLogs'] },
  },
  'microsoft.servicebus/namespaces': {
    categories: {
      OperationalLogs: ['allLogs'],
      VNetAndIPFilteringLogs: ['allLogs'],
      RuntimeAuditLogs: ['audit', 'allLogs'],
      ApplicationMetricsLogs: ['allLogs'],
    },
  },
};
const WORKSPACE_ID =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.OperationalInsights\/workspaces\/[^/]+$/i;

function diagnosticBody(s: DiagnosticSettingRecord): Record<string, unknown> {
  return { id: s.id, name: s.name, type: 'Microsoft.Insights/diagnosticSettings', properties: s.properties };
}

// ---- registration -----------------------------------------------------------------------------------

export function registerMonitorRoutes(deps: MonitorRouteDeps): void {
  const { core, metrics, alerts, delivery } = deps;
  for (const [type, versions] of Object.entries(API_VERSIONS)) core.apiVersions.register(ns(type), versions);
  core.apiVersions.register(ns('metricDefinitions'), API_VERSIONS.metrics!);
  core.apiVersions.register(ns('diagnosticSettingsCategories'), API_VERSIONS.diagnosticSettings!);
  core.apiVersions.register(ns('createNotifications'), API_VERSIONS.actionGroups!);
  core.apiVersions.register(ns('notificationStatus'), API_VERSIONS.actionGroups!);

  const p = (ctx: RequestContext, key: string): string => ctx.params[key] ?? '';
  const rgOf = (ctx: RequestContext) =>
    requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'));
  const idOf = (ctx: RequestContext, type: string, nameKey: string): string =>
    `/subscriptions/${p(ctx, 'subscriptionId')}/resourceGroups/${rgOf(ctx).name}/providers/Microsoft.Insights/${type}/${requireName(ctx, nameKey)}`;
  const getOr404 = <T>(collection: string, id: string, type: string, ctx: RequestContext): T => {
    const r = core.store.get<T>(collection, id);
    if (!r)
      throw ArmErrors.resourceNotFound(
        `Microsoft.Insights/${type}`,
        id.split('/').pop() ?? '',
        p(ctx, 'resourceGroupName'),
      );
    return r;
  };
  const crud = (
    type: 'actionGroups' | 'metricAlerts' | 'scheduledQueryRules',
    collection: string,
    param: string,
    body: (r: never, ctx: RequestContext) => unknown,
    put: (ctx: RequestContext, id: string, existing: unknown) => { record: unknown; created: boolean },
    onDelete: (id: string) => void,
  ) => {
    const path = `${RG}/${type}/:${param}`;
    const bodyOf = body as (r: unknown, ctx: RequestContext) => unknown;
    core.routes.arm({
      method: 'PUT',
      path,
      namespace: ns(type),
      operation: `Microsoft.Insights/${type}/write`,
      handler: (ctx) => {
        const id = idOf(ctx, type, param);
        const existing = core.store.get(collection, id);
        const { record, created } = put(ctx, id, existing);
        return created ? reply.created(bodyOf(record, ctx)) : reply.ok(bodyOf(record, ctx));
      },
    });
    core.routes.arm({
      method: 'GET',
      path,
      namespace: ns(type),
      operation: `Microsoft.Insights/${type}/read`,
      handler: (ctx) => reply.ok(bodyOf(getOr404(collection, idOf(ctx, type, param), type, ctx), ctx)),
    });
    core.routes.arm({
      method: 'DELETE',
      path,
      namespace: ns(type),
      operation: `Microsoft.Insights/${type}/delete`,
      handler: (ctx) => {
        const id = idOf(ctx, type, param);
        if (!core.store.delete(collection, id)) return reply.noContent();
        onDelete(id);
        return reply.ok(undefined);
      },
    });
    core.routes.arm({
      method: 'GET',
      path: `${RG}/${type}`,
      namespace: ns(type),
      operation: `Microsoft.Insights/${type}/read`,
      handler: (ctx) => {
        const rg = rgOf(ctx);
        const items = core.store
          .list<{ id: string }>(collection, `${rg.id}/providers/Microsoft.Insights/${type}/`)
          .map((r) => bodyOf(r, ctx));
        return reply.ok({ value: items });
      },
    });
    core.routes.arm({
      method: 'GET',
      path: `/subscriptions/:subscriptionId/providers/Microsoft.Insights/${type}`,
      namespace: ns(type),
      operation: `Microsoft.Insights/${type}/read`,
      handler: (ctx) => {
        requireSubscription(core, p(ctx, 'subscriptionId'));
        const items = core.store
          .list<{ id: string }>(collection, `/subscriptions/${p(ctx, 'subscriptionId')}/`)
          .map((r) => bodyOf(r, ctx));
        return reply.ok({ value: items });
      },
    });
  };

  // -- action groups ------------------------------------------------------------------------------
  crud(
    'actionGroups',
    ACTION_GROUPS,
    'actionGroupName',
    (g: ActionGroupRecord) => actionGroupBody(g),
    (ctx, id, existing) => {
      const body = parseBody(ctx, actionGroupSchema);
      const props = body.properties as z.infer<typeof actionGroupSchema>['properties'] &
        Record<string, unknown[] | undefined>;
      if (props.groupShortName.length < 1 || props.groupShortName.length > 12)
        throw bad(`The group short name '${props.groupShortName}' must be 1 to 12 characters long.`);
      const webhookReceivers = props.webhookReceivers ?? [];
      validateReceivers(webhookReceivers);
      const record: ActionGroupRecord = {
        id,
        name: id.split('/').pop()!,
        location: body.location,
        tags: body.tags ?? {},
        properties: {
          groupShortName: props.groupShortName,
          enabled: props.enabled,
          webhookReceivers: webhookReceivers.map((r) => ({ ...r, status: 'Enabled' })),
          other: Object.fromEntries(OTHER_RECEIVERS.map((k) => [k, props[k] ?? []])),
        },
      };
      core.store.put(ACTION_GROUPS, id, record);
      return { record, created: existing === undefined };
    },
    () => undefined,
  );
  core.routes.arm({
    method: 'PATCH',
    path: `${RG}/actionGroups/:actionGroupName`,
    namespace: ns('actionGroups'),
    operation: 'Microsoft.Insights/actionGroups/write',
    handler: (ctx) => {
      const id = idOf(ctx, 'actionGroups', 'actionGroupName');
      const body = parseBody(
        ctx,
        z.object({
          tags: z.record(z.string(), z.string()).optional(),
          properties: z.object({ enabled: z.boolean().optional() }).optional(),
        }),
      );
      const g = getOr404<ActionGroupRecord>(ACTION_GROUPS, id, 'actionGroups', ctx);
      const next: ActionGroupRecord = {
        ...g,
        tags: body.tags ?? g.tags,
        properties: { ...g.properties, enabled: body.properties?.enabled ?? g.properties.enabled },
      };
      core.store.put(ACTION_GROUPS, id, next);
      return reply.ok(actionGroupBody(next));
    },
  });

  // Test notifications: Azure sends sample payloads to the given receivers and reports per action.
  const NOTIFICATIONS = 'monitorTestNotifications';
  const ALERT_TYPES = [
    'servicehealth',
    'metricstaticthreshold',
    'metricsdynamicthreshold',
    'logalertv2',
    'smartalert',
    'webtestalertdetailed',
    'logalertv1metric',
    'logalertv1numresult',
    'activitylogadministrative',
    'activitylogsecurity',
    'activitylogrecommendation',
    'activitylogpolicy',
    'activitylogautoscale',
    'activitylogservicehealth',
    'resourcehealth',
    'budget',
  ];
  core.routes.arm({
    method: 'POST',
    path: '/subscriptions/:subscriptionId/providers/Microsoft.Insights/createNotifications',
    namespace: ns('createNotifications'),
    operation: 'Microsoft.Insights/createNotifications/write',
    handler: async (ctx) => {
      requireSubscription(core, p(ctx, 'subscriptionId'));
      const body = parseBody(
        ctx,
        z
          .object({ alertType: z.string(), webhookReceivers: z.array(receiverSchema).optional() })
          .passthrough(),
      );
      if (!ALERT_TYPES.includes(body.alertType.toLowerCase()))
        throw bad(
          `The alert type '${body.alertType}' is not supported. Supported: ${ALERT_TYPES.join(', ')}.`,
        );
      const receivers = body.webhookReceivers ?? [];
      validateReceivers(receivers);
      const notificationId = String(Math.floor(Math.random() * 1e9));
      const created = new Date(core.clock.now()).toISOString();
      const results = await Promise.all(
        receivers.map(async (r) => {
          const sample = testPayload(
            core,
            p(ctx, 'subscriptionId'),
            body.alertType,
            r.useCommonAlertSchema === true,
          );
          const res = await delivery.post(r.serviceUri, sample);
          const ok = res.status >= 200 && res.status < 300;
          return {
            mechanismType: 'Webhook',
            name: r.name,
            status: ok ? 'Success' : 'Failed',
            subState: ok ? 'Default' : 'Error',
            sendTime: created,
            detail: ok ? '' : (res.error ?? `The webhook returned ${res.status}.`),
          };
        }),
      );
      const status = {
        context: {
          notificationSource: 'Microsoft.Insights/TestNotification',
          contextType: 'Microsoft.Insights/ActionGroups',
        },
        state: 'Complete',
        completedTime: new Date(core.clock.now()).toISOString(),
        createdTime: created,
        actionDetails: results,
      };
      core.store.put(NOTIFICATIONS, `${p(ctx, 'subscriptionId')}/${notificationId}`, status);
      const location = `${core.urls.arm}/subscriptions/${p(ctx, 'subscriptionId')}/providers/Microsoft.Insights/notificationStatus/${notificationId}?api-version=${ctx.apiVersion ?? ''}`;
      return reply.accepted(
        { Location: location, 'Retry-After': '1' },
        { notificationId, correlationId: ctx.correlationId, createdTime: created },
      );
    },
  });
  core.routes.arm({
    method: 'GET',
    path: '/subscriptions/:subscriptionId/providers/Microsoft.Insights/notificationStatus/:notificationId',
    namespace: ns('notificationStatus'),
    operation: 'Microsoft.Insights/notificationStatus/read',
    handler: (ctx) => {
      const s = core.store.get(NOTIFICATIONS, `${p(ctx, 'subscriptionId')}/${p(ctx, 'notificationId')}`);
      if (!s)
        throw new SandboxError(
          404,
          'NotFound',
          `The notification '${p(ctx, 'notificationId')}' was not found.`,
        );
      return reply.ok(s);
    },
  });

  // -- metric alerts ------------------------------------------------------------------------------
  crud(
    'metricAlerts',
    METRIC_ALERTS,
    'ruleName',
    (r: MetricAlertRecord) => metricAlertBody(r),
    (ctx, id, existing) => {
      const body = parseBody(ctx, metricAlertSchema);
      const props = body.properties;
      if (props.severity < 0 || props.severity > 4) throw bad('The severity must be between 0 and 4.');
      if (!durations.frequency.includes(props.evaluationFrequency))
        throw bad(
          `The evaluation frequency '${props.evaluationFrequency}' is not supported. Supported: ${durations.frequency.join(', ')}.`,
        );
      if (!durations.window.includes(props.windowSize))
        throw bad(
          `The window size '${props.windowSize}' is not supported. Supported: ${durations.window.join(', ')}.`,
        );
      if (parseIsoDuration(props.windowSize) < parseIsoDuration(props.evaluationFrequency))
        throw bad('The window size must be greater than or equal to the evaluation frequency.');
      if (!CRITERIA_TYPES.includes(props.criteria['odata.type']))
        throw bad(`The criteria type '${props.criteria['odata.type']}' is not supported.`);
      const multi = props.criteria['odata.type'].endsWith('MultipleResourceMultipleMetricCriteria');
      if (!multi && props.scopes.length !== 1)
        throw bad('SingleResourceMultipleMetricCriteria alerts have exactly one scope.');
      if (multi && !props.targetResourceType)
        throw bad('targetResourceType is required for alerts on multiple resources.');
      // Azure's supported-resources table for metric alerts: multi-resource rules only for some types.
      const scopeTypes = new Set(props.scopes.map((scope) => resourceTypeOf(scope)?.toLowerCase() ?? ''));
      for (const type of [...scopeTypes, props.targetResourceType?.toLowerCase() ?? ''])
        if (props.scopes.length > 1 && NO_MULTI_RESOURCE_ALERTS.has(type))
          throw bad(
            `Alert rules on multiple resources are not supported for resource type '${type}'. Create one rule per resource.`,
          );
      for (const scope of props.scopes) {
        if (!resourceExists(core, scope))
          throw bad(`The scope '${scope}' does not exist or is not a resource.`);
      }
      const allOf: StaticCriterion[] = [];
      for (const c of props.criteria.allOf) {
        const aggregation = parseAggregation(c.timeAggregation);
        if (!aggregation)
          throw bad(
            `The time aggregation '${c.timeAggregation}' is not supported. Supported: ${AGGREGATIONS.join(', ')}.`,
          );
        if (c.criterionType === 'StaticThresholdCriterion') {
          if (!STATIC_OPERATORS.includes(c.operator))
            throw bad(
              `The operator '${c.operator}' is not supported. Supported: ${STATIC_OPERATORS.join(', ')}.`,
            );
          if (c.threshold === undefined) throw bad(`The criterion '${c.name}' needs a threshold.`);
        }
        const namespace =
          c.metricNamespace ?? props.targetResourceType ?? resourceTypeOf(props.scopes[0]!) ?? '';
        if (!c.skipMetricValidation) {
          for (const scope of props.scopes) {
            const known = metrics
              .definitions(scope, namespace)
              .some((d) => d.name.toLowerCase() === c.metricName.toLowerCase());
            if (!known)
              throw bad(
                `Couldn't find a metric named ${c.metricName} in namespace ${namespace} for resource ${scope}. Make sure the name is correct, or set skipMetricValidation for custom metrics not yet emitted.`,
              );
          }
        }
        allOf.push({
          criterionType: c.criterionType,
          name: c.name,
          metricName: c.metricName,
          ...(c.metricNamespace ? { metricNamespace: c.metricNamespace } : {}),
          operator: c.operator,
          ...(c.threshold !== undefined ? { threshold: c.threshold } : {}),
          timeAggregation: aggregation,
          ...(c.dimensions ? { dimensions: c.dimensions } : {}),
          ...(c.skipMetricValidation !== undefined ? { skipMetricValidation: c.skipMetricValidation } : {}),
        });
      }
      const now = core.clock.now();
      const record: MetricAlertRecord = {
        id,
        name: id.split('/').pop()!,
        location: body.location,
        tags: body.tags ?? {},
        createdAt: (existing as MetricAlertRecord | undefined)?.createdAt ?? now,
        lastUpdatedTime: now,
        properties: {
          ...(props.description !== undefined ? { description: props.description } : {}),
          severity: props.severity,
          enabled: props.enabled,
          scopes: props.scopes,
          evaluationFrequency: props.evaluationFrequency,
          windowSize: props.windowSize,
          ...(props.targetResourceType ? { targetResourceType: props.targetResourceType } : {}),
          ...(props.targetResourceRegion ? { targetResourceRegion: props.targetResourceRegion } : {}),
          criteria: { 'odata.type': props.criteria['odata.type'], allOf },
          autoMitigate: props.autoMitigate ?? true,
          actions: (props.actions ?? []).map((a) => ({
            actionGroupId: a.actionGroupId,
            ...(a.webHookProperties ? { webHookProperties: a.webHookProperties } : {}),
          })),
        },
      };
      core.store.put(METRIC_ALERTS, id, record);
      alerts.forget(id);
      alerts.arm('metric', id);
      // The metric alerts API answers 200 for a create as well as an update.
      return { record, created: false };
    },
    (id) => alerts.forget(id),
  );

  // -- scheduled query rules (log alerts) ---------------------------------------------------------
  crud(
    'scheduledQueryRules',
    LOG_ALERTS,
    'ruleName',
    (r: LogAlertRecord, ctx: RequestContext) => logAlertBody(r, ctx.apiVersion ?? ''),
    (ctx, id, existing) => {
      const legacy = ctx.apiVersion === '2018-04-16';
      const now = core.clock.now();
      let record: LogAlertRecord;
      if (legacy) {
        const body = parseBody(ctx, legacyLogSchema);
        const pr = body.properties;
        if (!pr.action['odata.type'].endsWith('.AlertingAction'))
          throw bad(
            `The action type '${pr.action['odata.type']}' is not supported by the sandbox (AlertingAction only).`,
          );
        if (!pr.action.trigger) throw bad('AlertingAction needs a trigger.');
        if (!pr.source.query) throw bad('A log search rule needs source.query.');
        const freq = pr.schedule.frequencyInMinutes;
        const win = pr.schedule.timeWindowInMinutes;
        if (freq < 5 || freq > 1440) throw bad('frequencyInMinutes must be between 5 and 1440.');
        if (win < 5 || win > 2880 || win < freq)
          throw bad('timeWindowInMinutes must be between 5 and 2880 and not below the frequency.');
        const compiled = compileQuery(pr.source.query);
        record = {
          id,
          name: id.split('/').pop()!,
          location: body.location,
          tags: body.tags ?? {},
          shape: 'legacy',
          createdAt: (existing as LogAlertRecord | undefined)?.createdAt ?? now,
          lastUpdatedTime: now,
          properties: pr,
          eval: {
            enabled: pr.enabled !== 'false',
            query: pr.source.query,
            scope: pr.source.dataSourceId,
            frequencyMs: freq * MINUTE,
            windowMs: win * MINUTE,
            operator: pr.action.trigger.thresholdOperator,
            threshold: pr.action.trigger.threshold,
            severity: Number(pr.action.severity ?? '3'),
            actionGroups: pr.action.aznsAction?.actionGroup ?? [],
            stateful: false,
            ...(compiled.ok ? {} : { notEvaluated: compiled.reason }),
          },
        };
      } else {
        const body = parseBody(ctx, logAlertSchema);
        const pr = body.properties;
        const c = pr.criteria.allOf[0]!;
        const frequency = pr.evaluationFrequency ?? 'PT5M';
        const window = pr.windowSize ?? frequency;
        let freqMs: number;
        let winMs: number;
        try {
          freqMs = parseIsoDuration(frequency);
          winMs = parseIsoDuration(window);
        } catch {
          throw bad(
            `evaluationFrequency '${frequency}' and windowSize '${window}' must be ISO 8601 durations.`,
          );
        }
        if (freqMs < MINUTE || winMs < freqMs)
          throw bad('The window size must be at least the evaluation frequency (≥ PT1M).');
        if (!c.query) throw bad('A log alert criterion needs a query.');
        if (pr.severity === undefined) throw bad('severity is required.');
        const compiled = compileQuery(c.query);
        const aggregateCount = (c.timeAggregation ?? 'Count') === 'Count' && !c.metricMeasureColumn;
        const notEvaluated = !compiled.ok
          ? compiled.reason
          : !aggregateCount
            ? 'only Count of rows is evaluated by the sandbox'
            : pr.criteria.allOf.length > 1
              ? 'only one criterion is evaluated by the sandbox'
              : undefined;
        record = {
          id,
          name: id.split('/').pop()!,
          location: body.location,
          tags: body.tags ?? {},
          shape: 'LogAlert',
          createdAt: (existing as LogAlertRecord | undefined)?.createdAt ?? now,
          lastUpdatedTime: now,
          properties: {
            ...pr,
            evaluationFrequency: frequency,
            windowSize: window,
            enabled: pr.enabled ?? true,
          },
          eval: {
            enabled: pr.enabled ?? true,
            query: c.query,
            scope: pr.scopes[0]!,
            frequencyMs: freqMs,
            windowMs: winMs,
            operator: c.operator ?? 'GreaterThan',
            threshold: c.threshold ?? 0,
            severity: pr.severity,
            actionGroups: pr.actions?.actionGroups ?? [],
            ...(pr.actions?.customProperties ? { customProperties: pr.actions.customProperties } : {}),
            stateful: pr.autoMitigate ?? true,
            ...(notEvaluated ? { notEvaluated } : {}),
          },
        };
      }
      if (record.eval.notEvaluated)
        console.error(
          `[sandbox] scheduledQueryRule ${record.name} stored but not evaluated: ${record.eval.notEvaluated}`,
        );
      core.store.put(LOG_ALERTS, id, record);
      alerts.forget(id);
      alerts.arm('log', id);
      return { record, created: existing === undefined };
    },
    (id) => alerts.forget(id),
  );

  // -- diagnostic settings (extension resource on any resource) ----------------------------------
  const diagTarget = (ctx: RequestContext): { resourceId: string; categories: Record<string, string[]> } => {
    const resourceId = (ctx.params.scope ?? '').replace(/\/+$/, '');
    const type = resourceTypeOf(resourceId)?.toLowerCase();
    const known = type ? LOG_CATEGORIES[type] : undefined;
    if (
      !type ||
      !/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/[^/]+\/[^/]+\/[^/]+$/i.test(resourceId)
    )
      throw bad(`'${resourceId}' is not a resource id.`);
    if (!known)
      throw bad(
        `The resource type '${resourceTypeOf(resourceId)}' does not support diagnostic settings in the sandbox.`,
      );
    if (!resourceExists(core, resourceId)) throw notFound(resourceId);
    return { resourceId, categories: known.categories };
  };
  const diagName = (ctx: RequestContext): string => {
    const name = ctx.params.name ?? '';
    if (!/^[^*#&+:<>?@%{}\\/]{1,260}$/.test(name))
      throw new SandboxError(400, 'InvalidResourceName', `The resource name '${name}' is invalid.`);
    return name;
  };
  core.routes.arm({
    method: 'PUT',
    path: '/{scope}/providers/Microsoft.Insights/diagnosticSettings/:name',
    namespace: ns('diagnosticSettings'),
    operation: 'Microsoft.Insights/diagnosticSettings/write',
    scope: (ctx) => ctx.params.scope ?? '/',
    handler: (ctx) => {
      const { resourceId, categories } = diagTarget(ctx);
      const name = diagName(ctx);
      const body = parseBody(ctx, diagnosticSchema);
      const pr = body.properties;
      if (
        !pr.workspaceId &&
        !pr.storageAccountId &&
        !pr.eventHubAuthorizationRuleId &&
        !pr.marketplacePartnerId
      )
        throw bad(
          'At least one destination (workspaceId, storageAccountId, eventHubAuthorizationRuleId) is required.',
        );
      if (pr.workspaceId && !WORKSPACE_ID.test(pr.workspaceId))
        throw bad(`The workspace id '${pr.workspaceId}' is not a Log Analytics workspace resource id.`);
      const groups = new Set(
        Object.values(categories)
          .flat()
          .map((g) => g.toLowerCase()),
      );
      for (const l of pr.logs ?? []) {
        if (!!l.category === !!l.categoryGroup)
          throw bad('Each log setting names either a category or a categoryGroup.');
        if (l.category && !Object.keys(categories).some((c) => c.toLowerCase() === l.category!.toLowerCase()))
          throw bad(`Category '${l.category}' is not supported.`);
        if (l.categoryGroup && !groups.has(l.categoryGroup.toLowerCase()))
          throw bad(`Category group '${l.categoryGroup}' is not supported.`);
      }
      for (const m of pr.metrics ?? []) {
        if (m.category && m.category !== 'AllMetrics')
          throw bad(`Category '${m.category}' is not supported.`);
      }
      const id = `${resourceId}/providers/Microsoft.Insights/diagnosticSettings/${name}`;
      const others = core.store.list<DiagnosticSettingRecord>(DIAGNOSTIC_SETTINGS, `${resourceId}/`);
      if (!core.store.get(DIAGNOSTIC_SETTINGS, id) && others.length >= 5)
        throw bad('A resource can have at most 5 diagnostic settings.');
      const record: DiagnosticSettingRecord = {
        id,
        name,
        resourceId,
        properties: {
          ...pr,
          logs: (pr.logs ?? []).map((l) => ({
            ...l,
            retentionPolicy: l.retentionPolicy ?? { enabled: false, days: 0 },
          })),
          metrics: (pr.metrics ?? []).map((m) => ({
            ...m,
            retentionPolicy: m.retentionPolicy ?? { enabled: false, days: 0 },
          })),
        },
      };
      core.store.put(DIAGNOSTIC_SETTINGS, `${resourceId}/${name}`, record);
      return reply.ok(diagnosticBody(record));
    },
  });
  core.routes.arm({
    method: 'GET',
    path: '/{scope}/providers/Microsoft.Insights/diagnosticSettings/:name',
    namespace: ns('diagnosticSettings'),
    operation: 'Microsoft.Insights/diagnosticSettings/read',
    scope: (ctx) => ctx.params.scope ?? '/',
    handler: (ctx) => {
      const { resourceId } = diagTarget(ctx);
      const r = core.store.get<DiagnosticSettingRecord>(
        DIAGNOSTIC_SETTINGS,
        `${resourceId}/${diagName(ctx)}`,
      );
      if (!r)
        throw new SandboxError(
          404,
          'ResourceNotFound',
          `The diagnostic setting '${diagName(ctx)}' doesn't exist.`,
        );
      return reply.ok(diagnosticBody(r));
    },
  });
  core.routes.arm({
    method: 'DELETE',
    path: '/{scope}/providers/Microsoft.Insights/diagnosticSettings/:name',
    namespace: ns('diagnosticSettings'),
    operation: 'Microsoft.Insights/diagnosticSettings/delete',
    scope: (ctx) => ctx.params.scope ?? '/',
    handler: (ctx) => {
      const { resourceId } = diagTarget(ctx);
      return core.store.delete(DIAGNOSTIC_SETTINGS, `${resourceId}/${diagName(ctx)}`)
        ? reply.ok(undefined)
        : reply.noContent();
    },
  });
  core.routes.arm({
    method: 'GET',
    path: '/{scope}/providers/Microsoft.Insights/diagnosticSettings',
    namespace: ns('diagnosticSettings'),
    operation: 'Microsoft.Insights/diagnosticSettings/read',
    scope: (ctx) => ctx.params.scope ?? '/',
    handler: (ctx) => {
      const { resourceId } = diagTarget(ctx);
      return reply.ok({
        value: core.store
          .list<DiagnosticSettingRecord>(DIAGNOSTIC_SETTINGS, `${resourceId}/`)
          .map(diagnosticBody),
      });
    },
  });
  core.routes.arm({
    method: 'GET',
    path: '/{scope}/providers/Microsoft.Insights/diagnosticSettingsCategories',
    namespace: ns('diagnosticSettingsCategories'),
    operation: 'Microsoft.Insights/diagnosticSettingsCategories/read',
    scope: (ctx) => ctx.params.scope ?? '/',
    handler: (ctx) => {
      const { resourceId, categories } = diagTarget(ctx);
      return reply.ok({
        value: [
          ...Object.entries(categories).map(([name, categoryGroups]) => ({
            id: `${resourceId}/providers/Microsoft.Insights/diagnosticSettingsCategories/${name}`,
            name,
            type: 'Microsoft.Insights/diagnosticSettingsCategories',
            properties: { categoryType: 'Logs', categoryGroups },
          })),
          {
            id: `${resourceId}/providers/Microsoft.Insights/diagnosticSettingsCategories/AllMetrics`,
            name: 'AllMetrics',
            type: 'Microsoft.Insights/diagnosticSettingsCategories',
            properties: { categoryType: 'Metrics', categoryGroups: [] },
          },
        ],
      });
    },
  });

  // -- metrics and metric definitions --------------------------------------------------------------
  const metricTarget = (ctx: RequestContext): string => {
    const resourceId = (ctx.params.scope ?? '').replace(/\/+$/, '');
    if (!/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/[^/]+\/[^/]+\/[^/]+$/i.test(resourceId))
      throw metricsBadRequest(`The resource id '${resourceId}' is not a valid resource id.`);
    if (!resourceExists(core, resourceId)) throw notFound(resourceId);
    return resourceId;
  };
  core.routes.arm({
    method: 'GET',
    path: '/{scope}/providers/Microsoft.Insights/metricDefinitions',
    namespace: ns('metricDefinitions'),
    operation: 'Microsoft.Insights/metricDefinitions/read',
    scope: (ctx) => ctx.params.scope ?? '/',
    handler: (ctx) => {
      const resourceId = metricTarget(ctx);
      const namespace = ctx.query.get('metricnamespace') ?? resourceTypeOf(resourceId) ?? '';
      return reply.ok({
        value: metrics.definitions(resourceId, namespace).map((d) => ({
          id: `${resourceId}/providers/microsoft.insights/metricdefinitions/${d.name}`,
          resourceId,
          namespace,
          name: { value: d.name, localizedValue: d.displayName },
          displayDescription: d.description,
          isDimensionRequired: false,
          unit: d.unit,
          primaryAggregationType: d.primaryAggregation,
          supportedAggregationTypes: ['None', ...AGGREGATIONS],
          metricAvailabilities: [
            { timeGrain: 'PT1M', retention: 'P93D' },
            { timeGrain: 'PT5M', retention: 'P93D' },
            { timeGrain: 'PT15M', retention: 'P93D' },
            { timeGrain: 'PT30M', retention: 'P93D' },
            { timeGrain: 'PT1H', retention: 'P93D' },
            { timeGrain: 'PT6H', retention: 'P93D' },
            { timeGrain: 'PT12H', retention: 'P93D' },
            { timeGrain: 'P1D', retention: 'P93D' },
          ],
          dimensions: d.dimensions.map((x) => ({ value: x, localizedValue: x })),
        })),
      });
    },
  });
  core.routes.arm({
    method: 'GET',
    path: '/{scope}/providers/Microsoft.Insights/metrics',
    namespace: ns('metrics'),
    operation: 'Microsoft.Insights/metrics/read',
    scope: (ctx) => ctx.params.scope ?? '/',
    handler: (ctx) => reply.ok(queryMetrics(core, metrics, ctx, metricTarget(ctx))),
  });
}

/** `GET …/providers/Microsoft.Insights/metrics` (2018-01-01 response shape). */
function queryMetrics(
  core: SandboxCore,
  metrics: MetricStore,
  ctx: RequestContext,
  resourceId: string,
): Record<string, unknown> {
  const q = ctx.query;
  const type = resourceTypeOf(resourceId) ?? '';
  const namespace = q.get('metricnamespace') ?? type;
  const defs = metrics.definitions(resourceId, namespace);
  const [provider = '', resourceType = ''] = type.split('/');
  const names = (q.get('metricnames') ?? defs[0]?.name ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (names.length === 0)
    throw metricsBadRequest(`No metrics are defined in namespace '${namespace}' for this resource.`);
  const chosen = names.map((n) => {
    const d = defs.find((x) => x.name.toLowerCase() === n.toLowerCase());
    if (!d)
      throw metricsBadRequest(
        `Failed to find metric configuration for provider: ${provider}, resource Type: ${resourceType}, metric: ${n}, Valid metrics: ${defs.map((x) => x.name).join(',')}`,
      );
    return d;
  });
  const now = core.clock.now();
  let start = now - 3_600_000;
  let end = now;
  const timespan = q.get('timespan');
  if (timespan) {
    const [a = '', b = ''] = timespan.split('/');
    const parse = (s: string): number => (/^P/.test(s) ? Number.NaN : Date.parse(s));
    start = parse(a);
    end = parse(b);
    if (/^P/.test(b) && !Number.isNaN(start)) end = start + safeDuration(b);
    if (/^P/.test(a) && !Number.isNaN(end)) start = end - safeDuration(a);
    if (Number.isNaN(start) || Number.isNaN(end) || end <= start)
      throw metricsBadRequest(
        `Invalid timespan '${timespan}': expected 'start/end' ISO 8601 date-times with start before end.`,
      );
  }
  const intervalText = q.get('interval') ?? 'PT1M';
  const full = intervalText.toUpperCase() === 'FULL';
  if (!full && !durations.interval.includes(intervalText.toUpperCase()))
    throw metricsBadRequest(
      `Invalid interval '${intervalText}'. Supported: ${durations.interval.join(', ')}, FULL.`,
    );
  const interval = full ? end - start : parseIsoDuration(intervalText.toUpperCase());
  const aggregationText = q.get('aggregation');
  const aggregations: Aggregation[] | undefined = aggregationText
    ? aggregationText.split(',').map((a) => {
        const parsed = parseAggregation(a);
        if (!parsed)
          throw metricsBadRequest(`Invalid aggregation '${a}'. Supported: ${AGGREGATIONS.join(', ')}.`);
        return parsed;
      })
    : undefined;
  const filter = parseFilter(q.get('$filter'));
  const top = Number(q.get('top') ?? 10);
  if (!Number.isInteger(top) || top < 1) throw metricsBadRequest(`Invalid top '${q.get('top')}'.`);
  const metadataOnly = q.get('resultType') === 'Metadata';
  const alignedStart = full ? start : Math.floor(start / interval) * interval;

  const value = chosen.map((d) => {
    const aggs = aggregations ?? [d.primaryAggregation];
    const buckets = metrics.buckets(resourceId, namespace, d.name, alignedStart, end);
    const filterForMetric = filter.filter((f) =>
      d.dimensions.some((x) => x.toLowerCase() === f.name.toLowerCase()),
    );
    if (filterForMetric.length !== filter.length)
      throw metricsBadRequest(`Metric ${d.name} has no dimension named in the filter '${q.get('$filter')}'.`);
    const groups = [...splitBuckets(buckets, filterForMetric).values()].slice(
      0,
      filterForMetric.length ? top : 1,
    );
    const series = (
      groups.length > 0
        ? groups
        : [{ dims: Object.fromEntries(filterForMetric.map((f) => [f.name, ''])), buckets: [] }]
    ).map((g) => ({
      metadatavalues: Object.entries(g.dims).map(([name, v]) => ({
        name: { value: name.toLowerCase(), localizedValue: name.toLowerCase() },
        value: v,
      })),
      ...(metadataOnly
        ? {}
        : {
            data: intervals(alignedStart, end, interval).map((t) => {
              const inWindow = g.buckets.filter((b) => b.minute >= t && b.minute < t + interval);
              const point: Record<string, unknown> = { timeStamp: new Date(t).toISOString() };
              for (const a of aggs) {
                const v = aggregate(inWindow, a);
                if (v !== undefined) point[a.toLowerCase()] = v;
              }
              return point;
            }),
          }),
    }));
    return {
      id: `${resourceId}/providers/Microsoft.Insights/metrics/${d.name}`,
      type: 'Microsoft.Insights/metrics',
      name: { value: d.name, localizedValue: d.displayName },
      displayDescription: d.description,
      unit: d.unit,
      timeseries: series,
      errorCode: 'Success',
    };
  });
  return {
    cost: 0,
    timespan: `${new Date(start).toISOString()}/${new Date(end).toISOString()}`,
    interval: full ? 'FULL' : intervalText.toUpperCase(),
    value,
    namespace,
    resourceregion: 'westeurope',
  };
}

function safeDuration(text: string): number {
  try {
    return parseIsoDuration(text);
  } catch {
    return Number.NaN;
  }
}

function intervals(start: number, end: number, step: number): number[] {
  const out: number[] = [];
  for (let t = start; t < end && out.length < 100_000; t += step) out.push(t);
  return out;
}

/** `$filter`: `A eq 'x' and (B eq 'y' or B eq 'z') and C eq '*'` (the forms the metrics API documents). */
export function parseFilter(text: string | null): DimensionFilter {
  if (!text) return [];
  const out: DimensionFilter = [];
  for (const clause of text.split(/\s+and\s+/i)) {
    const terms = clause.replace(/^\s*\(|\)\s*$/g, '').split(/\s+or\s+/i);
    let name: string | undefined;
    const values: string[] = [];
    for (const term of terms) {
      const m = /^\s*([A-Za-z0-9_.]+)\s+(eq|ne)\s+'([^']*)'\s*$/i.exec(term);
      if (!m) throw metricsBadRequest(`Invalid $filter '${text}'.`);
      if (name && name.toLowerCase() !== m[1]!.toLowerCase())
        throw metricsBadRequest(`Invalid $filter '${text}': 'or' joins one dimension.`);
      name = m[1]!;
      if (m[2]!.toLowerCase() === 'ne') {
        out.push({ name, values: [m[3]!], exclude: true });
        continue;
      }
      values.push(m[3]!);
    }
    if (name && values.length > 0) out.push({ name, values });
  }
  return out;
}

/** The sample Azure sends for a test notification, in the common schema or the rule type's own. */
function testPayload(core: SandboxCore, sub: string, alertType: string, common: boolean): unknown {
  const now = new Date(core.clock.now()).toISOString();
  const target = `/subscriptions/${sub}/resourceGroups/test-RG/providers/Microsoft.Storage/storageAccounts/test-storageAccount`;
  const essentials = {
    alertId: `/subscriptions/${sub}/providers/Microsoft.AlertsManagement/alerts/${randomUUID()}`,
    alertRule: 'test-alertRule',
    severity: 'Sev3',
    signalType: alertType.startsWith('log')
      ? 'Log'
      : alertType.startsWith('activitylog')
        ? 'Activity Log'
        : 'Metric',
    monitorCondition: 'Fired',
    monitoringService: alertType.startsWith('log') ? 'Log Alerts V2' : 'Platform',
    alertTargetIDs: [target.toLowerCase()],
    configurationItems: ['test-storageAccount'],
    originAlertId: randomUUID(),
    firedDateTime: now,
    description: 'Alert rule description',
    essentialsVersion: '1.0',
    alertContextVersion: '1.0',
  };
  return common
    ? {
        schemaId: 'azureMonitorCommonAlertSchema',
        data: { essentials, alertContext: {}, customProperties: { test: 'true' } },
      }
    : {
        schemaId: 'AzureMonitorMetricAlert',
        data: {
          version: '2.0',
          status: 'Activated',
          context: { timestamp: now, name: 'test-alertRule', resourceId: target },
        },
      };
}
