/**
 * Replays of the compliance sweep (complianceSweep + complianceSweepSubscription) through the real
 * durable-functions executor with synthetic histories (test/unit/replay-driver.ts): the activities'
 * and sub-orchestrations' answers are scripted. What they pin down: subscriptions are listed in waves
 * of SWEEP_CONCURRENCY by one sub-orchestration each; key material is read ONCE for all of them;
 * evaluation is batched; customStatus moves (subscriptions done/total, namespaces, calls); a throttled
 * listing waits Retry-After on a durable timer and gives up as "could not assess: throttled" after
 * THROTTLE_WAITS; a subscription without Reader is "could not assess: forbidden" and the sweep completes.
 */
import { cmkStateFromEncryption, type ListedNamespace } from '../../src/domain';
import type { SweepStatus } from '../../src/domain/sweep';
import {
  COMPLIANCE_SWEEP_ORCHESTRATION,
  EVALUATE_BATCH,
  SWEEP_EVALUATE_ACTIVITY,
  SWEEP_FINISH_ACTIVITY,
  SWEEP_KEY_MATERIAL_ACTIVITY,
  SWEEP_SCOPE_ACTIVITY,
  complianceSweepOrchestrator,
  type ComplianceSweepOutput,
  type EvaluateInput,
  type FinishInput,
  type KeyMaterialInput,
} from '../../src/orchestrations/complianceSweep';
import {
  SWEEP_LIST_NAMESPACES_ACTIVITY,
  SWEEP_SUBSCRIPTION_ORCHESTRATION,
  THROTTLE_WAITS,
  sweepSubscriptionOrchestrator,
  type SweepSubscriptionOutput,
} from '../../src/orchestrations/complianceSweepSubscription';
import { SUFFIX, namespaceFacts } from './domain-fixtures';
import { replay, type Answer, type Call } from './replay-driver';

const sub = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const settings = { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 };
const calls = (arm: number, keyVault = 0) => ({ arm, keyVault, other: 0, throttled: 0, paced: 0 });

function listed(subscriptionId: string, count: number, cmk = true): ListedNamespace[] {
  return Array.from({ length: count }, (_, i) => {
    const {
      queueCount: _q,
      topicCount: _t,
      ...ns
    } = namespaceFacts({
      id: `/subscriptions/${subscriptionId}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb-${i}`,
      name: `sb-${i}`,
      subscriptionId,
      resourceGroup: 'rg',
      cmk: cmk
        ? cmkStateFromEncryption(
            {
              keySource: 'Microsoft.KeyVault',
              keyVaultProperties: [{ keyName: `k-${i % 3}`, keyVaultUri: `https://kv-shared.${SUFFIX}/` }],
            },
            SUFFIX,
          )
        : { encrypted: false },
    });
    return ns;
  });
}

function subOutput(subscriptionId: string, o: Partial<SweepSubscriptionOutput>): SweepSubscriptionOutput {
  return {
    subscriptionId,
    status: 'listed',
    namespaces: [],
    calls: calls(1),
    throttleWaits: 0,
    ...o,
  };
}

