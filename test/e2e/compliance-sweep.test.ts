/**
 * The compliance sweep end to end on `npm start`'s composition (emulated Azure seeded with the demo
 * estate + the local Functions host, one virtual clock), driven only over HTTP: POST
 * /api/compliance/sweeps, GET /api/operations/complianceSweep, GET /api/compliance/report (JSON, CSV,
 * the page in headless Chromium); Azure changed and read back through its own APIs as the
 * administrator, faults through the sandbox's control API, alerts counted at the demo's action-group
 * sink. One start for the file; sweeps run one after another on it:
 *
 *   1. the demo estate as seeded (+ a subscription in scope the app holds no role on): every CMK rule
 *      of the catalogue that the seed can show fires on the namespace built for it and on no other;
 *      firewalled vaults are judged through Resource Manager; a vault in a subscription the app
 *      cannot read is "could not assess"; the published health raises exactly the alerts it calls for;
 *   2. the two broken namespaces fixed in Azure: the next sweep's publishes resolve exactly their alerts;
 *   3. a key shared by namespaces of both subscriptions is disabled while the sweep runs (between the
 *      two subscriptions' listings): every namespace sharing it is judged from the same read;
 *   4. an hour later, after a key is disabled, an access policy removed and a key expired — the rules
 *      CMK-003/004/008/010/011 fire on exactly the namespaces changed (with 1, all 14 CMK rules);
 *   5. with ARM throttling one subscription's list beyond every retry.
 * In each, the exact rule set of EVERY namespace is asserted: a rule firing on a namespace it was
 * not built for fails the test.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_SUBSCRIPTION_ID } from '../../sandbox/azure';
import { DEMO_SECOND_SUBSCRIPTION_ID, DEMO_SECURITY_SUBSCRIPTION_ID } from '../../sandbox/azure/demoEstate';
import { httpsJson } from '../../sandbox/azure/testing';
import type { ComplianceReport } from '../../src/domain/complianceReport';
import { PREFLIGHT_RULES } from '../../src/domain/preflight/catalogue';
import type { ComplianceSweepOutput } from '../../src/orchestrations/complianceSweep';
import { startLocalEstate } from '../support/localEstate';
import { Estate, type Operation, type RequestLogEntry } from './enable-cmk-support';
import {
  expectFormatsAgree,
  headlessChromium,
  pageFacts,
  parseCsv,
  type Chromium,
} from './report-page-support';

/** In SWEEP_SUBSCRIPTIONS, the app holds no role on it: ARM answers 403 to its list. */
const NO_READER_SUB = '00000000-0000-4000-8000-00000000dead';
const SUB_A = DEFAULT_SUBSCRIPTION_ID;
const SUB_B = DEMO_SECOND_SUBSCRIPTION_ID;
const DAY = 86_400_000;
const KV_ARM = '2023-07-01';
const SB = '2021-11-01';
const SEC_VAULT = `/subscriptions/${DEMO_SECURITY_SUBSCRIPTION_ID}/resourceGroups/rg-demo-security/providers/Microsoft.KeyVault/vaults/kv-demo-sec`;
const KEYS_RG = `/subscriptions/${SUB_A}/resourceGroups/rg-demo-keys/providers/Microsoft.KeyVault/vaults`;
/** The demo's action group (sandbox/azure/monitor/demo.ts): the receiver of every demo alert. */
const SINK = 'ag-demo-ops';

let e: Estate;
let chromium: Chromium;
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
  // A namespace encrypted with the key of kv-demo-sec, in the demo's third subscription, where the app
  // holds no role (the seed leaves it unused: see sandbox/azure/demoEstate.ts). As the administrator.
  const foreign = `/subscriptions/${SUB_A}/resourceGroups/rg-demo-messaging/providers/Microsoft.ServiceBus/namespaces/sb-demo-cmk-foreign`;
  const made = await e.arm<{ identity: { principalId: string } }>('PUT', `${foreign}?api-version=${SB}`, {
    location: 'westeurope',
    sku: { name: 'Premium', tier: 'Premium', capacity: 1 },
    identity: { type: 'SystemAssigned' },
  });
  await e.arm('PUT', `${SEC_VAULT}/accessPolicies/add?api-version=${KV_ARM}`, {
    properties: {
      accessPolicies: [
        {
          tenantId: e.estate.azure.tenantId,
          objectId: made.identity.principalId,
          permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
        },
      ],
    },
  });
  await e.arm('PATCH', `${foreign}?api-version=${SB}`, {
    properties: {
      encryption: {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: [{ keyName: 'cmk', keyVaultUri: 'https://kv-demo-sec.vault.sandbox.localhost/' }],
      },
    },
  });
  chromium = headlessChromium();
}, 180_000);

