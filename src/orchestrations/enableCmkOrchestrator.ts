/**
 * `enableCmk` — turns on customer-managed-key encryption on one Service Bus Premium namespace
 * (docs/ARCHITECTURE.md "Orchestrations"): read the facts → preflight + plan (pure domain) → if blocked or already done, stop
 * without a write → ensure identity → grant key access per vault → wait for propagation → PATCH the
 * encryption → wait for provisioning → verify by reading the namespace back → summary.
 *
 * Rules this file keeps:
 * - The orchestrator is deterministic: time is `context.df.currentUtcDateTime`, all I/O is in activities.
 * - Activities are idempotent (the host may run one twice) and are wrapped by plumbing.ts `activity`:
 *   platform faults are thrown and retried with backoff; refusals and bugs come back as structured
 *   failures (class `refusal` / `bug`) and are reported, never retried — except the one documented
 *   case, a grant of this run that is not effective yet (plumbing.ts `isUnpropagatedGrantRefusal`).
 * - Every step is logged in customStatus as it happens; every grant made is listed in customStatus and
 *   in the output, whatever happens after it.
 */
import { createHash } from 'node:crypto';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { azureClients } from '../azure/runtime';
import { refreshIndexAfterEnable, type KeyIndexRefreshNote } from './assess';
import { cmkGateways, encryptionPrincipalId, readEnablePreflightFacts } from '../azure/cmkFacts';
import { InvariantError } from '../azure/errors';
import type { Result } from '../azure/results';
import {
  activity,
  asStepFailed,
  callActivity,
  callOrFail,
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
  type StepLogEntry as PlumbingStepLogEntry,
} from './plumbing';
import {
  buildEnablePlan,
  grantRoleFix,
  sameEncryptionIdentity,
  sameKeySet,
  type CmkState,
  type EnablePlan,
  type EnablePreflightFacts,
  type EncryptionIdentity,
  type EnsureIdentityStep,
  type Finding,
  type GrantKeyAccessStep,
  type GroupedResourceId,
  type KeyRef,
  type MinimumWrites,
  type PlanStep,
  type RuleSettings,
  type SetEncryptionStep,
} from '../domain';
import {
  ENABLE_CMK_ORCHESTRATION,
  READ_ENABLE_FACTS_ACTIVITY,
  ENSURE_IDENTITY_ACTIVITY,
  GRANT_KEY_ACCESS_ACTIVITY,
  SET_ENCRYPTION_ACTIVITY,
  READ_NAMESPACE_ACTIVITY,
} from './names';

export {
  ENABLE_CMK_ORCHESTRATION,
  READ_ENABLE_FACTS_ACTIVITY,
  ENSURE_IDENTITY_ACTIVITY,
  GRANT_KEY_ACCESS_ACTIVITY,
  SET_ENCRYPTION_ACTIVITY,
  READ_NAMESPACE_ACTIVITY,
};

/** Timing (virtual or real seconds): propagation wait, provisioning poll, principal poll. */
export const TIMING = {
  propagationWaitSeconds: 30,
  /** When Service Bus still cannot use a fresh grant: wait and PATCH again, doubling, this many times. */
  accessRetryFirstSeconds: 60,
  accessRetries: 5,
  pollSeconds: 15,
  maxPolls: 40,
};

/**
 * `enableCmk-<hash of the lower-case namespace id>`: the one instance id of "enable CMK on this
 * namespace" — used by `POST /api/cmk/enable` and by the Geo-DR flow's sub-orchestration alike, so a
 * second enable of the same namespace, from either side, collapses into a 409 while one runs.
 */
export function enableCmkInstanceId(namespaceId: string): string {
  return `enableCmk-${createHash('sha256').update(namespaceId.toLowerCase()).digest('hex').slice(0, 32)}`;
}

// ---------------------------------------------------------------------------------------------------
// Input, output, status
// ---------------------------------------------------------------------------------------------------

export interface EnableCmkInput {
  namespace: GroupedResourceId;
  keys: KeyRef[];
  identity: EncryptionIdentity;
  requireInfrastructureEncryption: boolean;
  settings: RuleSettings;
}

/** A grant the orchestration made (or confirmed) — always reported. */
export interface GrantRecord {
  vaultName: string;
  kind: 'accessPolicy' | 'roleAssignment';
  principalId: string;
  /** Access policy: the vault id; role assignment: the key scope. */
  scope: string;
  permissions?: string[];
  roleDefinitionGuid?: string;
  assignmentId?: string;
  /** False when the role assignment existed already (a re-run): not a grant of this run. */
  created: boolean;
}

