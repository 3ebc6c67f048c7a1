/**
 * Event Grid subscription filters (pure): what matches, what the service refuses, and the retry
 * schedule's delays.
 */
import { matches, parseFilter, type EventFilter } from '../../sandbox/azure/eventgrid/filters';
import { retryDelay } from '../../sandbox/azure/eventgrid/delivery';
import { KEY_VAULT_EVENT_TYPES } from '../../sandbox/azure/eventgrid/events';
import { SandboxError } from '../../sandbox/azure/errors';

const event = (
  subject: string,
  data: Record<string, unknown> = {},
  eventType = 'Microsoft.KeyVault.KeyNewVersionCreated',
) => ({
  eventType,
  subject,
  wire: { id: '1', topic: '/t', subject, eventType, data },
});
const filter = (f: unknown): EventFilter => parseFilter(f, KEY_VAULT_EVENT_TYPES);

test('no filter matches everything', () => {
  expect(matches(filter(undefined), event('anything'))).toBe(true);
});

test('includedEventTypes is case-insensitive; subject prefix/suffix case-insensitive unless asked', () => {
  const f = filter({
    includedEventTypes: ['microsoft.keyvault.keyexpired'],
    subjectBeginsWith: 'CMK',
    subjectEndsWith: '-1',
  });
  expect(matches(f, event('cmk-1', {}, 'Microsoft.KeyVault.KeyExpired'))).toBe(true);
  expect(matches(f, event('cmk-1'))).toBe(false);
  expect(matches(f, event('cmk-2', {}, 'Microsoft.KeyVault.KeyExpired'))).toBe(false);
  const cs = filter({ subjectBeginsWith: 'CMK', isSubjectCaseSensitive: true });
  expect(matches(cs, event('cmk-1'))).toBe(false);
  expect(matches(cs, event('CMK-1'))).toBe(true);
});

test('StringIn / StringBeginsWith on data.ObjectName and subject; values case-insensitive; filters ANDed', () => {
  const f = filter({
    advancedFilters: [
      { operatorType: 'StringIn', key: 'data.ObjectName', values: ['KEY-A', 'key-b'] },
      { operatorType: 'StringBeginsWith', key: 'subject', values: ['key-'] },
    ],
  });
  expect(matches(f, event('key-a', { ObjectName: 'key-a' }))).toBe(true);
  expect(matches(f, event('key-b', { ObjectName: 'key-b' }))).toBe(true);
  expect(matches(f, event('key-c', { ObjectName: 'key-c' }))).toBe(false);
  expect(matches(f, event('other', { ObjectName: 'key-a' }))).toBe(false);
});

test('a missing key only matches the Not-In operators and IsNullOrUndefined', () => {
  const missing = event('k', {});
  const op = (operatorType: string, extra: Record<string, unknown>) =>
    matches(filter({ advancedFilters: [{ operatorType, key: 'data.Nope', ...extra }] }), missing);
  expect(op('StringNotIn', { values: ['a'] })).toBe(true);
  expect(op('NumberNotIn', { values: [1] })).toBe(true);
  expect(op('NumberNotInRange', { values: [[1, 2]] })).toBe(true);
  expect(op('IsNullOrUndefined', {})).toBe(true);
  expect(op('StringNotContains', { values: ['a'] })).toBe(false);
  expect(op('StringIn', { values: ['a'] })).toBe(false);
  expect(op('IsNotNull', {})).toBe(false);
});

test('number operators on data.EXP; arrays only element-wise when enabled', () => {
  const e = event('k', { EXP: 1700000000, Tags: ['a', 'b'] });
  const one = (f: Record<string, unknown>, onArrays?: boolean) =>
    matches(
      filter({
        advancedFilters: [f],
        ...(onArrays !== undefined ? { enableAdvancedFilteringOnArrays: onArrays } : {}),
      }),
      e,
    );
  expect(one({ operatorType: 'NumberLessThan', key: 'data.EXP', value: 1800000000 })).toBe(true);
  expect(one({ operatorType: 'NumberGreaterThanOrEquals', key: 'data.EXP', value: 1700000001 })).toBe(false);
  expect(one({ operatorType: 'NumberInRange', key: 'data.EXP', values: [[1600000000, 1700000000]] })).toBe(
    true,
  );
  expect(one({ operatorType: 'StringIn', key: 'data.Tags', values: ['b'] }, true)).toBe(true);
  expect(one({ operatorType: 'StringIn', key: 'data.Tags', values: ['b'] }, false)).toBe(false);
});

test('what the service refuses: 400 InvalidRequest', () => {
  const refused = (f: unknown): string => {
    try {
      filter(f);
    } catch (error) {
      if (error instanceof SandboxError) return `${error.status} ${error.code}`;
      throw error;
    }
    return 'accepted';
  };
  expect(refused({ includedEventTypes: ['Microsoft.KeyVault.KeyDeleted'] })).toBe('400 InvalidRequest');
  expect(
    refused({ advancedFilters: [{ operatorType: 'NumberInRange', key: 'data.EXP', values: [[2, 1]] }] }),
  ).toBe('400 InvalidRequest');
  expect(refused({ advancedFilters: [{ operatorType: 'BoolEquals', key: 'data.X', value: 'true' }] })).toBe(
    '400 InvalidRequest',
  );
  expect(refused({ advancedFilters: [{ operatorType: 'StringIn', key: ' ', values: ['a'] }] })).toBe(
    '400 InvalidRequest',
  );
  expect(
    refused({
      advancedFilters: Array.from({ length: 25 }, () => ({ operatorType: 'IsNotNull', key: 'subject' })),
    }),
  ).toBe('accepted');
});

test('retry delays: 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then 12 h', () => {
  const s = 1000;
  expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(retryDelay)).toEqual([
    10 * s,
    30 * s,
    60 * s,
    300 * s,
    600 * s,
    1800 * s,
    3600 * s,
    3 * 3600 * s,
    6 * 3600 * s,
    12 * 3600 * s,
    12 * 3600 * s,
  ]);
});
