/**
 * The app's gateways (src/azure) with the REAL SDK clients against the in-process sandbox, as the
 * app's own identity: what each read turns into (domain facts), how refusals become facts instead of
 * crashes, and that each write is idempotent.
 */
import {
  cmkGateways,
  readDiagnoseFacts,
  readEnablePreflightFacts,
  type CmkGateways,
} from '../../src/azure/cmkFacts';
import { roleAssignmentName } from '../../src/azure/authorization';
import {
  buildEnablePlan,
  evaluateDiagnosis,
  parseEnableCmkRequest,
  parseServiceBusNamespaceId,
  type EnableCmkRequest,
  type RuleSettings,
} from '../../src/domain';
import { SandboxAzureClients } from './app-clients-support';
import { SbHarness } from './servicebus-support';

let h: SbHarness;
let gw: CmkGateways;
let settings: RuleSettings;
const NOW = new Date(Date.UTC(2026, 0, 1));
const YEAR_S = 365 * 24 * 3600;

beforeAll(async () => {
  h = await SbHarness.start();
  const app = h.sandbox.app.objectId;
  h.sandbox.control.assignRole({
    principalId: app,
    role: 'Owner',
    scope: `/subscriptions/${h.sandbox.subscriptionId}`,
  });
  gw = cmkGateways(new SandboxAzureClients(h.sandbox, app));
  settings = { keyVaultDnsSuffix: h.sandbox.keyVaultDnsSuffix, keyExpiryWarningDays: 30 };
});
afterAll(async () => h?.close());

const uri = (vault: string) => h.sandbox.vaultUri(vault);
function request(body: Record<string, unknown>): EnableCmkRequest {
  const parsed = parseEnableCmkRequest(body, h.sandbox.keyVaultDnsSuffix);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.value;
}

describe('ServiceBusGateway', () => {
  it('reads tier, state, identity, entity counts and Geo-DR into namespace facts', async () => {
    await h.namespace('gw-ns-facts');
    const id = parseServiceBusNamespaceId(h.nsId('gw-ns-facts'));
    let facts = await gw.serviceBus.namespaceFacts(id);
    expect(facts).toMatchObject({
      ok: true,
      value: {
        name: 'gw-ns-facts',
        skuTier: 'Premium',
        provisioningState: 'Succeeded',
        queueCount: 0,
        topicCount: 0,
        identity: { userAssigned: [] },
        cmk: { encrypted: false },
      },
    });
    expect(facts.ok && facts.value.geoDr).toBeUndefined();
    await h.sb.queues.createOrUpdate(h.rg, 'gw-ns-facts', 'q1', {});
    await h.sb.topics.createOrUpdate(h.rg, 'gw-ns-facts', 't1', {});
    await h.sb.topics.createOrUpdate(h.rg, 'gw-ns-facts', 't2', {});
    facts = await gw.serviceBus.namespaceFacts(id);
    expect(facts).toMatchObject({ ok: true, value: { queueCount: 1, topicCount: 2 } });
  });

  it('answers a missing namespace with a 404 refusal, not an exception', async () => {
    const missing = await gw.serviceBus.namespaceFacts(parseServiceBusNamespaceId(h.nsId('gw-ns-nowhere')));
    expect(missing).toMatchObject({ ok: false, status: 404, code: 'ResourceNotFound' });
  });

  it('turns on the system identity with an identity-only PATCH, idempotently', async () => {
    await h.namespace('gw-ns-ident', { tags: { keep: 'me' } });
    const id = parseServiceBusNamespaceId(h.nsId('gw-ns-ident'));
    const target = { type: 'SystemAssigned' as const, userAssignedIdentityIds: [] };
    const first = await gw.serviceBus.patchIdentity(id, target);
    const second = await gw.serviceBus.patchIdentity(id, target);
    expect(first.ok && first.value.identity.systemAssigned?.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.ok && second.value.identity.systemAssigned?.principalId).toBe(
      first.ok && first.value.identity.systemAssigned?.principalId,
    );
    // Nothing else of the namespace was touched (no read-modify-PUT).
    expect((await h.sb.namespaces.get(h.rg, 'gw-ns-ident')).tags).toEqual({ keep: 'me' });
  });
});

