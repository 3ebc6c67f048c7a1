/**
 * The Key Vault event parser (src/domain/keyVaultEvents.ts): both delivery schemas, Azure's PascalCase
 * `data` read tolerantly (the published example's typos included), and every forged, malformed or
 * oversized event refused with its reason — never a host outside the cloud's Key Vault suffix.
 */
import {
  MAX_EVENT_BYTES,
  parseKeyVaultEvent,
  type ParsedKeyVaultEvent,
} from '../../src/domain/keyVaultEvents';
import { SUB, SUFFIX, V1, vaultId } from './domain-fixtures';

const VAULT = vaultId('kv-prod');
const V2 = 'fedcba9876543210fedcba9876543210';

function eventGrid(overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}) {
  return {
    id: '00eccf70-95a7-4e7c-8299-2eb17ee9ad64',
    topic: VAULT,
    subject: 'cmk-1',
    eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
    eventTime: '2026-06-01T01:08:33.1036736Z',
    data: {
      Id: `https://kv-prod.${SUFFIX}/keys/cmk-1/${V1}`,
      VaultName: 'kv-prod',
      ObjectType: 'Key',
      ObjectName: 'cmk-1',
      Version: V1,
      NBF: 1780272000,
      EXP: 1811808000,
      ...data,
    },
    dataVersion: '1',
    metadataVersion: '1',
    ...overrides,
  };
}

function cloudEvent(overrides: Record<string, unknown> = {}) {
  const e = eventGrid();
  return {
    id: e.id,
    source: e.topic,
    specversion: '1.0',
    type: e.eventType,
    subject: e.subject,
    time: e.eventTime,
    data: e.data,
    ...overrides,
  };
}

const parse = (raw: unknown): ParsedKeyVaultEvent => parseKeyVaultEvent(raw, SUFFIX);
const reason = (raw: unknown): string => {
  const r = parse(raw);
  return r.outcome === 'ignored' ? r.reason : 'accepted';
};

describe('parseKeyVaultEvent — what it accepts', () => {
  it('reads an Event Grid schema KeyNewVersionCreated into one schema-neutral value', () => {
    expect(parse(eventGrid())).toEqual({
      outcome: 'accepted',
      event: {
        id: '00eccf70-95a7-4e7c-8299-2eb17ee9ad64',
        schema: 'EventGridSchema',
        kind: 'KeyNewVersionCreated',
        eventTime: '2026-06-01T01:08:33.103Z',
        vault: { name: 'kv-prod', resourceId: VAULT, subscriptionId: SUB, resourceGroup: 'rg-cmk' },
        key: { name: 'cmk-1', version: V1, versionlessKeyId: `https://kv-prod.${SUFFIX}/keys/cmk-1` },
        notBefore: '2026-06-01T00:00:00.000Z',
        expiresOn: '2027-06-01T00:00:00.000Z',
      },
    });
  });

  it('reads the same event in CloudEvents 1.0 to the same value (only the schema differs)', () => {
    const a = parse(eventGrid());
    const b = parse(cloudEvent());
    expect(a.outcome).toBe('accepted');
    expect(b).toEqual({
      ...a,
      event: { ...(a as { event: object }).event, schema: 'CloudEventSchemaV1_0' },
    });
  });

  it("tolerates the published example's typos: field names with spaces, values with spaces, NBF/EXP as strings, any casing", () => {
    const raw = eventGrid(
      {},
      { 'ObjectName ': ' cmk-1', Version: ` ${V1.toUpperCase()}`, NBF: '1780272000', EXP: ' 1811808000 ' },
    );
    delete (raw.data as Record<string, unknown>).ObjectName;
    const r = parse(raw);
    expect(r).toMatchObject({
      outcome: 'accepted',
      event: { key: { name: 'cmk-1', version: V1 }, expiresOn: '2027-06-01T00:00:00.000Z' },
    });
    // camelCase, as the swagger first had it, is the same event.
    const camel = eventGrid({
      data: {
        id: `https://KV-PROD.${SUFFIX.toUpperCase()}/keys/cmk-1/${V1}`,
        vaultName: 'KV-Prod',
        objectType: 'key',
        objectName: 'cmk-1',
        version: V1,
      },
    });
    expect(parse(camel)).toMatchObject({ outcome: 'accepted', event: { vault: { name: 'kv-prod' } } });
  });

  it('leaves NBF/EXP out when the key has none (null or absent), and accepts a versionless Id with Version', () => {
    const r = parse(
      eventGrid(
        { eventType: 'Microsoft.KeyVault.KeyNearExpiry' },
        { Id: `https://kv-prod.${SUFFIX}/keys/cmk-1`, NBF: null, EXP: undefined },
      ),
    );
    expect(r).toMatchObject({ outcome: 'accepted', event: { kind: 'KeyNearExpiry', key: { version: V1 } } });
    expect((r as { event: object }).event).not.toHaveProperty('expiresOn');
  });

  it('reads VaultAccessPolicyChanged (data.Id is the vault URI, no key)', () => {
    const r = parse(
      eventGrid(
        { eventType: 'Microsoft.KeyVault.VaultAccessPolicyChanged', subject: 'kv-prod' },
        { Id: `https://kv-prod.${SUFFIX}/`, ObjectType: 'Vault', ObjectName: 'kv-prod', Version: '' },
      ),
    );
    expect(r).toEqual({
      outcome: 'accepted',
      event: {
        id: '00eccf70-95a7-4e7c-8299-2eb17ee9ad64',
        schema: 'EventGridSchema',
        kind: 'VaultAccessPolicyChanged',
        eventTime: '2026-06-01T01:08:33.103Z',
        vault: { name: 'kv-prod', resourceId: VAULT, subscriptionId: SUB, resourceGroup: 'rg-cmk' },
      },
    });
  });

  it('accepts data as a JSON string (CloudEvents double encoding)', () => {
    expect(reason(cloudEvent({ data: JSON.stringify(eventGrid().data) }))).toBe('accepted');
  });
});

