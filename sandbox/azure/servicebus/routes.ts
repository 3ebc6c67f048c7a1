/**
 * Microsoft.ServiceBus ARM routes: namespaces (CRUD, name check), queues and topics, Geo-DR aliases
 * (disasterRecoveryConfigs). Authorisation is the core's RBAC over each route's action; the rules
 * below are the Service Bus resource provider's (research §2, §2.5).
 */
import { page } from '../arm/paging';
import { requireResourceGroup, requireSubscription } from '../arm/resources';
import { reply, type RequestContext } from '../context';
import type { SandboxCore } from '../core';
import type { Handler } from '../router';
import { ArmErrors } from '../errors';
import { messages } from './errors';
import type { KeyRef } from './keys';
import {
  type AliasRecord,
  type EncryptionRecord,
  type EntityKind,
  type EntityRecord,
  type IdentityType,
  type KeyState,
  type NamespaceRecord,
  type ServiceBusModel,
  type SkuName,
} from './model';

/** Published Microsoft.ServiceBus api-versions from 2021 on; 2021-11-01 is what @azure/arm-servicebus 6.1.0 sends. */
export const SERVICEBUS_API_VERSIONS = [
  '2021-01-01-preview',
  '2021-06-01-preview',
  '2021-11-01',
  '2022-01-01-preview',
  '2022-10-01-preview',
  '2023-01-01-preview',
  '2024-01-01',
  '2025-05-01-preview',
  '2026-01-01',
];

const NS_TYPE = 'Microsoft.ServiceBus/Namespaces';
const RG_PATH =
  '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.ServiceBus';
const NS_PATH = `${RG_PATH}/namespaces/:namespaceName`;
const NAME = /^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$/;
const ALIAS_NAME = /^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$/;
const SKUS: SkuName[] = ['Basic', 'Standard', 'Premium'];
const IDENTITY_TYPES: IdentityType[] = [
  'SystemAssigned',
  'UserAssigned',
  'SystemAssigned, UserAssigned',
  'None',
];
const MAX_TIMESPAN = 'P10675199DT2H48M5.4775807S';

type Json = Record<string, unknown>;
const asObject = (v: unknown): Json | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
/** A JSON value as text for messages (strings as they are). */
const text = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
const iso = (ms: number): string => new Date(ms).toISOString();
const lower = (s: string): string => s.toLowerCase();
const same = (a: string | undefined, b: string | undefined): boolean => lower(a ?? '') === lower(b ?? '');

