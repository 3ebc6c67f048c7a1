import { z } from 'zod';
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
  /** Custom-metrics ingestion base, e.g. https://{region}.monitoring.azure.com (region filled in per resource). */
  monitoring: string;
  /** Entra authority used by developer credentials (az login) — not used by managed identity. */
  authorityHost: string;
}

const KNOWN_CLOUDS: Record<Exclude<CloudName, 'Custom'>, CloudEndpoints> = {
  AzurePublicCloud: {
    resourceManager: 'https://management.azure.com',
    resourceManagerAudience: 'https://management.azure.com',
    keyVaultDnsSuffix: 'vault.azure.net',
    monitoring: 'https://{region}.monitoring.azure.com',
    authorityHost: 'https://login.microsoftonline.com',
  },
  AzureChinaCloud: {
    resourceManager: 'https://management.chinacloudapi.cn',
    resourceManagerAudience: 'https://management.chinacloudapi.cn',
    keyVaultDnsSuffix: 'vault.azure.cn',
    monitoring: 'https://{region}.monitoring.azure.cn',
    authorityHost: 'https://login.chinacloudapi.cn',
  },
  AzureUSGovernment: {
    resourceManager: 'https://management.usgovcloudapi.net',
    resourceManagerAudience: 'https://management.usgovcloudapi.net',
    keyVaultDnsSuffix: 'vault.usgovcloudapi.net',
    monitoring: 'https://{region}.monitoring.azure.us',
    authorityHost: 'https://login.microsoftonline.us',
  },
};

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const httpsUrl = z
  .string()
  .trim()
  .url()
  .refine(
    (u) => u.startsWith('https://'),
    'must be an https:// URL (Azure SDKs refuse bearer tokens over http)',
  )
  .transform((u) => u.replace(/\/+$/, ''));
const dnsSuffix = z
  .string()
  .trim()
  .regex(
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i,
    'must be a DNS suffix like vault.azure.net',
  )
  .transform((s) => s.toLowerCase());
