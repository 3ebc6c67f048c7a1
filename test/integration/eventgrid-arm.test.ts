/**
 * Microsoft.EventGrid ARM routes: the real @azure/arm-eventgrid client for the happy paths, raw HTTPS
 * for bad input — every refusal answers Azure's status and error code, and nothing is stored (read back).
 */
import { startEgHarness, startReceiver, type EgHarness, type Receiver } from './eventgrid-support';

let h: EgHarness;
let rx: Receiver;
const vault = 'kv-eg-arm';
const API = '2022-06-15';
const topicPath = (name: string) =>
  `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${h.rg}/providers/Microsoft.EventGrid/systemTopics/${name}`;
const subPath = (topic: string, name: string) => `${topicPath(topic)}/eventSubscriptions/${name}`;
const url = (path: string, api = API) => `${path}?api-version=${api}`;

beforeAll(async () => {
  h = await startEgHarness();
  rx = await startReceiver(h.clock);
  await h.createVault(vault);
  await h.createVault('kv-eg-arm2');
  await h.createTopic(vault, 'topic-ok');
});
afterAll(async () => {
  await rx.close();
  await h.close();
});

const errorOf = (r: { body: unknown }) => (r.body as { error: { code: string; message: string } }).error;

test('the SDK creates, reads, lists and deletes system topics; the same api-versions Azure CLI sends work', async () => {
  const eg = h.eventGrid();
  const topic = await eg.systemTopics.get(h.rg, 'topic-ok');
  expect(topic).toMatchObject({
    name: 'topic-ok',
    type: 'Microsoft.EventGrid/systemTopics',
    location: 'westeurope',
    source: h.vaultId(vault),
    topicType: 'Microsoft.KeyVault.vaults',
    provisioningState: 'Succeeded',
  });
  expect(topic.metricResourceId).toMatch(/^[0-9a-f-]{36}$/);
  const names: string[] = [];
  for await (const t of eg.systemTopics.listByResourceGroup(h.rg)) names.push(t.name!);
  expect(names).toEqual(['topic-ok']);
  for (const api of ['2024-06-01-preview', '2025-02-15']) {
    const r = await h.raw('GET', url(topicPath('topic-ok'), api));
    expect(r.status).toBe(200);
  }
  await eg.systemTopics.beginCreateOrUpdateAndWait(
    h.rg,
    'topic-tmp',
    { location: 'westeurope', source: h.vaultId('kv-eg-arm2'), topicType: 'Microsoft.KeyVault.vaults' },
    { updateIntervalInMs: 0 },
  );
  await eg.systemTopics.beginDeleteAndWait(h.rg, 'topic-tmp', { updateIntervalInMs: 0 });
  expect((await h.raw('GET', url(topicPath('topic-tmp')))).status).toBe(404);
});

