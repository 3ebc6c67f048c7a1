import type { Reply, RequestContext } from '../context';
import type { SandboxCore } from '../core';
import { SandboxError } from '../errors';
import type { Store } from '../store';
import { scopeToResource } from './tokens';

/**
 * The App Service managed identity endpoint, in both protocols App Service serves on the same URL
 * (IDENTITY_ENDPOINT and MSI_ENDPOINT are one endpoint there; IDENTITY_HEADER and MSI_SECRET one value):
 *
 *   2019-08-01 (MSAL, @azure/identity, Python azure-identity):
 *   GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource={resource}[&client_id=|&principal_id=|&object_id=|&mi_res_id=]
 *   X-IDENTITY-HEADER: {IDENTITY_HEADER}
 *   → 200 { access_token, expires_on: "<epoch seconds>", resource, token_type: "Bearer", client_id }
 *
 *   2017-09-01 (msrestazure — Azure CLI 2.45's `az login --identity` when APPSETTING_WEBSITE_SITE_NAME is
 *   set, as on App Service; azure-identity's MSI_ENDPOINT+MSI_SECRET source):
 *   GET {MSI_ENDPOINT}/?resource={resource}&api-version=2017-09-01[&clientid={client id}]
 *   secret: {MSI_SECRET}
 *   → 200 { access_token, expires_on: "MM/DD/YYYY HH:MM:SS +00:00", resource, token_type, client_id }
 *   (the Linux App Service date form; Windows workers add AM/PM — both parsed by the clients).
 *
 * Each header value stands for one "site" (a Function App): its system-assigned identity and the
 * user-assigned identities attached to it. The default site is the app's (seeded at start).
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

/** What each protocol calls its secret header and its user-assigned identity parameters. */
const PROTOCOLS = {
  '2019-08-01': {
    header: 'x-identity-header',
    clientId: 'client_id',
    objectIds: ['object_id', 'principal_id'],
    resourceId: 'mi_res_id',
  },
  '2017-09-01': { header: 'secret', clientId: 'clientid', objectIds: [], resourceId: undefined },
} as const;
type ProtocolVersion = keyof typeof PROTOCOLS;
const isProtocol = (v: string | null): v is ProtocolVersion => v !== null && Object.hasOwn(PROTOCOLS, v);

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
  const version = ctx.query.get('api-version');
  // The header is checked first, as App Service does: without the secret nothing else is revealed.
  // [U] which secret header App Service requires for each version; here each version its own.
  const protocol = isProtocol(version) ? PROTOCOLS[version] : PROTOCOLS['2019-08-01'];
  const header = ctx.headers[protocol.header];
  const secret = Array.isArray(header) ? header[0] : header;
  const site = secret ? core.identityEndpoints.get(secret) : undefined;
  if (!site) {
    throw identityError(
      401,
      'unauthorized',
      `The ${protocol.header === 'secret' ? 'secret' : 'X-IDENTITY-HEADER'} header is missing or not valid.`,
    );
  }
  if (!isProtocol(version)) {
    throw identityError(
      400,
      'invalid_request',
      `api-version '${version ?? ''}' is not supported; use ${Object.keys(PROTOCOLS).join(' or ')}.`,
    );
  }
  const resourceParam = ctx.query.get('resource');
  if (!resourceParam) throw identityError(400, 'invalid_request', 'The resource parameter is required.');
  const resource = scopeToResource(resourceParam);

  const clientId = ctx.query.get(protocol.clientId);
  const objectId = protocol.objectIds.map((n) => ctx.query.get(n)).find((v) => v) ?? null;
  const miResId = protocol.resourceId ? ctx.query.get(protocol.resourceId) : null;
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
  // expires_on is read by the client against the *real* clock; give the remaining lifetime in real terms
  // so the client refreshes on its own schedule while `exp` inside the token follows the sandbox clock.
  const remaining = issued.expiresOn - Math.floor(core.clock.now() / 1000);
  const expiresOn = Math.floor(Date.now() / 1000) + remaining;
  return {
    status: 200,
    body: {
      access_token: issued.token,
      expires_on: version === '2017-09-01' ? appServiceDate(expiresOn) : String(expiresOn),
      resource: resourceParam,
      token_type: 'Bearer',
      client_id: principal.clientId,
    },
  };
}

/** 2017-09-01's expires_on as Linux App Service writes it: "06/20/2019 02:57:58 +00:00" (UTC). */
export function appServiceDate(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${d.getUTCFullYear()} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +00:00`
  );
}
