/**
 * The key index: which CMK namespaces use which Key Vault key, vault and identity — built from ONE
 * ARM list per subscription (docs/ARCHITECTURE.md "Key index"), persisted by the app, and looked up
 * by every guardian flow to know where to look. Pure: building and lookups only; reading Azure and
 * storing the blob are `src/azure`'s job.
 *
 * The index is a hint, never evidence: every flow re-reads the truth before judging.
 */
import type { CmkKeyReference, CmkState, NamespaceIdentity } from './cmkState';
import type { GeoDrRole, NamespaceFacts } from './preflight/facts';

/** One CMK namespace as the index keeps it. */
export interface IndexedNamespace {
  /** Normalised ARM id. */
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location?: string;
  /** ARM sku.tier as listed (`Premium`); kept so the evaluator judges the index like a GET. */
  skuTier?: string;
  identity: NamespaceIdentity;
  /** Always `encrypted: true` in a built index (only CMK namespaces are indexed). */
  cmk: CmkState;
  geoDr?: { alias: string; role: GeoDrRole; partnerNamespaceId?: string };
}

export type SubscriptionListingStatus = 'listed' | 'forbidden' | 'failed';

export interface IndexedSubscription {
  subscriptionId: string;
  status: SubscriptionListingStatus;
  /** Why the list was refused or failed (status + code), for the operator. */
  detail?: string;
  /**
   * When this refresh could not list the subscription, its namespaces were carried over from the
   * previous index (built at this instant) rather than dropped: a transient ARM fault must not stop
   * guarding them.
   */
  carriedOverFrom?: string;
}

export interface KeyIndex {
  version: 1;
  /** ISO 8601 instant the lists were read. */
  builtAt: string;
  subscriptions: IndexedSubscription[];
  /** CMK namespaces only, sorted by id. */
  namespaces: IndexedNamespace[];
}

/** What one subscription's ARM list produced (namespaces only when `listed`). */
export interface SubscriptionListing {
  subscriptionId: string;
  status: SubscriptionListingStatus;
  detail?: string;
  namespaces?: readonly ListedNamespace[];
}

/** A namespace as the subscription list returns it (no entity counts: those need a call per namespace). */
export type ListedNamespace = Omit<NamespaceFacts, 'queueCount' | 'topicCount'>;

/** A key as lookups name it: vault name (first DNS label) and key name, both case-insensitive. */
export interface KeyName {
  vaultName: string;
  keyName: string;
}

export interface IdentitySelector {
  principalId?: string;
  /** ARM id of a user-assigned identity. */
  resourceId?: string;
}

/**
 * Builds the index from this refresh's subscription lists. Non-CMK namespaces are dropped; a namespace
 * listed twice (same id, any case) is kept once. A subscription that is not `listed` this time keeps
 * the namespaces `previous` had for it (marked `carriedOverFrom`), so one failed list does not blind
 * the key watch to a whole subscription. With `keepUnlisted` (a partial refresh), subscriptions of
 * `previous` that were not listed this time are kept exactly as they were.
 */
export function buildKeyIndex(
  listings: readonly SubscriptionListing[],
  builtAt: string,
  previous?: KeyIndex,
  options: { keepUnlisted?: boolean } = {},
): KeyIndex {
  const byId = new Map<string, IndexedNamespace>();
  const subscriptions: IndexedSubscription[] = [];
  const seenSubs = new Set<string>();
  for (const l of listings) {
    const subKey = l.subscriptionId.toLowerCase();
    if (seenSubs.has(subKey)) continue;
    seenSubs.add(subKey);
    const entry: IndexedSubscription = {
      subscriptionId: l.subscriptionId,
      status: l.status,
      ...(l.detail !== undefined ? { detail: l.detail } : {}),
    };
    if (l.status === 'listed') {
      for (const ns of l.namespaces ?? []) {
        if (!ns.cmk.encrypted) continue;
        const key = ns.id.toLowerCase();
        if (!byId.has(key)) byId.set(key, toIndexedNamespace(ns));
      }
    } else if (previous) {
      const kept = previous.namespaces.filter((n) => n.subscriptionId.toLowerCase() === subKey);
      if (kept.length) {
        const prevEntry = previous.subscriptions.find((s) => s.subscriptionId.toLowerCase() === subKey);
        entry.carriedOverFrom = prevEntry?.carriedOverFrom ?? previous.builtAt;
        for (const n of kept) if (!byId.has(n.id.toLowerCase())) byId.set(n.id.toLowerCase(), n);
      }
    }
    subscriptions.push(entry);
  }
  // A partial refresh (one subscription after an enable) keeps every other subscription as it was.
  if (previous && options.keepUnlisted) {
    for (const prev of previous.subscriptions) {
      const subKey = prev.subscriptionId.toLowerCase();
      if (seenSubs.has(subKey)) continue;
      seenSubs.add(subKey);
      subscriptions.push(prev);
      for (const n of previous.namespaces)
        if (n.subscriptionId.toLowerCase() === subKey && !byId.has(n.id.toLowerCase()))
          byId.set(n.id.toLowerCase(), n);
    }
  }
  const namespaces = [...byId.values()].sort((a, b) => compareIds(a.id, b.id));
  return { version: 1, builtAt, subscriptions, namespaces };
}

