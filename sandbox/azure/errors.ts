/**
 * Every wire-level error the sandbox returns, in one place (as Azurite's StorageErrorFactory): a handler
 * throws a `SandboxError`, the pipeline's error step serialises it as Azure does —
 * `{ "error": { "code", "message", ...extra } }` with the status and any headers (e.g. Retry-After,
 * WWW-Authenticate). Messages copy Azure's wording where it is known, because callers (and our app)
 * match on codes and sometimes on text.
 */
export class SandboxError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra members of the `error` object (e.g. Key Vault's `innererror`, ARM's `details`). */
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'SandboxError';
  }

  toBody(): { error: Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.extra } };
  }
}

export const isSandboxError = (e: unknown): e is SandboxError => e instanceof SandboxError;

/** Azure Resource Manager errors (authn, authz, routing, validation, throttling). */
export const ArmErrors = {
  missingAuthorization: () =>
    new SandboxError(
      401,
      'AuthenticationFailed',
      "Authentication failed. The 'Authorization' header is missing.",
    ),
  invalidAuthorizationHeader: () =>
    new SandboxError(
      401,
      'AuthenticationFailedInvalidHeader',
      "Authentication failed. The 'Authorization' header is provided in an invalid format.",
    ),
  invalidToken: (detail?: string) =>
    new SandboxError(
      401,
      'InvalidAuthenticationToken',
      `The access token is invalid.${detail ? ` ${detail}` : ''}`,
    ),
  expiredToken: (exp: Date, now: Date) =>
    new SandboxError(
      401,
      'ExpiredAuthenticationToken',
      `The access token expiry UTC time '${armTime(exp)}' is earlier than current UTC time '${armTime(now)}'.`,
    ),
  wrongAudience: (aud: string, allowed: string[]) =>
    new SandboxError(
      401,
      'InvalidAuthenticationTokenAudience',
      `The access token has been obtained for wrong audience or resource '${aud}'. It should exactly match with one of the allowed audiences '${allowed.join("','")}'.`,
    ),
  wrongTenant: (tid: string) =>
    new SandboxError(
      401,
      'InvalidAuthenticationTokenTenant',
      `The access token is from the wrong issuer '${tid}'. It must match the tenant associated with this subscription. Please use the authority (URL) matching the subscription to obtain the token.`,
    ),
  /** Azure's RBAC refusal; the exact sentence clients and people search for. */
  authorizationFailed: (objectId: string, action: string, scope: string) =>
    new SandboxError(
      403,
      'AuthorizationFailed',
      `The client '${objectId}' with object id '${objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    ),
  /** A write that names another resource (a user-assigned identity) needs an action on that linked scope too. */
  linkedAuthorizationFailed: (
    objectId: string,
    action: string,
    scope: string,
    linkedAction: string,
    linkedScope: string,
  ) =>
    new SandboxError(
      403,
      'LinkedAuthorizationFailed',
      `The client '${objectId}' with object id '${objectId}' has permission to perform action '${action}' on scope '${scope}'; however, it does not have permission to perform action(s) '${linkedAction}' on the linked scope(s) '${linkedScope}' (respectively) or the linked scope(s) are invalid.`,
    ),
  missingApiVersion: () =>
    new SandboxError(
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    ),
  /** Microsoft.Resources (subscriptions, resource groups) answers an unknown version with this. */
  invalidApiVersion: (version: string, supported: readonly string[]) =>
    new SandboxError(
      400,
      'InvalidApiVersionParameter',
      `The api-version '${version}' is invalid. The supported versions are '${supported.join(',')}'.`,
    ),
  /** A resource provider's types answer an unknown version with this (location = resource's). */
  noRegisteredProvider: (
    location: string,
    version: string,
    type: string,
    supported: readonly string[],
    locations: readonly string[],
  ) =>
    new SandboxError(
      400,
      'NoRegisteredProviderFound',
      `No registered resource provider found for location '${location}' and API version '${version}' for type '${type}'. The supported api-versions are '${supported.join(', ')}'. The supported locations are '${locations.join(', ')}'.`,
    ),
  invalidResourceNamespace: (ns: string) =>
    new SandboxError(404, 'InvalidResourceNamespace', `The resource namespace '${ns}' is invalid.`),
  invalidResourceType: (type: string, ns: string, version: string) =>
    new SandboxError(
      404,
      'InvalidResourceType',
      `The resource type '${type}' could not be found in the namespace '${ns}' for api version '${version}'.`,
    ),
  noRoute: (method: string, path: string) =>
    new SandboxError(
      404,
      'NotFound',
      `No HTTP resource was found that matches the request URI '${path}' (${method}).`,
    ),
  methodNotAllowed: (method: string) =>
    new SandboxError(
      405,
      'MethodNotAllowed',
      `The requested resource does not support http method '${method}'.`,
    ),
  subscriptionNotFound: (sub: string) =>
    new SandboxError(404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`),
  resourceGroupNotFound: (rg: string) =>
    new SandboxError(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`),
  resourceNotFound: (type: string, name: string, rg: string) =>
    new SandboxError(
      404,
      'ResourceNotFound',
      `The Resource '${type}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    ),
  invalidRequestContent: (detail: string) =>
    new SandboxError(
      400,
      'InvalidRequestContent',
      `The request content was invalid and could not be deserialized: '${detail}'.`,
    ),
  badRequest: (code: string, message: string) => new SandboxError(400, code, message),
  conflict: (code: string, message: string) => new SandboxError(409, code, message),
  tooManyRequests: (retryAfterSeconds: number, kind: string) =>
    new SandboxError(
      429,
      'TooManyRequests',
      `The request is being throttled as the limit has been reached for operation type - ${kind}. For more information, see - https://aka.ms/armthrottling`,
      {},
      { 'Retry-After': String(retryAfterSeconds) },
    ),
  internal: (message = 'The server encountered an internal error.') =>
    new SandboxError(500, 'InternalServerError', message),
};

/** ARM prints times like "11/29/2026 17:46:21" (US invariant culture) in auth errors. */
function armTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}
