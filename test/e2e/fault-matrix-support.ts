/**
 * The fault matrix's machinery: list an operation's call sites from the sandbox request log of a clean
 * run, turn a call site back into a fault rule for another run of the same scenario, and read back what
 * Azure holds after a run (so "ends the same" compares Azure, not the app's own report).
 *
 * A call site is service + method + normalised path template (+ the token endpoint's `resource`) +
 * the occurrence index among the run's requests with that same template: the encryption PATCH and the
 * identity PATCH of one namespace URL are `#1` and `#2`, the preflight read and the verification read
 * of it `#1` and `#2`. Names of the scenario's resources become placeholders (`{ns}`, `{vault}` …) so
 * the same site can be found in a run with fresh names; GUIDs and key versions become `{guid}`,
 * `{version}`.
 */
import type { Estate, RequestLogEntry } from './enable-cmk-support';

export interface CallSite {
  /** `service METHOD template[?resource=…] #n` — stable across runs with other names. */
  key: string;
  service: string;
  method: string;
  template: string;
  /** Token endpoint only: the audience asked for (placeholder form). */
  resource?: string;
  /** 1-based, among this run's requests with the same service + method + template (+ resource). */
  occurrence: number;
  write: boolean;
  /** True when the template names none of the scenario's own resources (shared by parallel runs). */
  shared: boolean;
}

/** Concrete value → placeholder, e.g. { 'sb-m-3-p': '{primary}' }; matched per path segment, case-insensitive. */
export type Names = Record<string, string>;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KEY_VERSION = /^[0-9a-f]{32}$/i;
const SCENARIO_FREE = new Set(['{sub}', '{sub2}', '{rg}', '{guid}', '{version}', '{arm}']);

function placeholders(names: Names): Map<string, string> {
  return new Map(Object.entries(names).map(([k, v]) => [k.toLowerCase(), v]));
}

/** Names the matrix gives each case's resources (`sb-m-3-p`, `kv-m-3`, `k-3`, `al-m-3` …). */
const CASE_RESOURCE = /^([a-z]+-m-\d+(-[a-z])?|k-\d+)$/i;

/** True when the path names a matrix resource that is not one of this scenario's. */
function namesOtherCase(path: string, map: Map<string, string>): boolean {
  const segs = path.split('/');
  if (segs.some((seg) => CASE_RESOURCE.test(seg) && !map.has(seg.toLowerCase()))) return true;
  // A vault this case does not use: the host's guardian timers (key watch, index refresh, sweep) read
  // the demo estate's vaults and keys on their own cycles, whenever the clock reaches them.
  const vault = segs.findIndex(
    (seg, i) => seg.toLowerCase() === 'vaults' && segs[i - 1]?.toLowerCase() === 'microsoft.keyvault',
  );
  const name = vault >= 0 ? segs[vault + 1] : undefined;
  return name !== undefined && !map.has(name.toLowerCase());
}

/** A path with the scenario's names, GUIDs and key versions replaced by placeholders. */
export function templateOf(path: string, names: Names): string {
  const map = placeholders(names);
  return path
    .split('/')
    .map(
      (seg) =>
        map.get(seg.toLowerCase()) ?? (GUID.test(seg) ? '{guid}' : KEY_VERSION.test(seg) ? '{version}' : seg),
    )
    .join('/');
}

