import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import type { KeyVaultManagementClient } from '@azure/arm-keyvault';
import type { MonitorClient } from '@azure/arm-monitor';
import type { ManagedServiceIdentityClient } from '@azure/arm-msi';
import type { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import type { ServiceBusManagementClient } from '@azure/arm-servicebus';
import type { TokenCredential } from '@azure/identity';
import type { KeyClient } from '@azure/keyvault-keys';
import type { HttpClient, Pipeline, PipelineOptions, PipelinePolicy } from '@azure/core-rest-pipeline';
import type { BlobServiceClient } from '@azure/storage-blob';
import type { AppConfig } from '../config';
import { isKeyVaultUrl as isDomainKeyVaultUrl } from '../domain/resourceIds';

/**
 * The one place the app builds its Azure credential and SDK clients. Everything that differs between
 * Azure, a sovereign cloud and the offline sandbox is configuration (AppConfig.endpoints, from
 * AZURE_CLOUD / ARM_ENDPOINT / ARM_AUDIENCE / KEYVAULT_DNS_SUFFIX) — the code path is the same:
 *
 * - Credential: in App Service / Functions (IDENTITY_ENDPOINT + IDENTITY_HEADER set, as the sandbox
 *   also sets them) the managed identity, user-assigned when AZURE_CLIENT_ID names one; elsewhere
 *   DefaultAzureCredential (environment, workload identity, Azure CLI `az login` on a laptop).
 * - ARM clients: the cloud's endpoint and an explicit token scope — several modular SDKs default their
 *   scope to https://management.azure.com/.default whatever the endpoint, which is wrong off the public cloud.
 * - Trust: the sandbox's CA comes from NODE_EXTRA_CA_CERTS; vault host names through HTTPS_PROXY/NO_PROXY
 *   (honoured by every SDK's pipeline). No code difference.
 */

export const USER_AGENT_PREFIX = 'servicebus-cmk-guardian';

/*
 * The SDK packages are loaded on first use, not when the app registers its functions: together they
 * cost more than @azure/functions + durable-functions themselves, and most invocations (health, bad
 * input, operation status) never need one (docs/ARCHITECTURE.md "Cold start"). `require` keeps the
 * call synchronous; the types above are erased at compile time.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- deferred loading is the point */
const sdk = {
  authorization: () => require('@azure/arm-authorization') as typeof import('@azure/arm-authorization'),
  keyVault: () => require('@azure/arm-keyvault') as typeof import('@azure/arm-keyvault'),
  monitor: () => require('@azure/arm-monitor') as typeof import('@azure/arm-monitor'),
  msi: () => require('@azure/arm-msi') as typeof import('@azure/arm-msi'),
  subscriptions: () =>
    require('@azure/arm-resources-subscriptions') as typeof import('@azure/arm-resources-subscriptions'),
  serviceBus: () => require('@azure/arm-servicebus') as typeof import('@azure/arm-servicebus'),
  identity: () => require('@azure/identity') as typeof import('@azure/identity'),
  keys: () => require('@azure/keyvault-keys') as typeof import('@azure/keyvault-keys'),
  pipeline: () => require('@azure/core-rest-pipeline') as typeof import('@azure/core-rest-pipeline'),
  blob: () => require('@azure/storage-blob') as typeof import('@azure/storage-blob'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

export function createCredential(config: AppConfig, env: NodeJS.ProcessEnv = process.env): TokenCredential {
  const clientId = env.AZURE_CLIENT_ID?.trim() || undefined;
  const { DefaultAzureCredential, ManagedIdentityCredential } = sdk.identity();
  if (env.IDENTITY_ENDPOINT && env.IDENTITY_HEADER) {
    return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
  }
  return new DefaultAzureCredential({
    authorityHost: config.endpoints.authorityHost,
    ...(clientId ? { managedIdentityClientId: clientId } : {}),
  });
}

/** Pipeline policies added to every client, each run once per attempt (after the SDK's retry policy). */
export type ExtraPolicies = readonly PipelinePolicy[];

function perRetry(policies: ExtraPolicies): {
  additionalPolicies?: Array<{ policy: PipelinePolicy; position: 'perRetry' }>;
} {
  return policies.length
    ? { additionalPolicies: policies.map((policy) => ({ policy, position: 'perRetry' })) }
    : {};
}

/** Options every ARM client gets (legacy core-client and modular clients spell the scope differently). */
export function armClientOptions(
  config: AppConfig,
  policies: ExtraPolicies = [],
): {
  endpoint: string;
  credentialScopes: string[];
  credentials: { scopes: string[] };
  userAgentOptions: { userAgentPrefix: string };
  additionalPolicies?: Array<{ policy: PipelinePolicy; position: 'perRetry' }>;
} {
  const scope = `${config.endpoints.resourceManagerAudience.replace(/\/+$/, '')}/.default`;
  return {
    endpoint: config.endpoints.resourceManager,
    credentialScopes: [scope],
    credentials: { scopes: [scope] },
    userAgentOptions: { userAgentPrefix: `${USER_AGENT_PREFIX}/${config.version}` },
    ...perRetry(policies),
  };
}

/**
 * A Key Vault URL is followed only when the domain's one Key Vault host validator accepts it
 * (`https://{vault}.{KEYVAULT_DNS_SUFFIX}`, no port, no user info): no SSRF through an event or a body.
 */
export function isKeyVaultUrl(config: AppConfig, url: string): boolean {
  return isDomainKeyVaultUrl(url, config.endpoints.keyVaultDnsSuffix);
}

export class InvalidKeyVaultUrlError extends Error {
  constructor(url: string, suffix: string) {
    super(`'${url}' is not a Key Vault URL of this cloud (https://<vault>.${suffix}); refusing to call it.`);
    this.name = 'InvalidKeyVaultUrlError';
  }
}

/** Neither AzureWebJobsStorage nor AzureWebJobsStorage__blobServiceUri is set (a misconfiguration). */
export class StorageNotConfiguredError extends Error {
  readonly code = 'StorageNotConfigured';
  constructor() {
    super(
      "The app's storage account is not configured: set AzureWebJobsStorage (connection string) or AzureWebJobsStorage__blobServiceUri (identity-based, with Storage Blob Data Contributor for the app).",
    );
    this.name = 'StorageNotConfiguredError';
  }
}

/** Builds and caches the app's SDK clients (one per subscription / vault). */
export class AzureClients {
  private readonly cache = new Map<string, unknown>();

  /** `policies`: e.g. the ARM pacing + call counting of armPacing.ts, on every client built here. */
  constructor(
    readonly config: AppConfig,
    readonly credential: TokenCredential = createCredential(config),
    readonly policies: ExtraPolicies = [],
  ) {}

  /** Tenant-level client: the subscriptions the app identity can see. */
  subscriptions(): SubscriptionClient {
    return this.cached(
      'subscriptions',
      () =>
        new (sdk.subscriptions().SubscriptionClient)(
          this.credential,
          armClientOptions(this.config, this.policies),
        ),
    );
  }

  authorization(subscriptionId: string): AuthorizationManagementClient {
    return this.cached(
      `authz:${subscriptionId}`,
      () =>
        new (sdk.authorization().AuthorizationManagementClient)(
          this.credential,
          subscriptionId,
          armClientOptions(this.config, this.policies),
        ),
    );
  }

  managedIdentities(subscriptionId: string): ManagedServiceIdentityClient {
    return this.cached(
      `msi:${subscriptionId}`,
      () =>
        new (sdk.msi().ManagedServiceIdentityClient)(
          this.credential,
          subscriptionId,
          armClientOptions(this.config, this.policies),
        ),
    );
  }

  keyVaultManagement(subscriptionId: string): KeyVaultManagementClient {
    return this.cached(
      `kvm:${subscriptionId}`,
      () =>
        new (sdk.keyVault().KeyVaultManagementClient)(
          this.credential,
          subscriptionId,
          armClientOptions(this.config, this.policies),
        ),
    );
  }

  serviceBus(subscriptionId: string): ServiceBusManagementClient {
    return this.cached(
      `sb:${subscriptionId}`,
      () =>
        new (sdk.serviceBus().ServiceBusManagementClient)(
          this.credential,
          subscriptionId,
          armClientOptions(this.config, this.policies),
        ),
    );
  }

  monitor(subscriptionId: string): MonitorClient {
    return this.cached(
      `mon:${subscriptionId}`,
      () =>
        new (sdk.monitor().MonitorClient)(
          this.credential,
          subscriptionId,
          armClientOptions(this.config, this.policies),
        ),
    );
  }

  /** A KeyClient for a vault URL, after checking it belongs to this cloud's Key Vault suffix. */
  keys(vaultUrl: string): KeyClient {
    if (!isKeyVaultUrl(this.config, vaultUrl))
      throw new InvalidKeyVaultUrlError(vaultUrl, this.config.endpoints.keyVaultDnsSuffix);
    const origin = new URL(vaultUrl).origin;
    return this.cached(
      `kv:${origin}`,
      () =>
        new (sdk.keys().KeyClient)(origin, this.credential, {
          userAgentOptions: { userAgentPrefix: `${USER_AGENT_PREFIX}/${this.config.version}` },
          ...perRetry(this.policies),
        }),
    );
  }

  /**
   * The app's storage account (AzureWebJobsStorage): a connection string locally (Azurite), or the
   * identity-based `AzureWebJobsStorage__blobServiceUri` with the app's credential in Azure.
   */
  blobService(): BlobServiceClient {
    return this.cached('blob', () => {
      const { BlobServiceClient } = sdk.blob();
      const options = {
        userAgentOptions: { userAgentPrefix: `${USER_AGENT_PREFIX}/${this.config.version}` },
      };
      const { blobServiceUri, connectionString } = this.config.storage;
      if (blobServiceUri) return new BlobServiceClient(blobServiceUri, this.credential, options);
      if (connectionString) return BlobServiceClient.fromConnectionString(connectionString, options);
      throw new StorageNotConfiguredError();
    });
  }

  /**
   * A bearer-token pipeline for a data-plane endpoint no SDK client covers (custom-metrics ingestion):
   * the SDKs' retry (429/5xx/network), proxy and TLS handling, a token for `audience`.
   */
  dataPlanePipeline(audience: string): { pipeline: Pipeline; httpClient: HttpClient } {
    return this.cached(`pipeline:${audience}`, () => {
      const p = sdk.pipeline();
      const pipeline = p.createPipelineFromOptions({
        userAgentOptions: { userAgentPrefix: `${USER_AGENT_PREFIX}/${this.config.version}` },
        ...this.dataPlanePipelineOptions(),
      });
      pipeline.addPolicy(
        p.bearerTokenAuthenticationPolicy({ credential: this.credential, scopes: `${audience}/.default` }),
      );
      for (const policy of this.policies) pipeline.addPolicy(policy, { afterPhase: 'Retry' });
      return { pipeline, httpClient: p.createDefaultHttpClient() };
    });
  }

  /** Request builders of the data-plane pipeline (loaded with it, on first use). */
  pipelineRequests(): Pick<
    typeof import('@azure/core-rest-pipeline'),
    'createPipelineRequest' | 'createHttpHeaders'
  > {
    const { createPipelineRequest, createHttpHeaders } = sdk.pipeline();
    return { createPipelineRequest, createHttpHeaders };
  }

  /** Extra pipeline options (none in the app: TLS and proxy come from the environment). */
  protected dataPlanePipelineOptions(): PipelineOptions {
    return {};
  }

  private cached<T>(key: string, create: () => T): T {
    let client = this.cache.get(key.toLowerCase()) as T | undefined;
    if (client === undefined) {
      client = create();
      this.cache.set(key.toLowerCase(), client);
    }
    return client;
  }
}
