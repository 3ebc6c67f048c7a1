// roles.json "userAssignedIdentity" roles for the app identity on one user-assigned identity.
param principalId string
param identityName string
param roles array

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for r in roles: {
    scope: identity
    name: guid(identity.id, principalId, r.roleDefinitionId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r.roleDefinitionId)
      principalId: principalId
      principalType: 'ServicePrincipal'
      description: 'CMK Guardian: ${r.why}'
    }
  }
]
