/**
 * Applies the infra data (`infra/roles.json`, `infra/wiring/*.json`) to an Azure — the offline sandbox
 * for `npm start` and the e2e suite — through the real ARM SDK clients, as the deployment of
 * `infra/main.bicep` would: role assignments with `@azure/arm-authorization` (condition included), every
 * other resource with `@azure/arm-resources`' generic PUT at the api-version the Bicep declares (the JSON
 * carries it), so the bodies the sandbox validates are the bodies Azure gets. Idempotent: names are
 * derived from the inputs like Bicep's `guid()`, so a second run rewrites the same resources.
 */
import { createHash } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ResourceManagementClient } from '@azure/arm-resources';
import type { InfraData, RoleEntry, ScopeKind } from './data';
import { scopedRoles } from './data';

export interface ArmTarget {
  /** Resource Manager URL (the sandbox's https://localhost:<port>). */
  armUrl: string;
  /** PEM of a CA to trust (the sandbox CA) when the process does not already trust it. */
  ca?: string;
  /** The deployer's identity (the sandbox administrator). */
  credential: TokenCredential;
  /** Any subscription (the clients need one; every call below names its full scope). */
  subscriptionId: string;
}

const options = (t: ArmTarget) => ({
  endpoint: t.armUrl,
  credentialScopes: [`${t.armUrl}/.default`],
  credentials: { scopes: [`${t.armUrl}/.default`] },
  ...(t.ca ? { tlsOptions: { ca: t.ca } } : {}),
  retryOptions: { maxRetries: 2 },
});

/** A name-based GUID (as Bicep's guid(...) gives a stable name for the same inputs). */
export function stableGuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('|').toLowerCase()).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const subscriptionOf = (scope: string): string | undefined => /^\/subscriptions\/([^/]+)/i.exec(scope)?.[1];

/** The assignment id roles.json's `role` gets at `scope` for `principalId`. */
export function roleAssignmentId(scope: string, principalId: string, role: RoleEntry): string {
  return `${scope}/providers/Microsoft.Authorization/roleAssignments/${stableGuid(scope, principalId, role.roleDefinitionId)}`;
}

export interface GrantedRole {
  kind: ScopeKind;
  roleName: string;
  scope: string;
  id: string;
}

/**
 * Grants the app principal every role of roles.json at the scopes given per kind (kinds without scopes
 * are skipped), with each role's ABAC condition. `skip` leaves a (kind, role) out.
 */
export async function grantAppRoles(
  target: ArmTarget,
  data: Pick<InfraData, 'roles'>,
  principalId: string,
  scopes: Partial<Record<ScopeKind, string[]>>,
  skip?: (kind: ScopeKind, role: RoleEntry) => boolean,
): Promise<GrantedRole[]> {
  const client = new AuthorizationManagementClient(target.credential, target.subscriptionId, options(target));
  const granted: GrantedRole[] = [];
  for (const { kind, role } of scopedRoles(data.roles)) {
    if (skip?.(kind, role)) continue;
    for (const scope of scopes[kind] ?? []) {
      const condition = role.condition ? data.roles.conditions[role.condition] : undefined;
      if (role.condition && !condition)
        throw new Error(`roles.json: role ${role.roleName} names an unknown condition ${role.condition}`);
      const sub = subscriptionOf(scope);
      const name = roleAssignmentId(scope, principalId, role).split('/').pop()!;
      const created = await client.roleAssignments.create(scope, name, {
        roleDefinitionId: `${sub ? `/subscriptions/${sub}` : ''}/providers/Microsoft.Authorization/roleDefinitions/${role.roleDefinitionId}`,
        principalId,
        principalType: 'ServicePrincipal',
        description: `CMK Guardian: ${role.why}`,
        ...(condition ? { condition: condition.expression, conditionVersion: condition.version } : {}),
      });
      granted.push({ kind, roleName: role.roleName, scope, id: created.id! });
    }
  }
  return granted;
}

async function put(
  client: ResourceManagementClient,
  id: string,
  apiVersion: string,
  body: Record<string, unknown>,
): Promise<void> {
  await client.resources.createOrUpdateById(id, apiVersion, body);
}

const resourceGroupOf = (id: string): string => id.replace(/\/providers\/.*$/i, '');
const lastSegment = (id: string): string => id.split('/').pop()!;

export interface KeyVaultWiring {
  /** Vault ids, in any resource group or subscription. */
  vaultIds: string[];
  /** The Function App receiving the events (`…/providers/Microsoft.Web/sites/<app>`). */
  functionAppId: string;
  /** The Log Analytics workspace receiving the vaults' AuditEvent log. */
  workspaceId: string;
  /** The storage account Event Grid dead-letters into (its container must exist). */
  deadLetterStorageAccountId?: string;
  location: string;
}

