/**
 * Event Grid delivery of Key Vault events, end to end with real clients: the system topic and event
 * subscriptions are created with @azure/arm-eventgrid, the events are caused by real Key Vault
 * operations (@azure/keyvault-keys, @azure/arm-keyvault) or by the clock, and arrive at a real HTTP
 * receiver; dead-lettered events are read back from Azurite with @azure/storage-blob.
 */
import { generateKeyPairSync } from 'node:crypto';
import { isRestError, type RestError } from '@azure/core-rest-pipeline';
import {
  startEgHarness,
  startReceiver,
  type EgHarness,
  type Received,
  type Receiver,
} from './eventgrid-support';

const DAY = 86_400_000;
const SEC = 1000;
let h: EgHarness;
let rx: Receiver;

beforeAll(async () => {
  h = await startEgHarness();
  rx = await startReceiver(h.clock);
});
afterAll(async () => {
  await rx.close();
  await h.close();
});
beforeEach(() => {
  rx.received.length = 0;
  rx.respond = () => 200;
  rx.refuseHandshake = false;
});

/** The LRO poller reports a failed operation as a plain Error naming the operation's error code. */
async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

async function restError(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (error) {
    if (isRestError(error)) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

type EgEvent = {
  id: string;
  topic: string;
  subject: string;
  eventType: string;
  eventTime: string;
  data: Record<string, unknown>;
  dataVersion: string;
  metadataVersion: string;
};

const events = (r: Receiver): EgEvent[] => r.notifications().flatMap((n) => n.body as EgEvent[]);

describe('Key Vault events in the Event Grid schema', () => {
  const vault = 'kv-eg-schema';
  let handshake: Received[] = [];
  beforeAll(async () => {
    await h.createVault(vault);
    await h.createTopic(vault);
    await h.subscribe(vault, 'to-webhook', {
      destination: { endpointType: 'WebHook', endpointUrl: `${rx.url}?sig=secret` },
      eventDeliverySchema: 'EventGridSchema',
    });
    handshake = [...rx.received];
  });

  test('creation performed the SubscriptionValidationEvent handshake; GET hides the full URL', async () => {
    expect(handshake).toHaveLength(1);
    expect(handshake[0]!.headers['aeg-event-type']).toBe('SubscriptionValidation');
    expect(handshake[0]!.body).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/) as string,
        topic: h.vaultId(vault),
        subject: '',
        data: { validationCode: expect.stringMatching(/^[0-9a-f-]{36}$/) as string },
        eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
        eventTime: '2026-01-01T00:00:00.0000000Z',
        metadataVersion: '1',
        dataVersion: '2',
      },
    ]);
    const sub = await h.eventGrid().systemTopicEventSubscriptions.get(h.rg, `${vault}-topic`, 'to-webhook');
    expect(sub.provisioningState).toBe('Succeeded');
    // Azure never returns the full URL (it may hold secrets); getFullUrl does.
    expect(sub.destination).toEqual({
      endpointType: 'WebHook',
      endpointBaseUrl: rx.url,
      maxEventsPerBatch: 1,
      preferredBatchSizeInKilobytes: 64,
    });
    const full = await h
      .eventGrid()
      .systemTopicEventSubscriptions.getFullUrl(h.rg, `${vault}-topic`, 'to-webhook');
    expect(full.endpointUrl).toBe(`${rx.url}?sig=secret`);
    expect(sub.topic).toBe(h.vaultId(vault));
  });

  test('createKey → KeyNewVersionCreated with the documented payload (PascalCase data, subject = key name)', async () => {
    const exp = new Date(Date.UTC(2026, 5, 1));
    const nbf = new Date(Date.UTC(2025, 11, 1));
    const key = await h.keys(vault).createRsaKey('cmk', { expiresOn: exp, notBefore: nbf });
    await h.settle();
    const got = events(rx);
    expect(got).toHaveLength(1);
    const e = got[0]!;
    expect(e).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/) as string,
      topic: h.vaultId(vault),
      subject: 'cmk',
      eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
      eventTime: '2026-01-01T00:00:00.0000000Z',
      data: {
        Id: key.id,
        VaultName: vault,
        ObjectType: 'Key',
        ObjectName: 'cmk',
        Version: key.properties.version,
        NBF: nbf.getTime() / 1000,
        EXP: exp.getTime() / 1000,
      },
      dataVersion: '1',
      metadataVersion: '1',
    });
    const n = rx.notifications()[0]!;
    expect(n.path).toBe('/events?sig=secret');
    expect(n.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(n.headers['aeg-subscription-name']).toBe('TO-WEBHOOK');
    expect(n.headers['aeg-delivery-count']).toBe('0');
  });

  test('rotateKey and importKey each raise KeyNewVersionCreated; delete and disable raise nothing', async () => {
    const client = h.keys(vault);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    const imported = await client.importKey('imported', {
      kty: 'RSA',
      n: Buffer.from(jwk.n!, 'base64url'),
      e: Buffer.from(jwk.e!, 'base64url'),
      d: Buffer.from(jwk.d!, 'base64url'),
      p: Buffer.from(jwk.p!, 'base64url'),
      q: Buffer.from(jwk.q!, 'base64url'),
      dp: Buffer.from(jwk.dp!, 'base64url'),
      dq: Buffer.from(jwk.dq!, 'base64url'),
      qi: Buffer.from(jwk.qi!, 'base64url'),
    });
    const rotated = await client.rotateKey('cmk');
    await client.updateKeyProperties('cmk', rotated.properties.version!, { enabled: false });
    const poller = await client.beginDeleteKey('cmk');
    await poller.pollUntilDone();
    await h.settle();
    const got = events(rx);
    expect(got.map((e) => [e.eventType, e.subject, e.data.Version])).toEqual([
      ['Microsoft.KeyVault.KeyNewVersionCreated', 'imported', imported.properties.version],
      ['Microsoft.KeyVault.KeyNewVersionCreated', 'cmk', rotated.properties.version],
    ]);
  });

  test('an access policy change raises VaultAccessPolicyChanged', async () => {
    await h.keyVaultArm().vaults.updateAccessPolicy(h.rg, vault, 'add', {
      properties: {
        accessPolicies: [
          { tenantId: h.sandbox.tenantId, objectId: h.sandbox.app.objectId, permissions: { keys: ['get'] } },
        ],
      },
    });
    await h.settle();
    const got = events(rx);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({
      eventType: 'Microsoft.KeyVault.VaultAccessPolicyChanged',
      subject: vault,
      topic: h.vaultId(vault),
      data: { VaultName: vault, ObjectName: vault },
    });
  });

  test('a switch to RBAC and back raises VaultAccessPolicyChanged each time; a role assignment and its removal raise nothing', async () => {
    const kv = h.keyVaultArm();
    await kv.vaults.update(h.rg, vault, { properties: { enableRbacAuthorization: true } });
    await h.settle();
    expect(events(rx).map((e) => [e.eventType, e.subject])).toEqual([
      ['Microsoft.KeyVault.VaultAccessPolicyChanged', vault],
    ]);
    rx.received.length = 0;
    const assignment = h.sandbox.control.assignRole({
      principalId: h.sandbox.app.objectId,
      role: 'Key Vault Crypto Service Encryption User',
      scope: h.vaultId(vault),
    });
    const removed = await h.raw('DELETE', `${assignment.id}?api-version=2022-04-01`);
    expect(removed.status).toBe(200);
    await h.settle();
    expect(rx.notifications()).toEqual([]);
    await kv.vaults.update(h.rg, vault, { properties: { enableRbacAuthorization: false } });
    await h.settle();
    expect(events(rx).map((e) => e.eventType)).toEqual(['Microsoft.KeyVault.VaultAccessPolicyChanged']);
  });
});

