/**
 * `complianceSweepSubscription` — one subscription of a compliance sweep (docs/ARCHITECTURE.md
 * "Compliance sweep"): ONE batched activity lists every Service Bus namespace of the subscription (one
 * ARM list and its pages, Geo-DR aliases only for CMK namespaces — estate.ts `listNamespaces`), never
 * one activity per namespace.
 *
 * Throttling: the SDK retries a 429 after its Retry-After and the pacing policy holds later calls of
 * the same budget (armPacing.ts). When a listing still ends in 429, the activity answers "throttled"
 * with Retry-After instead of throwing, and this orchestration waits for it on a durable timer — no
 * worker is held while ARM refills — then lists again, up to THROTTLE_WAITS times. After that, and
 * after any other fault that outlasted the platform retries, the subscription is reported as not
 * assessed with its cause; the sweep goes on with the others.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext } from 'durable-functions';
import { withCallCount } from '../azure/armPacing';
import { classifyError } from '../azure/errors';
import { cmkGateways } from '../azure/cmkFacts';
import { listNamespaces } from '../azure/estate';
import { azureClients } from '../azure/runtime';
import { retryAfterMs } from '../domain/pacing';
import { addCalls, noCalls, type SubscriptionOutcome, type SweepCalls } from '../domain/sweep';
import type { ListedNamespace } from '../domain';
import {
  activity,
  callActivity,
  failureOf,
  isFailure,
  StepFailed,
  wait,
  type ActivityFailure,
} from './plumbing';
import { SWEEP_SUBSCRIPTION_ORCHESTRATION, SWEEP_LIST_NAMESPACES_ACTIVITY } from './names';

export { SWEEP_SUBSCRIPTION_ORCHESTRATION, SWEEP_LIST_NAMESPACES_ACTIVITY };

/** Durable waits for Retry-After before a throttled subscription is given up. */
export const THROTTLE_WAITS = 3;
/** Never wait less than this for a throttled listing (Retry-After 0 still means "not now"). */
const MIN_THROTTLE_WAIT_SECONDS = 1;

export interface SweepSubscriptionInput {
  subscriptionId: string;
}

export interface SweepSubscriptionOutput extends SubscriptionOutcome {
  namespaces: ListedNamespace[];
  calls: SweepCalls;
  /** Durable waits for Retry-After this subscription needed. */
  throttleWaits: number;
}

type ListAnswer = { namespaces: ListedNamespace[]; calls: SweepCalls };
type ListFailure = ActivityFailure & { calls?: SweepCalls; retryAfterMs?: number };

/**
 * The list activity: one subscription's namespaces (estate.ts `listNamespaces`: refusals are a status,
 * platform faults thrown). A 429 that outlasted the SDK's retries is answered with its Retry-After
 * (the orchestration waits on a durable timer); other platform faults are thrown so Durable retries.
 */
export async function listNamespacesActivity(
  input: SweepSubscriptionInput,
): Promise<({ ok: true } & ListAnswer) | ListFailure> {
  let thrown: unknown;
  const { value: listing, calls } = await withCallCount(async () => {
    try {
      return await listNamespaces(cmkGateways(azureClients()), input.subscriptionId);
    } catch (error) {
      thrown = error;
      return undefined;
    }
  });
  if (!listing) {
    const c = classifyError(thrown);
    if (c.status !== 429) throw thrown;
    const headers = (thrown as { response?: { headers?: { get(name: string): string | undefined } } })
      .response?.headers;
    const after = headers ? retryAfterMs((n) => headers.get(n), Date.now()) : undefined;
    return { ...failureOf(c, 'platform'), calls, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
  if (listing.status !== 'listed')
    return {
      ...failureOf({
        code: listing.status === 'forbidden' ? 'Forbidden' : 'ListFailed',
        detail: listing.detail ?? listing.status,
      }),
      ...(listing.status === 'forbidden' ? { status: 403 } : {}),
      calls,
    };
  return { ok: true, namespaces: [...(listing.namespaces ?? [])], calls };
}

/** The list activity as the host runs it (refusals returned, bugs logged: plumbing.ts `activity`). */
export const listNamespacesActivityHandler = activity(listNamespacesActivity);

export function* sweepSubscriptionOrchestrator(
  context: OrchestrationContext,
): Generator<df.Task, SweepSubscriptionOutput, unknown> {
  const { subscriptionId } = context.df.getInput<SweepSubscriptionInput>();
  let calls = noCalls();
  let throttleWaits = 0;
  const ended = (o: Omit<SubscriptionOutcome, 'subscriptionId'>, namespaces: ListedNamespace[] = []) => ({
    subscriptionId,
    ...o,
    namespaces,
    calls,
    throttleWaits,
  });
  for (;;) {
    let r: ({ ok: true } & ListAnswer) | ListFailure;
    try {
      r = yield* callActivity<ListAnswer>(
        context,
        SWEEP_LIST_NAMESPACES_ACTIVITY,
        { subscriptionId },
        'listNamespaces',
      );
    } catch (error) {
      // A platform fault (5xx, timeouts) that outlasted Durable's retries.
      const detail = error instanceof StepFailed ? error.detail : String(error);
      return ended({ status: 'failed', cause: 'unreachable', detail });
    }
    calls = addCalls(calls, r.calls);
    if (!isFailure(r)) return ended({ status: 'listed' }, r.namespaces);
    const answered = {
      detail: r.detail,
      code: r.code,
      ...(r.status !== undefined ? { httpStatus: r.status } : {}),
    };
    if (r.status === 429) {
      if (throttleWaits >= THROTTLE_WAITS)
        return ended({ status: 'failed', cause: 'throttled', ...answered });
      throttleWaits++;
      yield wait(context, Math.max(MIN_THROTTLE_WAIT_SECONDS, Math.ceil((r.retryAfterMs ?? 0) / 1000)));
      continue;
    }
    if (r.class === 'bug') return ended({ status: 'failed', cause: 'failed', ...answered });
    if (r.status === 403 || r.status === 401)
      return ended({ status: 'forbidden', cause: 'forbidden', ...answered });
    if (r.status === 404) return ended({ status: 'failed', cause: 'notFound', ...answered });
    return ended({ status: 'failed', cause: 'failed', ...answered });
  }
}
