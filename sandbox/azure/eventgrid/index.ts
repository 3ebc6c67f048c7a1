/**
 * The Event Grid resource provider of the sandbox (Microsoft.EventGrid): system topics on Key Vault
 * vaults and their event subscriptions, through ARM (resources.ts), and Event Grid's push delivery on
 * the clock (delivery.ts) of the events the Key Vault provider raises (`KeyVaultProvider.onEvent`).
 * Registered in providers.ts after the Key Vault provider.
 *
 * Sandbox settings (control API `/_sandbox/eventgrid/*`, see README): which local Functions host an
 * `AzureFunction` destination's function app is (`npm start` registers the app's host), delivery
 * faults (duplicates, delays), and the delivery log.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { requireResourceGroup, requireSubscription as requireArmSubscription } from '../arm/resources';
import { page } from '../arm/paging';
import { parseResourceId } from '../arm/ids';
import { reply, type RequestContext } from '../context';
import type { ResourceProvider, SandboxCore } from '../core';
import { ArmErrors, SandboxError } from '../errors';
import { KeyVaultProvider } from '../keyvault';
import type { KeyVaultEvent } from '../keyvault/model';
import { DeliveryEngine, type SubscriptionView, type Target } from './delivery';
import { eventGridTime, fromKeyVault, type PublishedEvent } from './events';
import { matches } from './filters';
import {
  checkSubscriptionName,
  checkSystemTopicName,
  EVENT_SUBSCRIPTIONS,
  eventSubscriptionBody,
  MAX_SUBSCRIPTIONS_PER_TOPIC,
  mergeSubscriptionPatch,
  newMetricResourceId,
  parseEventSubscription,
  parseSystemTopic,
  parseTags,
  SYSTEM_TOPICS,
  systemTopicBody,
  type EventSubscriptionRecord,
  type ParsedSubscription,
  type SystemTopicRecord,
} from './resources';
import { toWire } from './events';

/** Every published Microsoft.EventGrid version from 2021 on (docs/ARCHITECTURE.md "Sandbox principles"); the SDK sends 2022-06-15. */
export const EVENTGRID_API_VERSIONS = [
  '2021-06-01-preview',
  '2021-10-15-preview',
  '2021-12-01',
  '2022-06-15',
  '2023-06-01-preview',
  '2023-12-15-preview',
  '2024-06-01-preview', // [U] what newer Azure CLIs send (the installed az 2.45 sends 2022-06-15)
  '2024-12-15-preview',
  '2025-02-15',
  '2025-04-01-preview',
];

const NS = 'Microsoft.EventGrid';
const RG = '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName';
const TOPIC = `${RG}/providers/Microsoft.EventGrid/systemTopics/:systemTopicName`;
const SUBSCRIPTION = `${TOPIC}/eventSubscriptions/:eventSubscriptionName`;
/** How long the CloudEvents / Event Grid handshake waits for the endpoint (Azure: 30 s). */
const HANDSHAKE_TIMEOUT_MS = 30_000;

export interface FunctionAppEndpoint {
  /** ARM id of the function app (`…/providers/Microsoft.Web/sites/<app>`). */
  resourceId: string;
  /** Base URL of the local Functions host, e.g. http://127.0.0.1:7071 */
  baseUrl: string;
  /** The host's Event Grid extension system key (`code`). */
  systemKey: string;
}

export class EventGridProvider implements ResourceProvider {
  readonly name = NS;
  readonly collections = [SYSTEM_TOPICS, EVENT_SUBSCRIPTIONS];
  private core?: SandboxCore;
  private keyVault?: KeyVaultProvider;
  private engine?: DeliveryEngine;
  /**
   * Function app id (lower-case) → local host. A sandbox setting, not part of the estate: it survives
   * `/_sandbox/reset` (the host is still there) and is registered again by `npm start` at each start.
   */
  private readonly functionHosts = new Map<string, FunctionAppEndpoint>();

  get delivery(): DeliveryEngine {
    if (!this.engine) throw new Error('EventGridProvider used before register(core)');
    return this.engine;
  }

