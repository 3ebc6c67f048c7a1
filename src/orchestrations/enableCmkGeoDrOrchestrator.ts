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
 * exact command. `customStatus.pairing` ALWAYS says whether the pairing is intact, and it is always
 * what the last read of both aliases said — failure paths read again before they report, so a break
 * that took effect but whose answer was lost is never reported as "intact".
 *
 * Idempotence: every activity checks before it writes (break only a `Primary`, pair only when not
 * already paired with that partner, grants skip what exists), and the plan is made from what Azure
 * says now — so a run that was terminated mid-way and is started again converges.
 */
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { cmkGateways, readGeoDrFacts } from '../azure/cmkFacts';
import { GeoDrGateway } from '../azure/geoDr';
import { azureClients } from '../azure/runtime';
import { refreshIndexAfterEnable, type KeyIndexRefreshNote } from './assess';
import {
  buildGeoDrPlan,
  grantRoleFix,
  pairingState,
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
  type RuleSettings,
} from '../domain';
import {
  ENABLE_CMK_ORCHESTRATION,
  ENSURE_IDENTITY_ACTIVITY,
  GRANT_KEY_ACCESS_ACTIVITY,
  READ_NAMESPACE_ACTIVITY,
  TIMING,
  enableCmkInstanceId,
  missingRoleFix,
  type EnableCmkInput,
  type EnableCmkOutput,
  type GrantRecord,
  type GrantResult,
  type NamespaceStateResult,
} from './enableCmkOrchestrator';
import {
  activity,
  asStepFailed,
  callActivity,
  callOrFail,
  closeStepLog,
  errorText,
  failureKindText,
  failureOf,
  isFailure,
  isUnpropagatedGrantRefusal,
  logGrantRetry,
  operationError,
  StepFailed,
  wait,
  type ActivityFailure,
  type OperationError,
  type StepLogEntry,
} from './plumbing';
import {
  ENABLE_CMK_GEO_DR_ORCHESTRATION,
  GEO_READ_FACTS_ACTIVITY,
  GEO_READ_ALIASES_ACTIVITY,
  GEO_BREAK_ACTIVITY,
  GEO_PAIR_ACTIVITY,
} from './names';

export {
  ENABLE_CMK_GEO_DR_ORCHESTRATION,
  GEO_READ_FACTS_ACTIVITY,
  GEO_READ_ALIASES_ACTIVITY,
  GEO_BREAK_ACTIVITY,
  GEO_PAIR_ACTIVITY,
};