describe('bad system topic input → Azure status + code, nothing stored', () => {
  const good = () => ({
    location: 'westeurope',
    properties: { source: h.vaultId('kv-eg-arm2'), topicType: 'Microsoft.KeyVault.vaults' },
  });
  const cases: Array<[string, string, () => unknown, string, number, string]> = [
    ['unknown api-version', 'bad-api', good, '2099-01-01', 400, 'NoRegisteredProviderFound'],
    ['name too short', 'ab', good, API, 400, 'InvalidRequest'],
    ['name with underscore', 'bad_name', good, API, 400, 'InvalidRequest'],
    ['no location', 'no-location', () => ({ properties: good().properties }), API, 400, 'LocationRequired'],
    ['body not an object', 'not-object', () => [1, 2], API, 400, 'InvalidRequestContent'],
    [
      'properties a string',
      'props-string',
      () => ({ location: 'westeurope', properties: 'x' }),
      API,
      400,
      'InvalidRequest',
    ],
    [
      'source not a vault',
      'not-vault',
      () => ({
        ...good(),
        properties: {
          ...good().properties,
          source: `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/${h.rg}/providers/Microsoft.Storage/storageAccounts/x`,
        },
      }),
      API,
      400,
      'InvalidRequest',
    ],
    [
      'source vault missing',
      'missing-vault',
      () => ({ ...good(), properties: { ...good().properties, source: h.vaultId('kv-nope') } }),
      API,
      400,
      'InvalidRequest',
    ],
    [
      'unsupported topic type',
      'wrong-type',
      () => ({
        ...good(),
        properties: { ...good().properties, topicType: 'Microsoft.Storage.StorageAccounts' },
      }),
      API,
      400,
      'InvalidRequest',
    ],
    [
      'second topic for the same vault',
      'second-topic',
      () => ({ ...good(), properties: { ...good().properties, source: h.vaultId(vault) } }),
      API,
      400,
      'InvalidRequest',
    ],
    [
      'tags not strings',
      'bad-tags',
      () => ({ ...good(), tags: { a: 1 } }),
      API,
      400,
      'InvalidRequestContent',
    ],
  ];
  test.each(cases)('%s', async (_label, name, body, api, status, code) => {
    const r = await h.raw('PUT', url(topicPath(name), api), body());
    expect([r.status, errorOf(r).code]).toEqual([status, code]);
    expect((await h.raw('GET', url(topicPath(name)))).status).toBe(404);
  });

  test('malformed JSON → 400 InvalidRequestContent', async () => {
    const { request } = await import('node:https');
    const token = (await h.sandbox.control.token(h.admin)).access_token;
    const payload = '{"location": "westeurope", "properties": {';
    const r = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const req = request(
        new URL(url(topicPath('bad-json')), h.sandbox.url),
        {
          method: 'PUT',
          agent: h.agent,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
    expect([r.status, errorOf(r).code]).toEqual([400, 'InvalidRequestContent']);
    expect((await h.raw('GET', url(topicPath('bad-json')))).status).toBe(404);
  });

  test('an unknown resource group → 404 ResourceGroupNotFound', async () => {
    const r = await h.raw(
      'PUT',
      url(
        `/subscriptions/${h.sandbox.subscriptionId}/resourceGroups/rg-none/providers/Microsoft.EventGrid/systemTopics/t-none`,
      ),
      good(),
    );
    expect([r.status, errorOf(r).code]).toEqual([404, 'ResourceGroupNotFound']);
  });
});

describe('bad event subscription input → Azure status + code, nothing stored, no request to the endpoint', () => {
  // The receiver's URL is known only once it listens; tables are built before that.
  const RX = '{receiver}';
  const withReceiver = (payload: unknown): unknown =>
    JSON.parse(JSON.stringify(payload).split(RX).join(rx.url));
  const dest = () => ({ endpointType: 'WebHook', properties: { endpointUrl: RX } });
  const body = (props: Record<string, unknown>) => ({ properties: { destination: dest(), ...props } });
  const manyFilters = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ operatorType: 'StringIn', key: 'subject', values: [`v${i}`] }));
  const cases: Array<[string, unknown, number, string]> = [
    ['no destination', { properties: {} }, 400, 'InvalidRequest'],
    [
      'unsupported endpoint type',
      { properties: { destination: { endpointType: 'EventHub', properties: {} } } },
      400,
      'InvalidRequest',
    ],
    [
      'endpoint on another host',
      {
        properties: {
          destination: { endpointType: 'WebHook', properties: { endpointUrl: 'https://example.com/hook' } },
        },
      },
      400,
      'InvalidRequest',
    ],
    [
      'endpoint not a URL',
      { properties: { destination: { endpointType: 'WebHook', properties: { endpointUrl: 'not a url' } } } },
      400,
      'InvalidRequest',
    ],
    [
      'function id malformed',
      {
        properties: {
          destination: {
            endpointType: 'AzureFunction',
            properties: { resourceId: '/subscriptions/x/functions/y' },
          },
        },
      },
      400,
      'InvalidRequest',
    ],
    ['maxDeliveryAttempts 31', body({ retryPolicy: { maxDeliveryAttempts: 31 } }), 400, 'InvalidRequest'],
    [
      'maxDeliveryAttempts a string',
      body({ retryPolicy: { maxDeliveryAttempts: '5' } }),
      400,
      'InvalidRequest',
    ],
    ['TTL 1441 minutes', body({ retryPolicy: { eventTimeToLiveInMinutes: 1441 } }), 400, 'InvalidRequest'],
    ['CustomInputSchema', body({ eventDeliverySchema: 'CustomInputSchema' }), 400, 'InvalidRequest'],
    ['unknown schema', body({ eventDeliverySchema: 'Xml' }), 400, 'InvalidRequest'],
    [
      'unknown event type',
      body({ filter: { includedEventTypes: ['Microsoft.KeyVault.KeyDeleted'] } }),
      400,
      'InvalidRequest',
    ],
    ['includedEventTypes not an array', body({ filter: { includedEventTypes: 'x' } }), 400, 'InvalidRequest'],
    ['26 advanced filters', body({ filter: { advancedFilters: manyFilters(26) } }), 400, 'InvalidRequest'],
    [
      '26 filter values',
      body({
        filter: {
          advancedFilters: [
            { operatorType: 'StringIn', key: 'subject', values: manyFilters(26).map((f) => f.values[0]) },
          ],
        },
      }),
      400,
      'InvalidRequest',
    ],
    [
      'unknown operator',
      body({ filter: { advancedFilters: [{ operatorType: 'Regex', key: 'subject', values: ['a'] }] } }),
      400,
      'InvalidRequest',
    ],
    [
      'filter without key',
      body({ filter: { advancedFilters: [{ operatorType: 'StringIn', values: ['a'] }] } }),
      400,
      'InvalidRequest',
    ],
    [
      'NumberLessThan without a number',
      body({
        filter: { advancedFilters: [{ operatorType: 'NumberLessThan', key: 'data.EXP', value: 'soon' }] },
      }),
      400,
      'InvalidRequest',
    ],
    [
      'string value over 512 characters',
      body({
        filter: {
          advancedFilters: [{ operatorType: 'StringIn', key: 'subject', values: ['x'.repeat(513)] }],
        },
      }),
      400,
      'InvalidRequest',
    ],
    [
      'dead-letter container name invalid',
      body({
        deadLetterDestination: {
          endpointType: 'StorageBlob',
          properties: {
            resourceId: `/subscriptions/${'0'.repeat(8)}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct1`,
            blobContainerName: 'Bad_Name',
          },
        },
      }),
      400,
      'InvalidRequest',
    ],
    [
      'dead-letter not StorageBlob',
      body({ deadLetterDestination: { endpointType: 'StorageQueue', properties: {} } }),
      400,
      'InvalidRequest',
    ],
    ['expiration in the past', body({ expirationTimeUtc: '2020-01-01T00:00:00Z' }), 400, 'InvalidRequest'],
    ['labels not strings', body({ labels: [1] }), 400, 'InvalidRequest'],
  ];
  test.each(cases)('%s', async (_label, payload, status, code) => {
    rx.received.length = 0;
    const r = await h.raw('PUT', url(subPath('topic-ok', 'bad-sub')), withReceiver(payload));
    expect([r.status, errorOf(r).code]).toEqual([status, code]);
    expect((await h.raw('GET', url(subPath('topic-ok', 'bad-sub')))).status).toBe(404);
    expect(rx.received).toHaveLength(0);
  });

  test('a bad name, an unknown topic, an unknown api-version', async () => {
    const ok = withReceiver(body({}));
    const r1 = await h.raw('PUT', url(subPath('topic-ok', 'x_y')), ok);
    expect([r1.status, errorOf(r1).code]).toEqual([400, 'InvalidRequest']);
    const r2 = await h.raw('PUT', url(subPath('topic-none', 'sub-1')), ok);
    expect([r2.status, errorOf(r2).code]).toEqual([404, 'ResourceNotFound']);
    const r3 = await h.raw('PUT', url(subPath('topic-ok', 'sub-1'), '2017-01-01'), ok);
    expect([r3.status, errorOf(r3).code]).toEqual([400, 'NoRegisteredProviderFound']);
    for (const [t, s] of [
      ['topic-ok', 'x_y'],
      ['topic-ok', 'sub-1'],
    ] as const)
      expect((await h.raw('GET', url(subPath(t, s)))).status).toBe(404);
    expect(rx.received).toHaveLength(0);
  });

  test('a principal without Microsoft.EventGrid write → 403 AuthorizationFailed, nothing stored', async () => {
    const reader = h.sandbox.control.createPrincipal({ displayName: 'eg-reader' }).objectId;
    h.sandbox.control.assignRole({
      principalId: reader,
      role: 'Reader',
      scope: `/subscriptions/${h.sandbox.subscriptionId}`,
    });
    const { fetchJson } = await import('./keyvault-support');
    const r = await fetchJson(
      h.sandbox,
      h.agent,
      reader,
      'PUT',
      url(subPath('topic-ok', 'sub-reader')),
      withReceiver(body({})),
    );
    expect([r.status, errorOf(r).code]).toEqual([403, 'AuthorizationFailed']);
    expect((await h.raw('GET', url(subPath('topic-ok', 'sub-reader')))).status).toBe(404);
  });
});

