import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Reply, RequestContext, Service } from './context';
import type { SandboxCore } from './core';
import { ArmErrors, isSandboxError, SandboxError } from './errors';
import { withoutPath, type FaultEffect, type FaultTarget } from './faults';
import type { MatchedRoute } from './router';
import { operationType } from './throttle';

/**
 * The request pipeline, one explicit step after another (the model is Azurite's
 * QueueRequestListenerFactory). Each step either enriches the context or throws a SandboxError; the
 * error step turns any throw into Azure's `{ error: { code, message } }` with the right status.
 *
 *   1. request id      x-ms-request-id / correlation id; body read (bounded)
 *   2. classify        which service: control (/_sandbox), identity (MSI endpoint), keyvault (host under
 *                      the Key Vault suffix), monitoring (host under the Azure Monitor regional suffix)
 *                      or arm (everything else)
 *   3. settle          apply async operations that fell due on the clock (LRO status = f(clock))
 *   4. route           find the operation (404/405 otherwise)
 *   5. authenticate    bearer JWT (ARM, Key Vault with its 401 challenge), admin secret (control)
 *   6. api-version     ARM: the provider must accept the version (Azure's error otherwise)
 *   7. authorise       RBAC action over scope (ARM), or the route's own check (Key Vault, identity)
 *   8. throttle        ARM token buckets per subscription + principal + operation type → 429
 *   9. faults          injected latency / errors / throttling / dropped connection (phase 'before')
 *  10. handler         the resource provider; then faults of phase 'after' replace its answer (it took
 *                      effect, the response is lost) — see faults.ts
 *  11. respond         serialise (or destroy the socket for a dropped connection); errors as
 *                      ARM-shaped JSON; request log entry; observers (audit log)
 */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export function createRequestListener(
  core: SandboxCore,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(core, req, res).catch((error: unknown) => {
      // Only reachable if writing the response itself failed (client went away).
      if (!res.headersSent) res.writeHead(500).end();
      console.error('[sandbox] response failed:', error);
    });
  };
}

