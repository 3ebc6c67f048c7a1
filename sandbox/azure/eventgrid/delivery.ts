/**
 * Event Grid's push delivery, on the sandbox clock (delivery-and-retry docs):
 *
 * - at least once per matching subscription, one event per request (output batching not modelled);
 * - success is 200–204; anything else, a connection failure or no answer within 30 s (real time) is a
 *   failed attempt, retried after 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every
 *   12 h — delays between consecutive attempts [U: Azure adds jitter; the sandbox does not];
 * - not retried: 400, 413 and 403 (Azure resource endpoints, i.e. AzureFunction) plus 401 (WebHook);
 * - `maxDeliveryAttempts` (1–30, default 30) and `eventTimeToLiveInMinutes` (1–1440, default 1440): the
 *   first limit reached ends delivery; the TTL is checked when an attempt falls due;
 * - an event that is given up on is dead-lettered when the subscription names a blob container (written
 *   5 minutes of clock time after the last attempt, as Azure batches them), else dropped with a log line;
 * - deleting the subscription, or the vault its system topic follows, drops its pending deliveries.
 *
 * Pending deliveries live in memory (a restart forgets them, as for async operations).
 * At-least-once on demand: delivery faults (`duplicate`, `delay`) make an event arrive twice or later
 * than events published after it.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { randomUUID } from 'node:crypto';
import type { Cancel, Clock } from '../../clock';
import type { BlobStorage } from '../storage/azurite';
import { eventGridTime, toWire, type DeliverySchema, type PublishedEvent } from './events';

export const RETRY_DELAYS_MS = [
  10_000,
  30_000,
  60_000,
  5 * 60_000,
  10 * 60_000,
  30 * 60_000,
  3600_000,
  3 * 3600_000,
  6 * 3600_000,
];
const EVERY_12_HOURS = 12 * 3600_000;
export const DEAD_LETTER_DELAY_MS = 5 * 60_000;
const RESPONSE_TIMEOUT_MS = 30_000;

export function retryDelay(failedAttempts: number): number {
  return RETRY_DELAYS_MS[failedAttempts - 1] ?? EVERY_12_HOURS;
}

/** Where and how one subscription receives events (resolved per attempt: settings may change). */
export type Target =
  | { ok: true; url: string; kind: 'WebHook' | 'AzureFunction' }
  | { ok: false; outcome: string; detail: string };

export interface SubscriptionView {
  id: string;
  name: string;
  source: string;
  schema: DeliverySchema;
  endpointType: 'WebHook' | 'AzureFunction';
  maxDeliveryAttempts: number;
  eventTimeToLiveInMinutes: number;
  deadLetter?: { container: string; storageAccountId: string };
}

export interface DeliveryHooks {
  /** The subscription as it is now (undefined once deleted). */
  subscription(id: string): SubscriptionView | undefined;
  /** Whether the source (vault) still exists; deliveries of a deleted vault are dropped. */
  sourceExists(source: string): boolean;
  target(id: string): Target;
  storage(): BlobStorage | undefined;
  log(line: string): void;
}

export interface AttemptRecord {
  seq: number;
  /** Clock time of the attempt (ISO). */
  time: string;
  subscription: string;
  eventId: string;
  eventType: string;
  attempt: number;
  /** HTTP status, or 0 when nothing answered. */
  status: number;
  outcome: string;
  /** What happens next: a retry time, or the end of the delivery. */
  next: string;
}

export interface FinalRecord {
  subscription: string;
  eventId: string;
  eventType: string;
  result: 'Delivered' | 'DeadLettered' | 'Dropped';
  reason?: string;
  attempts: number;
  time: string;
  /** The dead-letter blob (container/name) when dead-lettered. */
  blob?: string;
}

export interface DeliveryFaultRule {
  id: string;
  effect: 'duplicate' | 'delay';
  /** For `delay`: how much later (clock ms) the first attempt happens. */
  delayMs?: number;
  match: { eventType?: string; subscription?: string };
  /** Events affected before the rule retires; unlimited when omitted. */
  count?: number;
  hits: number;
}

interface Pending {
  key: string;
  subscriptionId: string;
  event: PublishedEvent;
  publishTime: number;
  attempts: number;
  lastOutcome?: string;
  lastStatus?: number;
  lastAttemptAt?: number;
  cancel?: Cancel;
}

const LOG_LIMIT = 20_000;

export class DeliveryEngine {
  private readonly pending = new Map<string, Pending>();
  private attemptsLog: AttemptRecord[] = [];
  private finals: FinalRecord[] = [];
  private seq = 0;
  private rules: DeliveryFaultRule[] = [];
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private httpsAgent?: https.Agent;

