/**
 * `complianceSweep` — every Service Bus namespace in scope judged by the whole rule catalogue, its
 * health published, the key index refreshed and a report stored (docs/ARCHITECTURE.md "Compliance
 * sweep"). One sweep at a time: the instance id is fixed (a second start is a 409).
 *
 *   scope        SWEEP_SUBSCRIPTIONS, or `*` = every subscription the identity can see (one list)
 *   listing      one sub-orchestration per subscription (complianceSweepSubscription), SWEEP_CONCURRENCY
 *                at a time, in waves (a wave is fresh tasks: no task is yielded twice)
 *   keyMaterial  every distinct vault and key of ALL listed namespaces read once (estate.ts
 *                `readKeyMaterial`), however many namespaces and subscriptions share them
 *   evaluating   batches of EVALUATE_BATCH namespaces: assemble each namespace's facts from the
 *                material, `evaluateDiagnosis` (the whole catalogue), publish health (CMK namespaces)
 *   report       the key index saved from the listings (no second listing), the report stored
 *
 * Torn reads cannot reach a verdict: each namespace is judged from the listing and material of this
 * sweep, passed along (never re-read between the phases), at one instant (the orchestration's time
 * when evaluation starts).
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { withCallCount } from '../azure/armPacing';
import { classifyError } from '../azure/errors';
import { cmkGateways } from '../azure/cmkFacts';
import { readKeyMaterial } from '../azure/estate';
import { publishHealth } from '../azure/healthPublisher';
import { KeyIndexStore } from '../azure/keyIndexStore';
import { reportStore } from '../azure/reportStore';
import { azureClients } from '../azure/runtime';
import { SubscriptionsGateway } from '../azure/subscriptions';
import { getConfig, infrastructureEncryptionSettings } from '../config';
import {
  assembleDiagnoseFacts,
  buildComplianceReport,
  buildKeyIndex,
  evaluateDiagnosis,
  keyMaterialRequest,
  namespaceHealth,
  reportNamespaceFromDiagnosis,
  type CouldNotAssessEntry,
  type KeyMaterial,
  type KeyMaterialRequest,
  type ListedNamespace,
  type NamespaceHealth,
  type ReportNamespace,
  type ReportSubscription,
  type RuleSettings,
  type SubscriptionListing,
  type SweepMetadata,
  type SweepTrigger,
} from '../domain';
import {
  addCalls,
  chunks,
  emptyKeyMaterial,
  materialFor,
  mergeNotAssessed,
  noCalls,
  subscriptionNotAssessed,
  totalCalls,
  unreadableIn,
  type SubscriptionOutcome,
  type SweepCalls,
  type SweepStatus,
} from '../domain/sweep';
import { activity, callActivity, failureOf, isFailure, StepFailed, type ActivityFailure } from './plumbing';
import {
  SWEEP_SUBSCRIPTION_ORCHESTRATION,
  type SweepSubscriptionInput,
  type SweepSubscriptionOutput,
} from './complianceSweepSubscription';
import {
  COMPLIANCE_SWEEP_ORCHESTRATION,
  COMPLIANCE_SWEEP_INSTANCE_ID,
  SWEEP_SCOPE_ACTIVITY,
  SWEEP_KEY_MATERIAL_ACTIVITY,
  SWEEP_EVALUATE_ACTIVITY,
  SWEEP_FINISH_ACTIVITY,
} from './names';

export {
  COMPLIANCE_SWEEP_ORCHESTRATION,
  COMPLIANCE_SWEEP_INSTANCE_ID,
  SWEEP_SCOPE_ACTIVITY,
  SWEEP_KEY_MATERIAL_ACTIVITY,
  SWEEP_EVALUATE_ACTIVITY,
  SWEEP_FINISH_ACTIVITY,
};

/** Namespaces per evaluation activity (input stays ≪ 1 MB; evaluating is CPU only, publishing batched). */
export const EVALUATE_BATCH = 500;