test('update (PATCH) through the SDK: a new endpoint is handshaken again; GET reflects the change', async () => {
  const eg = h.eventGrid();
  await h.subscribe(
    vault,
    'patchable',
    { destination: { endpointType: 'WebHook', endpointUrl: rx.url } },
    'topic-ok',
  );
  rx.received.length = 0;
  await eg.systemTopicEventSubscriptions.beginUpdateAndWait(
    h.rg,
    'topic-ok',
    'patchable',
    { retryPolicy: { maxDeliveryAttempts: 3, eventTimeToLiveInMinutes: 60 }, labels: ['cmk'] },
    { updateIntervalInMs: 0 },
  );
  expect(rx.received).toHaveLength(0); // same endpoint: no new handshake
  await eg.systemTopicEventSubscriptions.beginUpdateAndWait(
    h.rg,
    'topic-ok',
    'patchable',
    { destination: { endpointType: 'WebHook', endpointUrl: `${rx.url}/v2` } },
    { updateIntervalInMs: 0 },
  );
  expect(rx.received.map((r) => [r.path, r.headers['aeg-event-type']])).toEqual([
    ['/events/v2', 'SubscriptionValidation'],
  ]);
  const got = await eg.systemTopicEventSubscriptions.get(h.rg, 'topic-ok', 'patchable');
  expect(got.retryPolicy).toEqual({ maxDeliveryAttempts: 3, eventTimeToLiveInMinutes: 60 });
  expect(got.labels).toEqual(['cmk']);
  expect((got.destination as { endpointBaseUrl?: string }).endpointBaseUrl).toBe(`${rx.url}/v2`);
});