/**
 * Per vault, what `infra/modules/keyVaultWiring.bicep` deploys: the Event Grid system topic and the
 * event subscription to the app's function, and the diagnostic setting (AuditEvent → workspace).
 * Returns one line per vault for the banner.
 */
export async function wireKeyVaults(
  target: ArmTarget,
  data: InfraData,
  w: KeyVaultWiring,
): Promise<string[]> {
  const client = new ResourceManagementClient(target.credential, target.subscriptionId, options(target));
  const es = data.eventSubscription;
  const ds = data.diagnosticSetting;
  const lines: string[] = [];
  for (const vaultId of w.vaultIds) {
    const topicId = `${resourceGroupOf(vaultId)}/providers/${es.systemTopic.type}/${es.systemTopic.namePrefix}${lastSegment(vaultId)}`;
    await put(client, topicId, es.apiVersion, {
      location: w.location,
      properties: { source: vaultId, topicType: es.systemTopic.topicType },
    });
    await put(client, `${topicId}/eventSubscriptions/${es.name}`, es.apiVersion, {
      properties: {
        ...es.properties,
        destination: {
          endpointType: 'AzureFunction',
          properties: {
            resourceId: `${w.functionAppId}/functions/${es.function}`,
            ...es.destinationProperties,
          },
        },
        ...(w.deadLetterStorageAccountId
          ? {
              deadLetterDestination: {
                endpointType: 'StorageBlob',
                properties: {
                  resourceId: w.deadLetterStorageAccountId,
                  blobContainerName: es.deadLetterContainer,
                },
              },
            }
          : {}),
      },
    });
    await put(client, `${vaultId}/providers/${ds.type}/${ds.name}`, ds.apiVersion, {
      properties: { ...ds.properties, workspaceId: w.workspaceId },
    });
    lines.push(
      `${lastSegment(topicId)}/${es.name} → function ${es.function}; AuditEvent → ${lastSegment(w.workspaceId)}`,
    );
  }
  return lines;
}

export interface AuditAlertWiring {
  /** Resource group of the rule and the app's action group. */
  resourceGroupId: string;
  workspaceId: string;
  /** The app's base URL (https://<app>.azurewebsites.net, or the local host's) and a function key. */
  appBaseUrl: string;
  functionKey: string;
  /** The operators' action groups, notified as well. */
  operatorActionGroupIds: string[];
  location: string;
}

/** The action group whose webhook is the app's audit endpoint, and the log alert that fires it. */
export async function wireAuditAlert(
  target: ArmTarget,
  data: InfraData,
  w: AuditAlertWiring,
): Promise<{ ruleId: string; actionGroupId: string; webhookUrl: string }> {
  const client = new ResourceManagementClient(target.credential, target.subscriptionId, options(target));
  const a = data.auditAlert;
  const actionGroupId = `${w.resourceGroupId}/providers/${a.actionGroup.type}/${a.actionGroup.name}`;
  const webhookUrl = `${w.appBaseUrl.replace(/\/+$/, '')}/api/${a.webhookRoute}?code=${encodeURIComponent(w.functionKey)}`;
  await put(client, actionGroupId, a.actionGroup.apiVersion, {
    location: 'Global',
    properties: {
      groupShortName: a.actionGroup.shortName,
      enabled: true,
      webhookReceivers: [
        { name: a.actionGroup.receiverName, serviceUri: webhookUrl, useCommonAlertSchema: true },
      ],
    },
  });
  const ruleId = `${w.resourceGroupId}/providers/${a.type}/${a.name}`;
  await put(client, ruleId, a.apiVersion, {
    location: w.location,
    kind: a.kind,
    properties: {
      ...a.properties,
      scopes: [w.workspaceId],
      actions: { actionGroups: [actionGroupId, ...w.operatorActionGroupIds] },
    },
  });
  return { ruleId, actionGroupId, webhookUrl };
}

/** ALERT_RULES=external: the metric alert rules per guarded namespace. Returns the rule ids. */
export async function wireMetricAlertRules(
  target: ArmTarget,
  data: InfraData,
  w: { resourceGroupId: string; namespaceIds: string[]; actionGroupId: string },
): Promise<string[]> {
  const client = new ResourceManagementClient(target.credential, target.subscriptionId, options(target));
  const m = data.metricAlertRules;
  const ids: string[] = [];
  for (const namespaceId of w.namespaceIds) {
    for (const rule of m.rules) {
      const id = `${w.resourceGroupId}/providers/${m.type}/${rule.namePrefix}${lastSegment(namespaceId)}`;
      await put(client, id, m.apiVersion, {
        location: 'global',
        properties: {
          ...rule.properties,
          scopes: [namespaceId],
          actions: [{ actionGroupId: w.actionGroupId }],
        },
      });
      ids.push(id);
    }
  }
  return ids;
}