async function handle(core: SandboxCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // 1. request id --------------------------------------------------------------------------------
  const requestId = randomUUID();
  const clientRequestId = header(req, 'x-ms-client-request-id') ?? header(req, 'x-ms-correlation-request-id');
  const correlationId = clientRequestId ?? requestId;
  const url = requestUrl(req, core);
  const path = decodePath(url.pathname);
  const responseHeaders: Record<string, string> = { 'x-ms-request-id': requestId };
  let rawBody: Buffer = Buffer.alloc(0);
  let ctx: RequestContext | undefined;
  let route: MatchedRoute | undefined;
  let service: Service = 'arm';
  let reply: Reply;
  /** Set by a 'drop' fault: no answer, the socket is destroyed (after a delay, as a timeout is felt). */
  let drop: { delayMs: number } | undefined;
  const faultIds: string[] = [];
  let handlerStatus: number | undefined;
  let handlerStarted: number | undefined;
  try {
    rawBody = await readBody(req);

    // 2. classify ----------------------------------------------------------------------------------
    const host = url.hostname.toLowerCase();
    const kvSuffix = `.${core.urls.keyVaultDnsSuffix}`;
    const monitoringSuffix = `.${core.urls.monitoringDnsSuffix}`;
    service =
      path === '/_sandbox' || path.startsWith('/_sandbox/')
        ? 'control'
        : path.toLowerCase() === core.urls.identityPath
          ? 'identity'
          : host.endsWith(kvSuffix)
            ? 'keyvault'
            : host.endsWith(monitoringSuffix)
              ? 'monitoring'
              : 'arm';
    const vaultName = service === 'keyvault' ? host.slice(0, -kvSuffix.length) : undefined;
    const region = service === 'monitoring' ? host.slice(0, -monitoringSuffix.length) : undefined;
    if (service === 'arm') responseHeaders['x-ms-correlation-request-id'] = correlationId;

    ctx = makeContext(core, req, {
      requestId,
      correlationId,
      service,
      url,
      path,
      rawBody,
      responseHeaders,
      ...(vaultName ? { vaultName } : {}),
      ...(region ? { region } : {}),
    });

    // 3. settle async operations that fell due (before anything reads state) -------------------
    await core.operations.settleDue();

    // 4. route ----------------------------------------------------------------------------------------
    route = core.routes.match(service, req.method ?? 'GET', path);
    if (!route || (vaultName !== undefined && vaultName.includes('.'))) {
      // ARM and Key Vault authenticate before anything else: no token → 401 (challenge), even for a bad path.
      if (service === 'arm' || service === 'keyvault' || service === 'monitoring')
        await core.authenticate(ctx);
      throw noRoute(core, service, req.method ?? 'GET', path);
    }
    ctx.params = route.params;
    ctx.action = typeof route.spec.operation === 'string' ? route.spec.operation : route.spec.operation(ctx);

    // 5. authenticate -------------------------------------------------------------------------------
    const authz = route.spec.authorize ?? 'rbac';
    if (authz !== 'anonymous') await core.authenticate(ctx);

    // 6. api-version (ARM) -----------------------------------------------------------------------
    ctx.apiVersion = ctx.query.get('api-version') ?? undefined;
    if (service === 'arm' && route.namespace) {
      core.apiVersions.check(
        route.namespace,
        ctx.query.get('api-version'),
        route.resourceType,
        requestLocation(ctx, core),
      );
    }

    // 7. authorise -----------------------------------------------------------------------------------
    if (authz === 'rbac') {
      ctx.scope = route.spec.scope ? route.spec.scope(ctx) : path;
      core.rbac.authorize(ctx.principal!.objectId, ctx.action, ctx.scope);
    } else if (typeof authz === 'function') {
      await authz(ctx);
    }

    // 8. throttle (ARM) ------------------------------------------------------------------------------
    if (service === 'arm' && ctx.principal) {
      const sub = /^\/subscriptions\/([^/]+)/i.exec(path)?.[1];
      const type = operationType(ctx.method);
      const taken = core.throttle.take(`${sub ?? 'tenant'}|${ctx.principal.objectId}`, type);
      if (taken) {
        responseHeaders[`x-ms-ratelimit-remaining-${sub ? 'subscription' : 'tenant'}-${type}`] = String(
          taken.remaining,
        );
        if (!taken.ok) throw ArmErrors.tooManyRequests(taken.retryAfterSeconds, operationKindLabel(type));
      }
    }

    // 9. faults ------------------------------------------------------------------------------------------
    if (service !== 'control') {
      for (const { ruleId, effect } of core.faults.take(
        faultTarget(ctx, requestId, path, service),
        'before',
      )) {
        faultIds.push(ruleId);
        // Latency is network/service slowness as the client feels it: real time, whatever the clock.
        if (effect.type === 'latency') await sleep(effect.ms);
        else if (effect.type === 'drop') {
          drop = { delayMs: effect.delayMs };
          break;
        } else throw injected(service, ctx.method, effect);
      }
    }

    // 10. handler --------------------------------------------------------------------------------------------
    if (!drop) {
      try {
        handlerStarted = performance.now();
        reply = await route.spec.handler(ctx);
      } catch (error) {
        reply = errorReply(error);
      }
      // Faults after the effect: whatever the handler did stays done; only its answer is replaced.
      if (service !== 'control') {
        for (const { ruleId, effect } of core.faults.take(
          faultTarget(ctx, requestId, path, service),
          'after',
        )) {
          faultIds.push(ruleId);
          handlerStatus ??= reply.status;
          if (effect.type === 'latency') await sleep(effect.ms);
          else if (effect.type === 'omitField') {
            if (reply.body !== undefined && typeof reply.body === 'object' && !Buffer.isBuffer(reply.body))
              reply = { ...reply, body: withoutPath(reply.body, effect.path) };
          } else if (effect.type === 'drop') {
            drop = { delayMs: effect.delayMs };
            break;
          } else {
            reply = errorReply(injected(service, ctx.method, effect));
            break;
          }
        }
      }
    } else reply = { status: 0 };
  } catch (error) {
    reply = errorReply(error);
  }

  // 11. respond -------------------------------------------------------------------------------------------------
  const logBase = {
    time: new Date(core.clock.now()).toISOString(),
    requestId,
    service,
    method: (req.method ?? 'GET').toUpperCase(),
    host: url.host,
    path,
    query: url.search,
    ...(ctx?.principal ? { principal: ctx.principal.objectId } : {}),
    ...(ctx?.action ? { operation: ctx.action } : {}),
    ...(faultIds.length ? { faults: faultIds } : {}),
    ...(handlerStatus !== undefined ? { handlerStatus } : {}),
  };
  const notify = (status: number, errorCode?: string): void => {
    if (!ctx || core.observers.length === 0) return;
    const userAgent = header(req, 'user-agent');
    core.notifyObservers({
      service,
      method: ctx.method,
      host: url.host,
      path,
      query: url.search,
      ...(route ? { routePath: route.spec.path } : {}),
      params: ctx.params,
      ...(ctx.vaultName !== undefined ? { vaultName: ctx.vaultName } : {}),
      ...(ctx.principal
        ? {
            principal: {
              objectId: ctx.principal.objectId,
              ...(ctx.principal.clientId ? { clientId: ctx.principal.clientId } : {}),
            },
          }
        : {}),
      clientIp: ctx.clientIp,
      ...(ctx.apiVersion ? { apiVersion: ctx.apiVersion } : {}),
      ...(userAgent ? { userAgent } : {}),
      requestId,
      correlationId,
      time: ctx.receivedAt,
      status,
      ...(errorCode ? { errorCode } : {}),
      durationMs: handlerStarted === undefined ? 0 : performance.now() - handlerStarted,
    });
  };
  if (drop) {
    if (drop.delayMs > 0) await sleep(drop.delayMs);
    core.log.add({ ...logBase, status: 0, dropped: true });
    notify(0);
    req.socket.destroy();
    return;
  }
  const status = reply.status;
  const headers: Record<string, string> = { ...responseHeaders, ...(reply.headers ?? {}) };
  let payload: Buffer | undefined;
  if (reply.body !== undefined && req.method !== 'HEAD') {
    if (Buffer.isBuffer(reply.body)) payload = reply.body;
    else if (typeof reply.body === 'string' && headers['Content-Type']) payload = Buffer.from(reply.body);
    else {
      payload = Buffer.from(JSON.stringify(reply.body));
      headers['Content-Type'] ??= 'application/json; charset=utf-8';
    }
  }
  headers['Content-Length'] = String(payload?.length ?? 0);
  res.writeHead(status, headers);
  res.end(payload);

  const errorBody =
    status >= 400 && reply.body && typeof reply.body === 'object'
      ? (reply.body as { error?: { code?: unknown } })
      : undefined;
  const errorCode = typeof errorBody?.error?.code === 'string' ? errorBody.error.code : undefined;
  core.log.add({ ...logBase, status, ...(errorCode ? { errorCode } : {}) });
  notify(status, errorCode);
}

