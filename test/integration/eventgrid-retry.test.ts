/**
 * Event Grid's delivery semantics against a real HTTP receiver, on the virtual clock: the documented
 * retry schedule (exact attempt times), dead-lettering into Azurite (read back with
 * @azure/storage-blob), non-retried statuses, TTL, at-least-once faults (duplicates, reordering),
 * filters, AzureFunction destinations, and the vault's deletion dropping its deliveries.
 */
import { httpsJson } from '../../sandbox/azure/testing';
import { startEgHarness, startReceiver, type EgHarness, type Receiver } from './eventgrid-support';

const SEC = 1000;
const MIN = 60 * SEC;
let h: EgHarness;
let rx: Receiver;
const vault = 'kv-eg-retry';
const topic = `${vault}-topic`;
const storageId = () =>
  `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${h.rg}/providers/Microsoft.Storage/storageAccounts/sandboxstorage`;

beforeAll(async () => {
  h = await startEgHarness();
  rx = await startReceiver(h.clock);
  await h.createVault(vault);
  await h.createTopic(vault);
  await h.blobs().getContainerClient('deadletters').create();
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

/** Subscription for one key name only (subjectBeginsWith = subjectEndsWith = the name, as Azure samples do). */
async function subscribeFor(name: string, extra: Record<string, unknown> = {}): Promise<void> {
  await h.subscribe(vault, name, {
    destination: { endpointType: 'WebHook', endpointUrl: rx.url },
    filter: { subjectBeginsWith: name, subjectEndsWith: name },
    ...extra,
  });
  rx.received.length = 0;
}

const control = (method: string, path: string, body?: unknown) =>
  httpsJson(h.sandbox, method, `${h.sandbox.url}/_sandbox/eventgrid${path}`, {
    token: h.sandbox.adminSecret,
    ...(body === undefined ? {} : { body }),
  });

test('a failing receiver is retried at 10 s, 30 s, 1 min, 5 min, then dead-lettered into Azurite', async () => {
  await subscribeFor('retry-dl', {
    retryPolicy: { maxDeliveryAttempts: 5, eventTimeToLiveInMinutes: 1440 },
    deadLetterDestination: {
      endpointType: 'StorageBlob',
      resourceId: storageId(),
      blobContainerName: 'deadletters',
    },
  });
  rx.respond = () => 503;
  const t0 = h.clock.now();
  const key = await h.keys(vault).createRsaKey('retry-dl');
  await h.clock.advanceBy(11 * MIN + 39 * SEC);
  const attempts = rx.notifications();
  expect(attempts.map((a) => a.at - t0)).toEqual([0, 10 * SEC, 40 * SEC, 100 * SEC, 400 * SEC]);
  expect(attempts.map((a) => a.headers['aeg-delivery-count'])).toEqual(['0', '1', '2', '3', '4']);
  // Every attempt carries the same event.
  const ids = new Set(attempts.map((a) => (a.body as Array<{ id: string }>)[0]!.id));
  expect(ids.size).toBe(1);

  const container = h.blobs().getContainerClient('deadletters');
  const listing = async () => {
    const out: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix: 'RETRY-DL/' })) out.push(b.name);
    return out;
  };
  // Not before 5 minutes after the last attempt (t0 + 400 s + 300 s = 00:11:40).
  expect(await listing()).toEqual([]);
  await h.clock.advanceBy(SEC);
  const names: string[] = [];
  for await (const b of container.listBlobsFlat({ prefix: 'RETRY-DL/' })) names.push(b.name);
  expect(names).toHaveLength(1);
  // Written 5 minutes after the last attempt (t0 + 400 s + 300 s = 00:11:40), path not zero-padded.
  expect(names[0]).toMatch(/^RETRY-DL\/2026\/1\/1\/0\/[0-9a-f-]{36}\.json$/);
  const text = (await container.getBlockBlobClient(names[0]!).downloadToBuffer()).toString('utf8');
  const [record] = JSON.parse(text) as Array<Record<string, unknown>>;
  expect(record).toEqual({
    id: [...ids][0],
    topic: h.vaultId(vault),
    subject: 'retry-dl',
    eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
    eventTime: '2026-01-01T00:00:00.0000000Z',
    data: {
      Id: key.id,
      VaultName: vault,
      ObjectType: 'Key',
      ObjectName: 'retry-dl',
      Version: key.properties.version,
    },
    dataVersion: '1',
    metadataVersion: '1',
    deadLetterReason: 'MaxDeliveryAttemptsExceeded',
    deliveryAttempts: 5,
    lastDeliveryOutcome: 'Busy',
    lastHttpStatusCode: 503,
    publishTime: '2026-01-01T00:00:00.0000000Z',
    lastDeliveryAttemptTime: '2026-01-01T00:06:40.0000000Z',
  });
  const log = await control('GET', '/deliveries?subscription=/retry-dl');
  const outcomes = (log.body as { outcomes: Array<Record<string, unknown>> }).outcomes;
  expect(outcomes).toEqual([
    expect.objectContaining({
      result: 'DeadLettered',
      reason: 'MaxDeliveryAttemptsExceeded',
      attempts: 5,
      time: '2026-01-01T00:11:40.000Z',
      blob: `deadletters/${names[0]}`,
    }),
  ]);
});