  register(core: SandboxCore): void {
    this.core = core;
    this.keyVault = core.providers.find((p): p is KeyVaultProvider => p instanceof KeyVaultProvider);
    this.engine = new DeliveryEngine(
      core.clock,
      {
        subscription: (id) => {
          const s = core.store.get<EventSubscriptionRecord>(EVENT_SUBSCRIPTIONS, id);
          return s && s.provisioningState !== 'Creating' ? view(s) : undefined;
        },
        sourceExists: (source) => this.sourceExists(source),
        target: (id) => this.target(id),
        storage: () => core.storage,
        log: (line) => console.warn(line),
      },
      () => core.caPem,
    );
    core.apiVersions.register(NS, EVENTGRID_API_VERSIONS);
    // A Key Vault event reaches every matching subscription of the vault's system topic.
    this.keyVault?.onEvent((event) => this.publishKeyVaultEvent(event));
    registerRoutes(core, this);
  }

  reset(): void {
    this.engine?.reset();
  }

  close(): void {
    this.engine?.close();
  }

  // ---- settings --------------------------------------------------------------------------------------

  /** Maps an AzureFunction destination's function app to a local Functions host (what `npm start` does). */
  registerFunctionApp(app: FunctionAppEndpoint): FunctionAppEndpoint {
    const parsed = parseResourceId(app.resourceId);
    if (parsed.fullType?.toLowerCase() !== 'microsoft.web/sites' || parsed.names.length !== 1)
      throw new SandboxError(
        400,
        'InvalidRequestContent',
        `'${app.resourceId}' is not a function app resource id.`,
      );
    let base: URL;
    try {
      base = new URL(app.baseUrl);
    } catch {
      throw new SandboxError(400, 'InvalidRequestContent', `'${app.baseUrl}' is not an absolute URL.`);
    }
    const value = { ...app, baseUrl: `${base.protocol}//${base.host}` };
    this.functionHosts.set(app.resourceId.toLowerCase(), value);
    return value;
  }

  functionApps(): FunctionAppEndpoint[] {
    return [...this.functionHosts.values()];
  }

  // ---- publishing ------------------------------------------------------------------------------------

  /** Publishes an event of a source (vault) to the matching subscriptions of its system topic. */
  publish(event: PublishedEvent): number {
    const core = this.requireCore();
    const topics = core.store
      .list<SystemTopicRecord>(SYSTEM_TOPICS)
      .filter((t) => t.source.toLowerCase() === event.source.toLowerCase());
    const targets: SubscriptionView[] = [];
    for (const topic of topics) {
      for (const s of core.store.list<EventSubscriptionRecord>(EVENT_SUBSCRIPTIONS, `${topic.id}/`)) {
        if (s.provisioningState === 'Creating') continue;
        if (s.expirationTimeUtc && Date.parse(s.expirationTimeUtc) <= core.clock.now()) continue;
        // Advanced filters read the event as delivered; build it only when one needs it.
        const wire = s.filter.advancedFilters.length ? toWire(event, s.eventDeliverySchema) : {};
        if (!matches(s.filter, { eventType: event.eventType, subject: event.subject, wire })) continue;
        targets.push(view(s));
      }
    }
    this.delivery.publish(event, targets);
    return targets.length;
  }

  private publishKeyVaultEvent(event: KeyVaultEvent): void {
    this.publish(fromKeyVault(event));
  }

  // ---- helpers ---------------------------------------------------------------------------------------

  requireCore(): SandboxCore {
    if (!this.core) throw new Error('EventGridProvider used before register(core)');
    return this.core;
  }

  /** A vault source exists while the Key Vault provider has a live vault with that id. */
  sourceExists(source: string): boolean {
    const name = parseResourceId(source).name;
    if (!name || !this.keyVault) return false;
    const vault = this.keyVault.model.vaultByName(name);
    return vault !== undefined && vault.id.toLowerCase() === source.toLowerCase();
  }

