/**
 * The fault matrix: every call site of enable and of Geo-DR, as listed from the request log of a clean
 * run, × {429 with Retry-After, 503, dropped connection, and — for writes — the answer lost after the
 * write took effect}. One fault rule per case, aimed at exactly that request (its template and
 * occurrence, in a scenario with fresh names), and each rule must report exactly one hit.
 *
 * A case passes when the operation ends with the outcome of the clean run and Azure holds what it held
 * after the clean run (identity, encryption, access policies, role assignments, aliases — read back as
 * the administrator), or — for a lost answer only — in a failed state that names the step (`failed`, or
 * Geo-DR's `restored`: CMK not enabled, the pairing re-made and intact). The pairing
 * the Geo-DR operation reports always equals a fresh read of Azure. The test prints how many call sites
 * it faulted and fails if a call site of a clean run was not faulted with every fault that applies.
 *
 * Runtime: the SDK's own retries wait real time (Retry-After 1 s; about 1 s for a 503 or a dropped
 * connection), durable retries and timers run on the virtual clock. Enable cases run four at a time
 * (each scenario has its own namespaces, vaults, keys and identity, so a rule meets only its case);
 * sites whose URL every case shares (the vault list, the subscription list) run alone. Geo-DR cases run
 * one at a time per host (their polling counts depend on how the clock moves), spread over three hosts. The token endpoint is requested
 * once per process (the credential caches the token), so its cases each get a fresh host.
 *
 * Shards: the matrix's cases wait on real time (the SDK's retries), not on the CPU, so they are split
 * over several test files that jest runs in parallel (`fault-matrix-*.test.ts`, one `describe…` call
 * each). Every shard runs the same clean scenarios, lists the same call sites, and runs the cases whose
 * label hashes to it (`inShard`): a case's shard depends only on its own label, so the shards together
 * run every case once, and each shard's coverage check fails if one of its own cases did not run.
 */
import { createHash } from 'node:crypto';
import { grantAppRoles } from '../../sandbox/infra/apply';
import { loadInfraData } from '../../sandbox/infra/data';
import { startLocalEstate } from '../support/localEstate';
import { Estate, grantDocumentedRoles, type EnableOutput } from './enable-cmk-support';
import { aliasesOf, geoBody, pairAndSettle, type GeoDrOutput } from './geo-dr-support';
import {
  callSites,
  readAzureState,
  siteMatch,
  type AzureState,
  type CallSite,
  type Names,
} from './fault-matrix-support';

const SUB2 = '00000000-0000-4000-8000-000000000002';
const RG2 = 'rg-demo-b';
const KV = '2023-07-01';

interface Fault {
  label: string;
  effect: Record<string, unknown>;
  phase: 'before' | 'after';
  writesOnly: boolean;
}
const FAULTS: Fault[] = [
  { label: '429', effect: { type: 'throttle', retryAfterSeconds: 1 }, phase: 'before', writesOnly: false },
  {
    label: '503',
    effect: { type: 'error', status: 503, code: 'ServiceUnavailable', message: 'Injected outage.' },
    phase: 'before',
    writesOnly: false,
  },
  { label: 'drop', effect: { type: 'drop' }, phase: 'before', writesOnly: false },
  { label: 'lost', effect: { type: 'drop' }, phase: 'after', writesOnly: true },
];
const applies = (f: Fault, site: CallSite) => !f.writesOnly || site.write;
/**
 * FAULT_MATRIX_ONLY=<regex> runs only the cases whose label matches (to investigate one case); the
 * coverage check is then skipped, and the run says so. CI never sets it.
 */
const ONLY = process.env.FAULT_MATRIX_ONLY ? new RegExp(process.env.FAULT_MATRIX_ONLY, 'i') : undefined;
const labelOf = (kind: string, fault: Fault, site: CallSite) => `${kind} ${fault.label} at ${site.key}`;

/** Shard `index` (1-based) of `count`; a case belongs to the shard its label's hash points at. */
export interface Shard {
  index: number;
  count: number;
}
const ALL: Shard = { index: 1, count: 1 };
const inShard = (label: string, shard: Shard): boolean =>
  createHash('sha256').update(label).digest().readUInt32BE(0) % shard.count === shard.index - 1;
