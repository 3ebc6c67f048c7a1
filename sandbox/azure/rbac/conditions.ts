import { actionMatches } from './match';

/**
 * Azure ABAC conditions on role assignments (conditionVersion 2.0), the subset used to delegate role
 * assignment management: `ActionMatches{'…'}`, `@Request[…]` / `@Resource[…]` attribute comparisons
 * (GuidEquals, GuidNotEquals, StringEquals, StringEqualsIgnoreCase, StringNotEquals, each optionally
 * with a ForAnyOfAnyValues / ForAllOfAnyValues / ForAnyOfAllValues / ForAllOfAllValues quantifier),
 * `!`, AND, OR and parentheses. A condition outside this subset does not parse: its assignment then
 * grants nothing (fail closed; sandbox README, differences).
 *
 * An assignment with a condition grants an operation only when the condition is true for the request:
 * delegation conditions are written `!(ActionMatches{write}) OR <constraint>`, so they leave other
 * operations alone and constrain role assignment writes to the roles they list.
 */
export interface ConditionContext {
  action: string;
  /** Attributes of the request (`@Request[...]`), e.g. the role definition id being assigned. */
  request?: Record<string, string[]>;
  /** Attributes of the existing resource (`@Resource[...]`), e.g. the assignment being deleted. */
  resource?: Record<string, string[]>;
}

type Node =
  | { k: 'and' | 'or'; a: Node; b: Node }
  | { k: 'not'; a: Node }
  | { k: 'action'; pattern: string }
  | {
      k: 'cmp';
      source: 'request' | 'resource';
      attribute: string;
      quantifier?: string;
      op: string;
      values: string[];
    };

const OPERATORS = [
  'GuidEquals',
  'GuidNotEquals',
  'StringEquals',
  'StringEqualsIgnoreCase',
  'StringNotEquals',
];
const QUANTIFIERS = ['ForAnyOfAnyValues', 'ForAllOfAnyValues', 'ForAnyOfAllValues', 'ForAllOfAllValues'];

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  parse(): Node {
    const n = this.or();
    this.ws();
    if (this.i !== this.s.length) throw new Error(`unexpected '${this.s.slice(this.i, this.i + 20)}'`);
    return n;
  }
  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }
  private word(w: string): boolean {
    this.ws();
    if (this.s.slice(this.i, this.i + w.length).toUpperCase() === w.toUpperCase()) {
      const next = this.s[this.i + w.length];
      if (next === undefined || !/[A-Za-z]/.test(next)) {
        this.i += w.length;
        return true;
      }
    }
    return false;
  }
  private expect(c: string): void {
    this.ws();
    if (this.s[this.i] !== c) throw new Error(`expected '${c}' at ${this.i}`);
    this.i++;
  }
  private or(): Node {
    let a = this.and();
    while (this.word('OR')) a = { k: 'or', a, b: this.and() };
    return a;
  }
  private and(): Node {
    let a = this.unary();
    while (this.word('AND')) a = { k: 'and', a, b: this.unary() };
    return a;
  }
  private unary(): Node {
    this.ws();
    const c = this.s[this.i];
    if (c === '!') {
      this.i++;
      return { k: 'not', a: this.unary() };
    }
    if (c === '(') {
      this.i++;
      const n = this.or();
      this.expect(')');
      return n;
    }
    if (this.word('ActionMatches')) {
      this.expect('{');
      const [pattern] = this.items();
      this.expect('}');
      if (pattern === undefined) throw new Error('ActionMatches needs an action');
      return { k: 'action', pattern };
    }
    if (c === '@') return this.comparison();
    throw new Error(`unexpected '${this.s.slice(this.i, this.i + 20)}'`);
  }
  private comparison(): Node {
    const m = /^@(Request|Resource)\[([^\]]+)\]\s*(?:(\w+):)?(\w+)/i.exec(this.s.slice(this.i));
    if (!m) throw new Error(`bad attribute at ${this.i}`);
    const quantifier = m[3];
    const op = m[4]!;
    if (quantifier && !QUANTIFIERS.some((q) => q.toLowerCase() === quantifier.toLowerCase()))
      throw new Error(`unsupported quantifier ${quantifier}`);
    if (!OPERATORS.some((o) => o.toLowerCase() === op.toLowerCase()))
      throw new Error(`unsupported operator ${op}`);
    this.i += m[0].length;
    this.ws();
    let values: string[];
    if (this.s[this.i] === '{') {
      this.i++;
      values = this.items();
      this.expect('}');
    } else {
      values = this.items(true);
    }
    return {
      k: 'cmp',
      source: m[1]!.toLowerCase() as 'request' | 'resource',
      attribute: m[2]!.trim().toLowerCase(),
      ...(quantifier ? { quantifier: quantifier.toLowerCase() } : {}),
      op: op.toLowerCase(),
      values,
    };
  }
  /** Comma-separated quoted strings or bare GUIDs (one item when `single`). */
  private items(single = false): string[] {
    const out: string[] = [];
    for (;;) {
      this.ws();
      const c = this.s[this.i];
      if (c === "'") {
        const end = this.s.indexOf("'", this.i + 1);
        if (end < 0) throw new Error('unterminated string');
        out.push(this.s.slice(this.i + 1, end));
        this.i = end + 1;
      } else {
        const m = /^[0-9a-fA-F-]{36}/.exec(this.s.slice(this.i));
        if (!m) throw new Error(`expected a value at ${this.i}`);
        out.push(m[0]);
        this.i += m[0].length;
      }
      this.ws();
      if (single || this.s[this.i] !== ',') return out;
      this.i++;
    }
  }
}

