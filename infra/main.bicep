// Service Bus CMK Guardian: the Function App, its identity and least-privilege roles, Key Vault event
// and audit wiring, and alert plumbing. Written without a Bicep compiler at hand (the project is built
// and tested offline): keep it small, run `az bicep build --file infra/main.bicep` before a first deploy.
// The roles and the wiring are data shared with the offline sandbox (roles.json, wiring/*.json); the
// e2e suite proves them there (README "Deploy to Azure").
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name: names the resource group and the resources.')
param environmentName string

@description('Region of the app, its storage and monitoring (a region that offers Flex Consumption).')
param location string

@description('Resource group of the app; created if missing.')
param resourceGroupName string = 'rg-${environmentName}'

@description('Subscriptions the app covers (SWEEP_SUBSCRIPTIONS); the app gets its subscription roles on each. Empty: this subscription only.')
param sweepSubscriptionIds array = []

@description('Key vaults holding CMK keys, in any resource group or subscription: [{ id, permissionModel: "rbac" | "accessPolicy", systemTopicName? }].')
param keyVaults keyVaultRef[] = []

@description('Service Bus namespaces the app may encrypt (both namespaces of a Geo-DR pairing).')
param namespaceIds string[] = []

@description('User-assigned identities the app may attach to namespaces for encryption.')
param userAssignedIdentityIds string[] = []

@description('Operators\' action group id. Empty: one is created with the receivers below.')
param actionGroupId string = ''

@description('Email receivers of the created action group: [{ name, emailAddress }].')
param alertEmailReceivers array = []

@description('Webhook receivers of the created action group: [{ name, serviceUri }].')
param alertWebhookReceivers array = []

@allowed(['managed', 'external'])
@description('ALERT_RULES: "managed" (the app keeps its metric alert rules) or "external" (this template deploys them for guardedNamespaceIds).')
param alertRules string = 'external'

@description('ALERT_RULES=managed: resource group of the app\'s rules in each subscription (empty: each namespace\'s own).')
param alertRulesResourceGroup string = ''

@description('ALERT_RULES=external: the namespaces whose CmkGuardian metrics get alert rules (default: namespaceIds).')
param guardedNamespaceIds string[] = []

@description('Wire what needs the deployed code: Event Grid subscriptions to the function and the audit webhook. azd sets it after the first deploy (azure.yaml postdeploy hook).')
param wireAppEndpoints bool = false

// App settings of src/config.ts (README "Settings" says what each one means).
param keyExpiryWarningDays int = 30
param keyPollMinutes int = 5
param uptakeDeadlineMinutes int = 60
@allowed(['report', 'follow'])
param pinnedVersionPolicy string = 'report'
param reportsContainer string = 'cmk-reports'
param deletedKeyCacheMinutes int = 60
@description('CMK-013: where namespaces must have infrastructure encryption — \'*\', or comma-separated subscription / resource group / namespace ids; empty = nowhere.')
param requireInfrastructureEncryption string = ''
@description('NCRONTAB (6 fields) of the key index refresh and of the compliance sweep.')
param keyIndexRefreshSchedule string = '0 0 * * * *'
param sweepSchedule string = '0 0 */6 * * *'
param sweepConcurrency int = 8
@description('Custom-metrics ingestion endpoint, {region} = the namespace\'s region (another cloud: its monitoring host).')
param monitoringEndpoint string = 'https://{region}.monitoring.azure.com'

@secure()
@description('Function key the audit action group calls the webhook with (rotated on every deployment).')
param auditWebhookKey string = newGuid()

type keyVaultRef = {
  @description('Key vault resource id.')
  id: string
  permissionModel: 'rbac' | 'accessPolicy'
  @description('Name of the vault\'s existing Event Grid system topic (one per vault is allowed); default evgt-<vault>.')
  systemTopicName: string?
}

var roles = loadJsonContent('roles.json')
var token = toLower(uniqueString(subscription().id, environmentName, location))
var sweep = empty(sweepSubscriptionIds) ? [subscription().subscriptionId] : sweepSubscriptionIds

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: { 'azd-env-name': environmentName }
}