  constructor(
    private readonly clock: Clock,
    private readonly hooks: DeliveryHooks,
    /** Extra CA (the sandbox's own) for HTTPS endpoints such as the sandbox's webhook sink. */
    private readonly extraCa: () => string = () => '',
  ) {}

  private agentFor(secure: boolean): http.Agent {
    if (!secure) return this.httpAgent;
    const extra = this.extraCa();
    this.httpsAgent ??= new https.Agent({
      keepAlive: true,
      maxSockets: 64,
      ...(extra ? { ca: [...tls.rootCertificates, extra] } : {}),
    });
    return this.httpsAgent;
  }

  // ---- publishing --------------------------------------------------------------------------------

  /** Queues `event` for each subscription; the first attempt is due now (or later, by a `delay` fault). */
  publish(event: PublishedEvent, subscriptions: SubscriptionView[]): void {
    const now = this.clock.now();
    for (const sub of subscriptions) {
      let copies = 1;
      let delay = 0;
      for (const rule of this.takeRules(event, sub)) {
        if (rule.effect === 'duplicate') copies++;
        else delay += rule.delayMs ?? 0;
      }
      for (let i = 0; i < copies; i++) {
        const p: Pending = {
          key: randomUUID(),
          subscriptionId: sub.id,
          event,
          publishTime: now,
          attempts: 0,
        };
        this.pending.set(p.key, p);
        this.schedule(p, now + delay);
      }
    }
  }

  /** Drops every pending delivery of a subscription (deleted, or its source vault gone). */
  dropSubscription(subscriptionId: string, reason: string): number {
    let n = 0;
    for (const p of [...this.pending.values()]) {
      if (p.subscriptionId.toLowerCase() !== subscriptionId.toLowerCase()) continue;
      p.cancel?.();
      this.finish(p, 'Dropped', reason);
      n++;
    }
    return n;
  }

  pendingCount(subscriptionId?: string): number {
    if (!subscriptionId) return this.pending.size;
    return [...this.pending.values()].filter(
      (p) => p.subscriptionId.toLowerCase() === subscriptionId.toLowerCase(),
    ).length;
  }

  // ---- faults --------------------------------------------------------------------------------------

  addRule(rule: Omit<DeliveryFaultRule, 'id' | 'hits'>): DeliveryFaultRule {
    const r: DeliveryFaultRule = { ...rule, id: randomUUID(), hits: 0 };
    this.rules.push(r);
    return r;
  }

  /** Every rule added since the last clear, retired ones included (so a test can prove hits). */
  listRules(): DeliveryFaultRule[] {
    return this.rules.map((r) => ({ ...r, match: { ...r.match } }));
  }

  clearRules(): void {
    this.rules = [];
  }

  private takeRules(event: PublishedEvent, sub: SubscriptionView): DeliveryFaultRule[] {
    const out: DeliveryFaultRule[] = [];
    for (const r of this.rules) {
      if (r.count !== undefined && r.hits >= r.count) continue;
      if (r.match.eventType && r.match.eventType.toLowerCase() !== event.eventType.toLowerCase()) continue;
      if (r.match.subscription && r.match.subscription.toLowerCase() !== sub.name.toLowerCase()) continue;
      r.hits++;
      out.push(r);
    }
    return out;
  }

  // ---- logs ------------------------------------------------------------------------------------------

  attempts(filter: { subscription?: string; sinceSeq?: number } = {}): AttemptRecord[] {
    return this.attemptsLog.filter(
      (a) =>
        (filter.sinceSeq === undefined || a.seq > filter.sinceSeq) &&
        (!filter.subscription || a.subscription.toLowerCase().endsWith(filter.subscription.toLowerCase())),
    );
  }

  outcomes(filter: { subscription?: string } = {}): FinalRecord[] {
    return this.finals.filter(
      (f) => !filter.subscription || f.subscription.toLowerCase().endsWith(filter.subscription.toLowerCase()),
    );
  }

  get lastSeq(): number {
    return this.seq;
  }

  reset(): void {
    for (const p of this.pending.values()) p.cancel?.();
    this.pending.clear();
    this.attemptsLog = [];
    this.finals = [];
    this.rules = [];
  }

  close(): void {
    this.reset();
    this.httpAgent.destroy();
    this.httpsAgent?.destroy();
  }

  // ---- attempts --------------------------------------------------------------------------------------

  private schedule(p: Pending, at: number): void {
    p.cancel = this.clock.schedule(at, () => this.attempt(p), `eventgrid delivery ${p.event.eventType}`);
  }

