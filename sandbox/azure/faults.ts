import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Service } from './context';

/**
 * Fault injection: rules matched against each request (after authentication, so a rule can target one
 * principal) that add latency, fail the request with a status + error code, or throttle it with 429 +
 * Retry-After — for the next `count` matching requests and/or with a probability.
 */
export const faultRuleSchema = z.object({
  match: z
    .object({
      method: z.string().optional(),
      /** Regular expression tested against the path (case-insensitive). */
      path: z.string().optional(),
      service: z.enum(['arm', 'keyvault', 'identity']).optional(),
      /** Object id of the caller. */
      principal: z.string().optional(),
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
  ]),
  /** How many matching requests the rule affects; unlimited when omitted. */
  count: z.number().int().positive().optional(),
  /** Chance (0–1) that a matching request is affected. */
  probability: z.number().min(0).max(1).optional(),
});

export type FaultRuleInput = z.input<typeof faultRuleSchema>;
export type FaultRule = z.output<typeof faultRuleSchema> & { id: string; hits: number };
export type FaultEffect = FaultRule['effect'];

export interface FaultTarget {
  method: string;
  path: string;
  service: Service;
  principal?: string;
}

export class Faults {
  private rules: FaultRule[] = [];

  constructor(private readonly random: () => number = Math.random) {}

  add(input: FaultRuleInput): FaultRule {
    const rule: FaultRule = { ...faultRuleSchema.parse(input), id: randomUUID(), hits: 0 };
    if (rule.match.path) new RegExp(rule.match.path, 'i'); // fail early on a bad pattern
    this.rules.push(rule);
    return rule;
  }

  list(): FaultRule[] {
    return [...this.rules];
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length !== before;
  }

  clear(): void {
    this.rules = [];
  }

  /** The effects that apply to this request, in rule order; consumes counts. */
  take(target: FaultTarget): FaultEffect[] {
    const effects: FaultEffect[] = [];
    for (const rule of this.rules) {
      const m = rule.match;
      if (m.service && m.service !== target.service) continue;
      if (m.method && m.method.toUpperCase() !== target.method.toUpperCase()) continue;
      if (m.principal && m.principal.toLowerCase() !== target.principal?.toLowerCase()) continue;
      if (m.path && !new RegExp(m.path, 'i').test(target.path)) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      rule.hits++;
      effects.push(rule.effect);
      if (rule.count !== undefined && rule.hits >= rule.count) this.remove(rule.id);
    }
    return effects;
  }
}
