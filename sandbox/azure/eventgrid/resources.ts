/**
 * Microsoft.EventGrid system topics and their event subscriptions: request validation (Azure's 400
 * `InvalidRequest` [U: the wording is the sandbox's]) and the ARM representations. Pure: no I/O.
 */
import { randomUUID } from 'node:crypto';
import { parseResourceId } from '../arm/ids';
import { ArmErrors } from '../errors';
import { parseFilter, type EventFilter } from './filters';
import { KEY_VAULT_EVENT_TYPES, type DeliverySchema } from './events';

export const SYSTEM_TOPICS = 'eventGridSystemTopics';
export const EVENT_SUBSCRIPTIONS = 'eventGridEventSubscriptions';
export const KEY_VAULT_TOPIC_TYPE = 'Microsoft.KeyVault.vaults';
/** Event subscriptions per topic (quotas-limits docs). */
export const MAX_SUBSCRIPTIONS_PER_TOPIC = 500;

export interface SystemTopicRecord {
  id: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  source: string;
  topicType: string;
  metricResourceId: string;
  identity?: {
    type: string;
    principalId?: string;
    tenantId?: string;
    userAssignedIdentities?: Record<string, unknown>;
  };
}

export type Destination =
  | {
      endpointType: 'WebHook';
      /** The full URL (query included), never returned by GET (Azure returns endpointBaseUrl). */
      endpointUrl: string;
      maxEventsPerBatch: number;
      preferredBatchSizeInKilobytes: number;
    }
  | {
      endpointType: 'AzureFunction';
      resourceId: string;
      maxEventsPerBatch: number;
      preferredBatchSizeInKilobytes: number;
    };

export interface EventSubscriptionRecord {
  id: string;
  name: string;
  topicId: string;
  /** The system topic's source (the vault id). */
  source: string;
  destination: Destination;
  filter: EventFilter;
  labels: string[];
  eventDeliverySchema: DeliverySchema;
  retryPolicy: { maxDeliveryAttempts: number; eventTimeToLiveInMinutes: number };
  deadLetterDestination?: { resourceId: string; blobContainerName: string };
  expirationTimeUtc?: string;
  provisioningState: 'Creating' | 'Updating' | 'Succeeded';
}

const invalid = (message: string) => ArmErrors.badRequest('InvalidRequest', message);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const SYSTEM_TOPIC_NAME = /^[A-Za-z0-9-]{3,128}$/;
const SUBSCRIPTION_NAME = /^[A-Za-z0-9-]{3,64}$/;
const CONTAINER_NAME = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const FUNCTION_ID =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Web\/sites\/[^/]+\/functions\/[^/]+$/i;
const STORAGE_ACCOUNT_ID =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Storage\/storageAccounts\/[a-z0-9]{3,24}$/i;

export function checkSystemTopicName(name: string): void {
  if (!SYSTEM_TOPIC_NAME.test(name))
    throw invalid(
      `System topic name '${name}' is invalid: it must be 3-128 characters of letters, digits and '-'.`,
    );
}

export function checkSubscriptionName(name: string): void {
  if (!SUBSCRIPTION_NAME.test(name))
    throw invalid(
      `Event subscription name '${name}' is invalid: it must be 3-64 characters of letters, digits and '-'.`,
    );
}

