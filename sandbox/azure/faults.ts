import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Service } from './context';

/**
 * Fault injection: rules matched against each request that add latency, fail the request with a status +
 * error code, throttle it with 429 + Retry-After, or drop the connection without an answer.
 *
 * Which requests: method / path (regex) / service / principal, plus query parameters and the body
 * (a substring, or a JSON path that must equal a value). Among the requests that match, `occurrence`
 * picks the nth (1-based; a list or an inclusive range), so a test can fault the verification GET of a
 * namespace URL and not the PATCH before it. `count` caps how many requests the rule affects and
 * `probability` makes it random.
 *
 * When: `phase: 'before'` (default) fails the request before the handler runs — nothing happened.
 * `phase: 'after'` lets the handler run (the write takes effect, an LRO starts), then replaces its
 * answer with the fault: the response was lost on the way back, the case a client can only recover
 * from by reading the state again.
 *
 * Every rule keeps counting after it is spent (it is never removed by use): `matched` (requests that
 * met the filters), `hits` (requests it affected) and `hitRequestIds` (their x-ms-request-id, as in the
 * request log), so a test can prove each injected fault was served.
 *
 * Matching a principal needs the caller known when the rule is evaluated: before the handler that is
 * ARM and Key Vault (authenticated first); the identity endpoint learns its caller in the handler, so
 * match it by service + query (e.g. `query: { resource: … }`) or use `phase: 'after'`.
 */
const occurrenceSchema = z.union([
  z.number().int().positive(),
  z.array(z.number().int().positive()).min(1),
  z
    .object({ from: z.number().int().positive(), to: z.number().int().positive().optional() })
    .refine((r) => r.to === undefined || r.to >= r.from, { message: 'to must be >= from' }),
]);

const jsonValue: z.ZodType<unknown> = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const faultRuleSchema = z.object({
  match: z
    .object({
      method: z.string().optional(),
      /** Regular expression tested against the decoded path (case-insensitive). */
      path: z.string().optional(),
      service: z.enum(['arm', 'keyvault', 'identity']).optional(),
      /** Object id of the caller. */
      principal: z.string().optional(),
      /** Query parameters that must be present with exactly these values (names and values case-insensitive). */
      query: z.record(z.string(), z.string()).optional(),
      /** A substring the raw request body must contain (case-sensitive). */
      bodyContains: z.string().min(1).optional(),
      /** A JSON body value: `path` is dotted (`properties.encryption.keySource`, `a.0.b` for arrays). */
      bodyEquals: z.object({ path: z.string().min(1), value: jsonValue }).optional(),
    })
    .default({}),
  effect: z.union([
    z.object({
      type: z.literal('error'),
      status: z.number().int().min(400).max(599),
      code: z.string().default('InternalServerError'),
      message: z.string().default('Injected fault.'),
      headers: z.record(z.string(), z.string()).optional(),
    }),
    z.object({ type: z.literal('latency'), ms: z.number().int().min(0).max(600_000) }),
    z.object({
      type: z.literal('throttle'),
      retryAfterSeconds: z.number().int().min(0).max(3600).default(1),
    }),
    /** The connection is destroyed without an answer (after `delayMs` of real time: a timeout as felt). */
    z.object({ type: z.literal('drop'), delayMs: z.number().int().min(0).max(600_000).default(0) }),
    /**
     * Phase 'after' only: the handler's JSON answer, status kept, with the value at `path` removed
     * (dotted, array indexes as numbers) — a malformed body where Azure's spec says the field is required.
     */
    z.object({ type: z.literal('omitField'), path: z.string().min(1) }),
  ]),
  /** Before the handler (nothing happened) or after it (it took effect; the answer is lost). */
  phase: z.enum(['before', 'after']).default('before'),
  /** Which of the matching requests (1-based): n, [n, m, …] or { from, to? } (inclusive). */
  occurrence: occurrenceSchema.optional(),
  /** How many matching requests the rule affects at most; unlimited when omitted. */
  count: z.number().int().positive().optional(),
  /** Chance (0–1) that a matching request is affected. */
  probability: z.number().min(0).max(1).optional(),
});

export type FaultRuleInput = z.input<typeof faultRuleSchema>;
export type FaultRule = z.output<typeof faultRuleSchema> & {
  id: string;
  /** Requests that met the filters (occurrence counts these). */
  matched: number;
  /** Requests the rule affected. */
  hits: number;
  /** x-ms-request-id of each affected request, in order. */
  hitRequestIds: string[];
};
export type FaultEffect = FaultRule['effect'];
export type FaultPhase = FaultRule['phase'];

