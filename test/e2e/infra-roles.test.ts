/**
 * Least privilege, proven: the app identity gets exactly the roles of `infra/roles.json` (applied
 * through the ARM SDK as the deployment would, each at the narrowest scope of its kind) and every
 * feature works; then each role is removed in turn and exactly the features roles.json lists for it
 * fail — with an error naming that role — while all others still pass. The expectations come from
 * roles.json itself, so a role added there without a feature that needs it, or a feature listed
 * under the wrong role, fails here. One host + sandbox for the file; the clock is virtual.
 *
 * Features: the operations (diagnose, enable ×3, Geo-DR), the sweep and its health publishing,
 * /api/health/azure, and the guardian — the key watch cycle, POST /api/keys/impact, POST
 * /api/alerts/keyvault-audit, the rotation reaction (Event Grid KeyNewVersionCreated → confirmRotation:
 * its platform-metrics evidence, and PINNED_VERSION_POLICY=follow's PATCH), and ALERT_RULES=managed
 * (rules in their own resource group, so Monitoring Contributor's `*\/read` there covers nothing else).
 *
 * Each round's guardian namespaces are encrypted by the administrator and put into the key index
 * while the app still holds every role (a deployed app that loses a role later); then the role goes,
 * and the round's features run. Nothing publishes those namespaces' health before the removal (the
 * key watch before the index refresh, no sweep timer, only KeyNewVersionCreated subscribed), so the
 * managed rules are first ensured without the role.
 */
import { grantAppRoles, roleAssignmentId, type GrantedRole } from '../../sandbox/infra/apply';
import { loadInfraData, scopedRoles, type ScopeKind } from '../../sandbox/infra/data';
import { startLocalEstate } from '../support/localEstate';
import { quiesce } from './guardian-index';
import { GuardianEstate } from './guardian-support';
import { geoBody, pairAndSettle, type GeoDrOutput } from './geo-dr-support';

const data = loadInfraData();
const roles = scopedRoles(data.roles);
const FEATURES = [
  'health-azure',
  'diagnose',
  'enable-access-policy',
  'enable-rbac',
  'enable-user-assigned',
  'geo-dr',
  'sweep',
  'publish-health',
  'key-watch',
  'key-impact',
  'audit-alert',
  'confirm-rotation',
  'rotation-metrics',
  'follow-pinned',
  'managed-alert-rules',
];
const MINUTE = 60_000;
const POLL_MIN = 5;
const DEADLINE_MIN = 20;
/** The key index refresh runs 3 minutes after each key-watch occurrence (never at the same instant). */
const REFRESH_OFFSET_MIN = 3;
const ALERT_RG = 'rg-cmk-alerts';
const GUARD_VAULT = 'kv-i-g';

let e: GuardianEstate;
/** The last key-watch cycle of a round (the baseline proves it published every namespace). */
let lastWatch: (WatchOutput & { due: number }) | undefined;
let granted: GrantedRole[];
let uai: { id: string; principalId: string };
let diagnosed: string;
let actionGroupId: string;
/** Each round's key in the guarded vault, created in beforeAll: its first version. */
const firstVersion: Record<string, string> = {};

interface Outcome {
  ok: boolean;
  /** What the app said: the operation's error and fix, or the problem+json / findings. */
  said: string;
}

