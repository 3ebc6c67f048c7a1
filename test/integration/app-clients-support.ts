/**
 * The app's own AzureClients (src/azure/clients.ts) pointed at an in-process sandbox, as the app's
 * identity: the real SDK clients over HTTPS with the sandbox CA passed in-process (the deployed app
 * uses NODE_EXTRA_CA_CERTS) and SDK retries off, so request-log counts are exact.
 */
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { MonitorClient } from '@azure/arm-monitor';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import { ServiceBusManagementClient } from '@azure/arm-servicebus';
import type { TokenCredential } from '@azure/core-auth';
import type { AzureSandbox } from '../../sandbox/azure';
import { armClientOptions, SandboxCredential } from '../../sandbox/azure/testing';
import { AzureClients } from '../../src/azure/clients';
import { loadConfig } from '../../src/config';

export class SandboxAzureClients extends AzureClients {
  private readonly made = new Map<string, unknown>();
  constructor(
    private readonly sandbox: AzureSandbox,
    objectId: string = sandbox.app.objectId,
    /** More settings (e.g. AzureWebJobsStorage from a sandbox started with storage). */
    env: NodeJS.ProcessEnv = {},
    credential: TokenCredential = new SandboxCredential(sandbox, objectId),
  ) {
    super(
      loadConfig({
        AZURE_CLOUD: 'Custom',
        ARM_ENDPOINT: sandbox.url,
        KEYVAULT_DNS_SUFFIX: sandbox.keyVaultDnsSuffix,
        ...env,
      }),
      credential,
    );
  }
  protected opts() {
    return { ...armClientOptions(this.sandbox), retryOptions: { maxRetries: 0 } };
  }
  protected once<T>(key: string, make: () => T): T {
    if (!this.made.has(key)) this.made.set(key, make());
    return this.made.get(key) as T;
  }
  override subscriptions(): SubscriptionClient {
    return this.once('subs', () => new SubscriptionClient(this.credential, this.opts()));
  }
  override serviceBus(sub: string): ServiceBusManagementClient {
    return this.once(`sb:${sub}`, () => new ServiceBusManagementClient(this.credential, sub, this.opts()));
  }
  override keyVaultManagement(sub: string): KeyVaultManagementClient {
    return this.once(`kv:${sub}`, () => new KeyVaultManagementClient(this.credential, sub, this.opts()));
  }
  override authorization(sub: string): AuthorizationManagementClient {
    return this.once(
      `authz:${sub}`,
      () => new AuthorizationManagementClient(this.credential, sub, this.opts()),
    );
  }
  override managedIdentities(sub: string): ManagedServiceIdentityClient {
    return this.once(`msi:${sub}`, () => new ManagedServiceIdentityClient(this.credential, sub, this.opts()));
  }
  override monitor(sub: string): MonitorClient {
    return this.once(`mon:${sub}`, () => new MonitorClient(this.credential, sub, this.opts()));
  }
}
