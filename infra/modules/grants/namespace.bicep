// roles.json "namespace" roles for the app identity on one Service Bus namespace.
param principalId string
param namespaceName string
param roles array

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for r in roles: {
    scope: namespace
    name: guid(namespace.id, principalId, r.roleDefinitionId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r.roleDefinitionId)
      principalId: principalId
      principalType: 'ServicePrincipal'
      description: 'CMK Guardian: ${r.why}'
    }
  }
]