describe('CloudEvents 1.0 schema', () => {
  const vault = 'kv-eg-cloud';
  beforeAll(async () => {
    await h.createVault(vault);
    await h.createTopic(vault);
  });

  test('OPTIONS handshake with WebHook-Request-Origin, then structured-mode CloudEvents', async () => {
    await h.subscribe(vault, 'cloud', {
      destination: { endpointType: 'WebHook', endpointUrl: rx.url },
      eventDeliverySchema: 'CloudEventSchemaV1_0',
    });
    const handshake = rx.received.filter((r) => r.method === 'OPTIONS');
    expect(handshake).toHaveLength(1);
    expect(handshake[0]!.headers['webhook-request-origin']).toBe('eventgrid.azure.net');
    const key = await h.keys(vault).createEcKey('sig', { curve: 'P-256' });
    await h.settle();
    const n = rx.notifications();
    expect(n).toHaveLength(1);
    expect(n[0]!.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
    expect(n[0]!.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/) as string,
      source: h.vaultId(vault),
      specversion: '1.0',
      type: 'Microsoft.KeyVault.KeyNewVersionCreated',
      subject: 'sig',
      time: '2026-01-01T00:00:00.0000000Z',
      data: {
        Id: key.id,
        VaultName: vault,
        ObjectType: 'Key',
        ObjectName: 'sig',
        Version: key.properties.version,
      },
    });
  });

  test('a receiver that refuses the handshake makes creation fail, and nothing is stored', async () => {
    rx.refuseHandshake = true;
    const e = await failure(
      h.subscribe(vault, 'refused', {
        destination: { endpointType: 'WebHook', endpointUrl: rx.url },
        eventDeliverySchema: 'CloudEventSchemaV1_0',
      }),
    );
    expect(e.message).toBe(
      `The long-running operation has failed. Url validation. The attempt to validate the provided endpoint ${rx.url} failed. The OPTIONS request returned 403. For more details, visit https://aka.ms/esvalidation.`,
    );
    const missing = await restError(
      h.eventGrid().systemTopicEventSubscriptions.get(h.rg, `${vault}-topic`, 'refused'),
    );
    expect(missing.statusCode).toBe(404);
  });

  test('a refused Event Grid schema handshake fails creation too', async () => {
    rx.refuseHandshake = true;
    const e = await failure(
      h.subscribe(vault, 'refused-eg', { destination: { endpointType: 'WebHook', endpointUrl: rx.url } }),
    );
    expect(e.message).toContain('Url validation. The attempt to validate the provided endpoint');
    expect(e.message).toContain('The POST request returned 404.');
    expect(rx.received.filter((r) => r.headers['aeg-event-type'] === 'SubscriptionValidation')).toHaveLength(
      1,
    );
  });
});