/** PUT systemTopics body → the fields the sandbox keeps (source and topic type are fixed once created). */
export function parseSystemTopic(
  body: unknown,
  existing: SystemTopicRecord | undefined,
): {
  location: string;
  tags: Record<string, string>;
  source: string;
  topicType: string;
  identityType?: string;
} {
  if (!isObject(body)) throw ArmErrors.invalidRequestContent('The request body must be a JSON object.');
  const location = body.location;
  if (typeof location !== 'string' || location.trim() === '')
    throw ArmErrors.badRequest('LocationRequired', 'The location property is required for this definition.');
  const tags = parseTags(body.tags);
  const props = body.properties;
  if (!isObject(props)) throw invalid('The system topic properties are required.');
  const source = props.source;
  const topicType = props.topicType;
  if (typeof source !== 'string' || source === '') throw invalid('properties.source is required.');
  if (typeof topicType !== 'string' || topicType === '') throw invalid('properties.topicType is required.');
  if (topicType.toLowerCase() !== KEY_VAULT_TOPIC_TYPE.toLowerCase())
    throw invalid(
      `Topic type '${topicType}' is not supported by the sandbox; it emulates '${KEY_VAULT_TOPIC_TYPE}' system topics only.`,
    );
  const parsed = parseResourceId(source);
  if (
    !parsed.subscriptionId ||
    !parsed.resourceGroup ||
    parsed.fullType?.toLowerCase() !== 'microsoft.keyvault/vaults' ||
    parsed.names.length !== 1
  )
    throw invalid(`The source '${source}' is not a valid resource id for topic type '${topicType}'.`);
  if (existing) {
    if (existing.source.toLowerCase() !== source.toLowerCase())
      throw invalid('The source of a system topic cannot be changed.');
    if (existing.topicType.toLowerCase() !== topicType.toLowerCase())
      throw invalid('The topic type of a system topic cannot be changed.');
  }
  let identityType: string | undefined;
  if (body.identity !== undefined && body.identity !== null) {
    if (!isObject(body.identity) || typeof body.identity.type !== 'string')
      throw invalid('identity.type must be a string.');
    if (!['None', 'SystemAssigned'].includes(body.identity.type))
      throw invalid(
        `Identity type '${body.identity.type}' is not supported by the sandbox (None, SystemAssigned).`,
      );
    identityType = body.identity.type;
  }
  return {
    location: location.replace(/\s+/g, '').toLowerCase(),
    tags,
    source,
    topicType: KEY_VAULT_TOPIC_TYPE,
    ...(identityType ? { identityType } : {}),
  };
}

export function parseTags(tags: unknown): Record<string, string> {
  if (tags === undefined || tags === null) return {};
  if (!isObject(tags) || !Object.values(tags).every((v) => typeof v === 'string'))
    throw ArmErrors.invalidRequestContent('tags must be an object of string values.');
  return tags as Record<string, string>;
}

export function systemTopicBody(
  t: SystemTopicRecord,
  provisioningState = 'Succeeded',
): Record<string, unknown> {
  return {
    properties: {
      source: t.source,
      topicType: t.topicType,
      metricResourceId: t.metricResourceId,
      provisioningState,
    },
    ...(t.identity ? { identity: t.identity } : {}),
    location: t.location,
    tags: t.tags,
    id: t.id,
    name: t.name,
    type: 'Microsoft.EventGrid/systemTopics',
  };
}

export const newMetricResourceId = (): string => randomUUID();

export interface ParsedSubscription {
  destination: Destination;
  filter: EventFilter;
  labels: string[];
  eventDeliverySchema: DeliverySchema;
  retryPolicy: { maxDeliveryAttempts: number; eventTimeToLiveInMinutes: number };
  deadLetterDestination?: { resourceId: string; blobContainerName: string };
  expirationTimeUtc?: string;
}

/**
 * PUT (or PATCH, merged over the current one) eventSubscriptions body. `now` checks expirationTimeUtc.
 * Only what a Key Vault system topic subscription can use is accepted; other destinations are refused.
 */
