/**
 * The one verdict on a namespace's CMK health, derived from the diagnosis findings — the same rules
 * (CMK-010, CMK-011, CMK-005) diagnose reports, never a second copy of them (docs/ARCHITECTURE.md
 * "Rules"). Pure: the findings and key subjects come from `evaluateDiagnosis`.
 */
import type { Finding } from './rule';

export type CmkVerdict =
  /** Every key usable, none expiring within the warning window. */
  | 'healthy'
  /** Usable, but a key expires within the warning window (CMK-005). */
  | 'atRisk'
  /** A key is unusable while at least one other usable key remains (CMK-011). */
  | 'degraded'
  /** No usable key at all (CMK-010): queues and topics are unavailable. */
  | 'inoperable'
  /** Some key could not be read and none is known usable: no verdict can be given honestly. */
  | 'unknown'
  /** The namespace does not use customer-managed keys. */
  | 'notEncrypted';

/** Verdict rules as data, most severe first: the first rule with a finding decides. */
export const VERDICT_RULES: readonly { ruleId: string; verdict: CmkVerdict }[] = [
  { ruleId: 'CMK-010', verdict: 'inoperable' },
  { ruleId: 'CMK-011', verdict: 'degraded' },
  { ruleId: 'CMK-005', verdict: 'atRisk' },
];

export interface CmkHealthVerdict {
  verdict: CmkVerdict;
  /** The rule ids that decided (the deciding one first, then any lesser verdict rule that also fired). */
  ruleIds: string[];
  /** Key ids the namespace can still use right now. */
  usableKeyIds: string[];
}

/**
 * Verdict from the findings and per-key usability of one diagnosis. `unknown` when no rule decided
 * and some key's usability is unknown (unreadable vault or key) — unknown is not unusable, and not
 * healthy either.
 */
export function cmkVerdict(
  encrypted: boolean,
  findings: readonly Finding[],
  keys: readonly { keyId: string; usability: 'usable' | 'unusable' | 'unknown' }[],
): CmkHealthVerdict {
  const usableKeyIds = keys.filter((k) => k.usability === 'usable').map((k) => k.keyId);
  if (!encrypted) return { verdict: 'notEncrypted', ruleIds: [], usableKeyIds };
  const fired = VERDICT_RULES.filter((r) => findings.some((f) => f.ruleId === r.ruleId));
  const deciding = fired[0];
  if (deciding) return { verdict: deciding.verdict, ruleIds: fired.map((r) => r.ruleId), usableKeyIds };
  if (keys.some((k) => k.usability !== 'usable')) return { verdict: 'unknown', ruleIds: [], usableKeyIds };
  return { verdict: 'healthy', ruleIds: [], usableKeyIds };
}