export interface ComplianceSweepInput {
  trigger: SweepTrigger;
}

export interface ComplianceSweepOutput {
  sweepId: string;
  trigger: SweepTrigger;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  calls: SweepCalls & { total: number };
  summary: { namespaces: number; compliant: number; nonCompliant: number; couldNotAssess: number };
  subscriptions: { inScope: number; assessed: number; skipped: number };
  /** Health published for the alert path; refused ones say why (e.g. no Monitoring Metrics Publisher role). */
  health: { published: number; refused: number; detail?: string };
  report?: { historyBlob: string; latest: boolean };
  /** Set when a step the sweep cannot do without failed (the report could not be stored). */
  error?: { step: string; class: string; code: string; detail: string };
}

// ---------------------------------------------------------------------------------------------------
// Activities (exported: the benchmark drives them in-process, in the orchestrator's order)
// ---------------------------------------------------------------------------------------------------

export interface ScopeOutput {
  subscriptions: string[];
  /** `*` listed no subscription (the identity can see none, or may not list them). */
  refused?: SubscriptionOutcome;
  concurrency: number;
  settings: RuleSettings;
  calls: SweepCalls;
}

export function sweepSettings(): RuleSettings {
  const config = getConfig();
  return {
    keyVaultDnsSuffix: config.endpoints.keyVaultDnsSuffix,
    keyExpiryWarningDays: config.keyExpiryWarningDays,
    ...infrastructureEncryptionSettings(config),
  };
}

export const scopeActivity = activity(async (): Promise<{ ok: true } & ScopeOutput> => {
  const config = getConfig();
  const base = { concurrency: config.sweep.concurrency, settings: sweepSettings() };
  if (config.sweep.subscriptions !== '*')
    return { ok: true, ...base, subscriptions: [...config.sweep.subscriptions], calls: noCalls() };
  const { value, calls } = await withCallCount(async () => {
    try {
      return { list: await new SubscriptionsGateway(azureClients()).listVisible() };
    } catch (error) {
      return { error };
    }
  });
  if ('error' in value) {
    const c = failureOf(classified(value.error));
    return {
      ok: true,
      ...base,
      subscriptions: [],
      refused: {
        subscriptionId: '*',
        status: 'forbidden',
        cause: 'forbidden',
        detail: c.detail,
        code: c.code,
        ...(c.status !== undefined ? { httpStatus: c.status } : {}),
      },
      calls,
    };
  }
  return { ok: true, ...base, subscriptions: value.list.map((s) => s.subscriptionId), calls };
});

/** Platform faults are rethrown (Durable retries the activity); refusals are answered. */
function classified(error: unknown): { code: string; detail: string; status?: number } {
  const c = classifyError(error);
  if (c.class !== 'refusal') throw error;
  return { code: c.code, detail: c.detail, ...(c.status !== undefined ? { status: c.status } : {}) };
}

export interface KeyMaterialInput {
  request: KeyMaterialRequest;
  settings: RuleSettings;
}

export const keyMaterialActivity = activity(
  async (input: KeyMaterialInput): Promise<{ ok: true; material: KeyMaterial; calls: SweepCalls }> => {
    const { value, calls } = await withCallCount(() =>
      readKeyMaterial(cmkGateways(azureClients()), input.request, input.settings),
    );
    return { ok: true, material: value, calls };
  },
);

export interface EvaluateInput {
  namespaces: ListedNamespace[];
  material: KeyMaterial;
  settings: RuleSettings;
  /** ISO: the instant every namespace of the sweep is judged at. */
  at: string;
}

export interface EvaluateOutput {
  entries: ReportNamespace[];
  notAssessed: CouldNotAssessEntry[];
  /** Health samples posted (duplicates of the same minute are not posted again). */
  published: number;
  /** Namespaces whose health could not be published (refused), with the first reason. */
  publishRefused: number;
  publishDetail?: string;
  calls: SweepCalls;
}

