/**
 * The Durable extension's HTTP API, served at the client's `rpcBaseUrl` (`/durabletask/`) and at the
 * public webhook (`/runtime/webhooks/durabletask/`), so `df.getClient(context)` — startNew, getStatus,
 * raiseEvent, terminate, createCheckStatusResponse, waitForCompletionOrCreateCheckStatusResponse — runs
 * unchanged over real HTTP (docs/ARCHITECTURE.md "Local Functions host").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  DurableEngine,
  InstanceExistsError,
  UnknownFunctionError,
  type RuntimeStatus,
  type StatusFilter,
} from './engine';
import { decodeSegment } from '../requestTarget';

export const RPC_PREFIX = '/durabletask/';
export const WEBHOOK_PREFIX = '/runtime/webhooks/durabletask/';

export interface ClientBindingOptions {
  /** Public origin of the host, e.g. http://localhost:7071 */
  origin: string;
  taskHub: string;
  /** System key `durabletask_extension`; appended as `code=` to public URLs when set. */
  systemKey?: string;
}

/** The durable client binding data (OrchestrationClientInputData) the extension hands to a function. */
export function clientBindingData(options: ClientBindingOptions): Record<string, unknown> {
  const base = `${options.origin}${WEBHOOK_PREFIX.replace(/\/$/, '')}`;
  const code = options.systemKey ? `code=${options.systemKey}` : '';
  const hub = `taskHub=${options.taskHub}&connection=Storage${code ? `&${code}` : ''}`;
  const instance = `${base}/instances/INSTANCEID`;
  return {
    taskHubName: options.taskHub,
    connectionName: 'Storage',
    creationUrls: {
      createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]${code ? `?${code}` : ''}`,
      createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}${code ? `&${code}` : ''}`,
    },
    managementUrls: {
      id: 'INSTANCEID',
      statusQueryGetUri: `${instance}?${hub}`,
      sendEventPostUri: `${instance}/raiseEvent/{eventName}?${hub}`,
      terminatePostUri: `${instance}/terminate?reason={text}&${hub}`,
      rewindPostUri: `${instance}/rewind?reason={text}&${hub}`,
      purgeHistoryDeleteUri: `${instance}?${hub}`,
      restartPostUri: `${instance}/restart?${hub}`,
      suspendPostUri: `${instance}/suspend?reason={text}&${hub}`,
      resumePostUri: `${instance}/resume?reason={text}&${hub}`,
    },
    baseUrl: base,
    requiredQueryStringParameters: code,
    rpcBaseUrl: `${options.origin.replace('localhost', '127.0.0.1')}${RPC_PREFIX}`,
    httpBaseUrl: null,
  };
}

const STATUSES: RuntimeStatus[] = [
  'Pending',
  'Running',
  'Completed',
  'ContinuedAsNew',
  'Failed',
  'Terminated',
  'Suspended',
];

export class DurableHttpApi {
  constructor(
    private readonly engine: DurableEngine,
    private readonly binding: () => Record<string, unknown>,
  ) {}

