/**
 * One place that turns SDK / credential failures into words an operator can act on, and tells platform
 * faults (worth a retry) from refusals (a fix is needed).
 */
export interface DescribedAzureError {
  /** Azure's error code when there is one (AuthorizationFailed, KeyNotFound, …), else the error name. */
  code: string;
  /** HTTP status when Azure answered. */
  status?: number;
  /** A platform fault Azure says is transient (throttling, 5xx, network). */
  transient: boolean;
  detail: string;
}

interface RestLike {
  name?: string;
  message?: string;
  code?: string;
  statusCode?: number;
}

const TRANSIENT_NETWORK = /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|socket hang up/i;

export function describeAzureError(error: unknown): DescribedAzureError {
  const e = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as RestLike;
  const name = e.name ?? 'Error';
  const message = (e.message ?? String(error)).split('\n')[0] ?? '';
  if (
    name === 'CredentialUnavailableError' ||
    name === 'AuthenticationError' ||
    name === 'AggregateAuthenticationError'
  ) {
    return {
      code: name,
      transient: false,
      detail: `The app could not get a token for its identity: ${message}`,
    };
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const code = e.code ?? name;
  const transient =
    status === 429 ||
    (status !== undefined && status >= 500) ||
    (status === undefined && TRANSIENT_NETWORK.test(`${code} ${message}`));
  const detail = status !== undefined ? `${status} ${code}: ${message}` : `${code}: ${message}`;
  return { code, ...(status !== undefined ? { status } : {}), transient, detail };
}
