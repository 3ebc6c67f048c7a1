/**
 * keyWatch — one cycle of the key watch (docs/ARCHITECTURE.md "Key watch"): assess EVERY indexed
 * namespace through the shared `ASSESS_NAMESPACES` activity (it reads each distinct vault and key
 * once, evaluates with the one evaluator and publishes health), so what Key Vault raises no event for —
 * a key deleted or disabled, an access policy or role assignment removed, a firewall change — is seen
 * within one cycle, and every namespace's metric gets a fresh sample (a metric alert resolves on data,
 * not on silence).
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { summarizeKeyWatch, type KeyWatchSummary } from '../domain/keyWatch';
import { ASSESS_NAMESPACES, type AssessInput, type AssessOutput } from './assess';
import { asStepFailed, callOrFail, operationError, type OperationError } from './plumbing';
import { KEY_WATCH_ORCHESTRATION, KEY_WATCH_INSTANCE_ID } from './names';

export { KEY_WATCH_ORCHESTRATION, KEY_WATCH_INSTANCE_ID };

/** What the alert path did with this cycle's verdicts (counts; refusals with their fix). */
export interface KeyWatchPublished {
  published: number;
  duplicates: number;
  unpublished: number;
  changes: number;
  refused: { namespaceId: string; code: string; detail: string; fix?: string }[];
  /** ALERT_RULES=managed: rules Azure refused to create or repair (e.g. no Monitoring Contributor), with the fix. */
  refusedRules: { name: string; resourceGroup: string; action: string; detail?: string; fix?: string }[];
}

export type KeyWatchOutput =
  | ({ outcome: 'assessed'; published?: KeyWatchPublished } & KeyWatchSummary)
  | { outcome: 'failed'; at: string; error: OperationError<'assess'> };

export function* keyWatchOrchestrator(
  context: OrchestrationContext,
): Generator<Task, KeyWatchOutput, unknown> {
  const at = context.df.currentUtcDateTime.toISOString();
  context.df.setCustomStatus({ state: 'assessing', at });
  try {
    const input: AssessInput = { selector: { all: true }, reason: 'keyWatch', at };
    const result = yield* callOrFail<AssessOutput>(context, ASSESS_NAMESPACES, input, 'assess');
    const summary = summarizeKeyWatch(at, result.assessed, result.calls);
    context.df.setCustomStatus({ state: 'done', at, byVerdict: summary.byVerdict });
    const p = result.published;
    return {
      outcome: 'assessed',
      ...summary,
      ...(p
        ? {
            published: {
              published: p.published,
              duplicates: p.duplicates,
              unpublished: p.unpublished,
              changes: p.changes,
              refused: p.refused,
              refusedRules: p.rules.filter((r) => r.action === 'refused' || r.action === 'foreign'),
            },
          }
        : {}),
    };
  } catch (error) {
    const failed = asStepFailed(error, 'assess' as const);
    context.df.setCustomStatus({ state: 'failed', at });
    return { outcome: 'failed', at, error: operationError(failed) };
  }
}