  /**
   * Handles `path` (relative to one of the prefixes, e.g. `instances/abc`). Returns false when the
   * path is not part of the API.
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    url: URL,
    body: string,
  ): Promise<boolean> {
    const method = (req.method ?? 'GET').toUpperCase();
    const segments = path
      .split('/')
      .filter(Boolean)
      .map((s) => decodeSegment(s));
    if (segments.some((s) => s === undefined))
      return send(res, 400, { Message: 'The request path contains malformed percent-encoding.' });
    const [collection, id, verb, eventName] = segments as string[];

    if (collection === 'orchestrators' && method === 'POST' && id) {
      const instanceId = verb;
      let input: unknown = null;
      if (body.length > 0) {
        try {
          input = JSON.parse(body) as unknown;
        } catch {
          return send(res, 400, { Message: 'The request body is not valid JSON.' });
        }
      }
      try {
        const instance = this.engine.startNew(id, input, instanceId);
        const payload = this.managementPayload(instance.instanceId);
        return send(res, 202, payload, { Location: String(payload.statusQueryGetUri), 'Retry-After': '10' });
      } catch (error) {
        if (error instanceof UnknownFunctionError) return send(res, 400, { Message: error.message });
        if (error instanceof InstanceExistsError) return send(res, 409, { Message: error.message });
        throw error;
      }
    }

    if (collection !== 'instances') return false;

    if (!id) {
      const filter = parseFilter(url);
      if ('error' in filter) return send(res, 400, { Message: filter.error });
      if (method === 'GET') {
        return send(res, 200, this.engine.listStatus(filter, statusOptions(url)));
      }
      if (method === 'DELETE') {
        if (filter.createdTimeFrom === undefined)
          return send(res, 400, { Message: 'createdTimeFrom is required.' });
        const deleted = this.engine.purgeBy(filter);
        return deleted > 0
          ? send(res, 200, { instancesDeleted: deleted })
          : send(res, 404, { Message: 'No instances were purged.' });
      }
      return send(res, 405, { Message: `Method ${method} is not allowed.` });
    }

    if (!verb) {
      if (method === 'GET') {
        const status = this.engine.getStatus(id, statusOptions(url));
        if (!status) return send(res, 404, { Message: `No instance with ID '${id}' found.` });
        const running = ['Pending', 'Running', 'ContinuedAsNew', 'Suspended'].includes(
          String(status.runtimeStatus),
        );
        const failedAs500 =
          status.runtimeStatus === 'Failed' &&
          url.searchParams.get('returnInternalServerErrorOnFailure') === 'true';
        const code = running ? 202 : failedAs500 ? 500 : 200;
        const headers: Record<string, string> = running
          ? { Location: this.statusUrl(id), 'Retry-After': '5' }
          : {};
        return send(res, code, status, headers);
      }
      if (method === 'DELETE') {
        const deleted = this.engine.purge(id);
        return deleted
          ? send(res, 200, { instancesDeleted: 1 })
          : send(res, 404, { Message: `No instance with ID '${id}' found.` });
      }
      return send(res, 405, { Message: `Method ${method} is not allowed.` });
    }

    if (method !== 'POST') return send(res, 405, { Message: `Method ${method} is not allowed.` });
    const reason = url.searchParams.get('reason') ?? '';
    let outcome: 'accepted' | 'gone' | 'notFound';
    switch (verb) {
      case 'raiseEvent': {
        if (!eventName) return send(res, 400, { Message: 'An event name is required.' });
        const contentType = String(req.headers['content-type'] ?? '');
        if (body.length > 0 && !contentType.includes('application/json')) {
          return send(res, 400, { Message: 'Only application/json request content is supported' });
        }
        let data: unknown = null;
        if (body.length > 0) {
          try {
            data = JSON.parse(body) as unknown;
          } catch {
            return send(res, 400, { Message: 'The request body is not valid JSON.' });
          }
        }
        outcome = this.engine.raiseEvent(id, eventName, data);
        break;
      }
      case 'terminate':
        outcome = this.engine.terminate(id, reason);
        break;
      case 'suspend':
        outcome = this.engine.suspend(id, reason);
        break;
      case 'resume':
        outcome = this.engine.resume(id, reason);
        break;
      case 'rewind':
      case 'restart':
        // An unknown instance is 404, as for every other operation; a known one is not supported here.
        if (!this.engine.getStatus(id, statusOptions(url)))
          return send(res, 404, { Message: `No instance with ID '${id}' found.` });
        return send(res, 501, { Message: `${verb} is not supported by the local Functions host.` });
      default:
        return send(res, 404, { Message: `Unknown operation '${verb}'.` });
    }
    if (outcome === 'notFound') return send(res, 404, { Message: `No instance with ID '${id}' found.` });
    if (outcome === 'gone') return send(res, 410, { Message: `The instance '${id}' has already completed.` });
    res.writeHead(202).end();
    return true;
  }

  private managementPayload(instanceId: string): Record<string, unknown> {
    const urls = this.binding().managementUrls as Record<string, string>;
    const payload: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(urls))
      payload[key] = value.replace(/INSTANCEID/g, encodeURIComponent(instanceId));
    return payload;
  }

  private statusUrl(instanceId: string): string {
    return String(this.managementPayload(instanceId).statusQueryGetUri);
  }
}

function statusOptions(url: URL): { showHistory: boolean; showHistoryOutput: boolean; showInput: boolean } {
  return {
    showHistory: url.searchParams.get('showHistory') === 'true',
    showHistoryOutput: url.searchParams.get('showHistoryOutput') === 'true',
    showInput: url.searchParams.get('showInput') !== 'false',
  };
}

function parseFilter(url: URL): StatusFilter | { error: string } {
  const filter: StatusFilter = {};
  for (const key of ['createdTimeFrom', 'createdTimeTo'] as const) {
    const raw = url.searchParams.get(key);
    if (raw) {
      const ms = Date.parse(raw);
      if (Number.isNaN(ms)) return { error: `${key} must be an ISO 8601 date-time.` };
      filter[key] = ms;
    }
  }
  const statuses = url.searchParams.get('runtimeStatus');
  if (statuses) {
    const list = statuses.split(',').map((s) => s.trim());
    const unknown = list.filter((s) => !STATUSES.includes(s as RuntimeStatus));
    if (unknown.length) return { error: `Unknown runtimeStatus: ${unknown.join(', ')}.` };
    filter.runtimeStatus = list as RuntimeStatus[];
  }
  const prefix = url.searchParams.get('instanceIdPrefix');
  if (prefix) filter.instanceIdPrefix = prefix;
  return filter;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): true {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
  return true;
}