describe('KeyVaultGateway', () => {
  beforeAll(async () => {
    await h.vault('gw-kv-ap');
    await h.vault('gw-kv-rbac', { rbac: true });
    await h.vault('gw-kv-nopp', {
      purgeProtection: false,
      networkAcls: { defaultAction: 'Deny', bypass: 'None', ipRules: [], virtualNetworkRules: [] },
    });
    const keys = h.keys('gw-kv-ap');
    await keys.createRsaKey('good', { expiresOn: new Date(NOW.getTime() + 2 * YEAR_S * 1000) });
    const disabled = await keys.createRsaKey('off');
    await keys.updateKeyProperties('off', disabled.properties.version!, { enabled: false });
    await keys.createEcKey('ec');
    await keys.createRsaKey('soon', { expiresOn: new Date(NOW.getTime() + 10 * 24 * 3600 * 1000) });
  });

  it('finds vaults by name in one list and reads their protection, permission model and firewall', async () => {
    const found = await gw.keyVault.findVaults(
      [
        { vaultName: 'gw-kv-ap', vaultUri: uri('gw-kv-ap') },
        { vaultName: 'gw-kv-rbac', vaultUri: uri('gw-kv-rbac') },
        { vaultName: 'gw-kv-nopp', vaultUri: uri('gw-kv-nopp') },
        { vaultName: 'gw-kv-absent', vaultUri: uri('gw-kv-absent') },
      ],
      h.sandbox.subscriptionId,
    );
    expect(found.get('gw-kv-ap')?.facts).toMatchObject({
      status: 'found',
      softDeleteEnabled: true,
      purgeProtectionEnabled: true,
      permissionModel: 'accessPolicy',
      resourceId: h.vaultId('gw-kv-ap'),
    });
    expect(found.get('gw-kv-ap')?.accessPolicies.map((p) => p.objectId)).toContain(h.admin);
    expect(found.get('gw-kv-rbac')?.facts.permissionModel).toBe('rbac');
    expect(found.get('gw-kv-nopp')?.facts).toMatchObject({
      purgeProtectionEnabled: false,
      networkAcls: { defaultAction: 'Deny', bypass: 'None', virtualNetworkRuleIds: [] },
    });
    expect(found.get('gw-kv-absent')?.facts.status).toBe('notFound');
  });

  it('finds a vault in another subscription the app can see, and reads its keys there', async () => {
    const other = 'bbbbbbbb-2222-4333-8444-555555555555';
    h.sandbox.core.options.subscriptions.push({ subscriptionId: other, displayName: 'second' });
    h.sandbox.core.store.put('subscriptions', other, {
      subscriptionId: other,
      displayName: 'second',
      state: 'Enabled',
      tenantId: h.sandbox.tenantId,
    });
    await h.resourceGroup('rg-other', other);
    const vaultId = `/subscriptions/${other}/resourceGroups/rg-other/providers/Microsoft.KeyVault/vaults/gw-kv-other`;
    await h.arm('PUT', `${vaultId}?api-version=2023-07-01`, {
      location: 'westeurope',
      properties: {
        tenantId: h.sandbox.tenantId,
        sku: { family: 'A', name: 'standard' },
        enablePurgeProtection: true,
        accessPolicies: [],
      },
    });
    await h.arm('PUT', `${vaultId}/keys/far?api-version=2023-07-01`, {
      properties: { kty: 'RSA', keySize: 2048 },
    });
    h.sandbox.control.assignRole({
      principalId: h.sandbox.app.objectId,
      role: 'Reader',
      scope: `/subscriptions/${other}`,
    });

    const found = await gw.keyVault.findVaults(
      [{ vaultName: 'gw-kv-other', vaultUri: uri('gw-kv-other') }],
      h.sandbox.subscriptionId,
    );
    expect(found.get('gw-kv-other')?.facts).toMatchObject({ status: 'found', resourceId: vaultId });
    expect(await gw.keyVault.getKey(vaultId, 'far')).toMatchObject({ status: 'found', kty: 'RSA' });
  });

  it('reads keys through ARM into key facts: enabled, expiry, type, operations, version, rotation policy', async () => {
    const vault = h.vaultId('gw-kv-ap');
    const good = await gw.keyVault.getKey(vault, 'good');
    expect(good).toMatchObject({ status: 'found', enabled: true, kty: 'RSA', rotationPolicy: null });
    expect(good.keyOps).toEqual(expect.arrayContaining(['wrapKey', 'unwrapKey']));
    expect(good.currentVersion).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(good.expiresOn!)).toBe(NOW.getTime() + 2 * YEAR_S * 1000);
    expect(await gw.keyVault.getKey(vault, 'off')).toMatchObject({ status: 'found', enabled: false });
    expect((await gw.keyVault.getKey(vault, 'ec')).kty).toBe('EC');
    expect(await gw.keyVault.getKey(vault, 'missing')).toEqual({ status: 'notFound' });
    const pinned = await gw.keyVault.getKey(vault, 'good', good.currentVersion);
    expect(pinned).toMatchObject({ status: 'found', currentVersion: good.currentVersion });
  });

  it('reads a rotation policy that rotates as autoRotate, with the expiry it gives new versions', async () => {
    await h.arm('PUT', `${h.vaultId('gw-kv-ap')}/keys/rotating?api-version=2023-07-01`, {
      properties: {
        kty: 'RSA',
        keySize: 2048,
        rotationPolicy: {
          lifetimeActions: [{ trigger: { timeAfterCreate: 'P90D' }, action: { type: 'rotate' } }],
          attributes: { expiryTime: 'P1Y' },
        },
      },
    });
    expect((await gw.keyVault.getKey(h.vaultId('gw-kv-ap'), 'rotating')).rotationPolicy).toEqual({
      autoRotate: true,
      expiresIn: 'P1Y',
    });
  });

  it('adds the get/wrapKey/unwrapKey access policy idempotently', async () => {
    const principal = h.sandbox.control.createPrincipal({ displayName: 'gw-ap-principal' }).objectId;
    for (let i = 0; i < 2; i++) {
      const added = await gw.keyVault.addCmkAccessPolicy(
        h.vaultId('gw-kv-ap'),
        h.sandbox.tenantId,
        principal,
      );
      expect(added.ok).toBe(true);
    }
    const vault = await h.kv.vaults.get(h.rg, 'gw-kv-ap');
    const entries = (vault.properties.accessPolicies ?? []).filter((p) => p.objectId === principal);
    expect(entries).toHaveLength(1);
    expect(entries[0]?.permissions.keys?.sort()).toEqual(['get', 'unwrapKey', 'wrapKey']);
  });
});

