/**
 * Blast radius of a hypothetical key change, pure: apply the change to each namespace's fresh
 * diagnose facts and run the same evaluator diagnose uses (`evaluateDiagnosis` → `health`), so the
 * prediction and the verdict after the real change cannot disagree by construction.
 */
import { evaluateDiagnosis, type CmkVerdict, type DiagnoseFacts, type KeySubjectFacts } from './preflight';

export type KeyChange = 'disable' | 'delete' | 'expire' | 'revokeAccess';

/** What the change is applied to: one key (versionless id), every key of a vault, or one identity. */
export type ImpactTarget = { versionlessKeyId: string } | { vaultName: string } | { principalId: string };

export interface NamespaceImpact {
  namespaceId: string;
  before: CmkVerdict;
  after: CmkVerdict;
  /** Keys still usable after the change (the ones a degraded namespace keeps running on). */
  remainingKeyIds: string[];
}

export interface KeyImpact {
  inoperable: NamespaceImpact[];
  degraded: NamespaceImpact[];
  /** Geo-DR partners of the namespaces above (the alias fails over onto, or replicates from, them). */
  geoDrPartners: { namespaceId: string; alias: string; partnerOf: string; partnerVerdict: CmkVerdict }[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

function changed(subject: KeySubjectFacts, change: KeyChange, now: Date): KeySubjectFacts {
  switch (change) {
    case 'revokeAccess':
      return { ...subject, identityHasAccess: false };
    case 'delete':
      return { ...subject, key: { status: 'deleted' } };
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

/** The facts as they would be after the change; `touched` false when nothing of the namespace matched. */
export function applyKeyChange(
  facts: DiagnoseFacts,
  target: ImpactTarget,
  change: KeyChange,
  now: Date,
): { facts: DiagnoseFacts; touched: boolean } {
  const refs = facts.namespace.cmk.encrypted ? facts.namespace.cmk.keys : [];
  let touched = false;
  const keys = facts.keys.map((subject, i) => {
    const ref = refs[i];
    if (!ref) return subject;
    const hit =
      'versionlessKeyId' in target
        ? ref.versionlessKeyId.toLowerCase() === target.versionlessKeyId.toLowerCase()
        : 'vaultName' in target
          ? ref.vaultName?.toLowerCase() === target.vaultName.toLowerCase()
          : facts.principalId?.toLowerCase() === target.principalId.toLowerCase();
    if (!hit) return subject;
    touched = true;
    // An identity cannot be disabled or deleted "on a key": whatever happens to it, it loses access.
    return 'principalId' in target ? changed(subject, 'revokeAccess', now) : changed(subject, change, now);
  });
  return { facts: { ...facts, keys }, touched };
}

/** Every namespace the change would make inoperable or degraded, and their Geo-DR partners. */
export function assessKeyImpact(
  estate: readonly DiagnoseFacts[],
  target: ImpactTarget,
  change: KeyChange,
  now: Date,
): KeyImpact {
  const verdicts = new Map<string, CmkVerdict>();
  const impacts: NamespaceImpact[] = [];
  for (const facts of estate) {
    const before = evaluateDiagnosis(facts, now).health;
    const applied = applyKeyChange(facts, target, change, now);
    const after = applied.touched ? evaluateDiagnosis(applied.facts, now).health : before;
    verdicts.set(facts.namespace.id.toLowerCase(), after.verdict);
    if (applied.touched && (after.verdict === 'inoperable' || after.verdict === 'degraded')) {
      impacts.push({
        namespaceId: facts.namespace.id,
        before: before.verdict,
        after: after.verdict,
        remainingKeyIds: after.usableKeyIds,
      });
    }
  }
  const geoDrPartners: KeyImpact['geoDrPartners'] = [];
  for (const impact of impacts) {
    const ns = estate.find((f) => f.namespace.id === impact.namespaceId)?.namespace;
    const partner = ns?.geoDr?.partnerNamespaceId;
    if (!ns?.geoDr || !partner) continue;
    geoDrPartners.push({
      namespaceId: partner,
      alias: ns.geoDr.alias,
      partnerOf: ns.id,
      partnerVerdict: verdicts.get(partner.toLowerCase()) ?? 'unknown',
    });
  }
  return {
    inoperable: impacts.filter((i) => i.after === 'inoperable'),
    degraded: impacts.filter((i) => i.after === 'degraded'),
    geoDrPartners,
  };
}
