/**
 * The enable plan: the ordered steps `enableCmk` will run for a given snapshot of facts, what each
 * one changes, and the minimum number of writes each needs (the benchmark compares real writes
 * against these). Built from the same facts as the preflight, so a dry run shows exactly what the
 * real run would do — and a re-run on a namespace already set up as requested plans nothing.
 */
import type { EncryptionIdentity, KeyRef } from './cmkState';
import {
  CMK_KEY_PERMISSIONS,
  CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID,
  CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_NAME,
} from './keyAccess';
import {
  evaluatePreflight,
  hasBlockingFindings,
  isAlreadyConfigured,
  type EnablePreflightFacts,
  type Finding,
  type VaultFacts,
} from './preflight';

export type NamespaceIdentityType = 'SystemAssigned' | 'UserAssigned' | 'SystemAssigned, UserAssigned';

/** Who gets key access: principal ids are unknown for a system-assigned identity not yet enabled. */
export type PlanPrincipal =
  | { kind: 'systemAssigned'; principalId?: string }
  | { kind: 'userAssigned'; resourceId: string; principalId?: string };

export interface EnsureIdentityStep {
  kind: 'ensureIdentity';
  action: 'none' | 'enableSystemAssigned' | 'attachUserAssigned';
  /** The namespace identity after the step (existing identities are kept). */
  target: { type: NamespaceIdentityType; userAssignedIdentityIds: string[] };
  /** System-assigned: Entra creates the principal asynchronously; wait for `principalId`. */
  waitForPrincipal: boolean;
  writes: 0 | 1;
  description: string;
}

export interface GrantKeyAccessStep {
  kind: 'grantKeyAccess';
  vaultName: string;
  vaultUri: string;
  vaultResourceId?: string;
  permissionModel: 'accessPolicy' | 'rbac';
  action: 'none' | 'addAccessPolicy' | 'assignRole';
  principal: PlanPrincipal;
  /** Access policy `add` (merges with what the principal already has). */
  permissions?: string[];
  /** RBAC: role and the key scopes still lacking an effective assignment (one write each). */
  roleDefinitionGuid?: string;
  scopes?: string[];
  /** Key ids in this vault the grant covers. */
  keyIds: string[];
  writes: number;
  description: string;
}

export interface WaitForAccessPropagationStep {
  kind: 'waitForAccessPropagation';
  writes: 0;
  description: string;
}

export interface SetEncryptionStep {
  kind: 'setEncryption';
  /** Body of the namespace PATCH (`properties.encryption`); not a read-modify-PUT. */
  encryption: {
    keySource: 'Microsoft.KeyVault';
    keyVaultProperties: {
      keyName: string;
      keyVaultUri: string;
      keyVersion?: string;
      identity?: { userAssignedIdentity: string };
    }[];
    requireInfrastructureEncryption: boolean;
  };
  writes: 1;
  description: string;
}

export interface WaitForProvisioningStep {
  kind: 'waitForProvisioning';
  targetState: 'Succeeded';
  writes: 0;
  description: string;
}

export interface VerifyEncryptionStep {
  kind: 'verifyEncryption';
  expectedKeyIds: string[];
  identity: EncryptionIdentity;
  requireInfrastructureEncryption: boolean;
  writes: 0;
  description: string;
}

export type PlanStep =
  | EnsureIdentityStep
  | GrantKeyAccessStep
  | WaitForAccessPropagationStep
  | SetEncryptionStep
  | WaitForProvisioningStep
  | VerifyEncryptionStep;

export interface MinimumWrites {
  identity: number;
  grants: { vaultName: string; writes: number }[];
  encryption: number;
  total: number;
}

export interface EnablePlan {
  /** `apply`: run the steps; `noOp`: already set up as requested; `blocked`: findings must be fixed first. */
  outcome: 'apply' | 'noOp' | 'blocked';
  summary: string;
  /** Every preflight finding (warnings too, for all outcomes). */
  findings: Finding[];
  /** Empty unless the outcome is `apply`: nothing is written otherwise. */
  steps: PlanStep[];
  minimumWrites: MinimumWrites;
}

const NO_WRITES: MinimumWrites = { identity: 0, grants: [], encryption: 0, total: 0 };

