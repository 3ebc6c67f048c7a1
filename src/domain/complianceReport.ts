/**
 * The compliance report a sweep stores (JSON, `schemaVersion: 1`) and the pure views of it the report
 * endpoints serve: summary counts, CSV rows, the key-expiry timeline and the trend over the stored
 * history (docs/ARCHITECTURE.md "Compliance report"). Findings and verdicts are the evaluator's own
 * (`Finding`, `CmkVerdict` from ./preflight), never a second copy. No I/O, no clock: every instant is
 * passed in.
 */
import type { CmkVerdict, Diagnosis, Finding, GeoDrRole, NamespaceFacts, Severity } from './preflight';
import type { KeyHealth } from './cmkState';

export const COMPLIANCE_REPORT_SCHEMA_VERSION = 1;

export const CMK_VERDICTS: readonly CmkVerdict[] = [
  'inoperable',
  'degraded',
  'atRisk',
  'unknown',
  'notEncrypted',
  'healthy',
];
export const SEVERITIES: readonly Severity[] = ['critical', 'error', 'warning'];

/** How the sweep was started. */
export type SweepTrigger = 'schedule' | 'onDemand' | 'startup';

/** One subscription in scope and what the sweep could do with it. */
export interface ReportSubscription {
  subscriptionId: string;
  /** `assessed`: listed and evaluated; `skipped`: could not be listed (see the couldNotAssess entry). */
  status: 'assessed' | 'skipped';
  /** Service Bus namespaces listed in it (0 when skipped). */
  namespaces: number;
  /** Why it was skipped, e.g. "forbidden: the identity has no Reader role on the subscription". */
  reason?: string;
}

export interface SweepMetadata {
  /** The sweep orchestration's instance id. */
  sweepId: string;
  trigger: SweepTrigger;
  /** ISO 8601 instants (the orchestration's replay-safe clock). */
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Every Azure call the sweep made (ARM + Key Vault, including pages and retries). */
  calls: number;
  /** Optional break-down of `calls`, e.g. { namespaceLists: 100, vaults: 50, keys: 500 }. */
  callsByKind?: Record<string, number>;
  /** The settings the rules were judged with. */
  settings: { keyExpiryWarningDays: number; requireInfrastructureEncryption: boolean };
  subscriptions: ReportSubscription[];
}

/** A key a namespace is configured with, as the evaluator saw it. */
export interface ReportKey {
  keyId: string;
  keyName: string;
  vaultName?: string;
  pinned: boolean;
  /** The key health status, or `unknown` when the key could not be read. */
  status: KeyHealth['status'] | 'unknown';
  usable: boolean;
  expiresOn?: string;
  /** Whole days until expiry at the sweep's `now` (negative once expired). */
  daysToExpiry?: number;
}

/** One assessed namespace. */
export interface ReportNamespace {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location?: string;
  skuTier: string;
  verdict: CmkVerdict;
  /** The verdict rules that fired (deciding one first), from `cmkVerdict`. */
  verdictRuleIds: string[];
  /** Healthy verdict and no error or critical finding (warnings such as CMK-006 are allowed). */
  compliant: boolean;
  encrypted: boolean;
  geoDr?: { alias: string; role: GeoDrRole; partnerNamespaceId?: string };
  keys: ReportKey[];
  findings: Finding[];
}

export type CouldNotAssessCause = 'forbidden' | 'notFound' | 'throttled' | 'unreachable' | 'failed';

/**
 * Something the sweep could not read, so could not judge: a subscription it cannot list, a vault
 * behind a firewall, a key it cannot see, a call that ran out of retries. Never a silent skip.
 */
