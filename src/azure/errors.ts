/**
 * The one error taxonomy of the app (docs/ARCHITECTURE.md, "Error classes"). Every thrown error is
 * exactly one of:
 *
 * - `platform` — Azure (or the network, or the identity endpoint) could not answer right now: 408, 429,
 *   5xx, connection resets/timeouts, a token endpoint that is down. Retried with backoff (the SDK
 *   pipeline first, then Durable's RetryOptions); an HTTP function answers 503.
 * - `refusal` — Azure answered and said no: a 4xx with an error code (AuthorizationFailed, BadRequest,
 *   NotFound…), or a credential that is not configured. Never retried (one documented exception, decided
 *   by the orchestration: plumbing.ts `isUnpropagatedGrantRefusal`); carries the fix where we know it.
 * - `bug` — anything else: a TypeError, a RangeError, one of our own invariants. Not retried, logged
 *   with its stack, surfaces as a 500-class error.
 *
 * The decision uses only what the error object says about itself — HTTP status, Azure error code, the
 * error's class/name and its cause chain — never the wording of a message.
 */

export type ErrorClass = 'platform' | 'refusal' | 'bug';

export interface ClassifiedError {
  class: ErrorClass;
  /** Azure's error code (AuthorizationFailed, KeyNotFound…), else the error's name. */
  code: string;
  /** HTTP status when Azure (or the token endpoint) answered. */
  status?: number;
  /** One line for an operator: status, code and Azure's own first message line. */
  detail: string;
  /** What to change, when the class alone tells us (context-specific fixes are added by callers). */
  fix?: string;
  /** Bugs only: where it happened. */
  stack?: string;
}

/** Error codes Node and core-rest-pipeline use for a request that never got an answer. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  // core-rest-pipeline RestError.REQUEST_SEND_ERROR: the request could not be sent / the socket failed.
  'REQUEST_SEND_ERROR',
  // MSAL's ClientAuthError for a token request that got no answer.
  'network_error',
]);

/** Error names @azure/identity (and MSAL underneath) use for "could not get a token". */
const CREDENTIAL_ERRORS: ReadonlySet<string> = new Set([
  'CredentialUnavailableError',
  'AuthenticationError',
  'AggregateAuthenticationError',
  'AuthenticationRequiredError',
]);

/** Errors the app throws on purpose for input it refuses to follow (a refusal, not a bug). */
const OWN_REFUSALS: ReadonlySet<string> = new Set([
  'InvalidKeyVaultUrlError',
  // A setting the app needs for this path is missing (clients.ts / healthPublisher.ts).
  'StorageNotConfiguredError',
  'MonitoringNotConfiguredError',
]);

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  errorCode?: unknown;
  statusCode?: unknown;
  status?: unknown;
  cause?: unknown;
  errors?: unknown;
  stack?: unknown;
}

const asObject = (e: unknown): ErrorLike | undefined => (typeof e === 'object' && e !== null ? e : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const httpStatus = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v >= 100 && v <= 599 ? v : undefined;

/** 408, 429 and 5xx: the service may answer next time. */
export function isRetriableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function firstLine(e: ErrorLike | undefined, fallback: unknown): string {
  const message = str(e?.message) ?? String(fallback);
  return message.split('\n')[0] ?? '';
}

/** The status a credential error carries: its own (AuthenticationError) or its cause's (MSAL ServerError). */
function credentialOutcome(e: ErrorLike, depth = 0): { status?: number; network: boolean } {
  const status = httpStatus(e.statusCode) ?? httpStatus(e.status);
  const code = str(e.code) ?? str(e.errorCode);
  if (status !== undefined) return { status, network: false };
  if (code !== undefined && NETWORK_CODES.has(code)) return { network: true };
  if (str(e.name) === 'AbortError') return { network: true };
  if (depth < 4) {
    // DefaultAzureCredential: one platform fault among the attempts means "try again", the rest are
    // credentials that are simply not configured here.
    if (Array.isArray(e.errors)) {
      for (const inner of e.errors) {
        const o = asObject(inner);
        if (!o) continue;
        const r = credentialOutcome(o, depth + 1);
        if (r.network || (r.status !== undefined && isRetriableStatus(r.status))) return r;
      }
    }
    const cause = asObject(e.cause);
    if (cause) return credentialOutcome(cause, depth + 1);
  }
  return { network: false };
}

/** Classifies any thrown value. Pure: no I/O, no logging. */
export function classifyError(error: unknown): ClassifiedError {
  const e = asObject(error);
  const name = str(e?.name) ?? 'Error';
  const message = firstLine(e, error);

  if (CREDENTIAL_ERRORS.has(name) && e) {
    const outcome = credentialOutcome(e);
    const status = outcome.status;
    const platform = outcome.network || (status !== undefined && isRetriableStatus(status));
    return {
      class: platform ? 'platform' : 'refusal',
      code: name,
      ...(status !== undefined ? { status } : {}),
      detail: `The app could not get a token for its identity${status !== undefined ? ` (HTTP ${status})` : ''}: ${message}`,
      ...(platform
        ? {}
        : {
            fix: "Check the app's identity: in Azure its managed identity (IDENTITY_ENDPOINT/IDENTITY_HEADER, AZURE_CLIENT_ID for a user-assigned one); elsewhere `az login` or AZURE_* environment credentials.",
          }),
    };
  }

  if (OWN_REFUSALS.has(name)) {
    return { class: 'refusal', code: name.replace(/Error$/, ''), detail: message };
  }

  const status = httpStatus(e?.statusCode);
  const code = str(e?.code);
  // A status below 400 on an error (e.g. a 200 whose body would not parse) is not a refusal: fall through.
  if (status !== undefined && status >= 400) {
    const azureCode = code ?? `Http${status}`;
    return {
      class: isRetriableStatus(status) ? 'platform' : 'refusal',
      code: azureCode,
      status,
      detail: `${status} ${azureCode}: ${message}`,
    };
  }
  if ((code !== undefined && NETWORK_CODES.has(code)) || name === 'AbortError') {
    return { class: 'platform', code: code ?? name, detail: `${code ?? name}: ${message}` };
  }
  return {
    class: 'bug',
    code: name,
    detail: `${name}: ${message}`,
    ...(str(e?.stack) ? { stack: str(e?.stack) } : {}),
  };
}

/** An invariant of our own code did not hold: always a bug, whatever Azure said. */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}
