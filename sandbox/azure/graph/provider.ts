import { reply, type RequestContext } from '../context';
import type { ResourceProvider, SandboxCore } from '../core';
import { SandboxError } from '../errors';
import type { Principal } from '../identity/principals';

/**
 * The Microsoft Graph reads Azure CLI makes, over the sandbox's principals directory (read-only):
 *
 *   GET  /v1.0/me                                   → the signed-in user; an app-only token gets 400
 *   GET  /v1.0/servicePrincipals?$filter=…          → servicePrincipalNames/any(c:c eq 'x'), appId eq 'x', …
 *   GET  /v1.0/servicePrincipals/{id}
 *   GET  /v1.0/users?$filter=userPrincipalName eq 'x' (and users/{id})
 *   POST /v1.0/directoryObjects/getByIds            → { ids, types? }
 *
 * `az keyvault create` without --no-self-perms calls /me, then (for a service principal or managed
 * identity login) lists service principals by the account's name; under `az login --identity` that name is
 * `systemAssignedIdentity`, nothing matches and the CLI refuses ("Cannot create vault. Unable to query
 * active directory…") — as in Azure (Azure/azure-cli#16514).
 *
 * Served on the ARM listener under `/graph` (the base and the token audience: `https://localhost:<port>/graph`),
 * so no extra host name or certificate is needed; clients take the base from the cloud's
 * `microsoftGraphResourceId` (metadata/endpoints). Every sandbox principal may read the directory (no
 * Graph app roles are modelled). Errors use Graph's shape `{ error: { code, message, innerError } }`.
 */
export const graphBase = (core: SandboxCore): string => `${core.urls.arm}/graph`;

const PREFIX = '/graph/v1.0';

