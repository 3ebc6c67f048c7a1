import type { Service } from './context';

/**
 * Every request the sandbox answered: how tests prove "dry run wrote nothing" and how benchmarks
 * count calls. Bounded (oldest entries dropped) so a long `npm start` does not grow without limit.
 */
export interface RequestLogEntry {
  seq: number;
  /** Sandbox clock time (ISO). */
  time: string;
  requestId: string;
  service: Service;
  method: string;
  /** Host the client addressed (tells vaults apart). */
  host: string;
  path: string;
  query: string;
  /** Object id of the authenticated caller, when there was one. */
  principal?: string;
  /** RBAC action / dataAction attempted (the route's operation). */
  operation?: string;
  status: number;
  /** Error code for failures. */
  errorCode?: string;
  /** Fault rules applied to this request (ids as listed by GET /_sandbox/faults). */
  faults?: string[];
  /** A fault after the effect replaced the answer: what the handler had answered. */
  handlerStatus?: number;
  /** A fault dropped the connection: no answer was sent (`status` is 0). */
  dropped?: true;
}

/**
 * Writes (any method but GET/HEAD, to ARM or Key Vault):
 * - 'attempted': every write request that reached the sandbox, whatever its status — refused, faulted,
 *   dropped. "The app wrote nothing" means zero of these.
 * - 'succeeded': only those answered 2xx/3xx (what changed something, as far as the client knows).
 */
export type WriteFilter = 'attempted' | 'succeeded';

export const isWrite = (e: Pick<RequestLogEntry, 'method' | 'service'>): boolean =>
  (e.service === 'arm' || e.service === 'keyvault') && e.method !== 'GET' && e.method !== 'HEAD';

export interface RequestLogFilter {
  sinceSeq?: number;
  service?: Service;
  method?: string;
  principal?: string;
  /** Only writes: every attempt, or only the successful ones (see WriteFilter). */
  writes?: WriteFilter;
}

export class RequestLog {
  private entries: RequestLogEntry[] = [];
  private seq = 0;

  constructor(private readonly capacity = 50_000) {}

  add(entry: Omit<RequestLogEntry, 'seq'>): RequestLogEntry {
    const full = { ...entry, seq: ++this.seq };
    this.entries.push(full);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
    return full;
  }

  query(filter: RequestLogFilter = {}): RequestLogEntry[] {
    return this.entries.filter(
      (e) =>
        (filter.sinceSeq === undefined || e.seq > filter.sinceSeq) &&
        (!filter.service || e.service === filter.service) &&
        (!filter.method || e.method === filter.method.toUpperCase()) &&
        (!filter.principal || e.principal?.toLowerCase() === filter.principal.toLowerCase()) &&
        (!filter.writes ||
          (isWrite(e) && (filter.writes === 'attempted' || (e.status >= 200 && e.status < 400)))),
    );
  }

  /** The sequence number of the latest entry (a cursor for "what happened since"). */
  get lastSeq(): number {
    return this.seq;
  }

  clear(): void {
    this.entries = [];
  }
}
