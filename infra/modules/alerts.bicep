// The operators' action group: an existing one (actionGroupId), or one created here with email and
// webhook receivers (common alert schema). Metric alert rules (app-managed or metricAlerts.bicep) and
// the audit alert notify it.
param token string
param actionGroupId string
param alertEmailReceivers array
param alertWebhookReceivers array

resource created 'Microsoft.Insights/actionGroups@2023-01-01' = if (empty(actionGroupId)) {
  name: 'ag-cmk-guardian-${token}'
  location: 'Global'
  properties: {
    groupShortName: 'cmkguardian'
    enabled: true
    emailReceivers: [for r in alertEmailReceivers: { name: r.name, emailAddress: r.emailAddress, useCommonAlertSchema: true }]
    webhookReceivers: [for r in alertWebhookReceivers: { name: r.name, serviceUri: r.serviceUri, useCommonAlertSchema: true }]
  }
}


output operatorsActionGroupId string = empty(actionGroupId) ? created.id : actionGroupId
