/**
 * Batch reads of the estate (docs/ARCHITECTURE.md "Batch reads"): the namespaces of a subscription in
 * ONE ARM list (+ pages), and the key material of any number of namespaces with each distinct vault,
 * key (+ pinned version), identity and Geo-DR partner read once — never one call per namespace where a
 * list will do. Two serialisable phases (read material, assemble facts) so the sweep can run them as
 * separate batched activities; diagnose (cmkFacts.ts) assembles through the same code.
 *
 * Every ARM request made (each page) is counted, so tests and benchmarks compare against the minimum.
 * SDK-internal retries are not counted (they are the pipeline's, visible in the request log).
 */
import type { CmkGateways } from './cmkFacts';
import {
  assembleDiagnoseFacts,
  keyMaterialRequest,
  keyReferenceKey,
  parseServiceBusNamespaceId,
  ResourceIdError,
  type AssessedNamespace,
  type DiagnoseFacts,
  type GroupedResourceId,
  type KeyFacts,
  type KeyMaterial,
  type KeyMaterialRequest,
  type KeyObservations,
  type KeyRef,
  type ListedNamespace,
  type PartnerMaterial,
  type RuleSettings,
  type SubscriptionListing,
  type UserAssignedIdentityFacts,
  type VaultMaterial,
} from '../domain';
import { withRotationPolicyOf, type VaultRecord } from './keyVault';

/** Parallel reads per batch: enough to hide latency, far below Key Vault's and ARM's limits. */
const CONCURRENCY = 8;

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

class Calls {
  total = 0;
  readonly byOperation: Record<string, number> = {};
  add = (operation: string, n = 1): void => {
    this.total += n;
    this.byOperation[operation] = (this.byOperation[operation] ?? 0) + n;
  };
}

/** One subscription's CMK-relevant namespaces, with the calls it took. */
export type NamespaceListing = SubscriptionListing & {
  calls: number;
  callsByOperation: Record<string, number>;
};

/**
 * Every namespace of the subscription: ONE ARM list (+ its pages); then the Geo-DR alias list of each
 * CMK namespace only (a namespace without CMK is not guarded, so its pairing does not matter here).
 * 403 → `forbidden`, another refusal → `failed` (with status + code); platform faults are thrown for
 * the caller's retry. An alias list refused for one namespace leaves that namespace without `geoDr`
 * and says so in `detail`.
 */
export async function listNamespaces(gw: CmkGateways, subscriptionId: string): Promise<NamespaceListing> {
  const calls = new Calls();
  const listed = await gw.serviceBus.listBySubscription(subscriptionId);
  if (!listed.ok) {
    calls.add('Microsoft.ServiceBus/namespaces/list');
    return {
      subscriptionId,
      status: listed.status === 403 || listed.status === 401 ? 'forbidden' : 'failed',
      detail: listed.detail,
      calls: calls.total,
      callsByOperation: calls.byOperation,
    };
  }
  calls.add('Microsoft.ServiceBus/namespaces/list', listed.value.pages);
  const aliasRefusals: string[] = [];
  const namespaces = await mapLimit(
    listed.value.namespaces,
    CONCURRENCY,
    async (ns): Promise<ListedNamespace> => {
      if (!ns.cmk.encrypted) return ns;
      calls.add('Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/list');
      const alias = await gw.geoDr.aliasOf(parseServiceBusNamespaceId(ns.id));
      if (!alias.ok) {
        aliasRefusals.push(`${ns.name}: ${alias.detail}`);
        return ns;
      }
      if (!alias.value) return ns;
      return {
        ...ns,
        geoDr: {
          alias: alias.value.name,
          role: alias.value.role,
          ...(alias.value.partnerNamespaceId ? { partnerNamespaceId: alias.value.partnerNamespaceId } : {}),
        },
      };
    },
  );
  return {
    subscriptionId,
    status: 'listed',
    ...(aliasRefusals.length ? { detail: `Geo-DR alias not readable for ${aliasRefusals.join('; ')}` } : {}),
    namespaces,
    calls: calls.total,
    callsByOperation: calls.byOperation,
  };
}

/**
 * Reads the material for the request: the vaults (found by one vault list per subscription searched,
 * access policies included), one role-assignment list per RBAC vault (unfiltered at the vault scope:
 * it covers the vault and every key below it, for every principal), each distinct key once (current
 * version; + each distinct pinned version), each identity and partner once. JSON in, JSON out.
 */
