/**
 * Key material: what a batch read of Key Vault (through ARM) returned for many namespaces at once —
 * each distinct vault once (facts + access policies + one role-assignment list when RBAC), each
 * distinct key (+ pinned version) once — and the pure assembly of one namespace's DiagnoseFacts from
 * it. Diagnose (one namespace) and the guardian's batch reader (thousands) both assemble here, so they
 * judge identically (docs/ARCHITECTURE.md "Batch reads"). JSON-serialisable: the sweep hands it from
 * one activity to the next.
 */
import { plainKeyRef, type KeyFacts, type KeyRef, type NamespaceIdentity } from './cmkState';
import {
  accessPolicyMissingPermissions,
  roleAssignmentsGrantCmkAccess,
  type AccessPolicyFacts,
  type RoleAssignmentFacts,
} from './keyAccess';
import { keyReferenceKey } from './resourceIds';
import type { IndexedNamespace, ListedNamespace } from './keyIndex';
import type {
  DiagnoseFacts,
  KeySubjectFacts,
  NamespaceFacts,
  RuleSettings,
  UserAssignedIdentityFacts,
  VaultFacts,
} from './preflight/facts';

export interface VaultMaterial {
  facts: VaultFacts;
  accessPolicies: AccessPolicyFacts[];
  /** RBAC vaults: every assignment at, above or below the vault scope (one unfiltered list). */
  roleAssignments?: RoleAssignmentFacts[];
  /** RBAC vault whose assignment list was refused (status + code): access is unknown, not denied. */
  roleAssignmentsRefused?: string;
}

/** A Geo-DR partner as far as CMK-012 needs it: its identity. */
export type PartnerMaterial =
  | { status: 'found'; identity: NamespaceIdentity }
  | { status: 'notFound' | 'forbidden' | 'unreachable'; detail: string };

export interface KeyMaterial {
  /** By lower-case vault name. */
  vaults: Record<string, VaultMaterial>;
  /** By `keyReferenceKey(ref)` (host/keys/name/version, lower case; version empty when versionless). */
  keys: Record<string, KeyFacts>;
  /** User-assigned identities whose principal the namespace bodies did not carry, by lower-case id. */
  identities: Record<string, UserAssignedIdentityFacts>;
  /** Geo-DR partners not among the namespaces read, by lower-case namespace id. */
  partners: Record<string, PartnerMaterial>;
  /** ARM requests made (each page counts), total and per operation. */
  calls: number;
  callsByOperation: Record<string, number>;
}

/** What to read: the keys, where vaults are searched first, identities and partners to look up. */
export interface KeyMaterialRequest {
  keys: KeyRef[];
  /** Subscriptions searched for the vaults first (the namespaces' own). */
  subscriptionIds: string[];
  userAssignedIdentityIds: string[];
  /** Geo-DR partners to read (one GET each): only those not among the namespaces assessed. */
  partnerNamespaceIds: string[];
  /** Partners that ARE among the namespaces assessed: their identity is known, nothing to read. */
  knownPartners: Record<string, NamespaceIdentity>;
}

/** A namespace the assembly judges: as listed, as indexed, or as read one by one (diagnose). */
export type AssessedNamespace = ListedNamespace | IndexedNamespace | NamespaceFacts;

/**
 * What must be read for these namespaces: their trusted keys (each distinct ref once), their
 * subscriptions, user-assigned identities without a principal in the body, and Geo-DR partners that
 * are not themselves in the list (CMK-012 needs the partner's identity).
 */