export const evaluateActivity = activity(
  async (input: EvaluateInput): Promise<{ ok: true } & EvaluateOutput> => {
    const now = new Date(input.at);
    const entries: ReportNamespace[] = [];
    const notAssessed: CouldNotAssessEntry[] = [];
    const health: NamespaceHealth[] = [];
    for (const ns of input.namespaces) {
      const facts = assembleDiagnoseFacts(ns, input.material, input.settings);
      const diagnosis = evaluateDiagnosis(facts, now);
      entries.push(reportNamespaceFromDiagnosis(facts.namespace, diagnosis));
      notAssessed.push(...unreadableIn(facts));
      if (diagnosis.cmk.encrypted) health.push(namespaceHealth(diagnosis, ns.location));
    }
    // Publishing is the alert path (CmkHealthy / CmkAtRisk): refusals (no Monitoring Metrics
    // Publisher, no region) come back in the summary; a platform fault is thrown so Durable retries the
    // batch (the publisher remembers what it posted, so a retry posts only the rest).
    let publishProblem: string | undefined;
    const { value: summary, calls } = await withCallCount(async () => {
      if (!health.length) return undefined;
      try {
        return await publishHealth(azureClients(), health, now);
      } catch (error) {
        const c = classifyError(error);
        if (c.class === 'platform') throw error;
        publishProblem = c.detail;
        return undefined;
      }
    });
    const refused = summary?.refused ?? [];
    const first = refused[0];
    return {
      ok: true,
      entries,
      notAssessed: mergeNotAssessed(notAssessed),
      published: summary?.published ?? 0,
      publishRefused: publishProblem ? health.length : refused.length,
      ...(publishProblem || first
        ? { publishDetail: publishProblem ?? `${first!.code}: ${first!.detail}` }
        : {}),
      calls,
    };
  },
);

export interface FinishInput {
  sweep: SweepMetadata;
  entries: ReportNamespace[];
  notAssessed: CouldNotAssessEntry[];
  /** The listings, CMK namespaces only (what the index holds). */
  listings: SubscriptionListing[];
}

export interface FinishOutput {
  /** The history copy of the report, and whether it became latest.json (not when a newer one is there). */
  report: { historyBlob: string; latest: boolean };
  indexed: number;
}

export const finishActivity = activity(async (input: FinishInput): Promise<{ ok: true } & FinishOutput> => {
  // The index from this sweep's listings (no second listing); a subscription that could not be
  // listed keeps the previous index's namespaces (buildKeyIndex carries them over).
  const store = new KeyIndexStore(azureClients());
  const index = buildKeyIndex(input.listings, input.sweep.finishedAt, await store.load());
  await store.save(index);
  const report = buildComplianceReport({
    sweep: input.sweep,
    namespaces: input.entries,
    couldNotAssess: input.notAssessed,
  });
  const saved = await reportStore(azureClients()).save(report);
  return { ok: true, report: saved, indexed: index.namespaces.length };
});

// ---------------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------------