test('the Event Grid control routes refuse bad input with 400 and change nothing', async () => {
  const { httpsJson } = await import('../../sandbox/azure/testing');
  const control = (method: string, path: string, body?: unknown) =>
    httpsJson(h.sandbox, method, `${h.sandbox.url}/_sandbox/eventgrid${path}`, {
      token: h.sandbox.adminSecret,
      ...(body === undefined ? {} : { body }),
    });
  const bad: Array<[string, unknown]> = [
    [
      '/function-apps',
      { resourceId: '/subscriptions/x/resourceGroups/y', baseUrl: 'http://127.0.0.1:1', systemKey: 'k' },
    ],
    [
      '/function-apps',
      {
        resourceId: `/subscriptions/x/resourceGroups/y/providers/Microsoft.Web/sites/a`,
        baseUrl: 'not a url',
        systemKey: 'k',
      },
    ],
    ['/function-apps', { resourceId: 5 }],
  ];
  for (const [path, body] of bad) {
    const r = await control('PUT', path, body);
    expect([r.status, errorOf(r).code]).toEqual([400, 'InvalidRequestContent']);
  }
  expect((await control('GET', '/function-apps')).body).toEqual([]);
  for (const body of [{ effect: 'delay' }, { effect: 'explode' }, { effect: 'duplicate', count: 0 }]) {
    const r = await control('POST', '/faults', body);
    expect([r.status, errorOf(r).code]).toEqual([400, 'InvalidRequestContent']);
  }
  expect((await control('GET', '/faults')).body).toEqual([]);
  // Without the admin secret: 401.
  const anonymous = await httpsJson(h.sandbox, 'GET', `${h.sandbox.url}/_sandbox/eventgrid/deliveries`);
  expect(anonymous.status).toBe(401);
});

test('PATCH, list and action routes refuse bad input too, and change nothing', async () => {
  await h.subscribe(
    vault,
    'stable',
    { destination: { endpointType: 'WebHook', endpointUrl: rx.url } },
    'topic-ok',
  );
  const before = await h.raw('GET', url(subPath('topic-ok', 'stable')));
  const topicBefore = await h.raw('GET', url(topicPath('topic-ok')));
  const cases: Array<[string, string, unknown, number, string]> = [
    ['PATCH', url(topicPath('topic-ok')), { tags: { a: 1 } }, 400, 'InvalidRequestContent'],
    ['PATCH', url(topicPath('topic-ok')), 'tags', 400, 'InvalidRequestContent'],
    ['PATCH', url(topicPath('topic-none')), { tags: {} }, 404, 'ResourceNotFound'],
    [
      'PATCH',
      url(subPath('topic-ok', 'stable')),
      { retryPolicy: { maxDeliveryAttempts: 0 } },
      400,
      'InvalidRequest',
    ],
    [
      'PATCH',
      url(subPath('topic-ok', 'stable')),
      { filter: { advancedFilters: 'x' } },
      400,
      'InvalidRequest',
    ],
    ['PATCH', url(subPath('topic-ok', 'nope')), { labels: [] }, 404, 'ResourceNotFound'],
    [
      'GET',
      url(`${topicPath('topic-ok')}/eventSubscriptions`, '2019-01-01'),
      undefined,
      400,
      'NoRegisteredProviderFound',
    ],
    [
      'GET',
      url(
        `/subscriptions/${'0'.repeat(8)}-0000-4000-8000-000000000009/providers/Microsoft.EventGrid/systemTopics`,
      ),
      undefined,
      404,
      'SubscriptionNotFound',
    ],
    ['POST', url(`${subPath('topic-ok', 'nope')}/getFullUrl`), undefined, 404, 'ResourceNotFound'],
  ];
  for (const [method, path, body, status, code] of cases) {
    const r = await h.raw(method, path, body);
    expect([
      method,
      path,
      r.status,
      (r.body as { error?: { code: string } } | undefined)?.error?.code,
    ]).toEqual([method, path, status, code]);
  }
  expect(await h.raw('GET', url(subPath('topic-ok', 'stable')))).toEqual(before);
  expect(await h.raw('GET', url(topicPath('topic-ok')))).toEqual(topicBefore);
  expect((await h.raw('GET', url(subPath('topic-ok', 'nope')))).status).toBe(404);
});
