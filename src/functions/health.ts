import type { HttpResponseInit } from '@azure/functions';
import { getConfig } from '../config';

/**
 * Liveness plus a summary of the effective configuration — only settings a built feature reads, never
 * a secret, never an Azure call.
 */
export async function healthHandler(): Promise<HttpResponseInit> {
  const config = getConfig();
  return {
    status: 200,
    jsonBody: {
      status: 'ok',
      name: 'servicebus-cmk-guardian',
      version: config.version,
      config: {
        cloud: config.cloud,
        resourceManager: config.endpoints.resourceManager,
        keyVaultDnsSuffix: config.endpoints.keyVaultDnsSuffix,
        subscriptions: config.sweep.subscriptions === '*' ? '*' : config.sweep.subscriptions.length,
        sweepSchedule: config.sweep.schedule,
        sweepConcurrency: config.sweep.concurrency,
        keyExpiryWarningDays: config.keyExpiryWarningDays,
        reportsContainer: config.reportsContainer,
        keyPollMinutes: config.keyPollMinutes,
        uptakeDeadlineMinutes: config.uptakeDeadlineMinutes,
        pinnedVersionPolicy: config.pinnedVersionPolicy,
        deletedKeyCacheMinutes: config.deletedKeyCacheMinutes,
        keyIndexRefreshSchedule: config.keyIndexRefreshSchedule,
        requireInfrastructureEncryption: config.requireInfrastructureEncryption,
        // The alert path; the storage connection string holds a key, so only which kind is set.
        alertRules: config.alerting.rules,
        alertActionGroupId: config.alerting.actionGroupId ?? null,
        alertRulesResourceGroup: config.alerting.rulesResourceGroup ?? null,
        monitoringEndpoint: config.alerting.monitoringEndpoint ?? null,
        storage: config.storage.blobServiceUri
          ? 'identity'
          : config.storage.connectionString
            ? 'connectionString'
            : 'none',
      },
    },
  };
}
