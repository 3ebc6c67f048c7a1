/**
 * The demo estate's Event Grid part (`npm start`): a system topic per demo vault, each with an event
 * subscription to the app's Event Grid function (`AzureFunction` destination — no handshake, as in
 * Azure), filtered to the Key Vault events the product reacts to, dead-lettered into the sandbox's
 * storage account when it runs. Built through ARM as the administrator, like the rest of the estate.
 */
import type { AzureSandbox } from '../index';
import { httpsJson } from '../testing';

/** The app function the subscriptions target (the app's Key Vault event handler). */
export const DEMO_EVENT_FUNCTION = 'keyVaultEvents';
export const DEMO_DEAD_LETTER_CONTAINER = 'eventgrid-deadletter';
const API = '2022-06-15';

type Sandbox = Pick<
  AzureSandbox,
  'url' | 'port' | 'caPem' | 'keyVaultDnsSuffix' | 'control' | 'core' | 'admin'
>;

/** Vault ids → system topics; returns one line per subscription for the banner. */
export async function seedDemoEventGrid(sandbox: Sandbox, vaultIds: string[]): Promise<string[]> {
  const token = (await sandbox.control.token(sandbox.admin.objectId)).access_token;
  const put = async (path: string, body: unknown): Promise<void> => {
    const res = await httpsJson(sandbox, 'PUT', `${sandbox.url}${path}?api-version=${API}`, { token, body });
    if (res.status >= 400) throw new Error(`demo estate: PUT ${path} → ${res.status} ${res.text}`);
  };
  const app = sandbox.core.options.appResourceId;
  const appSub = /^\/subscriptions\/([^/]+)/i.exec(app)?.[1] ?? '';
  const appRg = /\/resourceGroups\/([^/]+)/i.exec(app)?.[1] ?? 'rg-cmk-guardian';
  const storage = sandbox.core.storage;
  if (storage) {
    // The container must exist before Event Grid can dead-letter into it (as in Azure).
    await storage.client().getContainerClient(DEMO_DEAD_LETTER_CONTAINER).createIfNotExists();
  }
  const lines: string[] = [];
  for (const vaultId of vaultIds) {
    const vault = vaultId.split('/').pop()!;
    const rg = vaultId.replace(/\/providers\/.*$/i, '');
    const topic = `${rg}/providers/Microsoft.EventGrid/systemTopics/evgt-${vault}`;
    await put(topic, {
      location: 'westeurope',
      properties: { source: vaultId, topicType: 'Microsoft.KeyVault.vaults' },
    });
    await put(`${topic}/eventSubscriptions/cmk-guardian`, {
      properties: {
        destination: {
          endpointType: 'AzureFunction',
          properties: { resourceId: `${app}/functions/${DEMO_EVENT_FUNCTION}`, maxEventsPerBatch: 1 },
        },
        filter: {
          includedEventTypes: [
            'Microsoft.KeyVault.KeyNewVersionCreated',
            'Microsoft.KeyVault.KeyNearExpiry',
            'Microsoft.KeyVault.KeyExpired',
            'Microsoft.KeyVault.VaultAccessPolicyChanged',
          ],
        },
        eventDeliverySchema: 'EventGridSchema',
        retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
        ...(storage
          ? {
              deadLetterDestination: {
                endpointType: 'StorageBlob',
                properties: {
                  resourceId: `/subscriptions/${appSub}/resourceGroups/${appRg}/providers/Microsoft.Storage/storageAccounts/stcmkguardian`,
                  blobContainerName: DEMO_DEAD_LETTER_CONTAINER,
                },
              },
            }
          : {}),
      },
    });
    lines.push(`evgt-${vault}/cmk-guardian → function ${DEMO_EVENT_FUNCTION}`);
  }
  return lines;
}
