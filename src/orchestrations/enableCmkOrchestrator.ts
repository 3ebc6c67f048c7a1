/**
 * `enableCmk` — turns on customer-managed-key encryption on one Service Bus Premium namespace
 * (docs/ARCHITECTURE.md "Orchestrations"): read the facts → preflight + plan (pure domain) → if blocked or already done, stop
 * without a write → ensure identity → grant key access per vault → wait for propagation → PATCH the
 * encryption → wait for provisioning → verify by reading the namespace back → summary.
 *
 * Rules this file keeps:
 * - The orchestrator is deterministic: time is `context.df.currentUtcDateTime`, all I/O is in activities.
 * - Activities are idempotent (the host may run one twice) and throw ONLY for platform faults
 *   (describeAzureError().transient), which `callActivityWithRetry` retries with backoff. Anything
 *   else — a refusal, a misconfiguration, a bug — comes back as a structured failure and is reported,
 *   never retried.
 * - Every step is logged in customStatus as it happens; every grant made is listed in customStatus and
 *   in the output, whatever happens after it.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { azureClients } from '../azure/runtime';
import {
  cmkGateways,
  encryptionPrincipalId,
  readEnablePreflightFacts,
  type NamespaceRefusal,
} from '../azure/cmkFacts';
import { describeAzureError } from '../azure/errors';
import type { Result } from '../azure/results';
import {
  buildEnablePlan,
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

export const ENABLE_CMK_ORCHESTRATION = 'enableCmk';
export const READ_ENABLE_FACTS_ACTIVITY = 'enableCmk_readFacts';
export const ENSURE_IDENTITY_ACTIVITY = 'enableCmk_ensureIdentity';
export const GRANT_KEY_ACCESS_ACTIVITY = 'enableCmk_grantKeyAccess';
export const SET_ENCRYPTION_ACTIVITY = 'enableCmk_setEncryption';
export const READ_NAMESPACE_ACTIVITY = 'enableCmk_readNamespace';

/** Timing (virtual or real seconds): propagation wait, provisioning poll, principal poll. */
export const TIMING = {
  propagationWaitSeconds: 30,
  /** When Service Bus still cannot use a fresh grant: wait and PATCH again, doubling, this many times. */
  accessRetryFirstSeconds: 60,
  accessRetries: 5,
  pollSeconds: 15,
  maxPolls: 40,
};

/** Platform faults only: 5 s, 10 s, 20 s, 40 s, 60 s … (activities never throw for misconfiguration). */
export function platformRetry(): df.RetryOptions {
  const retry = new df.RetryOptions(5_000, 6);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 60_000;
  return retry;
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
}

export type StepStatus = 'pending' | 'running' | 'done' | 'skipped' | 'failed';

export interface StepLogEntry {
  kind: PlanStep['kind'] | 'preflight';
  vaultName?: string;
  status: StepStatus;
  detail?: string;
}

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
  error?: { step: StepLogEntry['kind']; code: string; detail: string; fix?: string };
}

/** A structured failure an activity returns instead of throwing. */
export interface ActivityFailure {
  ok: false;
  code: string;
  detail: string;
  status?: number;
}

type NamespaceState = {
  provisioningState?: string;
  principalId?: string;
  tenantId?: string;
  cmk: CmkState;
};

// ---------------------------------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------------------------------

/** Runs an activity body: platform faults are rethrown (retried), everything else becomes a failure. */
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

function failureOf(r: {
  ok: false;
  code: string;
  detail: string;
  status?: number | undefined;
}): ActivityFailure {
  return {
    ok: false,
    code: r.code,
    detail: r.detail,
    ...(r.status !== undefined ? { status: r.status } : {}),
  };
}

const gateways = () => cmkGateways(azureClients());

export type ReadFactsResult =
  { ok: true; facts: EnablePreflightFacts } | (ActivityFailure & { namespaceId: string });

export async function readFactsActivity(input: EnableCmkInput): Promise<ReadFactsResult | ActivityFailure> {
  return guarded(async () => {
    const r: Result<EnablePreflightFacts> | NamespaceRefusal = await readEnablePreflightFacts(
      gateways(),
      input,
      input.settings,
    );
    if (!r.ok) return { ...failureOf(r), namespaceId: input.namespace.id };
    return { ok: true as const, facts: r.value };
  });
}

export interface EnsureIdentityInput {
  namespace: GroupedResourceId;
  target: EnsureIdentityStep['target'];
  keyVaultDnsSuffix: string;
}

