import { z } from 'zod';
import { parseResourceId } from '../arm/ids';
import { page } from '../arm/paging';
import { parseBody, requireResourceGroup, requireSubscription } from '../arm/resources';
import { reply, type RequestContext } from '../context';
import type { ResourceProvider, SandboxCore } from '../core';
import { SandboxError } from '../errors';
import { isGuid, type RoleAssignment } from './authorization';
import { normalizeScope, scopeContains } from './match';
import type { RoleDefinition } from './roles';

/**
 * Microsoft.Authorization: roleAssignments (PUT/GET/LIST/DELETE at any scope) and roleDefinitions
 * (GET/LIST) — extension resources, so every route is `/{scope}/providers/Microsoft.Authorization/…`.
 */
export const AUTHORIZATION_API_VERSIONS = [
  '2015-07-01',
  '2018-01-01-preview',
  '2018-09-01-preview',
  '2020-04-01-preview',
  '2020-10-01',
  '2020-10-01-preview',
  '2021-03-01-preview',
  '2022-01-01-preview',
  '2022-04-01',
  '2022-05-01-preview',
];

const NS = 'Microsoft.Authorization';
const ASSIGNMENT_ATTR = 'Microsoft.Authorization/roleAssignments';

const putBody = z.object({
  properties: z.object({
    roleDefinitionId: z.string().min(1),
    principalId: z.string().min(1),
    principalType: z.enum(['User', 'Group', 'ServicePrincipal', 'ForeignGroup', 'Device']).optional(),
    description: z.string().nullish(),
    condition: z.string().nullish(),
    conditionVersion: z.string().nullish(),
    delegatedManagedIdentityResourceId: z.string().nullish(),
  }),
});

export function roleAssignmentBody(a: RoleAssignment): Record<string, unknown> {
  return {
    properties: {
      roleDefinitionId: a.roleDefinitionId,
      principalId: a.principalId,
      principalType: a.principalType,
      scope: a.scope,
      condition: a.condition ?? null,
      conditionVersion: a.conditionVersion ?? null,
      createdOn: a.createdOn,
      updatedOn: a.updatedOn,
      createdBy: a.createdBy,
      updatedBy: a.updatedBy,
      delegatedManagedIdentityResourceId: null,
      description: a.description ?? null,
    },
    id: a.id,
    type: 'Microsoft.Authorization/roleAssignments',
    name: a.name,
  };
}

/** Built-in definitions are reported under the subscription of the request scope (or the root). */
function roleDefinitionBody(role: RoleDefinition, scope: string): Record<string, unknown> {
  const sub = parseResourceId(scope).subscriptionId;
  const prefix = sub ? `/subscriptions/${sub}` : '';
  return {
    id: `${prefix}/providers/Microsoft.Authorization/roleDefinitions/${role.name}`,
    name: role.name,
    type: 'Microsoft.Authorization/roleDefinitions',
    properties: {
      roleName: role.roleName,
      type: role.roleType,
      description: role.description,
      assignableScopes: role.assignableScopes,
      permissions: role.permissions,
      createdOn: '2015-02-02T21:55:09.8806423Z',
      updatedOn: '2025-01-01T00:00:00.0000000Z',
      createdBy: null,
      updatedBy: null,
    },
  };
}

/** The scope must exist: subscription and resource group (resources are the providers' business). */
function requireScope(core: SandboxCore, scope: string): void {
  const parsed = parseResourceId(scope);
  if (parsed.subscriptionId && parsed.resourceGroup)
    requireResourceGroup(core, parsed.subscriptionId, parsed.resourceGroup);
  else if (parsed.subscriptionId) requireSubscription(core, parsed.subscriptionId);
}

/** `$filter` forms Azure supports on role assignment lists. */
function filterAssignments(core: SandboxCore, scope: string, filter: string | null): RoleAssignment[] {
  const all = core.rbac.allAssignments();
  const atOrAbove = (a: RoleAssignment) => scopeContains(a.scope, scope);
  const below = (a: RoleAssignment) => scopeContains(scope, a.scope);
  if (!filter) return all.filter((a) => atOrAbove(a) || below(a));
  const f = filter.trim();
  if (/^atScope\(\)$/i.test(f)) return all.filter(atOrAbove);
  const principal = /^(?:principalId\s+eq\s+'([^']+)'|assignedTo\('([^']+)'\))$/i.exec(f);
  if (principal) {
    const id = (principal[1] ?? principal[2] ?? '').toLowerCase();
    return all.filter((a) => a.principalId.toLowerCase() === id && (atOrAbove(a) || below(a)));
  }
  const atScopePrincipal =
    /^atScope\(\)\s+and\s+(?:principalId\s+eq\s+'([^']+)'|assignedTo\('([^']+)'\))$/i.exec(f);
  if (atScopePrincipal) {
    const id = (atScopePrincipal[1] ?? atScopePrincipal[2] ?? '').toLowerCase();
    return all.filter((a) => a.principalId.toLowerCase() === id && atOrAbove(a));
  }
  throw new SandboxError(400, 'UnsupportedQuery', `The filter '${filter}' is not supported.`);
}

