/**
 * Preflight and diagnosis: the CMK rules as data (one catalogue file per subject), evaluated over a
 * plain snapshot of facts. Every rule has a stable id (CMK-0xx from the compliance catalogue, PRE-0xx
 * for enable-only checks), a severity, and message/fix templates with the exact command to run.
 * Reading the facts is the gateways' job; nothing here does I/O (docs/ARCHITECTURE.md "Rules").
 */
export * from './facts';
export type { EvaluationMode, Finding, PreflightRule, Severity } from './rule';
export { PREFLIGHT_RULES } from './catalogue';
export {
  evaluateDiagnosis,
  evaluatePreflight,
  evaluateRequestFindings,
  hasBlockingFindings,
  isAlreadyConfigured,
  type Diagnosis,
} from './evaluate';
