// ALERT_RULES=external: the metric alert rules on the app's CmkGuardian metrics, a pair per namespace
// (wiring/metricAlertRules.json; Service Bus namespaces take no multi-resource metric alerts).
param namespaceIds string[]
param actionGroupId string

var spec = loadJsonContent('../wiring/metricAlertRules.json')
var pairs = flatten(map(namespaceIds, id => map(spec.rules, r => { namespaceId: id, rule: r })))

resource rules 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for p in pairs: {
    name: '${p.rule.namePrefix}${last(split(p.namespaceId, '/'))}'
    location: 'global'
    properties: union(p.rule.properties, {
      scopes: [p.namespaceId]
      actions: [{ actionGroupId: actionGroupId }]
    })
  }
]
