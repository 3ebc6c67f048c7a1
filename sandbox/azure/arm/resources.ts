import { z } from 'zod';
import { reply, type Reply, type RequestContext } from '../context';
import type { ResourceProvider, SandboxCore } from '../core';
import { ArmErrors, SandboxError } from '../errors';
import { scopeContains } from '../rbac/match';
import { DEFAULT_LOCATIONS } from './apiVersions';
import { page } from './paging';

/**
 * Microsoft.Resources: subscriptions (list/get/locations), resource groups (CRUD; delete is an LRO that
 * takes every resource under the group along), and the generic async-operation poll endpoints every
 * provider's LROs point at.
 */
export interface SubscriptionRecord {
  subscriptionId: string;
  displayName: string;
  state: 'Enabled' | 'Disabled' | 'Warned' | 'PastDue' | 'Deleted';
  tenantId: string;
}

export interface ResourceGroupRecord {
  id: string;
  name: string;
  location: string;
  tags?: Record<string, string>;
  managedBy?: string;
}

const RG_COLLECTION = 'resourceGroups';

/** Published Microsoft.Resources versions from 2021 on (resource groups, subscriptions), plus what our SDKs send. */
export const RESOURCES_API_VERSIONS = [
  '2020-01-01',
  '2021-01-01',
  '2021-04-01',
  '2022-01-01',
  '2022-09-01',
  '2022-12-01',
  '2023-07-01',
  '2024-03-01',
  '2024-07-01',
  '2024-11-01',
  '2025-01-01',
  '2025-03-01',
  '2025-04-01',
];

// ---- helpers other providers use ---------------------------------------------------------------

/** Throws SubscriptionNotFound unless the subscription exists. */
export function requireSubscription(core: SandboxCore, subscriptionId: string): SubscriptionRecord {
  const sub = core.store.get<SubscriptionRecord>('subscriptions', subscriptionId);
  if (!sub) throw ArmErrors.subscriptionNotFound(subscriptionId);
  return sub;
}

/** Throws SubscriptionNotFound / ResourceGroupNotFound unless the resource group exists. */
export function requireResourceGroup(
  core: SandboxCore,
  subscriptionId: string,
  resourceGroupName: string,
): ResourceGroupRecord {
  requireSubscription(core, subscriptionId);
  const rg = core.store.get<ResourceGroupRecord>(RG_COLLECTION, rgId(subscriptionId, resourceGroupName));
  if (!rg) throw ArmErrors.resourceGroupNotFound(resourceGroupName);
  return rg;
}

export const rgId = (sub: string, rg: string): string => `/subscriptions/${sub}/resourceGroups/${rg}`;

/** The wire shape of a resource group. */
export function resourceGroupBody(
  rg: ResourceGroupRecord,
  provisioningState = 'Succeeded',
): Record<string, unknown> {
  return {
    id: rg.id,
    name: rg.name,
    type: 'Microsoft.Resources/resourceGroups',
    location: rg.location,
    ...(rg.tags ? { tags: rg.tags } : {}),
    ...(rg.managedBy ? { managedBy: rg.managedBy } : {}),
    properties: { provisioningState },
  };
}

const locationName = (l: string): string => l.replace(/\s+/g, '').toLowerCase();

const rgPut = z.object({
  location: z.string().min(1),
  tags: z.record(z.string(), z.string()).optional(),
  managedBy: z.string().optional(),
});
const rgPatch = z.object({
  tags: z.record(z.string(), z.string()).optional(),
  managedBy: z.string().optional(),
});