function faultTarget(ctx: RequestContext, requestId: string, path: string, service: Service): FaultTarget {
  return {
    requestId,
    method: ctx.method,
    path,
    service,
    query: ctx.query,
    body: ctx.rawBody,
    ...(ctx.principal ? { principal: ctx.principal.objectId } : {}),
  };
}

/** The error an injected 'error' or 'throttle' effect answers with. */
function injected(service: Service, method: string, effect: FaultEffect): SandboxError {
  if (effect.type === 'throttle') return throttled(service, method, effect.retryAfterSeconds);
  if (effect.type === 'error')
    return new SandboxError(effect.status, effect.code, effect.message, {}, effect.headers ?? {});
  throw new Error(`not an answering fault: ${effect.type}`);
}

function makeContext(
  core: SandboxCore,
  req: IncomingMessage,
  init: {
    requestId: string;
    correlationId: string;
    service: Service;
    url: URL;
    path: string;
    rawBody: Buffer;
    responseHeaders: Record<string, string>;
    vaultName?: string;
    region?: string;
  },
): RequestContext {
  let parsed: { value: unknown } | undefined;
  const remote = req.socket.remoteAddress ?? '';
  return {
    sandbox: core,
    requestId: init.requestId,
    correlationId: init.correlationId,
    service: init.service,
    method: (req.method ?? 'GET').toUpperCase(),
    url: init.url,
    path: init.path,
    query: init.url.searchParams,
    headers: req.headers,
    rawBody: init.rawBody,
    clientIp: remote.startsWith('::ffff:') ? remote.slice(7) : remote,
    receivedAt: core.clock.now(),
    params: {},
    responseHeaders: init.responseHeaders,
    ...(init.vaultName !== undefined ? { vaultName: init.vaultName } : {}),
    ...(init.region !== undefined ? { region: init.region } : {}),
    json(): unknown {
      if (!parsed) {
        const text = init.rawBody.toString('utf8').trim();
        if (text === '') parsed = { value: undefined };
        else {
          try {
            parsed = { value: JSON.parse(text) as unknown };
          } catch (error) {
            throw ArmErrors.invalidRequestContent(error instanceof Error ? error.message : 'invalid JSON');
          }
        }
      }
      return parsed.value;
    },
  };
}