  /**
   * Removes the event subscriptions of system topics whose vault is gone (Azure deletes a deleted
   * vault's event subscriptions; recovering the vault does not bring them back). Noticed lazily.
   */
  reconcile(): void {
    const core = this.requireCore();
    for (const topic of core.store.list<SystemTopicRecord>(SYSTEM_TOPICS)) {
      if (this.sourceExists(topic.source)) continue;
      for (const s of core.store.list<EventSubscriptionRecord>(EVENT_SUBSCRIPTIONS, `${topic.id}/`)) {
        this.delivery.dropSubscription(s.id, 'SourceDeleted');
        core.store.delete(EVENT_SUBSCRIPTIONS, s.id);
      }
    }
  }

  private target(subscriptionId: string): Target {
    const core = this.requireCore();
    const s = core.store.get<EventSubscriptionRecord>(EVENT_SUBSCRIPTIONS, subscriptionId);
    if (!s) return { ok: false, outcome: 'NotFound', detail: 'subscription deleted' };
    const d = s.destination;
    if (d.endpointType === 'WebHook') return { ok: true, url: d.endpointUrl, kind: 'WebHook' };
    const id = parseResourceId(d.resourceId);
    const siteId = d.resourceId.replace(/\/functions\/[^/]+$/i, '');
    const app = this.functionHosts.get(siteId.toLowerCase());
    if (!app)
      return {
        ok: false,
        outcome: 'InvalidAzureFunctionDestination',
        detail: `no local host registered for ${siteId}`,
      };
    const fn = encodeURIComponent(id.name ?? '');
    return {
      ok: true,
      kind: 'AzureFunction',
      url: `${app.baseUrl}/runtime/webhooks/eventgrid?functionName=${fn}&code=${encodeURIComponent(app.systemKey)}`,
    };
  }

  /**
   * The WebHook validation handshake Event Grid performs when a subscription is created or its
   * endpoint changes. Event Grid schema: POST a SubscriptionValidationEvent and expect 200 with
   * `{ validationResponse }`; CloudEvents: OPTIONS with WebHook-Request-Origin and expect 200 with
   * WebHook-Allowed-Origin. Throws Azure's failure [U: code 'Url validation', text from the docs].
   */
  async handshake(
    url: string,
    schema: ParsedSubscription['eventDeliverySchema'],
    topic: SystemTopicRecord,
  ): Promise<void> {
    const failed = (why: string) =>
      new SandboxError(
        400,
        'Url validation',
        `The attempt to validate the provided endpoint ${baseUrlSafe(url)} failed. ${why} For more details, visit https://aka.ms/esvalidation.`,
      );
    const engine = this.delivery;
    if (schema === 'CloudEventSchemaV1_0') {
      const origin = 'eventgrid.azure.net';
      const r = await withTimeout(
        engine.send(url, 'OPTIONS', { 'WebHook-Request-Origin': origin }),
        HANDSHAKE_TIMEOUT_MS,
      );
      if (r.status !== 200) throw failed(`The OPTIONS request returned ${r.status || r.outcome}.`);
      const allowed = String(r.headers['webhook-allowed-origin'] ?? '');
      if (allowed !== '*' && !allowed.split(',').some((o) => o.trim().toLowerCase() === origin))
        throw failed('The response did not allow the origin eventgrid.azure.net (WebHook-Allowed-Origin).');
      return;
    }
    const code = randomUUID();
    const event = {
      id: randomUUID(),
      topic: topic.source,
      subject: '',
      data: { validationCode: code },
      eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
      eventTime: eventGridTime(this.requireCore().clock.now()),
      metadataVersion: '1',
      dataVersion: '2',
    };
    const r = await withTimeout(
      engine.send(
        url,
        'POST',
        {
          'Content-Type': 'application/json; charset=utf-8',
          'aeg-event-type': 'SubscriptionValidation',
          'aeg-data-version': '2',
          'aeg-metadata-version': '1',
        },
        JSON.stringify([event]),
      ),
      HANDSHAKE_TIMEOUT_MS,
    );
    // Only 200 counts (202 is not accepted) and only the synchronous echo: manual validation
    // (validationUrl) is not modelled.
    if (r.status !== 200) throw failed(`The POST request returned ${r.status || r.outcome}.`);
    let echoed: unknown;
    try {
      echoed = (JSON.parse(r.text) as { validationResponse?: unknown }).validationResponse;
    } catch {
      echoed = undefined;
    }
    if (echoed !== code) throw failed('The response did not echo the validationCode as validationResponse.');
  }
}