export type StepLogEntry = PlumbingStepLogEntry<PlanStep['kind'] | 'preflight'>;

export interface EnableCmkStatus {
  state: 'running' | 'succeeded' | 'noOp' | 'blocked' | 'failed';
  step?: StepLogEntry['kind'];
  steps: StepLogEntry[];
  grants: GrantRecord[];
}

export interface EnableCmkOutput {
  outcome: 'enabled' | 'noOp' | 'blocked' | 'failed';
  summary: string;
  namespaceId: string;
  findings: Finding[];
  steps: StepLogEntry[];
  changes: string[];
  grants: GrantRecord[];
  minimumWrites?: MinimumWrites;
  encryption?: Extract<CmkState, { encrypted: true }>;
  /** Enabled only: the key index refresh that ended the run (assess.ts). */
  keyIndex?: KeyIndexRefreshNote;
  error?: OperationError<StepLogEntry['kind']>;
}

type NamespaceState = {
  provisioningState?: string;
  principalId?: string;
  tenantId?: string;
  cmk: CmkState;
};

// ---------------------------------------------------------------------------------------------------
// Activities (idempotent; wrapped by plumbing.ts `activity`)
// ---------------------------------------------------------------------------------------------------

const gateways = () => cmkGateways(azureClients());

export type ReadFactsResult =
  { ok: true; facts: EnablePreflightFacts } | (ActivityFailure & { namespaceId: string });

export const readFactsActivity = activity(async (input: EnableCmkInput): Promise<ReadFactsResult> => {
  const r = await readEnablePreflightFacts(gateways(), input, input.settings);
  if (!r.ok) return { ...failureOf(r), namespaceId: input.namespace.id };
  return { ok: true as const, facts: r.value };
});

export interface EnsureIdentityInput {
  namespace: GroupedResourceId;
  target: EnsureIdentityStep['target'];
  keyVaultDnsSuffix: string;
}

export type NamespaceStateResult = ({ ok: true } & NamespaceState) | ActivityFailure;

function namespaceState(
  r: Result<{
    provisioningState?: string;
    identity: EnablePreflightFacts['namespace']['identity'];
    cmk: CmkState;
  }>,
): NamespaceStateResult {
  if (!r.ok) return failureOf(r);
  const v = r.value;
  return {
    ok: true,
    ...(v.provisioningState ? { provisioningState: v.provisioningState } : {}),
    ...(v.identity.systemAssigned?.principalId ? { principalId: v.identity.systemAssigned.principalId } : {}),
    ...(v.identity.systemAssigned?.tenantId ? { tenantId: v.identity.systemAssigned.tenantId } : {}),
    cmk: v.cmk,
  };
}

export const ensureIdentityActivity = activity(async (input: EnsureIdentityInput) =>
  namespaceState(await gateways().serviceBus.patchIdentity(input.namespace, input.target)),
);

export const readNamespaceActivity = activity(async (input: { namespace: GroupedResourceId }) =>
  namespaceState(await gateways().serviceBus.getNamespace(input.namespace)),
);

export interface GrantInput {
  step: GrantKeyAccessStep;
  principalId: string;
  tenantId?: string;
}

export type GrantResult = { ok: true; grants: GrantRecord[] } | (ActivityFailure & { grants: GrantRecord[] });

export const grantKeyAccessActivity = activity(async (input: GrantInput): Promise<GrantResult> => {
  const gw = gateways();
  const { step, principalId } = input;
  const vaultId = step.vaultResourceId;
  const grants: GrantRecord[] = [];
  // The plan only makes a grant step for a vault it found: no resource id is our invariant broken.
  if (!vaultId) throw new InvariantError(`grant step for vault ${step.vaultName} has no vault resource id`);
  if (step.permissionModel === 'accessPolicy') {
    let tenantId = input.tenantId;
    if (!tenantId) {
      const vault = await gw.keyVault.getVault(vaultId, step.vaultUri);
      if (!vault.ok) return { ...failureOf(vault), grants };
      tenantId = vault.value.tenantId;
    }
    if (!tenantId)
      return {
        ...failureOf({ code: 'TenantUnknown', detail: `Vault ${step.vaultName} names no tenant.` }),
        grants,
      };
    const added = await gw.keyVault.addCmkAccessPolicy(vaultId, tenantId, principalId);
    if (!added.ok) return { ...failureOf(added), grants };
    grants.push({
      vaultName: step.vaultName,
      kind: 'accessPolicy',
      principalId,
      scope: vaultId,
      permissions: [...(step.permissions ?? [])],
      // The plan grants only where the preflight found the access missing: this run made it.
      created: true,
    });
    return { ok: true, grants };
  }
  const role = step.roleDefinitionGuid;
  if (!role) throw new InvariantError(`RBAC grant step for vault ${step.vaultName} names no role`);
  for (const scope of step.scopes ?? []) {
    const assigned = await gw.authorization.assignRole(scope, role, principalId);
    if (!assigned.ok) return { ...failureOf(assigned), grants };
    grants.push({
      vaultName: step.vaultName,
      kind: 'roleAssignment',
      principalId,
      scope,
      roleDefinitionGuid: role,
      assignmentId: assigned.value.assignmentId,
      created: assigned.value.created,
    });
  }
  return { ok: true, grants };
});

