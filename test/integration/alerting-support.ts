/**
 * The app's AzureClients (src/azure/clients.ts) pointed at an in-process sandbox as the app's identity,
 * for the alert path's tests: every ARM client with the sandbox CA and SDK retries off (request-log
 * counts are exact), the storage account from the sandbox, and the data-plane pipeline (custom-metrics
 * ingestion) built by the app's own code with one addition — an agent that resolves the regional
 * `*.monitoring.sandbox.localhost` host in-process (the deployed app goes through HTTPS_PROXY).
 */
import type { Agent } from 'node:https';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { MonitorClient } from '@azure/arm-monitor';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import { ServiceBusManagementClient } from '@azure/arm-servicebus';
import type { PipelineOptions, PipelinePolicy } from '@azure/core-rest-pipeline';
import { armClientOptions } from '../../sandbox/azure/testing';
import { AzureClients } from '../../src/azure/clients';
import { loadConfig } from '../../src/config';
import type { SbHarness } from './servicebus-support';

export class SandboxClients extends AzureClients {
  private readonly made = new Map<string, unknown>();
  constructor(
    private readonly h: SbHarness,
    private readonly agent: Agent,
    env: Record<string, string>,
  ) {
    super(
      loadConfig({
        AZURE_CLOUD: 'Custom',
        ARM_ENDPOINT: h.sandbox.url,
        KEYVAULT_DNS_SUFFIX: h.sandbox.keyVaultDnsSuffix,
        MONITORING_ENDPOINT: h.sandbox.env.MONITORING_ENDPOINT!,
        AzureWebJobsStorage: h.sandbox.env.AzureWebJobsStorage!,
        ...env,
      }),
      h.credential(h.sandbox.app.objectId),
    );
  }
  private opts() {
    return { ...armClientOptions(this.h.sandbox), retryOptions: { maxRetries: 0 } };
  }
  private once<T>(key: string, make: () => T): T {
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
  protected override dataPlanePipelineOptions(): PipelineOptions {
    return { retryOptions: { maxRetries: 0 } };
  }
  override dataPlanePipeline(audience: string): ReturnType<AzureClients['dataPlanePipeline']> {
    const made = super.dataPlanePipeline(audience);
    if (!made.pipeline.getOrderedPolicies().some((p) => p.name === 'sandbox-agent')) {
      const policy: PipelinePolicy = {
        name: 'sandbox-agent',
        sendRequest: (request, next) => {
          request.agent = this.agent;
          return next(request);
        },
      };
      made.pipeline.addPolicy(policy);
    }
    return made;
  }
}