describe('complianceSweep', () => {
  const subs = [sub(1), sub(2), sub(3)];
  const listings: Record<string, SweepSubscriptionOutput> = {
    [sub(1)]: subOutput(sub(1), { namespaces: listed(sub(1), 3), calls: calls(4) }),
    [sub(2)]: subOutput(sub(2), { namespaces: listed(sub(2), 2, false), calls: calls(1) }),
    [sub(3)]: subOutput(sub(3), {
      status: 'forbidden',
      cause: 'forbidden',
      detail: '403 AuthorizationFailed: no Reader',
      code: 'Forbidden',
      httpStatus: 403,
      calls: calls(1),
    }),
  };

  function respond(call: Call): Answer {
    switch (call.name) {
      case SWEEP_SCOPE_ACTIVITY:
        return { result: { ok: true, subscriptions: subs, concurrency: 2, settings, calls: calls(1) } };
      case SWEEP_SUBSCRIPTION_ORCHESTRATION:
        return { result: listings[(call.input as { subscriptionId: string }).subscriptionId] };
      case SWEEP_KEY_MATERIAL_ACTIVITY:
        return {
          result: {
            ok: true,
            material: { vaults: {}, keys: {}, identities: {}, partners: {}, calls: 4, callsByOperation: {} },
            calls: calls(4),
          },
        };
      case SWEEP_EVALUATE_ACTIVITY: {
        const input = call.input as EvaluateInput;
        return {
          result: {
            ok: true,
            entries: input.namespaces.map((n) => ({ id: n.id, compliant: !n.cmk.encrypted })),
            notAssessed: [],
            published: input.namespaces.filter((n) => n.cmk.encrypted).length,
            publishRefused: 0,
            calls: { ...calls(0), other: 1 },
          },
        };
      }
      case SWEEP_FINISH_ACTIVITY:
        return { result: { ok: true, report: { historyBlob: 'history/x.json', latest: true }, indexed: 3 } };
      default:
        throw new Error(`unexpected call ${call.name}`);
    }
  }

  it('lists in waves of the configured concurrency, reads the key material once, evaluates, stores the report', async () => {
    const r = await replay(complianceSweepOrchestrator, { trigger: 'onDemand' }, respond, {
      name: COMPLIANCE_SWEEP_ORCHESTRATION,
      instanceId: 'complianceSweep',
    });
    expect(r.state.error).toBeUndefined();
    expect(r.calls.map((c) => c.name)).toEqual([
      SWEEP_SCOPE_ACTIVITY,
      SWEEP_SUBSCRIPTION_ORCHESTRATION,
      SWEEP_SUBSCRIPTION_ORCHESTRATION,
      SWEEP_SUBSCRIPTION_ORCHESTRATION,
      SWEEP_KEY_MATERIAL_ACTIVITY,
      SWEEP_EVALUATE_ACTIVITY,
      SWEEP_FINISH_ACTIVITY,
    ]);
    // One sub-orchestration per subscription, under ids derived from the sweep's.
    expect(r.calls.filter((c) => c.kind === 'subOrchestration').map((c) => c.instanceId)).toEqual(
      subs.map((s) => `complianceSweep:sub:${s}`),
    );
    // Key material: the distinct refs of every listed CMK namespace (3 namespaces, 3 keys, 1 vault).
    const material = r.calls.find((c) => c.name === SWEEP_KEY_MATERIAL_ACTIVITY)!.input as KeyMaterialInput;
    expect(material.request.keys.map((k) => k.keyName).sort()).toEqual(['k-0', 'k-1', 'k-2']);
    // Evaluation: the 5 listed namespaces in one batch (≤ EVALUATE_BATCH), judged at one instant.
    const evaluate = r.calls.find((c) => c.name === SWEEP_EVALUATE_ACTIVITY)!.input as EvaluateInput;
    expect(evaluate.namespaces).toHaveLength(5);
    expect(EVALUATE_BATCH).toBe(500);
    // The report: the forbidden subscription is skipped with a could-not-assess entry naming Reader.
    const finish = r.calls.find((c) => c.name === SWEEP_FINISH_ACTIVITY)!.input as FinishInput;
    expect(finish.sweep.subscriptions).toEqual([
      { subscriptionId: sub(1), status: 'assessed', namespaces: 3 },
      { subscriptionId: sub(2), status: 'assessed', namespaces: 2 },
      {
        subscriptionId: sub(3),
        status: 'skipped',
        namespaces: 0,
        reason: 'forbidden: 403 AuthorizationFailed: no Reader',
      },
    ]);
    expect(finish.notAssessed).toEqual([
      expect.objectContaining({
        scope: 'subscription',
        id: sub(3),
        cause: 'forbidden',
        status: 403,
        command: `az role assignment create --assignee <app-principal-id> --role Reader --scope /subscriptions/${sub(3)}`,
      }),
    ]);
    // The index gets the CMK namespaces of listed subscriptions only.
    expect(finish.listings.map((l) => [l.subscriptionId, l.status, l.namespaces?.length])).toEqual([
      [sub(1), 'listed', 3],
      [sub(2), 'listed', 0],
      [sub(3), 'forbidden', undefined],
    ]);
    // Calls: scope 1 + lists 4+1+1 + material 4 = 11 ARM reads; the health publish (1) is counted apart.
    expect(finish.sweep.calls).toBe(11);
    expect(finish.sweep.callsByKind).toEqual({
      arm: 11,
      keyVault: 0,
      healthPublishes: 1,
      throttled: 0,
      paced: 0,
    });
    const out = r.state.output as ComplianceSweepOutput;
    expect(out).toMatchObject({
      sweepId: 'complianceSweep',
      trigger: 'onDemand',
      calls: { arm: 11, keyVault: 0, other: 1, total: 12 },
      summary: { namespaces: 5, compliant: 2, nonCompliant: 3, couldNotAssess: 1 },
      subscriptions: { inScope: 3, assessed: 2, skipped: 1 },
      health: { published: 3, refused: 0 },
      report: { historyBlob: 'history/x.json', latest: true },
    });
  });

  it('shows progress in customStatus: subscriptions done/total after each wave, namespaces, calls', async () => {
    const r = await replay(complianceSweepOrchestrator, { trigger: 'schedule' }, respond);
    const statuses = r.statuses as SweepStatus[];
    // customStatus as an operator polling between episodes sees it: listing moves wave by wave.
    expect(statuses.map((s) => `${s.phase} ${s.subscriptions.done}/${s.subscriptions.total}`)).toEqual([
      'scope 0/0',
      'listing 0/3', // wave 1 (2 subscriptions) scheduled
      'listing 0/3',
      'listing 2/3', // wave 1 done, wave 2 scheduled
      'keyMaterial 3/3',
      'evaluating 3/3',
      'report 3/3',
      'done 3/3',
    ]);
    expect(statuses.at(-1)!.subscriptions).toEqual({ done: 3, total: 3, skipped: 1 });
    const last = statuses.at(-1)!;
    expect(last.namespaces).toEqual({ listed: 5, evaluated: 5 });
    expect(last.calls.total).toBe(12);
  });

  it('a key-material read that outlasted the retries leaves the CMK namespaces unread, says why per vault, and completes', async () => {
    const r = await replay(complianceSweepOrchestrator, { trigger: 'onDemand' }, (call) =>
      call.name === SWEEP_KEY_MATERIAL_ACTIVITY ? { throws: 'ARM 503' } : respond(call),
    );
    expect(r.state.error).toBeUndefined();
    expect(r.calls.filter((c) => c.name === SWEEP_KEY_MATERIAL_ACTIVITY)).toHaveLength(6); // platformRetry: 6 attempts
    const finish = r.calls.find((c) => c.name === SWEEP_FINISH_ACTIVITY)!.input as FinishInput;
    expect(finish.notAssessed.map((e) => [e.scope, e.id, e.cause, e.namespaceIds?.length])).toEqual([
      ['subscription', sub(3), 'forbidden', undefined],
      ['vault', 'kv-shared', 'unreachable', 3],
    ]);
    const evaluate = r.calls.find((c) => c.name === SWEEP_EVALUATE_ACTIVITY)!.input as EvaluateInput;
    expect(evaluate.material.keys).toEqual({});
  });
});

