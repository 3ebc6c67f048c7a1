/**
 * Blast radius of a hypothetical key change, pure: apply the change to each namespace's fresh
 * diagnose facts and run the same evaluator diagnose uses (`evaluateDiagnosis` → `health`), so the
 * prediction and the verdict after the real change cannot disagree by construction
 * (docs/ARCHITECTURE.md "Blast radius").
 */
import { evaluateDiagnosis, type CmkVerdict, type DiagnoseFacts, type KeySubjectFacts } from './preflight';
import type { CmkKeyReference } from './cmkState';
import { unknownBecause } from './health';
import {
  geoDrPartnerOf,
  namespacesUsingIdentity,
  namespacesUsingKey,
  namespacesUsingVault,
  type IndexedNamespace,
  type KeyIndex,
} from './keyIndex';

export const KEY_CHANGES = ['disable', 'delete', 'expire', 'revokeAccess'] as const;
export type KeyChange = (typeof KEY_CHANGES)[number];

/**
 * What the change is applied to. Every given part must match (a key or a vault; an identity alone or
 * with either): `{ identity, vaultName }` is "this identity's access policy / role on that vault removed".
 */
export interface ImpactTarget {
  /** One key; `keyVersion` narrows disable/expire to that version (default: the current one). */
  key?: { vaultName: string; keyName: string; versionlessKeyId: string; keyVersion?: string };
  /** Every key in one vault (lower case). */
  vaultName?: string;
  /** The encryption identity of the namespaces (principal id, or user-assigned resource id). */
  identity?: { principalId?: string; resourceId?: string };
}

export interface NamespaceImpact {
  namespaceId: string;
  before: CmkVerdict;
  after: CmkVerdict;
  /** The deciding rule ids after the change (CMK-010, CMK-011 …). */
  ruleIds: string[];
  /** The namespace's key ids the change hits. */
  affectedKeyIds: string[];
  /** Keys still usable after the change (the ones a degraded namespace keeps running on). */
  remainingKeyIds: string[];
  /** A deleted key may stay in Service Bus's cache: inoperable within at most this many minutes. */
  inoperableWithinMinutes?: number;
  /** Undetermined: what could not be read, with the fix (the role to grant). */
  couldNotRead?: string[];
}

export interface GeoDrPartnerImpact {
  /** The partner namespace. */
  namespaceId: string;
  alias: string;
  /** The impacted namespace it is paired with. */
  partnerOf: string;
  /** Its verdict after the change; `notIndexed` when the index does not guard it (no CMK). */
  partnerVerdict: CmkVerdict | 'notIndexed';
}

