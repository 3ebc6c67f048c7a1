/**
 * Least privilege, proven: the app identity gets exactly the roles of `infra/roles.json` (applied
 * through the ARM SDK as the deployment would, each at the narrowest scope of its kind) and every
 * feature works; then each role is removed in turn and exactly the features roles.json lists for it
 * fail — with an error naming that role — while all others still pass. The expectations come from
 * roles.json itself, so a role added there without a feature that needs it, or a feature listed
 * under the wrong role, fails here. One host + sandbox for the file; the clock is virtual.
 */
import { grantAppRoles, roleAssignmentId, type GrantedRole } from '../../sandbox/infra/apply';
import { loadInfraData, scopedRoles, type ScopeKind } from '../../sandbox/infra/data';
import { startLocalEstate } from '../support/localEstate';
import { Estate } from './enable-cmk-support';
import { geoBody, pairAndSettle, type GeoDrOutput } from './geo-dr-support';

const data = loadInfraData();
const allRoles = scopedRoles(data.roles);
/** The roles this suite removes: those whose features it runs (others name the suite that proves them). */
const roles = allRoles.filter(({ role }) => !role.provenBy);
const FEATURES = [
  'health-azure',
  'diagnose',
  'enable-access-policy',
  'enable-rbac',
  'enable-user-assigned',
  'geo-dr',
  'sweep',
  'publish-health',
];
let e: Estate;
/** The last sweep's health summary (the baseline proves something was published at all). */
let lastHealth: { published: number; refused: number } | undefined;
let granted: GrantedRole[];
let uai: { id: string; principalId: string };
let diagnosed: string;

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

/** Starts every operation first, then follows each (the clock moves them all). */
async function runRound(round: string): Promise<Record<string, Outcome>> {
  const ns = (f: string) => `sb-${round}-${f}`;
  for (const f of ['ap', 'rbac', 'uai', 'geop', 'geos']) await e.namespace(ns(f));
  await pairAndSettle(e, ns('geop'), ns('geos'), `alias-${round}`);
  await grantRound([ns('ap'), ns('rbac'), ns('uai'), ns('geop'), ns('geos')].map((n) => e.nsId(n)));
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
  lastHealth = sweep.output!.health;
  // Nothing refused (a later sweep republishes nothing the same minute grain already holds).
  outcomes['publish-health'] = {
    ok: sweep.output!.health.refused === 0,
    said: sweepSaid,
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

beforeAll(async () => {
  e = await new Estate(await startLocalEstate()).init();
  await e.vault('kv-i-ap');
  await e.vault('kv-i-rbac', { rbac: true });
  await e.vault('kv-i-uai');
  for (const v of ['kv-i-ap', 'kv-i-rbac', 'kv-i-uai']) await e.key(v, 'k');
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
  granted = await grantAppRoles(await e.estate.adminTarget(), data, e.app, {
    subscription: [`/subscriptions/${e.sub}`],
    accessPolicyVault: [e.vaultId('kv-i-ap'), e.vaultId('kv-i-uai')],
    rbacVault: [e.vaultId('kv-i-rbac')],
    userAssignedIdentity: [uai.id],
  });
}, 120_000);

afterAll(async () => e?.estate.stop());

it('with exactly the roles of roles.json, every feature passes (Azure read back)', async () => {
  const outcomes = await runRound('all');
  expect(Object.fromEntries(Object.entries(outcomes).map(([f, o]) => [f, o.ok]))).toEqual(
    Object.fromEntries(FEATURES.map((f) => [f, true])),
  );
  expect(lastHealth!.published).toBeGreaterThan(0);
  // Every role this suite does not remove is proven elsewhere and needs none of the features run here.
  for (const { role } of allRoles.filter((r) => r.role.provenBy))
    expect({
      role: role.roleName,
      runHere: (role.features ?? []).filter((f) => FEATURES.includes(f)),
    }).toEqual({
      role: role.roleName,
      runHere: [],
    });
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
  const byId = new Map(allRoles.map(({ role }) => [role.roleDefinitionId, role]));
  const held = list.value.map((a) => {
    const role = byId.get(a.properties.roleDefinitionId.split('/').pop()!);
    return `${role?.roleName ?? a.properties.roleDefinitionId} @ ${a.properties.scope.split('/').pop()}${a.properties.condition ? ' (condition)' : ''}`;
  });
  const nsScopes = ['ap', 'rbac', 'uai', 'geop', 'geos'].map((n) => `Contributor @ sb-all-${n}`);
  expect(held.sort()).toEqual(
    [
      `Reader @ ${e.sub}`,
      `Monitoring Metrics Publisher @ ${e.sub}`,
      'Key Vault Contributor @ kv-i-ap',
      'Key Vault Contributor @ kv-i-uai',
      'Role Based Access Control Administrator @ kv-i-rbac (condition)',
      'Managed Identity Operator @ id-i',
      ...nsScopes,
    ].sort(),
  );
  expect(granted.map((g) => g.id).sort()).toEqual(
    granted
      .map((g) =>
        roleAssignmentId(g.scope, e.app, allRoles.find((r) => r.role.roleName === g.roleName)!.role),
      )
      .sort(),
  );
});

describe.each(roles.map(({ kind, role }, i) => [role.roleName, kind, i] as const))(
  'without %s (%s)',
  (roleName, kind, i) => {
    it('the features that need it fail naming it; every other feature passes', async () => {
      const role = roles[i]!.role;
      skipped = { kind, roleName };
      // Remove the role where this estate holds it (namespace roles: future namespaces never get it).
      for (const g of granted.filter((x) => x.kind === kind && x.roleName === roleName))
        await e.arm('DELETE', `${g.id}?api-version=2022-04-01`);
      try {
        const outcomes = await runRound(`no${i}`);
        const needs = new Set(role.features ?? []);
        for (const [feature, outcome] of Object.entries(outcomes)) {
          if (needs.has(feature)) {
            expect({ feature, ok: outcome.ok }).toEqual({ feature, ok: false });
            expect(outcome.said).toContain(roleName);
          } else {
            expect({ feature, ok: outcome.ok, said: outcome.ok ? '' : outcome.said }).toEqual({
              feature,
              ok: true,
              said: '',
            });
          }
        }
      } finally {
        skipped = undefined;
        granted = [
          ...granted.filter((x) => !(x.kind === kind && x.roleName === roleName)),
          ...(await grantAppRoles(
            await e.estate.adminTarget(),
            data,
            e.app,
            {
              subscription: [`/subscriptions/${e.sub}`],
              accessPolicyVault: [e.vaultId('kv-i-ap'), e.vaultId('kv-i-uai')],
              rbacVault: [e.vaultId('kv-i-rbac')],
              userAssignedIdentity: [uai.id],
            },
            (k, r) => !(k === kind && r.roleName === roleName),
          )),
        ];
      }
    });
  },
);
