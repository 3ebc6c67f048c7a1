/**
 * `enableCmkGeoDr` — customer-managed keys on a Service Bus namespace that is (or will be) in a Geo-DR
 * pairing (docs/ARCHITECTURE.md "Geo-DR"). The plan is the domain's (`buildGeoDrPlan`); this file runs it:
 *
 * - already paired, system-assigned: break (on the primary) → wait for the break → ensure the
 *   secondary's identity and grant it on the keys → `enableCmk` on the primary as a sub-orchestration
 *   (it grants the primary's identity and encrypts) → re-pair with the same alias and partner → wait
 *   for `Succeeded` and no pending replication;
 * - CMK first, then Geo-DR: `enableCmk` where needed (user-assigned: the secondary first, then the
 *   primary) → grant the secondary (system-assigned) → pair → wait.
 *
 * Compensation: any failure after the break re-pairs and reports "CMK not enabled; pairing restored";
 * when re-pairing itself fails the outcome is `critical`, naming the alias, both namespaces and the
 * exact command. `customStatus.pairing` ALWAYS says whether the pairing is intact.
 *
 * Idempotence: every activity checks before it writes (break only a `Primary`, pair only when not
 * already paired with that partner, grants skip what exists), and the plan is made from what Azure
 * says now — so a run that was terminated mid-way and is started again converges.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { cmkGateways, readEnablePreflightFacts, type NamespaceRefusal } from '../azure/cmkFacts';
import { describeAzureError } from '../azure/errors';
import { GeoDrGateway } from '../azure/geoDr';
import { azureClients } from '../azure/runtime';
import {
  buildGeoDrPlan,
  repairCommand,
  secondaryAccessPlan,
  type EncryptionIdentity,
  type Finding,
  type GeoDrAliasFacts,
  type GeoDrFacts,
  type GeoDrOrder,
  type GeoDrPlan,
  type GeoDrStepKind,
  type GroupedResourceId,
  type KeyRef,
  type PairingState,
  type RuleSettings,
} from '../domain';
import {
  ENABLE_CMK_ORCHESTRATION,
  ENSURE_IDENTITY_ACTIVITY,
  GRANT_KEY_ACCESS_ACTIVITY,
  READ_NAMESPACE_ACTIVITY,
  TIMING,
  platformRetry,
  type ActivityFailure,
  type EnableCmkInput,
  type EnableCmkOutput,
  type GrantRecord,
  type GrantResult,
} from './enableCmkOrchestrator';

export const ENABLE_CMK_GEO_DR_ORCHESTRATION = 'enableCmkGeoDr';
export const GEO_READ_FACTS_ACTIVITY = 'enableCmkGeoDr_readFacts';
export const GEO_READ_ALIASES_ACTIVITY = 'enableCmkGeoDr_readAliases';
export const GEO_BREAK_ACTIVITY = 'enableCmkGeoDr_breakPairing';
export const GEO_PAIR_ACTIVITY = 'enableCmkGeoDr_pair';

export const GEO_TIMING = {
  pollSeconds: 15,
  /** Break and pairing: 30 s + about a minute per 50–100 entities; 40 polls = 10 minutes. */
  maxPolls: 40,
  /** The pairing refused because the secondary cannot use the keys yet (a fresh grant): retries. */
  pairAccessRetries: 4,
  pairAccessRetryFirstSeconds: 30,
};

// ---------------------------------------------------------------------------------------------------
// Input, status, output
// ---------------------------------------------------------------------------------------------------

export interface EnableCmkGeoDrInput {
  primary: GroupedResourceId;
  secondary: GroupedResourceId;
  alias: string;
  keys: KeyRef[];
  identity: EncryptionIdentity;
  requireInfrastructureEncryption: boolean;
  settings: RuleSettings;
}

export type GeoStepKind = GeoDrStepKind | 'preflight' | 'restorePairing';

export interface GeoStepLogEntry {
  kind: GeoStepKind;
  status: 'pending' | 'running' | 'done' | 'skipped' | 'failed';
  detail?: string;
}

