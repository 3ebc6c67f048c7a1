/**
 * Bad ids and key URLs, wherever they enter (diagnose, enable and its dry run, Geo-DR primary and
 * secondary, a user-assigned identity, key ids in both forms): a 4xx problem+json that names the field,
 * and — read from the sandbox's request log of EVERY caller, not only the app identity — not one
 * request reached Azure. See docs/ARCHITECTURE.md "Input".
 */
import { createHash } from 'node:crypto';
import { startLocalEstate } from '../support/localEstate';
import { Estate, type RequestLogEntry } from './enable-cmk-support';

let e: Estate;

beforeAll(async () => {
  e = await new Estate(await startLocalEstate()).init();
  await e.grantApp('Reader', `/subscriptions/${e.sub}`);
  await e.vault('kv-in');
  await e.key('kv-in', 'k1');
  await e.namespace('sb-in-p');
  await e.namespace('sb-in-s');
}, 120_000);

afterAll(async () => e?.estate.stop());

/** The last sequence number in the whole request log (all principals, all services). */
async function logMark(): Promise<number> {
  const all = await e.estate.azure.control<RequestLogEntry[]>('GET', '/requests');
  return all.body.reduce((m, r) => Math.max(m, r.seq), 0);
}
async function requestsSince(seq: number): Promise<string[]> {
  const r = await e.estate.azure.control<RequestLogEntry[]>('GET', `/requests?since=${seq}`);
  // Everything but the test's own control-API calls (reading this very log).
  return r.body.filter((x) => !x.path.startsWith('/_sandbox/')).map((x) => `${x.method} ${x.host}${x.path}`);
}

interface Problem {
  status: number;
  title: string;
  errors?: Array<{ field: string; message: string }>;
  findings?: Array<{ ruleId: string; blocks: boolean; subject: { id: string } }>;
}

async function refused(
  path: string,
  body: unknown,
): Promise<{ status: number; body: Problem; calls: string[] }> {
  const mark = await logMark();
  const r = await e.post<Problem>(path, body);
  // A read the app made would sit in the log by now: the response is sent after the handler ran.
  return { ...r, calls: await requestsSince(mark) };
}

const SUB = () => e.sub;
const dotted = (name: string) =>
  `/subscriptions/${SUB()}/resourceGroups/../providers/Microsoft.ServiceBus/namespaces/${name}`;

describe("ARM ids with '.' / '..' segments or percent-encoding", () => {
  it('diagnose: 400 naming namespaceId, zero Azure calls (the id would have read another ARM path)', async () => {
    const r = await refused('/api/cmk/diagnose', { namespaceId: dotted('sb-in-p') });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([
      { field: 'namespaceId', message: expect.stringContaining("has a '..' segment") as unknown },
    ]);
    expect(r.calls).toEqual([]);
  });

  it.each([
    ['enable', false],
    ['enable dry run', true],
  ])('%s: 400 naming namespaceId / identity.resourceId, zero Azure calls', async (_label, dryRun) => {
    const r = await refused('/api/cmk/enable', {
      namespaceId: `/subscriptions/${SUB()}/resourceGroups/rg-cmk/providers/Microsoft.ServiceBus/namespaces/./sb-in-p`,
      keys: [{ keyId: e.keyId('kv-in', 'k1') }],
      identity: {
        type: 'UserAssigned',
        resourceId: `/subscriptions/${SUB()}/resourceGroups/%2e%2e/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1`,
      },
      dryRun,
    });
    expect(r.status).toBe(400);
    expect(r.body.errors?.map((p) => p.field)).toEqual(['namespaceId', 'identity.resourceId']);
    expect(r.calls).toEqual([]);
  });

  it('Geo-DR: 400 naming primaryNamespaceId and secondaryNamespaceId, zero Azure calls', async () => {
    const r = await refused('/api/cmk/geo-dr', {
      primaryNamespaceId: dotted('sb-in-p'),
      secondaryNamespaceId: `${e.nsId('sb-in-s')}/%2E%2E`,
      alias: 'in-alias',
      keys: [{ keyId: e.keyId('kv-in', 'k1') }],
      dryRun: true,
    });
    expect(r.status).toBe(400);
    expect(r.body.errors?.map((p) => p.field)).toEqual(['primaryNamespaceId', 'secondaryNamespaceId']);
    expect(r.calls).toEqual([]);
  });
});

describe('key URLs a URL parser would rewrite', () => {
  it.each([
    ['keys[0].keyId', { keyId: 'https://kv-in.vault.sandbox.localhost/keys/../keys/k1' }],
    ['keys[0].keyId', { keyId: 'https://kv-in.vault.sandbox.localhost/keys/%2e%2e/k1' }],
    ['keys[0].keyId', { keyId: 'https://kv-in.vault.sandbox.localhost/keys/k1%zz' }],
    ['keys[0].vaultUri', { vaultUri: 'https://kv-in.vault.sandbox.localhost/..', keyName: 'k1' }],
  ])('dry run: 400 naming %s, zero Azure calls', async (field, key) => {
    const r = await refused('/api/cmk/enable', { namespaceId: e.nsId('sb-in-p'), keys: [key], dryRun: true });
    expect(r.status).toBe(400);
    expect(r.body.errors?.map((p) => p.field)).toEqual([field]);
    expect(r.calls).toEqual([]);
  });
});

describe('a key URL with a port (Key Vault URIs have none)', () => {
  const withPort = (port: number) => `https://kv-in.vault.sandbox.localhost:${port}/keys/k1`;

  it.each([1, 65535])(
    'real enable with :%i: 422 PRE-007, nothing started, zero Azure calls',
    async (port) => {
      const ns = e.nsId('sb-in-p');
      const r = await refused('/api/cmk/enable', { namespaceId: ns, keys: [{ keyId: withPort(port) }] });
      expect(r.status).toBe(422);
      expect(r.body.findings?.map((f) => f.ruleId)).toEqual(['PRE-007']);
      expect(r.body.findings?.[0]?.subject.id).toBe(withPort(port));
      expect(r.calls).toEqual([]);
      const id = `enableCmk-${createHash('sha256').update(ns.toLowerCase()).digest('hex').slice(0, 32)}`;
      const op = await e.estate.app.json(`/api/operations/${id}`, {
        headers: { 'x-functions-key': e.estate.app.keys.function },
      });
      expect(op.status).toBe(404);
    },
  );
});
