import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { z } from 'zod';
import { reply, type RequestContext } from '../context';
import type { SandboxCore } from '../core';
import { SandboxError } from '../errors';

/**
 * The webhook sink: a receiver anyone can point at — an action group's webhook receiver, an Event Grid
 * WebHook destination — that records what arrived so tests and `npm start` users can see the alerts
 * that fired. `POST|OPTIONS /_sandbox/sink/<name>` are anonymous (receivers get no admin secret, as
 * in Azure); reading and clearing are control API calls. It answers Event Grid's two validation
 * handshakes itself (Event Grid schema `SubscriptionValidation`, CloudEvents `OPTIONS`), unless told
 * to refuse them.
 *
 * Also here: `WebhookDelivery`, the one HTTP POST path every alert notification takes (real HTTP, to
 * loopback receivers only — the machine is offline), with the pending deliveries registered as a clock
 * settler so a virtual-clock advance returns after the notifications it caused have arrived.
 */
const ENTRIES = 'monitorSinkEntries';
const BEHAVIOUR = 'monitorSinkBehaviour';
const SEQ = 'monitorSinkSeq';
const NAME = /^[A-Za-z0-9._-]{1,80}$/;

export interface SinkEntry {
  seq: number;
  name: string;
  /** Clock time (ISO) when it arrived. */
  time: string;
  method: string;
  kind: 'delivery' | 'validation';
  headers: Record<string, string>;
  body: unknown;
  /** What the sink answered. */
  status: number;
}

export interface SinkBehaviour {
  /** Status to answer deliveries with (default 200). */
  status?: number;
  /** Whether to answer Event Grid's validation handshakes (default "answer"). */
  validation?: 'answer' | 'refuse';
}

export const sinkUrl = (core: SandboxCore, name: string): string => `${core.urls.arm}/_sandbox/sink/${name}`;

export class WebhookSink {
  constructor(private readonly core: SandboxCore) {}

  entries(name?: string, sinceSeq = 0): SinkEntry[] {
    return this.core.store
      .list<SinkEntry>(ENTRIES, name ? `${name}/` : undefined)
      .filter((e) => e.seq > sinceSeq)
      .sort((a, b) => a.seq - b.seq);
  }

  names(): Array<{ name: string; count: number; last?: string }> {
    const by = new Map<string, { name: string; count: number; last?: string }>();
    for (const e of this.entries()) {
      const n = by.get(e.name.toLowerCase()) ?? { name: e.name, count: 0 };
      n.count += 1;
      n.last = e.time;
      by.set(e.name.toLowerCase(), n);
    }
    return [...by.values()];
  }

  clear(name: string): void {
    this.core.store.deletePrefix(ENTRIES, `${name}/`);
  }

  behaviour(name: string): SinkBehaviour {
    return this.core.store.get<SinkBehaviour>(BEHAVIOUR, name) ?? {};
  }

  setBehaviour(name: string, b: SinkBehaviour): SinkBehaviour {
    this.core.store.put(BEHAVIOUR, name, b);
    return b;
  }

  /** Records one request and decides the answer. */
  receive(
    ctx: RequestContext,
    name: string,
  ): { status: number; body?: unknown; headers?: Record<string, string> } {
    const behaviour = this.behaviour(name);
    const headers = pickHeaders(ctx.headers);
    let body: unknown = undefined;
    const text = ctx.rawBody.toString('utf8');
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        body = text;
      }
    }
    let kind: SinkEntry['kind'] = 'delivery';
    let answer: { status: number; body?: unknown; headers?: Record<string, string> } = {
      status: behaviour.status ?? 200,
    };
    const origin = headers['webhook-request-origin'];
    if (ctx.method === 'OPTIONS' && origin) {
      kind = 'validation';
      answer =
        behaviour.validation === 'refuse'
          ? { status: 403 }
          : { status: 200, headers: { 'WebHook-Allowed-Origin': origin, 'WebHook-Allowed-Rate': '*' } };
    } else if (headers['aeg-event-type']?.toLowerCase() === 'subscriptionvalidation') {
      kind = 'validation';
      const first = Array.isArray(body)
        ? (body[0] as { data?: { validationCode?: unknown } } | undefined)
        : undefined;
      const code = first?.data?.validationCode;
      answer =
        behaviour.validation === 'refuse' || typeof code !== 'string'
          ? { status: 400 }
          : { status: 200, body: { validationResponse: code } };
    }
    const seq = (this.core.store.get<number>(SEQ, 'seq') ?? 0) + 1;
    this.core.store.put(SEQ, 'seq', seq);
    const entry: SinkEntry = {
      seq,
      name,
      time: new Date(this.core.clock.now()).toISOString(),
      method: ctx.method,
      kind,
      headers,
      body,
      status: answer.status,
    };
    this.core.store.put(ENTRIES, `${name}/${String(seq).padStart(10, '0')}`, entry);
    return answer;
  }

  register(): void {
    const core = this.core;
    const name = (ctx: RequestContext): string => {
      const n = ctx.params.name ?? '';
      if (!NAME.test(n))
        throw new SandboxError(
          400,
          'InvalidSinkName',
          `A sink name is 1-80 characters of [A-Za-z0-9._-]; got '${n}'.`,
        );
      return n;
    };
    core.routes.service('control', {
      method: ['POST', 'PUT', 'OPTIONS'],
      path: '/_sandbox/sink/:name',
      operation: 'sandbox/sink/receive',
      authorize: 'anonymous',
      handler: (ctx) => {
        const a = this.receive(ctx, name(ctx));
        return {
          status: a.status,
          ...(a.body !== undefined ? { body: a.body } : {}),
          ...(a.headers ? { headers: a.headers } : {}),
        };
      },
    });
    core.routes.service('control', {
      method: 'GET',
      path: '/_sandbox/sink',
      operation: 'sandbox/sink/get',
      authorize: 'authenticated',
      handler: () => reply.ok(this.names()),
    });
    core.routes.service('control', {
      method: 'GET',
      path: '/_sandbox/sink/:name',
      operation: 'sandbox/sink/get',
      authorize: 'authenticated',
      handler: (ctx) => {
        const since = Number(ctx.query.get('since') ?? 0);
        if (!Number.isInteger(since) || since < 0)
          throw new SandboxError(
            400,
            'InvalidRequestContent',
            "'since' must be a sequence number (integer ≥ 0).",
          );
        return reply.ok(this.entries(name(ctx), since));
      },
    });
    core.routes.service('control', {
      method: 'DELETE',
      path: '/_sandbox/sink/:name',
      operation: 'sandbox/sink/delete',
      authorize: 'authenticated',
      handler: (ctx) => {
        this.clear(name(ctx));
        return reply.noContent();
      },
    });
    const behaviourBody = z.object({
      status: z.number().int().min(200).max(599).optional(),
      validation: z.enum(['answer', 'refuse']).optional(),
    });
    core.routes.service('control', {
      method: 'PUT',
      path: '/_sandbox/sink/:name/behaviour',
      operation: 'sandbox/sink/put',
      authorize: 'authenticated',
      handler: (ctx) => {
        const parsed = behaviourBody.strict().safeParse(ctx.json() ?? {});
        if (!parsed.success)
          throw new SandboxError(
            400,
            'InvalidRequestContent',
            parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
          );
        return reply.ok(this.setBehaviour(name(ctx), parsed.data));
      },
    });
  }
}