export const graphProvider: ResourceProvider = {
  name: 'Microsoft.Graph',
  register(core) {
    const route = (
      method: 'GET' | 'POST',
      path: string,
      handler: (ctx: RequestContext, caller: Principal) => ReturnType<typeof reply.ok>,
    ) =>
      core.routes.arm({
        method,
        path: `${PREFIX}${path}`,
        operation: `microsoft.graph${path.replace(/\/:[^/]+/g, '').replace(/\//g, '.')}/read`,
        // Graph authenticates with its own audience; the handler checks the token (see authenticate).
        authorize: 'anonymous',
        namespace: false,
        handler: async (ctx) => handler(ctx, await authenticate(core, ctx)),
      });

    route('GET', '/me', (ctx, caller) => {
      if (caller.principalType !== 'User')
        throw graphError(
          ctx,
          400,
          'BadRequest',
          '/me request is only valid with delegated authentication flow.',
        );
      return reply.ok({ ...context(core, 'users/$entity'), ...user(caller) });
    });
    route('GET', '/servicePrincipals', (ctx) =>
      reply.ok(
        list(core, ctx, 'servicePrincipals', spOf(core), (p) => p.principalType === 'ServicePrincipal'),
      ),
    );
    route('GET', '/servicePrincipals/:id', (ctx) => {
      const p = core.principals.get(ctx.params.id!);
      if (!p || p.principalType !== 'ServicePrincipal') throw notFound(ctx, ctx.params.id!);
      return reply.ok({ ...context(core, 'servicePrincipals/$entity'), ...spOf(core)(p) });
    });
    route('GET', '/users', (ctx) =>
      reply.ok(list(core, ctx, 'users', user, (p) => p.principalType === 'User')),
    );
    route('GET', '/users/:id', (ctx) => {
      const p = core.principals.get(ctx.params.id!);
      if (!p || p.principalType !== 'User') throw notFound(ctx, ctx.params.id!);
      return reply.ok({ ...context(core, 'users/$entity'), ...user(p) });
    });
    route('POST', '/directoryObjects/getByIds', (ctx) => {
      const body = ctx.json() as { ids?: unknown; types?: unknown } | undefined;
      const ids = Array.isArray(body?.ids)
        ? body.ids.filter((i): i is string => typeof i === 'string')
        : undefined;
      if (!ids) throw graphError(ctx, 400, 'Request_BadRequest', "The property 'ids' is required.");
      const types = Array.isArray(body?.types)
        ? body.types.map((t) =>
            String(t)
              .toLowerCase()
              .replace(/^#?microsoft\.graph\./, ''),
          )
        : undefined;
      const value = ids
        .map((id) => core.principals.get(id))
        .filter((p): p is Principal => p !== undefined)
        .filter((p) => !types || types.includes(p.principalType === 'User' ? 'user' : 'serviceprincipal'))
        .map((p) =>
          p.principalType === 'User'
            ? { '@odata.type': '#microsoft.graph.user', ...user(p) }
            : { '@odata.type': '#microsoft.graph.servicePrincipal', ...spOf(core)(p) },
        );
      return reply.ok({ ...context(core, 'directoryObjects'), value });
    });
  },
};

// ---- authentication ---------------------------------------------------------------------------------

async function authenticate(core: SandboxCore, ctx: RequestContext): Promise<Principal> {
  const header = ctx.headers.authorization ?? '';
  const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
  if (!token) throw graphError(ctx, 401, 'InvalidAuthenticationToken', 'Access token is empty.');
  const result = await core.tokens.verify(token, [graphBase(core)]);
  if (!result.ok) {
    const message =
      result.reason === 'expired'
        ? 'Lifetime validation failed, the token is expired.'
        : result.reason === 'audience'
          ? 'Access token validation failure. Invalid audience.'
          : 'Access token validation failure.';
    throw graphError(ctx, 401, 'InvalidAuthenticationToken', message);
  }
  const principal = core.principals.get(result.claims.oid);
  if (!principal || result.claims.tid !== core.options.tenantId)
    throw graphError(ctx, 401, 'InvalidAuthenticationToken', 'Access token validation failure.');
  ctx.principal = principal;
  ctx.claims = result.claims;
  return principal;
}

// ---- objects ------------------------------------------------------------------------------------------

const context = (core: SandboxCore, what: string) => ({
  '@odata.context': `${graphBase(core)}/v1.0/$metadata#${what}`,
});

function spOf(core: SandboxCore): (p: Principal) => Record<string, unknown> {
  return (p) => {
    const managed = p.kind === 'systemAssigned' || p.kind === 'userAssigned';
    return {
      id: p.objectId,
      appId: p.clientId,
      displayName: p.displayName,
      accountEnabled: true,
      appOwnerOrganizationId: managed ? null : core.options.tenantId,
      servicePrincipalType: managed ? 'ManagedIdentity' : 'Application',
      servicePrincipalNames: [p.clientId],
      // Managed identities name their resource here, as Entra does.
      alternativeNames:
        managed && p.resourceId
          ? [`isExplicit=${p.kind === 'userAssigned' ? 'True' : 'False'}`, p.resourceId]
          : [],
    };
  };
}

function user(p: Principal): Record<string, unknown> {
  const upn = `${p.displayName.replace(/[^A-Za-z0-9._-]/g, '')}@sandbox.onmicrosoft.com`;
  return { id: p.objectId, displayName: p.displayName, userPrincipalName: upn, mail: null };
}

/** A list with the `$filter` forms Azure CLI sends; anything else is refused as Graph refuses it. */
function list(
  core: SandboxCore,
  ctx: RequestContext,
  collection: string,
  shape: (p: Principal) => Record<string, unknown>,
  ofType: (p: Principal) => boolean,
): Record<string, unknown> {
  const filter = ctx.query.get('$filter');
  const items = core.principals.list().filter(ofType).map(shape);
  const matches = filter === null ? () => true : parseFilter(ctx, filter);
  return { ...context(core, collection), value: items.filter(matches) };
}

/** A scalar property as filter text (objects and arrays never equal a quoted literal). */
const text = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';

function parseFilter(ctx: RequestContext, filter: string): (o: Record<string, unknown>) => boolean {
  const quoted = "'((?:[^']|'')*)'";
  const clause = filter.trim();
  const unquote = (s: string) => s.replace(/''/g, "'").toLowerCase();
  const any = new RegExp(`^(\\w+)/any\\((\\w+):\\2 eq ${quoted}\\)$`, 'i').exec(clause);
  if (any) {
    const [, property, , value] = any;
    return (o) => {
      const v = o[property!];
      return Array.isArray(v) && v.some((x) => String(x).toLowerCase() === unquote(value!));
    };
  }
  const eq = new RegExp(`^(\\w+) eq ${quoted}$`, 'i').exec(clause);
  if (eq) {
    const [, property, value] = eq;
    return (o) => text(o[property!]).toLowerCase() === unquote(value!);
  }
  const startsWith = new RegExp(`^startswith\\((\\w+),\\s*${quoted}\\)$`, 'i').exec(clause);
  if (startsWith) {
    const [, property, value] = startsWith;
    return (o) => text(o[property!]).toLowerCase().startsWith(unquote(value!));
  }
  throw graphError(ctx, 400, 'BadRequest', 'Invalid filter clause');
}

// ---- errors -------------------------------------------------------------------------------------------

function graphError(ctx: RequestContext, status: number, code: string, message: string): SandboxError {
  return new SandboxError(status, code, message, {
    innerError: {
      date: new Date(ctx.receivedAt).toISOString().replace(/\.\d{3}Z$/, ''),
      'request-id': ctx.requestId,
      'client-request-id': ctx.correlationId,
    },
  });
}

const notFound = (ctx: RequestContext, id: string): SandboxError =>
  graphError(
    ctx,
    404,
    'Request_ResourceNotFound',
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  );
