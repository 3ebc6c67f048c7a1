import type { Permission } from './roles';

/**
 * Pure RBAC evaluation, as Azure documents it:
 * - an action pattern matches case-insensitively; `*` matches any run of characters, slashes included
 *   (`*\/read` covers every read, `Microsoft.KeyVault/*` everything under the namespace);
 * - a permission block grants an operation when one of its actions matches and none of its
 *   notActions does (notActions subtract only within the same block — they are not deny rules);
 * - actions and dataActions are separate worlds: `*` in actions never grants a dataAction;
 * - a role assignment at scope S applies to S and everything below it.
 */

const cache = new Map<string, RegExp>();

export function actionMatches(pattern: string, action: string): boolean {
  let re = cache.get(pattern);
  if (!re) {
    const source = pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    re = new RegExp(`^${source}$`, 'i');
    cache.set(pattern, re);
  }
  return re.test(action);
}

export type OperationKind = 'action' | 'dataAction';

export function permissionGrants(permission: Permission, operation: string, kind: OperationKind): boolean {
  const [allow, deny] =
    kind === 'action'
      ? [permission.actions, permission.notActions]
      : [permission.dataActions, permission.notDataActions];
  return allow.some((p) => actionMatches(p, operation)) && !deny.some((p) => actionMatches(p, operation));
}

/** Canonical form for comparing scopes: no trailing slash, lower case ("/" stays "/"). */
export function normalizeScope(scope: string): string {
  const trimmed = scope.trim().replace(/\/+$/, '');
  return (trimmed === '' ? '/' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`).toLowerCase();
}

/** True when an assignment at `assignmentScope` applies to `targetScope` (same scope or an ancestor). */
export function scopeContains(assignmentScope: string, targetScope: string): boolean {
  const a = normalizeScope(assignmentScope);
  const t = normalizeScope(targetScope);
  return a === '/' || a === t || t.startsWith(`${a}/`);
}

/** The scopes from the root down to `scope`: "/", "/subscriptions/s", "/subscriptions/s/resourceGroups/rg", … */
export function ancestorScopes(scope: string): string[] {
  const parts = scope.split('/').filter(Boolean);
  const out = ['/'];
  for (let i = 1; i <= parts.length; i++) out.push(`/${parts.slice(0, i).join('/')}`);
  return out;
}