module app 'modules/app.bicep' = {
  scope: rg
  name: 'app'
  params: {
    location: location
    token: token
    environmentName: environmentName
    sweepSubscriptions: empty(sweepSubscriptionIds) ? subscription().subscriptionId : join(sweepSubscriptionIds, ',')
    alertRules: alertRules
    alertActionGroupId: alerts.outputs.operatorsActionGroupId
    alertRulesResourceGroup: alertRulesResourceGroup
    keyExpiryWarningDays: keyExpiryWarningDays
    keyPollMinutes: keyPollMinutes
    uptakeDeadlineMinutes: uptakeDeadlineMinutes
    pinnedVersionPolicy: pinnedVersionPolicy
    reportsContainer: reportsContainer
    monitoringEndpoint: monitoringEndpoint
    deletedKeyCacheMinutes: deletedKeyCacheMinutes
    requireInfrastructureEncryption: requireInfrastructureEncryption
    keyIndexRefreshSchedule: keyIndexRefreshSchedule
    sweepSchedule: sweepSchedule
    sweepConcurrency: sweepConcurrency
    auditWebhookKey: auditWebhookKey
    wireAppEndpoints: wireAppEndpoints
  }
}

module alerts 'modules/alerts.bicep' = {
  scope: rg
  name: 'alerts'
  params: {
    token: token
    actionGroupId: actionGroupId
    alertEmailReceivers: alertEmailReceivers
    alertWebhookReceivers: alertWebhookReceivers
  }
}

module auditAlert 'modules/auditAlert.bicep' = if (wireAppEndpoints) {
  scope: rg
  name: 'auditAlert'
  params: {
    location: location
    workspaceId: app.outputs.workspaceId
    appBaseUrl: app.outputs.baseUrl
    auditWebhookKey: auditWebhookKey
    operatorsActionGroupId: alerts.outputs.operatorsActionGroupId
  }
}

module metricAlerts 'modules/metricAlerts.bicep' = if (alertRules == 'external') {
  scope: rg
  name: 'metricAlerts'
  params: {
    namespaceIds: empty(guardedNamespaceIds) ? namespaceIds : guardedNamespaceIds
    actionGroupId: alerts.outputs.operatorsActionGroupId
  }
}

// ── the app identity's roles at each scope kind (roles.json) ──
module subscriptionRoles 'modules/grants/subscription.bicep' = [
  for sub in sweep: {
    scope: subscription(sub)
    name: 'roles-sub-${uniqueString(sub)}'
    params: { principalId: app.outputs.principalId, roles: roles.scopes.subscription.roles }
  }
]

module namespaceRoles 'modules/grants/namespace.bicep' = [
  for id in namespaceIds: {
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
    name: 'roles-ns-${uniqueString(id)}'
    params: { principalId: app.outputs.principalId, namespaceName: last(split(id, '/')), roles: roles.scopes.namespace.roles }
  }
]

module identityRoles 'modules/grants/userAssignedIdentity.bicep' = [
  for id in userAssignedIdentityIds: {
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
    name: 'roles-uai-${uniqueString(id)}'
    params: { principalId: app.outputs.principalId, identityName: last(split(id, '/')), roles: roles.scopes.userAssignedIdentity.roles }
  }
]

// ALERT_RULES=managed: the rules' resource groups (ALERT_RULES_RESOURCE_GROUP per subscription, or
// each namespace's own group).
var ruleGroups = empty(alertRulesResourceGroup)
  ? union(map(namespaceIds, id => '${split(id, '/')[2]}/${split(id, '/')[4]}'), [])
  : map(sweep, sub => '${sub}/${alertRulesResourceGroup}')

module alertGroupRoles 'modules/grants/resourceGroup.bicep' = [
  for g in (alertRules == 'managed' ? ruleGroups : []): {
    scope: resourceGroup(split(g, '/')[0], split(g, '/')[1])
    name: 'roles-alerts-${uniqueString(g)}'
    params: { principalId: app.outputs.principalId, roles: roles.scopes.alertResourceGroup.roles }
  }
]

// ── each key vault: its role, the AuditEvent diagnostic setting, the Event Grid subscription ──
module vaults 'modules/keyVaultWiring.bicep' = [
  for v in keyVaults: {
    scope: resourceGroup(split(v.id, '/')[2], split(v.id, '/')[4])
    name: 'vault-${uniqueString(v.id)}'
    params: {
      vaultName: last(split(v.id, '/'))
      permissionModel: v.permissionModel
      systemTopicName: v.?systemTopicName ?? 'evgt-${last(split(v.id, '/'))}'
      principalId: app.outputs.principalId
      functionAppId: app.outputs.functionAppId
      workspaceId: app.outputs.workspaceId
      deadLetterStorageAccountId: app.outputs.storageAccountId
      wireEventGrid: wireAppEndpoints
    }
  }
]

output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output APP_PRINCIPAL_ID string = app.outputs.principalId
output APP_BASE_URL string = app.outputs.baseUrl
