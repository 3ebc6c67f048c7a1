/**
 * The roles the app's identity needs, as the app names them in its refusals (a 403 becomes "grant this
 * role there, with this command"). `infra/roles.json` is the source the deployment grants; a unit test
 * (test/unit/infra-roles-parity.test.ts) keeps this table equal to it, so a fix never names a role the
 * deployment does not give (docs/ARCHITECTURE.md "Configuration").
 */
export type AppRoleScope =
  'subscription' | 'namespace' | 'accessPolicyVault' | 'rbacVault' | 'userAssignedIdentity';

export interface AppRole {
  roleName: string;
  roleDefinitionId: string;
  condition?: { version: string; expression: string };
}

const CRYPTO_SERVICE_ENCRYPTION_USER = 'e147488a-f6f5-4113-8e2d-b22465e65bf6';

export const APP_ROLES: Record<AppRoleScope, AppRole> = {
  subscription: { roleName: 'Reader', roleDefinitionId: 'acdd72a7-3385-48ef-bd42-f606fba81ae7' },
  namespace: { roleName: 'Contributor', roleDefinitionId: 'b24988ac-6180-42a0-ab88-20f7382dd24c' },
  accessPolicyVault: {
    roleName: 'Key Vault Contributor',
    roleDefinitionId: 'f25e0fa2-a7c8-4377-a976-54943a77a395',
  },
  rbacVault: {
    roleName: 'Role Based Access Control Administrator',
    roleDefinitionId: 'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
    // Azure ABAC: this assignment may create and delete role assignments of one role only.
    condition: {
      version: '2.0',
      expression: `((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${CRYPTO_SERVICE_ENCRYPTION_USER}})) AND ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${CRYPTO_SERVICE_ENCRYPTION_USER}}))`,
    },
  },
  userAssignedIdentity: {
    roleName: 'Managed Identity Operator',
    roleDefinitionId: 'f1a07417-d97a-45cb-824c-7a7467783830',
  },
};

/** "The app's identity lacks the role R on S; grant it with: az role assignment create …". */
export function grantRoleFix(scopeKind: AppRoleScope, scope: string): string {
  const role = APP_ROLES[scopeKind];
  const condition = role.condition
    ? ` --condition "${role.condition.expression}" --condition-version ${role.condition.version}`
    : '';
  return `The app's identity lacks the role ${role.roleName} on ${scope}; grant it with: az role assignment create --assignee <app-principal-id> --role "${role.roleName}" --scope ${scope}${condition}`;
}
