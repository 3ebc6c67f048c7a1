/**
 * Namespaces: PUT (create = LRO 201 + Azure-AsyncOperation; update), PATCH, GET, list by subscription /
 * resource group, DELETE (LRO 202), CheckNameAvailability. `write` is the one path by which PUT and
 * PATCH change a namespace: identity (identity.ts) and CMK encryption (encryption.ts) are decided
 * there, and a CMK namespace's key polls are armed there (`model.startPolling`).
 */
import { page } from '../arm/paging';
import { requireResourceGroup, requireSubscription } from '../arm/resources';
import { reply, type RequestContext } from '../context';
import { ArmErrors } from '../errors';
import { encryptionBody, encryptionRules } from './encryption';
import { messages } from './errors';
import { namespaceIdentity } from './identity';
import type { NamespaceRecord, SkuName } from './model';
import {
  asObject,
  iso,
  lower,
  NS_PATH,
  NS_TYPE,
  RG_PATH,
  same,
  text,
  type Json,
  type ServiceBusRouting,
} from './routing';

const NAME = /^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$/;
const SKUS: SkuName[] = ['Basic', 'Standard', 'Premium'];
/** The linked action Azure checks on each user-assigned identity a namespace write attaches. */
const ASSIGN_IDENTITY = 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action';

