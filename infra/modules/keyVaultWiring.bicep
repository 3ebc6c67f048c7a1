// One key vault, in its own resource group (any subscription): the app identity's vault role
// (roles.json: accessPolicyVault or rbacVault, the latter with its ABAC condition), the AuditEvent
// diagnostic setting, and the Event Grid system topic + subscription to the app's function
// (wiring/*.json, the same data the sandbox applies).
param vaultName string
@allowed(['rbac', 'accessPolicy'])
param permissionModel string
param systemTopicName string
param principalId string
param functionAppId string
param workspaceId string
param deadLetterStorageAccountId string
param wireEventGrid bool

var roles = loadJsonContent('../roles.json')
var eventSubscription = loadJsonContent('../wiring/keyVaultEventSubscription.json')
var diagnosticSetting = loadJsonContent('../wiring/keyVaultDiagnosticSetting.json')
var vaultRoles = permissionModel == 'rbac' ? roles.scopes.rbacVault.roles : roles.scopes.accessPolicyVault.roles

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' existing = {
  name: vaultName
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for r in vaultRoles: {
    scope: vault
    name: guid(vault.id, principalId, r.roleDefinitionId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r.roleDefinitionId)
      principalId: principalId
      principalType: 'ServicePrincipal'
      description: 'CMK Guardian: ${r.why}'
      condition: contains(r, 'condition') ? roles.conditions[r.condition].expression : null
      conditionVersion: contains(r, 'condition') ? roles.conditions[r.condition].version : null
    }
  }
]

resource audit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: vault
  name: diagnosticSetting.name
  properties: union(diagnosticSetting.properties, { workspaceId: workspaceId })
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (wireEventGrid) {
  name: systemTopicName
  location: vault.location
  properties: { source: vault.id, topicType: eventSubscription.systemTopic.topicType }
}

resource eventSub 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (wireEventGrid) {
  parent: topic
  name: eventSubscription.name
  properties: union(eventSubscription.properties, {
    destination: {
      endpointType: 'AzureFunction'
      properties: union(eventSubscription.destinationProperties, {
        resourceId: '${functionAppId}/functions/${eventSubscription.function}'
      })
    }
    deadLetterDestination: {
      endpointType: 'StorageBlob'
      properties: { resourceId: deadLetterStorageAccountId, blobContainerName: eventSubscription.deadLetterContainer }
    }
  })
}