export function parseEventSubscription(body: unknown, now: number): ParsedSubscription {
  if (!isObject(body)) throw ArmErrors.invalidRequestContent('The request body must be a JSON object.');
  const props = body.properties;
  if (!isObject(props)) throw invalid('The event subscription properties are required.');
  const destination = parseDestination(props.destination);
  const schemaRaw = props.eventDeliverySchema ?? 'EventGridSchema';
  if (schemaRaw !== 'EventGridSchema' && schemaRaw !== 'CloudEventSchemaV1_0') {
    if (schemaRaw === 'CustomInputSchema')
      throw invalid('CustomInputSchema is only valid for custom topics, not system topics.');
    throw invalid(`The event delivery schema '${JSON.stringify(schemaRaw)}' is not valid.`);
  }
  const labels = props.labels ?? [];
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string'))
    throw invalid('labels must be an array of strings.');
  const out: ParsedSubscription = {
    destination,
    filter: parseFilter(props.filter, KEY_VAULT_EVENT_TYPES),
    labels,
    eventDeliverySchema: schemaRaw,
    retryPolicy: parseRetryPolicy(props.retryPolicy),
  };
  const dl = props.deadLetterDestination;
  if (dl !== undefined && dl !== null) {
    if (!isObject(dl) || dl.endpointType !== 'StorageBlob')
      throw invalid("deadLetterDestination.endpointType must be 'StorageBlob'.");
    const p = dl.properties;
    if (!isObject(p)) throw invalid('deadLetterDestination.properties is required.');
    if (typeof p.resourceId !== 'string' || !STORAGE_ACCOUNT_ID.test(p.resourceId))
      throw invalid(
        `deadLetterDestination.properties.resourceId '${String(p.resourceId)}' is not a storage account resource id.`,
      );
    if (typeof p.blobContainerName !== 'string' || !CONTAINER_NAME.test(p.blobContainerName))
      throw invalid(
        `deadLetterDestination.properties.blobContainerName '${String(p.blobContainerName)}' is not a valid container name.`,
      );
    out.deadLetterDestination = { resourceId: p.resourceId, blobContainerName: p.blobContainerName };
  }
  if (props.expirationTimeUtc !== undefined && props.expirationTimeUtc !== null) {
    const t = typeof props.expirationTimeUtc === 'string' ? Date.parse(props.expirationTimeUtc) : NaN;
    if (Number.isNaN(t)) throw invalid('expirationTimeUtc must be a date-time.');
    if (t <= now) throw invalid('expirationTimeUtc must be in the future.');
    out.expirationTimeUtc = new Date(t).toISOString();
  }
  return out;
}

function intIn(v: unknown, lo: number, hi: number, name: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    throw invalid(`${name} must be an integer between ${lo} and ${hi}.`);
  return v;
}

function parseRetryPolicy(v: unknown): ParsedSubscription['retryPolicy'] {
  if (v === undefined || v === null) return { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 };
  if (!isObject(v)) throw invalid('retryPolicy must be an object.');
  return {
    maxDeliveryAttempts: intIn(v.maxDeliveryAttempts, 1, 30, 'retryPolicy.maxDeliveryAttempts', 30),
    eventTimeToLiveInMinutes: intIn(
      v.eventTimeToLiveInMinutes,
      1,
      1440,
      'retryPolicy.eventTimeToLiveInMinutes',
      1440,
    ),
  };
}

function parseDestination(v: unknown): Destination {
  if (!isObject(v)) throw invalid('The event subscription destination is required.');
  const type = v.endpointType;
  const p = v.properties;
  if (type !== 'WebHook' && type !== 'AzureFunction') {
    throw invalid(
      typeof type === 'string'
        ? `The endpoint type '${type}' is not supported by the sandbox (WebHook, AzureFunction).`
        : 'destination.endpointType is required.',
    );
  }
  if (!isObject(p)) throw invalid('destination.properties is required.');
  const maxEventsPerBatch = intIn(p.maxEventsPerBatch, 1, 5000, 'maxEventsPerBatch', 1);
  const preferredBatchSizeInKilobytes = intIn(
    p.preferredBatchSizeInKilobytes,
    1,
    1024,
    'preferredBatchSizeInKilobytes',
    64,
  );
  if (type === 'AzureFunction') {
    if (typeof p.resourceId !== 'string' || !FUNCTION_ID.test(p.resourceId))
      throw invalid(
        `The Azure Function resource id '${String(p.resourceId)}' is invalid; expected /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{app}/functions/{function}.`,
      );
    return { endpointType: type, resourceId: p.resourceId, maxEventsPerBatch, preferredBatchSizeInKilobytes };
  }
  const url = p.endpointUrl;
  if (typeof url !== 'string' || url === '') throw invalid('destination.properties.endpointUrl is required.');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(`The endpoint URL '${url}' is not a valid absolute URL.`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw invalid(`The endpoint URL '${url}' must use https.`);
  // The machine is offline: deliveries only ever go to loopback (Azure requires https; see README).
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)))
    throw invalid(
      `The endpoint URL host '${parsed.hostname}' is not reachable from the sandbox (loopback only).`,
    );
  return { endpointType: 'WebHook', endpointUrl: url, maxEventsPerBatch, preferredBatchSizeInKilobytes };
}