describe('the clock: near expiry and expiry', () => {
  const vault = 'kv-eg-clock';
  beforeAll(async () => {
    rx.refuseHandshake = false;
    await h.createVault(vault);
    await h.createTopic(vault);
    await h.subscribe(vault, 'expiry', {
      destination: { endpointType: 'WebHook', endpointUrl: rx.url },
      filter: {
        includedEventTypes: ['Microsoft.KeyVault.KeyNearExpiry', 'Microsoft.KeyVault.KeyExpired'],
      },
    });
  });

  test('KeyNearExpiry at the default Notify (30 days before exp) and KeyExpired at exp, on the clock', async () => {
    const created = h.clock.now();
    const exp = created + 40 * DAY;
    const key = await h.keys(vault).createRsaKey('short', { expiresOn: new Date(exp) });
    await h.settle();
    expect(events(rx)).toHaveLength(0); // KeyNewVersionCreated is filtered out
    await h.clock.advanceTo(exp - 30 * DAY - SEC);
    expect(events(rx)).toHaveLength(0);
    await h.clock.advanceBy(SEC);
    expect(events(rx).map((e) => [e.eventType, rx.notifications()[0]!.at])).toEqual([
      ['Microsoft.KeyVault.KeyNearExpiry', exp - 30 * DAY],
    ]);
    await h.clock.advanceTo(exp);
    const got = events(rx);
    expect(got.map((e) => e.eventType)).toEqual([
      'Microsoft.KeyVault.KeyNearExpiry',
      'Microsoft.KeyVault.KeyExpired',
    ]);
    expect(rx.notifications()[1]!.at).toBe(exp);
    expect(got[1]!.data).toEqual({
      Id: key.id,
      VaultName: vault,
      ObjectType: 'Key',
      ObjectName: 'short',
      Version: key.properties.version,
      EXP: exp / 1000,
    });
  });

  test('a rotation policy Notify time sets KeyNearExpiry; auto-rotation raises KeyNewVersionCreated', async () => {
    await h.subscribe(vault, 'all-events', { destination: { endpointType: 'WebHook', endpointUrl: rx.url } });
    rx.received.length = 0;
    const client = h.keys(vault);
    const start = h.clock.now();
    const first = await client.createRsaKey('policy', { expiresOn: new Date(start + 60 * DAY) });
    await client.updateKeyRotationPolicy('policy', {
      lifetimeActions: [
        { action: 'Notify', timeBeforeExpiry: 'P10D' },
        { action: 'Rotate', timeAfterCreate: 'P55D' },
      ],
    });
    await h.settle();
    rx.received.length = 0;
    await h.clock.advanceTo(start + 55 * DAY);
    // Both subscriptions of the topic get KeyNearExpiry; this one (no filter) also gets the new version.
    expect(rx.notifications().map((n) => n.headers['aeg-subscription-name'])).toEqual([
      'EXPIRY',
      'ALL-EVENTS',
      'ALL-EVENTS',
    ]);
    const got = rx
      .notifications()
      .filter((n) => n.headers['aeg-subscription-name'] === 'ALL-EVENTS')
      .flatMap((n) =>
        (n.body as EgEvent[]).map((e) => [
          e.eventType,
          e.subject,
          e.data.Version === first.properties.version,
          n.at,
        ]),
      );
    expect(got).toEqual([
      ['Microsoft.KeyVault.KeyNearExpiry', 'policy', true, start + 50 * DAY],
      ['Microsoft.KeyVault.KeyNewVersionCreated', 'policy', false, start + 55 * DAY],
    ]);
  });
});
