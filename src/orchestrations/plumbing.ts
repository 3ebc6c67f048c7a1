/**
 * Shared orchestration plumbing (docs/ARCHITECTURE.md, "Orchestrations"): what every orchestration of
 * the app is built from, so each orchestration file is only its step sequence.
 *
 * Activities:
 *   export const myActivity = activity(async (input: In) => …);  // registered in src/index.ts
 *   The body returns a value or an ActivityFailure (a refusal from a gateway: `failureOf(r)`). A thrown
 *   platform fault is rethrown (Durable retries it with `platformRetry()`); a thrown refusal becomes an
 *   ActivityFailure; a bug (TypeError…) is logged with its stack and returned as a `bug` failure —
 *   never retried, never passed off as a refusal.
 *
 * Orchestrators:
 *   const r = yield* callActivity<Out>(context, NAME, input, 'stepKind');  // platform retries built in
 *   if (isFailure(r)) throw new StepFailed('stepKind', r);                 // or: yield* callOrFail(…)
 *   …catch (e) { const failed = asStepFailed(e, step); output.error = operationError(failed); }
 *
 * Waits are durable timers on the orchestration clock (`wait(context, seconds)`); step logs are the
 * `StepLogEntry` list every orchestration publishes in customStatus.
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { classifyError, type ErrorClass } from '../azure/errors';

// ---------------------------------------------------------------------------------------------------
// Activity results
// ---------------------------------------------------------------------------------------------------

/** A structured failure an activity returns instead of throwing (small JSON, replay-safe). */
export interface ActivityFailure {
  ok: false;
  class: ErrorClass;
  code: string;
  detail: string;
  status?: number;
  fix?: string;
}

/** What an activity answers: its value marked `ok: true`, or a failure. */
export type ActivityResult<T extends object = object> = ({ ok: true } & T) | ActivityFailure;

export const isFailure = (r: unknown): r is ActivityFailure =>
  typeof r === 'object' && r !== null && (r as { ok?: unknown }).ok === false;

/** A gateway refusal (results.ts Refusal) — or any {code, detail, status?} — as an ActivityFailure. */
export function failureOf(
  r: { code: string; detail: string; status?: number | undefined; fix?: string | undefined },
  cls: ErrorClass = 'refusal',
): ActivityFailure {
  return {
    ok: false,
    class: cls,
    code: r.code,
    detail: r.detail,
    ...(r.status !== undefined ? { status: r.status } : {}),
    ...(r.fix !== undefined ? { fix: r.fix } : {}),
  };
}

/**
 * Wraps an activity body with the error taxonomy (errors.ts): platform → rethrown (retried by
 * `callActivityWithRetry`), refusal → ActivityFailure, bug → logged with its stack, `bug` failure.
 */
export function activity<In, Out>(
  body: (input: In) => Promise<Out>,
): (input: In, context?: InvocationContext) => Promise<Out | ActivityFailure> {
  return async (input: In, context?: InvocationContext) => {
    try {
      return await body(input);
    } catch (error) {
      const c = classifyError(error);
      if (c.class === 'platform') throw error;
      if (c.class === 'bug') {
        const where = context ? `${context.functionName} (${context.invocationId})` : 'activity';
        const log = context ? context.error.bind(context) : console.error;
        log(`BUG in ${where}: ${c.detail}\n${c.stack ?? '(no stack)'}`);
      }
      return failureOf(c, c.class);
    }
  };
}

// ---------------------------------------------------------------------------------------------------
// Orchestrator helpers
// ---------------------------------------------------------------------------------------------------

/** Platform faults only: 5 s, 10 s, 20 s, 40 s, 60 s … six attempts (activities never throw refusals). */
export function platformRetry(): df.RetryOptions {
  const retry = new df.RetryOptions(5_000, 6);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 60_000;
  return retry;
}

/** A durable timer `seconds` from the orchestration's current (replay-safe) time. */
export function wait(context: OrchestrationContext, seconds: number): Task {
  return context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + seconds * 1000));
}

/** First line of an error's message (for step details and summaries). */
export function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

/** A step that could not complete: which one, and the failure (class, code, detail, fix). */
export class StepFailed<K extends string = string> extends Error {
  readonly failure: ActivityFailure;
  constructor(
    readonly step: K,
    failure: Omit<ActivityFailure, 'ok' | 'class'> & { class?: ErrorClass },
  ) {
    super(failure.detail);
    this.name = 'StepFailed';
    this.failure = failureOf(failure, failure.class ?? 'refusal');
  }
  get code(): string {
    return this.failure.code;
  }
  get detail(): string {
    return this.failure.detail;
  }
}

/** Anything caught in an orchestrator as a StepFailed: a throw from our own orchestrator code is a bug. */
export function asStepFailed<K extends string>(error: unknown, step: K): StepFailed<K> {
  if (error instanceof StepFailed) return error as StepFailed<K>;
  return new StepFailed(step, { class: 'bug', code: classifyError(error).code, detail: errorText(error) });
}

