import { cmkStateFromEncryption } from '../../src/domain/cmkState';
import {
  buildEnablePlan,
  type EnsureIdentityStep,
  type GrantKeyAccessStep,
  type PlanStep,
  type SetEncryptionStep,
} from '../../src/domain/plan';
import {
  NOW,
  SUFFIX,
  UAI_ID,
  V1,
  enableFacts,
  keyFacts,
  keyUrl,
  vaultFacts,
  vaultId,
} from './domain-fixtures';

const kinds = (steps: PlanStep[]): string[] => steps.map((s) => s.kind);
const stepOf = <K extends PlanStep['kind']>(steps: PlanStep[], kind: K): Extract<PlanStep, { kind: K }>[] =>
  steps.filter((s): s is Extract<PlanStep, { kind: K }> => s.kind === kind);

describe('buildEnablePlan', () => {
  it('system-assigned identity + access-policy vault: enable identity, add policy, wait, PATCH, wait, verify', () => {
    const plan = buildEnablePlan(enableFacts(), NOW);
    expect(plan.outcome).toBe('apply');
    expect(plan.findings).toEqual([]);
    expect(kinds(plan.steps)).toEqual([
      'ensureIdentity',
      'grantKeyAccess',
      'waitForAccessPropagation',
      'setEncryption',
      'waitForProvisioning',
      'verifyEncryption',
    ]);
    const [identity] = stepOf(plan.steps, 'ensureIdentity') as [EnsureIdentityStep];
    expect(identity).toMatchObject({
      action: 'enableSystemAssigned',
      target: { type: 'SystemAssigned', userAssignedIdentityIds: [] },
      waitForPrincipal: true,
      writes: 1,
    });
    const [grant] = stepOf(plan.steps, 'grantKeyAccess') as [GrantKeyAccessStep];
    expect(grant).toMatchObject({
      vaultName: 'kv-prod',
      permissionModel: 'accessPolicy',
      action: 'addAccessPolicy',
      permissions: ['get', 'wrapKey', 'unwrapKey'],
      principal: { kind: 'systemAssigned' },
      keyIds: ['https://kv-prod.vault.azure.net/keys/cmk-1'],
      writes: 1,
    });
    expect(grant.principal).not.toHaveProperty('principalId');
    const [encryption] = stepOf(plan.steps, 'setEncryption') as [SetEncryptionStep];
    expect(encryption.encryption).toEqual({
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: [{ keyName: 'cmk-1', keyVaultUri: 'https://kv-prod.vault.azure.net/' }],
      requireInfrastructureEncryption: false,
    });
    expect(plan.minimumWrites).toEqual({
      identity: 1,
      grants: [{ vaultName: 'kv-prod', writes: 1 }],
      encryption: 1,
      total: 3,
    });
  });

  it('user-assigned identity + RBAC vault: attach, role at key scope, identity on every key', () => {
    const plan = buildEnablePlan(
      enableFacts({
        request: {
          keys: [{ keyId: keyUrl('kv-prod', 'cmk-1') }],
          identity: { type: 'UserAssigned', resourceId: UAI_ID },
          requireInfrastructureEncryption: true,
        },
        vaults: [vaultFacts('kv-prod', { permissionModel: 'rbac' })],
        userAssignedIdentity: { resourceId: UAI_ID, status: 'found', principalId: 'p-uai' },
      }),
      NOW,
    );
    expect(plan.outcome).toBe('apply');
    const [identity] = stepOf(plan.steps, 'ensureIdentity');
    expect(identity).toMatchObject({
      action: 'attachUserAssigned',
      target: { type: 'UserAssigned', userAssignedIdentityIds: [UAI_ID] },
      waitForPrincipal: false,
      writes: 1,
    });
    const [grant] = stepOf(plan.steps, 'grantKeyAccess');
    expect(grant).toMatchObject({
      permissionModel: 'rbac',
      action: 'assignRole',
      roleDefinitionGuid: 'e147488a-f6f5-4113-8e2d-b22465e65bf6',
      scopes: [`${vaultId('kv-prod')}/keys/cmk-1`],
      principal: { kind: 'userAssigned', resourceId: UAI_ID, principalId: 'p-uai' },
      writes: 1,
    });
    const [encryption] = stepOf(plan.steps, 'setEncryption');
    expect(encryption?.encryption).toEqual({
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: [
        {
          keyName: 'cmk-1',
          keyVaultUri: 'https://kv-prod.vault.azure.net/',
          identity: { userAssignedIdentity: UAI_ID },
        },
      ],
      requireInfrastructureEncryption: true,
    });
    expect(encryption?.description).toContain('infrastructure encryption on');
  });

  it('keeps existing identities when adding one (system-assigned next to a user-assigned)', () => {
    const plan = buildEnablePlan(
      enableFacts({
        namespace: { identity: { userAssigned: [{ resourceId: UAI_ID, principalId: 'p-uai' }] } },
      }),
      NOW,
    );
    expect(stepOf(plan.steps, 'ensureIdentity')[0]?.target).toEqual({
      type: 'SystemAssigned, UserAssigned',
      userAssignedIdentityIds: [UAI_ID],
    });
  });

  it('three keys in two vaults: one grant step per vault, key-scope role per RBAC key, 1 PATCH with all keys', () => {
    const plan = buildEnablePlan(
      enableFacts({
        request: {
          keys: [
            { keyId: keyUrl('kv-prod', 'cmk-1') },
            { keyId: keyUrl('kv-dr', 'cmk-2') },
            { vaultUri: 'https://kv-dr.vault.azure.net/', keyName: 'cmk-3' },
          ],
        },
        namespace: { identity: { systemAssigned: { principalId: 'p-ns' }, userAssigned: [] } },
        vaults: [vaultFacts('kv-prod'), vaultFacts('kv-dr', { permissionModel: 'rbac' })],
      }),
      NOW,
    );
    expect(plan.outcome).toBe('apply');
    const grants = stepOf(plan.steps, 'grantKeyAccess');
    expect(grants.map((g) => [g.vaultName, g.action, g.writes])).toEqual([
      ['kv-prod', 'addAccessPolicy', 1],
      ['kv-dr', 'assignRole', 2],
    ]);
    expect(grants[1]?.scopes).toEqual([`${vaultId('kv-dr')}/keys/cmk-2`, `${vaultId('kv-dr')}/keys/cmk-3`]);
    expect(grants[0]?.principal).toEqual({ kind: 'systemAssigned', principalId: 'p-ns' });
    expect(
      stepOf(plan.steps, 'setEncryption')[0]?.encryption.keyVaultProperties.map((k) => k.keyName),
    ).toEqual(['cmk-1', 'cmk-2', 'cmk-3']);
    expect(stepOf(plan.steps, 'ensureIdentity')[0]).toMatchObject({ action: 'none', writes: 0 });
    expect(plan.minimumWrites).toEqual({
      identity: 0,
      grants: [
        { vaultName: 'kv-prod', writes: 1 },
        { vaultName: 'kv-dr', writes: 2 },
      ],
      encryption: 1,
      total: 4,
    });
    expect(stepOf(plan.steps, 'verifyEncryption')[0]?.expectedKeyIds).toHaveLength(3);
  });

  it('skips grants that are already effective, and the propagation wait when nothing was granted', () => {
    const plan = buildEnablePlan(
      enableFacts({
        request: { keys: [{ keyId: keyUrl('kv-prod', 'cmk-1') }, { keyId: keyUrl('kv-dr', 'cmk-2') }] },
        namespace: { identity: { systemAssigned: { principalId: 'p-ns' }, userAssigned: [] } },
        vaults: [vaultFacts('kv-prod'), vaultFacts('kv-dr', { permissionModel: 'rbac' })],
        keys: [
          { key: keyFacts(), identityHasAccess: true },
          { key: keyFacts(), identityHasAccess: true },
        ],
      }),
      NOW,
    );
    expect(kinds(plan.steps)).toEqual([
      'ensureIdentity',
      'grantKeyAccess',
      'grantKeyAccess',
      'setEncryption',
      'waitForProvisioning',
      'verifyEncryption',
    ]);
    expect(stepOf(plan.steps, 'grantKeyAccess').map((g) => [g.action, g.writes])).toEqual([
      ['none', 0],
      ['none', 0],
    ]);
    expect(plan.minimumWrites.total).toBe(1);
  });

  it('grants only the RBAC keys still lacking a role', () => {
    const plan = buildEnablePlan(
      enableFacts({
        request: { keys: [{ keyId: keyUrl('kv-dr', 'cmk-2') }, { keyId: keyUrl('kv-dr', 'cmk-3') }] },
        namespace: { identity: { systemAssigned: { principalId: 'p-ns' }, userAssigned: [] } },
        vaults: [vaultFacts('kv-dr', { permissionModel: 'rbac' })],
        keys: [
          { key: keyFacts(), identityHasAccess: true },
          { key: keyFacts(), identityHasAccess: false },
        ],
      }),
      NOW,
    );
    expect(stepOf(plan.steps, 'grantKeyAccess')[0]?.scopes).toEqual([`${vaultId('kv-dr')}/keys/cmk-3`]);
  });

  it('does not trust "already has access" for a principal that does not exist yet', () => {
    const plan = buildEnablePlan(enableFacts({ keys: [{ key: keyFacts(), identityHasAccess: true }] }), NOW);
    expect(stepOf(plan.steps, 'grantKeyAccess')[0]?.writes).toBe(1);
  });

  it('passes a pinned version through to the PATCH and reports it as a warning', () => {
    const plan = buildEnablePlan(
      enableFacts({ request: { keys: [{ keyId: keyUrl('kv-prod', 'cmk-1', V1) }] } }),
      NOW,
    );
    expect(plan.outcome).toBe('apply');
    expect(plan.findings.map((f) => f.ruleId)).toEqual(['CMK-006']);
    expect(stepOf(plan.steps, 'setEncryption')[0]?.encryption.keyVaultProperties[0]?.keyVersion).toBe(V1);
  });

  it('is a no-op when the namespace already uses the same keys (any order and casing)', () => {
    const cmk = cmkStateFromEncryption(
      {
        requireInfrastructureEncryption: true,
        keyVaultProperties: [
          { keyName: 'CMK-2', keyVaultUri: 'https://KV-DR.vault.azure.net' },
          { keyName: 'cmk-1', keyVaultUri: 'https://kv-prod.vault.azure.net/' },
        ],
      },
      SUFFIX,
    );
    const plan = buildEnablePlan(
      enableFacts({
        request: { keys: [{ keyId: keyUrl('kv-prod', 'cmk-1') }, { keyId: keyUrl('kv-dr', 'cmk-2') }] },
        namespace: {
          cmk,
          queueCount: 4,
          identity: { systemAssigned: { principalId: 'p-ns' }, userAssigned: [] },
        },
        keys: [
          { key: keyFacts(), identityHasAccess: true },
          { key: keyFacts(), identityHasAccess: true },
        ],
      }),
      NOW,
    );
    expect(plan).toEqual({
      outcome: 'noOp',
      summary: 'Namespace sb-prod-01 is already encrypted with the requested key(s); nothing to do.',
      findings: [],
      steps: [],
      minimumWrites: { identity: 0, grants: [], encryption: 0, total: 0 },
    });
  });

  it('stays a no-op on a re-run even when a key has since been disabled (reported, not written)', () => {
    const cmk = cmkStateFromEncryption(
      { keyVaultProperties: [{ keyName: 'cmk-1', keyVaultUri: 'https://kv-prod.vault.azure.net/' }] },
      SUFFIX,
    );
    const plan = buildEnablePlan(
      enableFacts({
        namespace: { cmk, identity: { systemAssigned: { principalId: 'p-ns' }, userAssigned: [] } },
        keys: [{ key: keyFacts({ enabled: false }), identityHasAccess: true }],
      }),
      NOW,
    );
    expect(plan.outcome).toBe('noOp');
    expect(plan.steps).toEqual([]);
    expect(plan.findings.map((f) => f.ruleId)).toEqual(['CMK-003']);
    expect(plan.summary).toContain('1 finding(s) about its keys or vaults need attention');
  });

  it('refuses other keys on an encrypted namespace with a clear finding and no steps', () => {
    const cmk = cmkStateFromEncryption(
      { keyVaultProperties: [{ keyName: 'old-key', keyVaultUri: 'https://kv-old.vault.azure.net/' }] },
      SUFFIX,
    );
    const plan = buildEnablePlan(enableFacts({ namespace: { cmk } }), NOW);
    expect(plan.outcome).toBe('blocked');
    expect(plan.steps).toEqual([]);
    expect(plan.minimumWrites.total).toBe(0);
    expect(plan.findings.map((f) => f.ruleId)).toEqual(['PRE-008']);
    expect(plan.summary).toBe(
      'Nothing was changed: 1 finding(s) on namespace sb-prod-01 must be fixed first.',
    );
  });

  it('is blocked, with all findings, when any preflight error fires', () => {
    const plan = buildEnablePlan(
      enableFacts({
        namespace: { skuTier: 'Standard' },
        vaults: [vaultFacts('kv-prod', { purgeProtectionEnabled: false })],
      }),
      NOW,
    );
    expect(plan.outcome).toBe('blocked');
    expect(plan.findings.map((f) => f.ruleId)).toEqual(['PRE-001', 'CMK-007']);
    expect(plan.steps).toEqual([]);
  });

  it('is deterministic: the same facts give the same plan', () => {
    expect(buildEnablePlan(enableFacts(), NOW)).toEqual(buildEnablePlan(enableFacts(), NOW));
  });
});