describe('parseKeyVaultEvent — what it ignores, and why', () => {
  it('ignores the types the app does not react to, naming them', () => {
    for (const t of [
      'Microsoft.KeyVault.SecretNewVersionCreated',
      'Microsoft.KeyVault.CertificateExpired',
      'Microsoft.KeyVault.KeyDeleted',
      'Microsoft.Storage.BlobCreated',
    ]) {
      expect(parse(eventGrid({ eventType: t }))).toMatchObject({
        outcome: 'ignored',
        reason: 'unknownType',
        eventType: t,
        id: '00eccf70-95a7-4e7c-8299-2eb17ee9ad64',
      });
    }
  });

  it('refuses a key id on a host outside the Key Vault suffix (forged events never make the app call it)', () => {
    for (const id of [
      `https://kv-prod.attacker.example/keys/cmk-1/${V1}`,
      `https://kv-prod.${SUFFIX}.attacker.example/keys/cmk-1/${V1}`,
      `https://kv-prod.${SUFFIX}:8443/keys/cmk-1/${V1}`,
      `https://user@kv-prod.${SUFFIX}/keys/cmk-1/${V1}`,
      `https://169.254.169.254/keys/cmk-1/${V1}`,
    ]) {
      expect([id, reason(eventGrid({}, { Id: id }))]).toEqual([id, 'foreignVault']);
    }
    expect(
      reason(
        eventGrid(
          { eventType: 'Microsoft.KeyVault.VaultAccessPolicyChanged' },
          { Id: 'https://kv-prod.attacker.example/' },
        ),
      ),
    ).toBe('foreignVault');
  });

  it('refuses an event whose vault is named differently by topic, VaultName, Id, ObjectName or subject', () => {
    expect(reason(eventGrid({}, { VaultName: 'kv-other' }))).toBe('inconsistent');
    expect(
      reason(eventGrid({}, { Id: `https://kv-other.${SUFFIX}/keys/cmk-1/${V1}`, VaultName: 'kv-prod' })),
    ).toBe('inconsistent');
    expect(reason(eventGrid({ topic: vaultId('kv-other') }))).toBe('inconsistent');
    expect(reason(eventGrid({}, { ObjectName: 'cmk-2' }))).toBe('inconsistent');
    expect(reason(eventGrid({ subject: 'cmk-2' }))).toBe('inconsistent');
    expect(reason(eventGrid({}, { Version: V2 }))).toBe('inconsistent');
    expect(reason(eventGrid({}, { ObjectType: 'Secret' }))).toBe('inconsistent');
    expect(reason(eventGrid({}, { vaultname: 'kv-other' }))).toBe('inconsistent');
  });

  it('refuses malformed envelopes and data: missing fields, wrong types, bad ids', () => {
    const cases: Array<[string, unknown]> = [
      ['not an object', 'hello'],
      ['an array', [eventGrid()]],
      ['null', null],
      ['no id', { ...eventGrid(), id: undefined }],
      ['id a number', eventGrid({ id: 42 })],
      ['no eventType', eventGrid({ eventType: undefined })],
      ['no topic', eventGrid({ topic: undefined })],
      ['topic not a vault', eventGrid({ topic: `/subscriptions/${SUB}/resourceGroups/rg` })],
      [
        'topic a namespace',
        eventGrid({ topic: VAULT.replace('Microsoft.KeyVault/vaults', 'Microsoft.ServiceBus/namespaces') }),
      ],
      ['data missing', eventGrid({ data: undefined })],
      ['data an array', eventGrid({ data: [1, 2] })],
      ['data a non-JSON string', eventGrid({ data: '{oops' })],
      ['no VaultName', eventGrid({}, { VaultName: undefined })],
      ['VaultName a number', eventGrid({}, { VaultName: 7 })],
      ['no Id', eventGrid({}, { Id: undefined })],
      ['Id not a key id', eventGrid({}, { Id: `https://kv-prod.${SUFFIX}/secrets/cmk-1` })],
      ['Id http', eventGrid({}, { Id: `http://kv-prod.${SUFFIX}/keys/cmk-1/${V1}` })],
      ['Id with a dot segment', eventGrid({}, { Id: `https://kv-prod.${SUFFIX}/keys/../cmk-1` })],
      ['Version not hex', eventGrid({}, { Version: 'latest', Id: `https://kv-prod.${SUFFIX}/keys/cmk-1` })],
      [
        'new version without a version',
        eventGrid({}, { Version: '', Id: `https://kv-prod.${SUFFIX}/keys/cmk-1` }),
      ],
      ['EXP not a time', eventGrid({}, { EXP: 'tomorrow' })],
      ['EXP negative', eventGrid({}, { EXP: -5 })],
      ['EXP an object', eventGrid({}, { EXP: { seconds: 1 } })],
      ['specversion 0.3', cloudEvent({ specversion: '0.3' })],
      ['CloudEvent without source', cloudEvent({ source: undefined })],
      ['a huge string', eventGrid({}, { VaultName: 'k'.repeat(5000) })],
      [
        'too many data fields',
        eventGrid({}, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, i]))),
      ],
    ];
    for (const [what, raw] of cases) {
      const r = parse(raw);
      expect([what, r.outcome]).toEqual([what, 'ignored']);
      expect([what, (r as { reason: string }).reason]).toEqual([
        what,
        expect.stringMatching(/malformed|tooLarge/),
      ]);
    }
  });

  it('refuses a huge event before reading it, and never throws on deep or odd input', () => {
    const huge = eventGrid({ extra: 'x'.repeat(MAX_EVENT_BYTES + 1) });
    expect(parse(huge)).toMatchObject({ outcome: 'ignored', reason: 'tooLarge' });
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 10_000; i++) {
      const next: Record<string, unknown> = {};
      deep.d = next;
      deep = next;
    }
    expect(parse(eventGrid({ data: root })).outcome).toBe('ignored');
    expect(parse(eventGrid({ data: Object.create(null) as object })).outcome).toBe('ignored');
    expect(parse(eventGrid({}, { ['__proto__']: { polluted: true } })).outcome).toBe('accepted');
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });
});
