/**
 * What every Service Bus handler module shares: the route registration (each request first settles
 * the Geo-DR operations that fell due), the namespace lookup, the resource provider's 400, and small
 * JSON helpers. routes.ts builds one `ServiceBusRouting` and hands it to each resource's module.
 */
import { requireResourceGroup } from '../arm/resources';
import type { RequestContext } from '../context';
import type { SandboxCore } from '../core';
import { ArmErrors, type SandboxError } from '../errors';
import type { Handler } from '../router';
import type { NamespaceRecord, ServiceBusModel } from './model';

export const NS_TYPE = 'Microsoft.ServiceBus/Namespaces';
export const RG_PATH =
  '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.ServiceBus';
export const NS_PATH = `${RG_PATH}/namespaces/:namespaceName`;

export type Json = Record<string, unknown>;
export const asObject = (v: unknown): Json | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
/** A JSON value as text for messages (strings as they are). */
export const text = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
export const iso = (ms: number): string => new Date(ms).toISOString();
export const lower = (s: string): string => s.toLowerCase();
export const same = (a: string | undefined, b: string | undefined): boolean =>
  lower(a ?? '') === lower(b ?? '');

export interface RouteSpec {
  method: 'GET' | 'PUT' | 'PATCH' | 'DELETE' | 'POST';
  path: string;
  operation: string;
  handler: Handler;
}

export interface ServiceBusRouting {
  core: SandboxCore;
  model: ServiceBusModel;
  /** Registers an ARM route; every Service Bus request first applies Geo-DR operations that fell due. */
  route: (spec: RouteSpec) => void;
  /** The namespace id the request path names. */
  nsId: (ctx: RequestContext) => string;
  /** The namespace the request path names, or ARM's ResourceGroupNotFound / ResourceNotFound. */
  requireNamespace: (ctx: RequestContext) => NamespaceRecord;
  /** The resource provider's 400 `BadRequest` (with its TrackingId suffix). */
  err400: (message: string, ns?: string) => SandboxError;
}

export function createRouting(core: SandboxCore, model: ServiceBusModel): ServiceBusRouting {
  // Every Service Bus request first applies Geo-DR operations that fell due (state = f(clock)).
  const route = (spec: RouteSpec): void =>
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

  const err400 = (message: string, ns?: string): SandboxError => model.error(400, 'BadRequest', message, ns);

  return { core, model, route, nsId, requireNamespace, err400 };
}
