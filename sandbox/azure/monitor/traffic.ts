import type { SandboxCore } from '../core';
import type { NamespaceRecord } from '../servicebus';
import { MINUTE, type Bucket, type MetricSource } from './metrics';

/**
 * Synthetic traffic on Service Bus namespaces: every namespace receives `requestsPerMinute` requests
 * (a sandbox-wide default, overridable per namespace through the control API). While the namespace is
 * operable they succeed (IncomingRequests = SuccessfulRequests = IncomingMessages); while it is
 * inoperable — no usable customer-managed key at the last key poll, Service Bus's own decision
 * (servicebus/keys.ts) — they fail as server errors (ServerErrors = IncomingRequests), the effect
 * Azure shows. Nothing is stored per minute: the metric values are computed at read time from the rate
 * history and the operability history (a snapshot of the key state each time it changes), so long
 * clock advances cost nothing.
 */
const TRAFFIC = 'monitorTraffic';
const SETTINGS = 'monitorTrafficSettings';
const NAMESPACES = 'serviceBusNamespaces';

interface KeySnapshot {
  usable: boolean;
  cachedUntil?: number;
}

interface TrafficRecord {
  namespaceId: string;
  rates: Array<{ from: number; perMinute: number }>;
  /** null = no customer-managed key (always operable once active). */
  states: Array<{ from: number; keys: KeySnapshot[] | null }>;
}

export const SERVICE_BUS_METRICS = [
  'IncomingRequests',
  'SuccessfulRequests',
  'ServerErrors',
  'UserErrors',
  'IncomingMessages',
  'NamespaceCpuUsage',
];

export class SyntheticTraffic implements MetricSource {
  constructor(private readonly core: SandboxCore) {}

  appliesTo(resourceId: string, namespace: string): boolean {
    return (
      namespace.toLowerCase() === 'microsoft.servicebus/namespaces' &&
      /\/providers\/Microsoft\.ServiceBus\/namespaces\/[^/]+$/i.test(resourceId)
    );
  }

  get defaultPerMinute(): number {
    return this.core.store.get<{ defaultPerMinute: number }>(SETTINGS, 'settings')?.defaultPerMinute ?? 0;
  }

  set defaultPerMinute(value: number) {
    this.core.store.put(SETTINGS, 'settings', { defaultPerMinute: value });
  }

  private record(namespaceId: string): TrafficRecord {
    return this.core.store.get<TrafficRecord>(TRAFFIC, namespaceId) ?? { namespaceId, rates: [], states: [] };
  }

  /** Sets a namespace's rate from now on (null = back to the default). */
  setRate(namespaceId: string, perMinute: number | null): void {
    const r = this.record(namespaceId);
    r.rates.push({ from: this.core.clock.now(), perMinute: perMinute ?? -1 });
    this.core.store.put(TRAFFIC, namespaceId, r);
  }

  rateAt(namespaceId: string, t: number): number {
    const r = this.core.store.get<TrafficRecord>(TRAFFIC, namespaceId);
    const entry = r ? [...r.rates].reverse().find((x) => x.from <= t) : undefined;
    return entry && entry.perMinute >= 0 ? entry.perMinute : this.defaultPerMinute;
  }

  /** Takes a snapshot of what decides operability, when it changed (key poll, encryption change). */
  observe(namespaceId: string): void {
    const ns = this.core.store.get<NamespaceRecord>(NAMESPACES, namespaceId);
    if (!ns) return;
    const keys = snapshot(ns);
    const r = this.record(ns.id);
    const last = r.states[r.states.length - 1];
    if (last && JSON.stringify(last.keys) === JSON.stringify(keys)) return;
    r.states.push({ from: this.core.clock.now(), keys });
    this.core.store.put(TRAFFIC, ns.id, r);
  }

  operableAt(ns: NamespaceRecord, t: number): boolean {
    if (t < ns.readyAt) return false;
    const r = this.core.store.get<TrafficRecord>(TRAFFIC, ns.id);
    const state = r ? [...r.states].reverse().find((s) => s.from <= t) : undefined;
    // Before the first snapshot: what the namespace record says now.
    const keys = state ? state.keys : snapshot(ns);
    return keys === null || keys.some((k) => k.usable && (k.cachedUntil === undefined || t < k.cachedUntil));
  }

  buckets(resourceId: string, metric: string, from: number, to: number): Bucket[] {
    const ns = this.core.store.get<NamespaceRecord>(NAMESPACES, resourceId);
    const name = SERVICE_BUS_METRICS.find((m) => m.toLowerCase() === metric.toLowerCase());
    if (!ns || !name) return [];
    this.observe(ns.id);
    const now = this.core.clock.now();
    const out: Bucket[] = [];
    const first = Math.max(Math.floor(from / MINUTE) * MINUTE, Math.floor(ns.createdAt / MINUTE) * MINUTE);
    // Complete minutes only (the current one is still being counted).
    for (let m = first; m < to && m + MINUTE <= now; m += MINUTE) {
      const rate = this.rateAt(ns.id, m);
      const operable = this.operableAt(ns, m);
      const value =
        name === 'IncomingRequests'
          ? rate
          : name === 'SuccessfulRequests' || name === 'IncomingMessages'
            ? operable
              ? rate
              : 0
            : name === 'ServerErrors'
              ? operable
                ? 0
                : rate
              : name === 'UserErrors'
                ? 0
                : // [U] CPU: a light load that follows the request rate; an inoperable namespace idles.
                  operable && ns.sku.name === 'Premium'
                  ? Math.min(80, 2 + rate / 60)
                  : ns.sku.name === 'Premium'
                    ? 1
                    : undefined;
      if (value === undefined) continue;
      out.push({ minute: m, dims: {}, total: value, count: 1, min: value, max: value });
    }
    return out;
  }
}

function snapshot(ns: NamespaceRecord): KeySnapshot[] | null {
  if (!ns.encryption) return null;
  return ns.encryption.keyState.map((k) => ({
    usable: k.usable,
    ...(k.cachedUntil !== undefined ? { cachedUntil: k.cachedUntil } : {}),
  }));
}
