/**
 * Queues and topics: PUT / GET / list (`$skip`/`$top`, `nextLink`) / DELETE (no topics on Basic). Every
 * handler first asks `model.requireOperable` (model.ts), which is where an activating namespace, or a
 * CMK namespace whose keys are all gone, is refused with Service Bus's 409; a paired secondary refuses
 * entity writes.
 */
import { page } from '../arm/paging';
import { reply, type RequestContext } from '../context';
import { messages } from './errors';
import type { EntityKind, EntityRecord, NamespaceRecord } from './model';
import { asObject, iso, NS_PATH, NS_TYPE, type Json, type ServiceBusRouting } from './routing';

const MAX_TIMESPAN = 'P10675199DT2H48M5.4775807S';

export function registerEntities({ core, model, route, requireNamespace, err400 }: ServiceBusRouting): void {
  /**
   * The namespace of an entity request, if it can serve entities: `model.requireOperable` (model.ts) is
   * where an activating namespace, or a CMK namespace with no usable key, is refused with a 409.
   */
  const operableNamespace = (ctx: RequestContext): NamespaceRecord => {
    const ns = requireNamespace(ctx);
    model.requireOperable(ns);
    return ns;
  };

  /** Entity writes also refuse a paired secondary (it only receives what the primary replicates). */
  const writableNamespace = (ctx: RequestContext): NamespaceRecord => {
    const ns = requireNamespace(ctx);
    if (model.isSecondary(ns.id)) throw err400(messages.entityOnSecondary, ns.name);
    model.requireOperable(ns);
    return ns;
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
        const ns = operableNamespace(ctx);
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
        const ns = operableNamespace(ctx);
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
        const ns = writableNamespace(ctx);
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
        const ns = writableNamespace(ctx);
        const e = model.entity(ns.id, kind, ctx.params.entityName!);
        if (!e) return reply.noContent();
        model.deleteEntity(e);
        return reply.ok(undefined);
      },
    });
  }
}
