/**
 * What "the namespace identity can use the key" means, in both Key Vault permission models, so the
 * gateways can tell whether a grant is already effective (and the plan can skip it).
 */
import { normalizeResourceId } from './resourceIds';

/** Key permissions Service Bus needs on an access-policy vault (the article's list, minus `list`). */
export const CMK_KEY_PERMISSIONS = ['get', 'wrapKey', 'unwrapKey'] as const;

/** Key Vault Crypto Service Encryption User: key read + wrap + unwrap, nothing else (least privilege). */
export const CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID = 'e147488a-f6f5-4113-8e2d-b22465e65bf6';
export const CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_NAME = 'Key Vault Crypto Service Encryption User';

/** Built-in roles whose dataActions include keys read, wrap and unwrap (an existing one is enough). */
const ROLES_COVERING_CMK: Record<string, string> = {
  [CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID]: CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_NAME,
  '12338af0-0e69-4776-bea7-57ae8d297424': 'Key Vault Crypto User',
  '14b46e9e-c2b7-41b4-b07b-48a6ebf60603': 'Key Vault Crypto Officer',
  '00482a5a-887f-4fb3-b363-3b7fe8e74483': 'Key Vault Administrator',
};

/** Permissions from CMK_KEY_PERMISSIONS an access policy lacks (`all` covers everything). */
export function missingCmkKeyPermissions(granted: readonly string[]): string[] {
  const have = new Set(granted.map((p) => p.toLowerCase()));
  if (have.has('all')) return [];
  return CMK_KEY_PERMISSIONS.filter((p) => !have.has(p.toLowerCase()));
}

/** The GUID at the end of a role definition id (or the GUID itself), lower case. */
export function roleDefinitionGuid(roleDefinitionId: string): string {
  const last = roleDefinitionId.trim().replace(/\/+$/, '').split('/').pop() ?? '';
  return last.toLowerCase();
}

/** Whether a role (by definition id or GUID) lets its holder read, wrap and unwrap keys. */
export function roleCoversCmkAccess(roleDefinitionId: string): boolean {
  return roleDefinitionGuid(roleDefinitionId) in ROLES_COVERING_CMK;
}

/** Subscription-scoped role definition id, as role assignments carry it. */
export function cryptoServiceEncryptionUserRoleDefinitionId(subscriptionId: string): string {
  return `/subscriptions/${subscriptionId.toLowerCase()}/providers/Microsoft.Authorization/roleDefinitions/${CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID}`;
}

/**
 * Whether an assignment at `assignmentScope` applies at `targetScope` (same scope or an ancestor).
 * A management-group scope cannot be placed in the hierarchy from ids alone: it counts as not
 * covering, which at worst costs one redundant (idempotent) grant.
 */
export function scopeCovers(assignmentScope: string, targetScope: string): boolean {
  if (assignmentScope.trim() === '/') return true;
  let outer: string;
  let inner: string;
  try {
    outer = normalizeResourceId(assignmentScope).toLowerCase();
    inner = normalizeResourceId(targetScope).toLowerCase();
  } catch {
    return false;
  }
  return inner === outer || inner.startsWith(`${outer}/`);
}

export interface RoleAssignmentFacts {
  principalId: string;
  roleDefinitionId: string;
  scope: string;
}

/** Whether any of the assignments gives `principalId` CMK access at `keyScope`. */
export function roleAssignmentsGrantCmkAccess(
  assignments: readonly RoleAssignmentFacts[],
  principalId: string,
  keyScope: string,
): boolean {
  return assignments.some(
    (a) =>
      a.principalId.toLowerCase() === principalId.toLowerCase() &&
      roleCoversCmkAccess(a.roleDefinitionId) &&
      scopeCovers(a.scope, keyScope),
  );
}

export interface AccessPolicyFacts {
  objectId: string;
  keys: string[];
}

/** Key permissions the principal lacks under the vault's access policies (all three when it has none). */
export function accessPolicyMissingPermissions(
  policies: readonly AccessPolicyFacts[],
  principalId: string,
): string[] {
  const granted = policies
    .filter((p) => p.objectId.toLowerCase() === principalId.toLowerCase())
    .flatMap((p) => p.keys);
  return missingCmkKeyPermissions(granted);
}
