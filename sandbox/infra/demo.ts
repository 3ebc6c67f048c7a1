/**
 * `npm start`: what a deployment of `infra/main.bicep` would give the demo estate, from the same data
 * (`infra/roles.json`, `infra/wiring/*.json`) through the same ARM SDK calls (`apply.ts`): the app
 * identity's roles at the demo's scopes, each vault's Event Grid subscription and audit diagnostic
 * setting, the audit log alert whose action group calls the app, and with ALERT_RULES=external the
 * metric alert rules on the CMK namespaces.
 */
import type { AzureSandbox } from '../azure/index';
import { SandboxCredential } from '../azure/testing';
import { DEMO_SINK } from '../azure/monitor/demo';
import {
  grantAppRoles,
  wireAuditAlert,
  wireKeyVaults,
  wireMetricAlertRules,
  type ArmTarget,
  type GrantedRole,
} from './apply';
import { loadInfraData, type InfraData, type ScopeKind } from './data';

type Sandbox = Pick<AzureSandbox, 'url' | 'caPem' | 'control' | 'clock' | 'core' | 'admin' | 'app'>;

const LOCATION = 'westeurope';

function target(sandbox: Sandbox): ArmTarget {
  return {
    armUrl: sandbox.url,
    ca: sandbox.caPem,
    credential: new SandboxCredential(sandbox, sandbox.admin.objectId),
    subscriptionId: sandbox.core.options.subscriptions[0]!.subscriptionId,
  };
}

function demoIds(sandbox: Sandbox) {
  const [a, b] = sandbox.core.options.subscriptions.map((s) => `/subscriptions/${s.subscriptionId}`);
  const subB = b ?? a!;
  const rgKeys = `${a!}/resourceGroups/rg-demo-keys`;
  const vault = (rg: string, n: string) => `${rg}/providers/Microsoft.KeyVault/vaults/${n}`;
  const premium = sandbox.core.store
    .list<{ id: string; sku: { name: string }; encryption?: unknown }>('serviceBusNamespaces')
    .filter((n) => n.sku.name === 'Premium');
  const namespaces = premium.map((n) => n.id);
  return {
    subscriptions: b ? [a!, b] : [a!],
    rgKeys,
    namespaces,
    accessPolicyVaults: [
      vault(rgKeys, 'kv-demo-ap'),
      vault(rgKeys, 'kv-demo-nopp'),
      vault(rgKeys, 'kv-demo-vnet'),
      vault(`${subB}/resourceGroups/rg-demo-b`, 'kv-demo-b'),
    ],
    rbacVaults: [vault(rgKeys, 'kv-demo-rbac')],
    identities: [`${rgKeys}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-demo-sb-cmk`],
    workspaceId: `${rgKeys}/providers/Microsoft.OperationalInsights/workspaces/law-demo`,
    operatorsActionGroupId: `${rgKeys}/providers/Microsoft.Insights/actionGroups/${DEMO_SINK}`,
    // Every CMK namespace of the demo (infra's guardedNamespaceIds): the rules live in its own group.
    cmkNamespaces: premium.filter((n) => n.encryption).map((n) => n.id),
  };
}

/** roles.json at the demo estate's scopes (as infra would grant them). */
export async function grantDemoAppRoles(
  sandbox: Sandbox,
  data: InfraData = loadInfraData(),
): Promise<GrantedRole[]> {
  const ids = demoIds(sandbox);
  const scopes: Partial<Record<ScopeKind, string[]>> = {
    subscription: ids.subscriptions,
    namespace: ids.namespaces,
    accessPolicyVault: ids.accessPolicyVaults,
    rbacVault: ids.rbacVaults,
    userAssignedIdentity: ids.identities,
  };
  return grantAppRoles(target(sandbox), data, sandbox.app.objectId, scopes);
}

/** Each demo vault's Event Grid subscription (→ the app's function) and AuditEvent diagnostic setting. */
export async function wireDemoVaults(sandbox: Sandbox, data: InfraData = loadInfraData()): Promise<string[]> {
  const ids = demoIds(sandbox);
  const storage = sandbox.core.storage;
  const appRg = sandbox.app.resourceId.replace(/\/providers\/.*$/i, '');
  if (storage) {
    // Event Grid dead-letters only into an existing container (as in Azure).
    await storage.client().getContainerClient(data.eventSubscription.deadLetterContainer).createIfNotExists();
  }
  const lines = await wireKeyVaults(target(sandbox), data, {
    vaultIds: [...ids.accessPolicyVaults.slice(0, 3), ...ids.rbacVaults, ...ids.accessPolicyVaults.slice(3)],
    functionAppId: sandbox.app.resourceId,
    workspaceId: ids.workspaceId,
    ...(storage
      ? { deadLetterStorageAccountId: `${appRg}/providers/Microsoft.Storage/storageAccounts/stcmkguardian` }
      : {}),
    location: LOCATION,
  });
  return ['Infra wiring (infra/roles.json, infra/wiring/*.json):', ...lines.map((l) => `  ${l}`)];
}

/**
 * The audit log alert → the running app's webhook (and the operators' group), and with
 * ALERT_RULES=external the metric alert rules on the CMK namespaces. Returns the banner lines.
 */
export async function wireDemoAlerts(
  sandbox: Sandbox,
  app: { baseUrl: string; functionKey: string; alertRules?: string },
  data: InfraData = loadInfraData(),
): Promise<string[]> {
  const ids = demoIds(sandbox);
  const t = target(sandbox);
  const audit = await wireAuditAlert(t, data, {
    resourceGroupId: ids.rgKeys,
    workspaceId: ids.workspaceId,
    appBaseUrl: app.baseUrl,
    functionKey: app.functionKey,
    operatorActionGroupIds: [ids.operatorsActionGroupId],
    location: LOCATION,
  });
  const lines = [
    `  log alert ${audit.ruleId.split('/').pop()} → action group ${audit.actionGroupId.split('/').pop()} (POST /api/${data.auditAlert.webhookRoute}) and ${DEMO_SINK}`,
  ];
  // The app's default is external (src/config.ts): infra deploys the rules unless ALERT_RULES=managed.
  if ((app.alertRules ?? 'external').toLowerCase() === 'external') {
    const byGroup = new Map<string, string[]>();
    for (const id of ids.cmkNamespaces) {
      const group = id.replace(/\/providers\/.*$/i, '');
      byGroup.set(group, [...(byGroup.get(group) ?? []), id]);
    }
    const rules: string[] = [];
    for (const [resourceGroupId, namespaceIds] of byGroup)
      rules.push(
        ...(await wireMetricAlertRules(t, data, {
          resourceGroupId,
          namespaceIds,
          actionGroupId: ids.operatorsActionGroupId,
        })),
      );
    lines.push(`  ALERT_RULES=external: metric alerts ${rules.map((r) => r.split('/').pop()).join(', ')}`);
  }
  return lines;
}