export interface SetEncryptionInput {
  namespace: GroupedResourceId;
  encryption: SetEncryptionStep['encryption'];
}

export type SetEncryptionResult = { ok: true; provisioningState?: string } | ActivityFailure;

export const setEncryptionActivity = activity(
  async (input: SetEncryptionInput): Promise<SetEncryptionResult> => {
    const r = await gateways().serviceBus.patchEncryption(input.namespace, input.encryption);
    if (!r.ok) return failureOf(r);
    return {
      ok: true,
      ...(r.value?.provisioningState ? { provisioningState: r.value.provisioningState } : {}),
    };
  },
);

// ---------------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------------

function describeStep(step: PlanStep): StepLogEntry {
  return {
    kind: step.kind,
    ...(step.kind === 'grantKeyAccess' ? { vaultName: step.vaultName } : {}),
    status: 'pending',
  };
}

export const enableCmkOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<EnableCmkInput>();
  const steps: StepLogEntry[] = [{ kind: 'preflight', status: 'running' }];
  const grants: GrantRecord[] = [];
  const changes: string[] = [];
  const status: EnableCmkStatus = { state: 'running', step: 'preflight', steps, grants };
  const publish = () => context.df.setCustomStatus(status);
  publish();

  const finish = (
    output: Omit<EnableCmkOutput, 'namespaceId' | 'steps' | 'grants' | 'changes'>,
  ): EnableCmkOutput => {
    status.state =
      output.outcome === 'enabled' ? 'succeeded' : output.outcome === 'noOp' ? 'noOp' : output.outcome;
    delete status.step;
    publish();
    return { ...output, namespaceId: input.namespace.id, steps, grants, changes };
  };

  // 1. Facts, preflight and plan (read-only).
  let read: ReadFactsResult;
  try {
    read = (yield* callActivity<{ facts: EnablePreflightFacts }>(
      context,
      READ_ENABLE_FACTS_ACTIVITY,
      input,
      'preflight',
    )) as ReadFactsResult;
  } catch (error) {
    const failed = asStepFailed(error, 'preflight' as const);
    steps[0] = { kind: 'preflight', status: 'failed', detail: failed.detail };
    return finish({
      outcome: 'failed',
      summary: `Nothing was changed: Azure kept failing while the preflight read the namespace and its keys (${failed.detail}).`,
      findings: [],
      error: operationError(failed),
    });
  }
  if (isFailure(read)) {
    const failed = new StepFailed('preflight' as const, read);
    steps[0] = { kind: 'preflight', status: 'failed', detail: read.detail };
    const fix = missingRoleFix(read, undefined, input.namespace, true);
    const why = read.class === 'bug' ? failureKindText(failed) : 'could not be read';
    return finish({
      outcome: 'failed',
      summary: `Nothing was changed: namespace ${input.namespace.name} ${why} (${read.detail}).${fix ? ` ${fix}` : ''}`,
      findings: [],
      error: operationError(failed, fix),
    });
  }
  const facts = read.facts;
  const plan: EnablePlan = buildEnablePlan(facts, context.df.currentUtcDateTime);
  steps[0] = {
    kind: 'preflight',
    status: plan.outcome === 'blocked' ? 'failed' : 'done',
    detail: `${plan.findings.length} finding(s), ${plan.findings.filter((f) => f.blocks).length} blocking`,
  };
  if (plan.outcome !== 'apply') {
    return finish({
      outcome: plan.outcome,
      summary: plan.summary,
      findings: plan.findings,
      minimumWrites: plan.minimumWrites,
    });
  }
  steps.push(...plan.steps.map(describeStep));
  publish();

  // 2. The steps, in order.
  let principalId = encryptionPrincipalId(facts.namespace, input.identity, facts.userAssignedIdentity);
  let tenantId =
    input.identity.type === 'SystemAssigned'
      ? facts.namespace.identity.systemAssigned?.tenantId
      : facts.userAssignedIdentity?.tenantId;
  let provisioningState: string | undefined;
  let verified: Extract<CmkState, { encrypted: true }> | undefined;
  const readNamespace = (kind: StepLogEntry['kind']) =>
    callOrFail<NamespaceState>(context, READ_NAMESPACE_ACTIVITY, { namespace: input.namespace }, kind);

  try {
    for (let i = 0; i < plan.steps.length; i++) {
      const step = plan.steps[i] as PlanStep;
      const entry = steps[i + 1] as StepLogEntry;
      entry.status = 'running';
      status.step = step.kind;
      publish();

      switch (step.kind) {
        case 'ensureIdentity': {
          if (step.action !== 'none') {
            const r = yield* callOrFail<NamespaceState>(
              context,
              ENSURE_IDENTITY_ACTIVITY,
              {
                namespace: input.namespace,
                target: step.target,
                keyVaultDnsSuffix: input.settings.keyVaultDnsSuffix,
              },
              step.kind,
            );
            changes.push(step.description);
            if (input.identity.type === 'SystemAssigned') {
              principalId = r.principalId ?? principalId;
              tenantId = r.tenantId ?? tenantId;
            }
          }
          if (input.identity.type === 'SystemAssigned' && !principalId) {
            // Entra creates the principal asynchronously: poll the namespace until it shows.
            for (let poll = 0; poll < TIMING.maxPolls && !principalId; poll++) {
              yield wait(context, TIMING.pollSeconds);
              const r = yield* readNamespace(step.kind);
              principalId = r.principalId;
              tenantId = r.tenantId ?? tenantId;
            }
            if (!principalId)
              throw new StepFailed(step.kind, {
                code: 'PrincipalNotCreated',
                detail: 'The system-assigned identity has no principal yet.',
              });
          }
          entry.status = step.action === 'none' ? 'skipped' : 'done';
          entry.detail = principalId ? `principal ${principalId}` : step.description;
          break;
        }
        case 'grantKeyAccess': {
          if (step.action === 'none') {
            entry.status = 'skipped';
            entry.detail = step.description;
            break;
          }
          if (!principalId)
            throw new StepFailed(step.kind, {
              code: 'PrincipalUnknown',
              detail: 'The encryption identity has no principal id.',
            });
          const r = (yield* callActivity<{ grants: GrantRecord[] }>(
            context,
            GRANT_KEY_ACCESS_ACTIVITY,
            { step, principalId, ...(tenantId ? { tenantId } : {}) },
            step.kind,
          )) as GrantResult | ActivityFailure;
          grants.push(...('grants' in r ? r.grants : []));
          if (isFailure(r)) throw new StepFailed(step.kind, r);
          changes.push(step.description);
          entry.status = 'done';
          entry.detail = step.description;
          break;
        }
        case 'waitForAccessPropagation': {
          yield wait(context, TIMING.propagationWaitSeconds);
          entry.status = 'done';
          entry.detail = `waited ${TIMING.propagationWaitSeconds} s`;
          break;
        }
        case 'setEncryption': {
          const grantedThisRun = grants.some((g) => g.created);
          for (let attempt = 0; ; attempt++) {
            const r = (yield* callActivity<{ provisioningState?: string }>(
              context,
              SET_ENCRYPTION_ACTIVITY,
              { namespace: input.namespace, encryption: step.encryption },
              step.kind,
            )) as SetEncryptionResult;
            if (!isFailure(r)) {
              provisioningState = r.provisioningState;
              break;
            }
            // The one retried refusal: a grant of this run that Service Bus cannot use yet.
            if (isUnpropagatedGrantRefusal(r, { grantedThisRun }) && attempt < TIMING.accessRetries) {
              logGrantRetry(context, `encryption of ${input.namespace.name}`, attempt + 1, r);
              entry.detail = `Service Bus cannot use the key(s) yet; waiting for the grant to propagate (attempt ${attempt + 1}): ${r.detail}`;
              publish();
              yield wait(context, TIMING.accessRetryFirstSeconds * 2 ** attempt);
              continue;
            }
            throw new StepFailed(step.kind, r);
          }
          changes.push(step.description);
          entry.status = 'done';
          entry.detail = step.description;
          break;
        }
        case 'waitForProvisioning': {
          for (let poll = 0; provisioningState?.toLowerCase() !== 'succeeded'; poll++) {
            if (provisioningState?.toLowerCase() === 'failed')
              throw new StepFailed(step.kind, {
                code: 'ProvisioningFailed',
                detail: 'The namespace update ended in provisioningState Failed.',
              });
            if (poll >= TIMING.maxPolls)
              throw new StepFailed(step.kind, {
                class: 'platform',
                code: 'ProvisioningTimeout',
                detail: `The namespace is still ${provisioningState ?? 'updating'}.`,
              });
            if (poll > 0 || provisioningState !== undefined) yield wait(context, TIMING.pollSeconds);
            const r = yield* readNamespace(step.kind);
            provisioningState = r.provisioningState ?? 'Succeeded';
          }
          entry.status = 'done';
          entry.detail = 'provisioningState Succeeded';
          break;
        }
        case 'verifyEncryption': {
          const cmk = (yield* readNamespace(step.kind)).cmk;
          const ok =
            cmk.encrypted &&
            sameKeySet(cmk.keys, input.keys) &&
            sameEncryptionIdentity(cmk.identity, input.identity) &&
            (!input.requireInfrastructureEncryption || cmk.requireInfrastructureEncryption);
          if (!ok || !cmk.encrypted)
            throw new StepFailed(step.kind, {
              code: 'VerificationFailed',
              detail: `Namespace ${input.namespace.name} does not list the requested key(s) after the update.`,
            });
          verified = cmk;
          entry.status = 'done';
          entry.detail = `encrypted with ${cmk.keys.map((k) => k.keyId).join(', ')}`;
          break;
        }
      }
      publish();
    }
  } catch (error) {
    const failed = asStepFailed(error, status.step ?? 'preflight');
    const entry = steps.find((s) => s.status === 'running');
    const running = plan.steps[steps.indexOf(entry as StepLogEntry) - 1];
    const fix = missingRoleFix(failed.failure, running, input.namespace);
    if (entry) {
      entry.status = 'failed';
      entry.detail = failed.detail;
    }
    const grantNote = grants.length
      ? ` Key access granted before the failure stays in place: ${grants.map((g) => `${g.kind} for ${g.principalId} on ${g.scope}`).join('; ')}.`
      : '';
    const kind = failed.failure.class === 'bug' ? ` — ${failureKindText(failed)}` : '';
    return finish({
      outcome: 'failed',
      summary: `Customer-managed keys were NOT enabled on namespace ${input.namespace.name}: step ${failed.step} failed${kind} (${failed.detail}).${fix ? ` ${fix}` : ''}${grantNote}`,
      findings: plan.findings,
      minimumWrites: plan.minimumWrites,
      error: operationError(failed, fix),
    });
  }

  // Last: the key index learns the namespace, so the guardian watches it from now on.
  const keyIndex = yield* refreshIndexAfterEnable(context, [input.namespace.subscriptionId], 'enableCmk');
  return finish({
    outcome: 'enabled',
    keyIndex,
    summary: `Customer-managed keys are on for namespace ${input.namespace.name} (${input.keys.length} key(s)${
      input.requireInfrastructureEncryption ? ', infrastructure encryption' : ''
    }); ${changes.length} change(s), ${grants.length} grant(s).`,
    findings: plan.findings,
    minimumWrites: plan.minimumWrites,
    ...(verified ? { encryption: verified } : {}),
  });
};

