/**
 * Event subscription filters, as Event Grid evaluates them (event-filtering docs): `includedEventTypes`
 * (case-insensitive), `subjectBeginsWith` / `subjectEndsWith` (case-insensitive unless
 * `isSubjectCaseSensitive`), and advanced filters ANDed together, each matching when any of its values
 * matches; string comparisons are case-insensitive. A key the event does not have only matches the
 * "Not" operators NumberNotIn, StringNotIn and NumberNotInRange (and IsNullOrUndefined).
 *
 * Keys address the event as delivered in the subscription's schema: `subject`, `eventType` / `type`,
 * `id`, `topic` / `source`, `data.<Property>` (property names matched case-insensitively [U]).
 */
import { ArmErrors } from '../errors';

export type AdvancedOperator =
  | 'NumberIn'
  | 'NumberNotIn'
  | 'NumberLessThan'
  | 'NumberGreaterThan'
  | 'NumberLessThanOrEquals'
  | 'NumberGreaterThanOrEquals'
  | 'NumberInRange'
  | 'NumberNotInRange'
  | 'BoolEquals'
  | 'StringIn'
  | 'StringNotIn'
  | 'StringBeginsWith'
  | 'StringNotBeginsWith'
  | 'StringEndsWith'
  | 'StringNotEndsWith'
  | 'StringContains'
  | 'StringNotContains'
  | 'IsNullOrUndefined'
  | 'IsNotNull';

export interface AdvancedFilter {
  operatorType: AdvancedOperator;
  key: string;
  value?: number | boolean;
  values?: Array<string | number | number[]>;
}

export interface EventFilter {
  includedEventTypes?: string[];
  subjectBeginsWith: string;
  subjectEndsWith: string;
  isSubjectCaseSensitive: boolean;
  enableAdvancedFilteringOnArrays?: boolean;
  advancedFilters: AdvancedFilter[];
}

const STRING_LIST_OPS = new Set<AdvancedOperator>([
  'StringIn',
  'StringNotIn',
  'StringBeginsWith',
  'StringNotBeginsWith',
  'StringEndsWith',
  'StringNotEndsWith',
  'StringContains',
  'StringNotContains',
]);
const NUMBER_LIST_OPS = new Set<AdvancedOperator>(['NumberIn', 'NumberNotIn']);
const RANGE_OPS = new Set<AdvancedOperator>(['NumberInRange', 'NumberNotInRange']);
const NUMBER_VALUE_OPS = new Set<AdvancedOperator>([
  'NumberLessThan',
  'NumberGreaterThan',
  'NumberLessThanOrEquals',
  'NumberGreaterThanOrEquals',
]);
const NO_VALUE_OPS = new Set<AdvancedOperator>(['IsNullOrUndefined', 'IsNotNull']);
const ALL_OPS = new Set<string>([
  ...STRING_LIST_OPS,
  ...NUMBER_LIST_OPS,
  ...RANGE_OPS,
  ...NUMBER_VALUE_OPS,
  ...NO_VALUE_OPS,
  'BoolEquals',
]);

/** Event Grid's limits (event-filtering docs, "Limitations"). */
export const FILTER_LIMITS = { advancedFilters: 25, values: 25, stringLength: 512 };