const shardName = (shard: Shard) => (shard.count === 1 ? '' : ` (shard ${shard.index}/${shard.count})`);

interface Prepared {
  names: Names;
  namespaces: string[];
  vaults: Array<{ id: string; name: string }>;
  run(): Promise<Result>;
  pairing?: { primary: string; secondary: string; alias: string };
}
interface Result {
  outcome: string;
  step?: string;
  /** Geo-DR: what the operation reported about the pairing. */
  reportedIntact?: boolean;
}
interface Scenario {
  name: string;
  kind: 'enable' | 'geo-dr';
  prepare(e: Estate, n: string): Promise<Prepared>;
}

// ---- scenario building blocks -------------------------------------------------------------------

const vaultIdIn = (e: Estate, sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${name}`;

async function putVault(e: Estate, id: string, rbac: boolean): Promise<void> {
  await e.arm('PUT', `${id}?api-version=${KV}`, {
    location: 'westeurope',
    properties: {
      tenantId: e.estate.azure.tenantId,
      sku: { family: 'A', name: 'standard' },
      enableRbacAuthorization: rbac,
      enablePurgeProtection: true,
      accessPolicies: [],
    },
  });
}
async function putKey(e: Estate, vaultId: string, name: string): Promise<string> {
  const body = await e.arm<{ properties: { keyUriWithVersion: string } }>(
    'PUT',
    `${vaultId}/keys/${name}?api-version=${KV}`,
    { properties: { kty: 'RSA', keySize: 2048, attributes: {} } },
  );
  return body.properties.keyUriWithVersion;
}

function baseNames(e: Estate): Names {
  return {
    [e.sub]: '{sub}',
    [SUB2]: '{sub2}',
    [e.rg]: '{rg}',
    [RG2]: '{rg2}',
    [e.estate.azure.url]: '{arm}',
  };
}

async function enableRun(e: Estate, body: Record<string, unknown>): Promise<Result> {
  const { op } = await e.enable(body);
  const out = op.output as EnableOutput;
  return { outcome: out.outcome, ...(out.error ? { step: out.error.step } : {}) };
}

async function geoRun(e: Estate, body: Record<string, unknown>): Promise<Result> {
  const start = await e.post<{ id: string }>('/api/cmk/geo-dr', body);
  if (start.status !== 202) throw new Error(`geo-dr answered ${start.status}: ${JSON.stringify(start.body)}`);
  const op = await e.settle<GeoDrOutput>(start.body.id);
  const out = op.output!;
  return {
    outcome: out.outcome,
    ...(out.error ? { step: out.error.step } : {}),
    reportedIntact: out.pairing.intact,
  };
}

/** One access-policy vault with one key, namespace(s) with fresh names; `n` keeps every name unique. */
async function apScenario(
  e: Estate,
  n: string,
  opts: { identity?: 'user'; rbac?: boolean; pinned?: boolean; otherSubscription?: boolean } = {},
): Promise<Prepared> {
  const ns = `sb-m-${n}`;
  const vault = `kv-m-${n}`;
  const key = `k-${n}`;
  const vaultId = opts.otherSubscription ? vaultIdIn(e, SUB2, RG2, vault) : e.vaultId(vault);
  await e.namespace(ns);
  await putVault(e, vaultId, opts.rbac ?? false);
  // A vault outside the test resource group gets its roles.json vault role itself, as infra grants it.
  if (opts.otherSubscription)
    await grantAppRoles(await e.estate.adminTarget(), loadInfraData(), e.app, {
      [opts.rbac ? 'rbacVault' : 'accessPolicyVault']: [vaultId],
    });
  const versioned = await putKey(e, vaultId, key);
  const names: Names = { ...baseNames(e), [ns]: '{ns}', [vault]: '{vault}', [key]: '{key}' };
  // The pinned version must be the one the namespace ends up with: name it, do not wildcard it.
  if (opts.pinned) names[versioned.split('/').pop()!] = '{keyVersion}';
  let identity: Record<string, unknown> | undefined;
  if (opts.identity === 'user') {
    const uai = await e.uai(`id-m-${n}`);
    names[`id-m-${n}`] = '{uai}';
    names[uai.principalId] = '{uai.principal}';
    identity = { type: 'UserAssigned', resourceId: uai.id };
  }
  const keyId = opts.pinned ? versioned : e.keyId(vault, key);
  return {
    names,
    namespaces: [ns],
    vaults: [{ id: vaultId, name: vault }],
    run: () =>
      enableRun(e, { namespaceId: e.nsId(ns), keys: [{ keyId }], ...(identity ? { identity } : {}) }),
  };
}

async function geoScenario(e: Estate, n: string, paired: boolean): Promise<Prepared> {
  const p = `sb-m-${n}-p`;
  const s = `sb-m-${n}-s`;
  const alias = `al-m-${n}`;
  const vault = `kv-m-${n}`;
  const key = `k-${n}`;
  await e.namespace(p);
  await e.namespace(s);
  await putVault(e, e.vaultId(vault), false);
  await putKey(e, e.vaultId(vault), key);
  if (paired) await pairAndSettle(e, p, s, alias);
  return {
    names: {
      ...baseNames(e),
      [p]: '{primary}',
      [s]: '{secondary}',
      [alias]: '{alias}',
      [vault]: '{vault}',
      [key]: '{key}',
    },
    namespaces: [p, s],
    vaults: [{ id: e.vaultId(vault), name: vault }],
    pairing: { primary: p, secondary: s, alias },
    run: () => geoRun(e, geoBody(e, p, s, alias, [e.keyId(vault, key)])),
  };
}

const ENABLE_SCENARIOS: Scenario[] = [
  { name: 'system-assigned, access-policy vault', kind: 'enable', prepare: (e, n) => apScenario(e, n) },
  {
    name: 'user-assigned, RBAC vault',
    kind: 'enable',
    prepare: (e, n) => apScenario(e, n, { identity: 'user', rbac: true }),
  },
  {
    name: 'user-assigned, access-policy vault (vault re-read for its tenant)',
    kind: 'enable',
    prepare: (e, n) => apScenario(e, n, { identity: 'user' }),
  },
  {
    name: 'system-assigned, pinned key version in a vault of another subscription',
    kind: 'enable',
    prepare: (e, n) => apScenario(e, n, { pinned: true, otherSubscription: true }),
  },
];
const GEO_SCENARIOS: Scenario[] = [
  {
    name: 'Geo-DR, not yet paired (CMK first, then pair)',
    kind: 'geo-dr',
    prepare: (e, n) => geoScenario(e, n, false),
  },
  {
    name: 'Geo-DR, paired (break, encrypt, re-pair)',
    kind: 'geo-dr',
    prepare: (e, n) => geoScenario(e, n, true),
  },
];

// ---- running cases ----------------------------------------------------------------------------------

interface Clean {
  scenario: Scenario;
  sites: CallSite[];
  result: Result;
  state: AzureState;
}
interface Case {
  scenario: Scenario;
  site: CallSite;
  fault: Fault;
}
interface Outcome {
  label: string;
  ok: boolean;
  hits: number;
  detail: string;
  failedStep?: string;
}

let counter = 0;
const nextId = () => `${++counter}`;

async function isPairedNow(e: Estate, p: NonNullable<Prepared['pairing']>): Promise<boolean> {
  const [a] = await aliasesOf(e, p.primary);
  const [b] = await aliasesOf(e, p.secondary);
  return (
    a?.name === p.alias &&
    a.properties.role === 'Primary' &&
    a.properties.partnerNamespace.toLowerCase() === e.nsId(p.secondary).toLowerCase() &&
    b?.properties.role === 'Secondary'
  );
}

async function cleanRun(e: Estate, scenario: Scenario, includeToken = false): Promise<Clean> {
  const prepared = await scenario.prepare(e, nextId());
  const mark = await logMark(e);
  const result = await prepared.run();
  // The app identity's requests; the token endpoint only where the caller asks (see the token test).
  const log = (await e.appRequests(mark)).filter((r) => includeToken || r.service !== 'identity');
  return {
    scenario,
    sites: callSites(log, prepared.names),
    result,
    state: await readAzureState(e, prepared),
  };
}

async function logMark(e: Estate): Promise<number> {
  const all = await e.estate.azure.control<Array<{ seq: number }>>('GET', '/requests');
  return all.body.reduce((m, x) => Math.max(m, x.seq), 0);
}

async function runCase(e: Estate, c: Case, clean: Clean): Promise<Outcome> {
  const label = labelOf(c.scenario.kind, c.fault, c.site);
  const prepared = await c.scenario.prepare(e, nextId());
  const rule = await e.estate.azure.control<{ id: string }>('POST', '/faults', {
    match: siteMatch(c.site, prepared.names, e.app),
    effect: c.fault.effect,
    phase: c.fault.phase,
    occurrence: c.site.occurrence,
  });
  if (rule.status !== 200) throw new Error(`fault rule refused: ${JSON.stringify(rule.body)}`);
  let result: Result;
  try {
    result = await prepared.run();
  } catch (error) {
    return { label, ok: false, hits: -1, detail: `run threw: ${String(error)}` };
  }
  const rules = await e.estate.azure.control<Array<{ id: string; hits: number }>>('GET', '/faults');
  const hits = rules.body.find((r) => r.id === rule.body.id)?.hits ?? -1;
  await e.estate.azure.control('DELETE', `/faults/${rule.body.id}`);
  const state = await readAzureState(e, prepared);
  const problems: string[] = [];
  const converged =
    result.outcome === clean.result.outcome && JSON.stringify(state) === JSON.stringify(clean.state);
  // A clear failed state: `failed`, or for Geo-DR `restored` (CMK not enabled, the pairing re-made),
  // naming the step that failed.
  const failedNamingStep =
    (result.outcome === 'failed' || result.outcome === 'restored') &&
    typeof result.step === 'string' &&
    result.step.length > 0;
  if (!converged && !(c.fault.phase === 'after' && failedNamingStep))
    problems.push(
      `outcome ${result.outcome}${result.step ? ` (step ${result.step})` : ''} vs ${clean.result.outcome}; state ${
        JSON.stringify(state) === JSON.stringify(clean.state) ? 'same' : `differs: ${JSON.stringify(state)}`
      }`,
    );
  if (prepared.pairing) {
    const fresh = await isPairedNow(e, prepared.pairing);
    if (result.reportedIntact !== fresh)
      problems.push(`reported pairing intact=${result.reportedIntact} but Azure says ${fresh}`);
    if (result.outcome === 'restored' && !fresh)
      problems.push('outcome restored but the pairing is not intact');
  }
  return {
    label,
    ok: problems.length === 0 && hits === 1,
    hits,
    detail: [...problems, ...(hits === 1 ? [] : [`fault rule hits ${hits}, expected 1`])].join('; '),
    ...(!converged && failedNamingStep ? { failedStep: result.step } : {}),
  };
}

/** Runs cases `limit` at a time; cases at a shared URL run alone. */
async function runAll(
  e: Estate,
  cases: Case[],
  cleanOf: (c: Case) => Clean,
  limit: number,
): Promise<Outcome[]> {
  const out: Outcome[] = [];
  const own = cases.filter((c) => !c.site.shared);
  const shared = cases.filter((c) => c.site.shared);
  let next = 0;
  const worker = async () => {
    while (next < own.length) {
      const c = own[next++]!;
      out.push(await runCase(e, c, cleanOf(c)));
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  for (const c of shared) out.push(await runCase(e, c, cleanOf(c)));
  return out;
}

/** Distinct sites over the scenarios (the first scenario reaching a site faults it), × the faults. */
function casesOf(cleans: Clean[], shard: Shard, skipShared = false): Array<Case & { clean: Clean }> {
  const seen = new Set<string>();
  const cases: Array<Case & { clean: Clean }> = [];
  for (const clean of cleans)
    for (const site of clean.sites) {
      if ((skipShared && site.shared) || seen.has(site.key)) continue;
      seen.add(site.key);
      for (const fault of FAULTS)
        if (
          applies(fault, site) &&
          inShard(labelOf(clean.scenario.kind, fault, site), shard) &&
          (!ONLY || ONLY.test(labelOf(clean.scenario.kind, fault, site)))
        )
          cases.push({ scenario: clean.scenario, site, fault, clean });
    }
  return cases;
}

function report(kind: string, cleans: Clean[], outcomes: Outcome[], cases: Case[]): void {
  const sites = new Set(cases.map((c) => c.site.key));
  const lost = outcomes.filter((o) => o.failedStep);
  console.log(
    [
      `fault matrix (${kind}): ${sites.size} call sites faulted, ${cases.length} cases (${FAULTS.map((f) => f.label).join(', ')})`,
      `  scenarios: ${cleans.map((c) => `${c.scenario.name} (${c.sites.length} requests)`).join('; ')}`,
      ...(lost.length
        ? [
            `  ended failed, naming the step (answer lost): ${lost.map((o) => `${o.label} → ${o.failedStep}`).join('; ')}`,
          ]
        : []),
      ...outcomes.filter((o) => !o.ok).map((o) => `  FAILED ${o.label}: ${o.detail}`),
    ].join('\n'),
  );
}

/** Every site of every clean run, with every fault that applies (in this shard), was among the cases run. */
function unfaulted(cleans: Clean[], outcomes: Outcome[], kind: string, shard: Shard): string[] {
  if (ONLY) {
    console.log(
      `fault matrix (${kind}): PARTIAL run (FAULT_MATRIX_ONLY=${ONLY.source}); coverage not checked`,
    );
    return [];
  }
  const ran = new Set(outcomes.map((o) => o.label));
  const missing: string[] = [];
  for (const clean of cleans)
    for (const site of clean.sites)
      for (const fault of FAULTS)
        if (
          applies(fault, site) &&
          inShard(labelOf(kind, fault, site), shard) &&
          !ran.has(labelOf(kind, fault, site))
        )
          missing.push(`${fault.label} at ${site.key}`);
  return [...new Set(missing)];
}

// ---- the matrix ------------------------------------------------------------------------------------

/**
 * The guardian's timers (key watch, key-index refresh, sweep) read Azure on the clock, not on a case's
 * behalf: their generic list calls would interleave with a case's call sites by occurrence. The matrix
 * turns them off as an operator would in Azure (AzureWebJobs.<name>.Disabled); enable's own index
 * refresh is a step of the orchestration and stays.
 */
const GUARDIAN_TIMERS_OFF = Object.fromEntries(
  ['keyWatchTimer', 'keyIndexRefreshTimer', 'complianceSweepTimer'].map((n) => [
    `AzureWebJobs.${n}.Disabled`,
    'true',
  ]),
);

async function matrixEstate(): Promise<Estate> {
  const e = await new Estate(await startLocalEstate({ seed: true, env: GUARDIAN_TIMERS_OFF })).init();
  // Reader on both subscriptions comes with the demo estate (infra/roles.json at the demo's scopes).
  await grantDocumentedRoles(e, 'Reader');
  return e;
}

/** The enable matrix (or one shard of it): one host, four cases at a time. */
export function describeEnableMatrix(shard: Shard = ALL): void {
  describe(`fault matrix: enable${shardName(shard)}`, () => {
    let e: Estate;
    const cleans: Clean[] = [];
    beforeAll(async () => {
      e = await matrixEstate();
      for (const s of ENABLE_SCENARIOS) cleans.push(await cleanRun(e, s));
    }, 120_000);
    afterAll(async () => e?.estate.stop());

    test('every call site × {429, 503, dropped connection, lost answer}: same end state in Azure, each fault served once', async () => {
      for (const c of cleans) expect(c.result.outcome).toBe('enabled');
      const cases = casesOf(cleans, shard);
      const outcomes = await runAll(e, cases, (c) => (c as Case & { clean: Clean }).clean, 4);
      report(`enable${shardName(shard)}`, cleans, outcomes, cases);
      expect(outcomes.filter((o) => !o.ok).map((o) => `${o.label}: ${o.detail}`)).toEqual([]);
      expect(unfaulted(cleans, outcomes, 'enable', shard)).toEqual([]);
      expect(outcomes).toHaveLength(cases.length);
    }, 600_000);
  });
}

/** The Geo-DR matrix (or one shard of it): cases one at a time per host, spread over `hosts` hosts. */
export function describeGeoDrMatrix(shard: Shard = ALL, HOSTS = 3): void {
  describe(`fault matrix: Geo-DR${shardName(shard)}`, () => {
    // Cases run one at a time per host (polling counts follow the clock), so they are spread over hosts.
    let hosts: Estate[] = [];
    const cleans: Clean[][] = [];
    beforeAll(async () => {
      hosts = await Promise.all(Array.from({ length: HOSTS }, () => matrixEstate()));
      // Every host runs the clean scenarios: the call-site lists of the first host drive the cases, and
      // the others must list the same sites (the runs are deterministic, or occurrences would mislead).
      for (const h of hosts) {
        const mine: Clean[] = [];
        for (const s of GEO_SCENARIOS) mine.push(await cleanRun(h, s));
        cleans.push(mine);
      }
    }, 180_000);
    afterAll(async () => Promise.all(hosts.map((h) => h.estate.stop())));

    test('every call site × {429, 503, dropped connection, lost answer}: same end state, the pairing reported = Azure', async () => {
      const [first, ...others] = cleans as [Clean[], ...Clean[][]];
      expect(first.map((c) => c.result.outcome)).toEqual(['enabled', 'enabled']);
      // Parallel reads interleave differently from run to run; the set of sites is what must not change.
      const keys = (cs: Clean[]) => cs.map((c) => c.sites.map((x) => x.key).sort());
      for (const o of others) expect(keys(o)).toEqual(keys(first));
      const cases = casesOf(first, shard);
      const shards = hosts.map((_, i) => cases.filter((_c, j) => j % HOSTS === i));
      const outcomes = (
        await Promise.all(
          hosts.map((h, i) => runAll(h, shards[i]!, (c) => (c as Case & { clean: Clean }).clean, 1)),
        )
      ).flat();
      report(`geo-dr${shardName(shard)}`, first, outcomes, cases);
      expect(outcomes.filter((o) => !o.ok).map((o) => `${o.label}: ${o.detail}`)).toEqual([]);
      expect(unfaulted(first, outcomes, 'geo-dr', shard)).toEqual([]);
      expect(outcomes).toHaveLength(cases.length);
    }, 900_000);
  });
}

/** The token endpoint: its first request of a fresh host × every fault, one host per case. */
export function describeTokenMatrix(): void {
  describe('fault matrix: the managed-identity token endpoint', () => {
    test('the first token request of a fresh host × every fault: enable still ends the same, each fault served once', async () => {
      const run = async (fault: Fault | undefined) => {
        const e = await new Estate(await startLocalEstate({ env: GUARDIAN_TIMERS_OFF })).init();
        try {
          await grantDocumentedRoles(e);
          const scenario = ENABLE_SCENARIOS[0]!;
          if (!fault) return { clean: await cleanRun(e, scenario, true) };
          // The clean run's token site, found again in this host.
          const prepared = await scenario.prepare(e, nextId());
          const rule = await e.estate.azure.control<{ id: string }>('POST', '/faults', {
            match: { service: 'identity', query: { resource: e.estate.azure.url } },
            effect: fault.effect,
            phase: fault.phase,
            occurrence: 1,
          });
          const result = await prepared.run();
          const rules = await e.estate.azure.control<Array<{ id: string; hits: number }>>('GET', '/faults');
          return {
            fault,
            result,
            hits: rules.body.find((r) => r.id === rule.body.id)?.hits,
            state: await readAzureState(e, prepared),
          };
        } finally {
          await e.estate.stop();
        }
      };
      const tokenFaults = FAULTS.filter((f) => !f.writesOnly).concat([{ ...FAULTS[3]!, writesOnly: false }]);
      const [clean, ...faulted] = await Promise.all([run(undefined), ...tokenFaults.map((f) => run(f))]);
      const sites = clean.clean!.sites.filter((s) => s.service === 'identity');
      expect(sites.map((s) => s.key)).toEqual(['identity GET /msi/token?resource={arm} #1']);
      console.log(
        `fault matrix (token endpoint): 1 call site faulted, ${faulted.length} cases (${tokenFaults.map((f) => f.label).join(', ')})`,
      );
      for (const f of faulted) {
        expect({ fault: f.fault?.label, outcome: f.result?.outcome, hits: f.hits }).toEqual({
          fault: f.fault?.label,
          outcome: 'enabled',
          hits: 1,
        });
        expect(f.state).toEqual(clean.clean!.state);
      }
    }, 180_000);
  });
}