const intIn = (min: number, max: number, fallback: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((v) => v ?? fallback);

const schema = z
  .object({
    AZURE_CLOUD: z.enum(CLOUDS).default('AzurePublicCloud'),
    ARM_ENDPOINT: httpsUrl.optional(),
    ARM_AUDIENCE: httpsUrl.optional(),
    KEYVAULT_DNS_SUFFIX: dnsSuffix.optional(),
    MONITORING_ENDPOINT: httpsUrl.optional(),
    AZURE_AUTHORITY_HOST: httpsUrl.optional(),
    SWEEP_SUBSCRIPTIONS: z
      .string()
      .trim()
      .default('*')
      .transform((s) => (s === '*' ? ('*' as const) : s.split(/[\s,;]+/).filter(Boolean)))
      .refine(
        (v) => v === '*' || (v.length > 0 && v.every((s) => guid.test(s))),
        'must be * or a comma-separated list of subscription ids',
      ),
    SWEEP_SCHEDULE: z
      .string()
      .trim()
      .default('0 0 */6 * * *')
      .refine(
        (s) => /^%[A-Za-z0-9_]+%$/.test(s) || s.split(/\s+/).length === 6,
        'must be an NCRONTAB expression with 6 fields: {second} {minute} {hour} {day} {month} {day-of-week}',
      ),
    ALERT_RULES: z.enum(['managed', 'external']).default('external'),
    ALERT_ACTION_GROUP_ID: z
      .string()
      .trim()
      .regex(
        /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/microsoft\.insights\/actionGroups\/[^/]+$/i,
        'must be an action group resource id (/subscriptions/…/providers/microsoft.insights/actionGroups/…)',
      )
      .optional(),
    PINNED_VERSION_POLICY: z.enum(['report', 'follow']).default('report'),
    KEY_EXPIRY_WARNING_DAYS: intIn(1, 365, 30),
    KEY_POLL_MINUTES: intIn(1, 1440, 5),
    UPTAKE_DEADLINE_MINUTES: intIn(1, 10080, 60),
    REPORTS_CONTAINER: z
      .string()
      .trim()
      .regex(
        /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/,
        'must be a valid blob container name (3-63 lowercase letters, digits, hyphens)',
      )
      .default('cmk-reports'),
  })
  .superRefine((s, ctx) => {
    if (s.AZURE_CLOUD === 'Custom') {
      for (const name of ['ARM_ENDPOINT', 'KEYVAULT_DNS_SUFFIX'] as const) {
        if (!s[name])
          ctx.addIssue({ code: 'custom', path: [name], message: 'is required when AZURE_CLOUD=Custom' });
      }
    }
    if (s.ALERT_RULES === 'managed' && !s.ALERT_ACTION_GROUP_ID) {
      ctx.addIssue({
        code: 'custom',
        path: ['ALERT_ACTION_GROUP_ID'],
        message: 'is required when ALERT_RULES=managed',
      });
    }
  });

export interface AppConfig {
  version: string;
  cloud: CloudName;
  endpoints: CloudEndpoints;
  sweep: { subscriptions: '*' | string[]; schedule: string };
  alerts: { rules: 'managed' | 'external'; actionGroupId?: string };
  pinnedVersionPolicy: 'report' | 'follow';
  keyExpiryWarningDays: number;
  keyPollMinutes: number;
  uptakeDeadlineMinutes: number;
  reportsContainer: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates settings; empty strings count as "not set" (as in App Service settings). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = i.path.join('.') || 'settings';
        const given = typeof i.path[0] === 'string' ? raw[i.path[0]] : undefined;
        return `${name} ${i.message.replace(/^Invalid input: /, '')}${given !== undefined ? ` (got "${given}")` : ''}`;
      }),
    );
  }
  const s = parsed.data;
  const base: CloudEndpoints =
    s.AZURE_CLOUD === 'Custom'
      ? {
          resourceManager: s.ARM_ENDPOINT!,
          resourceManagerAudience: s.ARM_ENDPOINT!,
          keyVaultDnsSuffix: s.KEYVAULT_DNS_SUFFIX!,
          monitoring: s.MONITORING_ENDPOINT ?? s.ARM_ENDPOINT!,
          authorityHost: s.AZURE_AUTHORITY_HOST ?? KNOWN_CLOUDS.AzurePublicCloud.authorityHost,
        }
      : KNOWN_CLOUDS[s.AZURE_CLOUD];
  return {
    version: packageJson.version,
    cloud: s.AZURE_CLOUD,
    endpoints: {
      resourceManager: s.ARM_ENDPOINT ?? base.resourceManager,
      resourceManagerAudience: s.ARM_AUDIENCE ?? s.ARM_ENDPOINT ?? base.resourceManagerAudience,
      keyVaultDnsSuffix: s.KEYVAULT_DNS_SUFFIX ?? base.keyVaultDnsSuffix,
      monitoring: s.MONITORING_ENDPOINT ?? base.monitoring,
      authorityHost: s.AZURE_AUTHORITY_HOST ?? base.authorityHost,
    },
    sweep: { subscriptions: s.SWEEP_SUBSCRIPTIONS, schedule: s.SWEEP_SCHEDULE },
    alerts: {
      rules: s.ALERT_RULES,
      ...(s.ALERT_ACTION_GROUP_ID ? { actionGroupId: s.ALERT_ACTION_GROUP_ID } : {}),
    },
    pinnedVersionPolicy: s.PINNED_VERSION_POLICY,
    keyExpiryWarningDays: s.KEY_EXPIRY_WARNING_DAYS,
    keyPollMinutes: s.KEY_POLL_MINUTES,
    uptakeDeadlineMinutes: s.UPTAKE_DEADLINE_MINUTES,
    reportsContainer: s.REPORTS_CONTAINER,
  };
}

let cached: AppConfig | undefined;
/** The app's configuration, loaded on first use (at start-up, from src/index.ts). */
export function getConfig(): AppConfig {
  cached ??= loadConfig();
  return cached;
}