async function namespaceState(
  r: Result<{
    provisioningState?: string;
    identity: EnablePreflightFacts['namespace']['identity'];
    cmk: CmkState;
  }>,
): Promise<({ ok: true } & NamespaceState) | ActivityFailure> {
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

export async function ensureIdentityActivity(input: EnsureIdentityInput) {
  return guarded(async () =>
    namespaceState(await gateways().serviceBus.patchIdentity(input.namespace, input.target)),
  );
}

export async function readNamespaceActivity(input: { namespace: GroupedResourceId }) {
  return guarded(async () => namespaceState(await gateways().serviceBus.getNamespace(input.namespace)));
}

export interface GrantInput {
  step: GrantKeyAccessStep;
  principalId: string;
  tenantId?: string;
}

export type GrantResult = { ok: true; grants: GrantRecord[] } | (ActivityFailure & { grants: GrantRecord[] });

export async function grantKeyAccessActivity(input: GrantInput): Promise<GrantResult | ActivityFailure> {
  return guarded(async (): Promise<GrantResult> => {
    const gw = gateways();
    const { step, principalId } = input;
    const vaultId = step.vaultResourceId;
    if (!vaultId)
      return {
        ok: false,
        code: 'VaultUnknown',
        detail: `Vault ${step.vaultName} has no resource id.`,
        grants: [],
      };
    const grants: GrantRecord[] = [];
    if (step.permissionModel === 'accessPolicy') {
      let tenantId = input.tenantId;
      if (!tenantId) {
        const vault = await gw.keyVault.getVault(vaultId, step.vaultUri);
        if (!vault.ok) return { ...failureOf(vault), grants };
        tenantId = vault.value.tenantId;
      }
      if (!tenantId)
        return {
          ok: false,
          code: 'TenantUnknown',
          detail: 'The tenant of the principal is unknown.',
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
      });
      return { ok: true, grants };
    }
    const role = step.roleDefinitionGuid as string;
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
      });
    }
    return { ok: true, grants };
  });
}

export interface SetEncryptionInput {
  namespace: GroupedResourceId;
  encryption: SetEncryptionStep['encryption'];
}

export type SetEncryptionResult =
  { ok: true; provisioningState?: string } | (ActivityFailure & { accessDenied: boolean });

/** Service Bus refuses an encryption update when the identity cannot (yet) use a key. */
const KEY_ACCESS_REFUSAL = /(access|permission|forbidden|unauthori[sz]ed|wrap|unwrap|not allowed)/i;

export async function setEncryptionActivity(
  input: SetEncryptionInput,
): Promise<SetEncryptionResult | ActivityFailure> {
  return guarded(async (): Promise<SetEncryptionResult> => {
    const r = await gateways().serviceBus.patchEncryption(input.namespace, input.encryption);
    if (!r.ok)
      return { ...failureOf(r), accessDenied: r.status === 400 && KEY_ACCESS_REFUSAL.test(r.detail) };
    return {
      ok: true,
      ...(r.value?.provisioningState ? { provisioningState: r.value.provisioningState } : {}),
    };
  });
}

df.app.activity(READ_ENABLE_FACTS_ACTIVITY, { handler: readFactsActivity });
df.app.activity(ENSURE_IDENTITY_ACTIVITY, { handler: ensureIdentityActivity });
df.app.activity(GRANT_KEY_ACCESS_ACTIVITY, { handler: grantKeyAccessActivity });
df.app.activity(SET_ENCRYPTION_ACTIVITY, { handler: setEncryptionActivity });
df.app.activity(READ_NAMESPACE_ACTIVITY, { handler: readNamespaceActivity });

// ---------------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------------