/** The index entry for one listed namespace (drops fields the index does not keep). */
export function toIndexedNamespace(ns: ListedNamespace): IndexedNamespace {
  return {
    id: ns.id,
    subscriptionId: ns.subscriptionId,
    resourceGroup: ns.resourceGroup,
    name: ns.name,
    ...(ns.location !== undefined ? { location: ns.location } : {}),
    skuTier: ns.skuTier,
    identity: ns.identity,
    cmk: ns.cmk,
    ...(ns.geoDr
      ? {
          geoDr: {
            alias: ns.geoDr.alias,
            role: ns.geoDr.role,
            ...(ns.geoDr.partnerNamespaceId !== undefined
              ? { partnerNamespaceId: ns.geoDr.partnerNamespaceId }
              : {}),
          },
        }
      : {}),
  };
}

function compareIds(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The vault name of a key reference for lookups: only references under the cloud's Key Vault suffix
 * have one (`KeyRef.vaultName`, the host's first label). A reference to a foreign host matches no
 * lookup and is never in `distinctKeys`/`distinctVaults`: the app must not call it.
 */
function vaultNameOf(k: CmkKeyReference): string | undefined {
  return k.hostTrusted && k.vaultName ? k.vaultName.toLowerCase() : undefined;
}

function keysOf(ns: IndexedNamespace): CmkKeyReference[] {
  return ns.cmk.encrypted ? ns.cmk.keys : [];
}

/** Every indexed namespace that lists the key (any version, pinned or not). Case-insensitive. */
export function namespacesUsingKey(index: KeyIndex, key: KeyName): IndexedNamespace[] {
  const vault = key.vaultName.toLowerCase();
  const name = key.keyName.toLowerCase();
  return index.namespaces.filter((ns) =>
    keysOf(ns).some((k) => vaultNameOf(k) === vault && k.keyName.toLowerCase() === name),
  );
}

/** Every indexed namespace with at least one key in the vault. Case-insensitive. */
export function namespacesUsingVault(index: KeyIndex, vaultName: string): IndexedNamespace[] {
  const vault = vaultName.toLowerCase();
  return index.namespaces.filter((ns) => keysOf(ns).some((k) => vaultNameOf(k) === vault));
}

/**
 * Every indexed namespace whose ENCRYPTION identity is the given one (the identity that unwraps the
 * keys; other identities attached to the namespace do not matter for CMK). A principal id matches the
 * system-assigned principal or the principal of the attached user-assigned identity used for
 * encryption; a resource id matches the user-assigned identity used for encryption.
 */
export function namespacesUsingIdentity(index: KeyIndex, who: IdentitySelector): IndexedNamespace[] {
  const principal = who.principalId?.toLowerCase();
  const resource = who.resourceId?.toLowerCase();
  if (!principal && !resource) return [];
  return index.namespaces.filter((ns) => {
    const id = encryptionIdentityOf(ns);
    if (!id) return false;
    return (
      (principal !== undefined && id.principalId?.toLowerCase() === principal) ||
      (resource !== undefined && id.resourceId?.toLowerCase() === resource)
    );
  });
}

/** The encryption identity of an indexed namespace: its principal id when known, resource id when user-assigned. */
export function encryptionIdentityOf(
  ns: IndexedNamespace,
): { type: 'SystemAssigned' | 'UserAssigned'; principalId?: string; resourceId?: string } | undefined {
  if (!ns.cmk.encrypted) return undefined;
  const id = ns.cmk.identity;
  if (id.type === 'SystemAssigned') {
    const principalId = ns.identity.systemAssigned?.principalId;
    return { type: 'SystemAssigned', ...(principalId ? { principalId } : {}) };
  }
  const attached = ns.identity.userAssigned.find(
    (u) => u.resourceId.toLowerCase() === id.resourceId.toLowerCase(),
  );
  return {
    type: 'UserAssigned',
    resourceId: id.resourceId,
    ...(attached?.principalId ? { principalId: attached.principalId } : {}),
  };
}

/** One distinct key of the index (vault + key name), with the pinned versions namespaces name. */
export interface IndexedKey {
  vaultName: string;
  vaultUri: string;
  keyName: string;
  /** `https://{vault}.{suffix}/keys/{name}` as first seen. */
  versionlessKeyId: string;
  /** Lower-case pinned versions some namespace names (sorted); empty when all follow rotation. */
  pinnedVersions: string[];
  /** Whether some namespace references the key versionless (follows rotation). */
  versionless: boolean;
  namespaceIds: string[];
}

/** Distinct trusted keys across the index (vault + key name, case-insensitive), sorted. */
export function distinctKeys(index: KeyIndex): IndexedKey[] {
  const out = new Map<string, IndexedKey>();
  for (const ns of index.namespaces) {
    for (const k of keysOf(ns)) {
      const vaultName = vaultNameOf(k);
      if (!vaultName) continue;
      const key = `${vaultName}/${k.keyName.toLowerCase()}`;
      let e = out.get(key);
      if (!e) {
        e = {
          vaultName,
          vaultUri: k.vaultUri,
          keyName: k.keyName,
          versionlessKeyId: k.versionlessKeyId,
          pinnedVersions: [],
          versionless: false,
          namespaceIds: [],
        };
        out.set(key, e);
      }
      if (k.keyVersion) {
        const v = k.keyVersion.toLowerCase();
        if (!e.pinnedVersions.includes(v)) e.pinnedVersions.push(v);
      } else e.versionless = true;
      if (!e.namespaceIds.includes(ns.id)) e.namespaceIds.push(ns.id);
    }
  }
  return [...out.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, e]) => ({ ...e, pinnedVersions: [...e.pinnedVersions].sort() }));
}

