/**
 * The sandbox wiring `npm start` and the e2e suite create comes from the JSON the Bicep loads: apply
 * infra/ as it is, then a changed copy of it, and read Azure back each time through the typed SDK
 * clients (Event Grid, Monitor, Authorization) — what the sandbox holds follows the JSON.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { EventGridManagementClient } from '@azure/arm-eventgrid';
import { MonitorClient } from '@azure/arm-monitor';
import { ResourceManagementClient } from '@azure/arm-resources';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { armClientOptions, httpsJson, SandboxCredential } from '../../sandbox/azure/testing';
import {
  grantAppRoles,
  wireAuditAlert,
  wireKeyVaults,
  wireMetricAlertRules,
  type ArmTarget,
} from '../../sandbox/infra/apply';
import { INFRA_DIR, loadInfraData, type InfraData } from '../../sandbox/infra/data';

let sb: AzureSandbox;
let target: ArmTarget;
let rg: string;
let vaultId: string;
let namespaceId: string;
const workspaceId = () => `${rg}/providers/Microsoft.OperationalInsights/workspaces/law-wiring`;

beforeAll(async () => {
  sb = await startAzureSandbox();
  const admin = new SandboxCredential(sb, sb.admin.objectId);
  target = { armUrl: sb.url, ca: sb.caPem, credential: admin, subscriptionId: sb.subscriptionId };
  rg = `/subscriptions/${sb.subscriptionId}/resourceGroups/rg-wiring`;
  const token = (await sb.control.token(sb.admin.objectId)).access_token;
  const put = async (p: string, api: string, body: unknown) => {
    const r = await httpsJson(sb, 'PUT', `${sb.url}${p}?api-version=${api}`, { token, body });
    if (r.status >= 300) throw new Error(`${p}: ${r.status} ${r.text}`);
  };
  await put(rg, '2021-04-01', { location: 'westeurope' });
  vaultId = `${rg}/providers/Microsoft.KeyVault/vaults/kv-wiring`;
  await put(vaultId, '2023-07-01', {
    location: 'westeurope',
    properties: { tenantId: sb.tenantId, sku: { family: 'A', name: 'standard' }, accessPolicies: [] },
  });
  namespaceId = `${rg}/providers/Microsoft.ServiceBus/namespaces/sb-wiring`;
  await put(namespaceId, '2021-11-01', {
    location: 'westeurope',
    sku: { name: 'Premium', tier: 'Premium', capacity: 1 },
  });
}, 60_000);

afterAll(async () => sb?.close());

/** infra/ copied to a temp dir with `edit` applied to the parsed files. */
function changedCopy(edit: (d: InfraData) => void): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-'));
  cpSync(INFRA_DIR, dir, { recursive: true });
  const d = loadInfraData(dir);
  edit(d);
  const files: Record<keyof InfraData, string> = {
    roles: 'roles.json',
    eventSubscription: 'wiring/keyVaultEventSubscription.json',
    diagnosticSetting: 'wiring/keyVaultDiagnosticSetting.json',
    auditAlert: 'wiring/keyVaultAuditAlert.json',
    metricAlertRules: 'wiring/metricAlertRules.json',
  };
  for (const [k, f] of Object.entries(files))
    writeFileSync(path.join(dir, f), JSON.stringify(d[k as keyof InfraData]));
  return dir;
}