describe('AuthorizationGateway', () => {
  it('assigns the CMK role at key scope under a deterministic name, and a second run changes nothing', async () => {
    const principal = h.sandbox.control.createPrincipal({ displayName: 'gw-rbac-principal' }).objectId;
    const scope = `${h.vaultId('gw-kv-rbac')}/keys/k1`;
    const role = 'e147488a-f6f5-4113-8e2d-b22465e65bf6';
    const first = await gw.authorization.assignRole(scope, role, principal);
    const second = await gw.authorization.assignRole(scope, role, principal);
    expect(first).toMatchObject({ ok: true, value: { name: roleAssignmentName(scope, role, principal) } });
    expect(second.ok).toBe(true);
    const listed = await gw.authorization.listForPrincipal(h.vaultId('gw-kv-rbac'), principal);
    expect(listed.ok && listed.value).toEqual([
      expect.objectContaining({
        principalId: principal,
        scope: expect.stringMatching(/\/keys\/k1$/i) as unknown,
      }),
    ]);
  });

  it('names assignments deterministically and as GUIDs', () => {
    const a = roleAssignmentName('/subscriptions/x/rg', 'r', 'p');
    expect(a).toBe(roleAssignmentName('/SUBSCRIPTIONS/X/RG', 'R', 'P'));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(roleAssignmentName('/subscriptions/x/rg', 'r', 'q'));
  });
});

describe('ManagedIdentityGateway', () => {
  it('reads a user-assigned identity principal and reports a missing one as notFound', async () => {
    const uai = await h.uai('gw-uai');
    expect(await gw.identities.getUserAssigned(uai.id)).toMatchObject({
      status: 'found',
      principalId: uai.principalId,
    });
    const missing = uai.id.replace(/gw-uai$/, 'gw-uai-missing');
    expect((await gw.identities.getUserAssigned(missing)).status).toBe('notFound');
  });
});