/** Turns a zod failure into ARM's 400 with the offending property named. */
export function parseBody<T>(ctx: RequestContext, schema: z.ZodType<T>): T {
  const result = schema.safeParse(ctx.json() ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.join('.') || 'body';
  throw ArmErrors.badRequest(
    'InvalidRequestContent',
    `The request content was invalid and could not be deserialized: '${where}: ${issue?.message ?? 'invalid'}'.`,
  );
}

/** Subscriptions a principal can see: it holds some assignment at /, on the subscription, or below it. */
function visibleSubscriptions(core: SandboxCore, principalId: string): SubscriptionRecord[] {
  const assignments = core.rbac
    .allAssignments()
    .filter((a) => a.principalId.toLowerCase() === principalId.toLowerCase());
  return core.store.list<SubscriptionRecord>('subscriptions').filter((s) => {
    const scope = `/subscriptions/${s.subscriptionId}`;
    return assignments.some((a) => scopeContains(a.scope, scope) || scopeContains(scope, a.scope));
  });
}

function subscriptionBody(s: SubscriptionRecord): Record<string, unknown> {
  return {
    id: `/subscriptions/${s.subscriptionId}`,
    authorizationSource: 'RoleBased',
    managedByTenants: [],
    subscriptionId: s.subscriptionId,
    tenantId: s.tenantId,
    displayName: s.displayName,
    state: s.state,
    subscriptionPolicies: {
      locationPlacementId: 'Public_2014-09-01',
      quotaId: 'PayAsYouGo_2014-09-01',
      spendingLimit: 'Off',
    },
  };
}

const RG_NAME = /^[-\w._()]{1,90}$/u;

export const resourcesProvider: ResourceProvider = {
  name: 'Microsoft.Resources',
  collections: [RG_COLLECTION],
  register(core) {
    core.apiVersions.register('Microsoft.Resources', RESOURCES_API_VERSIONS);

    // -- subscriptions ------------------------------------------------------------------------
    core.routes.arm({
      method: 'GET',
      path: '/subscriptions',
      operation: 'Microsoft.Resources/subscriptions/read',
      // ARM filters the list to what the caller can see rather than refusing.
      authorize: 'authenticated',
      handler: (ctx) =>
        reply.ok(page(ctx, visibleSubscriptions(core, ctx.principal!.objectId).map(subscriptionBody))),
    });
    core.routes.arm({
      method: 'GET',
      path: '/subscriptions/:subscriptionId',
      operation: 'Microsoft.Resources/subscriptions/read',
      authorize: 'authenticated',
      handler: (ctx) => {
        const id = ctx.params.subscriptionId!;
        const sub = visibleSubscriptions(core, ctx.principal!.objectId).find(
          (s) => s.subscriptionId.toLowerCase() === id.toLowerCase(),
        );
        if (!sub) throw ArmErrors.subscriptionNotFound(id);
        return reply.ok(subscriptionBody(sub));
      },
    });
    core.routes.arm({
      method: 'GET',
      path: '/tenants',
      operation: 'Microsoft.Resources/tenants/read',
      authorize: 'authenticated',
      handler: () =>
        reply.ok({
          value: [
            {
              id: `/tenants/${core.options.tenantId}`,
              tenantId: core.options.tenantId,
              tenantCategory: 'Home',
              displayName: 'Sandbox tenant',
              defaultDomain: 'sandbox.onmicrosoft.com',
              domains: ['sandbox.onmicrosoft.com'],
            },
          ],
        }),
    });
    core.routes.arm({
      method: 'GET',
      path: '/subscriptions/:subscriptionId/locations',
      operation: 'Microsoft.Resources/subscriptions/locations/read',
      authorize: 'authenticated',
      handler: (ctx) => {
        const sub = requireSubscription(core, ctx.params.subscriptionId!);
        return reply.ok({
          value: DEFAULT_LOCATIONS.map((name) => ({
            id: `/subscriptions/${sub.subscriptionId}/locations/${name}`,
            name,
            type: 'Region',
            displayName: name,
            regionalDisplayName: name,
            metadata: { regionType: 'Physical', regionCategory: 'Recommended' },
          })),
        });
      },
    });

    // -- resource groups ------------------------------------------------------------------------
    const rgPath = '/subscriptions/:subscriptionId/resourcegroups/:resourceGroupName';
    core.routes.arm({
      method: 'GET',
      path: '/subscriptions/:subscriptionId/resourcegroups',
      operation: 'Microsoft.Resources/subscriptions/resourceGroups/read',
      handler: (ctx) => {
        const sub = requireSubscription(core, ctx.params.subscriptionId!);
        const groups = core.store.list<ResourceGroupRecord>(
          RG_COLLECTION,
          `/subscriptions/${sub.subscriptionId}/`,
        );
        return reply.ok(
          page(
            ctx,
            groups.map((g) => resourceGroupBody(g)),
          ),
        );
      },
    });
    core.routes.arm({
      method: ['GET', 'HEAD'],
      path: rgPath,
      operation: 'Microsoft.Resources/subscriptions/resourceGroups/read',
      handler: (ctx) => {
        const rg = requireResourceGroup(core, ctx.params.subscriptionId!, ctx.params.resourceGroupName!);
        return ctx.method === 'HEAD' ? reply.noContent() : reply.ok(resourceGroupBody(rg));
      },
    });
    core.routes.arm({
      method: 'PUT',
      path: rgPath,
      operation: 'Microsoft.Resources/subscriptions/resourceGroups/write',
      handler: (ctx) => {
        const { subscriptionId, resourceGroupName } = ctx.params as {
          subscriptionId: string;
          resourceGroupName: string;
        };
        requireSubscription(core, subscriptionId);
        if (!RG_NAME.test(resourceGroupName) || resourceGroupName.endsWith('.')) {
          throw ArmErrors.badRequest(
            'InvalidResourceGroup',
            `The provided resource group name '${resourceGroupName}' has these invalid characters: '${resourceGroupName.replace(/[-\w._()]/gu, '')}'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'.`,
          );
        }
        const body = parseBody(ctx, rgPut);
        const id = rgId(subscriptionId, resourceGroupName);
        const existing = core.store.get<ResourceGroupRecord>(RG_COLLECTION, id);
        if (existing && locationName(existing.location) !== locationName(body.location)) {
          throw new SandboxError(
            409,
            'InvalidResourceGroupLocation',
            `Invalid resource group location '${locationName(body.location)}'. The Resource group already exists in location '${existing.location}'.`,
          );
        }
        const record: ResourceGroupRecord = {
          id: existing?.id ?? id,
          name: existing?.name ?? resourceGroupName,
          location: locationName(body.location),
          ...(body.tags ? { tags: body.tags } : {}),
          ...(body.managedBy ? { managedBy: body.managedBy } : {}),
        };
        core.store.put(RG_COLLECTION, id, record);
        return existing ? reply.ok(resourceGroupBody(record)) : reply.created(resourceGroupBody(record));
      },
    });
    core.routes.arm({
      method: 'PATCH',
      path: rgPath,
      operation: 'Microsoft.Resources/subscriptions/resourceGroups/write',
      handler: (ctx) => {
        const rg = requireResourceGroup(core, ctx.params.subscriptionId!, ctx.params.resourceGroupName!);
        const body = parseBody(ctx, rgPatch);
        const record: ResourceGroupRecord = {
          ...rg,
          ...(body.tags ? { tags: body.tags } : {}),
          ...(body.managedBy ? { managedBy: body.managedBy } : {}),
        };
        core.store.put(RG_COLLECTION, rg.id, record);
        return reply.ok(resourceGroupBody(record));
      },
    });
    core.routes.arm({
      method: 'DELETE',
      path: rgPath,
      operation: 'Microsoft.Resources/subscriptions/resourceGroups/delete',
      handler: (ctx) => {
        const rg = requireResourceGroup(core, ctx.params.subscriptionId!, ctx.params.resourceGroupName!);
        // Deleting a group is asynchronous in Azure: 202 + Location, done when the clock says so.
        const { headers } = core.operations.begin(ctx, {
          resourceId: rg.id,
          namespace: 'Microsoft.Resources',
          location: rg.location,
          complete: () => {
            core.deleteUnder(rg.id);
            core.store.delete(RG_COLLECTION, rg.id);
          },
        });
        return reply.accepted(headers);
      },
    });

    // -- async operation polls (any provider's LRO URLs point here) -------------------------------
    for (const kind of ['operationStatuses', 'operationResults'] as const) {
      core.routes.arm({
        method: 'GET',
        path: `/subscriptions/:subscriptionId/providers/:namespace/locations/:location/${kind}/:operationId`,
        operation: (ctx) => `${ctx.params.namespace ?? 'Microsoft.Resources'}/locations/${kind}/read`,
        namespace: false,
        authorize: (ctx) => {
          const op = core.operations.get(ctx.params.operationId!);
          if (!op) return;
          ctx.scope = op.resourceId;
          // The caller who started the operation may always poll it; others need read on the target.
          if (op.startedBy?.toLowerCase() === ctx.principal!.objectId.toLowerCase()) return;
          core.rbac.authorize(ctx.principal!.objectId, ctx.action!, op.resourceId);
        },
        handler: (ctx): Reply => {
          core.apiVersions.check(
            ctx.params.namespace!,
            ctx.query.get('api-version'),
            `locations/${kind}`,
            ctx.params.location!,
          );
          const op = core.operations.get(ctx.params.operationId!);
          if (!op || op.subscriptionId.toLowerCase() !== ctx.params.subscriptionId!.toLowerCase()) {
            throw new SandboxError(
              404,
              'OperationNotFound',
              `The operation '${ctx.params.operationId}' could not be found.`,
            );
          }
          return kind === 'operationStatuses'
            ? reply.ok(core.operations.statusBody(op))
            : core.operations.resultReply(ctx, op);
        },
      });
    }
  },
};