/** Whether the pairing is intact — in every status and every output. */
export interface PairingStatus {
  alias: string;
  primaryNamespaceId: string;
  secondaryNamespaceId: string;
  intact: boolean;
  state: 'paired' | 'notPaired' | 'broken' | 'pairing' | 'restoring' | 'unknown';
  detail: string;
}

export interface EnableCmkGeoDrStatus {
  state: 'running' | 'succeeded' | 'noOp' | 'blocked' | 'restored' | 'failed' | 'critical';
  order?: GeoDrOrder;
  step?: GeoStepKind;
  pairing: PairingStatus;
  steps: GeoStepLogEntry[];
  grants: GrantRecord[];
  subOperations: { kind: GeoDrStepKind; namespaceId: string; outcome: string; summary: string }[];
}

export interface EnableCmkGeoDrOutput {
  outcome: 'enabled' | 'noOp' | 'blocked' | 'restored' | 'failed' | 'critical';
  summary: string;
  order?: GeoDrOrder;
  pairing: PairingStatus;
  findings: Finding[];
  steps: GeoStepLogEntry[];
  grants: GrantRecord[];
  subOperations: EnableCmkGeoDrStatus['subOperations'];
  error?: { step: GeoStepKind; code: string; detail: string };
  /** Only for `critical`: the pairing could not be restored. */
  critical?: { alias: string; primaryNamespaceId: string; secondaryNamespaceId: string; command: string };
}

// ---------------------------------------------------------------------------------------------------
// Activities (idempotent; throw only for platform faults, which are retried)
// ---------------------------------------------------------------------------------------------------

async function guarded<T>(body: () => Promise<T>): Promise<T | ActivityFailure> {
  try {
    return await body();
  } catch (error) {
    const d = describeAzureError(error);
    if (d.transient) throw error;
    return {
      ok: false,
      code: d.code,
      detail: d.detail,
      ...(d.status !== undefined ? { status: d.status } : {}),
    };
  }
}

const failure = (r: { code: string; detail: string; status?: number | undefined }): ActivityFailure => ({
  ok: false,
  code: r.code,
  detail: r.detail,
  ...(r.status !== undefined ? { status: r.status } : {}),
});

const geo = () => new GeoDrGateway(azureClients());

export type GeoFactsResult = { ok: true; facts: GeoDrFacts } | (ActivityFailure & { namespaceId: string });

/** Everything the Geo-DR preflight needs, read-only (also the HTTP dry run's reader). */
export async function readGeoDrFacts(input: EnableCmkGeoDrInput): Promise<GeoFactsResult> {
  const gw = cmkGateways(azureClients());
  const request = {
    keys: input.keys,
    identity: input.identity,
    requireInfrastructureEncryption: input.requireInfrastructureEncryption,
  };
  const [primary, secondary, primaryAlias, secondaryAlias] = await Promise.all([
    readEnablePreflightFacts(gw, { ...request, namespace: input.primary }, input.settings),
    readEnablePreflightFacts(gw, { ...request, namespace: input.secondary }, input.settings),
    geo().aliasOf(input.primary),
    geo().aliasOf(input.secondary),
  ]);
  const refused: NamespaceRefusal | undefined = !primary.ok
    ? { ...primary, namespaceId: input.primary.id }
    : !secondary.ok
      ? { ...secondary, namespaceId: input.secondary.id }
      : !primaryAlias.ok
        ? { ...primaryAlias, namespaceId: input.primary.id }
        : !secondaryAlias.ok
          ? { ...secondaryAlias, namespaceId: input.secondary.id }
          : undefined;
  if (refused) return { ...failure(refused), namespaceId: refused.namespaceId };
  if (!primary.ok || !secondary.ok || !primaryAlias.ok || !secondaryAlias.ok) throw new Error('unreachable');
  return {
    ok: true,
    facts: {
      alias: input.alias,
      primary: primary.value,
      secondary: secondary.value,
      ...(primaryAlias.value ? { primaryAlias: primaryAlias.value } : {}),
      ...(secondaryAlias.value ? { secondaryAlias: secondaryAlias.value } : {}),
    },
  };
}

export async function readFactsActivity(
  input: EnableCmkGeoDrInput,
): Promise<GeoFactsResult | ActivityFailure> {
  return guarded(() => readGeoDrFacts(input));
}

