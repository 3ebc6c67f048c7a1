import packageJson from '../package.json';

/**
 * Every setting the app reads, validated once at start-up. A missing or malformed setting fails the
 * load of the app with a message naming the setting — in Azure that shows in the portal's function
 * list / Application Insights at start, not as a mystery error in the middle of an orchestration.
 */

const CLOUDS = ['AzurePublicCloud', 'AzureChinaCloud', 'AzureUSGovernment', 'Custom'] as const;
export type CloudName = (typeof CLOUDS)[number];

export interface CloudEndpoints {
  /** ARM base URL, e.g. https://management.azure.com */
  resourceManager: string;
  /** Token audience for ARM (scope = audience + '/.default'). */
  resourceManagerAudience: string;
  /** DNS suffix of Key Vault hosts, e.g. vault.azure.net — Key Vault URLs are only followed under it. */
  keyVaultDnsSuffix: string;
  /** Entra authority used by developer credentials (az login) — not used by managed identity. */
  authorityHost: string;
}

const KNOWN_CLOUDS: Record<Exclude<CloudName, 'Custom'>, CloudEndpoints> = {
  AzurePublicCloud: {
    resourceManager: 'https://management.azure.com',
    resourceManagerAudience: 'https://management.azure.com',
    keyVaultDnsSuffix: 'vault.azure.net',
    authorityHost: 'https://login.microsoftonline.com',
  },
  AzureChinaCloud: {
    resourceManager: 'https://management.chinacloudapi.cn',
    resourceManagerAudience: 'https://management.chinacloudapi.cn',
    keyVaultDnsSuffix: 'vault.azure.cn',
    authorityHost: 'https://login.chinacloudapi.cn',
  },
  AzureUSGovernment: {
    resourceManager: 'https://management.usgovcloudapi.net',
    resourceManagerAudience: 'https://management.usgovcloudapi.net',
    keyVaultDnsSuffix: 'vault.usgovcloudapi.net',
    authorityHost: 'https://login.microsoftonline.us',
  },
};

/**
 * Custom-metrics ingestion per cloud (https://{region}.monitoring.azure.com, audience
 * https://monitoring.azure.com/ with its trailing slash). [U] the sovereign clouds' hosts and
 * audiences; a Custom cloud (the sandbox) names its endpoint in MONITORING_ENDPOINT.
 */
const AZURE_MONITORING_AUDIENCE = 'https://monitoring.azure.com/';
const MONITORING: Partial<Record<CloudName, { endpoint: string; audience: string }>> = {
  AzurePublicCloud: {
    endpoint: 'https://{region}.monitoring.azure.com',
    audience: AZURE_MONITORING_AUDIENCE,
  },
  AzureChinaCloud: {
    endpoint: 'https://{region}.monitoring.azure.cn',
    audience: 'https://monitoring.azure.cn/',
  },
  AzureUSGovernment: {
    endpoint: 'https://{region}.monitoring.azure.us',
    audience: 'https://monitoring.azure.us/',
  },
};
const ACTION_GROUP_ID =
  /^\/subscriptions\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/resourceGroups\/[-\w._()]{1,90}\/providers\/microsoft\.insights\/actionGroups\/[^/?#\s]{1,260}$/i;
const RESOURCE_GROUP_NAME = /^[-\w._()]{1,90}$/;

// A subscription, a resource group in it, or a Service Bus namespace in that (no trailing slash).
const INFRA_SCOPE =
  /^\/subscriptions\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\/resourceGroups\/[-\w._()]{1,90}(\/providers\/Microsoft\.ServiceBus\/namespaces\/[a-z0-9-]{6,50})?)?$/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Azure's container naming rule: 3-63 characters, lower-case letters, digits and single hyphens.
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
const DNS_SUFFIX = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i;