const KEPT_HEADERS = /^(content-type|user-agent|aeg-.*|webhook-.*|ce-.*|x-ms-.*)$/i;

function pickHeaders(headers: RequestContext['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!KEPT_HEADERS.test(k) || v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

// ---- outgoing webhook deliveries ---------------------------------------------------------------------

export interface DeliveryResult {
  url: string;
  status: number;
  /** Why nothing was sent or the send failed (network error, refused host). */
  error?: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

export class WebhookDelivery {
  private readonly pending = new Set<Promise<unknown>>();
  readonly log: DeliveryResult[] = [];

  constructor(private readonly core: SandboxCore) {
    core.clock.addSettler(() => this.idle());
  }

  /** Whether the sandbox may call this URL (loopback or one of its own host suffixes). */
  reachable(url: string): boolean {
    try {
      const u = new URL(url);
      const host = u.hostname.toLowerCase();
      return (
        (u.protocol === 'https:' || u.protocol === 'http:') &&
        (LOOPBACK.has(host) ||
          host.endsWith(`.${this.core.urls.keyVaultDnsSuffix}`) ||
          host.endsWith(`.${this.core.urls.monitoringDnsSuffix}`))
      );
    } catch {
      return false;
    }
  }

  /** POSTs JSON once (no retries); resolves with the receiver's status, never throws. */
  post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<DeliveryResult> {
    const work = this.send(url, body, headers).then((r) => {
      this.log.push(r);
      if (this.log.length > 1000) this.log.splice(0, this.log.length - 1000);
      if (r.error) console.error(`[sandbox] webhook ${url}: ${r.error}`);
      return r;
    });
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
    return work;
  }

  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private send(url: string, body: unknown, headers: Record<string, string>): Promise<DeliveryResult> {
    if (!this.reachable(url))
      return Promise.resolve({
        url,
        status: 0,
        error: 'not delivered: only loopback receivers are reachable offline',
      });
    const payload = Buffer.from(JSON.stringify(body));
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    // The sandbox's own host names resolve without DNS: straight to its HTTPS listener.
    const own = !LOOPBACK.has(u.hostname.toLowerCase());
    const options: https.RequestOptions = {
      method: 'POST',
      host: own ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, ''),
      port: own ? this.core.port : u.port || (secure ? 443 : 80),
      path: `${u.pathname}${u.search}`,
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': String(payload.length),
        'User-Agent': 'IcMBroadcaster/1.0',
        Host: u.host,
        ...headers,
      },
      timeout: 10_000,
      ...(secure
        ? {
            // SNI only for names (an IP address as server name is refused by RFC 6066).
            ...(isIP(u.hostname.replace(/^\[|\]$/g, '')) ? {} : { servername: u.hostname }),
            ...(this.core.caPem ? { ca: this.core.caPem } : {}),
          }
        : {}),
    };
    return new Promise((resolve) => {
      const req = (secure ? https : http).request(options, (res) => {
        res.resume();
        res.on('end', () => resolve({ url, status: res.statusCode ?? 0 }));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e) => resolve({ url, status: 0, error: e.message }));
      req.end(payload);
    });
  }
}
