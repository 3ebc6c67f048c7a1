/**
 * The Azure Monitor resource provider of the sandbox (Microsoft.Insights): action groups, metric and log
 * alert rules on the clock, metrics (platform, synthetic Service Bus traffic, custom metrics through the
 * regional ingestion endpoint), diagnostic settings and the Key Vault audit log, and the webhook sink
 * that receives what the alerts send. Registered in providers.ts.
 */
import { z } from 'zod';
import { reply, type RequestContext } from '../context';
import type { ResourceProvider, SandboxCore } from '../core';
import { SandboxError } from '../errors';
import { ServiceBusProvider } from '../servicebus';
import { ACTION_GROUPS, AlertEngine, LOG_ALERTS, METRIC_ALERTS } from './alerts';
import { AuditLog, DIAGNOSTIC_SETTINGS } from './auditLog';
import { registerIngestion } from './ingestion';
import { MetricStore } from './metrics';
import { registerMonitorRoutes } from './routes';
import { WebhookDelivery, WebhookSink } from './sink';
import { SyntheticTraffic } from './traffic';

export interface MonitorParts {
  metrics: MetricStore;
  audit: AuditLog;
  alerts: AlertEngine;
  traffic: SyntheticTraffic;
  sink: WebhookSink;
  delivery: WebhookDelivery;
}

export class MonitorProvider implements ResourceProvider {
  readonly name = 'Microsoft.Insights';
  readonly collections = [ACTION_GROUPS, METRIC_ALERTS, LOG_ALERTS, DIAGNOSTIC_SETTINGS];
  private current?: MonitorParts;

  get parts(): MonitorParts {
    if (!this.current) throw new Error('MonitorProvider used before register(core)');
    return this.current;
  }

  register(core: SandboxCore): void {
    const metrics = new MetricStore(core);
    const traffic = new SyntheticTraffic(core);
    metrics.sources.push(traffic);
    const audit = new AuditLog(core, metrics);
    const delivery = new WebhookDelivery(core);
    const sink = new WebhookSink(core);
    const alerts = new AlertEngine(core, metrics, audit, delivery);
    this.current = { metrics, audit, alerts, traffic, sink, delivery };

    core.observers.push((outcome) => {
      audit.observe(outcome);
      // A write to a namespace may change its encryption: note what decides its operability.
      if (
        outcome.service === 'arm' &&
        outcome.method !== 'GET' &&
        outcome.status < 300 &&
        /\/providers\/Microsoft\.ServiceBus\/namespaces\/[^/]+$/i.test(outcome.path)
      )
        traffic.observe(outcome.path);
    });
    // Service Bus key polls decide operability; each one is a point in the traffic's history.
    const serviceBus = core.providers.find((p): p is ServiceBusProvider => p instanceof ServiceBusProvider);
    serviceBus?.model.keyStateListeners.push((namespaceId) => traffic.observe(namespaceId));
    registerMonitorRoutes({ core, metrics, alerts, delivery });
    registerIngestion(core, metrics);
    sink.register();
    registerControl(core, this.current);
    alerts.resume();
  }

  reset(): void {
    this.current?.alerts.stopAll();
  }
}

/** Control API: the audit log rows, synthetic traffic rates. */
function registerControl(core: SandboxCore, parts: MonitorParts): void {
  const body = <T>(ctx: RequestContext, schema: z.ZodType<T>): T => {
    const r = schema.safeParse(ctx.json() ?? {});
    if (!r.success)
      throw new SandboxError(
        400,
        'InvalidRequestContent',
        r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
      );
    return r.data;
  };
  core.routes.service('control', {
    method: 'GET',
    path: '/_sandbox/logs',
    operation: 'sandbox/logs/get',
    authorize: 'authenticated',
    handler: (ctx) => {
      const workspace = ctx.query.get('workspace') ?? undefined;
      const resourceId = ctx.query.get('resourceId') ?? undefined;
      const since = Number(ctx.query.get('since') ?? 0);
      if (!workspace && !resourceId)
        throw new SandboxError(
          400,
          'InvalidRequestContent',
          "Give 'workspace' (a workspace resource id) or 'resourceId'.",
        );
      if (!Number.isInteger(since) || since < 0)
        throw new SandboxError(
          400,
          'InvalidRequestContent',
          "'since' must be a sequence number (integer ≥ 0).",
        );
      return reply.ok(
        parts.audit.rows({
          ...(workspace ? { workspaceId: workspace } : {}),
          ...(resourceId ? { resourceId } : {}),
          sinceSeq: since,
        }),
      );
    },
  });
  const rateBody = z
    .object({ requestsPerMinute: z.number().int().min(0).max(1_000_000).nullable() })
    .strict();
  core.routes.service('control', {
    method: 'GET',
    path: '/_sandbox/traffic',
    operation: 'sandbox/traffic/get',
    authorize: 'authenticated',
    handler: () => reply.ok({ defaultRequestsPerMinute: parts.traffic.defaultPerMinute }),
  });
  core.routes.service('control', {
    method: 'PUT',
    path: '/_sandbox/traffic',
    operation: 'sandbox/traffic/put',
    authorize: 'authenticated',
    handler: (ctx) => {
      const b = body(
        ctx,
        z.object({ defaultRequestsPerMinute: z.number().int().min(0).max(1_000_000) }).strict(),
      );
      parts.traffic.defaultPerMinute = b.defaultRequestsPerMinute;
      return reply.ok({ defaultRequestsPerMinute: parts.traffic.defaultPerMinute });
    },
  });
  core.routes.service('control', {
    method: 'PUT',
    path: '/_sandbox/traffic/namespaces',
    operation: 'sandbox/traffic/put',
    authorize: 'authenticated',
    handler: (ctx) => {
      const b = body(ctx, rateBody.extend({ namespaceId: z.string().min(1) }));
      if (!core.store.get('serviceBusNamespaces', b.namespaceId))
        throw new SandboxError(404, 'NotFound', `No Service Bus namespace '${b.namespaceId}'.`);
      parts.traffic.setRate(b.namespaceId, b.requestsPerMinute);
      return reply.ok({
        namespaceId: b.namespaceId,
        requestsPerMinute: parts.traffic.rateAt(b.namespaceId, core.clock.now()),
      });
    },
  });
}

export { sinkUrl } from './sink';