test('the full default schedule continues 10 min, 30 min, 1 h, 3 h, 6 h, 12 h until the 24 h TTL', async () => {
  await subscribeFor('retry-long');
  rx.respond = () => 500;
  const t0 = h.clock.now();
  await h.keys(vault).createRsaKey('retry-long');
  await h.clock.advanceBy(36 * 3600 * SEC);
  const offsets = rx.notifications().map((a) => a.at - t0);
  const delays = [
    10 * SEC,
    30 * SEC,
    MIN,
    5 * MIN,
    10 * MIN,
    30 * MIN,
    60 * MIN,
    180 * MIN,
    360 * MIN,
    720 * MIN,
  ];
  const expected = [0];
  for (const d of delays) expected.push(expected[expected.length - 1]! + d);
  // 11 attempts in 24 h; the next (at 35 h 17 min) is past the TTL: dropped (no dead-letter destination).
  expect(offsets).toEqual(expected);
  const outcomes = (await control('GET', '/deliveries?subscription=/retry-long')).body as {
    outcomes: Array<{ result: string; reason: string; attempts: number }>;
  };
  expect(outcomes.outcomes.map((o) => [o.result, o.reason, o.attempts])).toEqual([
    ['Dropped', 'TimeToLiveExceeded', 11],
  ]);
});

test('400 is not retried: one attempt, then dropped', async () => {
  await subscribeFor('bad-request');
  rx.respond = () => 400;
  await h.keys(vault).createRsaKey('bad-request');
  await h.clock.advanceBy(2 * 3600 * SEC);
  expect(rx.notifications()).toHaveLength(1);
  const outcomes = (await control('GET', '/deliveries?subscription=/bad-request')).body as {
    outcomes: Array<{ result: string; reason: string; attempts: number }>;
  };
  expect(outcomes.outcomes.map((o) => [o.result, o.reason, o.attempts])).toEqual([
    ['Dropped', 'BadRequest', 1],
  ]);
});

test('401 and 403 to a WebHook are not retried either; 404 is', async () => {
  await subscribeFor('statuses');
  const answers = [401, 403, 404, 200];
  rx.respond = () => answers.shift() ?? 200;
  for (const _ of [1, 2, 3]) await h.keys(vault).createRsaKey('statuses');
  await h.clock.advanceBy(MIN);
  expect(
    rx.notifications().map((n) => (n.body as Array<{ data: { Version: string } }>)[0]!.data.Version),
  ).toHaveLength(4);
  const outcomes = (await control('GET', '/deliveries?subscription=/statuses')).body as {
    outcomes: Array<{ result: string; reason?: string; attempts: number }>;
  };
  expect(outcomes.outcomes.map((o) => [o.result, o.reason ?? null, o.attempts])).toEqual([
    ['Dropped', 'Unauthorized', 1],
    ['Dropped', 'Forbidden', 1],
    ['Delivered', null, 2],
  ]);
});

test('a duplicate fault delivers one event twice (same id); a delay fault reorders two events', async () => {
  await subscribeFor('dupes');
  const dup = await control('POST', '/faults', {
    effect: 'duplicate',
    count: 1,
    match: { subscription: 'dupes' },
  });
  expect(dup.status).toBe(200);
  await h.keys(vault).createRsaKey('dupes');
  await h.settle();
  const twice = rx.notifications().map((n) => (n.body as Array<{ id: string }>)[0]!.id);
  expect(twice).toHaveLength(2);
  expect(twice[0]).toBe(twice[1]);

  await control('POST', '/faults', {
    effect: 'delay',
    delayMs: MIN,
    count: 1,
    match: { subscription: 'dupes' },
  });
  rx.received.length = 0;
  const first = await h.keys(vault).createRsaKey('dupes');
  const second = await h.keys(vault).rotateKey('dupes');
  await h.settle();
  await h.clock.advanceBy(MIN);
  const versions = rx
    .notifications()
    .map((n) => (n.body as Array<{ data: { Version: string } }>)[0]!.data.Version);
  expect(versions).toEqual([second.properties.version, first.properties.version]);
  const rules = (await control('GET', '/faults')).body as Array<{ effect: string; hits: number }>;
  expect(rules.map((r) => [r.effect, r.hits])).toEqual([
    ['duplicate', 1],
    ['delay', 1],
  ]);
  await control('DELETE', '/faults');
});