/** The URL the client addressed. Proxied requests (absolute-form, via the CONNECT/HTTP proxy) keep theirs. */
function requestUrl(req: IncomingMessage, core: SandboxCore): URL {
  const raw = req.url ?? '/';
  if (/^https?:\/\//i.test(raw)) return new URL(raw);
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const host = req.headers.host ?? `127.0.0.1:${core.port}`;
  try {
    // Concatenate rather than resolve: SDKs send `//subscriptions/…` for `/{scope}` paths, which URL
    // resolution would read as a protocol-relative host.
    return new URL(`${encrypted ? 'https' : 'http'}://${host}${raw.startsWith('/') ? raw : `/${raw}`}`);
  } catch {
    return new URL(raw.replace(/[^\x21-\x7e]/g, ''), `https://127.0.0.1:${core.port}`);
  }
}

function decodePath(pathname: string): string {
  let p: string;
  try {
    p = decodeURIComponent(pathname);
  } catch {
    p = pathname;
  }
  p = p.replace(/\/{2,}/g, '/');
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY_BYTES)
      throw new SandboxError(413, 'RequestEntityTooLarge', 'The request content is too large.');
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

function requestLocation(ctx: RequestContext, core: SandboxCore): string {
  try {
    const body = ctx.json() as { location?: unknown } | undefined;
    if (body && typeof body.location === 'string') return body.location.replace(/\s+/g, '').toLowerCase();
  } catch {
    // An invalid body is reported by the handler; the message only needs some location.
  }
  return core.options.defaultLocation;
}

function noRoute(core: SandboxCore, service: Service, method: string, path: string): SandboxError {
  if (core.routes.hasPath(service, path)) return ArmErrors.methodNotAllowed(method);
  if (service === 'arm') {
    const ns = /\/providers\/([^/]+)/i.exec(path)?.[1];
    if (ns && !core.routes.isKnownNamespace(ns)) return ArmErrors.invalidResourceNamespace(ns);
    if (ns) {
      const type =
        path
          .split(/\/providers\/[^/]+\//i)
          .pop()
          ?.split('/')[0] ?? '';
      return ArmErrors.invalidResourceType(
        type,
        ns,
        new URL(`https://x${path}`).searchParams.get('api-version') ?? '',
      );
    }
  }
  return ArmErrors.noRoute(method, path);
}

function throttled(service: Service, method: string, retryAfterSeconds: number): SandboxError {
  if (service === 'keyvault') {
    return new SandboxError(
      429,
      'Throttled',
      'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
      {},
      { 'Retry-After': String(retryAfterSeconds) },
    );
  }
  return ArmErrors.tooManyRequests(retryAfterSeconds, operationKindLabel(operationType(method)));
}

/** How ARM names the operation type in its throttling message. */
function operationKindLabel(type: ReturnType<typeof operationType>): string {
  return type === 'reads' ? "'Read'" : type === 'writes' ? "'Write'" : "'Delete'";
}

function errorReply(error: unknown): Reply {
  if (isSandboxError(error)) return { status: error.status, body: error.toBody(), headers: error.headers };
  console.error('[sandbox] handler failed:', error);
  const internal = ArmErrors.internal(error instanceof Error ? error.message : String(error));
  return { status: 500, body: internal.toBody() };
}
