import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { VirtualClock, type Clock } from '../clock';
import { loadOrCreateFile, loadTls } from './certs';
import { SandboxControl, registerControlApi } from './control';
import {
  DEFAULT_MONITORING_DNS_SUFFIX,
  newSecret,
  SandboxCore,
  type ResolvedOptions,
  type ResourceProvider,
} from './core';
import { registerIdentityEndpoint } from './identity/endpoint';
import { TokenService } from './identity/tokens';
import { defaultProviders } from './providers';
import { listen } from './server';
import { startBlobStorage, type BlobStorage } from './storage/azurite';
import { MemoryStore, SnapshotStore } from './store';
import { AZURE_ARM_LIMITS, type ThrottleProfile } from './throttle';

/**
 * Starts the offline Azure: in-process for tests (`await startAzureSandbox()`), or as its own process
 * through cli.ts. Everything has a default; a test usually only picks the clock and, for specific
 * behaviours, throttling / propagation delay / LRO duration / page size.
 */
export interface AzureSandboxOptions {
  /** HTTPS port (0 = any free port). */
  port?: number;
  /** Plain-HTTP port for the identity endpoint and the CONNECT proxy (0 = any free port). */
  httpPort?: number;
  host?: string;
  /** Folder for the CA, token signing key and snapshot (default `<cwd>/.sandbox`, git-ignored). */
  stateDir?: string;
  /** Default: a VirtualClock (time moves only when advanced). */
  clock?: Clock;
  /** Persist the estate to this JSON file (relative to stateDir unless absolute); default: memory only. */
  snapshotFile?: string;
  tenantId?: string;
  subscriptions?: Array<{ subscriptionId: string; displayName: string }>;
  defaultLocation?: string;
  /** DNS suffix of vault hosts (KEYVAULT_DNS_SUFFIX). Default `vault.sandbox.localhost`. */
  keyVaultDnsSuffix?: string;
  /** DNS suffix of Azure Monitor regional hosts (custom metrics). Default `monitoring.sandbox.localhost`. */
  monitoringDnsSuffix?: string;
  tokenLifetimeSeconds?: number;
  /** How long ARM async operations run on the clock (default 0: done at the first poll). */
  lroDurationMs?: number;
  lroRetryAfterSeconds?: number;
  /** Items per page in ARM lists (default 100). */
  pageSize?: number;
  /** ARM throttling: 'azure' (250/25, 200/10, 200/10), a custom profile, or off (default). */
  throttling?: ThrottleProfile | 'azure' | false;
  /** Delay before new role assignments are honoured, on the clock (default 0). */
  propagationDelayMs?: number;
  /**
   * How token expiry is judged: 'client' (default) — when the lifetime has passed in real time, as the
   * client refreshes; 'clock' — `exp` against the sandbox clock (to test ExpiredAuthenticationToken).
   */
  tokenExpiry?: 'client' | 'clock';
  /** Control API secret (default: random per start). */
  adminSecret?: string;
  /** The app's identity (its Function App's system-assigned identity). */
  appIdentity?: { objectId?: string; clientId?: string; resourceId?: string; identityHeader?: string };
  /** Providers in addition to the defaults (providers.ts). */
  providers?: ResourceProvider[];
  /**
   * Run the storage account (Azurite's Blob service, in memory, a child process): `AzureWebJobsStorage`
   * in `env`, Event Grid dead-letter containers. Default false (tests that need it opt in; `npm start`
   * and the CLI turn it on).
   */
  storage?: boolean;
}