export interface FaultTarget {
  requestId: string;
  method: string;
  path: string;
  service: Service;
  principal?: string;
  query: URLSearchParams;
  body: Buffer;
}

/** An effect to apply, with the rule it came from. */
export interface FaultHit {
  ruleId: string;
  effect: FaultEffect;
}

export class Faults {
  private rules: FaultRule[] = [];

  constructor(private readonly random: () => number = Math.random) {}

  add(input: FaultRuleInput): FaultRule {
    const rule: FaultRule = {
      ...faultRuleSchema.parse(input),
      id: randomUUID(),
      matched: 0,
      hits: 0,
      hitRequestIds: [],
    };
    if (rule.match.path) new RegExp(rule.match.path, 'i'); // fail early on a bad pattern
    if (rule.effect.type === 'omitField' && rule.phase !== 'after')
      throw new RangeError("an omitField effect needs phase 'after' (it edits the handler's answer)");
    this.rules.push(rule);
    return rule;
  }

  list(): FaultRule[] {
    return this.rules.map((r) => ({ ...r, hitRequestIds: [...r.hitRequestIds] }));
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length !== before;
  }

  clear(): void {
    this.rules = [];
  }

  /** The effects of this phase that apply to this request, in rule order; counts matches and hits. */
  take(target: FaultTarget, phase: FaultPhase = 'before'): FaultHit[] {
    const hits: FaultHit[] = [];
    let body: { value: unknown } | undefined;
    const json = (): unknown => {
      if (!body) {
        try {
          body = { value: JSON.parse(target.body.toString('utf8')) as unknown };
        } catch {
          body = { value: undefined };
        }
      }
      return body.value;
    };
    for (const rule of this.rules) {
      if (rule.phase !== phase) continue;
      const m = rule.match;
      if (m.service && m.service !== target.service) continue;
      if (m.method && m.method.toUpperCase() !== target.method.toUpperCase()) continue;
      if (m.principal && m.principal.toLowerCase() !== target.principal?.toLowerCase()) continue;
      if (m.path && !new RegExp(m.path, 'i').test(target.path)) continue;
      if (m.query && !queryMatches(m.query, target.query)) continue;
      if (m.bodyContains && !target.body.toString('utf8').includes(m.bodyContains)) continue;
      if (m.bodyEquals && valueAt(json(), m.bodyEquals.path) !== m.bodyEquals.value) continue;
      rule.matched++;
      if (rule.occurrence !== undefined && !inOccurrence(rule.occurrence, rule.matched)) continue;
      if (rule.count !== undefined && rule.hits >= rule.count) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      rule.hits++;
      rule.hitRequestIds.push(target.requestId);
      hits.push({ ruleId: rule.id, effect: rule.effect });
    }
    return hits;
  }
}

function queryMatches(wanted: Record<string, string>, query: URLSearchParams): boolean {
  const lower = new Map<string, string[]>();
  for (const [k, v] of query) lower.set(k.toLowerCase(), [...(lower.get(k.toLowerCase()) ?? []), v]);
  return Object.entries(wanted).every(([k, v]) =>
    (lower.get(k.toLowerCase()) ?? []).some((x) => x.toLowerCase() === v.toLowerCase()),
  );
}

function inOccurrence(o: NonNullable<FaultRule['occurrence']>, n: number): boolean {
  if (typeof o === 'number') return n === o;
  if (Array.isArray(o)) return o.includes(n);
  return n >= o.from && (o.to === undefined || n <= o.to);
}

/** A deep copy of a JSON value without the value at `path`; the same value when the path is absent. */
export function withoutPath(value: unknown, path: string): unknown {
  const copy = JSON.parse(JSON.stringify(value)) as unknown;
  const steps = path.split('.');
  const last = steps.pop()!;
  const parent = valueAt(copy, steps.join('.'));
  if (steps.length === 0) {
    if (copy && typeof copy === 'object') delete (copy as Record<string, unknown>)[last];
  } else if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[last];
  return copy;
}

/** `a.b.0.c` in a parsed JSON value; undefined when any step is missing. */
export function valueAt(value: unknown, path: string): unknown {
  let cur: unknown = value;
  for (const step of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? (cur as unknown[])[Number(step)] : (cur as Record<string, unknown>)[step];
  }
  return cur;
}