/** Builds the plan for the facts (running the preflight on them). Pure: same facts, same plan. */
export function buildEnablePlan(facts: EnablePreflightFacts, now: Date): EnablePlan {
  const findings = evaluatePreflight(facts, now);
  const ns = facts.namespace;
  // A re-run writes nothing, so it is a no-op even when findings remain (they are still reported).
  if (isAlreadyConfigured(ns.cmk, facts.request)) {
    const remaining = findings.filter((f) => f.blocks).length;
    return {
      outcome: 'noOp',
      summary: `Namespace ${ns.name} is already encrypted with the requested key(s); nothing to do.${
        remaining ? ` ${remaining} finding(s) about its keys or vaults need attention.` : ''
      }`,
      findings,
      steps: [],
      minimumWrites: NO_WRITES,
    };
  }
  if (hasBlockingFindings(findings)) {
    const blocking = findings.filter((f) => f.blocks).length;
    return {
      outcome: 'blocked',
      summary: `Nothing was changed: ${blocking} finding(s) on namespace ${ns.name} must be fixed first.`,
      findings,
      steps: [],
      minimumWrites: NO_WRITES,
    };
  }

  const identityStep = planIdentity(facts);
  const principal = planPrincipal(facts);
  const grantSteps = planGrants(facts, principal);
  const anyGrant = grantSteps.some((g) => g.writes > 0);
  const encryptionStep = planEncryption(facts);
  const steps: PlanStep[] = [
    identityStep,
    ...grantSteps,
    ...(anyGrant
      ? [
          {
            kind: 'waitForAccessPropagation' as const,
            writes: 0 as const,
            description: 'Wait until the new key access is effective (RBAC and access policies propagate).',
          },
        ]
      : []),
    encryptionStep,
    {
      kind: 'waitForProvisioning',
      targetState: 'Succeeded',
      writes: 0,
      description: `Wait until namespace ${ns.name} reports provisioningState Succeeded.`,
    },
    {
      kind: 'verifyEncryption',
      expectedKeyIds: facts.request.keys.map((k) => k.keyId),
      identity: facts.request.identity,
      requireInfrastructureEncryption: facts.request.requireInfrastructureEncryption,
      writes: 0,
      description: `Read namespace ${ns.name} back and check it lists exactly the requested key(s).`,
    },
  ];
  const grants = grantSteps.map((g) => ({ vaultName: g.vaultName, writes: g.writes }));
  const minimumWrites: MinimumWrites = {
    identity: identityStep.writes,
    grants,
    encryption: 1,
    total: identityStep.writes + grants.reduce((sum, g) => sum + g.writes, 0) + 1,
  };
  return {
    outcome: 'apply',
    summary: `Enable customer-managed keys on namespace ${ns.name} with ${facts.request.keys.length} key(s) in ${grantSteps.length} vault(s): ${minimumWrites.total} write(s).`,
    findings,
    steps,
    minimumWrites,
  };
}

function planIdentity(facts: EnablePreflightFacts): EnsureIdentityStep {
  const current = facts.namespace.identity;
  const attachedIds = current.userAssigned.map((u) => u.resourceId);
  const hasSystem = current.systemAssigned !== undefined;
  const typeOf = (system: boolean, userCount: number): NamespaceIdentityType =>
    system && userCount > 0 ? 'SystemAssigned, UserAssigned' : system ? 'SystemAssigned' : 'UserAssigned';
  const requested = facts.request.identity;
  if (requested.type === 'SystemAssigned') {
    if (hasSystem) {
      return {
        kind: 'ensureIdentity',
        action: 'none',
        target: { type: typeOf(true, attachedIds.length), userAssignedIdentityIds: attachedIds },
        waitForPrincipal: current.systemAssigned?.principalId === undefined,
        writes: 0,
        description: 'The system-assigned identity is already on.',
      };
    }
    return {
      kind: 'ensureIdentity',
      action: 'enableSystemAssigned',
      target: { type: typeOf(true, attachedIds.length), userAssignedIdentityIds: attachedIds },
      waitForPrincipal: true,
      writes: 1,
      description: `Turn on the system-assigned identity of namespace ${facts.namespace.name} and wait for its principal.`,
    };
  }
  const wanted = requested.resourceId;
  const attached = attachedIds.some((id) => id.toLowerCase() === wanted.toLowerCase());
  const ids = attached ? attachedIds : [...attachedIds, wanted];
  return {
    kind: 'ensureIdentity',
    action: attached ? 'none' : 'attachUserAssigned',
    target: { type: typeOf(hasSystem, ids.length), userAssignedIdentityIds: ids },
    waitForPrincipal: false,
    writes: attached ? 0 : 1,
    description: attached
      ? `User-assigned identity ${wanted} is already attached.`
      : `Attach user-assigned identity ${wanted} to namespace ${facts.namespace.name}.`,
  };
}