const start = async (path: string, body: unknown) => {
  const r = await e.post<{ id: string }>(path, body);
  if (r.status !== 202) throw new Error(`${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.id;
};
const said = (out: { summary?: string; error?: unknown; findings?: unknown }) =>
  JSON.stringify({ summary: out.summary, error: out.error, findings: out.findings });
const short = (id: string) => id.split('/').pop() ?? id;

const clockNow = async () => (await e.estate.azure.control<{ nowMs: number }>('GET', '/clock')).body.nowMs;
const advanceTo = async (ms: number) =>
  e.estate.azure.control('POST', '/clock/advance', { to: new Date(ms).toISOString() });

interface WatchOutput {
  outcome: string;
  at: string;
  namespaces?: number;
  byVerdict?: Record<string, number>;
  attention?: Array<{ namespaceId: string; verdict: string; ruleIds: string[]; couldNotRead?: string[] }>;
  published?: {
    published: number;
    refused: unknown[];
    refusedRules: Array<{ name: string; action: string; fix?: string }>;
  };
  error?: unknown;
}

/** Moves the clock just past the next key-watch occurrence and returns that cycle's output. */
async function watchCycle(): Promise<WatchOutput & { due: number }> {
  const period = POLL_MIN * MINUTE;
  const due = Math.floor((await clockNow()) / period) * period + period;
  await advanceTo(due + 1_000);
  for (let i = 0; i < 3000; i++) {
    const op = await e.estate.app.json<{ done: boolean; output: WatchOutput | null }>(
      '/api/operations/key-watch',
      { headers: { 'x-functions-key': e.estate.app.keys.function } },
    );
    const out = op.body.output;
    if (op.status === 200 && op.body.done && out && Date.parse(out.at) >= due) {
      await quiesce(e);
      return { ...out, due };
    }
  }
  throw new Error('the key-watch cycle did not finish');
}

/** The refresh 3 minutes after the key watch at `watchDue` (no key watch in between). */
async function refreshIndexAfter(watchDue: number): Promise<void> {
  const due = watchDue + REFRESH_OFFSET_MIN * MINUTE;
  await advanceTo(due + 1_000);
  for (let i = 0; i < 5000; i++) {
    const op = await e.estate.app.json<{
      done: boolean;
      runtimeStatus: string;
      output: { builtAt: string; saved: boolean } | null;
    }>('/api/operations/key-index-refresh', { headers: { 'x-functions-key': e.estate.app.keys.function } });
    const out = op.body.output;
    if (op.status === 200 && op.body.done && out && Date.parse(out.builtAt) >= due) {
      if (op.body.runtimeStatus !== 'Completed' || !out.saved)
        throw new Error(`index refresh: ${JSON.stringify(op.body)}`);
      await quiesce(e);
      return;
    }
  }
  throw new Error('the key index refresh did not finish');
}

interface Instance {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  customStatus: { key?: { version?: string } } | null;
}
async function confirmRotationOf(version: string): Promise<string | undefined> {
  const r = await e.estate.app.json<Instance[]>(
    `/runtime/webhooks/durabletask/instances?code=${encodeURIComponent(e.estate.app.keys.durableTaskExtension)}`,
  );
  return r.body.find((i) => i.name === 'confirmRotation' && i.customStatus?.key?.version === version)
    ?.instanceId;
}

interface Uptake {
  name: string;
  state: string;
  pinnedVersion?: string;
  evidence: string[];
}
interface RotationOutput {
  outcome: string;
  summary: string;
  namespaces: Uptake[];
  error?: unknown;
}

/**
 * Follows a confirmRotation to its end, moving the clock only when it waits: to its next check while
 * it waits for a key poll, 15 s while a move is provisioning; never past the deadline + 1 minute.
 */
async function followRotation(instanceId: string): Promise<RotationOutput> {
  const limit = (await clockNow()) + (DEADLINE_MIN + 1) * MINUTE;
  for (let i = 0; i < 5000; i++) {
    const op = await e.operation<RotationOutput>(instanceId);
    if (op.done) return op.output!;
    const status = op.customStatus as unknown as { state?: string; nextCheckAt?: string } | null;
    const now = await clockNow();
    if (now > limit) break;
    if (status?.state === 'waitingForKeyPoll' && status.nextCheckAt)
      await advanceTo(Math.max(Date.parse(status.nextCheckAt), now) + 1_000);
    else if (status?.state === 'moving') await e.advance(15_000);
  }
  throw new Error(`confirmRotation ${instanceId} did not finish by its deadline`);
}

/** The administrator's guardian estate of one round: a versionless and a pinned namespace on one key. */
interface Guarded {
  key: string;
  g: string;
  pin: string;
}

async function guardedNamespaces(round: string): Promise<Guarded> {
  const guarded = { key: `k-${round}`, g: `sb-${round}-g`, pin: `sb-${round}-pin` };
  const v1 = firstVersion[round]!;
  for (const n of [guarded.g, guarded.pin])
    await e.accessPolicy(GUARD_VAULT, await e.identityNamespace(n), 'add');
  await e.encrypt(guarded.g, [{ vault: GUARD_VAULT, key: guarded.key }]);
  await e.encrypt(guarded.pin, [{ vault: GUARD_VAULT, key: guarded.key, version: v1 }]);
  return guarded;
}

/** Namespaces of the last round, deleted when the next one starts. */
const leftovers: string[] = [];

/** Starts every operation first, then follows each (the clock moves them all). */
async function runRound(round: string, remove: () => Promise<void>): Promise<Record<string, Outcome>> {
  const ns = (f: string) => `sb-${round}-${f}`;
  // The previous round's namespaces go (the Geo-DR pair stays: it is deleted only unpaired) and so do
  // all managed rules (each round checks its own namespaces' rules), so every round's key watch,
  // refresh, sweep and rule evaluations cost about as much as the first one's.
  const gone = leftovers.splice(0);
  for (const name of gone) await e.arm('DELETE', `${e.nsId(name)}?api-version=2021-11-01`);
  const rulesNow = await e.arm<{ value: Array<{ id: string; name: string }> }>(
    'GET',
    `/subscriptions/${e.sub}/resourceGroups/${ALERT_RG}/providers/Microsoft.Insights/metricAlerts?api-version=2018-03-01`,
  );
  for (const rule of rulesNow.value) await e.arm('DELETE', `${rule.id}?api-version=2018-03-01`);
  // Before the removal: the guardian's namespaces in the index, nothing of theirs published yet — the
  // refresh comes REFRESH_OFFSET_MIN after a key watch that ran before they existed (the last round's,
  // when the clock has not passed that refresh yet).
  const last = lastWatch?.due;
  const watchedDue =
    last !== undefined && (await clockNow()) < last + (REFRESH_OFFSET_MIN * MINUTE) / 2
      ? last
      : (await watchCycle()).due;
  const guarded = await guardedNamespaces(round);
  for (const f of ['ap', 'rbac', 'uai', 'geop', 'geos']) await e.namespace(ns(f));
  await pairAndSettle(e, ns('geop'), ns('geos'), `alias-${round}`);
  // The app writes the pinned namespace (follow): it holds the namespace roles there, not on the other.
  await grantRound(
    [ns('ap'), ns('rbac'), ns('uai'), ns('geop'), ns('geos'), guarded.pin].map((n) => e.nsId(n)),
  );
  await refreshIndexAfter(watchedDue);
  leftovers.push(
    ...['ap', 'rbac', 'uai'].map(ns).filter((n) => e.nsId(n) !== diagnosed),
    guarded.g,
    guarded.pin,
  );
  await remove();

  const ids = {
    ap: await start('/api/cmk/enable', {
      namespaceId: e.nsId(ns('ap')),
      keys: [{ keyId: e.keyId('kv-i-ap', 'k') }],
    }),
    rbac: await start('/api/cmk/enable', {
      namespaceId: e.nsId(ns('rbac')),
      keys: [{ keyId: e.keyId('kv-i-rbac', 'k') }],
    }),
    uai: await start('/api/cmk/enable', {
      namespaceId: e.nsId(ns('uai')),
      keys: [{ keyId: e.keyId('kv-i-uai', 'k') }],
      identity: { type: 'UserAssigned', resourceId: uai.id },
    }),
    geo: await start(
      '/api/cmk/geo-dr',
      geoBody(e, ns('geop'), ns('geos'), `alias-${round}`, [e.keyId('kv-i-ap', 'k')]),
    ),
  };
  const enable = async (id: string): Promise<Outcome> => {
    const out = (await e.settle(id)).output!;
    return { ok: out.outcome === 'enabled', said: said(out) };
  };
  const geo = await e.settle<GeoDrOutput>(ids.geo);
  const outcomes: Record<string, Outcome> = {
    'enable-access-policy': await enable(ids.ap),
    'enable-rbac': await enable(ids.rbac),
    'enable-user-assigned': await enable(ids.uai),
    'geo-dr': { ok: geo.output!.outcome === 'enabled', said: said(geo.output!) },
  };
  const diagnose = await e.post<{ health?: { verdict: string } }>('/api/cmk/diagnose', {
    namespaceId: diagnosed,
  });
  outcomes.diagnose = {
    ok: diagnose.status === 200 && diagnose.body.health?.verdict === 'healthy',
    said: JSON.stringify(diagnose.body),
  };
  Object.assign(outcomes, await runGuardian(guarded));

  // The compliance sweep (its report) and, inside it, the health published for the alert path.
  const started = await e.post<{ id: string }>('/api/compliance/sweeps', {});
  if (started.status !== 202) throw new Error(`sweep answered ${started.status}`);
  const sweep = await e.settle<{
    summary: { couldNotAssess: number };
    health: { published: number; refused: number; detail?: string };
    report?: unknown;
  }>('complianceSweep');
  const report = await e.estate.app.json<{ couldNotAssess: unknown[] }>('/api/compliance/report', {
    headers: { 'x-functions-key': e.estate.app.keys.function },
  });
  const sweepSaid = JSON.stringify({ output: sweep.output, couldNotAssess: report.body.couldNotAssess });
  outcomes.sweep = {
    ok:
      sweep.runtimeStatus === 'Completed' &&
      sweep.output!.summary.couldNotAssess === 0 &&
      !!sweep.output!.report,
    said: sweepSaid,
  };
  // Nothing refused, by the key watch or the sweep (which republishes nothing the watch already
  // published in the same minute, but publishes the round's newly enabled namespaces).
  outcomes['publish-health'] = {
    ok: sweep.output!.health.refused === 0 && lastWatch!.published?.refused.length === 0,
    said: JSON.stringify({ sweep: sweep.output!.health, watch: lastWatch!.published }),
  };
  const health = await e.estate.app.json<{ status: string; findings?: string[] }>('/api/health/azure', {
    headers: { 'x-functions-key': e.estate.app.keys.function },
  });
  outcomes['health-azure'] = {
    ok: health.status === 200 && health.body.status === 'ok',
    said: JSON.stringify(health.body),
  };
  return outcomes;
}

/** The guardian's features on the round's two namespaces (g versionless, pin pinned to v1). */
async function runGuardian(guarded: Guarded): Promise<Record<string, Outcome>> {
  const outcomes: Record<string, Outcome> = {};
  const both = [guarded.g, guarded.pin].sort();

  const impact = await e.post<{ inoperable?: Array<{ namespaceId: string }> }>('/api/keys/impact', {
    key: { keyId: e.keyId(GUARD_VAULT, guarded.key) },
    change: 'disable',
  });
  outcomes['key-impact'] = {
    ok:
      impact.status === 200 &&
      JSON.stringify((impact.body.inoperable ?? []).map((i) => short(i.namespaceId)).sort()) ===
        JSON.stringify(both),
    said: JSON.stringify(impact.body),
  };

  const alert = await e.post<{ id?: string }>('/api/alerts/keyvault-audit', {
    schemaId: 'azureMonitorCommonAlertSchema',
    data: {
      essentials: {
        alertId: `/subscriptions/${e.sub}/providers/Microsoft.AlertsManagement/alerts/audit-${guarded.key}`,
        alertRule: 'kv-key-changed',
        monitorCondition: 'Fired',
        firedDateTime: new Date(await clockNow()).toISOString(),
        alertTargetIDs: [e.vaultId(GUARD_VAULT).toLowerCase()],
      },
      alertContext: {
        SearchResults: {
          tables: [
            {
              columns: [{ name: 'OperationName' }, { name: 'id_s' }],
              rows: [['KeyUpdate', e.keyId(GUARD_VAULT, guarded.key)]],
            },
          ],
        },
      },
    },
  });
  if (alert.status !== 202 || !alert.body.id)
    outcomes['audit-alert'] = { ok: false, said: JSON.stringify(alert.body) };
  else {
    const op = await e.settle<{
      outcome: string;
      impacts: Array<{ namespaces: Array<{ namespaceId: string; verdict: string }> }>;
    }>(alert.body.id);
    const verdicts = (op.output?.impacts ?? []).flatMap((i) =>
      i.namespaces.map((n) => `${short(n.namespaceId)}:${n.verdict}`),
    );
    outcomes['audit-alert'] = {
      ok:
        op.output?.outcome === 'assessed' &&
        JSON.stringify(verdicts.sort()) === JSON.stringify(both.map((n) => `${n}:healthy`)),
      said: JSON.stringify(op.output),
    };
  }

  // A real rotation: Event Grid delivers KeyNewVersionCreated to keyVaultEvents → confirmRotation.
  const v2 = await e.rotateKey(GUARD_VAULT, guarded.key);
  let instanceId: string | undefined;
  // Event Grid delivers on its own (real) time: wait for the instance, up to 30 s on a loaded machine.
  for (const until = Date.now() + 30_000; !instanceId && Date.now() < until;) {
    instanceId = await confirmRotationOf(v2);
    if (!instanceId) await new Promise((r) => setTimeout(r, 25));
  }
  if (!instanceId) throw new Error(`no confirmRotation for ${guarded.key} ${v2}`);
  const out = await followRotation(instanceId);
  const rotationSaid = JSON.stringify(out);
  const uptake = (name: string) => out.namespaces.find((n) => n.name === name);
  outcomes['confirm-rotation'] = { ok: uptake(guarded.g)?.state === 'confirmed', said: rotationSaid };
  outcomes['rotation-metrics'] = {
    ok: (uptake(guarded.g)?.evidence ?? []).some((x) =>
      /^([1-9]\d*) of \1 requests succeeded since the rotation, ServerErrors 0/.test(x),
    ),
    said: rotationSaid,
  };
  const pinned = (await e.getNamespace(guarded.pin)).properties.encryption as {
    keyVaultProperties: Array<{ keyVersion?: string }>;
  };
  outcomes['follow-pinned'] = {
    ok:
      uptake(guarded.pin)?.state === 'confirmed' &&
      uptake(guarded.pin)?.pinnedVersion === v2 &&
      pinned.keyVaultProperties[0]?.keyVersion === v2,
    said: rotationSaid,
  };

  const watch = await watchCycle();
  lastWatch = watch;
  const ours = (watch.attention ?? []).filter((a) => both.includes(short(a.namespaceId)));
  outcomes['key-watch'] = {
    ok: watch.outcome === 'assessed' && (watch.attention ?? []).length === 0,
    said: JSON.stringify({ outcome: watch.outcome, attention: ours, error: watch.error }),
  };
  // The app's two rules per namespace, read back from Azure in the alert resource group.
  const rules = await e.arm<{ value: Array<{ name: string; tags?: Record<string, string> }> }>(
    'GET',
    `/subscriptions/${e.sub}/resourceGroups/${ALERT_RG}/providers/Microsoft.Insights/metricAlerts?api-version=2018-03-01`,
  );
  const names = new Set(rules.value.filter((r) => r.tags?.['cmk-guardian'] === 'managed').map((r) => r.name));
  outcomes['managed-alert-rules'] = {
    ok: both.every((n) => names.has(`cmk-inoperable-${n}`) && names.has(`cmk-atrisk-${n}`)),
    said: JSON.stringify({ rules: watch.published?.refusedRules, attention: ours, error: watch.error }),
  };
  return outcomes;
}

let skipped: { kind: ScopeKind; roleName: string } | undefined;
/** Namespace-kind roles are granted per namespace: a round's new namespaces get them (unless skipped). */
async function grantRound(namespaceIds: string[]): Promise<void> {
  await grantAppRoles(
    await e.estate.adminTarget(),
    data,
    e.app,
    { namespace: namespaceIds },
    (kind, role) => skipped?.kind === kind && skipped.roleName === role.roleName,
  );
}

/** The scopes of this estate, per kind (namespaces are granted round by round). */
const fixedScopes = () => ({
  subscription: [`/subscriptions/${e.sub}`],
  accessPolicyVault: [e.vaultId('kv-i-ap'), e.vaultId('kv-i-uai'), e.vaultId(GUARD_VAULT)],
  rbacVault: [e.vaultId('kv-i-rbac')],
  userAssignedIdentity: [uai.id],
  alertResourceGroup: [`/subscriptions/${e.sub}/resourceGroups/${ALERT_RG}`],
});

const ROUNDS = ['all', ...roles.map((_, i) => `no${i}`)];

beforeAll(async () => {
  const sub = '00000000-0000-4000-8000-000000000001';
  actionGroupId = `/subscriptions/${sub}/resourceGroups/${ALERT_RG}/providers/Microsoft.Insights/actionGroups/ag-roles`;
  e = await new GuardianEstate(
    await startLocalEstate({
      env: {
        KEY_POLL_MINUTES: String(POLL_MIN),
        UPTAKE_DEADLINE_MINUTES: String(DEADLINE_MIN),
        PINNED_VERSION_POLICY: 'follow',
        ALERT_RULES: 'managed',
        ALERT_ACTION_GROUP_ID: actionGroupId,
        ALERT_RULES_RESOURCE_GROUP: ALERT_RG,
        KEY_INDEX_REFRESH_SCHEDULE: `0 ${REFRESH_OFFSET_MIN}-59/${POLL_MIN} * * * *`,
        // No scheduled sweep: the rounds start theirs (a timer sweep would publish before a removal).
        SWEEP_SCHEDULE: '0 0 0 1 1 *',
      },
    }),
  ).init();
  expect(e.sub).toBe(sub);
  await e.arm('PUT', `/subscriptions/${e.sub}/resourcegroups/${ALERT_RG}?api-version=2021-04-01`, {
    location: 'westeurope',
  });
  await e.arm('PUT', `${actionGroupId}?api-version=2021-09-01`, {
    location: 'Global',
    properties: { groupShortName: 'roles', enabled: true },
  });
  await e.vault('kv-i-ap');
  await e.vault('kv-i-rbac', { rbac: true });
  await e.vault('kv-i-uai');
  for (const v of ['kv-i-ap', 'kv-i-rbac', 'kv-i-uai']) await e.key(v, 'k');
  // The guarded vault: one key per round, made before anything uses them (their creation events find
  // no indexed namespace), the app's Event Grid subscription as infra/wiring has it.
  await e.adminVault(GUARD_VAULT);
  for (const round of ROUNDS) firstVersion[round] = await e.createKey(GUARD_VAULT, `k-${round}`);
  await subscribeApp(GUARD_VAULT);
  await e.estate.azure.control('PUT', '/traffic', { defaultRequestsPerMinute: 60 });
  uai = await e.uai('id-i');
  // Diagnose reads the namespace the baseline round encrypts (read-only, so every round reuses it).
  diagnosed = e.nsId('sb-all-ap');
  // The identity's own access to its vault is set up beforehand: that feature exercises the attach only.
  await e.arm('PUT', `${e.vaultId('kv-i-uai')}/accessPolicies/add?api-version=2023-07-01`, {
    properties: {
      accessPolicies: [
        {
          tenantId: e.estate.azure.tenantId,
          objectId: uai.principalId,
          permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
        },
      ],
    },
  });
  granted = await grantAppRoles(await e.estate.adminTarget(), data, e.app, fixedScopes());
}, 120_000);

afterAll(async () => e?.estate.stop());

/**
 * The vault's system topic and the app's subscription, from infra/wiring/keyVaultEventSubscription.json
 * but with KeyNewVersionCreated only: an access-policy event would assess (and publish) the round's
 * namespaces before a removal.
 */
async function subscribeApp(vault: string): Promise<void> {
  const es = data.eventSubscription;
  const topic = `${e.rgId()}/providers/${es.systemTopic.type}/${es.systemTopic.namePrefix}${vault}`;
  await e.arm('PUT', `${topic}?api-version=${es.apiVersion}`, {
    location: 'westeurope',
    properties: { source: e.vaultId(vault), topicType: es.systemTopic.topicType },
  });
  const app = (e.estate.azure.app as { resourceId?: string }).resourceId;
  if (!app) throw new Error('the sandbox did not say which function app is the app');
  const filter = es.properties.filter as { includedEventTypes: string[] };
  expect(filter.includedEventTypes).toContain('Microsoft.KeyVault.KeyNewVersionCreated');
  await e.arm('PUT', `${topic}/eventSubscriptions/${es.name}?api-version=${es.apiVersion}`, {
    properties: {
      ...es.properties,
      filter: { ...filter, includedEventTypes: ['Microsoft.KeyVault.KeyNewVersionCreated'] },
      destination: {
        endpointType: 'AzureFunction',
        properties: { resourceId: `${app}/functions/${es.function}`, maxEventsPerBatch: 1 },
      },
    },
  });
}

it('with exactly the roles of roles.json, every feature passes (Azure read back)', async () => {
  const outcomes = await runRound('all', async () => {});
  expect(Object.fromEntries(Object.entries(outcomes).map(([f, o]) => [f, o.ok ? true : o.said]))).toEqual(
    Object.fromEntries(FEATURES.map((f) => [f, true])),
  );
  expect(Object.keys(data.roles.features).sort()).toEqual([...FEATURES].sort());
  // The key watch published every namespace it assessed (the two guarded ones among them).
  expect(lastWatch!.published?.published).toBe(lastWatch!.namespaces);
  // …which is every CMK namespace in Azure (read back), the two guarded ones among them.
  const listed = await e.arm<{ value: Array<{ properties: { encryption?: { keySource?: string } } }> }>(
    'GET',
    `/subscriptions/${e.sub}/providers/Microsoft.ServiceBus/namespaces?api-version=2021-11-01`,
  );
  expect(lastWatch!.namespaces).toBe(
    listed.value.filter((n) => n.properties.encryption?.keySource === 'Microsoft.KeyVault').length,
  );
  for (const n of ['ap', 'rbac', 'uai', 'geop'])
    expect((await e.getNamespace(`sb-all-${n}`)).properties.encryption).toMatchObject({
      keySource: 'Microsoft.KeyVault',
    });
  // What the app holds, read from Azure: exactly roles.json's roles at the scopes of this estate.
  const list = await e.arm<{
    value: Array<{
      id: string;
      properties: { roleDefinitionId: string; scope: string; condition: string | null };
    }>;
  }>(
    'GET',
    `/subscriptions/${e.sub}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=${encodeURIComponent(`principalId eq '${e.app}'`)}`,
  );
  const byId = new Map(roles.map(({ role }) => [role.roleDefinitionId, role]));
  const held = list.value.map((a) => {
    const role = byId.get(a.properties.roleDefinitionId.split('/').pop()!);
    return `${role?.roleName ?? a.properties.roleDefinitionId} @ ${a.properties.scope.split('/').pop()}${a.properties.condition ? ' (condition)' : ''}`;
  });
  const nsScopes = ['ap', 'rbac', 'uai', 'geop', 'geos', 'pin'].map((n) => `Contributor @ sb-all-${n}`);
  expect(held.sort()).toEqual(
    [
      `Reader @ ${e.sub}`,
      `Monitoring Metrics Publisher @ ${e.sub}`,
      'Key Vault Contributor @ kv-i-ap',
      'Key Vault Contributor @ kv-i-uai',
      `Key Vault Contributor @ ${GUARD_VAULT}`,
      'Role Based Access Control Administrator @ kv-i-rbac (condition)',
      'Managed Identity Operator @ id-i',
      `Monitoring Contributor @ ${ALERT_RG}`,
      ...nsScopes,
    ].sort(),
  );
  // Reader alone covers the platform-metrics read (Microsoft.Insights/metrics/read, `*/read`): the app
  // holds no role on sb-all-g itself (above), and its one metrics read there (the rotation's single
  // check) was answered.
  const metricsReads = (await e.appRequests(0)).filter((r) =>
    r.path.toLowerCase().endsWith('/namespaces/sb-all-g/providers/microsoft.insights/metrics'),
  );
  expect(metricsReads.map((r) => [r.method, r.status, r.operation])).toEqual([
    ['GET', 200, 'Microsoft.Insights/metrics/read'],
  ]);
  expect(granted.map((g) => g.id).sort()).toEqual(
    granted
      .map((g) => roleAssignmentId(g.scope, e.app, roles.find((r) => r.role.roleName === g.roleName)!.role))
      .sort(),
  );
});

describe.each(roles.map(({ kind, role }, i) => [role.roleName, kind, i] as const))(
  'without %s (%s)',
  (roleName, kind, i) => {
    it('the features that need it fail naming it; every other feature passes', async () => {
      const role = roles[i]!.role;
      skipped = { kind, roleName };
      try {
        // Remove the role where this estate holds it (namespace roles: future namespaces never get it).
        const outcomes = await runRound(`no${i}`, async () => {
          for (const g of granted.filter((x) => x.kind === kind && x.roleName === roleName))
            await e.arm('DELETE', `${g.id}?api-version=2022-04-01`);
        });
        const needs = new Set(role.features ?? []);
        const seen = Object.fromEntries(
          Object.entries(outcomes).map(([feature, o]) => [
            feature,
            needs.has(feature)
              ? {
                  ok: o.ok,
                  namesRole: o.said.includes(roleName),
                  ...(o.said.includes(roleName) ? {} : { said: o.said }),
                }
              : { ok: o.ok, ...(o.ok ? {} : { said: o.said }) },
          ]),
        );
        expect(seen).toEqual(
          Object.fromEntries(
            FEATURES.map((f) => [f, needs.has(f) ? { ok: false, namesRole: true } : { ok: true }]),
          ),
        );
      } finally {
        skipped = undefined;
        granted = [
          ...granted.filter((x) => !(x.kind === kind && x.roleName === roleName)),
          ...(await grantAppRoles(
            await e.estate.adminTarget(),
            data,
            e.app,
            fixedScopes(),
            (k, r) => !(k === kind && r.roleName === roleName),
          )),
        ];
      }
    });
  },
);