class StepFailed extends Error {
  constructor(
    readonly step: StepLogEntry['kind'],
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

function describeStep(step: PlanStep): StepLogEntry {
  return {
    kind: step.kind,
    ...(step.kind === 'grantKeyAccess' ? { vaultName: step.vaultName } : {}),
    status: 'pending',
  };
}

const isFailure = (r: unknown): r is ActivityFailure =>
  typeof r === 'object' && r !== null && (r as { ok?: unknown }).ok === false;

const enableCmkOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<EnableCmkInput>();
  const retry = platformRetry();
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
  const wait = (seconds: number) =>
    context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + seconds * 1000));

  // 1. Facts, preflight and plan (read-only).
  let read: ReadFactsResult | ActivityFailure;
  try {
    read = (yield context.df.callActivityWithRetry(
      READ_ENABLE_FACTS_ACTIVITY,
      retry,
      input,
    )) as ReadFactsResult;
  } catch (error) {
    steps[0] = { kind: 'preflight', status: 'failed', detail: errorText(error) };
    return finish({
      outcome: 'failed',
      summary: `Nothing was changed: Azure kept failing while the preflight read the namespace and its keys (${errorText(error)}).`,
      findings: [],
      error: { step: 'preflight', code: 'PlatformFault', detail: errorText(error) },
    });
  }
  if (!read.ok) {
    steps[0] = { kind: 'preflight', status: 'failed', detail: read.detail };
    const fix = missingRoleFix(read, undefined, input.namespace, true);
    return finish({
      outcome: 'failed',
      summary: `Nothing was changed: namespace ${input.namespace.name} could not be read (${read.detail}).${fix ? ` ${fix}` : ''}`,
      findings: [],
      error: { step: 'preflight', code: read.code, detail: read.detail, ...(fix ? { fix } : {}) },
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

  const callChecked = function* <T>(name: string, payload: unknown, step: StepLogEntry['kind']) {
    let result: unknown;
    try {
      result = yield context.df.callActivityWithRetry(name, retry, payload);
    } catch (error) {
      throw new StepFailed(step, 'PlatformFault', `Azure kept failing after retries: ${errorText(error)}`);
    }
    return result as T;
  };

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
            const r = (yield* callChecked<{ ok: true } & NamespaceState>(
              ENSURE_IDENTITY_ACTIVITY,
              {
                namespace: input.namespace,
                target: step.target,
                keyVaultDnsSuffix: input.settings.keyVaultDnsSuffix,
              },
              step.kind,
            )) as ({ ok: true } & NamespaceState) | ActivityFailure;
            if (isFailure(r)) throw new StepFailed(step.kind, r.code, r.detail);
            changes.push(step.description);
            if (input.identity.type === 'SystemAssigned') {
              principalId = r.principalId ?? principalId;
              tenantId = r.tenantId ?? tenantId;
            }
          }
          if (input.identity.type === 'SystemAssigned' && !principalId) {
            // Entra creates the principal asynchronously: poll the namespace until it shows.
            for (let poll = 0; poll < TIMING.maxPolls && !principalId; poll++) {
              yield wait(TIMING.pollSeconds);
              const r = (yield* callChecked<NamespaceState>(
                READ_NAMESPACE_ACTIVITY,
                { namespace: input.namespace },
                step.kind,
              )) as ({ ok: true } & NamespaceState) | ActivityFailure;
              if (isFailure(r)) throw new StepFailed(step.kind, r.code, r.detail);
              principalId = r.principalId;
              tenantId = r.tenantId ?? tenantId;
            }
            if (!principalId)
              throw new StepFailed(
                step.kind,
                'PrincipalNotCreated',
                'The system-assigned identity has no principal yet.',
              );
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
            throw new StepFailed(
              step.kind,
              'PrincipalUnknown',
              'The encryption identity has no principal id.',
            );
          const r = yield* callChecked<GrantResult>(
            GRANT_KEY_ACCESS_ACTIVITY,
            { step, principalId, ...(tenantId ? { tenantId } : {}) },
            step.kind,
          );
          grants.push(...(r.grants ?? []));
          if (isFailure(r)) throw new StepFailed(step.kind, r.code, r.detail);
          changes.push(step.description);
          entry.status = 'done';
          entry.detail = step.description;
          break;
        }
        case 'waitForAccessPropagation': {
          yield wait(TIMING.propagationWaitSeconds);
          entry.status = 'done';
          entry.detail = `waited ${TIMING.propagationWaitSeconds} s`;
          break;
        }
        case 'setEncryption': {
          let attempt = 0;
          for (;;) {
            const r = yield* callChecked<SetEncryptionResult>(
              SET_ENCRYPTION_ACTIVITY,
              { namespace: input.namespace, encryption: step.encryption },
              step.kind,
            );
            if (!isFailure(r)) {
              provisioningState = r.provisioningState;
              break;
            }
            // A fresh grant may not be effective yet (RBAC propagates in minutes): wait, then try again.
            if (r.accessDenied && grants.length > 0 && attempt < TIMING.accessRetries) {
              entry.detail = `Service Bus cannot use the key(s) yet; waiting for the grant to propagate (attempt ${attempt + 1}).`;
              publish();
              yield wait(TIMING.accessRetryFirstSeconds * 2 ** attempt);
              attempt++;
              continue;
            }
            throw new StepFailed(step.kind, r.code, r.detail);
          }
          changes.push(step.description);
          entry.status = 'done';
          entry.detail = step.description;
          break;
        }
        case 'waitForProvisioning': {
          for (let poll = 0; provisioningState?.toLowerCase() !== 'succeeded'; poll++) {
            if (provisioningState?.toLowerCase() === 'failed')
              throw new StepFailed(
                step.kind,
                'ProvisioningFailed',
                'The namespace update ended in provisioningState Failed.',
              );
            if (poll >= TIMING.maxPolls)
              throw new StepFailed(
                step.kind,
                'ProvisioningTimeout',
                `The namespace is still ${provisioningState ?? 'updating'}.`,
              );
            if (poll > 0 || provisioningState !== undefined) yield wait(TIMING.pollSeconds);
            const r = (yield* callChecked<NamespaceState>(
              READ_NAMESPACE_ACTIVITY,
              { namespace: input.namespace },
              step.kind,
            )) as ({ ok: true } & NamespaceState) | ActivityFailure;
            if (isFailure(r)) throw new StepFailed(step.kind, r.code, r.detail);
            provisioningState = r.provisioningState ?? 'Succeeded';
          }
          entry.status = 'done';
          entry.detail = 'provisioningState Succeeded';
          break;
        }
        case 'verifyEncryption': {
          const r = (yield* callChecked<NamespaceState>(
            READ_NAMESPACE_ACTIVITY,
            { namespace: input.namespace },
            step.kind,
          )) as ({ ok: true } & NamespaceState) | ActivityFailure;
          if (isFailure(r)) throw new StepFailed(step.kind, r.code, r.detail);
          const cmk = r.cmk;
          const ok =
            cmk.encrypted &&
            sameKeySet(cmk.keys, input.keys) &&
            sameEncryptionIdentity(cmk.identity, input.identity) &&
            (!input.requireInfrastructureEncryption || cmk.requireInfrastructureEncryption);
          if (!ok || !cmk.encrypted)
            throw new StepFailed(
              step.kind,
              'VerificationFailed',
              `Namespace ${input.namespace.name} does not list the requested key(s) after the update.`,
            );
          verified = cmk;
          entry.status = 'done';
          entry.detail = `encrypted with ${cmk.keys.map((k) => k.keyId).join(', ')}`;
          break;
        }
      }
      publish();
    }
  } catch (error) {
    const failed =
      error instanceof StepFailed
        ? error
        : new StepFailed(status.step ?? 'preflight', 'Error', errorText(error));
    const entry = steps.find((s) => s.status === 'running');
    const running = plan.steps[steps.indexOf(entry as StepLogEntry) - 1];
    const fix = missingRoleFix(failed, running, input.namespace);
    if (entry) {
      entry.status = 'failed';
      entry.detail = failed.detail;
    }
    const grantNote = grants.length
      ? ` Key access granted before the failure stays in place: ${grants.map((g) => `${g.kind} for ${g.principalId} on ${g.scope}`).join('; ')}.`
      : '';
    return finish({
      outcome: 'failed',
      summary: `Customer-managed keys were NOT enabled on namespace ${input.namespace.name}: step ${failed.step} failed (${failed.detail}).${fix ? ` ${fix}` : ''}${grantNote}`,
      findings: plan.findings,
      minimumWrites: plan.minimumWrites,
      error: { step: failed.step, code: failed.code, detail: failed.detail, ...(fix ? { fix } : {}) },
    });
  }

  return finish({
    outcome: 'enabled',
    summary: `Customer-managed keys are on for namespace ${input.namespace.name} (${input.keys.length} key(s)${
      input.requireInfrastructureEncryption ? ', infrastructure encryption' : ''
    }); ${changes.length} change(s), ${grants.length} grant(s).`,
    findings: plan.findings,
    minimumWrites: plan.minimumWrites,
    ...(verified ? { encryption: verified } : {}),
  });
};