/** The ARM representation (GET/PUT response) of an event subscription. */
export function eventSubscriptionBody(s: EventSubscriptionRecord): Record<string, unknown> {
  const d = s.destination;
  const destination =
    d.endpointType === 'WebHook'
      ? {
          endpointType: 'WebHook',
          properties: {
            endpointBaseUrl: baseUrl(d.endpointUrl),
            maxEventsPerBatch: d.maxEventsPerBatch,
            preferredBatchSizeInKilobytes: d.preferredBatchSizeInKilobytes,
          },
        }
      : {
          endpointType: 'AzureFunction',
          properties: {
            resourceId: d.resourceId,
            maxEventsPerBatch: d.maxEventsPerBatch,
            preferredBatchSizeInKilobytes: d.preferredBatchSizeInKilobytes,
          },
        };
  const f = s.filter;
  return {
    properties: {
      topic: s.source,
      provisioningState: s.provisioningState,
      destination,
      filter: {
        ...(f.includedEventTypes ? { includedEventTypes: f.includedEventTypes } : {}),
        subjectBeginsWith: f.subjectBeginsWith,
        subjectEndsWith: f.subjectEndsWith,
        isSubjectCaseSensitive: f.isSubjectCaseSensitive,
        ...(f.enableAdvancedFilteringOnArrays !== undefined
          ? { enableAdvancedFilteringOnArrays: f.enableAdvancedFilteringOnArrays }
          : {}),
        ...(f.advancedFilters.length ? { advancedFilters: f.advancedFilters } : {}),
      },
      labels: s.labels,
      eventDeliverySchema: s.eventDeliverySchema,
      retryPolicy: s.retryPolicy,
      ...(s.deadLetterDestination
        ? { deadLetterDestination: { endpointType: 'StorageBlob', properties: s.deadLetterDestination } }
        : {}),
      ...(s.expirationTimeUtc ? { expirationTimeUtc: s.expirationTimeUtc } : {}),
    },
    id: s.id,
    name: s.name,
    type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions',
  };
}

/** The URL without its query (Azure hides query secrets such as function keys in GET). */
export function baseUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** The PATCH body of an event subscription merged over the current one (a new PUT body). */
export function mergeSubscriptionPatch(current: EventSubscriptionRecord, patch: unknown): unknown {
  if (!isObject(patch)) throw ArmErrors.invalidRequestContent('The request body must be a JSON object.');
  const d = current.destination;
  const base: Record<string, unknown> = {
    destination:
      d.endpointType === 'WebHook'
        ? { endpointType: 'WebHook', properties: { ...d, endpointType: undefined } }
        : { endpointType: 'AzureFunction', properties: { ...d, endpointType: undefined } },
    filter: current.filter,
    labels: current.labels,
    eventDeliverySchema: current.eventDeliverySchema,
    retryPolicy: current.retryPolicy,
    ...(current.deadLetterDestination
      ? { deadLetterDestination: { endpointType: 'StorageBlob', properties: current.deadLetterDestination } }
      : {}),
    ...(current.expirationTimeUtc ? { expirationTimeUtc: current.expirationTimeUtc } : {}),
  };
  for (const [k, v] of Object.entries(patch)) if (v !== undefined) base[k] = v;
  return { properties: base };
}
