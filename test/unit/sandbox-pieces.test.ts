import { ApiVersions } from '../../sandbox/azure/arm/apiVersions';
import { parseResourceId } from '../../sandbox/azure/arm/ids';
import { parseIsoDuration } from '../../sandbox/azure/control';
import { Faults } from '../../sandbox/azure/faults';
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

test('faults: counts run out, probabilities gate, matches filter', () => {
  let roll = 0.9;
  const faults = new Faults(() => roll);
  faults.add({
    match: { service: 'arm', method: 'get', path: '/vaults/' },
    effect: { type: 'error', status: 503 },
    count: 2,
  });
  faults.add({ match: { principal: 'ABC' }, effect: { type: 'latency', ms: 5 }, probability: 0.5 });
  const target = {
    method: 'GET',
    path: '/subscriptions/s/providers/Microsoft.KeyVault/vaults/x',
    service: 'arm' as const,
    principal: 'abc',
  };
  expect(faults.take(target).map((e) => e.type)).toEqual(['error']);
  roll = 0.1;
  expect(faults.take(target).map((e) => e.type)).toEqual(['error', 'latency']);
  expect(faults.take(target).map((e) => e.type)).toEqual(['latency']);
  expect(faults.take({ ...target, principal: 'other' })).toEqual([]);
  expect(faults.take({ ...target, service: 'keyvault' }).map((e) => e.type)).toEqual(['latency']);
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
