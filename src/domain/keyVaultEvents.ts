/**
 * Key Vault events as Event Grid delivers them to the app (docs/ARCHITECTURE.md "Reactions"), in both
 * delivery schemas — Event Grid schema (`eventType`, `topic`, `eventTime`) and CloudEvents 1.0
 * (`type`, `source`, `time`, `specversion`) — parsed into one schema-neutral value, or refused with a
 * reason the trigger logs. Pure: no I/O, no SDK.
 *
 * What it trusts: nothing. An event is only a hint of where to look; every reaction re-reads Azure.
 * So the parser's job is to refuse anything that would make the app look somewhere it must not:
 * - `data` field names are matched case-insensitively and trimmed (Azure sends PascalCase; the
 *   published example has `"ObjectName "` with a trailing space), values trimmed, NBF/EXP numbers or
 *   numeric strings (the same example writes them as strings) or absent;
 * - the vault must be named consistently by the topic/source (an ARM vault id), `data.VaultName` and
 *   the host of `data.Id`, and that host must be a vault of this cloud's Key Vault DNS suffix
 *   (the domain's one host validator, resourceIds.ts) — else `foreignVault` / `inconsistent`;
 * - only the four types the product reacts to are accepted; any other (secrets, certificates, types
 *   Azure may add) is `unknownType`;
 * - an event larger than any Key Vault event could be is `tooLarge` before anything else is read.
 */
import {
  KeyVaultUrlError,
  ResourceIdError,
  UNTRUSTED_HOST_REASONS,
  parseKeyVaultKeyId,
  parseKeyVaultResourceId,
  parseKeyVaultUri,
} from './resourceIds';

/** The Key Vault event types the product reacts to (the rest of the ten are ignored). */
export const KEY_VAULT_EVENT_KINDS = [
  'KeyNewVersionCreated',
  'KeyNearExpiry',
  'KeyExpired',
  'VaultAccessPolicyChanged',
] as const;
export type KeyVaultEventKind = (typeof KEY_VAULT_EVENT_KINDS)[number];

const TYPE_PREFIX = 'microsoft.keyvault.';

/** A Key Vault event is well under 2 KB; anything past this is not one (and is not read further). */
export const MAX_EVENT_BYTES = 16 * 1024;
const MAX_STRING = 1024;
const MAX_DATA_FIELDS = 32;
const KEY_VERSION = /^[0-9a-f]{32}$/i;

export interface KeyVaultEvent {
  /** The event id (Event Grid's; the same in both schemas and for every subscription). */
  id: string;
  schema: 'EventGridSchema' | 'CloudEventSchemaV1_0';
  kind: KeyVaultEventKind;
  /** When Key Vault published it (ISO 8601), when the envelope says so. */
  eventTime?: string;
  vault: { name: string; resourceId: string; subscriptionId: string; resourceGroup: string };
  /** Key events only. */
  key?: {
    name: string;
    /** Lower-case 32-hex version the event is about (required for KeyNewVersionCreated). */
    version?: string;
    /** `https://{vault}.{suffix}/keys/{name}` */
    versionlessKeyId: string;
  };
  notBefore?: string;
  expiresOn?: string;
}

export type IgnoreReason = 'malformed' | 'unknownType' | 'foreignVault' | 'inconsistent' | 'tooLarge';

export type ParsedKeyVaultEvent =
  | { outcome: 'accepted'; event: KeyVaultEvent }
  | { outcome: 'ignored'; reason: IgnoreReason; detail: string; id?: string; eventType?: string };

type Ignored = Extract<ParsedKeyVaultEvent, { outcome: 'ignored' }>;

