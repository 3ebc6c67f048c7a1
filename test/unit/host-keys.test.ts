import { authorizeFunction, authorizeSystem, generateKeys, presentedKey } from '../../sandbox/host/keys';

describe('function keys', () => {
  const keys = generateKeys({
    master: 'm',
    function: 'f',
    functions: { getOperation: 'own' },
    eventGridExtension: 'eg',
    durableTaskExtension: 'dt',
  });

  it('enforces auth levels as the Functions host does', () => {
    expect(authorizeFunction(keys, 'anonymous', 'x', undefined)).toBe(true);
    expect(authorizeFunction(keys, 'function', 'x', undefined)).toBe(false);
    expect(authorizeFunction(keys, 'function', 'x', 'f')).toBe(true);
    expect(authorizeFunction(keys, 'function', 'x', 'm')).toBe(true);
    expect(authorizeFunction(keys, 'function', 'GETOPERATION', 'own')).toBe(true);
    expect(authorizeFunction(keys, 'function', 'other', 'own')).toBe(false);
    expect(authorizeFunction(keys, 'admin', 'x', 'f')).toBe(false);
    expect(authorizeFunction(keys, 'admin', 'x', 'm')).toBe(true);
  });

  it('takes system keys for the extension webhooks', () => {
    expect(authorizeSystem(keys, 'eventgrid', 'eg')).toBe(true);
    expect(authorizeSystem(keys, 'eventgrid', 'dt')).toBe(false);
    expect(authorizeSystem(keys, 'durabletask', 'dt')).toBe(true);
    expect(authorizeSystem(keys, 'durabletask', undefined)).toBe(false);
  });

  it('reads the header before the code query', () => {
    expect(presentedKey({ 'x-functions-key': 'h' }, new URL('http://x/?code=q'))).toBe('h');
    expect(presentedKey({}, new URL('http://x/?code=q'))).toBe('q');
    expect(presentedKey({}, new URL('http://x/'))).toBeUndefined();
  });

  it('generates distinct random keys when none are pinned', () => {
    const a = generateKeys();
    const b = generateKeys();
    expect(a.master).not.toBe(b.master);
    // 30 random bytes, base64url: 40 characters.
    expect(a.function).toMatch(/^[A-Za-z0-9_-]{40}$/);
  });
});