export interface AppConfig {
  version: string;
  cloud: CloudName;
  endpoints: CloudEndpoints;
  /**
   * SWEEP_SUBSCRIPTIONS: `*` or the subscriptions the app is meant to cover (GET /api/health/azure checks them).
   * SWEEP_SCHEDULE: NCRONTAB of the compliance sweep's timer. SWEEP_CONCURRENCY: subscriptions (and
   * key-material batches) a sweep works on at once.
   */
  sweep: { subscriptions: '*' | string[]; schedule: string; concurrency: number };
  keyExpiryWarningDays: number;
  /** REPORTS_CONTAINER: blob container of the compliance reports in the app's storage account. */
  reportsContainer: string;
  /**
   * KEY_POLL_MINUTES: how often Service Bus polls its customer-managed keys (the docs: every 5 minutes).
   * confirmRotation waits two cycles before it looks for uptake; the key watch runs once per cycle.
   */
  keyPollMinutes: number;
  /** UPTAKE_DEADLINE_MINUTES: a rotation not confirmed this long after the event is alerted. */
  uptakeDeadlineMinutes: number;
  /** PINNED_VERSION_POLICY: `report` a namespace pinned to an older version, or `follow` (move it). */
  pinnedVersionPolicy: PinnedVersionPolicy;
  /** The app's storage account (AzureWebJobsStorage): key index, remembered verdicts, reports. */
  storage: StorageConfig;
  /** The alert path (docs/ARCHITECTURE.md "Alerting"). */
  alerting: AlertingConfig;
  /**
   * DELETED_KEY_CACHE_MINUTES: how long Service Bus may keep using a deleted key from its cache — the
   * deleted-key window of CMK-010 (docs/ARCHITECTURE.md "Key index"). Default 60 (the 2019 article).
   */
  deletedKeyCacheMinutes: number;
  /** KEY_INDEX_REFRESH_SCHEDULE: NCRONTAB (6 fields) of the key-index refresh timer. Default hourly. */
  keyIndexRefreshSchedule: string;
  /**
   * REQUIRE_INFRASTRUCTURE_ENCRYPTION: where namespaces must have infrastructure (double) encryption
   * (CMK-013): `*` everywhere, or ARM scopes (subscription, resource group or namespace ids, lower-case);
   * none by default.
   */
  requireInfrastructureEncryption: '*' | string[];
}

export interface StorageConfig {
  /** AzureWebJobsStorage as a connection string (locally, Azurite). */
  connectionString?: string;
  /** AzureWebJobsStorage__blobServiceUri: identity-based access in Azure (the app's credential). */
  blobServiceUri?: string;
}

export const ALERT_RULE_MODES = ['managed', 'external'] as const;
export type AlertRuleMode = (typeof ALERT_RULE_MODES)[number];

export interface AlertingConfig {
  /** ALERT_RULES: `managed` = the app ensures its metric alert rules; `external` = infra deploys them. */
  rules: AlertRuleMode;
  /** ALERT_ACTION_GROUP_ID: the action group managed rules notify (required when managed). */
  actionGroupId?: string;
  /** ALERT_RULES_RESOURCE_GROUP: where managed rules live in each subscription (default: the namespace's). */
  rulesResourceGroup?: string;
  /** MONITORING_ENDPOINT: custom-metrics ingestion, `{region}` replaced by the namespace's region. */
  monitoringEndpoint?: string;
  /** Token audience of the ingestion endpoint. */
  monitoringAudience: string;
}

export const PINNED_VERSION_POLICIES = ['report', 'follow'] as const;
export type PinnedVersionPolicy = (typeof PINNED_VERSION_POLICIES)[number];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * The settings the built features read — and no others: a setting is added with the feature that
 * reads it (docs/ARCHITECTURE.md "Configuration"). Checked by hand rather than with the schema
 * library because this runs at every cold start, and loading zod there would cost about a third of
 * the Functions runtime's own start-up; request bodies (not on the start-up path) use zod.
 */
type Problem = (message: string) => undefined;

function httpsUrl(value: string, problem: Problem): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return problem('must be a URL');
  }
  if (url.protocol !== 'https:') {
    return problem('must be an https:// URL (Azure SDKs refuse bearer tokens over http)');
  }
  return value.replace(/\/+$/, '');
}

