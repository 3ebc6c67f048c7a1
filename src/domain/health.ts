/**
 * A namespace's CMK health as every guardian flow hands it on (to the publisher, to customStatus, to
 * the impact endpoint): the verdict of the one evaluator (`evaluateDiagnosis`) reduced to what a
 * consumer acts on. Pure (docs/ARCHITECTURE.md "Key index").
 */
import type { Diagnosis, Finding } from './preflight';
import type { CmkVerdict } from './preflight/verdict';

export interface NamespaceHealth {
  namespaceId: string;
  location?: string;
  verdict: CmkVerdict;
  /** The rule ids that decided the verdict (deciding one first), e.g. ['CMK-010']. */
  ruleIds: string[];
  /** Key ids the namespace can use right now. */
  usableKeyIds: string[];
  /** Every key id the namespace is configured with (versioned when pinned). */
  keyIds: string[];
  /** Whole days until the soonest expiry among the usable keys (negative never: those are unusable). */
  daysToExpiry?: number;
  /**
   * Set when every usable key is gone but the service may still hold one in its cache: the
   * namespace becomes inoperable within at most this many minutes (CMK-010 `cached`, docs/ARCHITECTURE.md
   * "Key index"). The verdict is `inoperable` then too — it is the deadline, not a reprieve.
   */
  inoperableWithinMinutes?: number;
  findings: Finding[];
}

/** Health from a diagnosis (the only way to build one, so all flows judge alike). */
export function namespaceHealth(diagnosis: Diagnosis, location?: string): NamespaceHealth {
  const usable = new Set(diagnosis.health.usableKeyIds);
  const expiries = diagnosis.keys
    .filter((k) => usable.has(k.keyId) && k.health?.daysToExpiry !== undefined)
    .map((k) => k.health?.daysToExpiry as number);
  const cached = diagnosis.cacheWindow?.inoperableWithinMinutes;
  return {
    namespaceId: diagnosis.namespaceId,
    ...(location !== undefined ? { location } : {}),
    verdict: diagnosis.health.verdict,
    ruleIds: diagnosis.health.ruleIds,
    usableKeyIds: diagnosis.health.usableKeyIds,
    keyIds: diagnosis.keys.map((k) => k.keyId),
    ...(expiries.length ? { daysToExpiry: Math.min(...expiries) } : {}),
    ...(cached !== undefined ? { inoperableWithinMinutes: cached } : {}),
    findings: diagnosis.findings,
  };
}

/** The rules that report what could not be read (a vault, a key): the reasons a verdict is unknown. */
const UNREAD_RULES: ReadonlySet<string> = new Set(['PRE-011', 'PRE-012']);

/**
 * Why a verdict is `unknown`, in the operator's words: each unread vault or key with its fix (the
 * role to grant, with the command). Empty for any other verdict — every flow that summarises health
 * (key watch, reactions, blast radius) shows it, so "no verdict" always says what to change.
 */
export function unknownBecause(findings: readonly Finding[], verdict: CmkVerdict): string[] {
  if (verdict !== 'unknown') return [];
  return [
    ...new Set(
      findings
        .filter((f) => UNREAD_RULES.has(f.ruleId))
        // `fix` already ends with the command when there is one.
        .map((f) => `${f.message} ${f.fix}`),
    ),
  ];
}