afterAll(async () => {
  await e?.estate.stop();
  chromium?.close();
});

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

const ruleIds = (n: ComplianceReport['namespaces'][number]): string[] =>
  [...new Set(n.findings.map((f) => f.ruleId))].sort();

/** name → "verdict: rule ids" for every namespace of the report. */
const ruleMap = (rep: ComplianceReport): Record<string, string> =>
  Object.fromEntries(rep.namespaces.map((n) => [n.name, `${n.verdict}: ${ruleIds(n).join(' ')}`]));

/** rule id → the namespaces it fired on (sorted), from (namespace name, rule id) pairs. */
function byRule(pairs: Array<[string, string]>): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const [name, rule] of pairs) if (rule) (out[rule] ??= new Set()).add(name);
  return Object.fromEntries(
    Object.entries(out)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([r, names]) => [r, [...names].sort()]),
  );
}
const jsonByRule = (rep: ComplianceReport) =>
  byRule(rep.namespaces.flatMap((n) => ruleIds(n).map((r): [string, string] => [n.name, r])));

/** The CMK rules of the catalogue (src/domain/preflight): the compliance rules every sweep judges. */
const CMK_RULES = PREFLIGHT_RULES.map((r) => r.id)
  .filter((id) => id.startsWith('CMK-'))
  .sort();

/**
 * As seeded (sandbox/azure/demoEstate.ts), each namespace with what it was built to show. CMK-014:
 * the first three CMK namespaces' keys have no rotation policy (every later key has one).
 */
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
  // The rule cases.
  'sb-demo-cmk-deleted-key': 'inoperable: CMK-002 CMK-010',
  'sb-demo-cmk-rebuilt': 'healthy: CMK-007',
  'sb-demo-cmk-fw-trusted': 'healthy: ',
  'sb-demo-cmk-fw-closed': 'inoperable: CMK-009 CMK-010',
  'sb-demo-cmk-geo': 'healthy: CMK-012',
  // Identities and encryption settings are not replicated: ARM shows the secondary without CMK.
  'sb-demo-cmk-geo-dr': 'notEncrypted: CMK-001',
  'sb-demo-regulated-double': 'healthy: ',
  'sb-demo-regulated-single': 'healthy: CMK-013',
  'sb-demo-b-cmk': 'healthy: ',
  // Added by this test (beforeAll): its vault is in a subscription the app cannot see — PRE-011, no verdict.
  'sb-demo-cmk-foreign': 'unknown: PRE-011',
};
/** The namespaces sharing kv-demo-ap/sb-cmk-managed, in both subscriptions. */
const SHARED = ['sb-demo-b-cmk', 'sb-demo-cmk-geo', 'sb-demo-regulated-double', 'sb-demo-regulated-single'];

async function kvAsAdmin(method: string, url: string, body?: unknown): Promise<void> {
  const token = (
    await e.estate.azure.control<{ access_token: string }>('POST', '/tokens', {
      objectId: await e.adminObjectId(),
      resource: 'keyvault',
    })
  ).body.access_token;
  const res = await httpsJson(sandboxTls(), method, url, { token, ...(body === undefined ? {} : { body }) });
  if (res.status >= 400) throw new Error(`${method} ${url}: ${res.status} ${res.text}`);
}
const sandboxTls = () => ({
  caPem: readFileSync(e.estate.azure.caPath, 'utf8'),
  keyVaultDnsSuffix: 'vault.sandbox.localhost',
  port: Number(new URL(e.estate.azure.url).port),
});
const kvUrl = (vault: string, path: string) =>
  `https://${vault}.vault.sandbox.localhost/${path}?api-version=7.4`;

