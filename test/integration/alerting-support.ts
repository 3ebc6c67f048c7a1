/**
 * The app's AzureClients (src/azure/clients.ts) pointed at an in-process sandbox as the app's identity,
 * for the alert path's tests: every ARM client with the sandbox CA and SDK retries off (request-log
 * counts are exact), the storage account from the sandbox, and the data-plane pipeline (custom-metrics
 * ingestion) built by the app's own code with one addition — an agent that resolves the regional
 * `*.monitoring.sandbox.localhost` host in-process (the deployed app goes through HTTPS_PROXY).
 */
import type { Agent } from 'node:https';
import type { PipelineOptions, PipelinePolicy } from '@azure/core-rest-pipeline';
import { AzureClients } from '../../src/azure/clients';
import { SandboxAzureClients } from './app-clients-support';
import type { SbHarness } from './servicebus-support';

export class SandboxClients extends SandboxAzureClients {
  constructor(
    h: SbHarness,
    private readonly agent: Agent,
    env: Record<string, string>,
  ) {
    super(
      h.sandbox,
      h.sandbox.app.objectId,
      {
        MONITORING_ENDPOINT: h.sandbox.env.MONITORING_ENDPOINT!,
        AzureWebJobsStorage: h.sandbox.env.AzureWebJobsStorage!,
        ...env,
      },
      h.credential(h.sandbox.app.objectId),
    );
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
