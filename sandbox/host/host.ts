/**
 * The local Functions host: loads the compiled, unmodified Function App, captures its registrations
 * through `@azure/functions-core`, and serves it as the Functions host does:
 *
 *   /api/<route>                                HTTP triggers (route templates, methods, function keys)
 *   /runtime/webhooks/eventgrid?functionName=   Event Grid trigger webhook (both schemas)
 *   /runtime/webhooks/durabletask/…             Durable HTTP API (public, system key)
 *   /durabletask/…                              Durable HTTP API (the client's rpcBaseUrl, loopback)
 *   /admin/functions[/{name}]                   list functions / run a non-HTTP function (master key)
 *   /admin/host/status, /admin/host/clock       host status; read or advance a virtual clock (master key)
 *
 * Timer triggers run on the injected clock. Everything is in memory: a restart loses Durable instances
 * and timer schedule status.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Clock } from '../clock';
import { VirtualClock, WallClock } from '../clock';
import { Registry, installCoreModule, type RegisteredFunction, type RpcTypedData } from './coreShim';
import { DurableHttpApi, RPC_PREFIX, WEBHOOK_PREFIX, clientBindingData } from './durable/api';
import { DurableEngine } from './durable/engine';
import { DeliveryError, parseDelivery } from './eventGrid';
import { FunctionInvocationError, Invoker, fromTypedData } from './invoker';
import {
  authorizeFunction,
  authorizeSystem,
  generateKeys,
  presentedKey,
  type AuthLevel,
  type HostKeys,
} from './keys';
import { consoleLogger, type HostLogger } from './log';
import { requestTarget, decodeSegment } from './requestTarget';
import { RouteTable } from './routes';
import { TimerScheduler, parseSchedule, resolveSetting, type TimerInfo } from './timers';

export interface HostOptions {
  /** The app's directory (its package.json "main" is loaded) or the entry file itself. */
  app: string;
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  hostname?: string;
  clock?: Clock;
  keys?: Partial<HostKeys>;
  log?: HostLogger;
  /** Run every activity twice, as Durable's at-least-once delivery may. */
  duplicateActivities?: boolean;
  /** Maximum request body accepted by HTTP triggers (bytes). */
  maxBodyBytes?: number;
}

export interface RunningHost {
  url: string;
  port: number;
  keys: HostKeys;
  clock: Clock;
  registry: Registry;
  engine: DurableEngine;
  functions: Array<{ name: string; trigger: string; detail: string }>;
  close(): Promise<void>;
}

interface HostJson {
  extensions?: {
    http?: { routePrefix?: string };
    durableTask?: { hubName?: string; maxConcurrentActivityFunctions?: number };
  };
}

const TEXT_LIMIT_EVENT_GRID = 1024 * 1024; // Event Grid delivers at most 1 MB per request

