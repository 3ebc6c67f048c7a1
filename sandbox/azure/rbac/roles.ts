/**
 * Built-in role definitions the product needs, copied from Azure's published definitions
 * (MicrosoftDocs/azure-docs `articles/role-based-access-control/built-in-roles/*.md`, 2026 revisions):
 * real GUIDs, actions, notActions, dataActions, notDataActions. Least-privilege claims in infra/ are
 * proven against exactly these lists, so keep them verbatim (casing included).
 */
export interface Permission {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

export interface RoleDefinition {
  /** The GUID (role definition name). */
  name: string;
  roleName: string;
  description: string;
  roleType: 'BuiltInRole' | 'CustomRole';
  permissions: Permission[];
  assignableScopes: string[];
}

const perm = (p: Partial<Permission>): Permission => ({
  actions: p.actions ?? [],
  notActions: p.notActions ?? [],
  dataActions: p.dataActions ?? [],
  notDataActions: p.notDataActions ?? [],
});

const builtIn = (
  name: string,
  roleName: string,
  description: string,
  p: Partial<Permission>,
): RoleDefinition => ({
  name,
  roleName,
  description,
  roleType: 'BuiltInRole',
  permissions: [perm(p)],
  assignableScopes: ['/'],
});

/** The read-style actions every Key Vault data role carries. */
const keyVaultDataRoleActions = [
  'Microsoft.Authorization/*/read',
  'Microsoft.Insights/alertRules/*',
  'Microsoft.Resources/deployments/*',
  'Microsoft.Resources/subscriptions/resourceGroups/read',
  'Microsoft.Support/*',
  'Microsoft.KeyVault/checkNameAvailability/read',
  'Microsoft.KeyVault/deletedVaults/read',
  'Microsoft.KeyVault/locations/*/read',
  'Microsoft.KeyVault/vaults/*/read',
  'Microsoft.KeyVault/operations/read',
];

export const BUILT_IN_ROLES: readonly RoleDefinition[] = [
  builtIn(
    '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
    'Owner',
    'Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.',
    { actions: ['*'] },
  ),
  builtIn(
    'b24988ac-6180-42a0-ab88-20f7382dd24c',
    'Contributor',
    'Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.',
    {
      actions: ['*'],
      notActions: [
        'Microsoft.Authorization/*/Delete',
        'Microsoft.Authorization/*/Write',
        'Microsoft.Authorization/elevateAccess/Action',
        'Microsoft.Blueprint/blueprintAssignments/write',
        'Microsoft.Blueprint/blueprintAssignments/delete',
        'Microsoft.Compute/galleries/share/action',
        'Microsoft.Purview/consents/write',
        'Microsoft.Purview/consents/delete',
        'Microsoft.Resources/deploymentStacks/manageDenySetting/action',
        'Microsoft.Subscription/cancel/action',
        'Microsoft.Subscription/enable/action',
      ],
    },
  ),
  builtIn(
    'acdd72a7-3385-48ef-bd42-f606fba81ae7',
    'Reader',
    'View all resources, but does not allow you to make any changes.',
    { actions: ['*/read'] },
  ),
  builtIn(
    '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
    'User Access Administrator',
    'Lets you manage user access to Azure resources.',
    { actions: ['*/read', 'Microsoft.Authorization/*', 'Microsoft.Support/*'] },
  ),
  builtIn(
    'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
    'Role Based Access Control Administrator',
    'Manage access to Azure resources by assigning roles using Azure RBAC. This role does not allow you to manage access using other ways, such as Azure Policy.',
    {
      actions: [
        'Microsoft.Authorization/roleAssignments/write',
        'Microsoft.Authorization/roleAssignments/delete',
        '*/read',
        'Microsoft.Support/*',
      ],
    },
  ),
  builtIn(
    'f1a07417-d97a-45cb-824c-7a7467783830',
    'Managed Identity Operator',
    'Read and Assign User Assigned Identity',
    {
      actions: [
        'Microsoft.ManagedIdentity/userAssignedIdentities/*/read',
        // [U] Azure publishes `userAssignedIdentities/*/assign/action`, and names
        // `userAssignedIdentities/assign/action` in LinkedAuthorizationFailed; the sandbox's wildcard
        // matching (a `*` segment is never empty) would not connect the two, so it lists the action.
        'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
        'Microsoft.Authorization/*/read',
        'Microsoft.Insights/alertRules/*',
        'Microsoft.Resources/subscriptions/resourceGroups/read',
        'Microsoft.Resources/deployments/*',
        'Microsoft.Support/*',
      ],
    },
  ),
  builtIn(
    'f25e0fa2-a7c8-4377-a976-54943a77a395',
    'Key Vault Contributor',
    'Lets you manage key vaults, but not access to them.',
    {
      actions: [
        'Microsoft.Authorization/*/read',
        'Microsoft.Insights/alertRules/*',
        'Microsoft.KeyVault/*',
        'Microsoft.Resources/deployments/*',
        'Microsoft.Resources/subscriptions/resourceGroups/read',
        'Microsoft.Support/*',
      ],
      notActions: [
        'Microsoft.KeyVault/locations/deletedVaults/purge/action',
        'Microsoft.KeyVault/hsmPools/*',
        'Microsoft.KeyVault/managedHsms/*',
      ],
    },
  ),
  builtIn(
    '00482a5a-887f-4fb3-b363-3b7fe8e74483',
    'Key Vault Administrator',
    "Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    { actions: keyVaultDataRoleActions, dataActions: ['Microsoft.KeyVault/vaults/*'] },
  ),
  builtIn(
    '21090545-7ca7-4776-b22c-e363652d74d2',
    'Key Vault Reader',
    "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive values such as secret contents or key material. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    {
      actions: keyVaultDataRoleActions,
      dataActions: [
        'Microsoft.KeyVault/vaults/*/read',
        'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
      ],
    },
  ),
  builtIn(
    '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
    'Key Vault Crypto Officer',
    "Perform any action on the keys of a key vault, except manage permissions. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    {
      actions: keyVaultDataRoleActions,
      dataActions: ['Microsoft.KeyVault/vaults/keys/*', 'Microsoft.KeyVault/vaults/keyrotationpolicies/*'],
    },
  ),
  builtIn(
    '12338af0-0e69-4776-bea7-57ae8d297424',
    'Key Vault Crypto User',
    "Perform cryptographic operations using keys. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    {
      dataActions: [
        'Microsoft.KeyVault/vaults/keys/read',
        'Microsoft.KeyVault/vaults/keys/update/action',
        'Microsoft.KeyVault/vaults/keys/backup/action',
        'Microsoft.KeyVault/vaults/keys/encrypt/action',
        'Microsoft.KeyVault/vaults/keys/decrypt/action',
        'Microsoft.KeyVault/vaults/keys/wrap/action',
        'Microsoft.KeyVault/vaults/keys/unwrap/action',
        'Microsoft.KeyVault/vaults/keys/sign/action',
        'Microsoft.KeyVault/vaults/keys/verify/action',
      ],
    },
  ),
  builtIn(
    'e147488a-f6f5-4113-8e2d-b22465e65bf6',
    'Key Vault Crypto Service Encryption User',
    "Read metadata of keys and perform wrap/unwrap operations. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    {
      actions: [
        'Microsoft.EventGrid/eventSubscriptions/write',
        'Microsoft.EventGrid/eventSubscriptions/read',
        'Microsoft.EventGrid/eventSubscriptions/delete',
      ],
      dataActions: [
        'Microsoft.KeyVault/vaults/keys/read',
        'Microsoft.KeyVault/vaults/keys/wrap/action',
        'Microsoft.KeyVault/vaults/keys/unwrap/action',
      ],
    },
  ),
  builtIn(
    '749f88d5-cbae-40b8-bcfc-e573ddc772fa',
    'Monitoring Contributor',
    'Can read all monitoring data and update monitoring settings.',
    {
      actions: [
        '*/read',
        'Microsoft.AlertsManagement/alerts/*',
        'Microsoft.AlertsManagement/alertsSummary/*',
        'Microsoft.AlertsManagement/issues/*',
        'Microsoft.Insights/actiongroups/*',
        'Microsoft.Insights/activityLogAlerts/*',
        'Microsoft.Insights/AlertRules/*',
        'Microsoft.Insights/components/*',
        'Microsoft.Insights/createNotifications/*',
        'Microsoft.Insights/dataCollectionEndpoints/*',
        'Microsoft.Insights/dataCollectionRules/*',
        'Microsoft.Insights/dataCollectionRuleAssociations/*',
        'Microsoft.Insights/DiagnosticSettings/*',
        'Microsoft.Insights/eventtypes/*',
        'Microsoft.Insights/LogDefinitions/*',
        'Microsoft.Insights/metricalerts/*',
        'Microsoft.Insights/MetricDefinitions/*',
        'Microsoft.Insights/Metrics/*',
        'Microsoft.Insights/notificationStatus/*',
        'Microsoft.Insights/Register/Action',
        'Microsoft.Insights/scheduledqueryrules/*',
        'Microsoft.Insights/webtests/*',
        'Microsoft.Insights/workbooks/*',
        'Microsoft.Insights/workbooktemplates/*',
        'Microsoft.Insights/privateLinkScopes/*',
        'Microsoft.Insights/privateLinkScopeOperationStatuses/*',
        'Microsoft.Monitor/accounts/*',
        'Microsoft.Monitor/settings/*',
        'Microsoft.OperationalInsights/workspaces/write',
        'Microsoft.OperationalInsights/workspaces/intelligencepacks/*',
        'Microsoft.OperationalInsights/workspaces/savedSearches/*',
        'Microsoft.OperationalInsights/workspaces/search/action',
        'Microsoft.OperationalInsights/workspaces/sharedKeys/action',
        'Microsoft.OperationalInsights/workspaces/sharedKeys/read',
        'Microsoft.OperationalInsights/workspaces/storageinsightconfigs/*',
        'Microsoft.OperationalInsights/locations/workspaces/failover/action',
        'Microsoft.OperationalInsights/workspaces/failback/action',
        'Microsoft.Support/*',
        'Microsoft.AlertsManagement/smartDetectorAlertRules/*',
        'Microsoft.AlertsManagement/actionRules/*',
        'Microsoft.AlertsManagement/smartGroups/*',
        'Microsoft.AlertsManagement/migrateFromSmartDetection/*',
        'Microsoft.AlertsManagement/investigations/*',
        'Microsoft.AlertsManagement/prometheusRuleGroups/*',
        'Microsoft.Monitor/investigations/*',
        'Microsoft.Resources/deployments/*',
      ],
    },
  ),
  builtIn(
    '3913510d-42f4-4e42-8a64-420c390055eb',
    'Monitoring Metrics Publisher',
    'Enables publishing metrics against Azure resources',
    {
      actions: [
        'Microsoft.Insights/Register/Action',
        'Microsoft.Support/*',
        'Microsoft.Resources/subscriptions/resourceGroups/read',
      ],
      dataActions: ['Microsoft.Insights/Metrics/Write', 'Microsoft.Insights/Telemetry/Write'],
    },
  ),
  builtIn(
    '090c5cfd-751d-490a-894a-3ce6f1109419',
    'Azure Service Bus Data Owner',
    'Allows for full access to Azure Service Bus resources.',
    { actions: ['Microsoft.ServiceBus/*'], dataActions: ['Microsoft.ServiceBus/*'] },
  ),
];

/** Well-known ids, for seeding and tests. */
export const ROLE_IDS = {
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
  userAccessAdministrator: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  roleBasedAccessControlAdministrator: 'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
  managedIdentityOperator: 'f1a07417-d97a-45cb-824c-7a7467783830',
  keyVaultContributor: 'f25e0fa2-a7c8-4377-a976-54943a77a395',
  keyVaultAdministrator: '00482a5a-887f-4fb3-b363-3b7fe8e74483',
  keyVaultReader: '21090545-7ca7-4776-b22c-e363652d74d2',
  keyVaultCryptoOfficer: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424',
  keyVaultCryptoServiceEncryptionUser: 'e147488a-f6f5-4113-8e2d-b22465e65bf6',
  monitoringContributor: '749f88d5-cbae-40b8-bcfc-e573ddc772fa',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419',
} as const;
