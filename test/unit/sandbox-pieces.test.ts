import { ApiVersions } from '../../sandbox/azure/arm/apiVersions';
import { parseResourceId } from '../../sandbox/azure/arm/ids';
import { parseIsoDuration } from '../../sandbox/azure/control';
import { Faults, valueAt, withoutPath } from '../../sandbox/azure/faults';
import { RouteTable } from '../../sandbox/azure/router';
import { reply } from '../../sandbox/azure/context';
import { MemoryStore } from '../../sandbox/azure/store';
import { isSandboxError } from '../../sandbox/azure/errors';

test('api-versions: Microsoft.Resources and providers refuse unknown versions with their own codes', () => {
  const v = new ApiVersions();
  v.register('Microsoft.Resources', ['2021-04-01']);
  v.register('Microsoft.KeyVault', ['2023-07-01']);
  expect(() => v.check('Microsoft.Resources', '2021-04-01', 'resourceGroups', 'westeurope')).not.toThrow();
  const codes = [
    ['Microsoft.Resources', '2099-01-01'],
    ['microsoft.keyvault', '2099-01-01'],
    ['Microsoft.KeyVault', null],
    ['Microsoft.Nope', '2021-01-01'],
  ].map(([ns, version]) => {
    try {
      v.check(ns!, version ?? null, 'vaults', 'westeurope');
      return 'ok';
    } catch (e) {
      return isSandboxError(e) ? `${e.status} ${e.code}` : 'other';
    }
  });
  expect(codes).toEqual([
    '400 InvalidApiVersionParameter',
    '400 NoRegisteredProviderFound',
    '400 MissingApiVersionParameter',
    '404 InvalidResourceNamespace',
  ]);
});

test('resource ids parse with keyword casing ignored', () => {
  expect(
    parseResourceId('/subscriptions/S/resourcegroups/RG/providers/Microsoft.KeyVault/vaults/kv/keys/k'),
  ).toMatchObject({
    subscriptionId: 'S',
    resourceGroup: 'RG',
    namespace: 'Microsoft.KeyVault',
    types: ['vaults', 'keys'],
    names: ['kv', 'k'],
    fullType: 'Microsoft.KeyVault/vaults/keys',
    name: 'k',
  });
});

test('ISO 8601 durations', () => {
  expect(parseIsoDuration('PT5M')).toBe(300_000);
  expect(parseIsoDuration('P1DT1H')).toBe(90_000_000);
  expect(parseIsoDuration('P2W')).toBe(14 * 86_400_000);
  expect(() => parseIsoDuration('P1M')).toThrow();
  expect(() => parseIsoDuration('PT')).toThrow();
});

test('faults: counts run out, probabilities gate, matches filter; spent rules stay listed with their hits', () => {
  let roll = 0.9;
  const faults = new Faults(() => roll);
  const counted = faults.add({
    match: { service: 'arm', method: 'get', path: '/vaults/' },
    effect: { type: 'error', status: 503 },
    count: 2,
  });
  faults.add({ match: { principal: 'ABC' }, effect: { type: 'latency', ms: 5 }, probability: 0.5 });
  let n = 0;
  const target = () => ({
    requestId: `r${++n}`,
    method: 'GET',
    path: '/subscriptions/s/providers/Microsoft.KeyVault/vaults/x',
    service: 'arm' as const,
    principal: 'abc',
    query: new URLSearchParams(),
    body: Buffer.alloc(0),
  });
  const types = (hits: Array<{ effect: { type: string } }>) => hits.map((h) => h.effect.type);
  expect(types(faults.take(target()))).toEqual(['error']);
  roll = 0.1;
  expect(types(faults.take(target()))).toEqual(['error', 'latency']);
  expect(types(faults.take(target()))).toEqual(['latency']);
  expect(faults.take({ ...target(), principal: 'other' })).toEqual([]);
  expect(types(faults.take({ ...target(), service: 'keyvault' }))).toEqual(['latency']);
  const listed = faults.list().find((r) => r.id === counted.id);
  expect(listed).toMatchObject({ matched: 4, hits: 2, hitRequestIds: ['r1', 'r2'] });
});

