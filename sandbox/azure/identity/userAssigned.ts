import { z } from 'zod';
import { page } from '../arm/paging';
import { parseBody, requireResourceGroup, requireSubscription } from '../arm/resources';
import { reply } from '../context';
import type { ResourceProvider, SandboxCore } from '../core';
import { ArmErrors, SandboxError } from '../errors';

/**
 * Microsoft.ManagedIdentity: user-assigned identities (CRUD + lists) and the read-only view of a
 * resource's system-assigned identity (`{scope}/providers/Microsoft.ManagedIdentity/identities/default`).
 * Creating an identity creates its service principal in the directory (a token can be issued for it);
 * deleting it removes the principal (its role assignments stay, orphaned — as in Azure).
 */
export const MANAGED_IDENTITY_API_VERSIONS = [
  '2021-09-30-preview',
  '2022-01-31-preview',
  '2023-01-31',
  '2023-07-31-preview',
  '2024-11-30',
  '2025-01-31-preview',
];

const NS = 'Microsoft.ManagedIdentity';
const TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';
const COLLECTION = 'userAssignedIdentities';

interface IdentityRecord {
  id: string;
  name: string;
  location: string;
  tags?: Record<string, string>;
  principalId: string;
  clientId: string;
}

const putBody = z.object({
  location: z.string().min(1),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.object({ isolationScope: z.enum(['None', 'Regional']).optional() }).optional(),
});
const patchBody = z.object({ tags: z.record(z.string(), z.string()).optional() });

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/;

function body(core: SandboxCore, r: IdentityRecord): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    type: TYPE,
    location: r.location,
    tags: r.tags ?? {},
    properties: {
      isolationScope: 'None',
      tenantId: core.options.tenantId,
      principalId: r.principalId,
      clientId: r.clientId,
    },
  };
}

export const managedIdentityProvider: ResourceProvider = {
  name: NS,
  collections: [COLLECTION],
  register(core) {
    core.apiVersions.register(NS, MANAGED_IDENTITY_API_VERSIONS);
    const item =
      '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.ManagedIdentity/userAssignedIdentities/:resourceName';
    const idOf = (p: Record<string, string>) =>
      `/subscriptions/${p.subscriptionId}/resourceGroups/${p.resourceGroupName}/providers/${TYPE}/${p.resourceName}`;
    const find = (p: Record<string, string>): IdentityRecord => {
      requireResourceGroup(core, p.subscriptionId!, p.resourceGroupName!);
      const r = core.store.get<IdentityRecord>(COLLECTION, idOf(p));
      if (!r) throw ArmErrors.resourceNotFound(TYPE, p.resourceName!, p.resourceGroupName!);
      return r;
    };

    core.routes.arm({
      method: 'PUT',
      path: item,
      operation: `${TYPE}/write`,
      handler: (ctx) => {
        const p = ctx.params;
        requireResourceGroup(core, p.subscriptionId!, p.resourceGroupName!);
        if (!NAME.test(p.resourceName!)) {
          throw new SandboxError(
            400,
            'InvalidResourceName',
            `Resource name ${p.resourceName} is invalid. The name can be 3-128 characters long, must start with a letter or number, and can contain only letters, numbers, underscores (_) and hyphens (-).`,
          );
        }
        const b = parseBody(ctx, putBody);
        const id = idOf(p);
        const existing = core.store.get<IdentityRecord>(COLLECTION, id);
        const principal =
          (existing && core.principals.get(existing.principalId)) ??
          core.principals.create({ displayName: p.resourceName!, kind: 'userAssigned', resourceId: id });
        const record: IdentityRecord = {
          id: existing?.id ?? id,
          name: existing?.name ?? p.resourceName!,
          location: b.location.replace(/\s+/g, '').toLowerCase(),
          ...(b.tags ? { tags: b.tags } : {}),
          principalId: principal.objectId,
          clientId: principal.clientId,
        };
        core.store.put(COLLECTION, id, record);
        return existing ? reply.ok(body(core, record)) : reply.created(body(core, record));
      },
    });
    core.routes.arm({
      method: 'GET',
      path: item,
      operation: `${TYPE}/read`,
      handler: (ctx) => reply.ok(body(core, find(ctx.params))),
    });
    core.routes.arm({
      method: 'PATCH',
      path: item,
      operation: `${TYPE}/write`,
      handler: (ctx) => {
        const r = find(ctx.params);
        const b = parseBody(ctx, patchBody);
        const record = { ...r, ...(b.tags ? { tags: b.tags } : {}) };
        core.store.put(COLLECTION, r.id, record);
        return reply.ok(body(core, record));
      },
    });
    core.routes.arm({
      method: 'DELETE',
      path: item,
      operation: `${TYPE}/delete`,
      handler: (ctx) => {
        const p = ctx.params;
        requireResourceGroup(core, p.subscriptionId!, p.resourceGroupName!);
        const r = core.store.get<IdentityRecord>(COLLECTION, idOf(p));
        if (!r) return reply.noContent();
        core.store.delete(COLLECTION, r.id);
        core.principals.delete(r.principalId);
        return reply.ok(undefined);
      },
    });
    core.routes.arm({
      method: 'GET',
      path: '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.ManagedIdentity/userAssignedIdentities',
      operation: `${TYPE}/read`,
      handler: (ctx) => {
        const rg = requireResourceGroup(core, ctx.params.subscriptionId!, ctx.params.resourceGroupName!);
        const items = core.store.list<IdentityRecord>(COLLECTION, `${rg.id}/providers/`);
        return reply.ok(
          page(
            ctx,
            items.map((r) => body(core, r)),
          ),
        );
      },
    });
    core.routes.arm({
      method: 'GET',
      path: '/subscriptions/:subscriptionId/providers/Microsoft.ManagedIdentity/userAssignedIdentities',
      operation: `${TYPE}/read`,
      handler: (ctx) => {
        const sub = requireSubscription(core, ctx.params.subscriptionId!);
        const items = core.store.list<IdentityRecord>(COLLECTION, `/subscriptions/${sub.subscriptionId}/`);
        return reply.ok(
          page(
            ctx,
            items.map((r) => body(core, r)),
          ),
        );
      },
    });
    // A resource's system-assigned identity (read-only; the resource's own PUT enables/disables it).
    core.routes.arm({
      method: 'GET',
      path: '/{scope}/providers/Microsoft.ManagedIdentity/identities/default',
      operation: 'Microsoft.ManagedIdentity/identities/read',
      handler: (ctx) => {
        const scope = ctx.params.scope ?? '/';
        const principal = core.principals.findByResourceId(scope, 'systemAssigned');
        if (!principal)
          throw new SandboxError(404, 'NotFound', `No system-assigned identity is enabled on '${scope}'.`);
        return reply.ok({
          id: `${scope}/providers/Microsoft.ManagedIdentity/identities/default`,
          name: 'default',
          type: 'Microsoft.ManagedIdentity/Identities',
          properties: {
            tenantId: core.options.tenantId,
            principalId: principal.objectId,
            clientId: principal.clientId,
          },
        });
      },
    });
  },
};