  private async attempt(p: Pending): Promise<void> {
    if (!this.pending.has(p.key)) return;
    const sub = this.hooks.subscription(p.subscriptionId);
    if (!sub) return this.finish(p, 'Dropped', 'EventSubscriptionDeleted');
    if (!this.hooks.sourceExists(sub.source)) return this.finish(p, 'Dropped', 'SourceDeleted');
    const startedAt = this.clock.now();
    if (startedAt - p.publishTime >= sub.eventTimeToLiveInMinutes * 60_000)
      return this.giveUp(p, sub, 'TimeToLiveExceeded');
    p.attempts++;
    p.lastAttemptAt = startedAt;
    const target = this.hooks.target(sub.id);
    let status = 0;
    let outcome: string;
    if (!target.ok) {
      outcome = target.outcome;
    } else {
      const body =
        sub.schema === 'CloudEventSchemaV1_0'
          ? JSON.stringify(toWire(p.event, sub.schema))
          : JSON.stringify([toWire(p.event, sub.schema)]);
      const result = await this.send(target.url, 'POST', this.notificationHeaders(sub, p), body);
      status = result.status;
      outcome = result.outcome;
    }
    p.lastStatus = status;
    p.lastOutcome = outcome;
    const delivered = status >= 200 && status <= 204;
    let next: string;
    if (delivered) next = 'Delivered';
    else if (notRetried(status, sub.endpointType)) next = 'NotRetried';
    else if (p.attempts >= sub.maxDeliveryAttempts) next = 'MaxDeliveryAttemptsExceeded';
    else next = eventGridTime(startedAt + retryDelay(p.attempts));
    this.record({
      seq: ++this.seq,
      time: new Date(startedAt).toISOString(),
      subscription: sub.id,
      eventId: p.event.id,
      eventType: p.event.eventType,
      attempt: p.attempts,
      status,
      outcome,
      next,
    });
    if (!this.pending.has(p.key)) return; // dropped while the request was in flight
    if (delivered) return this.finish(p, 'Delivered');
    if (next === 'NotRetried') return this.giveUp(p, sub, outcome);
    if (next === 'MaxDeliveryAttemptsExceeded') return this.giveUp(p, sub, 'MaxDeliveryAttemptsExceeded');
    this.schedule(p, startedAt + retryDelay(p.attempts));
  }

  private notificationHeaders(sub: SubscriptionView, p: Pending): Record<string, string> {
    return {
      'Content-Type':
        sub.schema === 'CloudEventSchemaV1_0'
          ? 'application/cloudevents+json; charset=utf-8'
          : 'application/json; charset=utf-8',
      'aeg-event-type': 'Notification',
      'aeg-subscription-name': sub.name.toUpperCase(),
      'aeg-delivery-count': String(p.attempts - 1),
      'aeg-data-version': p.event.dataVersion,
      'aeg-metadata-version': '1',
    };
  }

  /** Dead-letters (when configured) or drops an event Event Grid stops trying to deliver. */
  private giveUp(p: Pending, sub: SubscriptionView, reason: string): void {
    if (!sub.deadLetter) {
      this.hooks.log(
        `[eventgrid] dropped event ${p.event.id} (${p.event.eventType}) for ${sub.name}: ${reason} after ${p.attempts} attempt(s); no dead-letter destination`,
      );
      return this.finish(p, 'Dropped', reason);
    }
    const at = (p.lastAttemptAt ?? this.clock.now()) + DEAD_LETTER_DELAY_MS;
    p.cancel = this.clock.schedule(
      at,
      () => this.deadLetter(p, sub, reason),
      `eventgrid dead-letter ${sub.name}`,
    );
  }

