import FindMyWay, { type HTTPVersion, type Instance } from 'find-my-way';
import type { HttpMethod, Reply, RequestContext, Service } from './context';

/**
 * How a resource provider plugs into the sandbox: it declares routes. One route = one REST operation:
 * the path template, the RBAC operation it performs, how it is authorised, and the handler.
 *
 *   sandbox.routes.arm({
 *     method: 'GET',
 *     path: '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.KeyVault/vaults/:vaultName',
 *     operation: 'Microsoft.KeyVault/vaults/read',
 *     handler: (ctx) => reply.ok(...),
 *   });
 *
 * ARM paths match case-insensitively (parameter values keep their casing). A path that starts with
 * `/{scope}` is an *extension* route: it applies under any scope (root, subscription, resource group,
 * resource), as Microsoft.Authorization does; the scope arrives as `ctx.params.scope` ("/" for root).
 */
export type Handler = (ctx: RequestContext) => Reply | Promise<Reply>;

/**
 * - 'rbac' (ARM default): the caller must hold `operation` (an action) over `scope(ctx)`.
 * - 'authenticated': any valid token (e.g. listing subscriptions — ARM filters instead of refusing).
 * - 'anonymous': no token needed (control API plumbing, the CA download).
 * - a function: custom authorisation (Key Vault data plane: access policies or RBAC dataActions).
 *   Throw a SandboxError to refuse.
 */
export type Authorization =
  'rbac' | 'authenticated' | 'anonymous' | ((ctx: RequestContext) => void | Promise<void>);

export interface RouteSpec {
  method: HttpMethod | readonly HttpMethod[];
  path: string;
  /** RBAC action (ARM) or dataAction (Key Vault) this request performs; logged for every request. */
  operation: string | ((ctx: RequestContext) => string);
  authorize?: Authorization;
  /** Scope for 'rbac'; default: the request path (Azure names the target resource id in refusals). */
  scope?: (ctx: RequestContext) => string;
  /**
   * ARM api-version check: the provider namespace whose registered versions apply (see ApiVersions).
   * Default: the last `/providers/{Namespace}/` in the path template, else Microsoft.Resources.
   * `false` skips the check (non-ARM routes, or a handler that checks itself).
   */
  namespace?: string | false;
  /** Resource type named in NoRegisteredProviderFound (default: the type segment of the path). */
  resourceType?: string;
  handler: Handler;
}

export interface MatchedRoute {
  spec: RouteSpec;
  params: Record<string, string>;
  namespace: string | false;
  resourceType: string;
}

interface Stored {
  spec: RouteSpec;
  namespace: string | false;
  resourceType: string;
}

const newRouter = (): Instance<HTTPVersion.V1> =>
  FindMyWay({
    caseSensitive: false,
    ignoreTrailingSlash: true,
    ignoreDuplicateSlashes: true,
    maxParamLength: 500,
  });

/** `:param` segments → placeholder, so namespaces and types can be read off a template. */
function templateInfo(path: string): { namespace: string; resourceType: string } {
  const segments = path.split('/').filter(Boolean);
  let ns = 'Microsoft.Resources';
  let nsIndex = -1;
  segments.forEach((s, i) => {
    if (s.toLowerCase() === 'providers' && segments[i + 1] && !segments[i + 1]!.startsWith(':')) {
      ns = segments[i + 1]!;
      nsIndex = i + 1;
    }
  });
  // Type: the literal segments after the namespace, skipping names (`vaults/:name/keys` → vaults/keys).
  const typeParts = nsIndex >= 0 ? segments.slice(nsIndex + 1).filter((s) => !s.startsWith(':')) : [];
  const fallback = segments.filter((s) => !s.startsWith(':') && s !== '{scope}').pop() ?? '';
  return { namespace: ns, resourceType: typeParts.join('/') || fallback };
}

export class RouteTable {
  private readonly routers: Record<Service, Instance<HTTPVersion.V1>> = {
    arm: newRouter(),
    keyvault: newRouter(),
    monitoring: newRouter(),
    identity: newRouter(),
    control: newRouter(),
  };
  /** Extension routes (`/{scope}/providers/NS/...`), matched on the path after the scope. */
  private readonly extension = newRouter();
  private readonly extensionNamespaces = new Set<string>();
  private readonly namespaces = new Set<string>(['microsoft.resources']);