export interface AzureSandbox {
  /** ARM endpoint (ARM_ENDPOINT), e.g. https://localhost:51234. */
  url: string;
  port: number;
  httpPort: number;
  /** CA certificate path (NODE_EXTRA_CA_CERTS) and PEM (for tlsOptions / https.Agent). */
  caPath: string;
  caPem: string;
  clock: Clock;
  control: SandboxControl;
  core: SandboxCore;
  adminSecret: string;
  tenantId: string;
  subscriptionId: string;
  /** The app's identity principal (object id) and the IDENTITY_* values that reach it. */
  app: {
    objectId: string;
    clientId: string;
    resourceId: string;
    identityEndpoint: string;
    identityHeader: string;
  };
  admin: { objectId: string; clientId: string };
  keyVaultDnsSuffix: string;
  /** `https://<vault>.<suffix>/` — no port, as in Azure (reached through the CONNECT proxy). */
  vaultUri(vaultName: string): string;
  /** The storage account when started with `storage: true`: Blob endpoint, account, connection string. */
  storage?: Pick<BlobStorage, 'blobEndpoint' | 'accountName' | 'accountKey' | 'connectionString'>;
  /** Settings for the app (or any Azure SDK client process) to target this sandbox. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export const DEFAULT_TENANT_ID = '72f988bf-0000-4000-8000-00000000cafe';
export const DEFAULT_SUBSCRIPTION_ID = '00000000-0000-4000-8000-000000000001';
export const DEFAULT_KEYVAULT_DNS_SUFFIX = 'vault.sandbox.localhost';
export { DEFAULT_MONITORING_DNS_SUFFIX } from './core';

/** Host names the sandbox's TLS certificate covers (start.ts creates the CA with the same list). */
export function sandboxHostNames(
  keyVaultSuffix: string,
  monitoringSuffix: string = DEFAULT_MONITORING_DNS_SUFFIX,
): string[] {
  return ['localhost', `*.${keyVaultSuffix}`, keyVaultSuffix, `*.${monitoringSuffix}`];
}

export async function startAzureSandbox(options: AzureSandboxOptions = {}): Promise<AzureSandbox> {
  const stateDir = options.stateDir ?? join(process.cwd(), '.sandbox');
  const suffix = (options.keyVaultDnsSuffix ?? DEFAULT_KEYVAULT_DNS_SUFFIX).toLowerCase();
  const monitoringSuffix = (options.monitoringDnsSuffix ?? DEFAULT_MONITORING_DNS_SUFFIX).toLowerCase();
  const tls = loadTls(join(stateDir, 'tls'), sandboxHostNames(suffix, monitoringSuffix));
  const clock = options.clock ?? new VirtualClock();
  const store = options.snapshotFile
    ? new SnapshotStore(
        options.snapshotFile.startsWith('/') ? options.snapshotFile : join(stateDir, options.snapshotFile),
      )
    : new MemoryStore();
  // Keep the signing key across restarts so tokens a running app cached stay valid.
  const signingKeyPem = loadOrCreateFile(stateDir, 'token-signing-key.pem', () =>
    new TokenService(clock, 60).exportSigningKey(),
  );
  // With a snapshot the estate outlives the process, so must the app identity the snapshot refers to.
  const persisted = options.snapshotFile
    ? (JSON.parse(
        loadOrCreateFile(stateDir, 'app-identity.json', () =>
          JSON.stringify({ objectId: randomUUID(), clientId: randomUUID(), identityHeader: newSecret() }),
        ),
      ) as { objectId: string; clientId: string; identityHeader: string })
    : undefined;
  const subscriptions = options.subscriptions ?? [
    { subscriptionId: DEFAULT_SUBSCRIPTION_ID, displayName: 'Sandbox subscription' },
  ];
  const firstSub = subscriptions[0]?.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID;
  const resolved: ResolvedOptions = {
    tenantId: options.tenantId ?? DEFAULT_TENANT_ID,
    subscriptions,
    defaultLocation: options.defaultLocation ?? 'westeurope',
    keyVaultDnsSuffix: suffix,
    monitoringDnsSuffix: monitoringSuffix,
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 24 * 3600,
    lroDurationMs: options.lroDurationMs ?? 0,
    lroRetryAfterSeconds: options.lroRetryAfterSeconds ?? 1,
    pageSize: options.pageSize ?? 100,
    adminSecret: options.adminSecret ?? newSecret(),
    adminObjectId: '00000000-0000-4000-8000-00000000ad01',
    // Fixed like the object id, so the admin's client id survives a reset (README: same identities).
    adminClientId: '00000000-0000-4000-8000-00000000ad02',
    appObjectId: options.appIdentity?.objectId ?? persisted?.objectId ?? randomUUID(),
    appClientId: options.appIdentity?.clientId ?? persisted?.clientId ?? randomUUID(),
    appResourceId:
      options.appIdentity?.resourceId ??
      `/subscriptions/${firstSub}/resourceGroups/rg-cmk-guardian/providers/Microsoft.Web/sites/func-cmk-guardian`,
    identityHeader: options.appIdentity?.identityHeader ?? persisted?.identityHeader ?? newSecret(),
  };
  const throttling = options.throttling === 'azure' ? AZURE_ARM_LIMITS : options.throttling || undefined;
  const core = new SandboxCore({
    clock,
    store,
    options: resolved,
    port: options.port ?? 0,
    signingKeyPem,
    ...(throttling ? { throttling } : {}),
    propagationDelayMs: options.propagationDelayMs ?? 0,
    ...(options.tokenExpiry ? { tokenExpiry: options.tokenExpiry } : {}),
  });
  core.caPem = tls.caPem;
  for (const provider of [...defaultProviders(), ...(options.providers ?? [])]) core.use(provider);
  const control = new SandboxControl(core);
  registerIdentityEndpoint(core);
  registerControlApi(core, control, tls.caPem);
  core.seed();
  if (options.storage) core.storage = await startBlobStorage();

  const listening = await listen(core, tls, {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    httpPort: options.httpPort ?? 0,
  });
  const url = core.urls.arm;
  const identityEndpoint = core.urls.identityEndpoint;

  return {
    url,
    port: listening.port,
    httpPort: listening.httpPort,
    caPath: tls.caPath,
    caPem: tls.caPem,
    clock,
    control,
    core,
    adminSecret: resolved.adminSecret,
    tenantId: resolved.tenantId,
    subscriptionId: firstSub,
    app: {
      objectId: resolved.appObjectId,
      clientId: resolved.appClientId,
      resourceId: resolved.appResourceId,
      identityEndpoint,
      identityHeader: resolved.identityHeader,
    },
    admin: { objectId: resolved.adminObjectId, clientId: resolved.adminClientId },
    keyVaultDnsSuffix: suffix,
    vaultUri: (name) => core.urls.vaultUri(name),
    env: {
      AZURE_CLOUD: 'Custom',
      ARM_ENDPOINT: url,
      KEYVAULT_DNS_SUFFIX: suffix,
      // Custom-metrics ingestion (`{region}` filled in per resource, as in Azure's https://{region}.monitoring.azure.com).
      MONITORING_ENDPOINT: `https://{region}.${monitoringSuffix}`,
      IDENTITY_ENDPOINT: identityEndpoint,
      IDENTITY_HEADER: resolved.identityHeader,
      // App Service sets the 2017-09-01 protocol's names on the same endpoint too; Azure CLI 2.45's
      // `az login --identity` uses them when APPSETTING_WEBSITE_SITE_NAME says it runs on App Service.
      MSI_ENDPOINT: identityEndpoint,
      MSI_SECRET: resolved.identityHeader,
      APPSETTING_WEBSITE_SITE_NAME: resolved.appResourceId.split('/').pop() ?? 'func-cmk-guardian',
      NODE_EXTRA_CA_CERTS: tls.caPath,
      // Python `requests` (Azure CLI, the Python SDK) reads its CA bundle from here, not NODE_EXTRA_CA_CERTS.
      REQUESTS_CA_BUNDLE: tls.caPath,
      // Every https request goes through the sandbox's CONNECT proxy (vault hosts have no DNS, see
      // server.ts); only the plain-http identity endpoint on 127.0.0.1 goes direct. Not `localhost`:
      // Python (requests, urllib) matches NO_PROXY entries as host suffixes, so `localhost` would send
      // `<vault>.vault.sandbox.localhost` around the proxy into a failing DNS lookup.
      HTTPS_PROXY: `http://127.0.0.1:${listening.httpPort}`,
      NO_PROXY: '127.0.0.1',
      SWEEP_SUBSCRIPTIONS: subscriptions.map((s) => s.subscriptionId).join(','),
      ...(core.storage
        ? {
            AzureWebJobsStorage: core.storage.connectionString,
            SANDBOX_BLOB_ENDPOINT: core.storage.blobEndpoint,
          }
        : {}),
    },
    ...(core.storage
      ? {
          storage: {
            blobEndpoint: core.storage.blobEndpoint,
            accountName: core.storage.accountName,
            accountKey: core.storage.accountKey,
            connectionString: core.storage.connectionString,
          },
        }
      : {}),
    close: async () => {
      await listening.close();
      for (const p of core.providers) await p.close?.();
      await core.storage?.close();
      store.flush();
    },
  };
}

export { SandboxCore, type ResourceProvider } from './core';
export { SandboxControl } from './control';
export { reply, type Reply, type RequestContext, type Service } from './context';
export { SandboxError, ArmErrors } from './errors';
export { ROLE_IDS, BUILT_IN_ROLES } from './rbac/roles';