export function keyMaterialRequest(namespaces: readonly AssessedNamespace[]): KeyMaterialRequest {
  const keys = new Map<string, KeyRef>();
  const subs = new Map<string, string>();
  const uais = new Map<string, string>();
  const partners = new Map<string, string>();
  const listed = new Map(namespaces.map((n) => [n.id.toLowerCase(), n] as const));
  const knownPartners: Record<string, NamespaceIdentity> = {};
  for (const ns of namespaces) {
    subs.set(ns.subscriptionId.toLowerCase(), ns.subscriptionId);
    if (!ns.cmk.encrypted) continue;
    for (const k of ns.cmk.keys) {
      if (!k.hostTrusted || !k.vaultName) continue;
      const id = keyReferenceKey(k);
      if (!keys.has(id)) keys.set(id, plainKeyRef(k));
    }
    const enc = ns.cmk.identity;
    if (enc.type === 'UserAssigned' && !attachedPrincipal(ns.identity, enc.resourceId))
      uais.set(enc.resourceId.toLowerCase(), enc.resourceId);
    const partner = ns.geoDr?.partnerNamespaceId;
    if (partner && isPrimary(ns)) {
      const peer = listed.get(partner.toLowerCase());
      if (peer) knownPartners[partner.toLowerCase()] = peer.identity;
      else partners.set(partner.toLowerCase(), partner);
    }
  }
  return {
    keys: [...keys.values()],
    subscriptionIds: [...subs.values()],
    userAssignedIdentityIds: [...uais.values()],
    partnerNamespaceIds: [...partners.values()],
    knownPartners,
  };
}

function isPrimary(ns: Pick<AssessedNamespace, 'geoDr'>): boolean {
  return ns.geoDr?.role === 'Primary' || ns.geoDr?.role === 'PrimaryNotReplicating';
}

function attachedPrincipal(identity: NamespaceIdentity, resourceId: string): string | undefined {
  return identity.userAssigned.find((u) => u.resourceId.toLowerCase() === resourceId.toLowerCase())
    ?.principalId;
}

/** The principal of the namespace's encryption identity, from its body or the identities read. */
export function encryptionPrincipalOf(
  ns: Pick<AssessedNamespace, 'cmk' | 'identity'>,
  identities: Record<string, UserAssignedIdentityFacts> = {},
): string | undefined {
  if (!ns.cmk.encrypted) return undefined;
  const enc = ns.cmk.identity;
  if (enc.type === 'SystemAssigned') return ns.identity.systemAssigned?.principalId;
  return (
    attachedPrincipal(ns.identity, enc.resourceId) ?? identities[enc.resourceId.toLowerCase()]?.principalId
  );
}

/** Whether `principalId` can use the key under the vault's model; undefined = unknown. */
export function principalHasKeyAccess(
  vault: VaultMaterial,
  keyName: string,
  principalId: string | undefined,
): boolean | undefined {
  if (!principalId || vault.facts.status !== 'found' || !vault.facts.resourceId) return undefined;
  if (vault.facts.permissionModel === 'rbac') {
    if (!vault.roleAssignments) return undefined;
    return roleAssignmentsGrantCmkAccess(
      vault.roleAssignments,
      principalId,
      `${vault.facts.resourceId}/keys/${keyName}`,
    );
  }
  return accessPolicyMissingPermissions(vault.accessPolicies, principalId).length === 0;
}

/**
 * What the app has seen of a key over time (persisted by the guardian next to the index): the last
 * instant a read found it, and the earliest instant it was known gone (first read that did not find
 * it, or the deletion time an audit-log alert reported). ARM cannot say when a key was deleted, so
 * this is all the deleted-key cache rule has (docs/ARCHITECTURE.md "Key index").
 */
export interface KeyObservation {
  lastPresentAt?: string;
  goneSince?: string;
}

/** By `keyReferenceKey` of the versionless or pinned reference. */
export type KeyObservations = Record<string, KeyObservation>;

/**
 * Observations after a read at `now`: present → lastPresentAt = now (goneSince cleared); absent →
 * goneSince kept if already set, else the hint's time (audit alert) or now. Other statuses (forbidden,
 * unreachable) say nothing about presence and leave the observation as it was.
 */