export const GEO_TIMING = {
  pollSeconds: 15,
  /** Break and pairing: 30 s + about a minute per 50–100 entities; 40 polls = 10 minutes. */
  maxPolls: 40,
  /** The pairing refused right after this run granted the secondary (not effective yet): retries. */
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

export type GeoStepLogEntry = StepLogEntry<GeoStepKind>;

/** Whether the pairing is intact — in every status and every output, as last read from Azure. */
export interface PairingStatus {
  alias: string;
  primaryNamespaceId: string;
  secondaryNamespaceId: string;
  intact: boolean;
  state: 'paired' | 'notPaired' | 'broken' | 'pairing' | 'unknown';
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
  error?: OperationError<GeoStepKind>;
  /** Enabled only: the key index refresh that ended the run (assess.ts). */
  keyIndex?: KeyIndexRefreshNote;
  /** Only for `critical`: the pairing could not be restored. */
  critical?: { alias: string; primaryNamespaceId: string; secondaryNamespaceId: string; command: string };
}

// ---------------------------------------------------------------------------------------------------
// Activities (idempotent; wrapped by plumbing.ts `activity`)
// ---------------------------------------------------------------------------------------------------

const geo = () => new GeoDrGateway(azureClients());

export type GeoFactsResult = { ok: true; facts: GeoDrFacts } | (ActivityFailure & { namespaceId: string });

export const readFactsActivity = activity(async (input: EnableCmkGeoDrInput): Promise<GeoFactsResult> => {
  const r = await readGeoDrFacts(cmkGateways(azureClients()), input);
  if (!r.ok) return { ...failureOf(r), namespaceId: r.namespaceId };
  return { ok: true, facts: r.value };
});

export type AliasesResult = { ok: true; primaryAlias?: GeoDrAliasFacts; secondaryAlias?: GeoDrAliasFacts };

export const readAliasesActivity = activity(
  async (input: EnableCmkGeoDrInput): Promise<AliasesResult | ActivityFailure> => {
    const [p, s] = await Promise.all([geo().aliasOf(input.primary), geo().aliasOf(input.secondary)]);
    if (!p.ok) return failureOf(p);
    if (!s.ok) return failureOf(s);
    return {
      ok: true as const,
      ...(p.value ? { primaryAlias: p.value } : {}),
      ...(s.value ? { secondaryAlias: s.value } : {}),
    };
  },
);

/**
 * Breaks the pairing on the primary — unless it is already broken (a second run of the activity). A
 * refused break is checked against a fresh read: the SDK's own retry of a break whose answer was lost
 * is refused because the first one took effect, and that is success, not a refusal.
 */
export const breakPairingActivity = activity(
  async (input: EnableCmkGeoDrInput): Promise<{ ok: true; already: boolean } | ActivityFailure> => {
    const broken = async () => {
      const current = await geo().getAlias(input.primary, input.alias);
      return current.ok ? current.value?.role === 'PrimaryNotReplicating' : current;
    };
    const before = await broken();
    if (before !== true && before !== false) return failureOf(before);
    if (before) return { ok: true as const, already: true };
    const r = await geo().breakPairing(input.primary, input.alias);
    if (!r.ok) return (await broken()) === true ? { ok: true as const, already: false } : failureOf(r);
    return { ok: true as const, already: false };
  },
);

/**
 * Pairs primary and secondary through the alias — unless they already are (a second run). A refused
 * pairing is checked against a fresh read, for the same reason as the break.
 */
export const pairActivity = activity(
  async (input: EnableCmkGeoDrInput): Promise<{ ok: true; already: boolean } | ActivityFailure> => {
    const paired = async () => {
      const current = await geo().getAlias(input.primary, input.alias);
      if (!current.ok) return current;
      const c = current.value;
      return (
        c?.role === 'Primary' && c.partnerNamespaceId?.toLowerCase() === input.secondary.id.toLowerCase()
      );
    };
    const before = await paired();
    if (before !== true && before !== false) return failureOf(before);
    if (before) return { ok: true as const, already: true };
    const r = await geo().pair(input.primary, input.alias, input.secondary.id);
    if (!r.ok) return (await paired()) === true ? { ok: true as const, already: false } : failureOf(r);
    return { ok: true as const, already: false };
  },
);

// ---------------------------------------------------------------------------------------------------
// Pairing status: always from a read
// ---------------------------------------------------------------------------------------------------

const settled = (a?: GeoDrAliasFacts) =>
  a?.provisioningState?.toLowerCase() === 'succeeded' && a.pendingReplicationOperationsCount === 0;

/** What both aliases, as just read, say about the pairing the request names. */
export function pairingFromAliases(
  input: Pick<EnableCmkGeoDrInput, 'alias' | 'primary' | 'secondary'>,
  read: { primaryAlias?: GeoDrAliasFacts | undefined; secondaryAlias?: GeoDrAliasFacts | undefined },
): PairingStatus {
  const base = {
    alias: input.alias,
    primaryNamespaceId: input.primary.id,
    secondaryNamespaceId: input.secondary.id,
  };
  const state = pairingState({
    alias: input.alias,
    secondaryId: input.secondary.id,
    ...(read.primaryAlias ? { primaryAlias: read.primaryAlias } : {}),
    ...(read.secondaryAlias ? { secondaryAlias: read.secondaryAlias } : {}),
  });
  switch (state) {
    case 'paired':
      return settled(read.primaryAlias)
        ? {
            ...base,
            intact: true,
            state: 'paired',
            detail: `${input.primary.name} is paired with ${input.secondary.name}.`,
          }
        : {
            ...base,
            intact: false,
            state: 'pairing',
            detail: `Alias ${input.alias} pairs ${input.primary.name} with ${input.secondary.name}; replication is still running (${read.primaryAlias?.provisioningState ?? 'unknown'}, ${read.primaryAlias?.pendingReplicationOperationsCount ?? '?'} pending operation(s)).`,
          };
    case 'broken':
      return {
        ...base,
        intact: false,
        state: 'broken',
        detail: `The pairing of alias ${input.alias} is broken (${input.primary.name} is PrimaryNotReplicating).`,
      };
    case 'unpaired':
      return { ...base, intact: false, state: 'notPaired', detail: 'The namespaces are not paired.' };
    default:
      return {
        ...base,
        intact: false,
        state: 'unknown',
        detail: 'The pairing does not match the request; left as it is.',
      };
  }
}

// ---------------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------------

export const enableCmkGeoDrOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<EnableCmkGeoDrInput>();
  const steps: GeoStepLogEntry[] = [{ kind: 'preflight', status: 'running' }];
  const grants: GrantRecord[] = [];
  const subOperations: EnableCmkGeoDrStatus['subOperations'] = [];
  const status: EnableCmkGeoDrStatus = {
    state: 'running',
    step: 'preflight',
    pairing: {
      alias: input.alias,
      primaryNamespaceId: input.primary.id,
      secondaryNamespaceId: input.secondary.id,
      intact: false,
      state: 'unknown',
      detail: 'Not read yet; nothing changed.',
    },
    steps,
    grants,
    subOperations,
  };
  const publish = () => context.df.setCustomStatus(status);
  publish();

  /** Sets customStatus.pairing from a read, with what this run is doing about it. */
  const setPairing = (read: Omit<AliasesResult, 'ok'>, note?: string) => {
    const p = pairingFromAliases(input, read);
    status.pairing = note ? { ...p, detail: `${p.detail} ${note}` } : p;
    publish();
    return p;
  };

  let plan: GeoDrPlan | undefined = undefined;
  const pairSubscriptions = [input.primary.subscriptionId, input.secondary.subscriptionId];
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
  let read: GeoFactsResult;
  try {
    read = (yield* callActivity<{ facts: GeoDrFacts }>(
      context,
      GEO_READ_FACTS_ACTIVITY,
      input,
      'preflight',
    )) as GeoFactsResult;
  } catch (error) {
    read = { ...asStepFailed(error, 'preflight').failure, namespaceId: input.primary.id };
  }
  if (isFailure(read)) {
    const failed = new StepFailed('preflight' as const, read);
    steps[0] = { kind: 'preflight', status: 'failed', detail: read.detail };
    const why =
      read.class === 'bug' ? failureKindText(failed) : 'the namespaces or their aliases could not be read';
    return finish('failed', `Nothing was changed: ${why} (${read.detail}).`, {
      error: operationError(failed),
    });
  }
  plan = buildGeoDrPlan(read.facts, context.df.currentUtcDateTime);
  setPairing(read.facts);
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
  const grantedThisRun = () => grants.some((g) => g.created);

  const readAliases = function* (step: GeoStepKind, note?: string) {
    const r = yield* callOrFail<Omit<AliasesResult, 'ok'>>(context, GEO_READ_ALIASES_ACTIVITY, input, step);
    setPairing(r, note);
    return r;
  };

  /** Until the break has completed; when restoring, a pairing already re-created also ends the wait. */
  const waitForBreak = function* (step: GeoStepKind, orPaired = false) {
    for (let poll = 0; ; poll++) {
      const r = yield* readAliases(
        step,
        'This operation re-pairs it at the end, or restores it if a step fails.',
      );
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
        throw new StepFailed(step, {
          class: 'platform',
          code: 'BreakTimeout',
          detail: `The break of alias ${input.alias} has not completed.`,
        });
      yield wait(context, GEO_TIMING.pollSeconds);
    }
  };

  const pair = function* (step: GeoStepKind) {
    for (let attempt = 0; ; attempt++) {
      const r = yield* callActivity<{ already: boolean }>(context, GEO_PAIR_ACTIVITY, input, step);
      if (!isFailure(r)) return r.already;
      // The one retried refusal: the secondary cannot use the keys yet because this run's grant is fresh.
      if (
        isUnpropagatedGrantRefusal(r, { grantedThisRun: grantedThisRun() }) &&
        attempt < GEO_TIMING.pairAccessRetries
      ) {
        logGrantRetry(context, `pairing of alias ${input.alias}`, attempt + 1, r);
        yield wait(context, GEO_TIMING.pairAccessRetryFirstSeconds * 2 ** attempt);
        continue;
      }
      throw new StepFailed(step, r);
    }
  };

  const waitForReplication = function* (step: GeoStepKind) {
    for (let poll = 0; ; poll++) {
      const r = yield* readAliases(step);
      const a = r.primaryAlias;
      if (a?.provisioningState?.toLowerCase() === 'failed')
        throw new StepFailed(step, {
          code: 'PairingFailed',
          detail: `Alias ${input.alias} ended in provisioningState Failed.`,
        });
      if (a?.role === 'Primary' && settled(a)) return;
      if (poll >= GEO_TIMING.maxPolls)
        throw new StepFailed(step, {
          class: 'platform',
          code: 'ReplicationTimeout',
          detail: `Alias ${input.alias} is still ${a?.provisioningState ?? 'unknown'} with ${a?.pendingReplicationOperationsCount ?? '?'} pending replication operation(s).`,
        });
      yield wait(context, GEO_TIMING.pollSeconds);
    }
  };

  /** enableCmk as a sub-orchestration under the same instance id `POST /api/cmk/enable` uses. */
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
      out = (yield context.df.callSubOrchestrator(
        ENABLE_CMK_ORCHESTRATION,
        sub,
        enableCmkInstanceId(namespace.id),
      )) as EnableCmkOutput;
    } catch (error) {
      // It could not start (an enable of this namespace is running) or it crashed.
      throw new StepFailed(kind, { code: 'SubOrchestrationFailed', detail: errorText(error) });
    }
    grants.push(...out.grants);
    subOperations.push({ kind, namespaceId: namespace.id, outcome: out.outcome, summary: out.summary });
    if (out.outcome !== 'enabled' && out.outcome !== 'noOp')
      throw new StepFailed(kind, {
        class: out.error?.class ?? 'refusal',
        code: out.error?.code ?? out.outcome,
        detail: out.summary,
        ...(out.error?.fix ? { fix: out.error.fix } : {}),
      });
    return out.summary;
  };

  const grantSecondary = function* (step: GeoStepKind) {
    // Re-read: the secondary is standalone now (its identity can be enabled) and grants may exist.
    const fresh = yield* callOrFail<{ facts: GeoDrFacts }>(context, GEO_READ_FACTS_ACTIVITY, input, step);
    const access = secondaryAccessPlan(fresh.facts.secondary, context.df.currentUtcDateTime);
    if (access.findings.length > 0)
      throw new StepFailed(step, {
        code: 'SecondaryAccessBlocked',
        detail: access.findings.map((f) => f.message).join(' '),
      });
    let principalId = fresh.facts.secondary.namespace.identity.systemAssigned?.principalId;
    let tenantId = fresh.facts.secondary.namespace.identity.systemAssigned?.tenantId;
    let made = 0;
    for (const s of access.steps) {
      if (s.kind === 'ensureIdentity') {
        if (s.action !== 'none') {
          const r = yield* callOrFail<Exclude<NamespaceStateResult, ActivityFailure>>(
            context,
            ENSURE_IDENTITY_ACTIVITY,
            {
              namespace: input.secondary,
              target: s.target,
              keyVaultDnsSuffix: input.settings.keyVaultDnsSuffix,
            },
            step,
          );
          principalId = r.principalId ?? principalId;
          tenantId = r.tenantId ?? tenantId;
        }
        for (let poll = 0; !principalId && poll < TIMING.maxPolls; poll++) {
          yield wait(context, TIMING.pollSeconds);
          const r = yield* callOrFail<Exclude<NamespaceStateResult, ActivityFailure>>(
            context,
            READ_NAMESPACE_ACTIVITY,
            { namespace: input.secondary },
            step,
          );
          principalId = r.principalId;
          tenantId = r.tenantId ?? tenantId;
        }
        if (!principalId)
          throw new StepFailed(step, {
            code: 'PrincipalNotCreated',
            detail: `${input.secondary.name} has no system-assigned principal yet.`,
          });
        continue;
      }
      if (s.action === 'none') continue;
      if (!principalId)
        throw new StepFailed(step, {
          code: 'PrincipalUnknown',
          detail: `${input.secondary.name} has no principal.`,
        });
      const r = (yield* callActivity<{ grants: GrantRecord[] }>(
        context,
        GRANT_KEY_ACCESS_ACTIVITY,
        { step: s, principalId, ...(tenantId ? { tenantId } : {}) },
        step,
      )) as GrantResult | ActivityFailure;
      grants.push(...('grants' in r ? r.grants : []));
      publish();
      if (isFailure(r)) {
        const fix = missingRoleFix(r, s, input.secondary);
        throw new StepFailed(step, { ...r, ...(fix ? { fix } : {}) });
      }
      made++;
    }
    if (made > 0) yield wait(context, TIMING.propagationWaitSeconds);
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
          const r = yield* callOrFail<{ already: boolean }>(context, GEO_BREAK_ACTIVITY, input, step.kind);
          mustRepair = true;
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
          entry.detail = already ? 'already paired' : `alias ${input.alias} → ${input.secondary.name}`;
          break;
        }
        case 'waitForReplication':
          yield* waitForReplication(step.kind);
          entry.detail = 'Succeeded, no pending replication';
          break;
      }
      entry.status = 'done';
      publish();
    }
  } catch (error) {
    const failed = asStepFailed(error, status.step ?? 'preflight');
    closeStepLog(steps, failed.detail, true);
    const errorInfo = operationError(failed, failed.failure.fix ?? pairingRoleFix(failed, input));
    const cmkText = primaryEncrypted
      ? `Customer-managed keys are on for ${input.primary.name}`
      : `CMK not enabled on ${input.primary.name}`;
    const kind = failed.failure.class === 'bug' ? ` — ${failureKindText(failed)}` : '';

    // Read both aliases again before saying anything about the pairing: the failed step may have taken
    // effect in Azure although its answer was lost (a break, a pairing).
    let fresh: PairingStatus | undefined;
    try {
      fresh = pairingFromAliases(input, yield* readAliases(failed.step));
    } catch (readError) {
      status.pairing = {
        ...status.pairing,
        intact: false,
        state: 'unknown',
        detail: `Could not be read after step ${failed.step} failed (${errorText(readError)}); check it with: az servicebus georecovery-alias show --resource-group ${input.primary.resourceGroup} --namespace-name ${input.primary.name} --alias ${input.alias}`,
      };
      publish();
    }
    // A pairing this run broke (or found broken) — or one the failed step broke without saying so.
    if (fresh?.state === 'broken' && plan.pairing !== 'unpaired') mustRepair = true;
    else if (fresh && fresh.state !== 'broken') mustRepair = false;

    if (!mustRepair) {
      return finish(
        'failed',
        `${cmkText}: step ${failed.step} failed${kind} (${failed.detail}). ${status.pairing.intact ? 'The pairing is intact.' : `Pairing: ${status.pairing.detail}`}`,
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
    // The state stays what the read said (broken); the detail says what this run does about it.
    status.pairing = {
      ...status.pairing,
      detail: `${status.pairing.detail} Step ${failed.step} failed; re-pairing alias ${input.alias} now.`,
    };
    publish();
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
      try {
        yield* readAliases('restorePairing');
      } catch {
        // The last read stands; the critical outcome below says what to do either way.
      }
      status.pairing = {
        ...status.pairing,
        detail: `CRITICAL: alias ${input.alias} is NOT paired — ${input.primary.name} has no disaster recovery. Re-pair with: ${command}. Last read: ${status.pairing.detail}`,
      };
      publish();
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
    if (primaryEncrypted) {
      const keyIndex = yield* refreshIndexAfterEnable(context, pairSubscriptions, 'enableCmkGeoDr');
      return finish(
        'enabled',
        `Customer-managed keys are on for ${input.primary.name}, and alias ${input.alias} is paired with ${input.secondary.name} (re-pairing needed a second attempt: ${failed.detail}).`,
        { keyIndex },
      );
    }
    return finish(
      'restored',
      `CMK not enabled; pairing restored. Step ${failed.step} failed${kind} (${failed.detail}); alias ${input.alias} pairs ${input.primary.name} with ${input.secondary.name} again.`,
      { error: errorInfo },
    );
  }

  // Last: the key index learns the pairing (both namespaces), so the guardian watches it.
  const keyIndex = yield* refreshIndexAfterEnable(context, pairSubscriptions, 'enableCmkGeoDr');
  return finish(
    'enabled',
    `Customer-managed keys are on for ${input.primary.name} and alias ${input.alias} pairs it with ${input.secondary.name} (${{ breakEncryptRepair: 'break, grant, encrypt, re-pair', cmkFirstThenPair: 'CMK first, then Geo-DR', grantSecondaryOnly: "the secondary's access restored, pairing untouched" }[plan.order ?? 'cmkFirstThenPair']}); ${grants.length} grant(s).`,
    { keyIndex },
  );
};

/**
 * A 403 AuthorizationFailed on a step that writes the pairing (break, pair, the secondary's identity)
 * means the app lacks the namespace role on the pairing's namespaces: name it for both, with the command.
 */
function pairingRoleFix(
  failed: StepFailed,
  input: { primary: GroupedResourceId; secondary: GroupedResourceId },
): string | undefined {
  const f = failed.failure;
  if (f.class !== 'refusal' || f.status !== 403 || f.code !== 'AuthorizationFailed') return undefined;
  if (!['breakPairing', 'pair', 'grantSecondary', 'restorePairing'].includes(failed.step)) return undefined;
  return `${grantRoleFix('namespace', input.primary.id)} ${grantRoleFix('namespace', input.secondary.id)}`;
}