test('advanced filters on data.ObjectName (StringIn) and subject (StringBeginsWith)', async () => {
  await h.subscribe(vault, 'only-a', {
    destination: { endpointType: 'WebHook', endpointUrl: rx.url },
    filter: {
      includedEventTypes: ['Microsoft.KeyVault.KeyNewVersionCreated'],
      advancedFilters: [{ operatorType: 'StringIn', key: 'data.ObjectName', values: ['CMK-A'] }],
    },
  });
  await h.subscribe(vault, 'prefix', {
    destination: { endpointType: 'WebHook', endpointUrl: rx.url },
    filter: { advancedFilters: [{ operatorType: 'StringBeginsWith', key: 'subject', values: ['cmk-'] }] },
  });
  rx.received.length = 0;
  for (const name of ['cmk-a', 'cmk-b', 'other']) await h.keys(vault).createRsaKey(name);
  await h.settle();
  const got = rx
    .notifications()
    .filter((n) => ['ONLY-A', 'PREFIX'].includes(String(n.headers['aeg-subscription-name'])))
    .map((n) => [n.headers['aeg-subscription-name'], (n.body as Array<{ subject: string }>)[0]!.subject]);
  expect(got).toEqual([
    ['ONLY-A', 'cmk-a'],
    ['PREFIX', 'cmk-a'],
    ['PREFIX', 'cmk-b'],
  ]);
  for (const name of ['only-a', 'prefix'])
    await h
      .eventGrid()
      .systemTopicEventSubscriptions.beginDeleteAndWait(h.rg, topic, name, { updateIntervalInMs: 0 });
});

test('AzureFunction destination: no handshake, delivered to the registered host with its system key', async () => {
  const site = `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/rg-app/providers/Microsoft.Web/sites/func-app`;
  rx.refuseHandshake = true; // the Functions extension answers it; Event Grid does not even ask
  await h.subscribe(vault, 'to-function', {
    destination: { endpointType: 'AzureFunction', resourceId: `${site}/functions/keyVaultEvents` },
    filter: { subjectBeginsWith: 'fn-', subjectEndsWith: '' },
  });
  expect(rx.received).toHaveLength(0);
  // Not registered yet: the attempt fails (and is retried) without any request.
  await h.keys(vault).createRsaKey('fn-early');
  await h.settle();
  expect(rx.received).toHaveLength(0);
  const base = new URL(rx.url);
  const reg = await control('PUT', '/function-apps', {
    resourceId: site,
    baseUrl: `${base.protocol}//${base.host}`,
    systemKey: 'system-key-1',
  });
  expect(reg.status).toBe(200);
  await h.clock.advanceBy(10 * SEC);
  const n = rx.notifications();
  expect(n.map((r) => [r.path, (r.body as Array<{ subject: string }>)[0]!.subject])).toEqual([
    ['/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=system-key-1', 'fn-early'],
  ]);
  const attempts = (await control('GET', '/deliveries?subscription=/to-function')).body as {
    attempts: Array<{ outcome: string; status: number }>;
  };
  expect(attempts.attempts.map((a) => [a.outcome, a.status])).toEqual([
    ['InvalidAzureFunctionDestination', 0],
    ['Succeeded', 200],
  ]);
});

test('deleting the vault drops its pending deliveries and its event subscriptions', async () => {
  const gone = 'kv-eg-gone';
  await h.createVault(gone);
  await h.createTopic(gone);
  await h.subscribe(gone, 'doomed', { destination: { endpointType: 'WebHook', endpointUrl: rx.url } });
  rx.received.length = 0;
  rx.respond = () => 500;
  await h.keys(gone).createRsaKey('k');
  await h.settle();
  expect(rx.notifications()).toHaveLength(1);
  await h.keyVaultArm().vaults.delete(h.rg, gone);
  await h.clock.advanceBy(MIN);
  expect(rx.notifications()).toHaveLength(1);
  const outcomes = (await control('GET', '/deliveries?subscription=/doomed')).body as {
    outcomes: Array<{ result: string; reason: string }>;
  };
  expect(outcomes.outcomes.map((o) => [o.result, o.reason])).toEqual([['Dropped', 'SourceDeleted']]);
  const list = h.eventGrid().systemTopicEventSubscriptions.listBySystemTopic(h.rg, `${gone}-topic`);
  const names: string[] = [];
  for await (const s of list) names.push(s.name!);
  expect(names).toEqual([]);
});
