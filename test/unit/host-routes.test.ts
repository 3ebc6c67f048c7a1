import { RouteTable } from '../../sandbox/host/routes';

describe('RouteTable (Functions route templates)', () => {
  const table = new RouteTable<string>('api');
  table.add('operations/{instanceId}', ['GET'], 'getOperation');
  table.add('items/{id:int}/{mode?}', ['GET', 'POST'], 'items');
  table.add('files/{*path}', undefined, 'files');
  table.add('health', ['GET'], 'health');

  it('matches parameters case-insensitively under the route prefix', () => {
    expect(table.match('GET', '/api/Operations/abc-1')).toEqual({
      target: 'getOperation',
      params: { instanceId: 'abc-1' },
    });
    expect(table.match('GET', '/api/health/')).toEqual({ target: 'health', params: {} });
  });

  it('supports optional parameters and constraints', () => {
    expect(table.match('GET', '/api/items/42')).toEqual({ target: 'items', params: { id: '42' } });
    expect(table.match('POST', '/api/items/42/full')).toEqual({
      target: 'items',
      params: { id: '42', mode: 'full' },
    });
    expect(table.match('GET', '/api/items/abc')).toBeUndefined();
  });

  it('supports catch-all parameters and any method when none is given', () => {
    expect(table.match('DELETE', '/api/files/a/b/c.txt')).toEqual({
      target: 'files',
      params: { path: 'a/b/c.txt' },
    });
  });

  it('tells a wrong method from an unknown route', () => {
    expect(table.match('POST', '/api/health')).toBe('methodNotAllowed');
    expect(table.match('GET', '/api/nothing')).toBeUndefined();
    expect(table.match('GET', '/operations/abc')).toBeUndefined();
  });
});
