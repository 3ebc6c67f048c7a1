/**
 * What the enable-under-faults suites share (enable-cmk-faults*.test.ts, enable-cmk-chaos.test.ts):
 * the ARM call sites of the two enable flows, the estate they run on, one run of each flow with its
 * write counts, and the fault cases. The suites are split so jest runs them in parallel: their time
 * is the SDK's real-time retry waits, not CPU.
 */
import { grantDocumentedRoles, type EnableOutput, type Estate } from './enable-cmk-support';

export const NS = '/namespaces/sb-f[^/]*';

/** Every call site of the flow: reads of the preflight, the writes, and the verification read. */
export const SYSTEM_AP_SITES: Array<{ name: string; method: string; path: string }> = [
  { name: 'namespace GET', method: 'GET', path: `${NS}$` },
  { name: 'queues list', method: 'GET', path: `${NS}/queues$` },
  { name: 'topics list', method: 'GET', path: `${NS}/topics$` },
  { name: 'Geo-DR list', method: 'GET', path: `${NS}/disasterRecoveryConfigs$` },
  { name: 'vault list', method: 'GET', path: '/providers/Microsoft.KeyVault/vaults$' },
  { name: 'key GET', method: 'GET', path: '/vaults/kv-f-ap/keys/[^/]+$' },
  { name: 'namespace PATCH', method: 'PATCH', path: `${NS}$` },
  { name: 'access policy add', method: 'PUT', path: '/accessPolicies/add$' },
];
export const UAI_RBAC_SITES: Array<{ name: string; method: string; path: string }> = [
  { name: 'identity GET', method: 'GET', path: '/userAssignedIdentities/id-f$' },
  {
    name: 'role assignments list',
    method: 'GET',
    path: '/vaults/kv-f-rbac/providers/Microsoft.Authorization/roleAssignments$',
  },
  {
    name: 'role assignment PUT',
    method: 'PUT',
    path: '/providers/Microsoft.Authorization/roleAssignments/[0-9a-f-]+$',
  },
];

export async function seed(e: Estate): Promise<{ uai: { id: string; principalId: string } }> {
  await grantDocumentedRoles(e);
  await e.vault('kv-f-ap');
  await e.vault('kv-f-rbac', { rbac: true });
  await e.key('kv-f-ap', 'k1');
  await e.key('kv-f-rbac', 'k1');
  return { uai: await e.uai('id-f') };
}

let counter = 0;
/** A fresh number for a resource name (names stay unique within a host). */
export const nextCounter = (): number => ++counter;
export interface Run {
  out: EnableOutput;
  /** Every write request the app made (whatever its status) and those that succeeded. */
  attempted: number;
  succeeded: number;
  ns: string;
}
async function writesSince(e: Estate, mark: number): Promise<{ attempted: number; succeeded: number }> {
  return {
    attempted: (await e.appRequests(mark, 'attempted')).length,
    succeeded: (await e.appRequests(mark, 'succeeded')).length,
  };
}
export async function runSystemAp(e: Estate): Promise<Run> {
  const ns = `sb-f-${++counter}-sys`;
  await e.namespace(ns);
  const mark = await e.mark();
  const { op } = await e.enable({ namespaceId: e.nsId(ns), keys: [{ keyId: e.keyId('kv-f-ap', 'k1') }] });
  return { out: op.output as EnableOutput, ...(await writesSince(e, mark)), ns };
}
/** A fresh key each run, so the identity always needs a new role assignment. */
export async function runUaiRbac(e: Estate, uaiId: string): Promise<Run> {
  const ns = `sb-f-${++counter}-uai`;
  await e.namespace(ns);
  await e.key('kv-f-rbac', `k-${counter}`);
  const mark = await e.mark();
  const { op } = await e.enable({
    namespaceId: e.nsId(ns),
    keys: [{ keyId: e.keyId('kv-f-rbac', `k-${counter}`) }],
    identity: { type: 'UserAssigned', resourceId: uaiId },
  });
  return { out: op.output as EnableOutput, ...(await writesSince(e, mark)), ns };
}

/**
 * The fewest writes each scenario needs, from its facts alone (not from the app's plan): the namespace
 * has no identity yet, so one identity PATCH (system-assigned on, or the user-assigned one attached);
 * one grant (an access-policy `add` on the access-policy vault, one role assignment on the fresh key
 * of the RBAC vault); one encryption PATCH.
 */
export const MINIMUM_WRITES = { systemAp: 1 + 1 + 1, uaiRbac: 1 + 1 + 1 };

export async function hitsOf(e: Estate, ruleId: string): Promise<number | undefined> {
  const rules = await e.estate.azure.control<Array<{ id: string; hits: number }>>('GET', '/faults');
  return rules.body.find((r) => r.id === ruleId)?.hits;
}

export const THROTTLE = { type: 'throttle' as const, retryAfterSeconds: 0 };
const EFFECTS = [
  ['429', { type: 'throttle' as const, retryAfterSeconds: 0 }],
  ['503', { type: 'error' as const, status: 503, code: 'ServiceUnavailable', message: 'injected' }],
] as const;
// One more fault in a row than the SDK's own retries (3), so the Durable retry has to step in too.
export const IN_A_ROW = 4;
/** Each site × {429, 503}: [label, site name, site, effect]. */
export const faultCases = (sites: typeof SYSTEM_AP_SITES) =>
  sites.flatMap((site) => EFFECTS.map(([label, effect]) => [label, site.name, site, effect] as const));
