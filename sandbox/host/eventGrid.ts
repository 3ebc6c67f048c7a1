/**
 * The Event Grid extension's webhook: `POST /runtime/webhooks/eventgrid?functionName=<name>`.
 * - Event Grid schema: `aeg-event-type: SubscriptionValidation` → `{ validationResponse }`;
 *   `Notification` → one invocation per event in the batch.
 * - CloudEvents 1.0: the `OPTIONS` abuse-protection handshake (`WebHook-Request-Origin` →
 *   `WebHook-Allowed-Origin`), then single (`application/cloudevents+json`) or batched events.
 * Any failed invocation fails the whole delivery with 500 so Event Grid retries it.
 */

export interface EventGridDelivery {
  kind: 'validation' | 'events';
  validationCode?: string;
  events: Array<Record<string, unknown>>;
  schema: 'EventGridSchema' | 'CloudEventSchemaV1_0';
}

export class DeliveryError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const VALIDATION_EVENT = 'microsoft.eventgrid.subscriptionvalidationevent';

export function parseDelivery(
  headers: Record<string, string | string[] | undefined>,
  body: string,
): EventGridDelivery {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new DeliveryError(400, 'The request body is not valid JSON.');
  }
  const events = (Array.isArray(parsed) ? parsed : [parsed]) as unknown[];
  if (events.length === 0) throw new DeliveryError(400, 'The request contains no events.');
  if (
    !events.every(
      (e): e is Record<string, unknown> => typeof e === 'object' && e !== null && !Array.isArray(e),
    )
  ) {
    throw new DeliveryError(400, 'Every event must be a JSON object.');
  }
  const isCloudEvents = events.every((e) => typeof e.specversion === 'string');
  if (isCloudEvents) {
    for (const e of events) {
      if (typeof e.id !== 'string' || typeof e.type !== 'string' || typeof e.source !== 'string') {
        throw new DeliveryError(400, 'A CloudEvent needs id, type, source and specversion.');
      }
    }
    return { kind: 'events', events, schema: 'CloudEventSchemaV1_0' };
  }
  for (const e of events) {
    if (typeof e.id !== 'string' || typeof e.eventType !== 'string' || typeof e.subject !== 'string') {
      throw new DeliveryError(
        400,
        'An Event Grid event needs id, eventType, subject, eventTime, data and dataVersion.',
      );
    }
  }
  const eventTypeHeader = String(headers['aeg-event-type'] ?? '').toLowerCase();
  const first = events[0]!;
  if (
    eventTypeHeader === 'subscriptionvalidation' ||
    String(first.eventType).toLowerCase() === VALIDATION_EVENT
  ) {
    const data = first.data as Record<string, unknown> | undefined;
    const code = data?.validationCode;
    if (typeof code !== 'string' || !code)
      throw new DeliveryError(400, 'The validation event has no validationCode.');
    return { kind: 'validation', validationCode: code, events, schema: 'EventGridSchema' };
  }
  if (eventTypeHeader !== 'notification') {
    throw new DeliveryError(
      400,
      `The aeg-event-type header must be Notification or SubscriptionValidation (got '${eventTypeHeader || 'none'}').`,
    );
  }
  return { kind: 'events', events, schema: 'EventGridSchema' };
}
