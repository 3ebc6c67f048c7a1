/**
 * Shared setup for the Event Grid integration tests: an in-process sandbox on a virtual clock with its
 * storage account (Azurite), the REAL @azure/arm-eventgrid, @azure/arm-keyvault and
 * @azure/keyvault-keys clients, and a real HTTP receiver whose answers a test scripts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Agent } from 'node:https';
import { EventGridManagementClient, type EventSubscription } from '@azure/arm-eventgrid';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { KeyClient } from '@azure/keyvault-keys';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { EventGridProvider } from '../../sandbox/azure/eventgrid';
import { SandboxCredential, sandboxAgent } from '../../sandbox/azure/testing';
import { fetchJson } from './keyvault-support';

export interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  /** Sandbox clock time when the request arrived. */
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Notifications only (no handshakes). */
  notifications(): Received[];
  /** How to answer a notification (default 200); handshakes are answered unless `refuseHandshake`. */
  respond: (r: Received) => number;
  refuseHandshake: boolean;
  close(): Promise<void>;
}

export async function startReceiver(clock: { now(): number }): Promise<Receiver> {
  const received: Received[] = [];
  const receiver: Receiver = {
    url: '',
    received,
    notifications: () =>
      received.filter((r) => r.method === 'POST' && r.headers['aeg-event-type'] === 'Notification'),
    respond: () => 200,
    refuseHandshake: false,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const r: Received = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: text ? (JSON.parse(text) as unknown) : undefined,
        at: clock.now(),
      };
      received.push(r);
      if (r.method === 'OPTIONS') {
        if (receiver.refuseHandshake) return res.writeHead(403).end();
        res.writeHead(200, { 'WebHook-Allowed-Origin': String(req.headers['webhook-request-origin'] ?? '') });
        return res.end();
      }
      if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
        if (receiver.refuseHandshake) return res.writeHead(404).end();
        const code = (r.body as Array<{ data: { validationCode: string } }>)[0]?.data.validationCode;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ validationResponse: code }));
      }
      res.writeHead(receiver.respond(r)).end();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  return receiver;
}

export interface EgHarness {
  sandbox: AzureSandbox;
  clock: VirtualClock;
  provider: EventGridProvider;
  agent: Agent;
  rg: string;
  admin: string;
  eventGrid(): EventGridManagementClient;
  keyVaultArm(): KeyVaultManagementClient;
  keys(vault: string): KeyClient;
  blobs(): BlobServiceClient;
  vaultId(name: string): string;
  createVault(name: string): Promise<void>;
  createTopic(vault: string, topic?: string): Promise<void>;
  subscribe(vault: string, name: string, info: EventSubscription, topic?: string): Promise<EventSubscription>;
  /** Lets due work (deliveries) run at the current clock time. */
  settle(): Promise<void>;
  raw(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

export async function startEgHarness(): Promise<EgHarness> {
  const clock = new VirtualClock(Date.UTC(2026, 0, 1));
  const sandbox = await startAzureSandbox({ clock, lroRetryAfterSeconds: 0, storage: true });
  const provider = sandbox.core.providers.find((p): p is EventGridProvider => p instanceof EventGridProvider);
  if (!provider) throw new Error('the sandbox runs without the Event Grid provider');
  const agent = sandboxAgent(sandbox);
  const admin = sandbox.admin.objectId;
  const rg = 'rg-eg';
  const credential = new SandboxCredential(sandbox, admin);
  const sub = sandbox.subscriptionId;
  await fetchJson(
    sandbox,
    agent,
    admin,
    'PUT',
    `/subscriptions/${sub}/resourcegroups/${rg}?api-version=2021-04-01`,
    {
      location: 'westeurope',
    },
  );
  const eventGrid = () =>
    new EventGridManagementClient(credential, sub, {
      endpoint: sandbox.url,
      credentialScopes: [`${sandbox.url}/.default`],
      agent,
      retryOptions: { maxRetries: 0 },
    });
  const keyVaultArm = () =>
    new KeyVaultManagementClient(credential, sub, {
      endpoint: sandbox.url,
      agent,
      retryOptions: { maxRetries: 0 },
    });
  const vaultId = (name: string) =>
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${name}`;
  const h: EgHarness = {
    sandbox,
    clock,
    provider,
    agent,
    rg,
    admin,
    eventGrid,
    keyVaultArm,
    keys: (vault) =>
      new KeyClient(sandbox.vaultUri(vault), credential, { agent, retryOptions: { maxRetries: 0 } }),
    blobs: () => {
      const storage = sandbox.storage;
      if (!storage) throw new Error('no storage');
      return new BlobServiceClient(
        storage.blobEndpoint,
        new StorageSharedKeyCredential(storage.accountName, storage.accountKey),
      );
    },
    vaultId,
    createVault: async (name) => {
      await keyVaultArm().vaults.createOrUpdate(
        rg,
        name,
        {
          location: 'westeurope',
          properties: {
            tenantId: sandbox.tenantId,
            sku: { family: 'A', name: 'standard' },
            accessPolicies: [{ tenantId: sandbox.tenantId, objectId: admin, permissions: { keys: ['all'] } }],
          },
        },
        { updateIntervalInMs: 0 },
      );
    },
    createTopic: async (vault, topic = `${vault}-topic`) => {
      await eventGrid().systemTopics.beginCreateOrUpdateAndWait(
        rg,
        topic,
        { location: 'westeurope', source: vaultId(vault), topicType: 'Microsoft.KeyVault.vaults' },
        { updateIntervalInMs: 0 },
      );
    },
    subscribe: (vault, name, info, topic = `${vault}-topic`) =>
      eventGrid().systemTopicEventSubscriptions.beginCreateOrUpdateAndWait(rg, topic, name, info, {
        updateIntervalInMs: 0,
      }),
    settle: () => clock.advanceBy(0),
    raw: async (method, path, body) => {
      const r = await fetchJson(sandbox, agent, admin, method, path, body);
      return { status: r.status, body: r.body };
    },
    close: async () => {
      agent.destroy();
      await sandbox.close();
    },
  };
  return h;
}