/** Applies `data` and reads back what the sandbox now holds. */
async function applyAndReadBack(data: InfraData) {
  const appId = `${rg}/providers/Microsoft.Web/sites/func-wiring`;
  await wireKeyVaults(target, data, {
    vaultIds: [vaultId],
    functionAppId: appId,
    workspaceId: workspaceId(),
    location: 'westeurope',
  });
  const audit = await wireAuditAlert(target, data, {
    resourceGroupId: rg,
    workspaceId: workspaceId(),
    appBaseUrl: 'https://func-wiring.example',
    functionKey: 'key',
    operatorActionGroupIds: [],
    location: 'westeurope',
  });
  const [ruleId] = await wireMetricAlertRules(target, data, {
    resourceGroupId: rg,
    namespaceIds: [namespaceId],
    actionGroupId: audit.actionGroupId,
  });
  await grantAppRoles(target, data, sb.app.objectId, {
    subscription: [`/subscriptions/${sb.subscriptionId}`],
  });

  const opts = armClientOptions(sb);
  const eg = new EventGridManagementClient(target.credential, sb.subscriptionId, opts);
  const mon = new MonitorClient(target.credential, sb.subscriptionId, opts);
  const res = new ResourceManagementClient(target.credential, sb.subscriptionId, opts);
  const auth = new AuthorizationManagementClient(target.credential, sb.subscriptionId, opts);
  const es = data.eventSubscription;
  const sub = await eg.systemTopicEventSubscriptions.get(
    'rg-wiring',
    `${es.systemTopic.namePrefix}kv-wiring`,
    es.name,
  );
  const diag = await mon.diagnosticSettings.get(vaultId, data.diagnosticSetting.name);
  const rule = await res.resources.getById(audit.ruleId, data.auditAlert.apiVersion);
  const metric = await mon.metricAlerts.get('rg-wiring', ruleId!.split('/').pop()!);
  const roles: string[] = [];
  for await (const a of auth.roleAssignments.listForScope(`/subscriptions/${sb.subscriptionId}`, {
    filter: `principalId eq '${sb.app.objectId}'`,
  }))
    roles.push(a.roleDefinitionId!.split('/').pop()!);
  return {
    eventTypes: sub.filter?.includedEventTypes,
    retry: sub.retryPolicy?.maxDeliveryAttempts,
    destination: (sub.destination as { resourceId?: string }).resourceId,
    diagnostic: diag.logs?.map((l) => [l.category, l.enabled]),
    auditSeverity: (rule.properties as { severity: number }).severity,
    auditQuery: (rule.properties as { criteria: { allOf: Array<{ query: string }> } }).criteria.allOf[0]!
      .query,
    auditWebhook: (
      await mon.actionGroups.get('rg-wiring', data.auditAlert.actionGroup.name)
    ).webhookReceivers?.map((w) => w.serviceUri),
    metricThreshold: (metric.criteria as { allOf: Array<{ threshold: number }> }).allOf[0]!.threshold,
    roles: roles.sort(),
  };
}

it('applies infra/ as it is: the sandbox holds exactly what the JSON says', async () => {
  const data = loadInfraData();
  const got = await applyAndReadBack(data);
  expect(got).toEqual({
    eventTypes: (data.eventSubscription.properties.filter as { includedEventTypes: string[] })
      .includedEventTypes,
    retry: 30,
    destination: `${rg}/providers/Microsoft.Web/sites/func-wiring/functions/${data.eventSubscription.function}`,
    diagnostic: [['AuditEvent', true]],
    auditSeverity: data.auditAlert.properties.severity,
    auditQuery: (data.auditAlert.properties.criteria as { allOf: Array<{ query: string }> }).allOf[0]!.query,
    auditWebhook: ['https://func-wiring.example/api/alerts/keyvault-audit?code=key'],
    metricThreshold: 1,
    roles: data.roles.scopes.subscription!.roles.map((r) => r.roleDefinitionId).sort(),
  });
  // The JSON is read from disk, so the comparison above is with the files themselves.
  expect(
    JSON.parse(readFileSync(path.join(INFRA_DIR, 'wiring/keyVaultEventSubscription.json'), 'utf8')),
  ).toEqual(data.eventSubscription);
});

it('change the JSON, the sandbox wiring changes', async () => {
  const dir = changedCopy((d) => {
    const filter = d.eventSubscription.properties.filter as { includedEventTypes: string[] };
    filter.includedEventTypes = ['Microsoft.KeyVault.KeyExpired'];
    d.eventSubscription.properties.retryPolicy = { maxDeliveryAttempts: 7, eventTimeToLiveInMinutes: 60 };
    d.eventSubscription.function = 'otherFunction';
    d.diagnosticSetting.properties.logs = [{ category: 'AuditEvent', enabled: false }];
    d.auditAlert.properties.severity = 3;
    (d.auditAlert.properties.criteria as { allOf: Array<{ query: string }> }).allOf[0]!.query =
      'AzureDiagnostics | where OperationName == "KeyDelete"';
    d.auditAlert.webhookRoute = 'alerts/other';
    const criterion = (
      d.metricAlertRules.rules[0]!.properties.criteria as { allOf: Array<{ threshold: number }> }
    ).allOf[0]!;
    criterion.threshold = 0.5;
    d.roles.scopes.subscription!.roles[0]!.roleDefinitionId = '21090545-7ca7-4776-b22c-e363652d74d2'; // Key Vault Reader
  });
  const got = await applyAndReadBack(loadInfraData(dir));
  expect(got).toEqual({
    eventTypes: ['Microsoft.KeyVault.KeyExpired'],
    retry: 7,
    destination: `${rg}/providers/Microsoft.Web/sites/func-wiring/functions/otherFunction`,
    diagnostic: [['AuditEvent', false]],
    auditSeverity: 3,
    auditQuery: 'AzureDiagnostics | where OperationName == "KeyDelete"',
    auditWebhook: ['https://func-wiring.example/api/alerts/other?code=key'],
    metricThreshold: 0.5,
    // The first run's Reader stays (nothing removes a role); the changed JSON added Key Vault Reader.
    roles: [
      '21090545-7ca7-4776-b22c-e363652d74d2',
      '3913510d-42f4-4e42-8a64-420c390055eb',
      'acdd72a7-3385-48ef-bd42-f606fba81ae7',
    ],
  });
});

