/**
 * The evaluators: run the catalogue over the facts and return ALL findings at once, so an operator
 * fixes everything in one pass. Pure; a dry run and the real run see the same verdict.
 */
import {
  evaluateKeyHealth,
  sameEncryptionIdentity,
  sameKeySet,
  type CmkState,
  type KeyHealth,
  type KeyRef,
} from '../cmkState';
import { PREFLIGHT_RULES } from './catalogue';
import type { DiagnoseFacts, EnablePreflightFacts, KeySubjectFacts, RuleSettings, VaultFacts } from './facts';
import {
  deletedKeyCacheUntil,
  usability,
  type Finding,
  type KeySubject,
  type Params,
  type PreflightRule,
  type RequestRuleContext,
  type RuleContext,
  type Violation,
} from './rule';
import { cmkVerdict, type CmkHealthVerdict } from './verdict';

function fill(template: string, params: Params, ruleId: string): string {
  return template.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`Rule ${ruleId}: no value for {${name}}`);
    return String(value);
  });
}

function toFinding(rule: PreflightRule, v: Violation, subject: Finding['subject']): Finding {
  const template = rule.templates[v.variant ?? 'default'];
  if (!template) throw new Error(`Rule ${rule.id}: no template for variant '${v.variant ?? 'default'}'`);
  const command = template.command !== undefined ? fill(template.command, v.params, rule.id) : undefined;
  const fixText = fill(template.fix, v.params, rule.id);
  return {
    ruleId: rule.id,
    severity: rule.severity,
    blocks: rule.severity !== 'warning',
    title: rule.title,
    message: fill(template.message, v.params, rule.id),
    fix: command !== undefined ? `${fixText} ${command}` : fixText,
    ...(command !== undefined ? { command } : {}),
    subject,
  };
}

function buildSubjects(
  refs: readonly KeyRef[],
  facts: readonly KeySubjectFacts[],
  vaults: readonly VaultFacts[],
  now: Date,
  warningDays: number,
): KeySubject[] {
  return refs.map((ref, index) => {
    const f = facts[index] ?? {};
    const vault = ref.vaultName
      ? vaults.find((v) => v.vaultName.toLowerCase() === ref.vaultName?.toLowerCase())
      : undefined;
    return {
      index,
      ref,
      facts: f,
      ...(vault ? { vault } : {}),
      ...(f.key ? { health: evaluateKeyHealth(f.key, now, warningDays) } : {}),
    };
  });
}

function runRules(ctx: RuleContext): Finding[] {
  const findings: Finding[] = [];
  for (const rule of PREFLIGHT_RULES) {
    if (!rule.modes.includes(ctx.mode)) continue;
    if (rule.skipWhenAlreadyConfigured && ctx.alreadyConfigured) continue;
    if (rule.subject === 'namespace') {
      const v = rule.check(ctx);
      if (v) findings.push(toFinding(rule, v, { kind: 'namespace', id: ctx.namespaceId }));
    } else if (rule.subject === 'vault') {
      for (const vault of ctx.vaults) {
        const v = rule.check(vault, ctx);
        if (v) findings.push(toFinding(rule, v, { kind: 'vault', id: vault.vaultUri }));
      }
    } else {
      for (const key of ctx.subjects) {
        const v = rule.check(key, ctx);
        if (v) findings.push(toFinding(rule, v, { kind: 'key', id: key.ref.keyId, keyIndex: key.index }));
      }
    }
  }
  return findings;
}

/** Vaults that the keys reference, in key order, each once (facts listed for other vaults are ignored). */
function referencedVaults(subjects: readonly KeySubject[]): VaultFacts[] {
  const seen = new Set<string>();
  const out: VaultFacts[] = [];
  for (const s of subjects) {
    if (s.vault && !seen.has(s.vault.vaultName.toLowerCase())) {
      seen.add(s.vault.vaultName.toLowerCase());
      out.push(s.vault);
    }
  }
  return out;
}

/** Whether the namespace already has CMK exactly as requested (same keys and versions, same identity, infra satisfied). */
export function isAlreadyConfigured(cmk: CmkState, request: EnablePreflightFacts['request']): boolean {
  return (
    cmk.encrypted &&
    sameKeySet(cmk.keys, request.keys) &&
    sameEncryptionIdentity(cmk.identity, request.identity) &&
    (!request.requireInfrastructureEncryption || cmk.requireInfrastructureEncryption)
  );
}

/**
 * Every enable-preflight finding for the facts, at once. Blocking findings (errors) mean nothing
 * may be written; warnings are reported alongside the plan.
 */
export function evaluatePreflight(facts: EnablePreflightFacts, now: Date): Finding[] {
  const subjects = buildSubjects(
    facts.request.keys,
    facts.keys,
    facts.vaults,
    now,
    facts.settings.keyExpiryWarningDays,
  );
  return runRules({
    mode: 'enable',
    now,
    namespaceId: facts.namespace.id,
    namespace: facts.namespace,
    subjects,
    vaults: referencedVaults(subjects),
    settings: facts.settings,
    request: facts.request,
    ...(facts.userAssignedIdentity ? { userAssignedIdentity: facts.userAssignedIdentity } : {}),
    alreadyConfigured: isAlreadyConfigured(facts.namespace.cmk, facts.request),
  });
}