/** One distinct trusted vault of the index. */
export interface IndexedVault {
  vaultName: string;
  vaultUri: string;
  namespaceIds: string[];
}

/** Distinct trusted vaults across the index (case-insensitive), sorted by name. */
export function distinctVaults(index: KeyIndex): IndexedVault[] {
  const out = new Map<string, IndexedVault>();
  for (const ns of index.namespaces) {
    for (const k of keysOf(ns)) {
      const vaultName = vaultNameOf(k);
      if (!vaultName) continue;
      let e = out.get(vaultName);
      if (!e) {
        e = { vaultName, vaultUri: k.vaultUri, namespaceIds: [] };
        out.set(vaultName, e);
      }
      if (!e.namespaceIds.includes(ns.id)) e.namespaceIds.push(ns.id);
    }
  }
  return [...out.values()].sort((a, b) =>
    a.vaultName < b.vaultName ? -1 : a.vaultName > b.vaultName ? 1 : 0,
  );
}

/** Which namespaces a guardian flow asks about (ASSESS_NAMESPACES input; any field may combine). */
export interface NamespaceSelector {
  keys?: KeyName[];
  vaults?: string[];
  identities?: IdentitySelector[];
  namespaceIds?: string[];
  all?: true;
}

/**
 * The indexed namespaces a selector names (union of its parts, each once, index order). Namespace ids
 * not in the index are returned separately: the caller decides whether to read them anyway.
 */
export function selectNamespaces(
  index: KeyIndex,
  selector: NamespaceSelector,
): { namespaces: IndexedNamespace[]; unindexedIds: string[] } {
  if (selector.all) return { namespaces: [...index.namespaces], unindexedIds: [] };
  const chosen = new Set<string>();
  const add = (list: readonly IndexedNamespace[]): void =>
    list.forEach((n) => chosen.add(n.id.toLowerCase()));
  for (const k of selector.keys ?? []) add(namespacesUsingKey(index, k));
  for (const v of selector.vaults ?? []) add(namespacesUsingVault(index, v));
  for (const i of selector.identities ?? []) add(namespacesUsingIdentity(index, i));
  const indexed = new Set(index.namespaces.map((n) => n.id.toLowerCase()));
  const unindexedIds: string[] = [];
  for (const id of selector.namespaceIds ?? []) {
    const key = id.toLowerCase();
    if (indexed.has(key)) chosen.add(key);
    else if (!unindexedIds.some((u) => u.toLowerCase() === key)) unindexedIds.push(id);
  }
  return { namespaces: index.namespaces.filter((n) => chosen.has(n.id.toLowerCase())), unindexedIds };
}

/** The Geo-DR partner of an indexed namespace, when the partner is itself indexed. */
export function geoDrPartnerOf(index: KeyIndex, ns: IndexedNamespace): IndexedNamespace | undefined {
  const partner = ns.geoDr?.partnerNamespaceId?.toLowerCase();
  return partner ? index.namespaces.find((n) => n.id.toLowerCase() === partner) : undefined;
}