it("the RBAC-vault role's ABAC condition: Crypto Service Encryption User only, write and delete", async () => {
  const data = loadInfraData();
  const delegate = sb.control.createPrincipal({ displayName: 'delegate' });
  const other = sb.control.createPrincipal({ displayName: 'grantee' });
  await grantAppRoles(target, data, delegate.objectId, { rbacVault: [vaultId] });
  const auth = new AuthorizationManagementClient(
    new SandboxCredential(sb, delegate.objectId),
    sb.subscriptionId,
    { ...armClientOptions(sb), retryOptions: { maxRetries: 0 } },
  );
  const role = (guid: string) =>
    `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
  const assign = (name: string, guid: string) =>
    auth.roleAssignments
      .create(`${vaultId}/keys/k`, name, {
        roleDefinitionId: role(guid),
        principalId: other.objectId,
        principalType: 'ServicePrincipal',
      })
      .then(
        (a) => `created ${a.roleDefinitionId!.split('/').pop()}`,
        (e: { statusCode?: number; code?: string }) => `${e.statusCode} ${e.code}`,
      );
  expect(await assign('00000000-0000-4000-8000-0000000000c1', 'e147488a-f6f5-4113-8e2d-b22465e65bf6')).toBe(
    'created e147488a-f6f5-4113-8e2d-b22465e65bf6',
  );
  // Owner, Key Vault Administrator: refused by the condition, not by the role's actions.
  expect(await assign('00000000-0000-4000-8000-0000000000c2', '8e3af657-a8ff-443c-a75c-2fe8c4bcb635')).toBe(
    '403 AuthorizationFailed',
  );
  expect(await assign('00000000-0000-4000-8000-0000000000c3', '00482a5a-887f-4fb3-b363-3b7fe8e74483')).toBe(
    '403 AuthorizationFailed',
  );
  // An admin-made Owner assignment on the key may not be deleted by the delegate; its own may.
  const owner = sb.control.assignRole({
    principalId: other.objectId,
    role: 'Owner',
    scope: `${vaultId}/keys/k`,
    immediate: true,
  });
  const del = (id: string) =>
    auth.roleAssignments.deleteById(id).then(
      () => 'deleted',
      (e: { statusCode?: number; code?: string }) => `${e.statusCode} ${e.code}`,
    );
  expect(await del(owner.id)).toBe('403 AuthorizationFailed');
  expect(
    await del(
      `${vaultId}/keys/k/providers/Microsoft.Authorization/roleAssignments/00000000-0000-4000-8000-0000000000c1`,
    ),
  ).toBe('deleted');
  // The same role without the condition may assign Owner: the refusal above is the condition's.
  const unconditioned = sb.control.createPrincipal({ displayName: 'unconditioned' });
  sb.control.assignRole({
    principalId: unconditioned.objectId,
    role: 'Role Based Access Control Administrator',
    scope: vaultId,
    immediate: true,
  });
  const free = new AuthorizationManagementClient(
    new SandboxCredential(sb, unconditioned.objectId),
    sb.subscriptionId,
    armClientOptions(sb),
  );
  const created = await free.roleAssignments.create(
    `${vaultId}/keys/k`,
    '00000000-0000-4000-8000-0000000000c4',
    {
      roleDefinitionId: role('8e3af657-a8ff-443c-a75c-2fe8c4bcb635'),
      principalId: unconditioned.objectId,
      principalType: 'ServicePrincipal',
    },
  );
  expect(created.roleDefinitionId!.split('/').pop()).toBe('8e3af657-a8ff-443c-a75c-2fe8c4bcb635');
});