class Refused extends Error {
  constructor(
    readonly reason: IgnoreReason,
    detail: string,
  ) {
    super(detail);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A string field: trimmed, bounded; undefined when absent or null. Throws on a wrong type. */
function text(value: unknown, field: string, required: boolean): string | undefined {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) {
    if (required) throw new Refused('malformed', `${field} is missing.`);
    return undefined;
  }
  if (typeof value !== 'string') throw new Refused('malformed', `${field} must be a string.`);
  const v = value.trim();
  if (v.length > MAX_STRING)
    throw new Refused('malformed', `${field} is longer than ${MAX_STRING} characters.`);
  return v;
}

/** Unix seconds (number or numeric string) → ISO; absent/null → undefined. */
function unixSeconds(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN;
  // Key Vault's nbf/exp are seconds since 1970; a value outside 1970..9999 is not one.
  if (!Number.isFinite(n) || n < 0 || n > 253_402_300_799)
    throw new Refused('malformed', `${field} must be a Unix time in seconds.`);
  return new Date(Math.floor(n) * 1000).toISOString();
}

/** `data` with its field names lower-cased and trimmed; two spellings of one field must agree. */
function normaliseData(raw: unknown): Map<string, unknown> {
  let data = raw;
  // CloudEvents deliveries may carry data as a JSON string ("double-encoded").
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data) as unknown;
    } catch {
      throw new Refused('malformed', 'data is a string that is not JSON.');
    }
  }
  if (!isObject(data)) throw new Refused('malformed', 'data must be an object.');
  const entries = Object.entries(data);
  if (entries.length > MAX_DATA_FIELDS)
    throw new Refused('malformed', `data has ${entries.length} fields; a Key Vault event has 7.`);
  const out = new Map<string, unknown>();
  for (const [k, v] of entries) {
    const name = k.trim().toLowerCase();
    if (out.has(name) && JSON.stringify(out.get(name)) !== JSON.stringify(v))
      throw new Refused('inconsistent', `data names '${k.trim()}' twice with different values.`);
    out.set(name, v);
  }
  return out;
}

function kindOf(eventType: string): KeyVaultEventKind | undefined {
  const lower = eventType.toLowerCase();
  if (!lower.startsWith(TYPE_PREFIX)) return undefined;
  return KEY_VAULT_EVENT_KINDS.find((k) => k.toLowerCase() === lower.slice(TYPE_PREFIX.length));
}

/** Byte size of a parsed JSON value, bounded: stops counting past `limit`. */
function exceeds(value: unknown, limit: number): boolean {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') size += v.length + 2;
    else if (Array.isArray(v)) {
      size += 2 + v.length;
      stack.push(...(v as unknown[]));
    } else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        size += k.length + 4;
        stack.push(x);
        if (size > limit) return true;
      }
    } else size += 8;
    if (size > limit) return true;
  }
  return false;
}

/**
 * One event as the Event Grid trigger receives it (either schema) → a Key Vault event the product
 * reacts to, or the reason it is ignored. Never throws.
 */