export interface CouldNotAssessEntry {
  scope: 'subscription' | 'namespace' | 'vault' | 'key';
  /** Subscription id, ARM resource id or key URL. */
  id: string;
  subscriptionId?: string;
  cause: CouldNotAssessCause;
  /** "could not assess: …" naming the cause. */
  message: string;
  /** The missing role or setting, and how to grant/change it. */
  fix: string;
  command?: string;
  /** What Azure answered (status + error code), when it answered. */
  status?: number;
  code?: string;
  /** Namespaces whose verdict this leaves unknown. */
  namespaceIds?: string[];
}

export interface RuleCount {
  ruleId: string;
  title: string;
  severity: Severity;
  /** Findings of this rule (a rule can fire once per key of a namespace). */
  findings: number;
  /** Distinct namespaces with at least one finding of this rule. */
  namespaces: number;
}

export interface ReportSummary {
  namespaces: number;
  compliant: number;
  nonCompliant: number;
  byVerdict: Record<CmkVerdict, number>;
  /** Findings by severity. */
  bySeverity: Record<Severity, number>;
  /** Sorted by rule id. */
  byRule: RuleCount[];
  couldNotAssess: number;
  subscriptions: { inScope: number; assessed: number; skipped: number };
  /** Distinct keys (by versionless id) across the namespaces. */
  keys: { distinct: number; expired: number; expiringWithinWarning: number; unreadable: number };
}

export interface ComplianceReport {
  schemaVersion: typeof COMPLIANCE_REPORT_SCHEMA_VERSION;
  /** When the report was built (= sweep.finishedAt): the report's identity in the history. */
  generatedAt: string;
  sweep: SweepMetadata;
  summary: ReportSummary;
  namespaces: ReportNamespace[];
  couldNotAssess: CouldNotAssessEntry[];
}

const BLOCKING: readonly Severity[] = ['critical', 'error'];

/** Compliant = healthy verdict and no error or critical finding. */
export function isCompliant(verdict: CmkVerdict, findings: readonly Finding[]): boolean {
  return verdict === 'healthy' && !findings.some((f) => BLOCKING.includes(f.severity));
}

/** A report entry from a namespace's facts and the evaluator's diagnosis of them. */
export function reportNamespaceFromDiagnosis(
  namespace: NamespaceFacts,
  diagnosis: Diagnosis,
): ReportNamespace {
  const refs = namespace.cmk.encrypted ? namespace.cmk.keys : [];
  const keys = diagnosis.keys.map((k, i): ReportKey => {
    const usable = diagnosis.health.usableKeyIds.includes(k.keyId);
    return {
      keyId: k.keyId,
      keyName: refs[i]?.keyName ?? keyNameOf(k.keyId),
      ...(k.vaultName ? { vaultName: k.vaultName } : {}),
      pinned: k.pinned,
      status: k.health && !k.health.issues.includes('unreadable') ? k.health.status : 'unknown',
      usable,
      ...(k.health?.expiresOn !== undefined ? { expiresOn: k.health.expiresOn } : {}),
      ...(k.health?.daysToExpiry !== undefined ? { daysToExpiry: k.health.daysToExpiry } : {}),
    };
  });
  return {
    id: namespace.id,
    name: namespace.name,
    subscriptionId: namespace.subscriptionId,
    resourceGroup: namespace.resourceGroup,
    ...(namespace.location ? { location: namespace.location } : {}),
    skuTier: namespace.skuTier,
    verdict: diagnosis.health.verdict,
    verdictRuleIds: diagnosis.health.ruleIds,
    compliant: isCompliant(diagnosis.health.verdict, diagnosis.findings),
    encrypted: diagnosis.cmk.encrypted,
    ...(namespace.geoDr ? { geoDr: namespace.geoDr } : {}),
    keys,
    findings: diagnosis.findings,
  };
}

function keyNameOf(keyId: string): string {
  const m = /\/keys\/([^/]+)/.exec(keyId);
  return m?.[1] ?? keyId;
}

const versionless = (keyId: string): string => keyId.replace(/(\/keys\/[^/]+)\/[^/]+$/, '$1').toLowerCase();