export async function readKeyMaterial(
  gw: CmkGateways,
  request: KeyMaterialRequest,
  settings: Pick<RuleSettings, 'keyVaultDnsSuffix'>,
): Promise<KeyMaterial> {
  void settings; // the refs were validated against the suffix when parsed (hostTrusted)
  const calls = new Calls();
  const trusted = request.keys.filter((r) => r.hostTrusted && r.vaultName);

  // Vaults: names are global; one list per subscription covers every vault in it.
  const wanted = new Map<string, { vaultName: string; vaultUri: string }>();
  for (const r of trusted) {
    const name = (r.vaultName as string).toLowerCase();
    if (!wanted.has(name)) wanted.set(name, { vaultName: name, vaultUri: r.vaultUri });
  }
  const found = wanted.size
    ? await gw.keyVault.findVaults([...wanted.values()], request.subscriptionIds, calls.add)
    : new Map<string, VaultRecord>();
  const vaults: Record<string, VaultMaterial> = {};
  for (const [name, record] of found)
    vaults[name] = { facts: record.facts, accessPolicies: record.accessPolicies };

  const rbacVaults = Object.values(vaults).filter(
    (v) => v.facts.status === 'found' && v.facts.permissionModel === 'rbac' && v.facts.resourceId,
  );
  await mapLimit(rbacVaults, CONCURRENCY, async (v) => {
    const listed = await gw.authorization.listAllForScope(v.facts.resourceId as string);
    if (listed.ok) {
      calls.add('Microsoft.Authorization/roleAssignments/read', listed.value.pages);
      v.roleAssignments = listed.value.assignments;
    } else {
      calls.add('Microsoft.Authorization/roleAssignments/read');
      v.roleAssignmentsRefused = listed.detail;
    }
  });

  // Keys: per distinct (vault, key) the current version once, and each distinct pinned version once.
  const byKey = new Map<string, { vaultResourceId: string; keyName: string; refs: KeyRef[] }>();
  for (const r of trusted) {
    const vault = vaults[(r.vaultName as string).toLowerCase()];
    if (!vault || vault.facts.status !== 'found' || !vault.facts.resourceId) continue;
    const k = `${(r.vaultName as string).toLowerCase()}/${r.keyName.toLowerCase()}`;
    const entry = byKey.get(k) ?? { vaultResourceId: vault.facts.resourceId, keyName: r.keyName, refs: [] };
    entry.refs.push(r);
    byKey.set(k, entry);
  }
  const keys: Record<string, KeyFacts> = {};
  await mapLimit([...byKey.values()], CONCURRENCY, async (entry) => {
    calls.add('Microsoft.KeyVault/vaults/keys/read');
    const current = await gw.keyVault.getKeyCurrent(entry.vaultResourceId, entry.keyName);
    const versions = new Map<string, KeyFacts>();
    for (const ref of entry.refs) {
      if (!ref.keyVersion) {
        keys[keyReferenceKey(ref)] = current;
        continue;
      }
      const v = ref.keyVersion.toLowerCase();
      let facts = versions.get(v);
      if (!facts) {
        // A key that is gone has no versions either: no second 404 to ask for.
        if (current.status === 'notFound') facts = current;
        else {
          calls.add('Microsoft.KeyVault/vaults/keys/versions/read');
          const version = await gw.keyVault.getKeyVersion(entry.vaultResourceId, entry.keyName, v);
          facts = version.status === 'found' ? withRotationPolicyOf(version, current) : version;
        }
        versions.set(v, facts);
      }
      keys[keyReferenceKey(ref)] = facts;
    }
  });

  const identities: Record<string, UserAssignedIdentityFacts> = {};
  await mapLimit(request.userAssignedIdentityIds, CONCURRENCY, async (id) => {
    calls.add('Microsoft.ManagedIdentity/userAssignedIdentities/read');
    identities[id.toLowerCase()] = await gw.identities.getUserAssigned(id);
  });

  const partners: Record<string, PartnerMaterial> = {};
  for (const [id, identity] of Object.entries(request.knownPartners))
    partners[id.toLowerCase()] = { status: 'found', identity };
  await mapLimit(request.partnerNamespaceIds, CONCURRENCY, async (id) => {
    partners[id.toLowerCase()] = await readPartner(gw, id, calls);
  });

  return { vaults, keys, identities, partners, calls: calls.total, callsByOperation: calls.byOperation };
}

async function readPartner(gw: CmkGateways, id: string, calls: Calls): Promise<PartnerMaterial> {
  let parsed: GroupedResourceId;
  try {
    parsed = parseServiceBusNamespaceId(id);
  } catch (e) {
    if (e instanceof ResourceIdError) return { status: 'notFound', detail: `not a namespace id: ${id}` };
    throw e;
  }
  calls.add('Microsoft.ServiceBus/namespaces/read');
  // Refusals come back as values; platform faults are thrown for the caller's retry.
  const ns = await gw.serviceBus.getNamespace(parsed);
  if (ns.ok) return { status: 'found', identity: ns.value.identity };
  const status =
    ns.status === 404 ? 'notFound' : ns.status === 403 || ns.status === 401 ? 'forbidden' : 'unreachable';
  return { status, detail: ns.detail };
}

export { assembleDiagnoseFacts } from '../domain';

/** Both phases for a list of namespaces: their facts in input order, and the material they came from. */
export async function readEstateFacts(
  gw: CmkGateways,
  namespaces: readonly AssessedNamespace[],
  settings: RuleSettings,
  observations: KeyObservations = {},
): Promise<{ facts: DiagnoseFacts[]; material: KeyMaterial }> {
  const material = await readKeyMaterial(gw, keyMaterialRequest(namespaces), settings);
  return {
    facts: namespaces.map((ns) => assembleDiagnoseFacts(ns, material, settings, observations)),
    material,
  };
}