describe('facts for the preflight, plan and diagnosis', () => {
  it('reads a new namespace + access-policy vault into an apply plan, and after the writes into a no-op', async () => {
    await h.namespace('gw-ns-flow');
    await h.keys('gw-kv-ap').createRsaKey('flow');
    const req = request({
      namespaceId: h.nsId('gw-ns-flow'),
      keys: [{ keyId: `${uri('gw-kv-ap')}keys/flow` }],
    });
    const before = await readEnablePreflightFacts(gw, req, settings);
    if (!before.ok) throw new Error(before.detail);
    const plan = buildEnablePlan(before.value, NOW);
    expect(plan.outcome).toBe('apply');
    expect(plan.steps.map((s) => s.kind)).toEqual([
      'ensureIdentity',
      'grantKeyAccess',
      'waitForAccessPropagation',
      'setEncryption',
      'waitForProvisioning',
      'verifyEncryption',
    ]);
    expect(plan.minimumWrites.total).toBe(3);

    const id = parseServiceBusNamespaceId(h.nsId('gw-ns-flow'));
    const ident = await gw.serviceBus.patchIdentity(id, {
      type: 'SystemAssigned',
      userAssignedIdentityIds: [],
    });
    const principal = ident.ok ? ident.value.identity.systemAssigned?.principalId : undefined;
    expect(principal).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(
      (await gw.keyVault.addCmkAccessPolicy(h.vaultId('gw-kv-ap'), h.sandbox.tenantId, principal!)).ok,
    ).toBe(true);
    const step = plan.steps.find((s) => s.kind === 'setEncryption');
    if (step?.kind !== 'setEncryption') throw new Error('no setEncryption step');
    const patched = await gw.serviceBus.patchEncryption(id, step.encryption);
    expect(patched.ok).toBe(true);

    const after = await readEnablePreflightFacts(gw, req, settings);
    if (!after.ok) throw new Error(after.detail);
    expect(after.value.keys[0]?.identityHasAccess).toBe(true);
    expect(buildEnablePlan(after.value, NOW).outcome).toBe('noOp');

    const diag = await readDiagnoseFacts(gw, id, settings);
    if (!diag.ok) throw new Error(diag.detail);
    const diagnosis = evaluateDiagnosis(diag.value, NOW);
    expect(diagnosis.usableKeys).toBe(1);
    expect(diagnosis.findings.filter((f) => f.blocks)).toEqual([]);
  });

  it('turns every problem into facts the preflight reports at once (no exception)', async () => {
    await h.namespace('gw-ns-bad', { sku: { name: 'Standard', tier: 'Standard' } });
    await h.sb.queues.createOrUpdate(h.rg, 'gw-ns-bad', 'q', {});
    const req = request({
      namespaceId: h.nsId('gw-ns-bad'),
      keys: [
        { keyId: `${uri('gw-kv-ap')}keys/off` },
        { keyId: `${uri('gw-kv-nopp')}keys/any` },
        { keyId: `${uri('gw-kv-absent')}keys/any` },
        { keyId: 'https://evil.example.com/keys/x' },
      ],
    });
    const facts = await readEnablePreflightFacts(gw, req, settings);
    if (!facts.ok) throw new Error(facts.detail);
    const plan = buildEnablePlan(facts.value, NOW);
    expect(plan.outcome).toBe('blocked');
    expect(new Set(plan.findings.map((f) => f.ruleId))).toEqual(
      new Set([
        'PRE-001',
        'PRE-002',
        'PRE-005',
        'PRE-007',
        'PRE-011',
        'CMK-007',
        'CMK-009',
        'CMK-003',
        'CMK-002',
      ]),
    );
  });

  it('without any role, the app gets a 403 refusal for the namespace and "forbidden" vaults', async () => {
    const nobody = h.sandbox.control.createPrincipal({ displayName: 'gw-no-roles' }).objectId;
    const weak = cmkGateways(new SandboxAzureClients(h.sandbox, nobody));
    const ns = await weak.serviceBus.namespaceFacts(parseServiceBusNamespaceId(h.nsId('gw-ns-facts')));
    expect(ns).toMatchObject({ ok: false, status: 403, code: 'AuthorizationFailed' });
    const vaults = await weak.keyVault.findVaults(
      [{ vaultName: 'gw-kv-ap', vaultUri: uri('gw-kv-ap') }],
      h.sandbox.subscriptionId,
    );
    expect(vaults.get('gw-kv-ap')?.facts).toMatchObject({
      status: 'forbidden',
      detail: expect.stringContaining('403') as unknown,
    });
  });
});