/** Summary counts from the entries (the one place they are computed; the page and CSV reuse them). */
export function summarizeReport(
  namespaces: readonly ReportNamespace[],
  couldNotAssess: readonly CouldNotAssessEntry[],
  subscriptions: readonly ReportSubscription[],
): ReportSummary {
  const byVerdict = Object.fromEntries(CMK_VERDICTS.map((v) => [v, 0])) as Record<CmkVerdict, number>;
  const bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  const rules = new Map<string, RuleCount & { ns: Set<string> }>();
  const keys = new Map<string, ReportKey>();
  let compliant = 0;
  for (const n of namespaces) {
    byVerdict[n.verdict] += 1;
    if (n.compliant) compliant += 1;
    for (const f of n.findings) {
      bySeverity[f.severity] += 1;
      let r = rules.get(f.ruleId);
      if (!r) {
        r = {
          ruleId: f.ruleId,
          title: f.title,
          severity: f.severity,
          findings: 0,
          namespaces: 0,
          ns: new Set(),
        };
        rules.set(f.ruleId, r);
      }
      r.findings += 1;
      r.ns.add(n.id.toLowerCase());
    }
    for (const k of n.keys) {
      const id = versionless(k.keyId);
      if (!keys.has(id)) keys.set(id, k);
    }
  }
  const distinct = [...keys.values()];
  return {
    namespaces: namespaces.length,
    compliant,
    nonCompliant: namespaces.length - compliant,
    byVerdict,
    bySeverity,
    byRule: [...rules.values()]
      .map(({ ns, ...r }) => ({ ...r, namespaces: ns.size }))
      .sort((a, b) => a.ruleId.localeCompare(b.ruleId)),
    couldNotAssess: couldNotAssess.length,
    subscriptions: {
      inScope: subscriptions.length,
      assessed: subscriptions.filter((s) => s.status === 'assessed').length,
      skipped: subscriptions.filter((s) => s.status === 'skipped').length,
    },
    keys: {
      distinct: distinct.length,
      expired: distinct.filter((k) => k.status === 'expired').length,
      expiringWithinWarning: distinct.filter((k) => k.status === 'expiringSoon').length,
      unreadable: distinct.filter((k) => k.status === 'unknown').length,
    },
  };
}

/** The report from the sweep's metadata and its entries; namespaces sorted by id for stable output. */
export function buildComplianceReport(input: {
  sweep: SweepMetadata;
  namespaces: readonly ReportNamespace[];
  couldNotAssess: readonly CouldNotAssessEntry[];
}): ComplianceReport {
  const namespaces = [...input.namespaces].sort((a, b) =>
    a.id.toLowerCase().localeCompare(b.id.toLowerCase()),
  );
  return {
    schemaVersion: COMPLIANCE_REPORT_SCHEMA_VERSION,
    generatedAt: input.sweep.finishedAt,
    sweep: input.sweep,
    summary: summarizeReport(namespaces, input.couldNotAssess, input.sweep.subscriptions),
    namespaces,
    couldNotAssess: [...input.couldNotAssess],
  };
}

/** CSV columns: one row per finding; a namespace without findings still gets one row (rule empty). */
export const CSV_HEADER = [
  'namespaceId',
  'name',
  'subscriptionId',
  'resourceGroup',
  'location',
  'verdict',
  'compliant',
  'ruleId',
  'severity',
  'title',
  'message',
  'fix',
  'command',
  'subject',
] as const;