  /** Registers an ARM (management.azure.com) operation. */
  arm(spec: RouteSpec): void {
    const info = templateInfo(spec.path);
    const stored: Stored = {
      spec: { authorize: 'rbac', ...spec },
      namespace: spec.namespace ?? info.namespace,
      resourceType: spec.resourceType ?? info.resourceType,
    };
    if (stored.namespace) this.namespaces.add(stored.namespace.toLowerCase());
    // A route may check api-versions per type (`Microsoft.Insights/metricAlerts`); its namespace is still known.
    this.namespaces.add(info.namespace.toLowerCase());
    if (spec.path.startsWith('/{scope}/')) {
      const rest = spec.path.slice('/{scope}'.length);
      const ns = /^\/providers\/([^/]+)\//i.exec(rest)?.[1];
      if (!ns) throw new Error(`extension route must continue with /providers/{Namespace}/: ${spec.path}`);
      this.extensionNamespaces.add(ns.toLowerCase());
      this.add(this.extension, spec.method, rest, stored);
    } else {
      this.add(this.routers.arm, spec.method, spec.path, stored);
    }
  }

  /** Registers a Key Vault data-plane operation (host `<vault>.<suffix>`); `authorize` is required. */
  keyVault(spec: RouteSpec & { authorize: Exclude<Authorization, 'rbac'> }): void {
    this.add(this.routers.keyvault, spec.method, spec.path, {
      spec: { ...spec, namespace: spec.namespace ?? false },
      namespace: spec.namespace ?? false,
      resourceType: spec.resourceType ?? '',
    });
  }

  /** Registers an Azure Monitor regional operation (host `<region>.monitoring.<suffix>`, e.g. custom metrics). */
  monitoring(spec: RouteSpec & { authorize: Exclude<Authorization, 'rbac'> }): void {
    this.add(this.routers.monitoring, spec.method, spec.path, {
      spec: { ...spec, namespace: false },
      namespace: false,
      resourceType: spec.resourceType ?? '',
    });
  }

  /** Internal services (identity endpoint, control API). */
  service(service: 'identity' | 'control', spec: RouteSpec): void {
    this.add(this.routers[service], spec.method, spec.path, {
      spec: { ...spec, namespace: false },
      namespace: false,
      resourceType: '',
    });
  }

  isKnownNamespace(ns: string): boolean {
    return this.namespaces.has(ns.toLowerCase());
  }

  match(service: Service, method: string, path: string): MatchedRoute | undefined {
    const direct = this.find(this.routers[service], method, path);
    if (direct || service !== 'arm') return direct;
    // Extension routes: split at the last /providers/{ns}/ whose namespace has extension routes.
    const lower = path.toLowerCase();
    for (const ns of this.extensionNamespaces) {
      const marker = `/providers/${ns}/`;
      const at = lower.lastIndexOf(marker);
      const atEnd = lower.endsWith(`/providers/${ns}`) ? lower.length - marker.length + 1 : -1;
      const index = at >= 0 ? at : atEnd;
      if (index < 0) continue;
      const found = this.find(this.extension, method, path.slice(index));
      if (found) {
        found.params.scope = index === 0 ? '/' : path.slice(0, index);
        return found;
      }
    }
    return undefined;
  }

  /** True when some route matches the path with another method (→ 405 rather than 404). */
  hasPath(service: Service, path: string): boolean {
    return (['GET', 'PUT', 'POST', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const).some((m) =>
      this.match(service, m, path),
    );
  }

  private add(
    router: Instance<HTTPVersion.V1>,
    method: RouteSpec['method'],
    path: string,
    stored: Stored,
  ): void {
    const methods = typeof method === 'string' ? [method] : [...method];
    router.on(methods, path, () => undefined, stored);
  }

  private find(router: Instance<HTTPVersion.V1>, method: string, path: string): MatchedRoute | undefined {
    const found = router.find(method as 'GET', path);
    if (!found) return undefined;
    const stored = found.store as Stored;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(found.params)) if (typeof v === 'string') params[k] = v;
    return { spec: stored.spec, params, namespace: stored.namespace, resourceType: stored.resourceType };
  }
}