export function registerNamespaces(routing: ServiceBusRouting): void {
  const { core, model, route, nsId, requireNamespace, err400 } = routing;
  const { parseIdentity, identityBody } = namespaceIdentity(routing);
  const { validateEncryption } = encryptionRules(routing);

  const namespaceBody = (ns: NamespaceRecord): Json => {
    const identity = identityBody(ns);
    return {
      id: ns.id,
      name: ns.name,
      type: NS_TYPE,
      location: ns.location,
      tags: { ...ns.tags },
      sku: { ...ns.sku },
      ...(identity ? { identity } : {}),
      properties: {
        provisioningState: model.provisioningState(ns),
        status: model.status(ns),
        createdAt: iso(ns.createdAt),
        updatedAt: iso(ns.updatedAt),
        serviceBusEndpoint: `https://${ns.name}.servicebus.windows.net:443/`,
        metricId: `${ns.subscriptionId}:${ns.name}`,
        zoneRedundant: ns.zoneRedundant,
        disableLocalAuth: ns.disableLocalAuth,
        privateEndpointConnections: [],
        ...(ns.encryption ? { encryption: encryptionBody(ns.encryption) } : {}),
      },
    };
  };

  /** Shared by PUT and PATCH: builds the new record, applies the rules, persists. */
  const write = async (
    ctx: RequestContext,
    existing: NamespaceRecord | undefined,
    mode: 'put' | 'patch',
  ): Promise<NamespaceRecord> => {
    const body = asObject(ctx.json() ?? {});
    if (!body) throw ArmErrors.invalidRequestContent('The request body must be a JSON object.');
    const props = asObject(body.properties) ?? {};
    const name = ctx.params.namespaceName!;
    if (existing && model.isSecondary(existing.id)) throw err400(messages.secondary, name);

    const location = typeof body.location === 'string' ? body.location : existing?.location;
    if (!location) throw err400('The location property is required.', name);
    if (
      existing &&
      mode === 'put' &&
      lower(location.replace(/\s+/g, '')) !== lower(existing.location.replace(/\s+/g, ''))
    ) {
      throw err400(messages.locationChange, name);
    }
    const skuIn = asObject(body.sku);
    const skuName = skuIn ? SKUS.find((s) => same(s, text(skuIn.name))) : existing?.sku.name;
    if (!skuName) throw err400(messages.invalidSku(text(skuIn?.name ?? '')), name);
    if (existing?.encryption && skuName !== 'Premium') throw err400(messages.notPremium(skuName), name);
    const capacity =
      typeof skuIn?.capacity === 'number'
        ? skuIn.capacity
        : skuName === 'Premium'
          ? (existing?.sku.capacity ?? 1)
          : undefined;

    const identity = parseIdentity(
      body.identity,
      mode === 'patch' || !existing
        ? { type: existing?.identityType ?? 'None', uais: existing?.userAssignedIdentities ?? [] }
        : { type: 'None', uais: [] },
    );
    // Attaching a user-assigned identity is a linked action on the identity (Managed Identity Operator).
    const named = asObject(asObject(body.identity)?.userAssignedIdentities);
    for (const [uai, value] of Object.entries(named ?? {})) {
      if (value === null || !ctx.principal) continue;
      if (!core.rbac.isAllowed(ctx.principal.objectId, ASSIGN_IDENTITY, uai)) {
        throw ArmErrors.linkedAuthorizationFailed(
          ctx.principal.objectId,
          'Microsoft.ServiceBus/namespaces/write',
          existing?.id ?? nsId(ctx),
          ASSIGN_IDENTITY,
          uai,
        );
      }
    }
    const now = core.clock.now();
    const id = existing?.id ?? nsId(ctx);
    const draft: NamespaceRecord = {
      id,
      name: existing?.name ?? name,
      subscriptionId: ctx.params.subscriptionId!,
      resourceGroup: ctx.params.resourceGroupName!,
      location: existing?.location ?? location,
      tags: asObject(body.tags)
        ? (body.tags as Record<string, string>)
        : mode === 'patch'
          ? (existing?.tags ?? {})
          : {},
      sku: { name: skuName, tier: skuName, ...(capacity !== undefined ? { capacity } : {}) },
      identityType: identity.type,
      userAssignedIdentities: identity.uais,
      ...(existing?.encryption ? { encryption: existing.encryption } : {}),
      zoneRedundant: existing?.zoneRedundant ?? props.zoneRedundant === true,
      disableLocalAuth:
        typeof props.disableLocalAuth === 'boolean'
          ? props.disableLocalAuth
          : (existing?.disableLocalAuth ?? false),
      createdAt: existing?.createdAt ?? now,
      readyAt: existing?.readyAt ?? now + core.options.lroDurationMs,
      updatedAt: now,
      updatingUntil: existing ? now + core.options.lroDurationMs : 0,
    };

    // The system-assigned identity exists from this request on (its principal id is what a vault grants).
    const hadSystem = !!core.principals.findByResourceId(id, 'systemAssigned');
    if (draft.identityType.includes('SystemAssigned')) core.principals.ensureSystemAssigned(id, draft.name);
    try {
      const encIn = props.encryption;
      if (encIn !== undefined && encIn !== null) {
        const enc = asObject(encIn);
        if (!enc) throw err400('The encryption property must be an object.', name);
        draft.encryption = await validateEncryption(existing, draft, enc);
      } else if (mode === 'put' && existing?.encryption) {
        // A PUT describes the whole resource: leaving encryption out would turn CMK off.
        throw err400(messages.cannotRemove, name);
      }
      if (draft.encryption) {
        const uses = draft.encryption.keys[0]?.userAssignedIdentity;
        const kept = uses
          ? draft.userAssignedIdentities.some((u) => same(u, uses))
          : draft.identityType.includes('SystemAssigned');
        if (!kept) throw err400(messages.identityInUse, name);
      }
    } catch (error) {
      if (!hadSystem) core.principals.removeSystemAssigned(id);
      throw error;
    }
    if (!draft.identityType.includes('SystemAssigned')) core.principals.removeSystemAssigned(id);
    model.putNamespace(draft);
    if (draft.encryption) model.startPolling(draft);
    return draft;
  };

  route({
    method: 'GET',
    path: '/subscriptions/:subscriptionId/providers/Microsoft.ServiceBus/namespaces',
    operation: 'Microsoft.ServiceBus/namespaces/read',
    handler: (ctx) => {
      const sub = requireSubscription(core, ctx.params.subscriptionId!);
      return reply.ok(
        page(ctx, model.listNamespaces(`/subscriptions/${sub.subscriptionId}/`).map(namespaceBody)),
      );
    },
  });
  route({
    method: 'GET',
    path: `${RG_PATH}/namespaces`,
    operation: 'Microsoft.ServiceBus/namespaces/read',
    handler: (ctx) => {
      const rg = requireResourceGroup(core, ctx.params.subscriptionId!, ctx.params.resourceGroupName!);
      return reply.ok(page(ctx, model.listNamespaces(`${rg.id}/providers/`).map(namespaceBody)));
    },
  });
  route({
    method: 'GET',
    path: NS_PATH,
    operation: 'Microsoft.ServiceBus/namespaces/read',
    handler: (ctx) => reply.ok(namespaceBody(requireNamespace(ctx))),
  });
  route({
    method: 'PUT',
    path: NS_PATH,
    operation: 'Microsoft.ServiceBus/namespaces/write',
    handler: async (ctx) => {
      requireResourceGroup(core, ctx.params.subscriptionId!, ctx.params.resourceGroupName!);
      const name = ctx.params.namespaceName!;
      if (!NAME.test(name) || /-(sb|mgmt)$/i.test(name)) throw err400(messages.invalidName(name));
      const existing = model.getNamespace(nsId(ctx));
      if (!existing) {
        const taken = model.namespaceByName(name);
        const aliasTaken = model.allAliases().some((a) => same(a.name, name));
        if (taken || aliasTaken) throw model.error(409, 'Conflict', messages.nameInUse(name), name);
      }
      const ns = await write(ctx, existing, 'put');
      if (existing) return reply.ok(namespaceBody(ns));
      // Creation is asynchronous: 201 + Azure-AsyncOperation; done when the clock reaches readyAt.
      const { headers } = core.operations.begin(ctx, {
        resourceId: ns.id,
        namespace: 'Microsoft.ServiceBus',
        location: ns.location,
        durationMs: Math.max(0, ns.readyAt - core.clock.now()),
      });
      return reply.created(namespaceBody(ns), headers);
    },
  });
  route({
    method: 'PATCH',
    path: NS_PATH,
    operation: 'Microsoft.ServiceBus/namespaces/write',
    handler: async (ctx) => reply.ok(namespaceBody(await write(ctx, requireNamespace(ctx), 'patch'))),
  });
  route({
    method: 'DELETE',
    path: NS_PATH,
    operation: 'Microsoft.ServiceBus/namespaces/delete',
    handler: (ctx) => {
      requireResourceGroup(core, ctx.params.subscriptionId!, ctx.params.resourceGroupName!);
      const ns = model.getNamespace(nsId(ctx));
      if (!ns) return reply.noContent();
      const alias = model.aliasOf(ns.id);
      if (alias && alias.role !== 'PrimaryNotReplicating')
        throw err400(messages.deleteNamespacePaired(alias.name), ns.name);
      const { headers } = core.operations.begin(ctx, {
        resourceId: ns.id,
        namespace: 'Microsoft.ServiceBus',
        location: ns.location,
        complete: () => {
          const current = model.getNamespace(ns.id);
          if (current) model.deleteNamespace(current);
        },
      });
      return reply.accepted(headers);
    },
  });
  route({
    method: 'POST',
    path: '/subscriptions/:subscriptionId/providers/Microsoft.ServiceBus/CheckNameAvailability',
    operation: 'Microsoft.ServiceBus/CheckNameAvailability/action',
    handler: (ctx) => {
      requireSubscription(core, ctx.params.subscriptionId!);
      const name = text(asObject(ctx.json())?.name ?? '');
      if (!NAME.test(name)) {
        return reply.ok({ nameAvailable: false, reason: 'InvalidName', message: messages.invalidName(name) });
      }
      const taken = !!model.namespaceByName(name) || model.allAliases().some((a) => same(a.name, name));
      return reply.ok(
        taken
          ? { nameAvailable: false, reason: 'NameInUse', message: messages.nameInUse(name) }
          : { nameAvailable: true, reason: 'None', message: '' },
      );
    },
  });
}