export function parseKeyVaultEvent(raw: unknown, keyVaultDnsSuffix: string): ParsedKeyVaultEvent {
  let id: string | undefined;
  let eventType: string | undefined;
  try {
    if (!isObject(raw)) throw new Refused('malformed', 'The event is not a JSON object.');
    if (exceeds(raw, MAX_EVENT_BYTES))
      throw new Refused(
        'tooLarge',
        `The event is larger than ${MAX_EVENT_BYTES} bytes; no Key Vault event is.`,
      );
    const cloudEvent = raw.specversion !== undefined;
    if (cloudEvent && raw.specversion !== '1.0')
      throw new Refused('malformed', `specversion must be "1.0" (got ${JSON.stringify(raw.specversion)}).`);
    id = text(raw.id, 'id', true);
    eventType = text(cloudEvent ? raw.type : raw.eventType, cloudEvent ? 'type' : 'eventType', true)!;
    const kind = kindOf(eventType);
    if (!kind) throw new Refused('unknownType', `The app does not react to ${eventType} events.`);
    const source = text(cloudEvent ? raw.source : raw.topic, cloudEvent ? 'source' : 'topic', true)!;
    const subject = text(raw.subject, 'subject', false);
    const timeText = text(cloudEvent ? raw.time : raw.eventTime, cloudEvent ? 'time' : 'eventTime', false);
    const time = timeText !== undefined ? Date.parse(timeText) : Number.NaN;
    const data = normaliseData(raw.data);

    // The vault, three times: the topic (ARM id), data.VaultName and the host of data.Id.
    let vaultId;
    try {
      vaultId = parseKeyVaultResourceId(source);
    } catch (e) {
      if (e instanceof ResourceIdError)
        throw new Refused('malformed', `${cloudEvent ? 'source' : 'topic'} is not a Key Vault resource id.`);
      throw e;
    }
    const vaultName = vaultId.name.toLowerCase();
    const dataVault = text(data.get('vaultname'), 'data.VaultName', true)!.toLowerCase();
    if (dataVault !== vaultName)
      throw new Refused(
        'inconsistent',
        `data.VaultName '${dataVault}' is not the topic's vault '${vaultName}'.`,
      );
    const dataId = text(data.get('id'), 'data.Id', true)!;

    const event: KeyVaultEvent = {
      id: id!,
      schema: cloudEvent ? 'CloudEventSchemaV1_0' : 'EventGridSchema',
      kind,
      ...(Number.isFinite(time) ? { eventTime: new Date(time).toISOString() } : {}),
      vault: {
        name: vaultName,
        resourceId: vaultId.id,
        subscriptionId: vaultId.subscriptionId,
        resourceGroup: vaultId.resourceGroup,
      },
    };

    if (kind === 'VaultAccessPolicyChanged') {
      const uri = hostChecked(() => parseKeyVaultUri(dataId, keyVaultDnsSuffix), 'data.Id');
      if (uri.vaultName !== vaultName)
        throw new Refused(
          'inconsistent',
          `data.Id names vault '${uri.vaultName}', the topic '${vaultName}'.`,
        );
      return { outcome: 'accepted', event };
    }

    const objectType = text(data.get('objecttype'), 'data.ObjectType', false);
    if (objectType !== undefined && objectType.toLowerCase() !== 'key')
      throw new Refused('inconsistent', `A ${eventType} event is about a key, not a ${objectType}.`);
    const keyId = hostChecked(() => parseKeyVaultKeyId(dataId, keyVaultDnsSuffix), 'data.Id');
    if (keyId.vaultName !== vaultName)
      throw new Refused(
        'inconsistent',
        `data.Id names vault '${keyId.vaultName}', the topic '${vaultName}'.`,
      );
    const objectName = text(data.get('objectname'), 'data.ObjectName', false) ?? keyId.keyName;
    if (objectName.toLowerCase() !== keyId.keyName.toLowerCase())
      throw new Refused('inconsistent', `data.ObjectName '${objectName}' is not the key of data.Id.`);
    if (subject !== undefined && subject.toLowerCase() !== keyId.keyName.toLowerCase())
      throw new Refused('inconsistent', `subject '${subject}' is not the key of data.Id.`);
    const versionText = text(data.get('version'), 'data.Version', false);
    if (versionText !== undefined && !KEY_VERSION.test(versionText))
      throw new Refused('malformed', 'data.Version is not a key version (32 hexadecimal characters).');
    const version = (versionText ?? keyId.keyVersion)?.toLowerCase();
    if (keyId.keyVersion && version !== keyId.keyVersion)
      throw new Refused('inconsistent', 'data.Version is not the version of data.Id.');
    if (kind === 'KeyNewVersionCreated' && !version)
      throw new Refused('malformed', 'A KeyNewVersionCreated event must name the new version.');
    const notBefore = unixSeconds(data.get('nbf'), 'data.NBF');
    const expiresOn = unixSeconds(data.get('exp'), 'data.EXP');
    return {
      outcome: 'accepted',
      event: {
        ...event,
        key: {
          name: keyId.keyName,
          ...(version ? { version } : {}),
          versionlessKeyId: keyId.versionlessKeyId,
        },
        ...(notBefore ? { notBefore } : {}),
        ...(expiresOn ? { expiresOn } : {}),
      },
    };
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    const ignored: Ignored = { outcome: 'ignored', reason: error.reason, detail: error.message };
    if (id !== undefined) ignored.id = id;
    if (eventType !== undefined) ignored.eventType = eventType;
    return ignored;
  }
}

/** Runs a Key Vault URL parse; a host outside this cloud's suffix is `foreignVault`, else `malformed`. */
function hostChecked<T>(parse: () => T, field: string): T {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof KeyVaultUrlError)) throw e;
    if (UNTRUSTED_HOST_REASONS.has(e.reason)) throw new Refused('foreignVault', `${field}: ${e.message}`);
    throw new Refused('malformed', `${field}: ${e.message}`);
  }
}