function planPrincipal(facts: EnablePreflightFacts): PlanPrincipal {
  const requested = facts.request.identity;
  if (requested.type === 'SystemAssigned') {
    const principalId = facts.namespace.identity.systemAssigned?.principalId;
    return { kind: 'systemAssigned', ...(principalId ? { principalId } : {}) };
  }
  const principalId =
    facts.userAssignedIdentity?.principalId ??
    facts.namespace.identity.userAssigned.find(
      (u) => u.resourceId.toLowerCase() === requested.resourceId.toLowerCase(),
    )?.principalId;
  return { kind: 'userAssigned', resourceId: requested.resourceId, ...(principalId ? { principalId } : {}) };
}

function describePrincipal(p: PlanPrincipal): string {
  return p.kind === 'systemAssigned'
    ? 'the namespace system-assigned identity'
    : `user-assigned identity ${p.resourceId}`;
}

/** One grant step per vault, in the order the keys name the vaults. */
function planGrants(facts: EnablePreflightFacts, principal: PlanPrincipal): GrantKeyAccessStep[] {
  const byVault = new Map<string, { vault: VaultFacts; keys: { ref: KeyRef; hasAccess: boolean }[] }>();
  facts.request.keys.forEach((ref, index) => {
    const name = ref.vaultName?.toLowerCase();
    const vault = name ? facts.vaults.find((v) => v.vaultName.toLowerCase() === name) : undefined;
    if (!name || !vault) return;
    const entry = byVault.get(name) ?? { vault, keys: [] };
    // A principal that does not exist yet cannot have access; unknown counts as "grant".
    const hasAccess = principal.principalId !== undefined && facts.keys[index]?.identityHasAccess === true;
    entry.keys.push({ ref, hasAccess });
    byVault.set(name, entry);
  });
  return [...byVault.values()].map(({ vault, keys }) => {
    const keyIds = keys.map((k) => k.ref.keyId);
    const common = {
      kind: 'grantKeyAccess' as const,
      vaultName: vault.vaultName,
      vaultUri: vault.vaultUri,
      ...(vault.resourceId ? { vaultResourceId: vault.resourceId } : {}),
      principal,
      keyIds,
    };
    if (vault.permissionModel === 'rbac') {
      const missing = keys.filter((k) => !k.hasAccess);
      const base = vault.resourceId ?? `<vault ${vault.vaultName}>`;
      const scopes = missing.map((k) => `${base}/keys/${k.ref.keyName}`);
      return {
        ...common,
        permissionModel: 'rbac' as const,
        action: scopes.length ? ('assignRole' as const) : ('none' as const),
        roleDefinitionGuid: CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID,
        scopes,
        writes: scopes.length,
        description: scopes.length
          ? `Assign ${CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_NAME} to ${describePrincipal(principal)} on ${scopes.length} key(s) in vault ${vault.vaultName} (key scope).`
          : `${describePrincipal(principal)} already has key access in vault ${vault.vaultName}.`,
      };
    }
    const needed = keys.some((k) => !k.hasAccess);
    return {
      ...common,
      permissionModel: 'accessPolicy' as const,
      action: needed ? ('addAccessPolicy' as const) : ('none' as const),
      permissions: [...CMK_KEY_PERMISSIONS],
      writes: needed ? 1 : 0,
      description: needed
        ? `Add an access policy (keys: ${CMK_KEY_PERMISSIONS.join(', ')}) for ${describePrincipal(principal)} on vault ${vault.vaultName}.`
        : `${describePrincipal(principal)} already has key access in vault ${vault.vaultName}.`,
    };
  });
}

function planEncryption(facts: EnablePreflightFacts): SetEncryptionStep {
  const identity = facts.request.identity;
  const keys = facts.request.keys;
  return {
    kind: 'setEncryption',
    encryption: {
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: keys.map((k) => ({
        keyName: k.keyName,
        keyVaultUri: k.vaultUri,
        ...(k.keyVersion ? { keyVersion: k.keyVersion } : {}),
        ...(identity.type === 'UserAssigned'
          ? { identity: { userAssignedIdentity: identity.resourceId } }
          : {}),
      })),
      requireInfrastructureEncryption: facts.request.requireInfrastructureEncryption,
    },
    writes: 1,
    description: `PATCH the encryption of namespace ${facts.namespace.name}: ${keys.length} key(s)${
      facts.request.requireInfrastructureEncryption ? ', infrastructure encryption on' : ''
    }.`,
  };
}