export function registerRoutes(core: SandboxCore, model: ServiceBusModel): void {
  core.apiVersions.register('Microsoft.ServiceBus', SERVICEBUS_API_VERSIONS);

  /** Every Service Bus request first applies Geo-DR operations that fell due (state = f(clock)). */
  const route = (spec: {
    method: 'GET' | 'PUT' | 'PATCH' | 'DELETE' | 'POST';
    path: string;
    operation: string;
    handler: Handler;
  }): void =>
    core.routes.arm({
      ...spec,
      handler: (ctx) => {
        model.settleAliases();
        return spec.handler(ctx);
      },
    });

  const nsId = (ctx: RequestContext): string =>
    `/subscriptions/${ctx.params.subscriptionId}/resourceGroups/${ctx.params.resourceGroupName}/providers/Microsoft.ServiceBus/namespaces/${ctx.params.namespaceName}`;

  const requireNamespace = (ctx: RequestContext): NamespaceRecord => {
    requireResourceGroup(core, ctx.params.subscriptionId!, ctx.params.resourceGroupName!);
    const ns = model.getNamespace(nsId(ctx));
    if (!ns)
      throw ArmErrors.resourceNotFound(NS_TYPE, ctx.params.namespaceName!, ctx.params.resourceGroupName!);
    return ns;
  };

  // ─────────────────────────────── wire shapes ───────────────────────────────

  const identityBody = (ns: NamespaceRecord): Json | undefined => {
    if (ns.identityType === 'None') return undefined;
    const system = ns.identityType.includes('SystemAssigned')
      ? core.principals.findByResourceId(ns.id, 'systemAssigned')
      : undefined;
    const uais = Object.fromEntries(
      ns.userAssignedIdentities.map((id) => {
        const p = core.principals.findByResourceId(id, 'userAssigned');
        return [id, p ? { principalId: p.objectId, clientId: p.clientId } : {}];
      }),
    );
    return {
      type: ns.identityType,
      ...(system ? { principalId: system.objectId, tenantId: system.tenantId } : {}),
      ...(ns.userAssignedIdentities.length ? { userAssignedIdentities: uais } : {}),
    };
  };

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
        ...(ns.encryption
          ? {
              encryption: {
                keySource: ns.encryption.keySource,
                keyVaultProperties: ns.encryption.keys.map((k) => ({
                  keyName: k.keyName,
                  keyVaultUri: k.keyVaultUri,
                  // A versionless key reads back with an empty version (Terraform relies on this).
                  keyVersion: k.keyVersion ?? '',
                  ...(k.userAssignedIdentity
                    ? { identity: { userAssignedIdentity: k.userAssignedIdentity } }
                    : {}),
                })),
                requireInfrastructureEncryption: ns.encryption.requireInfrastructureEncryption,
              },
            }
          : {}),
      },
    };
  };

  const entityBody = (e: EntityRecord): Json => ({
    id: e.id,
    name: e.name,
    type: `${NS_TYPE}/${e.kind === 'queues' ? 'Queues' : 'Topics'}`,
    properties: {
      ...e.properties,
      createdAt: iso(e.createdAt),
      updatedAt: iso(e.updatedAt),
      accessedAt: '0001-01-01T00:00:00Z',
      sizeInBytes: 0,
      ...(e.kind === 'queues' ? { messageCount: 0 } : { subscriptionCount: 0 }),
      countDetails: {
        activeMessageCount: 0,
        deadLetterMessageCount: 0,
        scheduledMessageCount: 0,
        transferMessageCount: 0,
        transferDeadLetterMessageCount: 0,
      },
    },
  });

  const aliasBody = (a: AliasRecord): Json => ({
    id: a.id,
    name: a.name,
    type: `${NS_TYPE}/disasterrecoveryconfigs`,
    properties: {
      provisioningState: model.provisioningStateOf(a),
      pendingReplicationOperationsCount: model.pendingReplication(a),
      partnerNamespace: a.partnerNamespace,
      role: a.role,
      ...(a.alternateName ? { alternateName: a.alternateName } : {}),
    },
  });

  // ─────────────────────────────── namespace writes ───────────────────────────────

  const err400 = (message: string, ns?: string) => model.error(400, 'BadRequest', message, ns);

  /** identity → { type, user-assigned ids }, validated (the UAIs must exist). */
  const parseIdentity = (
    input: unknown,
    current: { type: IdentityType; uais: string[] },
  ): { type: IdentityType; uais: string[] } => {
    if (input === undefined || input === null) return current;
    const obj = asObject(input);
    if (!obj) throw err400('The identity property must be an object.');
    const rawType = typeof obj.type === 'string' ? obj.type.replace(/\s*,\s*/, ', ') : undefined;
    const type = IDENTITY_TYPES.find((t) => same(t, rawType));
    if (!type)
      throw err400(`The identity type '${String(obj.type)}' is not valid; use ${IDENTITY_TYPES.join(', ')}.`);
    if (!type.includes('UserAssigned')) return { type, uais: [] };
    // Given: the identities with a non-null value (null removes one, ARM's convention); absent: unchanged.
    const given = asObject(obj.userAssignedIdentities);
    const uais = given
      ? Object.entries(given)
          .filter(([, value]) => value !== null)
          .map(([id]) => id)
      : [...current.uais];
    if (uais.length === 0)
      throw err400("The identity ids must not be null or empty for 'UserAssigned' identity type.");
    if (uais.length > 4) throw err400(messages.tooManyIdentities(uais.length));
    for (const id of uais) {
      if (!core.principals.findByResourceId(id, 'userAssigned')) throw err400(messages.uaiNotFound(id));
    }
    return { type, uais };
  };

  const parseKeys = (input: unknown, ns: string): KeyRef[] => {
    if (input === undefined || input === null) return [];
    if (!Array.isArray(input)) throw err400('keyVaultProperties must be an array.', ns);
    return input.map((raw, i) => {
      const k = asObject(raw) ?? {};
      const keyName = typeof k.keyName === 'string' ? k.keyName : '';
      const keyVaultUri = typeof k.keyVaultUri === 'string' ? k.keyVaultUri : '';
      if (!keyName || !keyVaultUri) throw err400(messages.keyIncomplete(i), ns);
      const version = typeof k.keyVersion === 'string' && k.keyVersion ? k.keyVersion : undefined;
      const uai = asObject(k.identity)?.userAssignedIdentity;
      return {
        keyName,
        keyVaultUri,
        ...(version ? { keyVersion: version } : {}),
        ...(typeof uai === 'string' && uai ? { userAssignedIdentity: uai } : {}),
      };
    });
  };

  /**
   * The CMK rules, in the order the checks are cheapest: tier, key source, removal, key count, infra
   * encryption, emptiness, identity, Geo-DR, then each vault (purge protection, VNet rules) and the
   * identity's access to each key right now. Returns the new encryption record (keys probed).
   */
  const validateEncryption = async (
    existing: NamespaceRecord | undefined,
    draft: NamespaceRecord,
    input: Json,
  ): Promise<EncryptionRecord> => {
    const name = draft.name;
    const before = existing?.encryption;
    const keySource = input.keySource;
    if (keySource !== undefined && keySource !== null && !same(text(keySource), 'Microsoft.KeyVault')) {
      throw err400(before ? messages.cannotRemove : messages.keySource(text(keySource)), name);
    }
    const keys = parseKeys(input.keyVaultProperties, name);
    if (before && keys.length === 0) throw err400(messages.cannotRemove, name);
    if (draft.sku.tier !== 'Premium') throw err400(messages.notPremium(draft.sku.name), name);
    if (keys.length < 1 || keys.length > 3) throw err400(messages.keyCount(keys.length), name);
    const infra = input.requireInfrastructureEncryption === true;
    if (
      before &&
      input.requireInfrastructureEncryption !== undefined &&
      infra !== before.requireInfrastructureEncryption
    ) {
      throw err400(messages.infraEncryption, name);
    }
    if (!before && existing) {
      const queues = model.entities(existing.id, 'queues').length;
      const topics = model.entities(existing.id, 'topics').length;
      if (queues + topics > 0) throw err400(messages.notEmpty(queues, topics), name);
    }
    const identities = new Set(keys.map((k) => lower(k.userAssignedIdentity ?? 'system')));
    if (identities.size > 1) throw err400(messages.oneIdentity, name);
    const uai = keys[0]?.userAssignedIdentity;
    if (uai) {
      if (!draft.userAssignedIdentities.some((u) => same(u, uai)))
        throw err400(messages.uaiNotAssigned(uai), name);
      const alias = existing ? model.aliasOf(existing.id) : undefined;
      if (!before && alias?.role === 'Primary') throw err400(messages.pairedPrimaryUai, name);
    } else if (!draft.identityType.includes('SystemAssigned')) {
      throw err400(messages.noSystemIdentity, name);
    }
    const now = core.clock.now();
    const state: KeyState[] = [];
    for (const key of keys) {
      const vault = model.keys.vault(key.keyVaultUri);
      if (!vault) throw err400(messages.vaultNotFound(key.keyVaultUri), name);
      if (!vault.properties.enableSoftDelete || !vault.properties.enablePurgeProtection) {
        throw err400(messages.purgeProtection(vault.name), name);
      }
      if ((vault.properties.networkAcls?.virtualNetworkRules ?? []).length > 0) {
        throw err400(messages.vnetRules(vault.name), name);
      }
      const principal = model.encryptionPrincipal(draft, key);
      const result = await model.keys.probe(principal, key);
      if (!result.ok) {
        throw err400(
          messages.keyAccess(
            `${key.keyVaultUri.replace(/\/+$/, '')}/keys/${key.keyName}`,
            principal ?? 'none',
            result.detail,
          ),
          name,
        );
      }
      state.push({ usable: true, version: result.version, lastSuccessAt: now, checkedAt: now });
    }
    return {
      keySource: 'Microsoft.KeyVault',
      keys,
      requireInfrastructureEncryption: before ? before.requireInfrastructureEncryption : infra,
      enabledAt: before?.enabledAt ?? now,
      keyState: state,
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

  // ─────────────────────────────── namespaces ───────────────────────────────

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

  // ─────────────────────────────── queues and topics ───────────────────────────────

  const defaults = (kind: EntityKind): Json =>
    kind === 'queues'
      ? {
          lockDuration: 'PT1M',
          maxSizeInMegabytes: 1024,
          requiresDuplicateDetection: false,
          requiresSession: false,
          defaultMessageTimeToLive: MAX_TIMESPAN,
          deadLetteringOnMessageExpiration: false,
          duplicateDetectionHistoryTimeWindow: 'PT10M',
          maxDeliveryCount: 10,
          status: 'Active',
          enableBatchedOperations: true,
          autoDeleteOnIdle: MAX_TIMESPAN,
          enablePartitioning: false,
          enableExpress: false,
          maxMessageSizeInKilobytes: 1024,
        }
      : {
          defaultMessageTimeToLive: MAX_TIMESPAN,
          maxSizeInMegabytes: 1024,
          requiresDuplicateDetection: false,
          duplicateDetectionHistoryTimeWindow: 'PT10M',
          enableBatchedOperations: true,
          status: 'Active',
          supportOrdering: true,
          autoDeleteOnIdle: MAX_TIMESPAN,
          enablePartitioning: false,
          enableExpress: false,
          maxMessageSizeInKilobytes: 1024,
        };
  const READ_ONLY = new Set([
    'createdAt',
    'updatedAt',
    'accessedAt',
    'sizeInBytes',
    'messageCount',
    'subscriptionCount',
    'countDetails',
  ]);

  for (const kind of ['queues', 'topics'] as const) {
    const single = kind === 'queues' ? 'queue' : 'topic';
    const path = `${NS_PATH}/${kind}/:entityName`;
    route({
      method: 'GET',
      path: `${NS_PATH}/${kind}`,
      operation: `Microsoft.ServiceBus/namespaces/${kind}/read`,
      handler: (ctx) => {
        const ns = requireNamespace(ctx);
        model.requireOperable(ns);
        const skip = Number(ctx.query.get('$skip') ?? 0) || 0;
        const top = Number(ctx.query.get('$top') ?? 0) || undefined;
        const items = model.entities(ns.id, kind).slice(skip, top ? skip + top : undefined);
        return reply.ok(page(ctx, items.map(entityBody)));
      },
    });
    route({
      method: 'GET',
      path,
      operation: `Microsoft.ServiceBus/namespaces/${kind}/read`,
      handler: (ctx) => {
        const ns = requireNamespace(ctx);
        model.requireOperable(ns);
        const e = model.entity(ns.id, kind, ctx.params.entityName!);
        if (!e)
          throw model.error(
            404,
            'NotFound',
            messages.entityNotFound(single, ctx.params.entityName!, ns.name),
            ns.name,
          );
        return reply.ok(entityBody(e));
      },
    });
    route({
      method: 'PUT',
      path,
      operation: `Microsoft.ServiceBus/namespaces/${kind}/write`,
      handler: (ctx) => {
        const ns = requireNamespace(ctx);
        if (model.isSecondary(ns.id)) throw err400(messages.entityOnSecondary, ns.name);
        model.requireOperable(ns);
        if (kind === 'topics' && ns.sku.tier === 'Basic') {
          throw err400('Topics are not supported on the Basic tier; use Standard or Premium.', ns.name);
        }
        const name = ctx.params.entityName!;
        if (!/^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,258}$/.test(name)) {
          throw err400(`The ${single} name '${name}' is invalid.`, ns.name);
        }
        const props = asObject(asObject(ctx.json() ?? {})?.properties) ?? {};
        const existing = model.entity(ns.id, kind, name);
        const now = core.clock.now();
        const given = Object.fromEntries(
          Object.entries(props).filter(([k, v]) => !READ_ONLY.has(k) && v !== undefined),
        );
        const e: EntityRecord = {
          id: `${ns.id}/${kind}/${existing?.name ?? name}`,
          name: existing?.name ?? name,
          kind,
          namespaceId: ns.id,
          properties: { ...defaults(kind), ...(existing?.properties ?? {}), ...given },
          createdAt: existing?.createdAt ?? now,
          updatedAt: now,
        };
        model.putEntity(e);
        return reply.ok(entityBody(e));
      },
    });
    route({
      method: 'DELETE',
      path,
      operation: `Microsoft.ServiceBus/namespaces/${kind}/delete`,
      handler: (ctx) => {
        const ns = requireNamespace(ctx);
        if (model.isSecondary(ns.id)) throw err400(messages.entityOnSecondary, ns.name);
        model.requireOperable(ns);
        const e = model.entity(ns.id, kind, ctx.params.entityName!);
        if (!e) return reply.noContent();
        model.deleteEntity(e);
        return reply.ok(undefined);
      },
    });
  }

  // ─────────────────────────────── Geo-DR ───────────────────────────────

  const DR = `${NS_PATH}/disasterRecoveryConfigs`;
  const requireAlias = (ctx: RequestContext, ns: NamespaceRecord): AliasRecord => {
    const alias = model.aliasesOf(ns.id).find((a) => same(a.name, ctx.params.alias));
    if (!alias) {
      throw ArmErrors.resourceNotFound(
        `${NS_TYPE}/disasterRecoveryConfigs`,
        `${ns.name}/${ctx.params.alias}`,
        ns.resourceGroup,
      );
    }
    return alias;
  };

  /** A CMK primary pairs only when the secondary's identity can use the primary's keys (research §2.5). */
  const checkSecondaryKeys = async (primary: NamespaceRecord, secondary: NamespaceRecord): Promise<void> => {
    const enc = primary.encryption;
    if (!enc) return;
    for (const key of enc.keys) {
      let principal: string | undefined;
      if (key.userAssignedIdentity) {
        const uai = key.userAssignedIdentity;
        const encrypted = secondary.encryption?.keys.every((k) => same(k.userAssignedIdentity, uai));
        if (!encrypted || !secondary.userAssignedIdentities.some((u) => same(u, uai))) {
          throw err400(messages.secondaryCmkUai(secondary.name), primary.name);
        }
        principal = core.principals.findByResourceId(uai, 'userAssigned')?.objectId;
      } else {
        principal = core.principals.findByResourceId(secondary.id, 'systemAssigned')?.objectId;
        if (!principal) throw err400(messages.secondaryNoIdentity(secondary.name), primary.name);
      }
      const result = await model.keys.probe(principal, key);
      if (!result.ok)
        throw err400(messages.secondaryKeyAccess(secondary.name, key.keyName, result.detail), primary.name);
    }
  };

  route({
    method: 'GET',
    path: DR,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/read',
    handler: (ctx) => reply.ok(page(ctx, model.aliasesOf(requireNamespace(ctx).id).map(aliasBody))),
  });
  route({
    method: 'GET',
    path: `${DR}/:alias`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/read',
    handler: (ctx) => reply.ok(aliasBody(requireAlias(ctx, requireNamespace(ctx)))),
  });
  route({
    method: 'PUT',
    path: `${DR}/:alias`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/write',
    handler: async (ctx) => {
      const ns = requireNamespace(ctx);
      const aliasName = ctx.params.alias!;
      if (model.isSecondary(ns.id)) throw err400(messages.secondary, ns.name);
      if (!ALIAS_NAME.test(aliasName)) throw err400(`The alias name '${aliasName}' is invalid.`, ns.name);
      const props = asObject(asObject(ctx.json() ?? {})?.properties) ?? {};
      const partnerId = typeof props.partnerNamespace === 'string' ? props.partnerNamespace : '';
      const alternateName =
        typeof props.alternateName === 'string' && props.alternateName ? props.alternateName : undefined;
      const current = model.aliasOf(ns.id);
      if (current && !same(current.name, aliasName))
        throw err400(messages.alreadyPaired(current.name), ns.name);
      if (current?.role === 'Primary') {
        if (same(current.partnerNamespace, partnerId)) return reply.ok(aliasBody(current));
        throw err400(messages.alreadyPaired(current.name), ns.name);
      }
      const elsewhere = model
        .allAliases()
        .some((a) => same(a.name, aliasName) && !same(a.namespaceId, ns.id));
      const namespaceNamed = model.namespaceByName(aliasName);
      if (elsewhere || (namespaceNamed && !same(namespaceNamed.id, ns.id) && !alternateName)) {
        throw err400(messages.aliasNameInUse(aliasName), ns.name);
      }
      if (!partnerId) throw err400('The partnerNamespace property is required.', ns.name);
      const partner = model.getNamespace(partnerId);
      if (!partner) throw err400(messages.partnerNotFound(partnerId), ns.name);
      if (same(partner.id, ns.id)) throw err400(messages.partnerSelf, ns.name);
      // The caller must be allowed to write the partner too (it becomes read-only under the pairing).
      core.rbac.authorize(ctx.principal!.objectId, 'Microsoft.ServiceBus/namespaces/write', partner.id);
      if (partner.sku.tier !== ns.sku.tier || ns.sku.tier === 'Basic') {
        throw err400(messages.partnerSku(ns.sku.tier, partner.sku.tier), ns.name);
      }
      if (model.aliasOf(partner.id)) throw err400(messages.partnerPaired(partner.name), ns.name);
      if (model.entities(partner.id).length > 0)
        throw err400(messages.partnerNotEmpty(partner.name), ns.name);
      await checkSecondaryKeys(ns, partner);

      const now = core.clock.now();
      const toReplicate = model.entities(ns.id).length;
      const dueAt = now + model.pairingDuration(toReplicate);
      const base = {
        name: current?.name ?? aliasName,
        operation: 'pair' as const,
        startedAt: now,
        dueAt,
        toReplicate,
        settled: false,
      };
      const primary: AliasRecord = {
        ...base,
        id: `${ns.id}/disasterRecoveryConfigs/${base.name}`,
        namespaceId: ns.id,
        role: 'Primary',
        partnerNamespace: partner.id,
        ...(alternateName ? { alternateName } : {}),
      };
      model.putAlias(primary);
      model.putAlias({
        ...base,
        id: `${partner.id}/disasterRecoveryConfigs/${base.name}`,
        namespaceId: partner.id,
        role: 'Secondary',
        partnerNamespace: ns.id,
      });
      model.scheduleSettle(dueAt);
      return reply.ok(aliasBody(primary));
    },
  });
  route({
    method: 'DELETE',
    path: `${DR}/:alias`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/delete',
    handler: (ctx) => {
      const ns = requireNamespace(ctx);
      const alias = model.aliasesOf(ns.id).find((a) => same(a.name, ctx.params.alias));
      if (!alias) return reply.noContent();
      if (alias.role !== 'PrimaryNotReplicating' || !model.isSettled(alias)) {
        throw err400(messages.deletePaired(alias.name), ns.name);
      }
      model.deleteAlias(alias);
      return reply.ok(undefined);
    },
  });
  route({
    method: 'POST',
    path: `${DR}/:alias/breakPairing`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/breakPairing/action',
    handler: (ctx) => {
      const ns = requireNamespace(ctx);
      const alias = requireAlias(ctx, ns);
      if (alias.role === 'Secondary') throw err400(messages.breakOnSecondary, ns.name);
      if (alias.role === 'PrimaryNotReplicating') throw err400(messages.notPaired(alias.name), ns.name);
      const now = core.clock.now();
      const dueAt = now + model.options.pairingBaseMs;
      const secondary = model.aliasOf(alias.partnerNamespace);
      model.putAlias({
        ...alias,
        role: 'PrimaryNotReplicating',
        partnerNamespace: '',
        operation: 'break',
        startedAt: now,
        dueAt,
        toReplicate: 0,
        settled: false,
      });
      // The secondary becomes a standalone namespace (keeping what was replicated) when the break completes.
      if (secondary)
        model.putAlias({
          ...secondary,
          operation: 'break',
          startedAt: now,
          dueAt,
          toReplicate: 0,
          settled: false,
        });
      model.scheduleSettle(dueAt);
      return reply.ok(undefined);
    },
  });
  route({
    method: 'POST',
    path: `${DR}/:alias/failover`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/failover/action',
    handler: (ctx) => {
      const ns = requireNamespace(ctx);
      const alias = requireAlias(ctx, ns);
      if (alias.role !== 'Secondary') throw err400(messages.failoverOnPrimary, ns.name);
      if (!model.isSettled(alias))
        throw model.error(409, 'Conflict', messages.replicationInProgress, ns.name);
      const body = asObject(asObject(ctx.json() ?? {})?.properties) ?? {};
      const primaryId = alias.partnerNamespace;
      const safe = body.IsSafeFailover === true || body.isSafeFailover === true;
      if (safe && !same(primaryId.split('/')[2], ns.subscriptionId)) {
        throw err400(messages.safeFailoverSubscription, ns.name);
      }
      const now = core.clock.now();
      const dueAt = now + model.options.pairingBaseMs;
      // Fail-forward: the alias moves to the secondary, which becomes a primary without a partner.
      const oldPrimary = model.aliasOf(primaryId);
      if (oldPrimary) model.deleteAlias(oldPrimary);
      model.putAlias({
        ...alias,
        role: 'PrimaryNotReplicating',
        partnerNamespace: '',
        operation: 'failover',
        startedAt: now,
        dueAt,
        toReplicate: 0,
        settled: false,
      });
      model.scheduleSettle(dueAt);
      return reply.ok(undefined);
    },
  });
  route({
    method: 'POST',
    path: `${DR}/CheckNameAvailability`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/CheckNameAvailability/action',
    handler: (ctx) => {
      const ns = requireNamespace(ctx);
      const name = text(asObject(ctx.json())?.name ?? '');
      if (!ALIAS_NAME.test(name)) {
        return reply.ok({
          nameAvailable: false,
          reason: 'InvalidName',
          message: `The alias name '${name}' is invalid.`,
        });
      }
      const aliasTaken = model.allAliases().some((a) => same(a.name, name));
      const nsTaken = model.namespaceByName(name);
      return reply.ok(
        aliasTaken || (nsTaken && !same(nsTaken.id, ns.id))
          ? { nameAvailable: false, reason: 'NameInUse', message: messages.aliasNameInUse(name) }
          : { nameAvailable: true, reason: 'None', message: '' },
      );
    },
  });
}
