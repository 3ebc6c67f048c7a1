/**
 * What a Key Vault key event means for the namespaces that use the key or vault (docs/ARCHITECTURE.md
 * "Reactions"): the shared assessment re-read and judged each namespace (NamespaceHealth, one
 * evaluator); this names, per namespace, whether another usable key remains and what to do, and the
 * severity of the whole event. Pure.
 */
import { unknownBecause, type NamespaceHealth } from './health';
import type { CmkVerdict } from './preflight/verdict';

export type KeyEventKind = 'KeyNearExpiry' | 'KeyExpired' | 'VaultAccessPolicyChanged' | 'AuditAlert';

export interface KeyEventImpactEntry {
  namespaceId: string;
  verdict: CmkVerdict;
  ruleIds: string[];
  /** Usable keys other than the event's key (key events) — what keeps the namespace alive. */
  otherUsableKeyIds: string[];
  daysToExpiry?: number;
  inoperableWithinMinutes?: number;
  /** One sentence for an operator. */
  message: string;
}

export interface KeyEventImpact {
  /** critical: a namespace is inoperable; warning: one is at risk or degraded; info: none is. */
  severity: 'critical' | 'warning' | 'info';
  summary: string;
  namespaces: KeyEventImpactEntry[];
}

const SEVERITY: Record<CmkVerdict, number> = {
  inoperable: 3,
  unknown: 2,
  degraded: 2,
  atRisk: 2,
  healthy: 0,
  notEncrypted: 0,
};

/** Whether a configured/usable key id (versioned when pinned) is the given versionless key. */
export function isKeyOf(keyId: string, versionlessKeyId: string): boolean {
  const a = keyId.toLowerCase().replace(/\/+$/, '');
  const b = versionlessKeyId.toLowerCase().replace(/\/+$/, '');
  return a === b || a.startsWith(`${b}/`);
}

export function describeKeyEventImpact(
  kind: KeyEventKind,
  subject: { vaultName: string; versionlessKeyId?: string },
  assessed: readonly NamespaceHealth[],
): KeyEventImpact {
  const what = subject.versionlessKeyId ?? `vault ${subject.vaultName}`;
  const namespaces = assessed.map((h): KeyEventImpactEntry => {
    const others = subject.versionlessKeyId
      ? h.usableKeyIds.filter((k) => !isKeyOf(k, subject.versionlessKeyId!))
      : [];
    const name = h.namespaceId.split('/').pop() ?? h.namespaceId;
    const fix = h.findings.find((f) => h.ruleIds.includes(f.ruleId))?.fix;
    const message =
      h.verdict === 'inoperable'
        ? `${name} is inoperable${h.inoperableWithinMinutes !== undefined ? ` within ≤ ${h.inoperableWithinMinutes} min (the service's key cache)` : ''}: no usable key remains.${fix ? ` ${fix}` : ''}`
        : h.verdict === 'degraded'
          ? `${name} is degraded: a key is unusable, ${others.length ? `${others.join(', ')} keeps it running` : 'another key keeps it running'}.${fix ? ` ${fix}` : ''}`
          : h.verdict === 'atRisk'
            ? `${name} is at risk: a key expires${h.daysToExpiry !== undefined ? ` in ${h.daysToExpiry} day(s)` : ' soon'}; ${others.length ? `another usable key remains (${others.join(', ')})` : 'no other usable key remains'}.${fix ? ` ${fix}` : ''}`
            : h.verdict === 'unknown'
              ? `${name}: its keys could not all be read; no verdict.${unknownBecause(h.findings, h.verdict)
                  .map((why) => ` ${why}`)
                  .join('')}`
              : `${name} is ${h.verdict}.`;
    return {
      namespaceId: h.namespaceId,
      verdict: h.verdict,
      ruleIds: h.ruleIds,
      otherUsableKeyIds: others,
      ...(h.daysToExpiry !== undefined ? { daysToExpiry: h.daysToExpiry } : {}),
      ...(h.inoperableWithinMinutes !== undefined
        ? { inoperableWithinMinutes: h.inoperableWithinMinutes }
        : {}),
      message,
    };
  });
  const worst = Math.max(0, ...namespaces.map((n) => SEVERITY[n.verdict]));
  const severity = worst >= 3 ? 'critical' : worst >= 2 ? 'warning' : 'info';
  const count = (v: CmkVerdict) => namespaces.filter((n) => n.verdict === v).length;
  const parts = (['inoperable', 'degraded', 'atRisk', 'unknown', 'healthy'] as const)
    .filter((v) => count(v) > 0)
    .map((v) => `${count(v)} ${v}`);
  const summary = `${kind} on ${what}: ${namespaces.length} namespace(s) re-assessed${parts.length ? ` — ${parts.join(', ')}` : ''}.`;
  return { severity, summary, namespaces };
}