function view(s: EventSubscriptionRecord): SubscriptionView {
  return {
    id: s.id,
    name: s.name,
    source: s.source,
    schema: s.eventDeliverySchema,
    endpointType: s.destination.endpointType,
    maxDeliveryAttempts: s.retryPolicy.maxDeliveryAttempts,
    eventTimeToLiveInMinutes: s.retryPolicy.eventTimeToLiveInMinutes,
    ...(s.deadLetterDestination
      ? {
          deadLetter: {
            container: s.deadLetterDestination.blobContainerName,
            storageAccountId: s.deadLetterDestination.resourceId,
          },
        }
      : {}),
  };
}

function baseUrlSafe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url;
  }
}

async function withTimeout<T extends { status: number; outcome: string }>(
  p: Promise<T>,
  ms: number,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve({ status: 0, outcome: 'TimedOut' } as T), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- ARM and control routes ----------------------------------------------------------------------------

function registerRoutes(core: SandboxCore, provider: EventGridProvider): void {
  const p = (ctx: RequestContext, key: string): string => ctx.params[key] ?? '';
  const topicId = (ctx: RequestContext): string =>
    `/subscriptions/${p(ctx, 'subscriptionId')}/resourceGroups/${p(ctx, 'resourceGroupName')}/providers/Microsoft.EventGrid/systemTopics/${p(ctx, 'systemTopicName')}`;
  const requireTopic = (ctx: RequestContext): SystemTopicRecord => {
    requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'));
    const t = core.store.get<SystemTopicRecord>(SYSTEM_TOPICS, topicId(ctx));
    if (!t)
      throw ArmErrors.resourceNotFound(
        'Microsoft.EventGrid/systemTopics',
        p(ctx, 'systemTopicName'),
        p(ctx, 'resourceGroupName'),
      );
    return t;
  };
  const subscriptionId = (ctx: RequestContext): string =>
    `${topicId(ctx)}/eventSubscriptions/${p(ctx, 'eventSubscriptionName')}`;
  const requireSubscription = (ctx: RequestContext): EventSubscriptionRecord => {
    requireTopic(ctx);
    provider.reconcile();
    const s = core.store.get<EventSubscriptionRecord>(EVENT_SUBSCRIPTIONS, subscriptionId(ctx));
    if (!s || s.provisioningState === 'Creating')
      throw ArmErrors.resourceNotFound(
        'Microsoft.EventGrid/systemTopics/eventSubscriptions',
        `${p(ctx, 'systemTopicName')}/${p(ctx, 'eventSubscriptionName')}`,
        p(ctx, 'resourceGroupName'),
      );
    return s;
  };

  // ── system topics ──
  core.routes.arm({
    method: 'PUT',
    path: TOPIC,
    operation: 'Microsoft.EventGrid/systemTopics/write',
    handler: (ctx) => {
      requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'));
      checkSystemTopicName(p(ctx, 'systemTopicName'));
      const id = topicId(ctx);
      const existing = core.store.get<SystemTopicRecord>(SYSTEM_TOPICS, id);
      const input = parseSystemTopic(ctx.json(), existing);
      if (!provider.sourceExists(input.source))
        throw ArmErrors.badRequest('InvalidRequest', `The source resource '${input.source}' does not exist.`);
      // One system topic per source, as Azure enforces.
      const other = core.store
        .list<SystemTopicRecord>(SYSTEM_TOPICS)
        .find(
          (t) =>
            t.source.toLowerCase() === input.source.toLowerCase() && t.id.toLowerCase() !== id.toLowerCase(),
        );
      if (other)
        throw ArmErrors.badRequest(
          'InvalidRequest',
          `Only one system topic is allowed per source. System topic '${other.id}' already exists for source '${input.source}'.`,
        );
      const record: SystemTopicRecord = {
        id: existing?.id ?? id,
        name: existing?.name ?? p(ctx, 'systemTopicName'),
        location: input.location,
        tags: input.tags,
        source: existing?.source ?? input.source,
        topicType: input.topicType,
        metricResourceId: existing?.metricResourceId ?? newMetricResourceId(),
        ...(input.identityType === 'SystemAssigned'
          ? {
              identity: {
                type: 'SystemAssigned',
                principalId: core.principals.ensureSystemAssigned(existing?.id ?? id).objectId,
                tenantId: core.options.tenantId,
              },
            }
          : {}),
      };
      if (input.identityType !== 'SystemAssigned' && existing?.identity)
        core.principals.removeSystemAssigned(record.id);
      core.store.put(SYSTEM_TOPICS, record.id, record);
      const { headers } = core.operations.begin(ctx, {
        resourceId: record.id,
        namespace: NS,
        location: record.location,
        result: () => systemTopicBody(record),
      });
      const body = systemTopicBody(record, existing ? 'Updating' : 'Creating');
      return existing ? { status: 200, body, headers } : reply.created(body, headers);
    },
  });

  core.routes.arm({
    method: 'PATCH',
    path: TOPIC,
    operation: 'Microsoft.EventGrid/systemTopics/write',
    handler: (ctx) => {
      const t = requireTopic(ctx);
      const body = ctx.json();
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw ArmErrors.invalidRequestContent('The request body must be a JSON object.');
      const b = body as { tags?: unknown };
      const next: SystemTopicRecord = { ...t, ...(b.tags !== undefined ? { tags: parseTags(b.tags) } : {}) };
      core.store.put(SYSTEM_TOPICS, t.id, next);
      return reply.ok(systemTopicBody(next));
    },
  });

  core.routes.arm({
    method: 'GET',
    path: TOPIC,
    operation: 'Microsoft.EventGrid/systemTopics/read',
    handler: (ctx) => reply.ok(systemTopicBody(requireTopic(ctx))),
  });

  core.routes.arm({
    method: 'DELETE',
    path: TOPIC,
    operation: 'Microsoft.EventGrid/systemTopics/delete',
    handler: (ctx) => {
      requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'));
      const t = core.store.get<SystemTopicRecord>(SYSTEM_TOPICS, topicId(ctx));
      if (!t) return reply.noContent();
      for (const s of core.store.list<EventSubscriptionRecord>(EVENT_SUBSCRIPTIONS, `${t.id}/`))
        provider.delivery.dropSubscription(s.id, 'EventSubscriptionDeleted');
      core.deleteUnder(t.id);
      if (t.identity) core.principals.removeSystemAssigned(t.id);
      const { headers } = core.operations.begin(ctx, {
        resourceId: t.id,
        namespace: NS,
        location: t.location,
      });
      return reply.accepted(headers);
    },
  });

  for (const scope of ['rg', 'sub'] as const) {
    core.routes.arm({
      method: 'GET',
      path:
        scope === 'rg'
          ? `${RG}/providers/Microsoft.EventGrid/systemTopics`
          : '/subscriptions/:subscriptionId/providers/Microsoft.EventGrid/systemTopics',
      operation: 'Microsoft.EventGrid/systemTopics/read',
      handler: (ctx) => {
        const prefix =
          scope === 'rg'
            ? (requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName')),
              `/subscriptions/${p(ctx, 'subscriptionId')}/resourceGroups/${p(ctx, 'resourceGroupName')}/`)
            : (requireArmSubscription(core, p(ctx, 'subscriptionId')),
              `/subscriptions/${p(ctx, 'subscriptionId')}/`);
        const items = core.store
          .list<SystemTopicRecord>(SYSTEM_TOPICS, prefix)
          .map((t) => systemTopicBody(t));
        return reply.ok(page(ctx, items));
      },
    });
  }

  // ── event subscriptions ──
  core.routes.arm({
    method: 'PUT',
    path: SUBSCRIPTION,
    operation: 'Microsoft.EventGrid/systemTopics/eventSubscriptions/write',
    handler: async (ctx) => {
      const topic = requireTopic(ctx);
      checkSubscriptionName(p(ctx, 'eventSubscriptionName'));
      provider.reconcile();
      const id = subscriptionId(ctx);
      const existing = core.store.get<EventSubscriptionRecord>(EVENT_SUBSCRIPTIONS, id);
      const parsed = parseEventSubscription(ctx.json(), core.clock.now());
      return putSubscription(ctx, topic, id, existing, parsed);
    },
  });

  core.routes.arm({
    method: 'PATCH',
    path: SUBSCRIPTION,
    operation: 'Microsoft.EventGrid/systemTopics/eventSubscriptions/write',
    handler: async (ctx) => {
      const topic = requireTopic(ctx);
      const current = requireSubscription(ctx);
      const parsed = parseEventSubscription(mergeSubscriptionPatch(current, ctx.json()), core.clock.now());
      return putSubscription(ctx, topic, current.id, current, parsed);
    },
  });

  const putSubscription = async (
    ctx: RequestContext,
    topic: SystemTopicRecord,
    id: string,
    existing: EventSubscriptionRecord | undefined,
    parsed: ParsedSubscription,
  ) => {
    const siblings = core.store.list<EventSubscriptionRecord>(EVENT_SUBSCRIPTIONS, `${topic.id}/`);
    if (!existing && siblings.length >= MAX_SUBSCRIPTIONS_PER_TOPIC)
      throw ArmErrors.badRequest(
        'InvalidRequest',
        `A topic can have at most ${MAX_SUBSCRIPTIONS_PER_TOPIC} event subscriptions.`,
      );
    const record: EventSubscriptionRecord = {
      id: existing?.id ?? id,
      name: existing?.name ?? p(ctx, 'eventSubscriptionName'),
      topicId: topic.id,
      source: topic.source,
      ...parsed,
      provisioningState: existing ? 'Updating' : 'Creating',
    };
    // The handshake happens for a WebHook whose URL is new (AzureFunction destinations need none).
    const d = parsed.destination;
    const prev = existing?.destination;
    const needsHandshake =
      d.endpointType === 'WebHook' &&
      (prev?.endpointType !== 'WebHook' ||
        prev.endpointUrl !== d.endpointUrl ||
        existing?.eventDeliverySchema !== parsed.eventDeliverySchema);
    let failure: SandboxError | undefined;
    if (needsHandshake && d.endpointType === 'WebHook') {
      try {
        await provider.handshake(d.endpointUrl, parsed.eventDeliverySchema, topic);
      } catch (error) {
        if (!(error instanceof SandboxError)) throw error;
        failure = error;
      }
    }
    // Nothing is stored when validation fails; the async operation reports the failure.
    if (!failure)
      core.store.put(EVENT_SUBSCRIPTIONS, record.id, { ...record, provisioningState: 'Succeeded' });
    const { headers } = core.operations.begin(ctx, {
      resourceId: record.id,
      namespace: NS,
      location: topic.location,
      complete: () => {
        if (failure) throw failure;
      },
      result: () => eventSubscriptionBody({ ...record, provisioningState: 'Succeeded' }),
    });
    const body = eventSubscriptionBody(record);
    return existing ? { status: 200, body, headers } : reply.created(body, headers);
  };

  core.routes.arm({
    method: 'GET',
    path: SUBSCRIPTION,
    operation: 'Microsoft.EventGrid/systemTopics/eventSubscriptions/read',
    handler: (ctx) => reply.ok(eventSubscriptionBody(requireSubscription(ctx))),
  });

  core.routes.arm({
    method: 'DELETE',
    path: SUBSCRIPTION,
    operation: 'Microsoft.EventGrid/systemTopics/eventSubscriptions/delete',
    handler: (ctx) => {
      const topic = requireTopic(ctx);
      const id = subscriptionId(ctx);
      const s = core.store.get<EventSubscriptionRecord>(EVENT_SUBSCRIPTIONS, id);
      if (!s) return reply.noContent();
      provider.delivery.dropSubscription(s.id, 'EventSubscriptionDeleted');
      core.store.delete(EVENT_SUBSCRIPTIONS, s.id);
      const { headers } = core.operations.begin(ctx, {
        resourceId: s.id,
        namespace: NS,
        location: topic.location,
      });
      return reply.accepted(headers);
    },
  });

  core.routes.arm({
    method: 'GET',
    path: `${TOPIC}/eventSubscriptions`,
    operation: 'Microsoft.EventGrid/systemTopics/eventSubscriptions/read',
    handler: (ctx) => {
      const topic = requireTopic(ctx);
      provider.reconcile();
      const items = core.store
        .list<EventSubscriptionRecord>(EVENT_SUBSCRIPTIONS, `${topic.id}/`)
        .filter((s) => s.provisioningState !== 'Creating')
        .map(eventSubscriptionBody);
      return reply.ok(page(ctx, items));
    },
  });

  core.routes.arm({
    method: 'POST',
    path: `${SUBSCRIPTION}/getFullUrl`,
    operation: 'Microsoft.EventGrid/systemTopics/eventSubscriptions/getFullUrl/action',
    handler: (ctx) => {
      const s = requireSubscription(ctx);
      if (s.destination.endpointType !== 'WebHook')
        throw ArmErrors.badRequest('InvalidRequest', 'getFullUrl is only valid for WebHook destinations.');
      return reply.ok({ endpointUrl: s.destination.endpointUrl });
    },
  });

  core.routes.arm({
    method: 'POST',
    path: `${SUBSCRIPTION}/getDeliveryAttributes`,
    operation: 'Microsoft.EventGrid/systemTopics/eventSubscriptions/getDeliveryAttributes/action',
    handler: (ctx) => {
      requireSubscription(ctx);
      return reply.ok({ value: [] });
    },
  });

  // ── sandbox control API ──
  const control = (
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    handler: (ctx: RequestContext) => unknown,
  ) =>
    core.routes.service('control', {
      method,
      path: `/_sandbox/eventgrid${path}`,
      operation: `sandbox/eventgrid/${method.toLowerCase()}`,
      authorize: 'authenticated',
      handler: async (ctx) => {
        const result = await handler(ctx);
        return result === undefined ? reply.noContent() : reply.ok(result);
      },
    });
  const parse = <T>(ctx: RequestContext, schema: z.ZodType<T>): T => {
    const r = schema.safeParse(ctx.json() ?? {});
    if (!r.success)
      throw new SandboxError(
        400,
        'InvalidRequestContent',
        r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
      );
    return r.data;
  };
  const functionAppBody = z.object({
    resourceId: z.string().min(1),
    baseUrl: z.string().min(1),
    systemKey: z.string().min(1),
  });
  const faultBody = z.object({
    effect: z.enum(['duplicate', 'delay']),
    delayMs: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600_000)
      .optional(),
    match: z.object({ eventType: z.string().optional(), subscription: z.string().optional() }).default({}),
    count: z.number().int().positive().optional(),
  });
  control('GET', '/function-apps', () => provider.functionApps());
  control('PUT', '/function-apps', (ctx) => provider.registerFunctionApp(parse(ctx, functionAppBody)));
  control('GET', '/faults', () => provider.delivery.listRules());
  control('POST', '/faults', (ctx) => {
    const b = parse(ctx, faultBody);
    if (b.effect === 'delay' && b.delayMs === undefined)
      throw new SandboxError(400, 'InvalidRequestContent', 'delayMs: required for a delay fault');
    return provider.delivery.addRule({
      effect: b.effect,
      match: b.match,
      ...(b.delayMs !== undefined ? { delayMs: b.delayMs } : {}),
      ...(b.count !== undefined ? { count: b.count } : {}),
    });
  });
  control('DELETE', '/faults', () => provider.delivery.clearRules());
  control('GET', '/deliveries', (ctx) => {
    const since = ctx.query.get('since');
    const subscription = ctx.query.get('subscription') ?? undefined;
    return {
      attempts: provider.delivery.attempts({
        ...(subscription ? { subscription } : {}),
        ...(since ? { sinceSeq: Number(since) } : {}),
      }),
      outcomes: provider.delivery.outcomes(subscription ? { subscription } : {}),
      pending: provider.delivery.pendingCount(),
    };
  });
}
