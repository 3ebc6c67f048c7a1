/**
 * The compliance sweep end to end on `npm start`'s composition (emulated Azure seeded with the demo
 * estate + the local Functions host, one virtual clock), driven only over HTTP: POST
 * /api/compliance/sweeps, GET /api/operations/complianceSweep, GET /api/compliance/report; Azure changed
 * and read back through its own APIs as the administrator, faults through the sandbox's control API.
 * One start for the file; sweeps run one after another on it:
 *
 *   1. the demo estate as seeded (+ a subscription in scope the app holds no role on);
 *   2. after real Key Vault changes: a key disabled, an access policy removed, 11 days later (a key
 *      expired) — the rules fire on exactly the namespaces changed;
 *   3. with ARM throttling one subscription's list beyond every retry.
 * In each, the exact rule set of EVERY namespace is asserted: a rule firing on a namespace it was
 * not built for fails the test.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_SUBSCRIPTION_ID } from '../../sandbox/azure';
import { DEMO_SECOND_SUBSCRIPTION_ID } from '../../sandbox/azure/demoEstate';
import { httpsJson } from '../../sandbox/azure/testing';
import type { ComplianceReport } from '../../src/domain/complianceReport';
import type { ComplianceSweepOutput } from '../../src/orchestrations/complianceSweep';
import { startLocalEstate } from '../support/localEstate';
import { Estate, type Operation } from './enable-cmk-support';

/** In SWEEP_SUBSCRIPTIONS, the app holds no role on it: ARM answers 403 to its list. */
const NO_READER_SUB = '00000000-0000-4000-8000-00000000dead';
const SUB_A = DEFAULT_SUBSCRIPTION_ID;
const SUB_B = DEMO_SECOND_SUBSCRIPTION_ID;
const DAY = 86_400_000;

let e: Estate;
let admin = '';
let firstReportAt = '';

beforeAll(async () => {
  e = await new Estate(
    await startLocalEstate({
      seed: true,
      env: {
        SWEEP_SUBSCRIPTIONS: [SUB_A, SUB_B, NO_READER_SUB].join(','),
        // Once a year (from the clock's start): no scheduled sweep interleaves with the test's own.
        SWEEP_SCHEDULE: '0 0 0 1 1 *',
      },
    }),
  ).init();
  const principals = await e.estate.azure.control<Array<{ objectId: string; kind: string }>>(
    'GET',
    '/principals',
  );
  admin = principals.body.find((p) => p.kind === 'admin')!.objectId;
}, 180_000);

afterAll(async () => e?.estate.stop());

const key = () => ({ 'x-functions-key': e.estate.app.keys.function });
const startSweep = () =>
  e.estate.app.json<{ id: string; statusQueryGetUri: string; reportUri: string; title?: string }>(
    '/api/compliance/sweeps',
    { method: 'POST', headers: key() },
  );

