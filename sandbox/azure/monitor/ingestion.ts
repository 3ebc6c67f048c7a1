import { z } from 'zod';
import type { RequestContext } from '../context';
import type { SandboxCore } from '../core';
import { SandboxError } from '../errors';
import { MINUTE, type MetricStore } from './metrics';
import { resourceExists } from './routes';

/**
 * Azure Monitor's custom-metrics ingestion endpoint:
 * `POST https://<region>.monitoring.<suffix>/<resourceId>/metrics` with a bearer token for
 * `https://monitoring.azure.com/` (checked by the pipeline: wrong audience → 401) and the caller holding
 * `Microsoft.Insights/Metrics/Write` — the Monitoring Metrics Publisher role — on the resource (403
 * otherwise). Body: `{ time, data: { baseData: { metric, namespace, dimNames?, series: [{ dimValues?,
 * min, max, sum, count }] } } }`. The value lands in the minute bucket of `time`; the metric and its
 * namespace become queryable (`metricnamespace=<namespace>`) and alertable.
 *
 * [U] Error codes: the ingestion API documents only `{ error: { code, message } }`; the codes used
 * here (BadRequest, ResourceNotFound, Forbidden) follow ARM's.
 */
const seriesSchema = z.object({
  dimValues: z.array(z.string()).optional(),
  min: z.number(),
  max: z.number(),
  sum: z.number(),
  count: z.number().int().positive(),
});
const documentSchema = z.object({
  time: z.string().min(1),
  data: z.object({
    baseData: z.object({
      metric: z.string().min(1).max(256),
      namespace: z.string().min(1).max(256),
      dimNames: z.array(z.string().min(1).max(256)).max(10).optional(),
      series: z.array(seriesSchema).min(1),
    }),
  }),
});

/** [U] The ingestion docs: points older than 20 minutes or more than 5 minutes ahead are refused. */
const MAX_AGE_MS = 20 * MINUTE;
const MAX_AHEAD_MS = 5 * MINUTE;
const RESOURCE = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/[^/]+\/[^/]+\/[^/]+$/i;

export function registerIngestion(core: SandboxCore, metrics: MetricStore): void {
  const resourceOf = (ctx: RequestContext): string => ctx.path.replace(/\/metrics$/i, '');
  core.routes.monitoring({
    method: 'POST',
    path: '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/:provider/:type/:name/metrics',
    operation: 'Microsoft.Insights/Metrics/Write',
    authorize: (ctx) => {
      // Data action of Monitoring Metrics Publisher, over the resource (inherited from RG/subscription).
      const resourceId = resourceOf(ctx);
      if (
        !core.rbac.isAllowed(
          ctx.principal!.objectId,
          'Microsoft.Insights/Metrics/Write',
          resourceId,
          'dataAction',
        )
      )
        throw new SandboxError(
          403,
          'Forbidden',
          `The principal '${ctx.principal!.objectId}' does not have 'Microsoft.Insights/Metrics/Write' over '${resourceId}'. Assign the Monitoring Metrics Publisher role.`,
        );
    },
    handler: (ctx) => {
      const resourceId = resourceOf(ctx);
      if (!RESOURCE.test(resourceId))
        throw new SandboxError(400, 'BadRequest', `'${resourceId}' is not a resource id.`);
      if (!resourceExists(core, resourceId))
        throw new SandboxError(404, 'ResourceNotFound', `The resource '${resourceId}' was not found.`);
      let raw: unknown;
      try {
        raw = ctx.json();
      } catch {
        throw new SandboxError(400, 'BadRequest', 'The request body is not valid JSON.');
      }
      const parsed = documentSchema.safeParse(raw);
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        throw new SandboxError(
          400,
          'BadRequest',
          `Invalid metric document: ${i?.path.join('.') || 'body'}: ${i?.message ?? 'invalid'}.`,
        );
      }
      const doc = parsed.data;
      const time = Date.parse(doc.time);
      if (Number.isNaN(time))
        throw new SandboxError(400, 'BadRequest', `'time' must be an ISO 8601 date-time; got '${doc.time}'.`);
      const now = core.clock.now();
      if (time < now - MAX_AGE_MS || time > now + MAX_AHEAD_MS)
        throw new SandboxError(
          400,
          'BadRequest',
          `The metric time '${doc.time}' is outside the accepted window (20 minutes before to 5 minutes after ${new Date(now).toISOString()}).`,
        );
      const { metric, namespace, dimNames = [], series } = doc.data.baseData;
      if (namespace.toLowerCase().startsWith('microsoft.'))
        throw new SandboxError(
          400,
          'BadRequest',
          `The namespace '${namespace}' is reserved for platform metrics.`,
        );
      for (const s of series) {
        if ((s.dimValues ?? []).length !== dimNames.length)
          throw new SandboxError(400, 'BadRequest', 'Each series needs one dimValue per dimName.');
        if (s.min > s.max) throw new SandboxError(400, 'BadRequest', 'A series has min greater than max.');
      }
      metrics.defineCustom(resourceId, namespace, metric, dimNames);
      for (const s of series) {
        const dims = Object.fromEntries(dimNames.map((n, i) => [n, s.dimValues?.[i] ?? '']));
        metrics.record(resourceId, namespace, metric, dims, time, {
          total: s.sum,
          count: s.count,
          min: s.min,
          max: s.max,
        });
      }
      return { status: 200, body: { statusCode: 200 } };
    },
  });
}