export async function startFunctionsHost(options: HostOptions): Promise<RunningHost> {
  const clock = options.clock ?? new WallClock();
  const log = options.log ?? consoleLogger('information', () => clock.now());
  const keys = generateKeys(options.keys);
  const { entry, root } = resolveApp(options.app);
  const hostJson = readHostJson(root);
  const routePrefix = hostJson.extensions?.http?.routePrefix ?? 'api';
  const taskHub = hostJson.extensions?.durableTask?.hubName ?? 'TestHubName';
  const maxBody = options.maxBodyBytes ?? 10 * 1024 * 1024;

  const registry = new Registry((level, message) => log(level, `[worker] ${message}`));
  installCoreModule(registry);
  const invoker = new Invoker(registry, log);
  const engine = new DurableEngine({
    registry,
    invoker,
    clock,
    log,
    duplicateActivities: options.duplicateActivities ?? false,
    maxConcurrentActivities: hostJson.extensions?.durableTask?.maxConcurrentActivityFunctions ?? 10,
  });

  // Listen first: the app's durable client needs the host's origin (WEBSITE_HOSTNAME) before it loads.
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 7071, options.hostname ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://localhost:${port}`;
  process.env.WEBSITE_HOSTNAME = `localhost:${port}`;
  const binding = (): Record<string, unknown> =>
    clientBindingData({ origin, taskHub, systemKey: keys.durableTaskExtension });
  const durableApi = new DurableHttpApi(engine, binding);

  try {
    // Loading the app by path at run time is the host's job (the worker does the same).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(entry);
  } catch (error) {
    server.close();
    throw new Error(
      `The Function App failed to load (${path.relative(process.cwd(), entry)}): ${(error as Error).message}`,
    );
  }
  if (!registry.programmingModel) {
    server.close();
    throw new Error(
      'The app did not load @azure/functions (no programming model was set); is "main" the compiled entry?',
    );
  }

  // Index the functions by trigger.
  const routes = new RouteTable<RegisteredFunction>(routePrefix);
  const listing: RunningHost['functions'] = [];
  const timers = new TimerScheduler(clock);
  const timerStarts: Array<() => void> = [];
  for (const fn of registry.functions.values()) {
    const { binding: trigger } = Registry.trigger(fn);
    const name = fn.metadata.name;
    if (triggerDisabled(name, trigger.type)) {
      // As Azure's AzureWebJobs.<name>.Disabled: the function is listed but never triggered.
      listing.push({ name, trigger: trigger.type, detail: 'disabled' });
      continue;
    }
    switch (trigger.type) {
      case 'httpTrigger': {
        const route = typeof trigger.route === 'string' && trigger.route ? trigger.route : name;
        const methods = Array.isArray(trigger.methods) ? (trigger.methods as string[]) : undefined;
        routes.add(route, methods, fn);
        const template = `/${[routePrefix, route.replace(/^\/+/, '')].filter(Boolean).join('/')}`;
        listing.push({
          name,
          trigger: 'http',
          detail: `${(methods ?? ['*']).join(',')} ${origin}${template} (${bindingString(trigger.authLevel, 'function')})`,
        });
        break;
      }
      case 'eventGridTrigger':
        listing.push({
          name,
          trigger: 'eventGrid',
          detail: `${origin}/runtime/webhooks/eventgrid?functionName=${name}`,
        });
        break;
      case 'timerTrigger': {
        let schedule;
        try {
          schedule = parseSchedule(resolveSetting(bindingString(trigger.schedule, ''), process.env));
        } catch (error) {
          // As in Azure: the function is in error and never runs; the rest of the app keeps working.
          log('error', `The '${name}' function is in error: ${(error as Error).message}`);
          listing.push({ name, trigger: 'timer', detail: `in error: ${(error as Error).message}` });
          break;
        }
        listing.push({ name, trigger: 'timer', detail: schedule.description });
        timerStarts.push(() => {
          const { next } = timers.start({
            functionName: name,
            schedule,
            runOnStartup: trigger.runOnStartup === true,
            invoke: async (timer: TimerInfo) => {
              await invokeWithClient(
                fn,
                { name: Registry.trigger(fn).name, data: { json: JSON.stringify(timer) } },
                'Timer fired at ' + new Date(clock.now()).toISOString(),
              ).catch(() => undefined);
            },
          });
          log('information', `The next occurrence of '${name}' is ${new Date(next).toISOString()}`);
        });
        break;
      }
      case 'orchestrationTrigger':
        listing.push({ name, trigger: 'orchestration', detail: '' });
        break;
      case 'activityTrigger':
        listing.push({ name, trigger: 'activity', detail: '' });
        break;
      default:
        listing.push({
          name,
          trigger: trigger.type,
          detail: 'not supported by the local host (never invoked)',
        });
    }
  }

  /** Invokes a function, adding the durable client binding data when it declares one. */
  async function invokeWithClient(
    fn: RegisteredFunction,
    triggerData: { name: string; data: RpcTypedData },
    reason: string,
  ) {
    const inputData = [triggerData];
    for (const [name, b] of Object.entries(fn.metadata.bindings)) {
      if (b.direction === 'in' && (b.type === 'durableClient' || b.type === 'orchestrationClient')) {
        inputData.push({ name, data: { string: JSON.stringify(binding()) } });
      }
    }
    return invoker.invoke(fn, { inputData, reason });
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      log(
        'error',
        `Unhandled host error for ${req.method} ${req.url}: ${(error as Error).stack ?? String(error)}`,
      );
      if (!res.headersSent) sendJson(res, 500, { error: 'Internal host error' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The host's own base URL, never the request's authority (see requestTarget.ts).
    const target = requestTarget(req.url, origin);
    if (!target.ok) return badRequestTarget(res, target.path, target.detail);
    const url = target.url;
    const pathname = url.pathname;
    const method = (req.method ?? 'GET').toUpperCase();

    if (pathname.startsWith(RPC_PREFIX)) {
      // The rpc endpoint is the worker's private channel to the extension: loopback only.
      if (!isLoopback(req))
        return sendJson(res, 403, { Message: 'The Durable rpc endpoint is only reachable from the host.' });
      const body = await readBody(req, maxBody);
      if (body === undefined) return sendJson(res, 413, { Message: 'Request body too large.' });
      if (!(await durableApi.handle(req, res, pathname.slice(RPC_PREFIX.length), url, body)))
        sendJson(res, 404, { Message: 'Not found.' });
      return;
    }
    if (pathname.startsWith(WEBHOOK_PREFIX)) {
      if (!authorizeSystem(keys, 'durabletask', presentedKey(req.headers, url)))
        return sendJson(res, 401, {
          Message: 'A valid durabletask_extension system key (code) is required.',
        });
      const body = await readBody(req, maxBody);
      if (body === undefined) return sendJson(res, 413, { Message: 'Request body too large.' });
      if (!(await durableApi.handle(req, res, pathname.slice(WEBHOOK_PREFIX.length), url, body)))
        sendJson(res, 404, { Message: 'Not found.' });
      return;
    }
    if (pathname === '/runtime/webhooks/eventgrid' || pathname === '/runtime/webhooks/EventGrid')
      return handleEventGrid(req, res, url);
    if (pathname === '/admin' || pathname.startsWith('/admin/')) return handleAdmin(req, res, url, method);
    if (pathname === '/' && method === 'GET') {
      return sendJson(res, 200, {
        status: 'Running',
        functions: listing.map((f) => ({ name: f.name, trigger: f.trigger })),
      });
    }
    return handleHttpTrigger(req, res, url, method);
  }

  async function handleHttpTrigger(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    method: string,
  ): Promise<void> {
    const match = routes.match(method, url.pathname);
    if (match === 'methodNotAllowed')
      return sendJson(res, 405, { error: `Method ${method} is not allowed for ${url.pathname}.` });
    if (!match) return sendEmpty(res, 404);
    const fn = match.target;
    const trigger = Registry.trigger(fn);
    const level = bindingString(trigger.binding.authLevel, 'function').toLowerCase() as AuthLevel;
    if (!authorizeFunction(keys, level, fn.metadata.name, presentedKey(req.headers, url)))
      return sendEmpty(res, 401);
    const raw = await readRaw(req, maxBody);
    if (raw === undefined) return sendJson(res, 413, { error: 'Request body too large.' });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const httpData = {
      method,
      url: url.toString(),
      headers,
      query,
      params: match.params,
      body: raw.length > 0 ? { bytes: new Uint8Array(raw) } : undefined,
    };
    let result;
    try {
      result = await invokeWithClient(
        fn,
        { name: trigger.name, data: { http: httpData } },
        `This function was programmatically called via the host APIs.`,
      );
    } catch (error) {
      if (error instanceof FunctionInvocationError) return sendEmpty(res, 500);
      throw error;
    }
    const out =
      result.response.returnValue?.http ?? result.response.outputData?.find((o) => o.data?.http)?.data?.http;
    if (!out) return sendEmpty(res, 204);
    const status = Number(out.statusCode ?? 200) || 200;
    const responseHeaders: Record<string, string> = { ...(out.headers ?? {}) };
    const bodyBytes = typedDataBytes(out.body);
    res.writeHead(status, responseHeaders);
    res.end([204, 304].includes(status) || method === 'HEAD' ? undefined : bodyBytes);
  }

  async function handleEventGrid(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = (req.method ?? 'POST').toUpperCase();
    if (!authorizeSystem(keys, 'eventgrid', presentedKey(req.headers, url)))
      return sendJson(res, 401, { error: 'A valid eventgrid_extension system key (code) is required.' });
    const name = url.searchParams.get('functionName') ?? '';
    const fn = registry.find(name);
    if (
      !fn ||
      Registry.trigger(fn).binding.type !== 'eventGridTrigger' ||
      triggerDisabled(name, 'eventGridTrigger')
    ) {
      return sendJson(res, 404, { error: `No Event Grid trigger function named '${name}'.` });
    }
    if (method === 'OPTIONS') {
      // CloudEvents 1.0 webhook abuse protection: echo the origin we are willing to accept.
      const origin = req.headers['webhook-request-origin'];
      if (!origin) return sendJson(res, 400, { error: 'The WebHook-Request-Origin header is required.' });
      res.writeHead(200, {
        'WebHook-Allowed-Origin': String(origin),
        'WebHook-Allowed-Rate': '*',
        Allow: 'POST, OPTIONS',
      });
      res.end();
      return;
    }
    if (method !== 'POST') return sendJson(res, 405, { error: `Method ${method} is not allowed.` });
    const body = await readBody(req, TEXT_LIMIT_EVENT_GRID);
    if (body === undefined)
      return sendJson(res, 413, { error: 'An Event Grid delivery is limited to 1 MB.' });
    let delivery;
    try {
      delivery = parseDelivery(req.headers, body);
    } catch (error) {
      if (error instanceof DeliveryError) return sendJson(res, error.status, { error: error.message });
      throw error;
    }
    if (delivery.kind === 'validation') {
      log('information', `Event Grid subscription validation for '${fn.metadata.name}'`);
      return sendJson(res, 200, { validationResponse: delivery.validationCode });
    }
    const triggerName = Registry.trigger(fn).name;
    const failures: string[] = [];
    for (const e of delivery.events) {
      try {
        await invokeWithClient(
          fn,
          { name: triggerName, data: { json: JSON.stringify(e) } },
          `EventGrid trigger fired at ${new Date(clock.now()).toISOString()}`,
        );
      } catch (error) {
        failures.push(`${String(e.id)}: ${(error as Error).message}`);
      }
    }
    if (failures.length > 0)
      return sendJson(res, 500, {
        error: `${failures.length} of ${delivery.events.length} events failed`,
        failures,
      });
    return sendEmpty(res, 202);
  }

  async function handleAdmin(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    method: string,
  ): Promise<void> {
    if (!authorizeFunction(keys, 'admin', '', presentedKey(req.headers, url))) return sendEmpty(res, 401);
    const parts = url.pathname.split('/').filter(Boolean).slice(1);
    if (parts[0] === 'host' && parts[1] === 'status' && method === 'GET') {
      return sendJson(res, 200, {
        state: 'Running',
        version: '4.x-local',
        processUptime: Math.round(process.uptime() * 1000),
        ...engine.stats,
      });
    }
    if (parts[0] === 'host' && parts[1] === 'clock') return handleClock(req, res, method);
    if (parts[0] === 'functions' && parts.length === 1 && method === 'GET')
      return sendJson(res, 200, listing);
    if (parts[0] === 'functions' && parts[1] && method === 'POST') {
      // Core Tools' "run a non-HTTP function now": body { "input": "<string>" }.
      const name = decodeSegment(parts[1]);
      if (name === undefined)
        return sendJson(res, 400, { error: 'The function name contains malformed percent-encoding.' });
      const fn = registry.find(name);
      if (!fn) return sendJson(res, 404, { error: `No function named '${parts[1]}'.` });
      const trigger = Registry.trigger(fn);
      if (trigger.binding.type === 'httpTrigger')
        return sendJson(res, 400, { error: 'Call HTTP functions through their route.' });
      const body = await readBody(req, maxBody);
      let input: unknown = null;
      try {
        input = body ? ((JSON.parse(body) as { input?: unknown }).input ?? null) : null;
      } catch {
        return sendJson(res, 400, { error: 'The request body is not valid JSON.' });
      }
      const data: RpcTypedData =
        trigger.binding.type === 'timerTrigger'
          ? {
              json: JSON.stringify({
                Schedule: { AdjustForDST: true },
                ScheduleStatus: null,
                IsPastDue: false,
              }),
            }
          : typeof input === 'string'
            ? { string: input }
            : { json: JSON.stringify(input) };
      void invokeWithClient(
        fn,
        { name: trigger.name, data },
        'This function was programmatically called via the host APIs.',
      ).catch(() => undefined);
      return sendEmpty(res, 202);
    }
    return sendEmpty(res, 404);
  }

  /** 400 for a target the host cannot serve: problem+json under the HTTP route prefix, JSON elsewhere. */
  function badRequestTarget(res: ServerResponse, rawPath: string, detail: string): void {
    const prefix = `/${routePrefix}`.toLowerCase();
    const lower = rawPath.toLowerCase();
    if (routePrefix === '' || lower === prefix || lower.startsWith(`${prefix}/`)) {
      res.writeHead(400, { 'Content-Type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Bad Request', status: 400, detail }));
      return;
    }
    const durable = lower.startsWith(WEBHOOK_PREFIX) || lower.startsWith(RPC_PREFIX);
    sendJson(res, 400, durable ? { Message: detail } : { error: detail });
  }

  async function handleClock(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    const view = () => ({
      kind: clock.kind,
      now: new Date(clock.now()).toISOString(),
      ...(clock instanceof VirtualClock ? { pending: clock.pending() } : {}),
    });
    if (method === 'GET') return sendJson(res, 200, view());
    if (method !== 'POST') return sendEmpty(res, 405);
    if (!(clock instanceof VirtualClock))
      return sendJson(res, 409, {
        error: 'The host runs on the wall clock; start it with a virtual clock to move time.',
      });
    const body = await readBody(req, 4096);
    let request: { advanceMs?: unknown; advanceTo?: unknown; toNextDue?: unknown };
    try {
      request = JSON.parse(body || '{}') as typeof request;
    } catch {
      return sendJson(res, 400, { error: 'The request body is not valid JSON.' });
    }
    if (typeof request.advanceMs === 'number' && request.advanceMs >= 0)
      await clock.advanceBy(request.advanceMs);
    else if (typeof request.advanceTo === 'string' && !Number.isNaN(Date.parse(request.advanceTo)))
      await clock.advanceTo(Date.parse(request.advanceTo));
    else if (request.toNextDue === true) {
      const due = clock.nextDue();
      if (due !== undefined) await clock.advanceTo(due);
    } else
      return sendJson(res, 400, {
        error: 'Give advanceMs (number ≥ 0), advanceTo (ISO time) or toNextDue: true.',
      });
    return sendJson(res, 200, view());
  }

  await invoker.appStart(root);
  for (const start of timerStarts) start();

  return {
    url: origin,
    port,
    keys,
    clock,
    registry,
    engine,
    functions: listing,
    async close() {
      timers.stop();
      await invoker.appTerminate().catch(() => undefined);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

/** A string option of a binding (metadata values are untyped). */
function bindingString(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function resolveApp(app: string): { entry: string; root: string } {
  const absolute = path.resolve(app);
  if (existsSync(absolute) && statSync(absolute).isDirectory()) {
    const pkg = JSON.parse(readFileSync(path.join(absolute, 'package.json'), 'utf8')) as { main?: string };
    if (!pkg.main)
      throw new Error(`${absolute}/package.json has no "main" (the compiled Function App entry).`);
    if (/[*{]/.test(pkg.main))
      throw new Error(
        `A glob "main" (${pkg.main}) is not supported by the local host; point "main" at one entry file.`,
      );
    const entry = path.join(absolute, pkg.main);
    if (!existsSync(entry))
      throw new Error(`The app entry ${entry} does not exist. Run "npm run build" first.`);
    return { entry, root: absolute };
  }
  if (!existsSync(absolute))
    throw new Error(`The app entry ${absolute} does not exist. Run "npm run build" first.`);
  return { entry: absolute, root: findRoot(path.dirname(absolute)) };
}

function findRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'host.json'))) return d;
    if (path.dirname(d) === d) return dir;
  }
}

function readHostJson(root: string): HostJson {
  const file = path.join(root, 'host.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as HostJson) : {};
}

function isLoopback(req: IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? '';
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

async function readRaw(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) tooLarge = true;
    else chunks.push(buffer);
  }
  return tooLarge ? undefined : Buffer.concat(chunks);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const raw = await readRaw(req, limit);
  return raw?.toString('utf8');
}

function typedDataBytes(data: RpcTypedData | null | undefined): Buffer | undefined {
  if (!data) return undefined;
  if (data.bytes) return Buffer.from(data.bytes);
  if (typeof data.string === 'string') return Buffer.from(data.string);
  const value = fromTypedData(data);
  return value === undefined
    ? undefined
    : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': '0', 'x-request-id': randomUUID() });
  res.end();
}

/**
 * Azure's per-function switch: the app setting `AzureWebJobs.<name>.Disabled` = true (or 1) stops a
 * trigger — an HTTP route answers 404, a timer never fires, an Event Grid webhook refuses the function.
 * Where app-setting names cannot hold dots the same setting is spelt `AzureWebJobs__<name>__Disabled`
 * [U: the double-underscore spelling on Linux plans]. Orchestration and activity triggers stay on, as
 * they are only reached through the app's own orchestrations.
 */
function triggerDisabled(name: string, triggerType: unknown): boolean {
  if (triggerType === 'orchestrationTrigger' || triggerType === 'activityTrigger') return false;
  const value =
    process.env[`AzureWebJobs.${name}.Disabled`] ?? process.env[`AzureWebJobs__${name}__Disabled`];
  return value !== undefined && /^(true|1)$/i.test(value.trim());
}