/** The distinct call sites of a run, in the order first seen. */
export function callSites(entries: readonly RequestLogEntry[], names: Names): CallSite[] {
  const map = placeholders(names);
  const seen = new Map<string, number>();
  const sites: CallSite[] = [];
  for (const e of entries) {
    if (e.service !== 'arm' && e.service !== 'keyvault' && e.service !== 'identity') continue;
    // An enable ends with a key-index refresh of its subscription, which reads every CMK namespace
    // there — also those of other cases running at the same time on the same sandbox. Reads naming
    // another case's resources depend on that interleaving: they are that case's, not a site of this one.
    if (namesOtherCase(e.path, map)) continue;
    const template = templateOf(e.path, names);
    const resourceRaw = e.service === 'identity' ? new URLSearchParams(e.query ?? '').get('resource') : null;
    const resource = resourceRaw === null ? undefined : (map.get(resourceRaw.toLowerCase()) ?? resourceRaw);
    const base = `${e.service} ${e.method} ${template}${resource ? `?resource=${resource}` : ''}`;
    const occurrence = (seen.get(base) ?? 0) + 1;
    seen.set(base, occurrence);
    const used = template.split('/').filter((s) => s.startsWith('{'));
    sites.push({
      key: `${base} #${occurrence}`,
      service: e.service,
      method: e.method,
      template,
      ...(resource ? { resource } : {}),
      occurrence,
      write: e.method !== 'GET' && e.method !== 'HEAD',
      shared: e.service === 'identity' || used.every((p) => SCENARIO_FREE.has(p)),
    });
  }
  return sites;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The path regex (for a fault rule) of a template in a run whose names are `names`. */
export function pathPattern(template: string, names: Names): string {
  const back = new Map(Object.entries(names).map(([k, v]) => [v, k]));
  const parts = template.split('/').map((seg) => {
    if (seg === '{guid}') return '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
    if (seg === '{version}') return '[0-9a-f]{32}';
    const concrete = back.get(seg);
    if (seg.startsWith('{') && concrete === undefined) throw new Error(`no name for ${seg} in this run`);
    return escape(concrete ?? seg);
  });
  return `^${parts.join('/')}$`;
}

/** The match part of a fault rule that finds this call site in a run with these names. */
export function siteMatch(site: CallSite, names: Names, app: string): Record<string, unknown> {
  if (site.service === 'identity') {
    const back = new Map(Object.entries(names).map(([k, v]) => [v, k]));
    return {
      service: 'identity',
      method: site.method,
      path: pathPattern(site.template, names),
      ...(site.resource ? { query: { resource: back.get(site.resource) ?? site.resource } } : {}),
    };
  }
  return {
    service: site.service,
    method: site.method,
    path: pathPattern(site.template, names),
    principal: app,
  };
}

// ---- what Azure holds ------------------------------------------------------------------------------

const SB = '2021-11-01';
const KV = '2023-07-01';
const AUTHZ = '2022-04-01';

interface NamespaceBody {
  identity?: { type?: string; principalId?: string; userAssignedIdentities?: Record<string, unknown> };
  properties: {
    encryption?: {
      keySource?: string;
      requireInfrastructureEncryption?: boolean;
      keyVaultProperties?: Array<{
        keyName?: string;
        keyVaultUri?: string;
        keyVersion?: string;
        identity?: { userAssignedIdentity?: string };
      }>;
    };
  };
}

interface AliasBody {
  name: string;
  properties: { partnerNamespace?: string; role?: string; provisioningState?: string };
}

/** Replaces every concrete name (and the principal ids) in a string by its placeholder. */
export function normalise(text: string, names: Names): string {
  let out = text;
  for (const [k, v] of Object.entries(names).sort((a, b) => b[0].length - a[0].length))
    out = out.replace(new RegExp(escape(k), 'gi'), v);
  return out;
}

export interface AzureState {
  namespaces: Record<string, unknown>;
  accessPolicies: Record<string, string[]>;
  roleAssignments: string[];
  aliases: Record<string, string[]>;
}

/**
 * Reads back, as the administrator, what a scenario's resources hold: each namespace's identity and
 * encryption, the access policies and role assignments on each vault for the scenario's principals,
 * and the Geo-DR aliases — all in placeholder form, so two runs with different names compare equal.
 * `principals` are added to `names` as they are discovered (system-assigned identities get `{<ns>.principal}`).
 */
export async function readAzureState(
  e: Estate,
  scenario: { namespaces: string[]; vaults: Array<{ id: string; name: string }>; names: Names },
): Promise<AzureState> {
  const names: Names = { ...scenario.names };
  const state: AzureState = { namespaces: {}, accessPolicies: {}, roleAssignments: [], aliases: {} };
  const bodies = new Map<string, NamespaceBody>();
  for (const ns of scenario.namespaces) {
    const body = await e.arm<NamespaceBody>('GET', `${e.nsId(ns)}?api-version=${SB}`);
    bodies.set(ns, body);
    if (body.identity?.principalId) names[body.identity.principalId] = `${names[ns] ?? ns}.principal`;
  }
  const principals = Object.keys(names).filter((k) => GUID.test(k));
  for (const ns of scenario.namespaces) {
    const body = bodies.get(ns)!;
    const enc = body.properties.encryption;
    state.namespaces[names[ns] ?? ns] = JSON.parse(
      normalise(
        JSON.stringify({
          identityType: body.identity?.type ?? 'None',
          systemAssigned: body.identity?.principalId ? 'yes' : 'no',
          userAssigned: Object.keys(body.identity?.userAssignedIdentities ?? {}).sort(),
          encryption: enc
            ? {
                keySource: enc.keySource,
                infra: enc.requireInfrastructureEncryption ?? false,
                keys: (enc.keyVaultProperties ?? []).map((k) => ({
                  name: k.keyName,
                  uri: k.keyVaultUri?.replace(/\/+$/, ''),
                  version: k.keyVersion ?? '',
                  identity: k.identity?.userAssignedIdentity ?? '',
                })),
              }
            : null,
        }),
        names,
      ),
    ) as unknown;
    const aliases = await e.arm<{ value: AliasBody[] }>(
      'GET',
      `${e.nsId(ns)}/disasterRecoveryConfigs?api-version=${SB}`,
    );
    state.aliases[names[ns] ?? ns] = aliases.value
      .map((a) =>
        normalise(`${a.name} ${a.properties.role ?? ''} ${a.properties.partnerNamespace ?? ''}`, names),
      )
      .sort();
  }
  for (const v of scenario.vaults) {
    const vault = await e.arm<{
      properties: {
        accessPolicies?: Array<{ objectId: string; permissions: { keys?: string[] } }>;
      };
    }>('GET', `${v.id}?api-version=${KV}`);
    const mine = (vault.properties.accessPolicies ?? []).filter((p) =>
      principals.some((x) => x.toLowerCase() === p.objectId.toLowerCase()),
    );
    state.accessPolicies[names[v.name] ?? v.name] = mine
      .map((p) =>
        normalise(
          `${p.objectId}: ${(p.permissions.keys ?? [])
            .map((k) => k.toLowerCase())
            .sort()
            .join(',')}`,
          names,
        ),
      )
      .sort();
    const assignments = await e.arm<{
      value: Array<{ properties: { principalId: string; roleDefinitionId: string; scope: string } }>;
    }>('GET', `${v.id}/providers/Microsoft.Authorization/roleAssignments?api-version=${AUTHZ}`);
    state.roleAssignments.push(
      ...assignments.value
        .filter((a) => principals.some((x) => x.toLowerCase() === a.properties.principalId.toLowerCase()))
        .map((a) =>
          normalise(
            `${a.properties.principalId} ${a.properties.roleDefinitionId.split('/').pop()} ${a.properties.scope}`,
            names,
          ),
        ),
    );
  }
  state.roleAssignments.sort();
  return state;
}