test('faults: the nth matching request (number, list, range), query and body filters, phases', () => {
  const faults = new Faults();
  const patch = (n: number, body: unknown, query = 'api-version=1') => ({
    requestId: `r${n}`,
    method: 'PATCH',
    path: '/subscriptions/s/resourceGroups/g/providers/Microsoft.ServiceBus/namespaces/ns1',
    service: 'arm' as const,
    query: new URLSearchParams(query),
    body: Buffer.from(JSON.stringify(body)),
  });
  const second = faults.add({
    match: { method: 'PATCH', path: '/namespaces/ns1$' },
    effect: { type: 'error', status: 503 },
    occurrence: 2,
  });
  const listed = faults.add({ match: { method: 'PATCH' }, effect: { type: 'drop' }, occurrence: [1, 3] });
  const range = faults.add({
    match: { method: 'PATCH' },
    effect: { type: 'throttle', retryAfterSeconds: 2 },
    occurrence: { from: 3, to: 4 },
  });
  const encryption = faults.add({
    match: { bodyEquals: { path: 'properties.encryption.keySource', value: 'Microsoft.KeyVault' } },
    effect: { type: 'error', status: 500 },
    phase: 'after',
  });
  const contains = faults.add({
    match: { bodyContains: '"UserAssigned"', query: { 'API-VERSION': '2' } },
    effect: { type: 'error', status: 500 },
  });
  const ids = (hits: Array<{ ruleId: string }>) => hits.map((h) => h.ruleId);
  const cmk = { properties: { encryption: { keySource: 'Microsoft.KeyVault' } } };
  expect(ids(faults.take(patch(1, { identity: { type: 'SystemAssigned' } })))).toEqual([listed.id]);
  expect(ids(faults.take(patch(2, cmk)))).toEqual([second.id]);
  expect(ids(faults.take(patch(2, cmk), 'after'))).toEqual([encryption.id]);
  expect(ids(faults.take(patch(3, { identity: { type: 'UserAssigned' } }, 'api-version=2')))).toEqual([
    listed.id,
    range.id,
    contains.id,
  ]);
  expect(ids(faults.take(patch(4, {})))).toEqual([range.id]);
  expect(ids(faults.take(patch(5, {})))).toEqual([]);
  const byId = new Map(faults.list().map((r) => [r.id, r]));
  expect(byId.get(second.id)).toMatchObject({ matched: 5, hits: 1, hitRequestIds: ['r2'] });
  expect(byId.get(listed.id)).toMatchObject({ hits: 2, hitRequestIds: ['r1', 'r3'] });
  expect(byId.get(range.id)).toMatchObject({ hits: 2, hitRequestIds: ['r3', 'r4'] });
  expect(byId.get(encryption.id)).toMatchObject({ matched: 1, hits: 1, hitRequestIds: ['r2'] });
  expect(byId.get(contains.id)).toMatchObject({ matched: 1, hits: 1, hitRequestIds: ['r3'] });
  expect(() => faults.add({ effect: { type: 'drop' }, occurrence: { from: 3, to: 2 } })).toThrow();
  expect(valueAt({ a: [{ b: 1 }] }, 'a.0.b')).toBe(1);
  const body = {
    value: [{ properties: { accessPolicies: [{ objectId: 'o', permissions: { keys: [] } }] } }],
  };
  expect(withoutPath(body, 'value.0.properties.accessPolicies.0.permissions')).toEqual({
    value: [{ properties: { accessPolicies: [{ objectId: 'o' }] } }],
  });
  expect(withoutPath(body, 'value.0')).toEqual({ value: [] });
  expect(withoutPath(body, 'nothing.here')).toEqual(body);
  expect(body.value[0]!.properties.accessPolicies[0]!.permissions).toEqual({ keys: [] }); // a copy was edited
  expect(valueAt({ a: 'x' }, 'a.b')).toBeUndefined();
});

test('routes: ARM paths match case-insensitively; /{scope} routes match under any scope', () => {
  const routes = new RouteTable();
  routes.arm({
    method: 'GET',
    path: '/subscriptions/:subscriptionId/resourcegroups/:name',
    operation: 'x/read',
    handler: () => reply.noContent(),
  });
  routes.arm({
    method: 'PUT',
    path: '/{scope}/providers/Microsoft.Authorization/roleAssignments/:id',
    operation: 'y/write',
    handler: () => reply.noContent(),
  });
  expect(routes.match('arm', 'GET', '/SUBSCRIPTIONS/abc/resourceGroups/MyRG')?.params).toEqual({
    subscriptionId: 'abc',
    name: 'MyRG',
  });
  expect(
    routes.match(
      'arm',
      'PUT',
      '/subscriptions/s/resourceGroups/rg/providers/microsoft.authorization/roleAssignments/g',
    )?.params,
  ).toEqual({
    scope: '/subscriptions/s/resourceGroups/rg',
    id: 'g',
  });
  expect(
    routes.match('arm', 'PUT', '/providers/Microsoft.Authorization/roleAssignments/g')?.params.scope,
  ).toBe('/');
  expect(routes.match('arm', 'DELETE', '/subscriptions/s/resourcegroups/rg')).toBeUndefined();
  expect(routes.hasPath('arm', '/subscriptions/s/resourcegroups/rg')).toBe(true);
  expect(routes.match('arm', 'GET', '/subscriptions/s/resourcegroups/rg')?.namespace).toBe(
    'Microsoft.Resources',
  );
});

test('store: case-insensitive keys, first spelling kept, prefix operations, copies not references', () => {
  const store = new MemoryStore();
  const value = { a: 1 };
  store.put('c', '/Subscriptions/S/x', value);
  value.a = 2;
  expect(store.get('c', '/subscriptions/s/X')).toEqual({ a: 1 });
  store.put('c', '/subscriptions/s/x', { a: 3 });
  expect(store.entries('c')).toEqual([['/Subscriptions/S/x', { a: 3 }]]);
  store.put('c', '/subscriptions/s/y', { a: 4 });
  store.put('c', '/subscriptions/t/y', { a: 5 });
  expect(store.list('c', '/SUBSCRIPTIONS/S/')).toHaveLength(2);
  expect(store.deletePrefix('c', '/subscriptions/s/')).toBe(2);
  expect(store.list('c')).toEqual([{ a: 5 }]);
});