/**
 * A 403 from ARM names the action it refused; this names the role from the README that grants it, at
 * the narrowest scope, with the command.
 */
export function missingRoleFix(
  failed: { code: string; detail: string },
  step: PlanStep | undefined,
  namespace: GroupedResourceId,
  preflight = false,
): string | undefined {
  if (!/AuthorizationFailed|^403\b|\b403 /.test(`${failed.code} ${failed.detail}`)) return undefined;
  const grant = (role: string, scope: string) =>
    `The app's identity lacks the role ${role} on ${scope}; grant it with: az role assignment create --assignee <app-principal-id> --role "${role}" --scope ${scope}`;
  if (preflight) return grant('Reader', `/subscriptions/${namespace.subscriptionId}`);
  if (!step) return undefined;
  if (step.kind === 'ensureIdentity' || step.kind === 'setEncryption')
    return grant('Contributor', namespace.id);
  if (step.kind === 'grantKeyAccess') {
    const scope = step.vaultResourceId ?? step.vaultName;
    return step.permissionModel === 'rbac'
      ? grant('User Access Administrator', scope)
      : grant('Key Vault Contributor', scope);
  }
  return grant('Reader', `/subscriptions/${namespace.subscriptionId}`);
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

df.app.orchestration(ENABLE_CMK_ORCHESTRATION, enableCmkOrchestrator);