function roleScope(ctx: RequestContext): string {
  return ctx.params.scope ?? '/';
}

export const authorizationProvider: ResourceProvider = {
  name: NS,
  register(core) {
    core.apiVersions.register(NS, AUTHORIZATION_API_VERSIONS);
    const base = '/{scope}/providers/Microsoft.Authorization';

    core.routes.arm({
      method: 'PUT',
      path: `${base}/roleAssignments/:roleAssignmentName`,
      operation: 'Microsoft.Authorization/roleAssignments/write',
      // The request's role, principal and principal type are the attributes ABAC conditions constrain.
      authorize: (ctx) => {
        const parsed = putBody.safeParse(ctx.json());
        const p = parsed.success ? parsed.data.properties : undefined;
        const request: Record<string, string[]> = p
          ? {
              [`${ASSIGNMENT_ATTR}:RoleDefinitionId`]: [p.roleDefinitionId],
              [`${ASSIGNMENT_ATTR}:PrincipalId`]: [p.principalId],
              ...(p.principalType ? { [`${ASSIGNMENT_ATTR}:PrincipalType`]: [p.principalType] } : {}),
            }
          : {};
        core.rbac.authorize(ctx.principal!.objectId, ctx.action!, ctx.path, { request });
      },
      handler: (ctx) => {
        const scope = roleScope(ctx);
        const name = ctx.params.roleAssignmentName!;
        if (!isGuid(name)) {
          throw new SandboxError(
            400,
            'InvalidRoleAssignmentId',
            `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`,
          );
        }
        requireScope(core, scope);
        const { properties: p } = parseBody(ctx, putBody);
        const role = core.rbac.roleDefinition(p.roleDefinitionId);
        const guid = p.roleDefinitionId.split('/').pop() ?? p.roleDefinitionId;
        if (
          !role ||
          !/\/providers\/Microsoft\.Authorization\/roleDefinitions\/[^/]+$/i.test(p.roleDefinitionId)
        ) {
          throw new SandboxError(
            400,
            'RoleDefinitionDoesNotExist',
            `The specified role definition with ID '${guid}' does not exist.`,
          );
        }
        const principal = core.principals.get(p.principalId);
        if (!principal) {
          throw new SandboxError(
            400,
            'PrincipalNotFound',
            `Principal ${p.principalId.replace(/-/g, '')} does not exist in the directory ${core.options.tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
          );
        }
        if (p.principalType && p.principalType !== principal.principalType) {
          throw new SandboxError(
            400,
            'UnmatchedPrincipalType',
            `The PrincipalId '${p.principalId.replace(/-/g, '')}' has type '${principal.principalType}' , which is different from specified PrincipalType '${p.principalType}'.`,
          );
        }
        const id = `${scope === '/' ? '' : scope}/providers/Microsoft.Authorization/roleAssignments/${name}`;
        const existing = core.rbac.getAssignment(id);
        if (existing) {
          const same =
            existing.principalId.toLowerCase() === p.principalId.toLowerCase() &&
            existing.roleDefinitionId.split('/').pop()?.toLowerCase() === guid.toLowerCase();
          if (!same) {
            throw new SandboxError(
              400,
              'RoleAssignmentUpdateNotPermitted',
              'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.',
            );
          }
          return reply.ok(roleAssignmentBody(existing));
        }
        const duplicate = core.rbac
          .allAssignments()
          .find(
            (a) =>
              normalizeScope(a.scope) === normalizeScope(scope) &&
              a.principalId.toLowerCase() === p.principalId.toLowerCase() &&
              a.roleDefinitionId.split('/').pop()?.toLowerCase() === guid.toLowerCase(),
          );
        if (duplicate)
          throw new SandboxError(409, 'RoleAssignmentExists', 'The role assignment already exists.');
        const created = core.rbac.putAssignment({
          scope,
          name,
          roleDefinitionId: p.roleDefinitionId,
          principalId: principal.objectId,
          principalType: p.principalType ?? principal.principalType,
          createdBy: ctx.principal!.objectId,
          description: p.description ?? null,
          condition: p.condition ?? null,
          conditionVersion: p.conditionVersion ?? null,
        });
        return reply.created(roleAssignmentBody(created));
      },
    });

    core.routes.arm({
      method: 'GET',
      path: `${base}/roleAssignments/:roleAssignmentName`,
      operation: 'Microsoft.Authorization/roleAssignments/read',
      handler: (ctx) => {
        const scope = roleScope(ctx);
        const a = core.rbac.getAssignment(
          `${scope === '/' ? '' : scope}/providers/Microsoft.Authorization/roleAssignments/${ctx.params.roleAssignmentName}`,
        );
        if (!a) {
          throw new SandboxError(
            404,
            'RoleAssignmentNotFound',
            `The role assignment '${ctx.params.roleAssignmentName}' is not found.`,
          );
        }
        return reply.ok(roleAssignmentBody(a));
      },
    });

    core.routes.arm({
      method: 'DELETE',
      path: `${base}/roleAssignments/:roleAssignmentName`,
      operation: 'Microsoft.Authorization/roleAssignments/delete',
      // The assignment being deleted is the resource ABAC conditions look at.
      authorize: (ctx) => {
        const scope = roleScope(ctx);
        const a = core.rbac.getAssignment(
          `${scope === '/' ? '' : scope}/providers/Microsoft.Authorization/roleAssignments/${ctx.params.roleAssignmentName}`,
        );
        const resource: Record<string, string[]> = a
          ? {
              [`${ASSIGNMENT_ATTR}:RoleDefinitionId`]: [a.roleDefinitionId],
              [`${ASSIGNMENT_ATTR}:PrincipalId`]: [a.principalId],
              [`${ASSIGNMENT_ATTR}:PrincipalType`]: [a.principalType],
            }
          : {};
        core.rbac.authorize(ctx.principal!.objectId, ctx.action!, ctx.path, { resource });
      },
      handler: (ctx) => {
        const scope = roleScope(ctx);
        const removed = core.rbac.deleteAssignment(
          `${scope === '/' ? '' : scope}/providers/Microsoft.Authorization/roleAssignments/${ctx.params.roleAssignmentName}`,
        );
        return removed ? reply.ok(roleAssignmentBody(removed)) : reply.noContent();
      },
    });

    core.routes.arm({
      method: 'GET',
      path: `${base}/roleAssignments`,
      operation: 'Microsoft.Authorization/roleAssignments/read',
      handler: (ctx) => {
        const scope = roleScope(ctx);
        requireScope(core, scope);
        const items = filterAssignments(core, scope, ctx.query.get('$filter')).map(roleAssignmentBody);
        return reply.ok(page(ctx, items));
      },
    });

    core.routes.arm({
      method: 'GET',
      path: `${base}/roleDefinitions/:roleDefinitionId`,
      operation: 'Microsoft.Authorization/roleDefinitions/read',
      handler: (ctx) => {
        const role = core.rbac.roleDefinition(ctx.params.roleDefinitionId!);
        if (!role) {
          throw new SandboxError(
            404,
            'RoleDefinitionDoesNotExist',
            `The specified role definition with ID '${ctx.params.roleDefinitionId}' does not exist.`,
          );
        }
        return reply.ok(roleDefinitionBody(role, roleScope(ctx)));
      },
    });

    core.routes.arm({
      method: 'GET',
      path: `${base}/roleDefinitions`,
      operation: 'Microsoft.Authorization/roleDefinitions/read',
      handler: (ctx) => {
        const scope = roleScope(ctx);
        requireScope(core, scope);
        const filter = ctx.query.get('$filter')?.trim();
        let roles = [...core.rbac.roleDefinitions()];
        if (filter) {
          const byName = /^roleName\s+eq\s+'([^']*)'$/i.exec(filter);
          const byType = /^type\s+eq\s+'([^']*)'$/i.exec(filter);
          if (byName) roles = roles.filter((r) => r.roleName.toLowerCase() === byName[1]!.toLowerCase());
          else if (byType) roles = roles.filter((r) => r.roleType.toLowerCase() === byType[1]!.toLowerCase());
          else throw new SandboxError(400, 'UnsupportedQuery', `The filter '${filter}' is not supported.`);
        }
        return reply.ok(
          page(
            ctx,
            roles.map((r) => roleDefinitionBody(r, scope)),
          ),
        );
      },
    });
  },
};
