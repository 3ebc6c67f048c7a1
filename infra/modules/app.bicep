// The Function App (Flex Consumption, Node.js 20, programming model v4) with a system-assigned
// identity; its storage account used only through that identity (no keys: shared key access is off);
// Log Analytics + Application Insights (Entra ID authenticated telemetry).
param location string
param token string
param environmentName string
param sweepSubscriptions string
param alertRules string
param alertActionGroupId string
param alertRulesResourceGroup string
param keyExpiryWarningDays int
param keyPollMinutes int
param uptakeDeadlineMinutes int
param pinnedVersionPolicy string
param reportsContainer string
param monitoringEndpoint string
param deletedKeyCacheMinutes int
param requireInfrastructureEncryption string
param keyIndexRefreshSchedule string
param sweepSchedule string
param sweepConcurrency int
@secure()
param auditWebhookKey string
param wireAppEndpoints bool
@description('Flex Consumption scale-out limit and instance size.')
param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048

var roles = loadJsonContent('../roles.json')
var eventSubscription = loadJsonContent('../wiring/keyVaultEventSubscription.json')
var deploymentContainer = 'app-package'
// Containers the app and Event Grid use: the key index and verdicts, the reports, dead-letters.
var containers = [deploymentContainer, 'cmk-guardian', reportsContainer, eventSubscription.deadLetterContainer]
var cloud = environment().name == 'AzureCloud' ? 'AzurePublicCloud' : environment().name

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${token}'
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
  resource blobs 'blobServices' = {
    name: 'default'
    resource container 'containers' = [for c in containers: { name: c }]
  }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 30 }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${token}'
  location: location
  kind: 'web'
  properties: { Application_Type: 'web', WorkspaceResourceId: workspace.id, DisableLocalAuth: true }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${token}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-${token}'
  location: location
  kind: 'functionapp,linux'
  tags: { 'azd-service-name': 'app', 'azd-env-name': environmentName }
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: instanceMemoryMB }
      runtime: { name: 'node', version: '20' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        // Functions runtime and Durable Functions (Azure Storage backend), identity-based: no keys.
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        // src/config.ts: the cloud this deployment is in, from the deployment's own environment().
        { name: 'AZURE_CLOUD', value: cloud }
        { name: 'ARM_ENDPOINT', value: environment().resourceManager }
        { name: 'ARM_AUDIENCE', value: environment().resourceManager }
        { name: 'AZURE_AUTHORITY_HOST', value: environment().authentication.loginEndpoint }
        { name: 'KEYVAULT_DNS_SUFFIX', value: substring(environment().suffixes.keyvaultDns, 1) }
        { name: 'SWEEP_SUBSCRIPTIONS', value: sweepSubscriptions }
        { name: 'KEY_EXPIRY_WARNING_DAYS', value: string(keyExpiryWarningDays) }
        { name: 'KEY_POLL_MINUTES', value: string(keyPollMinutes) }
        { name: 'UPTAKE_DEADLINE_MINUTES', value: string(uptakeDeadlineMinutes) }
        { name: 'PINNED_VERSION_POLICY', value: pinnedVersionPolicy }
        { name: 'REPORTS_CONTAINER', value: reportsContainer }
        { name: 'MONITORING_ENDPOINT', value: monitoringEndpoint }
        { name: 'DELETED_KEY_CACHE_MINUTES', value: string(deletedKeyCacheMinutes) }
        { name: 'REQUIRE_INFRASTRUCTURE_ENCRYPTION', value: requireInfrastructureEncryption }
        { name: 'KEY_INDEX_REFRESH_SCHEDULE', value: keyIndexRefreshSchedule }
        { name: 'SWEEP_SCHEDULE', value: sweepSchedule }
        { name: 'SWEEP_CONCURRENCY', value: string(sweepConcurrency) }
        { name: 'ALERT_RULES', value: alertRules }
        { name: 'ALERT_ACTION_GROUP_ID', value: alertActionGroupId }
        { name: 'ALERT_RULES_RESOURCE_GROUP', value: alertRulesResourceGroup }
      ]
    }
  }
}

// The key the audit action group's webhook presents (POST /api/alerts/keyvault-audit?code=…).
resource auditKey 'Microsoft.Web/sites/host/functionKeys@2024-04-01' = if (wireAppEndpoints) {
  name: '${site.name}/default/keyvault-audit-alert'
  properties: { name: 'keyvault-audit-alert', value: auditWebhookKey }
}

// The app's own resources: storage (runtime, Durable, containers) and telemetry, from roles.json.
resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for r in roles.appStorage.roles: {
    scope: storage
    name: guid(storage.id, site.id, r.roleDefinitionId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r.roleDefinitionId)
      principalId: site.identity.principalId
      principalType: 'ServicePrincipal'
      description: 'CMK Guardian: ${r.why}'
    }
  }
]

resource insightsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for r in roles.appInsights.roles: {
    scope: insights
    name: guid(insights.id, site.id, r.roleDefinitionId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r.roleDefinitionId)
      principalId: site.identity.principalId
      principalType: 'ServicePrincipal'
      description: 'CMK Guardian: ${r.why}'
    }
  }
]

output functionAppId string = site.id
output functionAppName string = site.name
output principalId string = site.identity.principalId
output baseUrl string = 'https://${site.properties.defaultHostName}'
output workspaceId string = workspace.id
output storageAccountId string = storage.id
