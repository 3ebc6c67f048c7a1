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

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Azure's container naming rule: 3-63 characters, lower-case letters, digits and single hyphens.
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
const DNS_SUFFIX = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i;

export interface AppConfig {
  version: string;
  cloud: CloudName;
  endpoints: CloudEndpoints;
  /** SWEEP_SUBSCRIPTIONS: `*` or the subscriptions the app is meant to cover (GET /api/health/azure checks them). */
  sweep: { subscriptions: '*' | string[] };
  keyExpiryWarningDays: number;
  /** REPORTS_CONTAINER: blob container of the compliance reports in the app's storage account. */
  reportsContainer: string;
}

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
  const keyExpiryWarningDays =
    check('KEY_EXPIRY_WARNING_DAYS', (v, problem) => {
      if (!/^\d+$/.test(v)) return problem('must be a whole number');
      const n = Number(v);
      if (n < 1 || n > 365) return problem('must be between 1 and 365');
      return n;
    }) ?? 30;

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
    sweep: { subscriptions },
    keyExpiryWarningDays,
    reportsContainer,
  };
}

let cached: AppConfig | undefined;
/** The app's configuration, loaded on first use (at start-up, from src/index.ts). */
export function getConfig(): AppConfig {
  cached ??= loadConfig();
  return cached;
}
