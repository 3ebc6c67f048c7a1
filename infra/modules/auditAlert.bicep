// The log alert over the vaults' AuditEvent log (wiring/keyVaultAuditAlert.json): key deleted,
// disabled or changed, or Service Bus failing to use its key. It fires the app's action group, whose
// webhook is POST /api/alerts/keyvault-audit (common alert schema), and the operators' group.
param location string
param workspaceId string
param appBaseUrl string
@secure()
param auditWebhookKey string
param operatorsActionGroupId string

var alert = loadJsonContent('../wiring/keyVaultAuditAlert.json')

resource appGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: alert.actionGroup.name
  location: 'Global'
  properties: {
    groupShortName: alert.actionGroup.shortName
    enabled: true
    webhookReceivers: [
      {
        name: alert.actionGroup.receiverName
        serviceUri: '${appBaseUrl}/api/${alert.webhookRoute}?code=${auditWebhookKey}'
        useCommonAlertSchema: true
      }
    ]
  }
}

resource rule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: alert.name
  location: location
  kind: alert.kind
  properties: union(alert.properties, {
    scopes: [workspaceId]
    actions: { actionGroups: [appGroup.id, operatorsActionGroupId] }
  })
}
