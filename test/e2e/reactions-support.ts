/**
 * Helpers for the Key Vault reaction end-to-end tests: an estate of CMK namespaces enabled through
 * the app itself, a system topic on their vault whose subscription delivers to the app's
 * `keyVaultEvents` function (as `npm start` wires it), real Key Vault operations as the administrator
 * (rotate a key over the data plane, change access policies over ARM), and readers for what the app
 * did: its Durable instances (through the host's Durable API) and its requests (the sandbox's log).
 */
import { Estate, grantDocumentedRoles, type Operation } from './enable-cmk-support';

export const EG_API = '2022-06-15';

export interface Instance {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  customStatus: unknown;
  output: unknown;
}

export class ReactionsEstate extends Estate {
  async setup(): Promise<this> {
    await this.init();
    await grantDocumentedRoles(this);
    // The alert path: the app publishes its verdicts as custom metrics on the namespaces.
    await this.grantApp('Monitoring Metrics Publisher', this.rgId());
    // Azure Monitor's metrics API is read with the subscription's Reader role (already granted).
    return this;
  }

  /** An access-policy vault the administrator may also rotate keys in (data plane). */
  async rotatableVault(name: string): Promise<void> {
    await this.vault(name);
    await this.arm('PUT', `${this.vaultId(name)}/accessPolicies/add?api-version=2023-07-01`, {
      properties: {
        accessPolicies: [
          {
            tenantId: this.estate.azure.tenantId,
            objectId: await this.adminObjectId(),
            permissions: { keys: ['get', 'list', 'create', 'rotate', 'update'] },
          },
        ],
      },
    });
  }

  /** The key's current version (ARM view). */
  async currentVersion(vault: string, key: string): Promise<string> {
    const body = await this.arm<{ properties: { keyUriWithVersion: string } }>(
      'GET',
      `${this.vaultId(vault)}/keys/${key}?api-version=2023-07-01`,
    );
    return body.properties.keyUriWithVersion.split('/').pop()!;
  }

  /** Rotates the key (a real Key Vault rotation: a new version, KeyNewVersionCreated); returns the version. */
  async rotate(vault: string, key: string): Promise<string> {
    const body = await this.kv<{ key: { kid: string } }>('POST', vault, `keys/${key}/rotate`);
    return body.key.kid.split('/').pop()!;
  }

  /** Enables CMK on a new namespace through the app; `version` pins it. */
  async cmkNamespace(name: string, vault: string, key: string, version?: string): Promise<string> {
    const id = await this.namespace(name);
    const { op } = await this.enable({
      namespaceId: id,
      keys: [{ keyId: `${this.keyId(vault, key)}${version ? `/${version}` : ''}` }],
    });
    if (op.output?.outcome !== 'enabled') throw new Error(`enable ${name}: ${JSON.stringify(op.output)}`);
    return id;
  }

  async principalOf(name: string): Promise<string> {
    return (await this.getNamespace(name)).identity!.principalId!;
  }

  /** The vault's system topic with the app's subscription (as npm start's demo wires it). */
  async subscribeApp(
    vault: string,
    schema: 'EventGridSchema' | 'CloudEventSchemaV1_0' = 'EventGridSchema',
  ): Promise<string> {
    const topic = `${this.rgId()}/providers/Microsoft.EventGrid/systemTopics/evgt-${vault}`;
    await this.arm('PUT', `${topic}?api-version=${EG_API}`, {
      location: 'westeurope',
      properties: { source: this.vaultId(vault), topicType: 'Microsoft.KeyVault.vaults' },
    });
    const app = (this.estate.azure.app as { resourceId?: string }).resourceId;
    if (!app) throw new Error('the sandbox did not say which function app is the app');
    await this.arm('PUT', `${topic}/eventSubscriptions/cmk-guardian?api-version=${EG_API}`, {
      properties: {
        destination: {
          endpointType: 'AzureFunction',
          properties: { resourceId: `${app}/functions/keyVaultEvents`, maxEventsPerBatch: 1 },
        },
        filter: {
          includedEventTypes: [
            'Microsoft.KeyVault.KeyNewVersionCreated',
            'Microsoft.KeyVault.KeyNearExpiry',
            'Microsoft.KeyVault.KeyExpired',
            'Microsoft.KeyVault.VaultAccessPolicyChanged',
          ],
        },
        eventDeliverySchema: schema,
      },
    });
    return `evgt-${vault}/eventSubscriptions/cmk-guardian`;
  }

  async deliveries(subscription: string): Promise<{
    attempts: Array<{ eventId: string; eventType: string; status: number; outcome: string }>;
    pending: number;
  }> {
    return (
      await this.estate.azure.control<{
        attempts: Array<{ eventId: string; eventType: string; status: number; outcome: string }>;
        pending: number;
      }>('GET', `/eventgrid/deliveries?subscription=${encodeURIComponent(subscription)}`)
    ).body;
  }

  /** Every Durable instance of the app (the host's Durable HTTP API, system key). */
  async instances(name?: string): Promise<Instance[]> {
    const r = await this.estate.app.json<Instance[]>(
      `/runtime/webhooks/durabletask/instances?code=${encodeURIComponent(this.estate.app.keys.durableTaskExtension)}`,
    );
    if (r.status !== 200) throw new Error(`instances: ${r.status}`);
    return r.body.filter((i) => !name || i.name === name);
  }

  /** Moves the shared virtual clock on in steps (timers, key polls and alerts run as time passes). */
  async advance(ms: number, stepMs = 60_000): Promise<void> {
    for (let done = 0; done < ms; done += stepMs) {
      await this.estate.azure.control('POST', '/clock/advance', { ms: Math.min(stepMs, ms - done) });
    }
  }

  /** POSTs straight to the host's Event Grid webhook, as a forger who knows the URL would. */
  async postWebhook(body: unknown, headers: Record<string, string> = { 'aeg-event-type': 'Notification' }) {
    const response = await fetch(
      `${this.estate.app.url}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${encodeURIComponent(this.estate.app.keys.eventGridExtension)}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      },
    );
    return { status: response.status, text: await response.text() };
  }

  async operationOf<O>(id: string): Promise<Operation<O>> {
    return this.operation<O>(id);
  }
}