const invalid = (message: string) => ArmErrors.badRequest('InvalidRequest', message);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates the `filter` of an event subscription body; throws Azure's 400 InvalidRequest. */
export function parseFilter(input: unknown, knownEventTypes: readonly string[]): EventFilter {
  if (input === undefined || input === null)
    return { subjectBeginsWith: '', subjectEndsWith: '', isSubjectCaseSensitive: false, advancedFilters: [] };
  if (!isObject(input)) throw invalid('The filter of the event subscription must be an object.');
  const out: EventFilter = {
    subjectBeginsWith: '',
    subjectEndsWith: '',
    isSubjectCaseSensitive: false,
    advancedFilters: [],
  };
  if (input.includedEventTypes !== undefined && input.includedEventTypes !== null) {
    const types = input.includedEventTypes;
    if (!Array.isArray(types) || !types.every((t): t is string => typeof t === 'string' && t.length > 0))
      throw invalid('includedEventTypes must be an array of event type names.');
    // [U] Azure refuses event types the topic type does not publish; the wording is ours.
    for (const t of types) {
      if (!knownEventTypes.some((k) => k.toLowerCase() === t.toLowerCase()))
        throw invalid(
          `Event type '${t}' is not supported for this topic type. Supported event types: ${knownEventTypes.join(', ')}.`,
        );
    }
    out.includedEventTypes = types;
  }
  for (const key of ['subjectBeginsWith', 'subjectEndsWith'] as const) {
    const v = input[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw invalid(`${key} must be a string.`);
    out[key] = v;
  }
  if (input.isSubjectCaseSensitive !== undefined && input.isSubjectCaseSensitive !== null) {
    if (typeof input.isSubjectCaseSensitive !== 'boolean')
      throw invalid('isSubjectCaseSensitive must be a boolean.');
    out.isSubjectCaseSensitive = input.isSubjectCaseSensitive;
  }
  if (input.enableAdvancedFilteringOnArrays !== undefined && input.enableAdvancedFilteringOnArrays !== null) {
    if (typeof input.enableAdvancedFilteringOnArrays !== 'boolean')
      throw invalid('enableAdvancedFilteringOnArrays must be a boolean.');
    out.enableAdvancedFilteringOnArrays = input.enableAdvancedFilteringOnArrays;
  }
  if (input.advancedFilters !== undefined && input.advancedFilters !== null) {
    if (!Array.isArray(input.advancedFilters)) throw invalid('advancedFilters must be an array.');
    if (input.advancedFilters.length > FILTER_LIMITS.advancedFilters)
      throw invalid(
        `The maximum number of advanced filters allowed is ${FILTER_LIMITS.advancedFilters}; the request has ${input.advancedFilters.length}.`,
      );
    let totalValues = 0;
    for (const raw of input.advancedFilters as unknown[]) {
      const f = parseAdvancedFilter(raw);
      totalValues += f.values?.length ?? (f.value !== undefined ? 1 : 0);
      out.advancedFilters.push(f);
    }
    if (totalValues > FILTER_LIMITS.values)
      throw invalid(
        `The maximum number of values allowed across all advanced filters is ${FILTER_LIMITS.values}; the request has ${totalValues}.`,
      );
  }
  return out;
}

function parseAdvancedFilter(raw: unknown): AdvancedFilter {
  if (!isObject(raw)) throw invalid('Each advanced filter must be an object.');
  const op = raw.operatorType;
  if (typeof op !== 'string' || !ALL_OPS.has(op))
    throw invalid(`The advanced filter operator type '${String(op)}' is not valid.`);
  const operatorType = op as AdvancedOperator;
  const key = raw.key;
  if (typeof key !== 'string' || key.trim() === '')
    throw invalid(`The advanced filter with operator ${operatorType} must have a key.`);
  if (key.split('.').length > 10) throw invalid(`The advanced filter key '${key}' is nested too deeply.`);
  if (NO_VALUE_OPS.has(operatorType)) return { operatorType, key };
  if (operatorType === 'BoolEquals') {
    if (typeof raw.value !== 'boolean') throw invalid('BoolEquals needs a boolean value.');
    return { operatorType, key, value: raw.value };
  }
  if (NUMBER_VALUE_OPS.has(operatorType)) {
    if (typeof raw.value !== 'number' || !Number.isFinite(raw.value))
      throw invalid(`${operatorType} needs a numeric value.`);
    return { operatorType, key, value: raw.value };
  }
  const values = raw.values;
  if (!Array.isArray(values) || values.length === 0)
    throw invalid(`The advanced filter ${operatorType} on '${key}' needs at least one value.`);
  if (STRING_LIST_OPS.has(operatorType)) {
    for (const v of values as unknown[]) {
      if (typeof v !== 'string') throw invalid(`${operatorType} values must be strings.`);
      if (v.length > FILTER_LIMITS.stringLength)
        throw invalid(
          `A string value of an advanced filter is limited to ${FILTER_LIMITS.stringLength} characters.`,
        );
    }
    return { operatorType, key, values: values as string[] };
  }
  if (NUMBER_LIST_OPS.has(operatorType)) {
    if (!(values as unknown[]).every((v) => typeof v === 'number' && Number.isFinite(v)))
      throw invalid(`${operatorType} values must be numbers.`);
    return { operatorType, key, values: values as number[] };
  }
  // Ranges: [[low, high], …]
  for (const r of values as unknown[]) {
    if (
      !Array.isArray(r) ||
      r.length !== 2 ||
      !r.every((n) => typeof n === 'number' && Number.isFinite(n)) ||
      (r[0] as number) > (r[1] as number)
    )
      throw invalid(`${operatorType} values must be [low, high] pairs of numbers.`);
  }
  return { operatorType, key, values: values as number[][] };
}

/** The value at a dotted key, property names matched case-insensitively; undefined when absent. */
function lookup(event: Record<string, unknown>, key: string): unknown {
  let current: unknown = event;
  for (const part of key.split('.')) {
    if (!isObject(current)) return undefined;
    const found = Object.keys(current).find((k) => k.toLowerCase() === part.toLowerCase());
    if (found === undefined) return undefined;
    current = current[found];
  }
  return current;
}

function matchesAdvanced(f: AdvancedFilter, event: Record<string, unknown>, onArrays: boolean): boolean {
  const raw = lookup(event, f.key);
  if (f.operatorType === 'IsNullOrUndefined') return raw === undefined || raw === null;
  if (f.operatorType === 'IsNotNull') return raw !== undefined && raw !== null;
  if (raw === undefined || raw === null)
    return ['NumberNotIn', 'StringNotIn', 'NumberNotInRange'].includes(f.operatorType);
  const candidates: unknown[] = Array.isArray(raw) ? (onArrays ? raw : [raw]) : [raw];
  return candidates.some((v) => matchesValue(f, v));
}

function matchesValue(f: AdvancedFilter, v: unknown): boolean {
  const op = f.operatorType;
  if (op === 'BoolEquals') return v === f.value;
  if (STRING_LIST_OPS.has(op)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return op.includes('Not');
    const s = String(v).toLowerCase();
    const values = (f.values as string[]).map((x) => x.toLowerCase());
    switch (op) {
      case 'StringIn':
        return values.includes(s);
      case 'StringNotIn':
        return !values.includes(s);
      case 'StringBeginsWith':
        return values.some((x) => s.startsWith(x));
      case 'StringNotBeginsWith':
        return !values.some((x) => s.startsWith(x));
      case 'StringEndsWith':
        return values.some((x) => s.endsWith(x));
      case 'StringNotEndsWith':
        return !values.some((x) => s.endsWith(x));
      case 'StringContains':
        return values.some((x) => s.includes(x));
      default:
        return !values.some((x) => s.includes(x));
    }
  }
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (Number.isNaN(n)) return op === 'NumberNotIn' || op === 'NumberNotInRange';
  switch (op) {
    case 'NumberIn':
      return (f.values as number[]).includes(n);
    case 'NumberNotIn':
      return !(f.values as number[]).includes(n);
    case 'NumberInRange':
      return (f.values as number[][]).some(([lo, hi]) => n >= lo! && n <= hi!);
    case 'NumberNotInRange':
      return !(f.values as number[][]).some(([lo, hi]) => n >= lo! && n <= hi!);
    case 'NumberLessThan':
      return n < (f.value as number);
    case 'NumberGreaterThan':
      return n > (f.value as number);
    case 'NumberLessThanOrEquals':
      return n <= (f.value as number);
    default:
      return n >= (f.value as number);
  }
}

/** Whether an event (in the subscription's delivery schema) passes the subscription's filter. */
export function matches(
  filter: EventFilter,
  event: { eventType: string; subject: string; wire: Record<string, unknown> },
): boolean {
  if (
    filter.includedEventTypes &&
    !filter.includedEventTypes.some((t) => t.toLowerCase() === event.eventType.toLowerCase())
  )
    return false;
  const cs = filter.isSubjectCaseSensitive;
  const subject = cs ? event.subject : event.subject.toLowerCase();
  const begins = cs ? filter.subjectBeginsWith : filter.subjectBeginsWith.toLowerCase();
  const ends = cs ? filter.subjectEndsWith : filter.subjectEndsWith.toLowerCase();
  if (begins && !subject.startsWith(begins)) return false;
  if (ends && !subject.endsWith(ends)) return false;
  const onArrays = filter.enableAdvancedFilteringOnArrays === true;
  return filter.advancedFilters.every((f) => matchesAdvanced(f, event.wire, onArrays));
}