let sinkSeen = 0;
/** The app's alerts (cmk-*) that reached the demo's action group since the last call, after `minutes` more. */
async function alertsAfter(minutes: number): Promise<Array<[string, string, string]>> {
  for (let m = 0; m < minutes; m++) await e.estate.azure.control('POST', '/clock/advance', { ms: 60_000 });
  const r = await e.estate.azure.control<
    Array<{
      kind: string;
      body: { data: { essentials: { alertRule: string; severity: string; monitorCondition: string } } };
    }>
  >('GET', `/sink/${SINK}`);
  const deliveries = r.body.filter((x) => x.kind === 'delivery');
  const fresh = deliveries.slice(sinkSeen);
  sinkSeen = deliveries.length;
  return fresh
    .map((x) => x.body.data.essentials)
    .filter((x) => x.alertRule.startsWith('cmk-'))
    .map((x): [string, string, string] => [x.alertRule, x.severity, x.monitorCondition])
    .sort((a, b) => (a.join() < b.join() ? -1 : 1));
}

/** The key watch's cycle (KEY_POLL_MINUTES = 5, local.settings): its timer fires at every 5th minute. */
const KEY_WATCH_MS = 5 * 60_000;
const clockMs = async () => (await e.estate.azure.control<{ nowMs: number }>('GET', '/clock')).body.nowMs;
/** Moves the clock just past the key watch's next cycle and lets that cycle finish. */
async function pastNextKeyWatch(): Promise<void> {
  const now = await clockMs();
  await e.estate.azure.control('POST', '/clock/advance', {
    ms: Math.ceil((now + 1) / KEY_WATCH_MS) * KEY_WATCH_MS + 30_000 - now,
  });
  const op = await e.settle<unknown>('key-watch', 1_000);
  expect(op.runtimeStatus).toBe('Completed');
}

/** Every encrypted namespace's verdict is the one its own key facts (as reported) call for. */
function expectVerdictsFromOwnFacts(rep: ComplianceReport): void {
  for (const n of rep.namespaces.filter((x) => x.encrypted && x.verdict !== 'unknown')) {
    const usable = n.keys.filter((k) => k.usable).length;
    const expected = usable === 0 ? 'inoperable' : usable < n.keys.length ? 'degraded' : undefined;
    if (expected) expect(`${n.name} ${n.verdict}`).toBe(`${n.name} ${expected}`);
    else expect(`${n.name} ${['healthy', 'atRisk'].includes(n.verdict)}`).toBe(`${n.name} true`);
  }
}