export const complianceSweepOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ComplianceSweepInput>();
  const sweepId = context.df.instanceId;
  const started = context.df.currentUtcDateTime;
  let calls = noCalls();
  const status: SweepStatus = {
    phase: 'scope',
    startedAt: started.toISOString(),
    subscriptions: { done: 0, total: 0, skipped: 0 },
    namespaces: { listed: 0, evaluated: 0 },
    calls: { ...calls, total: 0 },
  };
  const publish = (phase: SweepStatus['phase'], detail?: string): void => {
    status.phase = phase;
    status.calls = { ...calls, total: totalCalls(calls) };
    if (detail !== undefined) status.detail = detail;
    else delete status.detail;
    context.df.setCustomStatus(status);
  };
  publish('scope');

  const scope = (yield* callActivity<ScopeOutput>(context, SWEEP_SCOPE_ACTIVITY, {}, 'scope')) as
    ({ ok: true } & ScopeOutput) | ActivityFailure;
  if (isFailure(scope)) throw new StepFailed('scope', scope);
  calls = addCalls(calls, scope.calls);
  const outcomes: SubscriptionOutcome[] = scope.refused ? [scope.refused] : [];
  status.subscriptions.total = scope.subscriptions.length;

  // Listing: one sub-orchestration per subscription, `concurrency` at a time.
  const listed: SweepSubscriptionOutput[] = [];
  publish('listing');
  for (const wave of chunks(scope.subscriptions, scope.concurrency)) {
    const results = (yield context.df.Task.all(
      wave.map((subscriptionId) =>
        context.df.callSubOrchestrator(
          SWEEP_SUBSCRIPTION_ORCHESTRATION,
          { subscriptionId } satisfies SweepSubscriptionInput,
          `${sweepId}:sub:${subscriptionId.toLowerCase()}`,
        ),
      ),
    )) as SweepSubscriptionOutput[];
    for (const r of results) {
      listed.push(r);
      calls = addCalls(calls, r.calls);
      status.subscriptions.done += 1;
      if (r.status !== 'listed') status.subscriptions.skipped += 1;
      status.namespaces.listed += r.namespaces.length;
    }
    publish('listing');
  }
  outcomes.push(...listed.map(({ namespaces: _n, calls: _c, throttleWaits: _t, ...o }) => o));
  const namespaces = listed.flatMap((l) => l.namespaces);

  // Key material: every distinct vault and key once for the whole sweep.
  const request = keyMaterialRequest(namespaces);
  let material = emptyKeyMaterial();
  const notAssessed: CouldNotAssessEntry[] = outcomes.flatMap((o) => subscriptionNotAssessed(o) ?? []);
  if (request.keys.length > 0) {
    publish('keyMaterial', `${request.keys.length} distinct key references`);
    try {
      const read = yield* callActivity<{ material: KeyMaterial; calls: SweepCalls }>(
        context,
        SWEEP_KEY_MATERIAL_ACTIVITY,
        { request, settings: scope.settings } satisfies KeyMaterialInput,
        'keyMaterial',
      );
      if (isFailure(read)) throw new StepFailed('keyMaterial', read);
      material = read.material;
      calls = addCalls(calls, read.calls);
    } catch (error) {
      // Nothing of Key Vault could be read: every CMK namespace stays "unknown" (its keys unread,
      // PRE-016), and the report says why for each vault.
      if (!(error instanceof StepFailed)) throw error;
      const vaults = new Map<string, string[]>();
      for (const ns of namespaces)
        if (ns.cmk.encrypted)
          for (const k of ns.cmk.keys)
            if (k.vaultName) vaults.set(k.vaultName, [...(vaults.get(k.vaultName) ?? []), ns.id]);
      for (const [vaultName, ids] of vaults)
        notAssessed.push({
          scope: 'vault',
          id: vaultName,
          cause: error.failure.class === 'platform' ? 'unreachable' : 'failed',
          message: `could not assess: key vault ${vaultName} — reading the sweep's vaults and keys failed (${error.detail}).`,
          fix: 'Run the sweep again; if it persists, check Resource Manager and the vaults.',
          code: error.code,
          namespaceIds: ids,
        });
    }
  }

  // Evaluation: batches, `concurrency` at a time; every namespace judged at the same instant.
  const at = context.df.currentUtcDateTime.toISOString();
  const entries: ReportNamespace[] = [];
  let published = 0;
  let publishRefused = 0;
  let publishDetail: string | undefined;
  publish('evaluating');
  for (const wave of chunks(chunks(namespaces, EVALUATE_BATCH), scope.concurrency)) {
    const results = (yield context.df.Task.all(
      wave.map((batch) =>
        context.df.callActivityWithRetry(SWEEP_EVALUATE_ACTIVITY, platformRetryForEvaluate(), {
          namespaces: batch,
          material: materialFor(batch, material),
          settings: scope.settings,
          at,
        } satisfies EvaluateInput),
      ),
    )) as Array<({ ok: true } & EvaluateOutput) | ActivityFailure>;
    for (const r of results) {
      if (isFailure(r)) throw new StepFailed('evaluate', r);
      entries.push(...r.entries);
      notAssessed.push(...r.notAssessed);
      calls = addCalls(calls, r.calls);
      status.namespaces.evaluated += r.entries.length;
      published += r.published;
      publishRefused += r.publishRefused;
      publishDetail ??= r.publishDetail;
    }
    publish('evaluating');
  }

  // Report and index.
  publish('report');
  const finished = context.df.currentUtcDateTime;
  const subscriptions: ReportSubscription[] = outcomes
    .filter((o) => o.subscriptionId !== '*')
    .map((o) => {
      const l = listed.find((x) => x.subscriptionId === o.subscriptionId);
      return {
        subscriptionId: o.subscriptionId,
        status: o.status === 'listed' ? 'assessed' : 'skipped',
        namespaces: l?.namespaces.length ?? 0,
        ...(o.status !== 'listed' ? { reason: `${o.cause ?? o.status}: ${o.detail ?? ''}`.trim() } : {}),
      };
    });
  const sweep: SweepMetadata = {
    sweepId,
    trigger: input.trigger,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    // Azure reads (ARM + Key Vault): what the minimum of a sweep is counted in. Health publishes (the
    // custom-metrics endpoint) and Blob writes are not Azure Resource Manager calls: listed apart.
    calls: calls.arm + calls.keyVault,
    callsByKind: {
      arm: calls.arm,
      keyVault: calls.keyVault,
      healthPublishes: calls.other,
      throttled: calls.throttled,
      paced: calls.paced,
    },
    settings: {
      keyExpiryWarningDays: scope.settings.keyExpiryWarningDays,
      requireInfrastructureEncryption:
        scope.settings.requireInfrastructureEncryption === true ||
        (scope.settings.infrastructureEncryptionScopes ?? []).length > 0,
    },
    subscriptions,
  };
  const merged = mergeNotAssessed(notAssessed);
  const listings: SubscriptionListing[] = listed.map((l) => ({
    subscriptionId: l.subscriptionId,
    status: l.status,
    ...(l.detail ? { detail: l.detail } : {}),
    ...(l.status === 'listed' ? { namespaces: l.namespaces.filter((n) => n.cmk.encrypted) } : {}),
  }));
  const output: ComplianceSweepOutput = {
    sweepId,
    trigger: input.trigger,
    startedAt: sweep.startedAt,
    finishedAt: sweep.finishedAt,
    durationMs: sweep.durationMs,
    calls: { ...calls, total: totalCalls(calls) },
    summary: {
      namespaces: entries.length,
      compliant: entries.filter((e) => e.compliant).length,
      nonCompliant: entries.filter((e) => !e.compliant).length,
      couldNotAssess: merged.length,
    },
    subscriptions: {
      inScope: subscriptions.length,
      assessed: subscriptions.filter((s) => s.status === 'assessed').length,
      skipped: subscriptions.filter((s) => s.status === 'skipped').length,
    },
    health: { published, refused: publishRefused, ...(publishDetail ? { detail: publishDetail } : {}) },
  };
  try {
    const done = yield* callActivity<FinishOutput>(
      context,
      SWEEP_FINISH_ACTIVITY,
      { sweep, entries, notAssessed: merged, listings } satisfies FinishInput,
      'report',
    );
    if (isFailure(done)) throw new StepFailed('report', done);
    output.report = done.report;
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    output.error = { step: 'report', class: error.failure.class, code: error.code, detail: error.detail };
    publish('failed', `the report could not be stored: ${error.detail}`);
    return output;
  }
  publish('done');
  return output;
};

function platformRetryForEvaluate(): df.RetryOptions {
  const retry = new df.RetryOptions(5_000, 4);
  retry.backoffCoefficient = 2;
  return retry;
}
