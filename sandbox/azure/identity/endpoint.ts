import type { Reply, RequestContext } from '../context';
import type { SandboxCore } from '../core';
import { SandboxError } from '../errors';
import type { Store } from '../store';
import { scopeToResource } from './tokens';

/**
 * The App Service managed identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER), as MSAL's AppService
 * source calls it (@azure/msal-node ManagedIdentitySources/AppService):
 *
 *   GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource={resource}[&client_id=|&object_id=|&mi_res_id=]
 *   X-IDENTITY-HEADER: {IDENTITY_HEADER}
 *   → 200 { access_token, expires_on, resource, token_type: "Bearer", client_id }
 *
 * Each IDENTITY_HEADER value stands for one "site" (a Function App): its system-assigned identity and
 * the user-assigned identities attached to it. The default site is the app's (seeded at start).
 */
export interface IdentitySite {
  /** Object id of the site's system-assigned identity, if enabled. */
  systemAssigned?: string;
  /** Resource ids of user-assigned identities attached to the site. */
  userAssigned?: string[];
}

const COLLECTION = 'identitySites';

export class IdentityEndpoints {
  constructor(private readonly store: Store) {}

  register(header: string, site: IdentitySite): void {
    this.store.put(COLLECTION, header, site);
  }

  get(header: string): IdentitySite | undefined {
    // Header values are secrets: compare exactly (the store is case-insensitive, so double-check).
    const site = this.store.entries<IdentitySite>(COLLECTION).find(([k]) => k === header);
    return site?.[1];
  }

  /** Attaches a user-assigned identity to a site (as assigning it to the Function App does). */
  attachUserAssigned(header: string, resourceId: string): void {
    const site = this.get(header) ?? {};
    const list = new Set([...(site.userAssigned ?? []), resourceId]);
    this.register(header, { ...site, userAssigned: [...list] });
  }
}

const API_VERSION = '2019-08-01';

/** App Service answers errors as `{ error, error_description }` (what MSAL maps to its error). */
const identityError = (status: number, error: string, description: string): SandboxError =>
  new SandboxError(status, error, description);

export function registerIdentityEndpoint(core: SandboxCore): void {
  core.routes.service('identity', {
    method: 'GET',
    path: core.urls.identityPath,
    operation: 'identity/token',
    authorize: 'anonymous',
    handler: (ctx) => issueToken(core, ctx),
  });
}

async function issueToken(core: SandboxCore, ctx: RequestContext): Promise<Reply> {
  const header = ctx.headers['x-identity-header'];
  const secret = Array.isArray(header) ? header[0] : header;
  const site = secret ? core.identityEndpoints.get(secret) : undefined;
  if (!site)
    throw identityError(401, 'unauthorized', 'The X-IDENTITY-HEADER header is missing or not valid.');
  const version = ctx.query.get('api-version');
  if (version !== API_VERSION) {
    throw identityError(
      400,
      'invalid_request',
      `api-version '${version ?? ''}' is not supported; use ${API_VERSION}.`,
    );
  }
  const resourceParam = ctx.query.get('resource');
  if (!resourceParam) throw identityError(400, 'invalid_request', 'The resource parameter is required.');
  const resource = scopeToResource(resourceParam);

  const clientId = ctx.query.get('client_id');
  const objectId = ctx.query.get('object_id') ?? ctx.query.get('principal_id');
  const miResId = ctx.query.get('mi_res_id');
  let principalId: string | undefined;
  if (clientId || objectId || miResId) {
    const attached = (site.userAssigned ?? [])
      .map((id) => core.principals.findByResourceId(id, 'userAssigned'))
      .filter((p) => p !== undefined);
    const wanted = attached.find(
      (p) =>
        (clientId && p.clientId.toLowerCase() === clientId.toLowerCase()) ||
        (objectId && p.objectId.toLowerCase() === objectId.toLowerCase()) ||
        (miResId && p.resourceId?.toLowerCase() === miResId.toLowerCase()),
    );
    if (!wanted) throw identityError(400, 'invalid_request', 'Unable to load the proper Managed Identity.');
    principalId = wanted.objectId;
  } else {
    principalId = site.systemAssigned;
    if (!principalId)
      throw identityError(400, 'invalid_request', 'No system-assigned managed identity is enabled.');
  }
  const principal = core.principals.get(principalId);
  if (!principal) throw identityError(400, 'invalid_request', 'Unable to load the proper Managed Identity.');
  ctx.principal = principal;

  const issued = await core.tokens.issue(principal, resource);
  // expires_on is read by MSAL against the *real* clock; give the remaining lifetime in real terms so
  // the client refreshes on its own schedule while `exp` inside the token follows the sandbox clock.
  const remaining = issued.expiresOn - Math.floor(core.clock.now() / 1000);
  return {
    status: 200,
    body: {
      access_token: issued.token,
      expires_on: String(Math.floor(Date.now() / 1000) + remaining),
      resource: resourceParam,
      token_type: 'Bearer',
      client_id: principal.clientId,
    },
  };
}