/** Every six hours, on the hour (NCRONTAB: second minute hour day month day-of-week). */
export const DEFAULT_SWEEP_SCHEDULE = '0 0 */6 * * *';

const CRON_FIELDS: ReadonlyArray<{ name: string; min: number; max: number; names?: readonly string[] }> = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  { name: 'day-of-week', min: 0, max: 6, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

/**
 * An NCRONTAB expression as the Functions timer trigger takes it: six fields, each `*`, a value, a
 * range `a-b`, a list `a,b` and an optional step `/n`; months and days of the week also by name.
 */
function ncrontab(value: string, problem: Problem): string | undefined {
  const fields = value.split(/\s+/);
  if (fields.length !== 6)
    return problem(
      `must be an NCRONTAB expression with 6 fields ({second} {minute} {hour} {day} {month} {day-of-week}), got ${fields.length}`,
    );
  for (const [i, field] of fields.entries()) {
    const spec = CRON_FIELDS[i]!;
    const atom = (text: string): number | undefined => {
      if (/^\d+$/.test(text)) return Number(text);
      const named = spec.names?.indexOf(text.toUpperCase()) ?? -1;
      return named >= 0 ? named + spec.min : undefined;
    };
    for (const part of field.split(',')) {
      const [range = '', step, extra] = part.split('/');
      const badStep = step !== undefined && (!/^\d+$/.test(step) || Number(step) === 0);
      const bounds = range === '*' ? [] : range.split('-');
      const values = bounds.map(atom);
      const badRange =
        extra !== undefined ||
        (range !== '*' &&
          (bounds.length > 2 ||
            values.some((n) => n === undefined || n < spec.min || n > spec.max) ||
            (values.length === 2 && values[0]! > values[1]!)));
      if (badStep || badRange)
        return problem(
          `has an invalid ${spec.name} field "${field}" (${spec.min}-${spec.max}, *, a-b, a,b, /n)`,
        );
    }
  }
  return fields.join(' ');
}

/** Reads and validates settings; empty strings count as "not set" (as in App Service settings). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: string[] = [];
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const check = <T>(name: string, parse: (value: string, problem: Problem) => T | undefined) => {
    const value = read(name);
    if (value === undefined) return undefined;
    return parse(value, (m) => {
      problems.push(`${name} ${m} (got "${value}")`);
      return undefined;
    });
  };

  const cloud =
    check('AZURE_CLOUD', (v, problem): CloudName | undefined => {
      if ((CLOUDS as readonly string[]).includes(v)) return v as CloudName;
      return problem(`must be one of ${CLOUDS.join(', ')}`);
    }) ?? (read('AZURE_CLOUD') === undefined ? 'AzurePublicCloud' : undefined);
  const armEndpoint = check('ARM_ENDPOINT', httpsUrl);
  const armAudience = check('ARM_AUDIENCE', httpsUrl);
  const authorityHost = check('AZURE_AUTHORITY_HOST', httpsUrl);
  const keyVaultDnsSuffix = check('KEYVAULT_DNS_SUFFIX', (v, problem) => {
    return DNS_SUFFIX.test(v) ? v.toLowerCase() : problem('must be a DNS suffix like vault.azure.net');
  });
  const subscriptions =
    check('SWEEP_SUBSCRIPTIONS', (v, problem): '*' | string[] | undefined => {
      if (v === '*') return '*';
      const list = v.split(/[\s,;]+/).filter(Boolean);
      if (list.length > 0 && list.every((s) => GUID.test(s))) return list;
      return problem('must be * or a comma-separated list of subscription ids');
    }) ?? '*';
  const sweepSchedule = check('SWEEP_SCHEDULE', ncrontab) ?? DEFAULT_SWEEP_SCHEDULE;
  const sweepConcurrency =
    check('SWEEP_CONCURRENCY', (v, problem) => {
      if (!/^\d+$/.test(v)) return problem('must be a whole number');
      const n = Number(v);
      if (n < 1 || n > 32) return problem('must be between 1 and 32');
      return n;
    }) ?? 8;
  const keyExpiryWarningDays =
    check('KEY_EXPIRY_WARNING_DAYS', (v, problem) => {
      if (!/^\d+$/.test(v)) return problem('must be a whole number');
      const n = Number(v);
      if (n < 1 || n > 365) return problem('must be between 1 and 365');
      return n;
    }) ?? 30;
  const wholeMinutes = (min: number, max: number) => (v: string, problem: Problem) => {
    if (!/^\d+$/.test(v)) return problem('must be a whole number of minutes');
    const n = Number(v);
    if (n < min || n > max) return problem(`must be between ${min} and ${max}`);
    return n;
  };
  const keyPollMinutes = check('KEY_POLL_MINUTES', wholeMinutes(1, 60)) ?? 5;
  const uptakeDeadlineMinutes = check('UPTAKE_DEADLINE_MINUTES', wholeMinutes(2, 1440)) ?? 60;
  const pinnedVersionPolicy =
    check('PINNED_VERSION_POLICY', (v, problem): PinnedVersionPolicy | undefined => {
      const lower = v.toLowerCase();
      if ((PINNED_VERSION_POLICIES as readonly string[]).includes(lower)) return lower as PinnedVersionPolicy;
      return problem(`must be one of ${PINNED_VERSION_POLICIES.join(', ')}`);
    }) ?? 'report';
  const deletedKeyCacheMinutes = check('DELETED_KEY_CACHE_MINUTES', wholeMinutes(1, 1440)) ?? 60;
  const keyIndexRefreshSchedule =
    check('KEY_INDEX_REFRESH_SCHEDULE', (v, problem) => {
      // The host parses it fully; this catches the common slip (5-field cron, a TimeSpan) at start-up.
      const fields = v.split(/\s+/);
      if (fields.length !== 6 || !fields.every((f) => /^[\d*/,-]+$/.test(f)))
        return problem(
          'must be an NCRONTAB expression with 6 fields ({second} {minute} {hour} {day} {month} {day-of-week}), e.g. "0 0 * * * *"',
        );
      return fields.join(' ');
    }) ?? '0 0 * * * *';
  const requireInfrastructureEncryption =
    check('REQUIRE_INFRASTRUCTURE_ENCRYPTION', (v, problem): '*' | string[] | undefined => {
      if (v === '*' || v.toLowerCase() === 'true') return '*';
      if (v.toLowerCase() === 'false') return [];
      const list = v
        .split(/[\s,;]+/)
        .filter(Boolean)
        .map((x) => x.replace(/\/+$/, ''));
      if (list.every((x) => INFRA_SCOPE.test(x))) return list.map((x) => x.toLowerCase());
      return problem(
        'must be *, false, or a comma-separated list of subscription, resource group or namespace ids',
      );
    }) ?? [];
  const storage: StorageConfig = {};
  const connectionString = read('AzureWebJobsStorage');
  if (connectionString) storage.connectionString = connectionString;
  const blobServiceUri = check('AzureWebJobsStorage__blobServiceUri', httpsUrl);
  if (blobServiceUri) storage.blobServiceUri = blobServiceUri;
  const alertRules =
    check('ALERT_RULES', (v, problem): AlertRuleMode | undefined => {
      const lower = v.toLowerCase();
      if ((ALERT_RULE_MODES as readonly string[]).includes(lower)) return lower as AlertRuleMode;
      return problem(`must be one of ${ALERT_RULE_MODES.join(', ')}`);
    }) ?? 'external';
  const actionGroupId = check('ALERT_ACTION_GROUP_ID', (v, problem) =>
    ACTION_GROUP_ID.test(v)
      ? v
      : problem(
          'must be an action group id (/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Insights/actionGroups/{name})',
        ),
  );
  const rulesResourceGroup = check('ALERT_RULES_RESOURCE_GROUP', (v, problem) =>
    RESOURCE_GROUP_NAME.test(v) && !v.endsWith('.') ? v : problem('must be a resource group name'),
  );
  const monitoringEndpoint = check('MONITORING_ENDPOINT', (v, problem) => {
    const url = httpsUrl(v.replace('{region}', 'region'), problem);
    if (url === undefined) return undefined;
    if (!v.includes('{region}'))
      return problem('must contain {region}, e.g. https://{region}.monitoring.azure.com');
    return v.replace(/\/+$/, '');
  });

  const reportsContainer =
    check('REPORTS_CONTAINER', (v, problem) =>
      CONTAINER_NAME.test(v)
        ? v
        : problem('must be a blob container name (3-63 lower-case letters, digits and single hyphens)'),
    ) ?? 'cmk-reports';

  // Cross-field rules, once the fields themselves are valid.
  if (problems.length === 0 && cloud === 'Custom') {
    if (!armEndpoint) problems.push('ARM_ENDPOINT is required when AZURE_CLOUD=Custom');
    if (!keyVaultDnsSuffix) problems.push('KEYVAULT_DNS_SUFFIX is required when AZURE_CLOUD=Custom');
  }
  // Uptake is looked for after two key polls: a deadline before that could never be met.
  if (problems.length === 0 && uptakeDeadlineMinutes < 2 * keyPollMinutes)
    problems.push(
      `UPTAKE_DEADLINE_MINUTES (${uptakeDeadlineMinutes}) must be at least two key polls (2 × KEY_POLL_MINUTES = ${2 * keyPollMinutes})`,
    );
  if (problems.length === 0 && alertRules === 'managed' && !actionGroupId)
    problems.push(
      'ALERT_ACTION_GROUP_ID is required when ALERT_RULES=managed (the action group the rules notify)',
    );
  if (problems.length > 0 || cloud === undefined) throw new ConfigError(problems);

  const base: CloudEndpoints =
    cloud === 'Custom'
      ? {
          resourceManager: armEndpoint!,
          resourceManagerAudience: armEndpoint!,
          keyVaultDnsSuffix: keyVaultDnsSuffix!,
          authorityHost: authorityHost ?? KNOWN_CLOUDS.AzurePublicCloud.authorityHost,
        }
      : KNOWN_CLOUDS[cloud];
  return {
    version: packageJson.version,
    cloud,
    endpoints: {
      resourceManager: armEndpoint ?? base.resourceManager,
      resourceManagerAudience: armAudience ?? armEndpoint ?? base.resourceManagerAudience,
      keyVaultDnsSuffix: keyVaultDnsSuffix ?? base.keyVaultDnsSuffix,
      authorityHost: authorityHost ?? base.authorityHost,
    },
    sweep: { subscriptions, schedule: sweepSchedule, concurrency: sweepConcurrency },
    keyExpiryWarningDays,
    reportsContainer,
    keyPollMinutes,
    uptakeDeadlineMinutes,
    pinnedVersionPolicy,
    storage,
    deletedKeyCacheMinutes,
    keyIndexRefreshSchedule,
    requireInfrastructureEncryption,
    alerting: {
      rules: alertRules,
      ...(actionGroupId ? { actionGroupId } : {}),
      ...(rulesResourceGroup ? { rulesResourceGroup } : {}),
      ...((monitoringEndpoint ?? MONITORING[cloud]?.endpoint)
        ? { monitoringEndpoint: monitoringEndpoint ?? MONITORING[cloud]!.endpoint }
        : {}),
      monitoringAudience: MONITORING[cloud]?.audience ?? AZURE_MONITORING_AUDIENCE,
    },
  };
}

let cached: AppConfig | undefined;
/** The app's configuration, loaded on first use (at start-up, from src/index.ts). */
export function getConfig(): AppConfig {
  cached ??= loadConfig();
  return cached;
}

/** The CMK-013 part of the rule settings (docs/ARCHITECTURE.md "Rules"). */
export function infrastructureEncryptionSettings(
  config: Pick<AppConfig, 'requireInfrastructureEncryption'>,
): { requireInfrastructureEncryption?: true; infrastructureEncryptionScopes?: string[] } {
  const required = config.requireInfrastructureEncryption;
  if (required === '*') return { requireInfrastructureEncryption: true };
  return required.length ? { infrastructureEncryptionScopes: [...required] } : {};
}