async function report(): Promise<ComplianceReport> {
  const r = await e.estate.app.json<ComplianceReport>('/api/compliance/report', { headers: key() });
  if (r.status !== 200) throw new Error(`GET report: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function sweep(): Promise<{ op: Operation<ComplianceSweepOutput>; rep: ComplianceReport }> {
  const started = await startSweep();
  if (started.status !== 202)
    throw new Error(`sweep start: ${started.status} ${JSON.stringify(started.body)}`);
  const op = await e.settle<ComplianceSweepOutput>('complianceSweep');
  return { op, rep: await report() };
}

/** name → "verdict: rule ids" for every namespace of the report. */
const ruleMap = (rep: ComplianceReport): Record<string, string> =>
  Object.fromEntries(
    rep.namespaces.map((n) => [
      n.name,
      `${n.verdict}: ${[...new Set(n.findings.map((f) => f.ruleId))].sort().join(' ')}`,
    ]),
  );

/** As seeded (sandbox/azure/demoEstate.ts). CMK-014: the demo's keys have no rotation policy. */
const SEEDED = {
  'sb-demo-cmk-pinned': 'healthy: CMK-006 CMK-014',
  'sb-demo-cmk-sai': 'atRisk: CMK-005 CMK-014',
  'sb-demo-cmk-uai': 'healthy: CMK-014',
  'sb-demo-premium-busy': 'notEncrypted: CMK-001',
  'sb-demo-premium-dr': 'notEncrypted: CMK-001',
  'sb-demo-premium-empty': 'notEncrypted: CMK-001',
  'sb-demo-standard': 'notEncrypted: ',
  'sb-demo-b-premium': 'notEncrypted: CMK-001',
  'sb-demo-b-standard': 'notEncrypted: ',
};

async function kvAsAdmin(method: string, url: string, body?: unknown): Promise<void> {
  const token = (
    await e.estate.azure.control<{ access_token: string }>('POST', '/tokens', {
      objectId: admin,
      resource: 'keyvault',
    })
  ).body.access_token;
  const sb = {
    caPem: readFileSync(e.estate.azure.caPath, 'utf8'),
    keyVaultDnsSuffix: 'vault.sandbox.localhost',
    port: Number(new URL(e.estate.azure.url).port),
  };
  const res = await httpsJson(sb, method, url, { token, ...(body === undefined ? {} : { body }) });
  if (res.status >= 400) throw new Error(`${method} ${url}: ${res.status} ${res.text}`);
}

describe('sweep 1: the demo estate as seeded', () => {
  let op: Operation<ComplianceSweepOutput>;
  let rep: ComplianceReport;
  let second: { status: number; body: { title?: string } };
  let first: Awaited<ReturnType<typeof startSweep>>;

  beforeAll(async () => {
    // The first listing answers 1.5 s late (real time): the second request arrives while it runs.
    const slow = await e.estate.azure.control<{ id: string }>('POST', '/faults', {
      match: { method: 'GET', path: `^/subscriptions/${SUB_A}/providers/Microsoft.ServiceBus/namespaces$` },
      effect: { type: 'latency', ms: 1500 },
      count: 1,
    });
    first = await startSweep();
    second = await startSweep();
    op = await e.settle<ComplianceSweepOutput>('complianceSweep');
    rep = await report();
    const rules = await e.estate.azure.control<Array<{ id: string; hits: number }>>('GET', '/faults');
    expect(rules.body.find((r) => r.id === slow.body.id)?.hits).toBe(1);
    await e.estate.azure.control('DELETE', `/faults/${slow.body.id}`);
  }, 120_000);

  it('answers 202 with the operation, and 409 to a second sweep while it runs', () => {
    expect(first.status).toBe(202);
    expect(first.body.id).toBe('complianceSweep');
    expect(first.body.statusQueryGetUri).toMatch(/\/api\/operations\/complianceSweep$/);
    expect(first.body.reportUri).toMatch(/\/api\/compliance\/report$/);
    expect(second.status).toBe(409);
    expect(second.body.title).toBe('A compliance sweep is already running');
  });

  it('completes; customStatus and the output count subscriptions, namespaces and calls', () => {
    expect(op.runtimeStatus).toBe('Completed');
    expect(op.customStatus).toMatchObject({
      phase: 'done',
      subscriptions: { done: 3, total: 3, skipped: 1 },
      namespaces: { listed: 9, evaluated: 9 },
    });
    const out = op.output!;
    expect(out.summary).toEqual({ namespaces: 9, compliant: 2, nonCompliant: 7, couldNotAssess: 1 });
    expect(out.subscriptions).toEqual({ inScope: 3, assessed: 2, skipped: 1 });
    // ARM reads: 3 namespace lists (the refused one too) + 3 Geo-DR lists (CMK namespaces only) + 1
    // vault list (subscription A holds both vaults used) + 4 keys (current versions) + the pinned
    // version + 1 role-assignment list (the RBAC vault) = 13.
    expect(out.calls).toMatchObject({ arm: 13, keyVault: 0, throttled: 0 });
    // The report's instant is the sweep's end on the orchestration clock (the test moved it 15 s while
    // the first listing was slow): its history copy is named by it.
    expect(out.report).toEqual({ historyBlob: `history/${out.finishedAt}.json`, latest: true });
    expect(rep.generatedAt).toBe(out.finishedAt);
    firstReportAt = out.finishedAt;
  });

  it('every rule fires on the namespace built for it and on no other', () => {
    expect(ruleMap(rep)).toEqual(SEEDED);
  });

  it('a subscription without Reader is "could not assess", naming the role to grant', () => {
    expect(rep.couldNotAssess).toEqual([
      expect.objectContaining({
        scope: 'subscription',
        id: NO_READER_SUB,
        cause: 'forbidden',
        status: 403,
        command: `az role assignment create --assignee <app-principal-id> --role Reader --scope /subscriptions/${NO_READER_SUB}`,
      }),
    ]);
    expect(rep.couldNotAssess[0]!.message).toMatch(/^could not assess: subscription /);
    expect(rep.sweep.subscriptions.map((s) => [s.subscriptionId, s.status, s.namespaces])).toEqual([
      [SUB_A, 'assessed', 7],
      [SUB_B, 'assessed', 2],
      [NO_READER_SUB, 'skipped', 0],
    ]);
  });
});

describe('sweep 2: an hour later, after a key is disabled, an access policy removed and a key expired', () => {
  let rep: ComplianceReport;
  let op: Operation<ComplianceSweepOutput>;

  beforeAll(async () => {
    // Disable the user-assigned namespace's only key (data plane, RBAC vault).
    await kvAsAdmin('PATCH', 'https://kv-demo-rbac.vault.sandbox.localhost/keys/sb-cmk-uai?api-version=7.4', {
      attributes: { enabled: false },
    });
    // Remove the pinned namespace's access policy on kv-demo-ap (ARM).
    const pinned = await e.arm<{ identity: { principalId: string } }>(
      'GET',
      `/subscriptions/${SUB_A}/resourceGroups/rg-demo-messaging/providers/Microsoft.ServiceBus/namespaces/sb-demo-cmk-pinned?api-version=2021-11-01`,
    );
    await e.arm(
      'PUT',
      `/subscriptions/${SUB_A}/resourceGroups/rg-demo-keys/providers/Microsoft.KeyVault/vaults/kv-demo-ap/accessPolicies/remove?api-version=2023-07-01`,
      {
        properties: {
          accessPolicies: [
            {
              tenantId: e.estate.azure.tenantId,
              objectId: pinned.identity.principalId,
              permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
            },
          ],
        },
      },
    );
    // The near-expiry key of the system-assigned namespace expired yesterday (its expiry moved back).
    const now = Date.parse((await e.estate.azure.control<{ now: string }>('GET', '/clock')).body.now);
    await kvAsAdmin(
      'PATCH',
      'https://kv-demo-ap.vault.sandbox.localhost/keys/sb-cmk-near-expiry?api-version=7.4',
      {
        attributes: { exp: Math.floor((now - DAY) / 1000) },
      },
    );
    // An hour on (the report's instant is its identity in the history).
    await e.estate.azure.control('POST', '/clock/advance', { ms: 3_600_000 });
    ({ op, rep } = await sweep());
  }, 120_000);

  it('each change fires its rules on the namespace that uses the key, and on no other', () => {
    expect(ruleMap(rep)).toEqual({
      ...SEEDED,
      'sb-demo-cmk-pinned': 'inoperable: CMK-006 CMK-008 CMK-010 CMK-014',
      'sb-demo-cmk-sai': 'degraded: CMK-004 CMK-011 CMK-014',
      // A disabled key is not judged for hygiene (CMK-014): nothing uses it.
      'sb-demo-cmk-uai': 'inoperable: CMK-003 CMK-010',
    });
    expect(op.output!.summary).toEqual({ namespaces: 9, compliant: 0, nonCompliant: 9, couldNotAssess: 1 });
  });

  it('the verdict of each namespace is the one its own key facts call for (no torn read)', () => {
    for (const n of rep.namespaces.filter((x) => x.encrypted)) {
      const usable = n.keys.filter((k) => k.usable).length;
      const expected = usable === 0 ? 'inoperable' : usable < n.keys.length ? 'degraded' : undefined;
      if (expected) expect(`${n.name} ${n.verdict}`).toBe(`${n.name} ${expected}`);
    }
    expect(
      rep.namespaces
        .find((n) => n.name === 'sb-demo-cmk-sai')!
        .keys.map((k) => [k.keyName, k.status, k.usable]),
    ).toEqual([
      ['sb-cmk', 'healthy', true],
      ['sb-cmk-near-expiry', 'expired', false],
    ]);
  });

  it('keeps the first report in the history: ?at= the first sweep still answers it', async () => {
    const older = await e.estate.app.json<ComplianceReport>(`/api/compliance/report?at=${firstReportAt}`, {
      headers: key(),
    });
    expect(older.status).toBe(200);
    expect(ruleMap(older.body)).toEqual(SEEDED);
  });
});

describe('sweep 3: ARM throttles one subscription beyond every retry', () => {
  let op: Operation<ComplianceSweepOutput>;
  let rep: ComplianceReport;
  let hits = 0;

  beforeAll(async () => {
    const rule = await e.estate.azure.control<{ id: string }>('POST', '/faults', {
      match: { method: 'GET', path: `^/subscriptions/${SUB_B}/providers/Microsoft.ServiceBus/namespaces$` },
      effect: { type: 'throttle', retryAfterSeconds: 0 },
    });
    ({ op, rep } = await sweep());
    hits = (await e.estate.azure.control<Array<{ id: string; hits: number }>>('GET', '/faults')).body.find(
      (r) => r.id === rule.body.id,
    )!.hits;
    await e.estate.azure.control('DELETE', `/faults/${rule.body.id}`);
  }, 120_000);

  it('every attempt was throttled: (1 + 3 SDK retries) × (1 + 3 durable waits for Retry-After)', () => {
    expect(hits).toBe(16);
  });

  it('the sweep completes: that subscription is "could not assess: throttled", the others are judged', () => {
    expect(op.runtimeStatus).toBe('Completed');
    expect(op.output!.subscriptions).toEqual({ inScope: 3, assessed: 1, skipped: 2 });
    expect(rep.couldNotAssess.map((c) => [c.scope, c.id, c.cause, c.status])).toEqual([
      ['subscription', SUB_B, 'throttled', 429],
      ['subscription', NO_READER_SUB, 'forbidden', 403],
    ]);
    expect(rep.couldNotAssess[0]!.message).toMatch(
      /^could not assess: Resource Manager kept throttling reads in subscription /,
    );
    expect(Object.keys(ruleMap(rep)).sort()).toEqual(
      Object.keys(SEEDED)
        .filter((n) => !n.startsWith('sb-demo-b-'))
        .sort(),
    );
    expect(op.output!.calls.throttled).toBe(16);
  });
});