describe('complianceSweepSubscription', () => {
  const S = sub(7);
  const throttled = (retryAfterMs?: number) => ({
    result: {
      ok: false,
      class: 'platform',
      code: 'TooManyRequests',
      status: 429,
      detail: '429 TooManyRequests: throttled',
      calls: { ...calls(4), throttled: 4 },
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    },
  });
  const run = (answers: Answer[]) =>
    replay(sweepSubscriptionOrchestrator, { subscriptionId: S }, (call) => {
      expect(call.name).toBe(SWEEP_LIST_NAMESPACES_ACTIVITY);
      return answers.shift() ?? { throws: 'no more answers' };
    });

  it('waits Retry-After on a durable timer after a throttled listing, then lists again', async () => {
    const ns = listed(S, 2);
    const r = await run([
      throttled(7_000),
      throttled(),
      { result: { ok: true, namespaces: ns, calls: calls(3) } },
    ]);
    expect(r.timers).toEqual([7, 1]); // Retry-After 7 s; without one, at least 1 s
    expect(r.state.output).toEqual({
      subscriptionId: S,
      status: 'listed',
      namespaces: ns,
      calls: { arm: 11, keyVault: 0, other: 0, throttled: 8, paced: 0 },
      throttleWaits: 2,
    });
  });

  it(`gives up after ${THROTTLE_WAITS} waits: could not assess (throttled), the calls still counted`, async () => {
    const r = await run(Array.from({ length: THROTTLE_WAITS + 1 }, () => throttled(2_000)));
    expect(r.timers).toEqual([2, 2, 2]);
    expect(r.state.output).toMatchObject({
      status: 'failed',
      cause: 'throttled',
      httpStatus: 429,
      code: 'TooManyRequests',
      namespaces: [],
      calls: { arm: 16, throttled: 16 },
      throttleWaits: THROTTLE_WAITS,
    });
  });

  it('a subscription without Reader is forbidden at once (a refusal is never retried)', async () => {
    const r = await run([
      {
        result: {
          ok: false,
          class: 'refusal',
          code: 'Forbidden',
          status: 403,
          detail: 'no Reader',
          calls: calls(1),
        },
      },
    ]);
    expect(r.calls).toHaveLength(1);
    expect(r.state.output).toMatchObject({ status: 'forbidden', cause: 'forbidden', httpStatus: 403 });
  });

  it('a platform fault that outlasts the retries is could-not-assess (unreachable), not a failed sweep', async () => {
    const r = await run([]);
    expect(r.calls).toHaveLength(6);
    expect(r.state.error).toBeUndefined();
    expect(r.state.output).toMatchObject({ status: 'failed', cause: 'unreachable', namespaces: [] });
  });
});