/**
 * A 403 AuthorizationFailed from ARM means the app's own identity lacks a role: this names the role
 * (src/domain/appRoles.ts, the roles infra grants) at the narrowest scope, with the command. A 403
 * LinkedAuthorizationFailed on the identity step is the user-assigned identity's own role. Decided by
 * status + code + step.
 */
export function missingRoleFix(
  failed: Pick<ActivityFailure, 'class' | 'code' | 'status'>,
  step: PlanStep | undefined,
  namespace: GroupedResourceId,
  preflight = false,
): string | undefined {
  if (failed.class !== 'refusal' || failed.status !== 403) return undefined;
  if (failed.code !== 'AuthorizationFailed' && failed.code !== 'LinkedAuthorizationFailed') return undefined;
  const subscription = `/subscriptions/${namespace.subscriptionId}`;
  if (preflight) return grantRoleFix('subscription', subscription);
  if (!step) return undefined;
  if (step.kind === 'ensureIdentity' || step.kind === 'setEncryption') {
    const identities = step.kind === 'ensureIdentity' ? step.target.userAssignedIdentityIds : [];
    if (failed.code === 'LinkedAuthorizationFailed' && identities.length > 0)
      return identities.map((id) => grantRoleFix('userAssignedIdentity', id)).join(' ');
    return grantRoleFix('namespace', namespace.id);
  }
  if (step.kind === 'grantKeyAccess') {
    const scope = step.vaultResourceId ?? step.vaultName;
    return grantRoleFix(step.permissionModel === 'rbac' ? 'rbacVault' : 'accessPolicyVault', scope);
  }
  return grantRoleFix('subscription', subscription);
}
