/**
 * The sandbox cannot run KQL. It evaluates one shape — the shape log alerts over the Key Vault audit log
 * take (the product's infra and the AMBA Key Vault rules): `AzureDiagnostics` followed by `where`
 * stages of column comparisons (==, !=, =~, !~, contains, !contains, has, startswith, in, !in, in~,
 * <, <=, >, >=) joined by and/or/parentheses, `TimeGenerated > ago(…)`, and `project`/`order by`/
 * `sort by` (which do not change the result count). Any other query is stored but not evaluated: the
 * compiler says why, and the rule never fires (README, differences table).
 */
export type Row = Record<string, string | number | boolean | null>;
export type Predicate = (row: Row, now: number) => boolean;

export type Compiled = { ok: true; table: string; predicate: Predicate } | { ok: false; reason: string };

const EVALUATED_TABLES = ['AzureDiagnostics'];

type Token =
  | { t: 'id'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'op'; v: string }
  | { t: 'span'; v: number };

const SPAN_UNITS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\\' && j + 1 < text.length) j++;
        s += text[j];
        j++;
      }
      if (j >= text.length) throw new Error('unterminated string literal');
      out.push({ t: 'str', v: s });
      i = j + 1;
      continue;
    }
    const span = /^(\d+(?:\.\d+)?)(ms|d|h|m|s)\b/.exec(text.slice(i));
    if (span) {
      out.push({ t: 'span', v: Number(span[1]) * SPAN_UNITS[span[2]!]! });
      i += span[0].length;
      continue;
    }
    const num = /^\d+(?:\.\d+)?/.exec(text.slice(i));
    if (num) {
      out.push({ t: 'num', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const op = /^(==|!=|=~|!~|>=|<=|>|<|\(|\)|,|!in~|!in\b|in~|!contains\b|!has\b|!startswith\b)/.exec(
      text.slice(i),
    );
    if (op) {
      out.push({ t: 'op', v: op[0] });
      i += op[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (id) {
      out.push({ t: 'id', v: id[0] });
      i += id[0].length;
      continue;
    }
    throw new Error(`unexpected '${c}'`);
  }
  return out;
}

/** Splits on top-level `|` (outside string literals). */
function stages(query: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  for (const c of query) {
    if (quote) {
      if (c === quote) quote = undefined;
      cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur += c;
    } else if (c === '|') {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  out.push(cur.trim());
  return out;
}

type Value = string | number;

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Predicate {
    const p = this.or();
    if (this.i < this.tokens.length) throw new Error(`unexpected '${String(this.tokens[this.i]!.v)}'`);
    return p;
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }
  private next(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new Error('unexpected end of the where clause');
    return t;
  }
  private keyword(word: string): boolean {
    const t = this.peek();
    if (t?.t === 'id' && t.v === word) {
      this.i++;
      return true;
    }
    return false;
  }
  private expectOp(v: string): void {
    const t = this.next();
    if (t.t !== 'op' || t.v !== v) throw new Error(`expected '${v}'`);
  }

  private or(): Predicate {
    const parts = [this.and()];
    while (this.keyword('or')) parts.push(this.and());
    return parts.length === 1 ? parts[0]! : (row, now) => parts.some((p) => p(row, now));
  }

  private and(): Predicate {
    const parts = [this.atom()];
    while (this.keyword('and')) parts.push(this.atom());
    return parts.length === 1 ? parts[0]! : (row, now) => parts.every((p) => p(row, now));
  }

  private value(): Value {
    const t = this.next();
    if (t.t === 'str' || t.t === 'num') return t.v;
    if (t.t === 'id' && (t.v === 'true' || t.v === 'false')) return t.v;
    throw new Error('expected a literal');
  }

  private atom(): Predicate {
    const t = this.peek();
    if (t?.t === 'op' && t.v === '(') {
      this.i++;
      const inner = this.or();
      this.expectOp(')');
      return inner;
    }
    const field = this.next();
    if (field.t !== 'id') throw new Error('expected a column name');
    const column = field.v;
    const op = this.next();
    const opText = op.t === 'id' ? op.v : op.t === 'op' ? op.v : '';
    if (['in', '!in', 'in~', '!in~'].includes(opText)) {
      this.expectOp('(');
      const values: Value[] = [this.value()];
      while (this.peek()?.t === 'op' && this.peek()!.v === ',') {
        this.i++;
        values.push(this.value());
      }
      this.expectOp(')');
      const insensitive = opText.endsWith('~');
      const negate = opText.startsWith('!');
      const set = values.map((v) => (insensitive ? String(v).toLowerCase() : String(v)));
      return (row) => {
        const cell = row[column];
        if (cell === undefined || cell === null) return negate;
        const s = insensitive ? String(cell).toLowerCase() : String(cell);
        return set.includes(s) !== negate;
      };
    }
    if (column === 'TimeGenerated' && (opText === '>' || opText === '>=')) {
      const fn = this.next();
      if (fn.t !== 'id' || fn.v !== 'ago')
        throw new Error('TimeGenerated is compared with ago(<timespan>) only');
      this.expectOp('(');
      const span = this.next();
      if (span.t !== 'span') throw new Error('ago() takes a timespan such as 10m or 1h');
      this.expectOp(')');
      return (row, now) => Date.parse(String(row.TimeGenerated)) >= now - span.v;
    }
    const literal = this.value();
    return compare(column, opText, literal);
  }
}

function compare(column: string, op: string, literal: Value): Predicate {
  const lower = String(literal).toLowerCase();
  const numeric = typeof literal === 'number';
  switch (op) {
    case '==':
      return (row) =>
        cellText(row, column) === String(literal) || (numeric && Number(row[column]) === literal);
    case '!=':
      return (row) =>
        !(cellText(row, column) === String(literal) || (numeric && Number(row[column]) === literal));
    case '=~':
      return (row) => cellText(row, column)?.toLowerCase() === lower;
    case '!~':
      return (row) => cellText(row, column)?.toLowerCase() !== lower;
    case 'contains':
    case 'has':
      return (row) => (cellText(row, column)?.toLowerCase() ?? '').includes(lower);
    case '!contains':
    case '!has':
      return (row) => !(cellText(row, column)?.toLowerCase() ?? '').includes(lower);
    case 'startswith':
      return (row) => (cellText(row, column)?.toLowerCase() ?? '').startsWith(lower);
    case '!startswith':
      return (row) => !(cellText(row, column)?.toLowerCase() ?? '').startsWith(lower);
    case '>':
    case '>=':
    case '<':
    case '<=': {
      if (!numeric) throw new Error(`'${op}' compares numbers`);
      return (row) => {
        const n = Number(row[column]);
        if (row[column] === undefined || row[column] === null || Number.isNaN(n)) return false;
        return op === '>'
          ? n > literal
          : op === '>='
            ? n >= literal
            : op === '<'
              ? n < literal
              : n <= literal;
      };
    }
    default:
      throw new Error(`operator '${op}' is not evaluated`);
  }
}

function cellText(row: Row, column: string): string | undefined {
  const v = row[column];
  return v === undefined || v === null ? undefined : String(v);
}

/** Compiles the evaluated subset; anything else comes back `{ ok: false, reason }`. */
export function compileQuery(query: string): Compiled {
  try {
    const parts = stages(query.replace(/\/\/[^\n]*/g, ''));
    const table = parts[0] ?? '';
    if (!EVALUATED_TABLES.includes(table))
      return { ok: false, reason: `the sandbox evaluates queries over ${EVALUATED_TABLES.join(', ')} only` };
    const predicates: Predicate[] = [];
    for (const stage of parts.slice(1)) {
      const word = /^[a-z-]+(?:\s+by)?/.exec(stage)?.[0] ?? '';
      if (word === 'where') predicates.push(new Parser(tokenize(stage.slice(5))).parse());
      else if (word === 'project' || word === 'order by' || word === 'sort by') continue;
      else return { ok: false, reason: `the '${word || stage}' operator is not evaluated by the sandbox` };
    }
    return { ok: true, table, predicate: (row, now) => predicates.every((p) => p(row, now)) };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
