// roles.json "subscription" roles for the app identity on one subscription.
targetScope = 'subscription'

param principalId string
param roles array

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for r in roles: {
    name: guid(subscription().id, principalId, r.roleDefinitionId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r.roleDefinitionId)
      principalId: principalId
      principalType: 'ServicePrincipal'
      description: 'CMK Guardian: ${r.why}'
    }
  }
]