export type AliasesResult = { ok: true; primaryAlias?: GeoDrAliasFacts; secondaryAlias?: GeoDrAliasFacts };

export async function readAliasesActivity(
  input: EnableCmkGeoDrInput,
): Promise<AliasesResult | ActivityFailure> {
  return guarded(async () => {
    const [p, s] = await Promise.all([geo().aliasOf(input.primary), geo().aliasOf(input.secondary)]);
    if (!p.ok) return failure(p);
    if (!s.ok) return failure(s);
    return {
      ok: true as const,
      ...(p.value ? { primaryAlias: p.value } : {}),
      ...(s.value ? { secondaryAlias: s.value } : {}),
    };
  });
}

/** Breaks the pairing on the primary — unless it is already broken (a second run of the activity). */
export async function breakPairingActivity(
  input: EnableCmkGeoDrInput,
): Promise<{ ok: true; already: boolean } | ActivityFailure> {
  return guarded(async () => {
    const current = await geo().getAlias(input.primary, input.alias);
    if (!current.ok) return failure(current);
    if (current.value?.role === 'PrimaryNotReplicating') return { ok: true as const, already: true };
    const r = await geo().breakPairing(input.primary, input.alias);
    if (!r.ok) return failure(r);
    return { ok: true as const, already: false };
  });
}

/** Pairs primary and secondary through the alias — unless they already are (a second run). */
export async function pairActivity(
  input: EnableCmkGeoDrInput,
): Promise<{ ok: true; already: boolean } | (ActivityFailure & { keyAccess: boolean })> {
  const r = await guarded(async () => {
    const current = await geo().getAlias(input.primary, input.alias);
    if (!current.ok) return failure(current);
    const c = current.value;
    if (c?.role === 'Primary' && c.partnerNamespaceId?.toLowerCase() === input.secondary.id.toLowerCase())
      return { ok: true as const, already: true };
    const paired = await geo().pair(input.primary, input.alias, input.secondary.id);
    if (!paired.ok) return failure(paired);
    return { ok: true as const, already: false };
  });
  if (r.ok) return r;
  return {
    ...r,
    keyAccess: r.status === 400 && /cannot use the primary's key|wrapKey|unwrapKey|access/i.test(r.detail),
  };
}

df.app.activity(GEO_READ_FACTS_ACTIVITY, { handler: readFactsActivity });
df.app.activity(GEO_READ_ALIASES_ACTIVITY, { handler: readAliasesActivity });
df.app.activity(GEO_BREAK_ACTIVITY, { handler: breakPairingActivity });
df.app.activity(GEO_PAIR_ACTIVITY, { handler: pairActivity });

// ---------------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------------