describe('sweep 1: the demo estate as seeded', () => {
  let op: Operation<ComplianceSweepOutput>;
  let rep: ComplianceReport;
  let second: { status: number; body: { title?: string } };
  let first: Awaited<ReturnType<typeof startSweep>>;
  let mark = 0;

  beforeAll(async () => {
    mark = await e.mark();
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

  it('completes; customStatus and the output count subscriptions, namespaces and calls', async () => {
    expect(op.runtimeStatus).toBe('Completed');
    expect(op.customStatus).toMatchObject({
      phase: 'done',
      subscriptions: { done: 3, total: 3, skipped: 1 },
      namespaces: { listed: 19, evaluated: 19 },
    });
    const out = op.output!;
    expect(out.summary).toEqual({ namespaces: 19, compliant: 5, nonCompliant: 14, couldNotAssess: 2 });
    expect(out.subscriptions).toEqual({ inScope: 3, assessed: 2, skipped: 1 });
    // ARM reads: 3 namespace lists (the refused one too) + 12 Geo-DR lists (CMK namespaces only) + 2
    // vault lists (subscriptions A and B: kv-demo-sec is in neither) + 1 subscription list (looking
    // for it elsewhere) + 9 keys (current versions) + the pinned version + 1 role-assignment list
    // (the RBAC vault) = 29; none through the Key Vault data plane.
    expect(out.calls).toMatchObject({ arm: 29, keyVault: 0, throttled: 0 });
    // The sandbox saw exactly those (its own request log), all answered.
    const arm = (await e.appRequests(mark)).filter(
      (r) => r.service === 'arm' && !r.path.includes('/metrics'),
    );
    expect(arm.length).toBe(29);
    // The report's instant is the sweep's end on the orchestration clock (the test moved it 15 s while
    // the first listing was slow): its history copy is named by it.
    expect(out.report).toEqual({ historyBlob: `history/${out.finishedAt}.json`, latest: true });
    expect(rep.generatedAt).toBe(out.finishedAt);
    firstReportAt = out.finishedAt;
  });

  it('every rule fires on the namespace built for it and on no other', () => {
    expect(ruleMap(rep)).toEqual(SEEDED);
    expect(jsonByRule(rep)).toEqual({
      'CMK-001': [
        'sb-demo-b-premium',
        'sb-demo-cmk-geo-dr',
        'sb-demo-premium-busy',
        'sb-demo-premium-dr',
        'sb-demo-premium-empty',
      ],
      'CMK-002': ['sb-demo-cmk-deleted-key'],
      'CMK-005': ['sb-demo-cmk-sai'],
      'CMK-006': ['sb-demo-cmk-pinned'],
      'CMK-007': ['sb-demo-cmk-rebuilt'],
      'CMK-009': ['sb-demo-cmk-fw-closed'],
      // CMK-010 follows from CMK-002 and CMK-009: the namespace's only key.
      'CMK-010': ['sb-demo-cmk-deleted-key', 'sb-demo-cmk-fw-closed'],
      'CMK-012': ['sb-demo-cmk-geo'],
      'CMK-013': ['sb-demo-regulated-single'],
      'CMK-014': ['sb-demo-cmk-pinned', 'sb-demo-cmk-sai', 'sb-demo-cmk-uai'],
      'PRE-011': ['sb-demo-cmk-foreign'],
    });
    expectVerdictsFromOwnFacts(rep);
  });

  it('JSON, CSV and the page agree, the rule → namespace map included', async () => {
    const csv = await fetch(`${e.estate.app.url}/api/compliance/report?format=csv`, { headers: key() });
    expect(csv.status).toBe(200);
    const text = await csv.text();
    const dom = await chromium.dom(
      `${e.estate.app.url}/api/compliance/report.html?code=${e.estate.app.keys.function}`,
    );
    expectFormatsAgree(rep, text, pageFacts(dom));
    const [header, ...rows] = parseCsv(text);
    const col = (name: string) => header!.indexOf(name);
    const fromCsv = byRule(
      rows
        .filter((r) => r[col('verdict')] !== 'couldNotAssess')
        .map((r): [string, string] => [r[col('name')]!, r[col('ruleId')]!]),
    );
    expect(fromCsv).toEqual(jsonByRule(rep));
  });

  it('firewalled vaults are judged through Resource Manager: bypass AzureServices passes, None is CMK-009', async () => {
    const entry = (name: string) => rep.namespaces.find((n) => n.name === name)!;
    for (const name of ['sb-demo-cmk-fw-trusted', 'sb-demo-cmk-fw-closed'])
      expect([name, entry(name).keys.map((k) => [k.vaultName, k.status])]).toEqual([
        name,
        [[name.replace('sb-demo-cmk-', 'kv-demo-'), 'healthy']],
      ]);
    expect(entry('sb-demo-cmk-fw-closed').findings.find((f) => f.ruleId === 'CMK-009')?.command).toBe(
      'az keyvault update --name kv-demo-fw-closed --bypass AzureServices',
    );
    expect(rep.couldNotAssess.filter((c) => /kv-demo-fw/.test(c.id))).toEqual([]);
    // Both vaults are as seeded: deny by default, no address allowed (read back as the administrator).
    for (const [name, bypass] of [
      ['kv-demo-fw-trusted', 'AzureServices'],
      ['kv-demo-fw-closed', 'None'],
    ]) {
      const v = await e.arm<{ properties: { networkAcls: unknown } }>(
        'GET',
        `${KEYS_RG}/${name}?api-version=${KV_ARM}`,
      );
      expect(v.properties.networkAcls).toEqual({
        defaultAction: 'Deny',
        bypass,
        ipRules: [],
        virtualNetworkRules: [],
      });
    }
    // The app's own identity cannot read them on the data plane (the firewall); the sweep never tried.
    const token = (
      await e.estate.azure.control<{ access_token: string }>('POST', '/tokens', {
        objectId: e.app,
        resource: 'keyvault',
      })
    ).body.access_token;
    for (const name of ['kv-demo-fw-trusted', 'kv-demo-fw-closed']) {
      const res = await httpsJson(sandboxTls(), 'GET', kvUrl(name, 'keys/cmk'), { token });
      expect([
        name,
        res.status,
        (res.body as { error?: { innererror?: { code?: string } } }).error?.innererror?.code,
      ]).toEqual([name, 403, 'ForbiddenByFirewall']);
    }
    expect(op.output!.calls.keyVault).toBe(0);
  });

  it('a vault in a subscription the app cannot read, and a subscription without Reader: "could not assess", naming Reader', () => {
    expect(rep.couldNotAssess.map((c) => [c.scope, c.id, c.cause])).toEqual([
      ['subscription', NO_READER_SUB, 'forbidden'],
      ['vault', 'https://kv-demo-sec.vault.sandbox.localhost/', 'notFound'],
    ]);
    const [sub, vault] = rep.couldNotAssess;
    expect(sub).toMatchObject({
      status: 403,
      command: `az role assignment create --assignee <app-principal-id> --role Reader --scope /subscriptions/${NO_READER_SUB}`,
    });
    expect(sub!.message).toMatch(/^could not assess: subscription /);
    expect(vault!.message).toBe(
      'could not assess: key vault kv-demo-sec (https://kv-demo-sec.vault.sandbox.localhost/) was not found in the subscriptions the app can see.',
    );
    expect(vault!.fix).toMatch(/^Give the app's identity Reader on the vault's subscription/);
    expect(vault!.namespaceIds).toEqual([
      `/subscriptions/${SUB_A}/resourceGroups/rg-demo-messaging/providers/Microsoft.ServiceBus/namespaces/sb-demo-cmk-foreign`,
    ]);
    expect(rep.sweep.subscriptions.map((s) => [s.subscriptionId, s.status, s.namespaces])).toEqual([
      [SUB_A, 'assessed', 16],
      [SUB_B, 'assessed', 3],
      [NO_READER_SUB, 'skipped', 0],
    ]);
  });

  it("the sweep's published health raises exactly the alerts its verdicts call for", async () => {
    expect(op.output!.health).toMatchObject({ refused: 0 });
    // Before the key watch's first cycle (every 5 min; none has run yet): only the sweep has published.
    const before = await clockMs();
    const alerts = await alertsAfter(2);
    expect(Math.floor(before / KEY_WATCH_MS)).toBe(Math.floor((before + 2 * 60_000) / KEY_WATCH_MS));
    expect((await e.estate.app.json('/api/operations/key-watch', { headers: key() })).status).toBe(404);
    expect(alerts).toEqual([
      ['cmk-atrisk-sb-demo-cmk-sai', 'Sev2', 'Fired'],
      ['cmk-inoperable-sb-demo-cmk-deleted-key', 'Sev0', 'Fired'],
      ['cmk-inoperable-sb-demo-cmk-fw-closed', 'Sev0', 'Fired'],
    ]);
  });
});

/** As seeded, after the two broken namespaces were fixed in Azure (sweep 2). */
const FIXED = {
  ...SEEDED,
  'sb-demo-cmk-deleted-key': 'healthy: ',
  'sb-demo-cmk-fw-closed': 'healthy: ',
};

describe('sweep 2: the deleted key recovered and the firewall opened to trusted services', () => {
  let rep: ComplianceReport;

  beforeAll(async () => {
    await kvAsAdmin('POST', kvUrl('kv-demo-del', 'deletedkeys/cmk/recover'));
    await e.arm('PATCH', `${KEYS_RG}/kv-demo-fw-closed?api-version=${KV_ARM}`, {
      properties: {
        networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices', ipRules: [], virtualNetworkRules: [] },
      },
    });
    ({ rep } = await sweep());
  }, 120_000);

  it('both are judged healthy again, and nothing else changed', () => {
    expect(ruleMap(rep)).toEqual(FIXED);
  });

  it("the sweep's publishes resolve exactly the alerts of what was fixed; the unfixed one stays fired", async () => {
    // A fired alert resolves once its last bad point left the 5-minute window and 3 evaluations passed.
    expect(await alertsAfter(10)).toEqual([
      ['cmk-inoperable-sb-demo-cmk-deleted-key', 'Sev0', 'Resolved'],
      ['cmk-inoperable-sb-demo-cmk-fw-closed', 'Sev0', 'Resolved'],
    ]);
  });
});

describe("sweep 3: a shared key is disabled while the sweep runs, between the two subscriptions' listings", () => {
  let op: Operation<ComplianceSweepOutput>;
  let rep: ComplianceReport;
  let hits = 0;
  let keyReads: RequestLogEntry[] = [];

  beforeAll(async () => {
    // The key watch reads the same key: its cycle runs before this sweep, not during it.
    await pastNextKeyWatch();
    const mark = await e.mark();
    // Subscription B's listing answers 2 s late (real time); subscription A's is done by then.
    const slow = await e.estate.azure.control<{ id: string }>('POST', '/faults', {
      match: { method: 'GET', path: `^/subscriptions/${SUB_B}/providers/Microsoft.ServiceBus/namespaces$` },
      effect: { type: 'latency', ms: 2000 },
      count: 1,
    });
    const started = await startSweep();
    expect(started.status).toBe(202);
    const hitsOf = async () =>
      (await e.estate.azure.control<Array<{ id: string; hits: number }>>('GET', '/faults')).body.find(
        (r) => r.id === slow.body.id,
      )!.hits;
    for (let i = 0; i < 200 && (await hitsOf()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    // While B's listing waits: disable the key 4 namespaces of both subscriptions share.
    await kvAsAdmin('PATCH', kvUrl('kv-demo-ap', 'keys/sb-cmk-managed'), { attributes: { enabled: false } });
    op = await e.settle<ComplianceSweepOutput>('complianceSweep');
    rep = await report();
    hits = await hitsOf();
    await e.estate.azure.control('DELETE', `/faults/${slow.body.id}`);
    keyReads = (await e.appRequests(mark)).filter((r) =>
      r.path.toLowerCase().endsWith('/keys/sb-cmk-managed'),
    );
  }, 120_000);

  it('the key was read once for all four namespaces, after it was disabled', async () => {
    expect(hits).toBe(1);
    expect(keyReads.map((r) => [r.method, r.status])).toEqual([['GET', 200]]);
    const all = (await e.estate.azure.control<RequestLogEntry[]>('GET', `/requests?method=PATCH`)).body;
    const disable = all
      .filter((r) => r.path === '/keys/sb-cmk-managed' && r.host.startsWith('kv-demo-ap.'))
      .pop()!;
    expect(disable.seq < keyReads[0]!.seq).toBe(true);
  });

  it('every namespace sharing the key is judged from that one read: all four inoperable, in both subscriptions', () => {
    expect(op.runtimeStatus).toBe('Completed');
    expect(
      rep.namespaces
        .filter((n) => n.keys.some((k) => k.keyName === 'sb-cmk-managed'))
        .map((n) => [n.name, n.subscriptionId, n.verdict, n.keys.map((k) => [k.keyName, k.status, k.usable])])
        .sort(),
    ).toEqual(
      SHARED.map((name) => [
        name,
        name.startsWith('sb-demo-b-') ? SUB_B : SUB_A,
        'inoperable',
        [['sb-cmk-managed', 'disabled', false]],
      ]),
    );
    expect(ruleMap(rep)).toEqual({
      ...FIXED,
      'sb-demo-b-cmk': 'inoperable: CMK-003 CMK-010',
      'sb-demo-cmk-geo': 'inoperable: CMK-003 CMK-010 CMK-012',
      'sb-demo-regulated-double': 'inoperable: CMK-003 CMK-010',
      'sb-demo-regulated-single': 'inoperable: CMK-003 CMK-010 CMK-013',
    });
    expectVerdictsFromOwnFacts(rep);
  });

  afterAll(async () => {
    await kvAsAdmin('PATCH', kvUrl('kv-demo-ap', 'keys/sb-cmk-managed'), { attributes: { enabled: true } });
  });
});

describe('sweep 4: an hour later, after a key is disabled, an access policy removed and a key expired', () => {
  let rep: ComplianceReport;
  let op: Operation<ComplianceSweepOutput>;

  beforeAll(async () => {
    // Disable the user-assigned namespace's only key (data plane, RBAC vault).
    await kvAsAdmin('PATCH', kvUrl('kv-demo-rbac', 'keys/sb-cmk-uai'), { attributes: { enabled: false } });
    // Remove the pinned namespace's access policy on kv-demo-ap (ARM).
    const pinned = await e.arm<{ identity: { principalId: string } }>(
      'GET',
      `/subscriptions/${SUB_A}/resourceGroups/rg-demo-messaging/providers/Microsoft.ServiceBus/namespaces/sb-demo-cmk-pinned?api-version=2021-11-01`,
    );
    await e.arm('PUT', `${KEYS_RG}/kv-demo-ap/accessPolicies/remove?api-version=${KV_ARM}`, {
      properties: {
        accessPolicies: [
          {
            tenantId: e.estate.azure.tenantId,
            objectId: pinned.identity.principalId,
            permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
          },
        ],
      },
    });
    // The near-expiry key of the system-assigned namespace expired yesterday (its expiry moved back).
    const now = Date.parse((await e.estate.azure.control<{ now: string }>('GET', '/clock')).body.now);
    await kvAsAdmin('PATCH', kvUrl('kv-demo-ap', 'keys/sb-cmk-near-expiry'), {
      attributes: { exp: Math.floor((now - DAY) / 1000) },
    });
    // An hour on (the report's instant is its identity in the history).
    await e.estate.azure.control('POST', '/clock/advance', { ms: 3_600_000 });
    ({ op, rep } = await sweep());
  }, 120_000);

  it('each change fires its rules on the namespace that uses the key, and on no other', () => {
    expect(ruleMap(rep)).toEqual({
      ...FIXED,
      'sb-demo-cmk-pinned': 'inoperable: CMK-006 CMK-008 CMK-010 CMK-014',
      'sb-demo-cmk-sai': 'degraded: CMK-004 CMK-011 CMK-014',
      // A disabled key is not judged for hygiene (CMK-014): nothing uses it.
      'sb-demo-cmk-uai': 'inoperable: CMK-003 CMK-010',
    });
    expect(op.output!.summary).toEqual({ namespaces: 19, compliant: 5, nonCompliant: 14, couldNotAssess: 2 });
  });

  it('with sweep 1, every CMK rule of the catalogue fired', async () => {
    const first = await e.estate.app.json<ComplianceReport>(`/api/compliance/report?at=${firstReportAt}`, {
      headers: key(),
    });
    const fired = new Set([...Object.keys(jsonByRule(first.body)), ...Object.keys(jsonByRule(rep))]);
    expect(CMK_RULES).toHaveLength(14);
    expect(CMK_RULES.filter((id) => !fired.has(id))).toEqual([]);
    expect(
      Object.fromEntries(
        ['CMK-003', 'CMK-004', 'CMK-008', 'CMK-010', 'CMK-011'].map((r) => [r, jsonByRule(rep)[r]]),
      ),
    ).toEqual({
      'CMK-003': ['sb-demo-cmk-uai'],
      'CMK-004': ['sb-demo-cmk-sai'],
      'CMK-008': ['sb-demo-cmk-pinned'],
      'CMK-010': ['sb-demo-cmk-pinned', 'sb-demo-cmk-uai'],
      'CMK-011': ['sb-demo-cmk-sai'],
    });
  });

  it('the verdict of each namespace is the one its own key facts call for (no torn read)', () => {
    expectVerdictsFromOwnFacts(rep);
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

describe('sweep 5: ARM throttles one subscription beyond every retry', () => {
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
      ['vault', 'https://kv-demo-sec.vault.sandbox.localhost/', 'notFound', undefined],
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