/** Rows (header first) for a spreadsheet: findings, then the "could not assess" entries. */
export function reportCsvRows(report: ComplianceReport): string[][] {
  const rows: string[][] = [[...CSV_HEADER]];
  for (const n of report.namespaces) {
    const base = [
      n.id,
      n.name,
      n.subscriptionId,
      n.resourceGroup,
      n.location ?? '',
      n.verdict,
      String(n.compliant),
    ];
    if (n.findings.length === 0) rows.push([...base, '', '', '', '', '', '', '']);
    for (const f of n.findings) {
      rows.push([...base, f.ruleId, f.severity, f.title, f.message, f.fix, f.command ?? '', f.subject.id]);
    }
  }
  for (const c of report.couldNotAssess) {
    rows.push([
      c.id,
      '',
      c.subscriptionId ?? (c.scope === 'subscription' ? c.id : ''),
      '',
      '',
      'couldNotAssess',
      'false',
      '',
      '',
      `could not assess (${c.scope}: ${c.cause})`,
      c.message,
      c.fix,
      c.command ?? '',
      c.id,
    ]);
  }
  return rows;
}

/**
 * RFC 4180 text. A cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is
 * prefixed with `'`: names and messages come from Azure and must never execute.
 */
export function toCsv(rows: readonly (readonly string[])[]): string {
  const cell = (v: string): string => {
    const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return rows.map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

export interface KeyExpiryPoint {
  /** Versionless, lower-case. */
  keyId: string;
  keyName: string;
  vaultName?: string;
  status: ReportKey['status'];
  expiresOn?: string;
  daysToExpiry?: number;
  /** Namespace ids using the key, sorted. */
  namespaceIds: string[];
}

/** Each distinct key once with the namespaces using it, soonest expiry first, keys without expiry last. */
export function keyExpiryTimeline(report: ComplianceReport): KeyExpiryPoint[] {
  const byKey = new Map<string, { point: KeyExpiryPoint; ids: Set<string> }>();
  for (const n of report.namespaces) {
    for (const k of n.keys) {
      const id = versionless(k.keyId);
      let entry = byKey.get(id);
      if (!entry) {
        entry = {
          point: {
            keyId: id,
            keyName: k.keyName,
            ...(k.vaultName ? { vaultName: k.vaultName } : {}),
            status: k.status,
            ...(k.expiresOn !== undefined ? { expiresOn: k.expiresOn } : {}),
            ...(k.daysToExpiry !== undefined ? { daysToExpiry: k.daysToExpiry } : {}),
            namespaceIds: [],
          },
          ids: new Set(),
        };
        byKey.set(id, entry);
      }
      entry.ids.add(n.id);
    }
  }
  const at = (p: KeyExpiryPoint): number =>
    p.expiresOn ? Date.parse(p.expiresOn) : Number.POSITIVE_INFINITY;
  return [...byKey.values()]
    .map(({ point, ids }) => ({ ...point, namespaceIds: [...ids].sort() }))
    .sort((a, b) => at(a) - at(b) || a.keyId.localeCompare(b.keyId));
}

export interface TrendPoint {
  generatedAt: string;
  namespaces: number;
  compliant: number;
  /** compliant / namespaces, 0 when there are none. */
  ratio: number;
  couldNotAssess: number;
}

/** The trend of compliant namespaces over stored reports, oldest first. */
export function complianceTrend(
  history: readonly {
    generatedAt: string;
    summary: Pick<ReportSummary, 'namespaces' | 'compliant' | 'couldNotAssess'>;
  }[],
): TrendPoint[] {
  return [...history]
    .sort((a, b) => Date.parse(a.generatedAt) - Date.parse(b.generatedAt))
    .map((h) => ({
      generatedAt: h.generatedAt,
      namespaces: h.summary.namespaces,
      compliant: h.summary.compliant,
      ratio: h.summary.namespaces === 0 ? 0 : h.summary.compliant / h.summary.namespaces,
      couldNotAssess: h.summary.couldNotAssess,
    }));
}

/**
 * `?at=` of the report endpoints: an ISO 8601 instant with a time zone (a date alone means its
 * midnight UTC). Undefined = not a valid instant (the trigger answers 400).
 */
export function parseReportInstant(value: string): Date | undefined {
  const v = value.trim();
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v)) return undefined;
  const ms = Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}