class StepFailed extends Error {
  constructor(
    readonly step: GeoStepKind,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const isFailure = (r: unknown): r is ActivityFailure =>
  typeof r === 'object' && r !== null && (r as { ok?: unknown }).ok === false;

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

function pairingFromPlan(input: EnableCmkGeoDrInput, state: PairingState): PairingStatus {
  const base = {
    alias: input.alias,
    primaryNamespaceId: input.primary.id,
    secondaryNamespaceId: input.secondary.id,
  };
  switch (state) {
    case 'paired':
      return {
        ...base,
        intact: true,
        state: 'paired',
        detail: `${input.primary.name} is paired with ${input.secondary.name}.`,
      };
    case 'broken':
      return {
        ...base,
        intact: false,
        state: 'broken',
        detail: `The pairing of alias ${input.alias} is broken (${input.primary.name} is PrimaryNotReplicating); this operation re-pairs it.`,
      };
    case 'unpaired':
      return { ...base, intact: false, state: 'notPaired', detail: 'The namespaces are not paired (yet).' };
    default:
      return {
        ...base,
        intact: false,
        state: 'unknown',
        detail: 'The pairing does not match the request; left as it is.',
      };
  }
}

const enableCmkGeoDrOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<EnableCmkGeoDrInput>();
  const retry = platformRetry();
  const steps: GeoStepLogEntry[] = [{ kind: 'preflight', status: 'running' }];
  const grants: GrantRecord[] = [];
  const subOperations: EnableCmkGeoDrStatus['subOperations'] = [];
  const status: EnableCmkGeoDrStatus = {
    state: 'running',
    step: 'preflight',
    pairing: pairingFromPlan(input, 'paired'),
    steps,
    grants,
    subOperations,
  };
  status.pairing = {
    ...status.pairing,
    intact: false,
    state: 'unknown',
    detail: 'Not read yet; nothing changed.',
  };
  const publish = () => context.df.setCustomStatus(status);
  publish();

  const wait = (seconds: number) =>
    context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + seconds * 1000));
  const call = function* <T>(name: string, payload: unknown, step: GeoStepKind) {
    try {
      return (yield context.df.callActivityWithRetry(name, retry, payload)) as T | ActivityFailure;
    } catch (error) {
      throw new StepFailed(step, 'PlatformFault', `Azure kept failing after retries: ${errorText(error)}`);
    }
  };
  const setPairing = (p: Partial<PairingStatus>) => {
    status.pairing = { ...status.pairing, ...p };
    publish();
  };

  let plan: GeoDrPlan | undefined = undefined;
  const finish = (
    outcome: EnableCmkGeoDrOutput['outcome'],
    summary: string,
    extra: Partial<EnableCmkGeoDrOutput> = {},
  ): EnableCmkGeoDrOutput => {
    status.state = outcome === 'enabled' ? 'succeeded' : outcome;
    delete status.step;
    publish();
    return {
      outcome,
      summary,
      ...(plan?.order ? { order: plan.order } : {}),
      pairing: status.pairing,
      findings: plan?.findings ?? [],
      steps,
      grants,
      subOperations,
      ...extra,
    };
  };

  // 1. Facts, Geo-DR preflight and plan — read-only; nothing is broken before this has passed.
  const read = yield* (function* () {
    try {
      return yield* call<GeoFactsResult>(GEO_READ_FACTS_ACTIVITY, input, 'preflight');
    } catch (error) {
      return failure({ code: 'PlatformFault', detail: errorText(error) });
    }
  })();
  if (isFailure(read)) {
    steps[0] = { kind: 'preflight', status: 'failed', detail: read.detail };
    return finish(
      'failed',
      `Nothing was changed: the namespaces or their aliases could not be read (${read.detail}).`,
      {
        error: { step: 'preflight', code: read.code, detail: read.detail },
      },
    );
  }
  plan = buildGeoDrPlan(read.facts, context.df.currentUtcDateTime);
  status.pairing = pairingFromPlan(input, plan.pairing);
  if (plan.order) status.order = plan.order;
  steps[0] = {
    kind: 'preflight',
    status: plan.outcome === 'blocked' ? 'failed' : 'done',
    detail: `${plan.findings.length} finding(s), ${plan.findings.filter((f) => f.blocks).length} blocking`,
  };
  if (plan.outcome !== 'apply') return finish(plan.outcome, plan.summary);
  const planned = plan.steps;
  steps.push(
    ...planned.map((s): GeoStepLogEntry => ({ kind: s.kind, status: 'pending', detail: s.description })),
  );
  publish();

  /** True once this run is responsible for a broken pairing (it broke it, or found it broken to re-pair). */
  let mustRepair = plan.pairing === 'broken';
  let primaryEncrypted = false;

  /** Until the break has completed; when restoring, a pairing already re-created also ends the wait. */
  const waitForBreak = function* (step: GeoStepKind, orPaired = false) {
    for (let poll = 0; ; poll++) {
      const r = yield* call<AliasesResult>(GEO_READ_ALIASES_ACTIVITY, input, step);
      if (isFailure(r)) throw new StepFailed(step, r.code, r.detail);
      const done =
        r.primaryAlias?.role === 'PrimaryNotReplicating' &&
        r.primaryAlias.provisioningState?.toLowerCase() === 'succeeded' &&
        r.secondaryAlias?.role !== 'Secondary';
      const repaired =
        orPaired &&
        r.primaryAlias?.role === 'Primary' &&
        r.primaryAlias.partnerNamespaceId?.toLowerCase() === input.secondary.id.toLowerCase();
      if (done || repaired) return;
      if (poll >= GEO_TIMING.maxPolls)
        throw new StepFailed(step, 'BreakTimeout', `The break of alias ${input.alias} has not completed.`);
      yield wait(GEO_TIMING.pollSeconds);
    }
  };

  const pair = function* (step: GeoStepKind) {
    for (let attempt = 0; ; attempt++) {
      const r = yield* call<{ ok: true; already: boolean } | (ActivityFailure & { keyAccess: boolean })>(
        GEO_PAIR_ACTIVITY,
        input,
        step,
      );
      if (!isFailure(r)) return r.already;
      // A fresh grant may not be effective yet: the service refuses the pairing until the secondary can use the keys.
      if (
        (r as { keyAccess?: boolean }).keyAccess &&
        grants.length > 0 &&
        attempt < GEO_TIMING.pairAccessRetries
      ) {
        yield wait(GEO_TIMING.pairAccessRetryFirstSeconds * 2 ** attempt);
        continue;
      }
      throw new StepFailed(step, r.code, r.detail);
    }
  };

  const waitForReplication = function* (step: GeoStepKind) {
    for (let poll = 0; ; poll++) {
      const r = yield* call<AliasesResult>(GEO_READ_ALIASES_ACTIVITY, input, step);
      if (isFailure(r)) throw new StepFailed(step, r.code, r.detail);
      const a = r.primaryAlias;
      if (a?.provisioningState?.toLowerCase() === 'failed')
        throw new StepFailed(
          step,
          'PairingFailed',
          `Alias ${input.alias} ended in provisioningState Failed.`,
        );
      if (
        a?.role === 'Primary' &&
        a.provisioningState?.toLowerCase() === 'succeeded' &&
        a.pendingReplicationOperationsCount === 0
      )
        return;
      if (poll >= GEO_TIMING.maxPolls)
        throw new StepFailed(
          step,
          'ReplicationTimeout',
          `Alias ${input.alias} is still ${a?.provisioningState ?? 'unknown'} with ${a?.pendingReplicationOperationsCount ?? '?'} pending replication operation(s).`,
        );
      yield wait(GEO_TIMING.pollSeconds);
    }
  };

  const encrypt = function* (kind: GeoDrStepKind, namespace: GroupedResourceId) {
    const sub: EnableCmkInput = {
      namespace,
      keys: input.keys,
      identity: input.identity,
      requireInfrastructureEncryption: input.requireInfrastructureEncryption,
      settings: input.settings,
    };
    let out: EnableCmkOutput;
    try {
      out = (yield context.df.callSubOrchestrator(ENABLE_CMK_ORCHESTRATION, sub)) as EnableCmkOutput;
    } catch (error) {
      throw new StepFailed(kind, 'SubOrchestrationFailed', errorText(error));
    }
    grants.push(...out.grants);
    subOperations.push({ kind, namespaceId: namespace.id, outcome: out.outcome, summary: out.summary });
    if (out.outcome !== 'enabled' && out.outcome !== 'noOp')
      throw new StepFailed(kind, out.error?.code ?? out.outcome, out.summary);
    return out.summary;
  };

  const grantSecondary = function* (step: GeoStepKind) {
    // Re-read: the secondary is standalone now (its identity can be enabled) and grants may exist.
    const fresh = yield* call<GeoFactsResult>(GEO_READ_FACTS_ACTIVITY, input, step);
    if (isFailure(fresh)) throw new StepFailed(step, fresh.code, fresh.detail);
    const access = secondaryAccessPlan(fresh.facts.secondary, context.df.currentUtcDateTime);
    if (access.findings.length > 0)
      throw new StepFailed(step, 'SecondaryAccessBlocked', access.findings.map((f) => f.message).join(' '));
    let principalId = fresh.facts.secondary.namespace.identity.systemAssigned?.principalId;
    let tenantId = fresh.facts.secondary.namespace.identity.systemAssigned?.tenantId;
    let made = 0;
    for (const s of access.steps) {
      if (s.kind === 'ensureIdentity') {
        if (s.action !== 'none') {
          const r = yield* call<{ ok: true; principalId?: string; tenantId?: string }>(
            ENSURE_IDENTITY_ACTIVITY,
            {
              namespace: input.secondary,
              target: s.target,
              keyVaultDnsSuffix: input.settings.keyVaultDnsSuffix,
            },
            step,
          );
          if (isFailure(r)) throw new StepFailed(step, r.code, r.detail);
          principalId = r.principalId ?? principalId;
          tenantId = r.tenantId ?? tenantId;
        }
        for (let poll = 0; !principalId && poll < TIMING.maxPolls; poll++) {
          yield wait(TIMING.pollSeconds);
          const r = yield* call<{ ok: true; principalId?: string; tenantId?: string }>(
            READ_NAMESPACE_ACTIVITY,
            { namespace: input.secondary },
            step,
          );
          if (isFailure(r)) throw new StepFailed(step, r.code, r.detail);
          principalId = r.principalId;
          tenantId = r.tenantId ?? tenantId;
        }
        if (!principalId)
          throw new StepFailed(
            step,
            'PrincipalNotCreated',
            `${input.secondary.name} has no system-assigned principal yet.`,
          );
        continue;
      }
      if (s.action === 'none') continue;
      if (!principalId)
        throw new StepFailed(step, 'PrincipalUnknown', `${input.secondary.name} has no principal.`);
      const r = yield* call<GrantResult>(
        GRANT_KEY_ACCESS_ACTIVITY,
        { step: s, principalId, ...(tenantId ? { tenantId } : {}) },
        step,
      );
      grants.push(...((r as { grants?: GrantRecord[] }).grants ?? []));
      publish();
      if (isFailure(r)) throw new StepFailed(step, r.code, r.detail);
      made++;
    }
    if (made > 0) yield wait(TIMING.propagationWaitSeconds);
    return made > 0
      ? `principal ${principalId ?? '?'}: ${made} grant(s)`
      : `principal ${principalId ?? '?'} already has access`;
  };

  // 2. The steps, in order.
  try {
    for (let i = 0; i < planned.length; i++) {
      const step = planned[i]!;
      const entry = steps[i + 1]!;
      entry.status = 'running';
      status.step = step.kind;
      publish();
      switch (step.kind) {
        case 'breakPairing': {
          const r = yield* call<{ ok: true; already: boolean }>(GEO_BREAK_ACTIVITY, input, step.kind);
          if (isFailure(r)) throw new StepFailed(step.kind, r.code, r.detail);
          mustRepair = true;
          setPairing({
            intact: false,
            state: 'broken',
            detail: `Broken by this operation at ${context.df.currentUtcDateTime.toISOString()} to encrypt ${input.primary.name}; it is re-paired at the end, or restored if a step fails.`,
          });
          entry.detail = r.already ? 'already broken' : `breakPairing on ${input.primary.name}`;
          break;
        }
        case 'waitForBreak':
          yield* waitForBreak(step.kind);
          entry.detail = `${input.secondary.name} is standalone`;
          break;
        case 'grantSecondary':
          entry.detail = yield* grantSecondary(step.kind);
          break;
        case 'encryptSecondary':
          entry.detail = yield* encrypt(step.kind, input.secondary);
          break;
        case 'encryptPrimary':
          entry.detail = yield* encrypt(step.kind, input.primary);
          primaryEncrypted = true;
          break;
        case 'pair': {
          const already = yield* pair(step.kind);
          // The pairing exists again: from here a failure is a pairing still settling, not a broken one.
          mustRepair = false;
          setPairing({
            intact: false,
            state: 'pairing',
            detail: `Alias ${input.alias} is being paired; waiting for replication.`,
          });
          entry.detail = already ? 'already paired' : `alias ${input.alias} → ${input.secondary.name}`;
          break;
        }
        case 'waitForReplication':
          yield* waitForReplication(step.kind);
          mustRepair = false;
          setPairing({
            intact: true,
            state: 'paired',
            detail: `${input.primary.name} is paired with ${input.secondary.name}; replication settled.`,
          });
          entry.detail = 'Succeeded, no pending replication';
          break;
      }
      entry.status = 'done';
      publish();
    }
  } catch (error) {
    const failed =
      error instanceof StepFailed
        ? error
        : new StepFailed(status.step ?? 'preflight', 'Error', errorText(error));
    const entry = steps.find((s) => s.status === 'running');
    if (entry) {
      entry.status = 'failed';
      entry.detail = failed.detail;
    }
    for (const s of steps) if (s.status === 'pending') s.status = 'skipped';
    const errorInfo = { step: failed.step, code: failed.code, detail: failed.detail };
    const cmkText = primaryEncrypted
      ? `Customer-managed keys are on for ${input.primary.name}`
      : `CMK not enabled on ${input.primary.name}`;

    if (!mustRepair) {
      return finish(
        'failed',
        `${cmkText}: step ${failed.step} failed (${failed.detail}). ${status.pairing.intact ? 'The pairing is intact.' : `Pairing: ${status.pairing.detail}`}`,
        { error: errorInfo },
      );
    }

    // 3. Compensation: restore the pairing (same alias, same partner).
    const restore: GeoStepLogEntry = {
      kind: 'restorePairing',
      status: 'running',
      detail: `re-pair ${input.alias}`,
    };
    steps.push(restore);
    status.step = 'restorePairing';
    setPairing({
      intact: false,
      state: 'restoring',
      detail: `Step ${failed.step} failed; re-pairing alias ${input.alias}.`,
    });
    try {
      yield* waitForBreak('restorePairing', true);
      yield* pair('restorePairing');
      yield* waitForReplication('restorePairing');
    } catch (restoreError) {
      const why = restoreError instanceof StepFailed ? restoreError.detail : errorText(restoreError);
      restore.status = 'failed';
      restore.detail = why;
      const command = repairCommand(input.primary, input.secondary.id, input.alias);
      // Unmissable in the logs too (Application Insights alerts on error traces), once, not per replay.
      if (!context.df.isReplaying)
        context.error(
          `CRITICAL enableCmkGeoDr ${context.df.instanceId}: alias ${input.alias} is NOT paired (primary ${input.primary.id}, secondary ${input.secondary.id}); re-pair with: ${command}`,
        );
      setPairing({
        intact: false,
        state: 'broken',
        detail: `CRITICAL: alias ${input.alias} is NOT paired — ${input.primary.name} has no disaster recovery. Re-pair with: ${command}`,
      });
      return finish(
        'critical',
        `CRITICAL: the Geo-DR pairing is BROKEN and could not be restored. Alias ${input.alias}: primary ${input.primary.id}, secondary ${input.secondary.id}. ${cmkText} (step ${failed.step} failed: ${failed.detail}); re-pairing failed: ${why}. Re-pair now with: ${command}`,
        {
          error: errorInfo,
          critical: {
            alias: input.alias,
            primaryNamespaceId: input.primary.id,
            secondaryNamespaceId: input.secondary.id,
            command,
          },
        },
      );
    }
    restore.status = 'done';
    restore.detail = `alias ${input.alias} re-paired with ${input.secondary.name}; replication settled`;
    setPairing({
      intact: true,
      state: 'paired',
      detail: `Restored: ${input.primary.name} is paired with ${input.secondary.name} again.`,
    });
    if (primaryEncrypted) {
      return finish(
        'enabled',
        `Customer-managed keys are on for ${input.primary.name}, and alias ${input.alias} is paired with ${input.secondary.name} (re-pairing needed a second attempt: ${failed.detail}).`,
      );
    }
    return finish(
      'restored',
      `CMK not enabled; pairing restored. Step ${failed.step} failed (${failed.detail}); alias ${input.alias} pairs ${input.primary.name} with ${input.secondary.name} again.`,
      { error: errorInfo },
    );
  }

  return finish(
    'enabled',
    `Customer-managed keys are on for ${input.primary.name} and alias ${input.alias} pairs it with ${input.secondary.name} (${{ breakEncryptRepair: 'break, grant, encrypt, re-pair', cmkFirstThenPair: 'CMK first, then Geo-DR', grantSecondaryOnly: "the secondary's access restored, pairing untouched" }[plan.order ?? 'cmkFirstThenPair']}); ${grants.length} grant(s).`,
  );
};

df.app.orchestration(ENABLE_CMK_GEO_DR_ORCHESTRATION, enableCmkGeoDrOrchestrator);
