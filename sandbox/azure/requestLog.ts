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
}

export interface RequestLogFilter {
  sinceSeq?: number;
  service?: Service;
  method?: string;
  principal?: string;
  /** Only requests that changed something (not GET/HEAD) and succeeded. */
  writesOnly?: boolean;
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
        (!filter.writesOnly || (e.method !== 'GET' && e.method !== 'HEAD' && e.status < 400)),
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
