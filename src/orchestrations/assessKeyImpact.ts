/**
 * `assessKeyImpact` — a key is near expiry or expired, a vault's access policies changed, or the
 * vault's audit-log alert named a key or vault (docs/ARCHITECTURE.md "Reactions"): re-assess now every
 * indexed namespace that uses it, through the ONE shared assessment (`ASSESS_NAMESPACES`, assess.ts:
 * reads the truth, evaluates, publishes each namespace's health — the alert rules fire from there,
 * never an action group directly), then say what it means: which namespaces are at risk, degraded or
 * inoperable, and whether another usable key keeps each one alive.
 *
 * The event is a hint: a stale or duplicate one re-assesses the same truth and raises no false alarm
 * (a version that is no longer current is not what a versionless namespace uses). One instance per
 * announcement (`assessKeyImpactInstanceId`), so duplicates collapse.
 */
import { createHash } from 'node:crypto';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import {
  describeKeyEventImpact,
  type KeyEventImpact,
  type KeyEventKind,
  type NamespaceHealth,
  type NamespaceSelector,
} from '../domain';
import { ASSESS_NAMESPACES, type AssessInput } from './assess';
import { asStepFailed, callOrFail, operationError, type OperationError } from './plumbing';
import { ASSESS_KEY_IMPACT_ORCHESTRATION } from './names';

export { ASSESS_KEY_IMPACT_ORCHESTRATION };

/**
 * `assessKeyImpact-<kind>-<hash>`: key events by key + version (Key Vault announces each version's
 * near-expiry and expiry once), access-policy changes and audit alerts by their own id.
 */
export function assessKeyImpactInstanceId(kind: KeyEventKind, identity: string): string {
  const short = {
    KeyNearExpiry: 'nearExpiry',
    KeyExpired: 'expired',
    VaultAccessPolicyChanged: 'access',
    AuditAlert: 'audit',
  }[kind];
  return `assessKeyImpact-${short}-${createHash('sha256').update(identity.toLowerCase()).digest('hex').slice(0, 32)}`;
}

export interface AssessKeyImpactInput {
  kind: KeyEventKind;
  /** Event id, or the alert id for audit alerts. */
  sourceId: string;
  /** What to re-assess: keys and/or vaults (by name), as the index lists them. */
  keys: Array<{ vaultName: string; keyName: string; versionlessKeyId: string; version?: string }>;
  vaults: string[];
  reason: string;
}

export interface AssessKeyImpactStatus {
  state: 'assessing' | 'done' | 'failed';
  kind: KeyEventKind;
  sourceId: string;
  /** One impact per key (key events, audit alerts naming keys) or per vault (access changes, vaults). */
  impacts: Array<KeyEventImpact & { subject: string }>;
}

export interface AssessKeyImpactOutput extends Omit<AssessKeyImpactStatus, 'state'> {
  outcome: 'assessed' | 'failed';
  severity: KeyEventImpact['severity'];
  summary: string;
  assessed: number;
  calls: number;
  error?: OperationError;
}

export const assessKeyImpactOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<AssessKeyImpactInput>();
  const status: AssessKeyImpactStatus = {
    state: 'assessing',
    kind: input.kind,
    sourceId: input.sourceId,
    impacts: [],
  };
  context.df.setCustomStatus(status);
  const selector: NamespaceSelector = {
    ...(input.keys.length
      ? { keys: input.keys.map((k) => ({ vaultName: k.vaultName, keyName: k.keyName })) }
      : {}),
    ...(input.vaults.length ? { vaults: input.vaults } : {}),
  };
  let assessed: NamespaceHealth[];
  let calls: number;
  try {
    const r = yield* callOrFail<{ assessed: NamespaceHealth[]; calls: number }>(
      context,
      ASSESS_NAMESPACES,
      {
        selector,
        reason: input.reason,
        at: context.df.currentUtcDateTime.toISOString(),
      } satisfies AssessInput,
      'assess',
    );
    assessed = r.assessed;
    calls = r.calls;
  } catch (error) {
    const failed = asStepFailed(error, 'assess');
    status.state = 'failed';
    context.df.setCustomStatus(status);
    return {
      kind: input.kind,
      sourceId: input.sourceId,
      impacts: [],
      outcome: 'failed',
      severity: 'info',
      summary: `${input.kind}: the namespaces could not be re-assessed (${failed.detail}).`,
      assessed: 0,
      calls: 0,
      error: operationError(failed),
    } satisfies AssessKeyImpactOutput;
  }

  const lower = (s: string) => s.toLowerCase();
  for (const key of input.keys) {
    const mine = assessed.filter((h) =>
      h.keyIds.some((id) => id.toLowerCase().startsWith(lower(key.versionlessKeyId))),
    );
    status.impacts.push({
      subject: key.versionlessKeyId,
      ...describeKeyEventImpact(
        input.kind,
        { vaultName: key.vaultName, versionlessKeyId: key.versionlessKeyId },
        mine,
      ),
    });
  }
  for (const vault of input.vaults) {
    const host = `https://${lower(vault)}.`;
    const mine = assessed.filter((h) => h.keyIds.some((id) => id.toLowerCase().startsWith(host)));
    status.impacts.push({
      subject: `vault ${lower(vault)}`,
      ...describeKeyEventImpact(input.kind, { vaultName: vault }, mine),
    });
  }
  status.state = 'done';
  context.df.setCustomStatus(status);
  const order = ['info', 'warning', 'critical'] as const;
  const severity = status.impacts.reduce<KeyEventImpact['severity']>(
    (worst, i) => (order.indexOf(i.severity) > order.indexOf(worst) ? i.severity : worst),
    'info',
  );
  const summary = status.impacts.map((i) => i.summary).join(' ');
  if (!context.df.isReplaying) {
    const line = `${context.df.instanceId}: ${summary}`;
    if (severity === 'critical') context.error(line);
    else if (severity === 'warning') context.warn(line);
    else context.log(line);
  }
  return {
    kind: input.kind,
    sourceId: input.sourceId,
    impacts: status.impacts,
    outcome: 'assessed',
    severity,
    summary,
    assessed: assessed.length,
    calls,
  } satisfies AssessKeyImpactOutput;
};
