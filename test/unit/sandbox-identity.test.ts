import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import { VirtualClock } from '../../sandbox/clock';
import { loadTls } from '../../sandbox/azure/certs';
import { PrincipalDirectory } from '../../sandbox/azure/identity/principals';
import { TokenService } from '../../sandbox/azure/identity/tokens';
import { MemoryStore, SnapshotStore } from '../../sandbox/azure/store';

describe('certificates', () => {
  test('the CA is created once and reused; each leaf covers localhost, 127.0.0.1 and the vault wildcard', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sbx-tls-'));
    const first = loadTls(dir, ['localhost', '*.vault.sandbox.localhost', 'vault.sandbox.localhost']);
    const second = loadTls(dir, ['localhost', '*.vault.sandbox.localhost', 'vault.sandbox.localhost']);
    expect(second.caPem).toBe(first.caPem);
    expect(second.certPem).not.toBe(first.certPem);

    const ca = new X509Certificate(first.caPem);
    const leaf = new X509Certificate(first.certPem);
    expect(ca.ca).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    const identity = (host: string) =>
      checkServerIdentity(host, { subjectaltname: leaf.subjectAltName } as never);
    expect(identity('localhost')).toBeUndefined();
    expect(identity('contoso.vault.sandbox.localhost')).toBeUndefined();
    expect(identity('127.0.0.1')).toBeUndefined();
    expect(identity('example.com')?.message).toMatch(/does not match certificate's altnames/);
  });
});

describe('tokens', () => {
  const setup = (mode: 'client' | 'clock' = 'client') => {
    const clock = new VirtualClock(Date.UTC(2026, 0, 1));
    const principals = new PrincipalDirectory(new MemoryStore(), 'tenant-1');
    const p = principals.create({
      displayName: 'p',
      resourceId: '/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/app',
    });
    return { clock, p, tokens: new TokenService(clock, 3600, undefined, mode) };
  };

  test('carry Entra-style claims and verify against the audience', async () => {
    const { p, tokens } = setup();
    const issued = await tokens.issue(p, 'https://localhost:1');
    expect(issued.claims).toMatchObject({
      oid: p.objectId,
      tid: 'tenant-1',
      appid: p.clientId,
      sub: p.objectId,
      aud: 'https://localhost:1',
      idtyp: 'app',
      xms_mirid: p.resourceId,
    });
    expect(issued.claims.exp - issued.claims.iat).toBe(3600);
    expect(await tokens.verify(issued.token, ['https://localhost:1/'])).toMatchObject({ ok: true });
    expect(await tokens.verify(issued.token, ['https://vault.sandbox.localhost'])).toEqual({
      ok: false,
      reason: 'audience',
      aud: 'https://localhost:1',
    });
  });

  test('a tampered or foreign token is invalid', async () => {
    const { p, tokens } = setup();
    const { token } = await tokens.issue(p, 'aud');
    const [h, payload, sig] = token.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), oid: 'someone-else' }),
    ).toString('base64url');
    expect(await tokens.verify(`${h}.${forged}.${sig}`, ['aud'])).toMatchObject({
      ok: false,
      reason: 'invalid',
    });
    const other = await new TokenService(setup().clock, 3600).issue(p, 'aud');
    expect(await tokens.verify(other.token, ['aud'])).toMatchObject({ ok: false, reason: 'invalid' });
  });

  test("expiry: 'clock' checks exp against the sandbox clock; 'client' only once the lifetime passed in real time", async () => {
    const strict = setup('clock');
    const a = await strict.tokens.issue(strict.p, 'aud');
    await strict.clock.advanceBy(3601_000);
    expect(await strict.tokens.verify(a.token, ['aud'])).toEqual({
      ok: false,
      reason: 'expired',
      exp: a.claims.exp,
    });

    const lenient = setup('client');
    const b = await lenient.tokens.issue(lenient.p, 'aud');
    await lenient.clock.advanceBy(30 * 86_400_000);
    expect(await lenient.tokens.verify(b.token, ['aud'])).toMatchObject({ ok: true });
  });
});

test('snapshot store: the estate survives a reopen', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sbx-snap-')), 'estate.json');
  const a = new SnapshotStore(file);
  a.put('resourceGroups', '/subscriptions/s/resourceGroups/RG', { name: 'RG' });
  a.flush();
  const b = new SnapshotStore(file);
  expect(b.get('resourceGroups', '/SUBSCRIPTIONS/S/RESOURCEGROUPS/rg')).toEqual({ name: 'RG' });
  expect(b.entries('resourceGroups')[0]?.[0]).toBe('/subscriptions/s/resourceGroups/RG');
});
