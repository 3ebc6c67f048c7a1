/**
 * Pacing and call counting for every SDK client the app builds (clients.ts adds the policy to each
 * client's pipeline, after the SDK's retry policy, so it sees every attempt):
 *
 * - pacing: before a call, the budget it spends (ARM subscription/tenant × reads/writes, or a Key Vault
 *   host) is asked whether it may go (domain/pacing.ts); after it, the budget learns what the answer
 *   said (`x-ms-ratelimit-remaining-*`, a 429's Retry-After). The state is per process, shared by
 *   every activity running in the worker — concurrent activities of a sweep draw on one estimate,
 *   which is the point. Several instances of the app each keep their own [U]: ARM's buckets are
 *   per principal, so N instances may spend up to N reserves before the first 429 teaches them.
 * - counting: each attempt is counted in the CallCount of the activity that made it
 *   (AsyncLocalStorage), so an activity reports its own calls even when others run in the same worker.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { PipelinePolicy, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import type { CloudEndpoints } from '../config';
import {
  admit,
  budgetOf,
  initialPacing,
  observe,
  retryAfterMs,
  type BudgetKey,
  type PacingState,
} from '../domain/pacing';

export interface CallCount {
  /** ARM attempts (management plane), retries included. */
  arm: number;
  /** Key Vault data-plane attempts. */
  keyVault: number;
  /** Anything else (e.g. a metrics endpoint) that went through a client with this policy. */
  other: number;
  /** 429 answers among them. */
  throttled: number;
  /** Calls the gate held back at least once. */
  paced: number;
}

export const emptyCallCount = (): CallCount => ({ arm: 0, keyVault: 0, other: 0, throttled: 0, paced: 0 });

export function addCallCounts(a: CallCount, b: CallCount): CallCount {
  return {
    arm: a.arm + b.arm,
    keyVault: a.keyVault + b.keyVault,
    other: a.other + b.other,
    throttled: a.throttled + b.throttled,
    paced: a.paced + b.paced,
  };
}

const counting = new AsyncLocalStorage<CallCount>();

/** Runs `body` with its own call count; returns both. Nested runs count into the innermost. */
export async function withCallCount<T>(body: () => Promise<T>): Promise<{ value: T; calls: CallCount }> {
  const calls = emptyCallCount();
  const value = await counting.run(calls, body);
  return { value, calls };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The per-process budgets. `now` and `sleep` are injectable for tests. */
export class ArmPacer {
  private readonly budgets = new Map<string, PacingState>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly wait: (ms: number) => Promise<void> = sleep,
  ) {}

  /** Resolves when a call on `budget` may go; true when it was held back first. */
  async admit(budget: BudgetKey): Promise<boolean> {
    let first = true;
    for (;;) {
      const state = this.budgets.get(budget.key) ?? initialPacing(this.now());
      const decision = admit(state, this.now(), budget.settings, first);
      this.budgets.set(budget.key, decision.state);
      if (decision.go) return !first;
      first = false;
      await this.wait(decision.waitMs);
    }
  }

  observe(budget: BudgetKey, status: number, header: (name: string) => string | undefined): void {
    const now = this.now();
    const remainingText = budget.remainingHeader ? header(budget.remainingHeader) : undefined;
    const remaining =
      remainingText !== undefined && /^\d+$/.test(remainingText.trim()) ? Number(remainingText) : undefined;
    const retry = status === 429 || status === 503 ? retryAfterMs(header, now) : undefined;
    const state = this.budgets.get(budget.key) ?? initialPacing(now);
    this.budgets.set(
      budget.key,
      observe(
        state,
        now,
        {
          status,
          ...(remaining !== undefined ? { remaining } : {}),
          ...(retry !== undefined ? { retryAfterMs: retry } : {}),
        },
        budget.settings,
      ),
    );
  }

  /** Budgets seen so far (for figures and tests). */
  snapshot(): Record<string, PacingState> {
    return Object.fromEntries(this.budgets);
  }
}

/** The pipeline policy: gate, count, learn. */
export function pacingPolicy(
  pacer: ArmPacer,
  endpoints: Pick<CloudEndpoints, 'resourceManager' | 'keyVaultDnsSuffix'>,
): PipelinePolicy {
  return {
    name: 'cmkGuardianPacing',
    async sendRequest(request: PipelineRequest, next): Promise<PipelineResponse> {
      const budget = budgetOf(request.url, request.method, endpoints);
      const held = await pacer.admit(budget);
      const count = counting.getStore();
      if (count) {
        count[budget.kind === 'keyVault' ? 'keyVault' : budget.kind === 'arm' ? 'arm' : 'other'] += 1;
        if (held) count.paced += 1;
      }
      let response: PipelineResponse;
      try {
        response = await next(request);
      } catch (error) {
        // A RestError thrown by a later policy still carries the answer: learn from it, then rethrow.
        const answered = (error as { response?: PipelineResponse } | undefined)?.response;
        if (answered && typeof answered.status === 'number') learn(answered);
        throw error;
      }
      learn(response);
      return response;

      function learn(r: PipelineResponse): void {
        if (r.status === 429 && count) count.throttled += 1;
        pacer.observe(budget, r.status, (name) => r.headers.get(name));
      }
    },
  };
}

let shared: ArmPacer | undefined;
/** The worker's one pacer (runtime.ts builds the app's clients with it). */
export function sharedPacer(): ArmPacer {
  shared ??= new ArmPacer();
  return shared;
}