export interface KeyImpact {
  change: KeyChange;
  /** Namespaces with no usable key left (queues and topics unavailable). */
  inoperable: NamespaceImpact[];
  /** Namespaces that keep running on another key (`remainingKeyIds`). */
  degraded: NamespaceImpact[];
  /** Hit, but no honest verdict after the change (some key could not be read). */
  undetermined: NamespaceImpact[];
  /** Hit namespaces whose verdict the change does not move to the above. */
  unaffected: NamespaceImpact[];
  /** Geo-DR partners of the namespaces above (the alias fails over onto, or replicates from, them). */
  geoDrPartners: GeoDrPartnerImpact[];
  /** What the prediction had to assume (e.g. a key's current version was not known). */
  assumptions: string[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

function changed(subject: KeySubjectFacts, change: KeyChange, now: Date): KeySubjectFacts {
  switch (change) {
    case 'revokeAccess':
      return { ...subject, identityHasAccess: false };
    case 'delete':
      // Seen present at this read and gone from now on: the deleted-key cache window starts now.
      return subject.key?.status === 'found'
        ? {
            ...subject,
            key: { status: 'deleted' },
            seen: { lastPresentAt: now.toISOString(), goneSince: now.toISOString() },
          }
        : subject;
    case 'disable':
      return subject.key?.status === 'found'
        ? { ...subject, key: { ...subject.key, enabled: false } }
        : subject;
    case 'expire':
      return subject.key?.status === 'found'
        ? { ...subject, key: { ...subject.key, expiresOn: new Date(now.getTime() - DAY_MS).toISOString() } }
        : subject;
  }
}

/** Current version per versionless key id (lower case), from the facts of versionless references. */
export function currentVersionsOf(estate: readonly DiagnoseFacts[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const facts of estate) {
    const refs = facts.namespace.cmk.encrypted ? facts.namespace.cmk.keys : [];
    refs.forEach((ref, i) => {
      const current = facts.keys[i]?.key?.currentVersion;
      if (!ref.keyVersion && current) out.set(ref.versionlessKeyId.toLowerCase(), current.toLowerCase());
    });
  }
  return out;
}

function identityMatches(facts: DiagnoseFacts, identity: NonNullable<ImpactTarget['identity']>): boolean {
  if (identity.principalId && facts.principalId?.toLowerCase() === identity.principalId.toLowerCase()) {
    return true;
  }
  const cmk = facts.namespace.cmk;
  return (
    identity.resourceId !== undefined &&
    cmk.encrypted &&
    cmk.identity.type === 'UserAssigned' &&
    cmk.identity.resourceId.toLowerCase() === identity.resourceId.toLowerCase()
  );
}

/**
 * Whether a disable/expire reaches this reference. Key Vault disables or expires ONE version (the
 * current one unless named): a namespace pinned to another version keeps working, a versionless one is
 * hit only when the version is the current one. An unknown current version is assumed to be hit.
 */
function versionHit(
  ref: CmkKeyReference,
  target: ImpactTarget,
  current: string | undefined,
  assume: (note: string) => void,
): boolean {
  const named = target.key?.keyVersion;
  if (!ref.keyVersion) {
    if (!named) return true;
    if (current === undefined) {
      assume(`the current version of ${ref.versionlessKeyId} is unknown; assumed to be ${named}`);
      return true;
    }
    return current === named;
  }
  const version = named ?? current;
  if (version === undefined) {
    assume(
      `the current version of ${ref.versionlessKeyId} is unknown; assumed to be the pinned ${ref.keyVersion}`,
    );
    return true;
  }
  return ref.keyVersion === version;
}

/** The facts as they would be after the change; `affectedKeyIds` empty when nothing of the namespace matched. */
export function applyKeyChange(
  facts: DiagnoseFacts,
  target: ImpactTarget,
  change: KeyChange,
  now: Date,
  currentVersions: ReadonlyMap<string, string> = new Map(),
  assume: (note: string) => void = () => undefined,
): { facts: DiagnoseFacts; affectedKeyIds: string[] } {
  const refs = facts.namespace.cmk.encrypted ? facts.namespace.cmk.keys : [];
  const affectedKeyIds: string[] = [];
  if (target.identity && !identityMatches(facts, target.identity)) return { facts, affectedKeyIds };
  // An identity cannot be disabled or deleted "on a key": whatever happens to it, it loses access.
  const effective: KeyChange = target.identity ? 'revokeAccess' : change;
  const keys = facts.keys.map((subject, i) => {
    const ref = refs[i];
    if (!ref) return subject;
    if (target.key && ref.versionlessKeyId.toLowerCase() !== target.key.versionlessKeyId.toLowerCase()) {
      return subject;
    }
    if (target.vaultName && ref.vaultName?.toLowerCase() !== target.vaultName.toLowerCase()) return subject;
    if (
      (effective === 'disable' || effective === 'expire') &&
      !versionHit(ref, target, currentVersions.get(ref.versionlessKeyId.toLowerCase()), assume)
    ) {
      return subject;
    }
    affectedKeyIds.push(ref.keyId);
    return changed(subject, effective, now);
  });
  return { facts: { ...facts, keys }, affectedKeyIds };
}

/** Every namespace the change would make inoperable or degraded, and their Geo-DR partners. */
export function predictKeyImpact(
  estate: readonly DiagnoseFacts[],
  target: ImpactTarget,
  change: KeyChange,
  now: Date,
  currentVersions: ReadonlyMap<string, string> = currentVersionsOf(estate),
): KeyImpact {
  const assumptions = new Set<string>();
  const verdicts = new Map<string, CmkVerdict>();
  const hit: NamespaceImpact[] = [];
  for (const facts of estate) {
    const beforeDiagnosis = evaluateDiagnosis(facts, now);
    const before = beforeDiagnosis.health;
    const applied = applyKeyChange(facts, target, change, now, currentVersions, (n) => assumptions.add(n));
    const afterDiagnosis = applied.affectedKeyIds.length
      ? evaluateDiagnosis(applied.facts, now)
      : beforeDiagnosis;
    const after = afterDiagnosis.health;
    const cached = afterDiagnosis.cacheWindow?.inoperableWithinMinutes;
    const unread = unknownBecause(afterDiagnosis.findings, after.verdict);
    verdicts.set(facts.namespace.id.toLowerCase(), after.verdict);
    if (applied.affectedKeyIds.length === 0) continue;
    hit.push({
      namespaceId: facts.namespace.id,
      before: before.verdict,
      after: after.verdict,
      ruleIds: after.ruleIds,
      affectedKeyIds: applied.affectedKeyIds,
      remainingKeyIds: after.usableKeyIds,
      ...(cached !== undefined ? { inoperableWithinMinutes: cached } : {}),
      ...(unread.length ? { couldNotRead: unread } : {}),
    });
  }
  const inoperable = hit.filter((i) => i.after === 'inoperable');
  const degraded = hit.filter((i) => i.after === 'degraded');
  const undetermined = hit.filter((i) => i.after === 'unknown');
  const unaffected = hit.filter((i) => !['inoperable', 'degraded', 'unknown'].includes(i.after));
  const geoDrPartners: GeoDrPartnerImpact[] = [];
  for (const impact of [...inoperable, ...degraded, ...undetermined]) {
    const ns = estate.find((f) => f.namespace.id === impact.namespaceId)?.namespace;
    const partner = ns?.geoDr?.partnerNamespaceId;
    if (!ns?.geoDr || !partner) continue;
    geoDrPartners.push({
      namespaceId: partner,
      alias: ns.geoDr.alias,
      partnerOf: ns.id,
      partnerVerdict: verdicts.get(partner.toLowerCase()) ?? 'notIndexed',
    });
  }
  return {
    change,
    inoperable,
    degraded,
    undetermined,
    unaffected,
    geoDrPartners,
    assumptions: [...assumptions],
  };
}

/**
 * The indexed namespaces a prediction must read: those the target names (key or vault, narrowed to
 * the identity when one is given) and, to report on them, their indexed Geo-DR partners.
 */
export function impactNamespaces(
  index: KeyIndex,
  target: ImpactTarget,
): { named: IndexedNamespace[]; partners: IndexedNamespace[] } {
  let named = target.key
    ? namespacesUsingKey(index, { vaultName: target.key.vaultName, keyName: target.key.keyName })
    : target.vaultName
      ? namespacesUsingVault(index, target.vaultName)
      : index.namespaces;
  if (target.identity) {
    const who = new Set(namespacesUsingIdentity(index, target.identity).map((n) => n.id.toLowerCase()));
    named = named.filter((n) => who.has(n.id.toLowerCase()));
  }
  const seen = new Set(named.map((n) => n.id.toLowerCase()));
  const partners: IndexedNamespace[] = [];
  for (const ns of named) {
    const partner = geoDrPartnerOf(index, ns);
    if (partner && !seen.has(partner.id.toLowerCase())) {
      seen.add(partner.id.toLowerCase());
      partners.push(partner);
    }
  }
  return { named: [...named], partners };
}