export function updateObservations(
  previous: KeyObservations,
  material: Pick<KeyMaterial, 'keys'>,
  now: Date,
  goneHints: Record<string, string> = {},
): KeyObservations {
  const out: KeyObservations = { ...previous };
  const at = now.toISOString();
  for (const [id, key] of Object.entries(material.keys)) {
    const prev = previous[id] ?? {};
    if (key.status === 'found') out[id] = { lastPresentAt: at };
    else if (key.status === 'notFound' || key.status === 'deleted') {
      const hinted = goneHints[id];
      const goneSince = earliest(prev.goneSince, hinted) ?? at;
      out[id] = { ...(prev.lastPresentAt ? { lastPresentAt: prev.lastPresentAt } : {}), goneSince };
    }
  }
  return out;
}

function earliest(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}

/**
 * One namespace's DiagnoseFacts from the batch material (pure). A key whose vault or key is absent
 * from the material stays unread (the PRE-016 guard reports a reader that skipped it).
 */
export function assembleDiagnoseFacts(
  namespace: AssessedNamespace,
  material: KeyMaterial,
  settings: RuleSettings,
  observations: KeyObservations = {},
): DiagnoseFacts {
  const full: NamespaceFacts = {
    ...namespace,
    skuTier: namespace.skuTier ?? '',
    // Entity counts only matter before CMK is enabled; an encrypted namespace is never asked (the
    // service refuses entity lists once its keys are unusable) — as the one-namespace reader does.
    queueCount: 'queueCount' in namespace ? namespace.queueCount : 0,
    topicCount: 'topicCount' in namespace ? namespace.topicCount : 0,
  };
  if (!namespace.cmk.encrypted) return { namespace: full, vaults: [], keys: [], settings };
  const principalId = encryptionPrincipalOf(namespace, material.identities);
  const vaults = new Map<string, VaultFacts>();
  const keys = namespace.cmk.keys.map((ref): KeySubjectFacts => {
    if (!ref.hostTrusted || !ref.vaultName) return {};
    const vault = material.vaults[ref.vaultName.toLowerCase()];
    if (!vault) return {};
    vaults.set(ref.vaultName.toLowerCase(), vault.facts);
    if (vault.facts.status !== 'found' || !vault.facts.resourceId) return {};
    const id = keyReferenceKey(ref);
    const key = material.keys[id];
    if (!key) return {};
    const access = principalHasKeyAccess(vault, ref.keyName, principalId);
    const seen = observations[id];
    return {
      key,
      ...(access !== undefined ? { identityHasAccess: access } : {}),
      ...(seen && (seen.lastPresentAt || seen.goneSince) ? { seen } : {}),
    };
  });
  const partner = geoDrPartnerFacts(namespace, material);
  return {
    namespace: full,
    vaults: [...vaults.values()],
    keys,
    ...(principalId ? { principalId } : {}),
    ...(partner ? { geoDrPartner: partner } : {}),
    settings,
  };
}

/**
 * CMK-012: on a Geo-DR primary, whether the partner's identity (same kind as the primary's encryption
 * identity: its own system-assigned one, or the same user-assigned one attached to it) can use each of
 * the primary's keys. Only primaries are judged: a secondary's own keys are its CMK-008.
 */
function geoDrPartnerFacts(
  namespace: AssessedNamespace,
  material: KeyMaterial,
): DiagnoseFacts['geoDrPartner'] {
  const partnerId = namespace.geoDr?.partnerNamespaceId;
  if (!namespace.cmk.encrypted || !partnerId || !isPrimary(namespace)) return undefined;
  const found = material.partners[partnerId.toLowerCase()];
  if (!found || found.status !== 'found')
    return { namespaceId: partnerId, keys: namespace.cmk.keys.map(() => ({})) };
  const principalId = encryptionPrincipalOf(
    { cmk: namespace.cmk, identity: found.identity },
    material.identities,
  );
  return {
    namespaceId: partnerId,
    ...(principalId ? { principalId } : {}),
    keys: namespace.cmk.keys.map((ref) => {
      const vault = ref.vaultName ? material.vaults[ref.vaultName.toLowerCase()] : undefined;
      const access = vault ? principalHasKeyAccess(vault, ref.keyName, principalId) : undefined;
      return access !== undefined ? { identityHasAccess: access } : {};
    }),
  };
}