const cache = new Map<string, Node | Error>();

/** The parsed condition, or the reason it is outside the supported subset. */
export function parseCondition(expression: string): Node | Error {
  let n = cache.get(expression);
  if (!n) {
    try {
      n = new Parser(expression).parse();
    } catch (e) {
      n = e as Error;
    }
    cache.set(expression, n);
  }
  return n;
}

const guidOf = (v: string): string => (v.split('/').pop() ?? v).toLowerCase();

function compare(op: string, actual: string, expected: string): boolean {
  switch (op) {
    case 'guidequals':
      return guidOf(actual) === guidOf(expected);
    case 'guidnotequals':
      return guidOf(actual) !== guidOf(expected);
    case 'stringequals':
      return actual === expected;
    case 'stringequalsignorecase':
      return actual.toLowerCase() === expected.toLowerCase();
    default:
      return actual !== expected; // stringnotequals
  }
}

function evaluate(n: Node, ctx: ConditionContext): boolean {
  switch (n.k) {
    case 'and':
      return evaluate(n.a, ctx) && evaluate(n.b, ctx);
    case 'or':
      return evaluate(n.a, ctx) || evaluate(n.b, ctx);
    case 'not':
      return !evaluate(n.a, ctx);
    case 'action':
      return actionMatches(n.pattern, ctx.action);
    case 'cmp': {
      const bag = n.source === 'request' ? ctx.request : ctx.resource;
      const entry = Object.entries(bag ?? {}).find(([k]) => k.toLowerCase() === n.attribute);
      const actual = entry?.[1] ?? [];
      // A missing attribute satisfies nothing (fail closed).
      if (actual.length === 0) return false;
      const q = n.quantifier ?? 'foranyofanyvalues';
      const anyActual = q.startsWith('forany');
      const anyValue = q.endsWith('anyvalues');
      const holds = (a: string) =>
        anyValue ? n.values.some((v) => compare(n.op, a, v)) : n.values.every((v) => compare(n.op, a, v));
      return anyActual ? actual.some(holds) : actual.every(holds);
    }
  }
}

/** True when the condition holds for the request; false when it does not or cannot be evaluated. */
export function conditionHolds(expression: string, ctx: ConditionContext): boolean {
  const n = parseCondition(expression);
  return !(n instanceof Error) && evaluate(n, ctx);
}