  private async deadLetter(p: Pending, sub: SubscriptionView, reason: string): Promise<void> {
    if (!this.pending.has(p.key) || !sub.deadLetter) return;
    const storage = this.hooks.storage();
    const now = new Date(this.clock.now());
    // Azure's path: <container>/<SUBSCRIPTION NAME>/<year>/<month>/<day>/<hour>/<guid>.json (not zero-padded).
    const name = `${sub.name.toUpperCase()}/${now.getUTCFullYear()}/${now.getUTCMonth() + 1}/${now.getUTCDate()}/${now.getUTCHours()}/${randomUUID()}.json`;
    const record = deadLetterRecord(p, sub.schema, reason);
    if (!storage) {
      this.hooks.log(`[eventgrid] dropped event ${p.event.id}: dead-letter storage is not running`);
      return this.finish(p, 'Dropped', `${reason}; DeadLetterStorageUnavailable`);
    }
    try {
      const text = JSON.stringify([record]);
      await storage
        .client()
        .getContainerClient(sub.deadLetter.container)
        .getBlockBlobClient(name)
        .upload(text, Buffer.byteLength(text), {
          blobHTTPHeaders: { blobContentType: 'application/json' },
        });
      this.finish(p, 'DeadLettered', reason, `${sub.deadLetter.container}/${name}`);
    } catch (error) {
      // [U] Azure keeps trying the dead-letter location for 4 hours; the sandbox drops at once.
      this.hooks.log(
        `[eventgrid] dropped event ${p.event.id}: dead-letter container '${sub.deadLetter.container}' unavailable (${(error as Error).message})`,
      );
      this.finish(p, 'Dropped', `${reason}; DeadLetterDestinationUnavailable`);
    }
  }

  private finish(p: Pending, result: FinalRecord['result'], reason?: string, blob?: string): void {
    this.pending.delete(p.key);
    this.finals.push({
      subscription: p.subscriptionId,
      eventId: p.event.id,
      eventType: p.event.eventType,
      result,
      ...(reason ? { reason } : {}),
      attempts: p.attempts,
      time: new Date(this.clock.now()).toISOString(),
      ...(blob ? { blob } : {}),
    });
    if (this.finals.length > LOG_LIMIT) this.finals.splice(0, this.finals.length - LOG_LIMIT);
  }

  private record(a: AttemptRecord): void {
    this.attemptsLog.push(a);
    if (this.attemptsLog.length > LOG_LIMIT) this.attemptsLog.splice(0, this.attemptsLog.length - LOG_LIMIT);
  }

  // ---- HTTP ----------------------------------------------------------------------------------------------

  /** One HTTP exchange with an endpoint; never throws. */
  send(
    url: string,
    method: 'POST' | 'OPTIONS',
    headers: Record<string, string>,
    body?: string,
  ): Promise<{ status: number; outcome: string; headers: http.IncomingHttpHeaders; text: string }> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: {
        status: number;
        outcome: string;
        headers?: http.IncomingHttpHeaders;
        text?: string;
      }) => {
        if (settled) return;
        settled = true;
        resolve({ headers: {}, text: '', ...r });
      };
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        return done({ status: 0, outcome: 'InvalidEndpoint' });
      }
      const secure = target.protocol === 'https:';
      const payload = body === undefined ? undefined : Buffer.from(body);
      const req = (secure ? https : http).request(
        target,
        {
          method,
          agent: this.agentFor(secure),
          headers: { ...headers, ...(payload ? { 'Content-Length': String(payload.length) } : {}) },
          timeout: RESPONSE_TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            done({
              status,
              outcome: outcomeOf(status),
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            });
          });
          res.on('error', () => done({ status: 0, outcome: 'GenericError' }));
        },
      );
      req.on('timeout', () => {
        req.destroy();
        done({ status: 0, outcome: 'TimedOut' });
      });
      req.on('error', () => done({ status: 0, outcome: 'GenericError' }));
      req.end(payload);
    });
  }
}

/** Azure's lastDeliveryOutcome names [U beyond the documented NotFound/Unauthorized/BadRequest/TimedOut/Busy/Forbidden]. */
function outcomeOf(status: number): string {
  if (status >= 200 && status <= 204) return 'Succeeded';
  switch (status) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 408:
      return 'TimedOut';
    case 413:
      return 'PayloadTooLarge';
    case 429:
    case 503:
      return 'Busy';
    default:
      return 'GenericError';
  }
}

function notRetried(status: number, endpointType: 'WebHook' | 'AzureFunction'): boolean {
  if (status === 400 || status === 413 || status === 403) return true;
  return status === 401 && endpointType === 'WebHook';
}

function deadLetterRecord(p: Pending, schema: DeliverySchema, reason: string): Record<string, unknown> {
  const wire = toWire(p.event, schema);
  const fields = {
    deadLetterReason: reason,
    deliveryAttempts: p.attempts,
    lastDeliveryOutcome: p.lastOutcome ?? 'None',
    lastHttpStatusCode: p.lastStatus ?? 0,
    publishTime: eventGridTime(p.publishTime),
    lastDeliveryAttemptTime: eventGridTime(p.lastAttemptAt ?? p.publishTime),
  };
  if (schema === 'EventGridSchema') return { ...wire, ...fields };
  // CloudEvents extension attributes are lower-case.
  return {
    ...wire,
    ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [k.toLowerCase(), v])),
  };
}