/**
 * Calls an activity with the platform retry. When Durable gives up (the fault outlasted every retry)
 * it throws StepFailed(platform); the activity's own answer — value or ActivityFailure — is returned.
 */
export function* callActivity<T extends object>(
  context: OrchestrationContext,
  name: string,
  input: unknown,
  step: string,
): Generator<Task, ActivityResult<T>, unknown> {
  try {
    return (yield context.df.callActivityWithRetry(name, platformRetry(), input)) as ActivityResult<T>;
  } catch (error) {
    throw new StepFailed(step, {
      class: 'platform',
      code: 'PlatformFault',
      detail: `Azure kept failing after retries: ${errorText(error)}`,
    });
  }
}

/** callActivity, with any failure turned into StepFailed: the caller sees only success. */
export function* callOrFail<T extends object>(
  context: OrchestrationContext,
  name: string,
  input: unknown,
  step: string,
): Generator<Task, { ok: true } & T, unknown> {
  const r = yield* callActivity<T>(context, name, input, step);
  if (isFailure(r)) throw new StepFailed(step, r);
  return r;
}

/** The error block of an operation's output: class and the HTTP-style status that class maps to. */
export interface OperationError<K extends string = string> {
  step: K;
  class: ErrorClass;
  /** platform → 503, bug → 500, refusal → Azure's own 4xx (or 422 for our findings). */
  status: number;
  code: string;
  detail: string;
  fix?: string;
}

export function operationError<K extends string>(failed: StepFailed<K>, fix?: string): OperationError<K> {
  const f = failed.failure;
  const status = f.class === 'bug' ? 500 : f.class === 'platform' ? 503 : (f.status ?? 422);
  const fixText = fix ?? f.fix;
  return {
    step: failed.step,
    class: f.class,
    status,
    code: f.code,
    detail: f.detail,
    ...(fixText ? { fix: fixText } : {}),
  };
}

/** A sentence for summaries: what kind of failure this was, so nobody mistakes a bug for a refusal. */
export function failureKindText(failed: StepFailed): string {
  switch (failed.failure.class) {
    case 'bug':
      return 'an internal error of the app (a bug: report it with the operation id)';
    case 'platform':
      return 'Azure kept failing after retries';
    default:
      return 'Azure refused it';
  }
}

// ---------------------------------------------------------------------------------------------------
// The one documented retry of a refusal: a grant we made moments ago is not effective yet
// ---------------------------------------------------------------------------------------------------

/**
 * Service Bus refuses an encryption update or a pairing while the identity cannot use the key yet —
 * and right after we granted access, that is what propagation looks like (RBAC takes minutes). The
 * refusal is `400 BadRequest` (the RP's code for every refusal: research in sandbox/azure/servicebus/
 * errors.ts; Azure's exact code for this case is [U]), so the code alone cannot tell it from another
 * refusal: the decision adds the context only the orchestration has — it granted access in this run.
 * Callers bound the attempts and log Azure's raw message on each one.
 */
export const UNPROPAGATED_GRANT = { status: 400, codes: ['BadRequest'] as readonly string[] };

export function isUnpropagatedGrantRefusal(
  failure: ActivityFailure,
  context: { grantedThisRun: boolean },
): boolean {
  return (
    context.grantedThisRun &&
    failure.class === 'refusal' &&
    failure.status === UNPROPAGATED_GRANT.status &&
    UNPROPAGATED_GRANT.codes.includes(failure.code)
  );
}

/** Logs (once, not on replay) the raw refusal that is being retried. */
export function logGrantRetry(
  context: OrchestrationContext,
  what: string,
  attempt: number,
  failure: ActivityFailure,
): void {
  if (!context.df.isReplaying)
    context.log(
      `${context.df.instanceId}: ${what} refused right after a grant of this run (attempt ${attempt}); retrying once the grant has propagated. Azure said: ${failure.detail}`,
    );
}

// ---------------------------------------------------------------------------------------------------
// Step log (customStatus)
// ---------------------------------------------------------------------------------------------------

export type StepStatus = 'pending' | 'running' | 'done' | 'skipped' | 'failed';

export interface StepLogEntry<K extends string = string> {
  kind: K;
  status: StepStatus;
  detail?: string;
  vaultName?: string;
}

/** Marks the running step failed (with the failure's detail) and every pending one skipped. */
export function closeStepLog(steps: StepLogEntry[], detail: string, skipPending: boolean): void {
  const running = steps.find((s) => s.status === 'running');
  if (running) {
    running.status = 'failed';
    running.detail = detail;
  }
  if (skipPending) for (const s of steps) if (s.status === 'pending') s.status = 'skipped';
}