/**
 * The enable findings known from the request alone (rules with `reads: 'request'`: key count,
 * duplicates, foreign Key Vault host) — the same finding objects the full preflight reports for them,
 * computed before any Azure read.
 */
export function evaluateRequestFindings(
  namespaceId: string,
  request: EnablePreflightFacts['request'],
  settings: RuleSettings,
  now: Date,
): Finding[] {
  const ctx: RequestRuleContext = {
    mode: 'enable',
    now,
    namespaceId,
    subjects: request.keys.map((ref, index) => ({ index, ref })),
    settings,
    request,
  };
  const findings: Finding[] = [];
  for (const rule of PREFLIGHT_RULES) {
    if (rule.reads !== 'request' || !rule.modes.includes(ctx.mode)) continue;
    if (rule.subject === 'namespace') {
      const v = rule.check(ctx);
      if (v) findings.push(toFinding(rule, v, { kind: 'namespace', id: namespaceId }));
    } else {
      for (const key of ctx.subjects) {
        const v = rule.check(key, ctx);
        if (v) findings.push(toFinding(rule, v, { kind: 'key', id: key.ref.keyId, keyIndex: key.index }));
      }
    }
  }
  return findings;
}

export interface Diagnosis {
  namespaceId: string;
  cmk: CmkState;
  keys: {
    keyId: string;
    vaultName?: string;
    pinned: boolean;
    health?: KeyHealth;
    identityHasAccess?: boolean;
  }[];
  /** Usable keys / configured keys (0/0 when not encrypted). */
  usableKeys: number;
  /** The namespace's CMK health verdict, decided by the same findings (see verdict.ts). */
  health: CmkHealthVerdict;
  /**
   * Set when no key is usable but a deleted one may still be in Service Bus's cache (CMK-010
   * `cached`): the latest instant the namespace keeps working, and the minutes left until then.
   */
  cacheWindow?: { until: string; inoperableWithinMinutes: number; keyIds: string[] };
  findings: Finding[];
}

/** Diagnose one namespace now: its CMK state, each key's health and access, and every finding. */
export function evaluateDiagnosis(facts: DiagnoseFacts, now: Date): Diagnosis {
  const refs = facts.namespace.cmk.encrypted ? facts.namespace.cmk.keys : [];
  const subjects = buildSubjects(refs, facts.keys, facts.vaults, now, facts.settings.keyExpiryWarningDays);
  const findings = runRules({
    mode: 'diagnose',
    now,
    namespaceId: facts.namespace.id,
    namespace: facts.namespace,
    subjects,
    vaults: referencedVaults(subjects),
    settings: facts.settings,
    ...(facts.principalId ? { principalId: facts.principalId } : {}),
    ...(facts.geoDrPartner ? { geoDrPartner: facts.geoDrPartner } : {}),
    alreadyConfigured: false,
  });
  const cacheWindow = findings.some((f) => f.ruleId === 'CMK-010')
    ? cacheWindowOf(subjects, now, facts.settings)
    : undefined;
  return {
    namespaceId: facts.namespace.id,
    cmk: facts.namespace.cmk,
    keys: subjects.map((s) => ({
      keyId: s.ref.keyId,
      ...(s.ref.vaultName ? { vaultName: s.ref.vaultName } : {}),
      pinned: s.ref.keyVersion !== undefined,
      ...(s.health ? { health: s.health } : {}),
      ...(s.facts.identityHasAccess !== undefined ? { identityHasAccess: s.facts.identityHasAccess } : {}),
    })),
    usableKeys: subjects.filter((s) => usability(s) === 'usable').length,
    health: cmkVerdict(
      facts.namespace.cmk.encrypted,
      findings,
      subjects.map((s) => ({ keyId: s.ref.keyId, usability: usability(s) })),
    ),
    ...(cacheWindow ? { cacheWindow } : {}),
    findings,
  };
}

function cacheWindowOf(
  subjects: readonly KeySubject[],
  now: Date,
  settings: RuleSettings,
): Diagnosis['cacheWindow'] {
  const cached = subjects
    .map((k) => ({ keyId: k.ref.keyId, until: deletedKeyCacheUntil(k, { now, settings }) }))
    .filter((c): c is { keyId: string; until: number } => c.until !== undefined);
  if (!cached.length) return undefined;
  const until = Math.max(...cached.map((c) => c.until));
  return {
    until: new Date(until).toISOString(),
    inoperableWithinMinutes: Math.ceil((until - now.getTime()) / 60_000),
    keyIds: cached.map((c) => c.keyId),
  };
}

/** True when any finding blocks enable. */
export function hasBlockingFindings(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.blocks);
}
