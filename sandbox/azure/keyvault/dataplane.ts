/**
 * Key Vault data-plane routes (keys), served on `<vault>.<keyVaultDnsSuffix>`. The core's pipeline
 * authenticates first (its 401 challenge names the sandbox's Key Vault resource); each route's own
 * `authorize` then resolves the vault from the host, checks the api-version, and applies the vault's
 * firewall and permission model (model.authorize) before the handler runs the operation.
 */
import type { HttpMethod, Reply, RequestContext } from '../context';
import type { SandboxCore } from '../core';
import { SandboxError } from '../errors';
import { KeyVaultError, kvErrors } from './errors';
import { transactionWeight, type VaultLimits } from './limits';
import { KeyVaultModel, type Vault } from './model';
import { KEY_OPERATIONS, TRUSTED_SERVICE_TYPES, type Caller, type KeyOperation } from './permissions';
import { deletedKeyBundle, deletedKeyItem, keyBundle, keyId, keyItem, rotationPolicy } from './wire';

/**
 * Data-plane api-versions the service accepts: the 7.x line (with its previews) and the date-based
 * 2025-07-01 that @azure/keyvault-keys 4.10 sends by default. Rotation needs 7.3 or later.
 */
const API_VERSIONS = ['7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01'];
const LATEST = '2025-07-01';
const SERVICE_VERSION = '1.9.2164.1';

function checkApiVersion(ctx: RequestContext, operation: KeyOperation): void {
  const version = ctx.query.get('api-version');
  if (!version) throw kvErrors.badParameter("The 'api-version' query parameter is missing.");
  const base = version.replace(/-preview(\.\d+)?$/, '');
  if (!API_VERSIONS.includes(base)) {
    throw kvErrors.badParameter(
      `The specified version (${version}) is not recognized. Consider using the latest supported version (${LATEST}).`,
    );
  }
  const rotation =
    operation === 'rotate' || operation === 'getrotationpolicy' || operation === 'setrotationpolicy';
  if (rotation && /^7\.[0-2]$/.test(base)) {
    throw kvErrors.badParameter(
      `The operation is not supported in api-version ${version}; use 7.3 or later.`,
    );
  }
}

/** Converts a model error into the core's error type, keeping Key Vault's innererror. */
export function toSandboxError(error: unknown): unknown {
  if (error instanceof KeyVaultError) {
    return new SandboxError(
      error.status,
      error.code,
      error.message,
      error.innerCode ? { innererror: { code: error.innerCode } } : {},
      error.headers,
    );
  }
  return error;
}

export interface DataPlaneDeps {
  core: SandboxCore;
  model: KeyVaultModel;
  limits: VaultLimits;
}

/** The service-limit class and weight of a request: key CREATE (software / HSM) or any other. */
function transaction(
  vault: Vault,
  operation: KeyOperation,
  ctx: RequestContext,
): ['create' | 'other', boolean, number] {
  if (operation === 'create') {
    let kty = '';
    try {
      const parsed = (JSON.parse(ctx.rawBody.toString('utf8') || '{}') as { kty?: unknown }).kty;
      kty = typeof parsed === 'string' ? parsed : '';
    } catch {
      // An unparsable body is refused by the handler; it counts as a software create meanwhile.
    }
    return ['create', kty.endsWith('-HSM'), 1];
  }
  const record = ctx.params.name ? vault.keys.get(ctx.params.name.toLowerCase()) : undefined;
  const version = ctx.params.version
    ? record?.versions.find((v) => v.version === ctx.params.version?.toLowerCase())
    : record?.versions[record.versions.length - 1];
  return ['other', false, transactionWeight(version)];
}

/** The caller as Key Vault sees it: token identity, client address, trusted-service status. */
export function callerOf(core: SandboxCore, ctx: RequestContext): Caller {
  const principal = ctx.principal;
  if (!principal) throw kvErrors.unauthorized();
  // A system-assigned identity of a resource whose service is on Key Vault's trusted list (Service Bus
  // namespaces among them) is how such a service reaches a vault in Azure (CMK); it bypasses the
  // firewall when the vault allows AzureServices. Any other principal is an ordinary public caller.
  const type = principal.kind === 'systemAssigned' ? resourceTypeOf(principal.resourceId) : undefined;
  const trusted = type
    ? TRUSTED_SERVICE_TYPES.find((t) => t.toLowerCase() === type.toLowerCase())
    : undefined;
  return {
    objectId: principal.objectId,
    tenantId: ctx.claims?.tid ?? principal.tenantId,
    appId: ctx.claims?.appid ?? principal.clientId,
    clientAddress: ctx.clientIp,
    ...(trusted ? { trustedService: trusted } : {}),
  };
}

function resourceTypeOf(resourceId: string | undefined): string | undefined {
  const m = resourceId ? /\/providers\/([^/]+)\/([^/]+)\/[^/]+$/i.exec(resourceId) : null;
  return m ? `${m[1]}/${m[2]}` : undefined;
}

function vaultOf(deps: DataPlaneDeps, ctx: RequestContext): Vault {
  const vault = ctx.vaultName ? deps.model.vaultByName(ctx.vaultName) : undefined;
  // In Azure an unknown vault host does not resolve at all; the sandbox answers on every host under
  // its suffix, so it reports the missing vault explicitly.
  if (!vault) {
    throw new KeyVaultError(404, 'VaultNotFound', `The vault '${ctx.vaultName ?? ''}' was not found.`);
  }
  return vault;
}

function parseBody(ctx: RequestContext): Record<string, unknown> {
  if (ctx.rawBody.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(ctx.rawBody.toString('utf8'));
  } catch {
    throw kvErrors.badParameter('The request body is not valid JSON.');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw kvErrors.badParameter('The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

function base64url(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(value)) {
    throw kvErrors.badParameter(`The parameter '${field}' must be a base64url-encoded string.`);
  }
  return Buffer.from(value, 'base64url');
}

const b64 = (buf: Buffer): string => buf.toString('base64url');

/** Key attributes from a request body, type-checked (Key Vault answers BadParameter otherwise). */
function attributesOf(
  value: unknown,
): { enabled?: boolean; nbf?: number | null; exp?: number | null } | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    throw kvErrors.badParameter('attributes must be an object.');
  const a = value as Record<string, unknown>;
  const out: { enabled?: boolean; nbf?: number | null; exp?: number | null } = {};
  if (a.enabled !== undefined && a.enabled !== null) {
    if (typeof a.enabled !== 'boolean') throw kvErrors.badParameter('attributes.enabled must be a boolean.');
    out.enabled = a.enabled;
  }
  for (const field of ['nbf', 'exp'] as const) {
    const v = a[field];
    if (v === undefined) continue;
    if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) {
      throw kvErrors.badParameter(`attributes.${field} must be a Unix time in seconds.`);
    }
    out[field] = v;
  }
  return out;
}

/** `{ [key]: value }` when value is defined, else `{}` (exactOptionalPropertyTypes-friendly spreading). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}

/** On create, `null` times mean "not set". */
function createAttributes(
  a: { enabled?: boolean; nbf?: number | null; exp?: number | null } | undefined,
): { enabled?: boolean; nbf?: number; exp?: number } | undefined {
  if (!a) return undefined;
  return {
    ...optional('enabled', a.enabled),
    ...optional('nbf', a.nbf ?? undefined),
    ...optional('exp', a.exp ?? undefined),
  };
}

function stringArray(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw kvErrors.badParameter(`${field} must be an array of strings.`);
  }
  return value as string[];
}

function tagsOf(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (
    typeof value !== 'object' ||
    Array.isArray(value) ||
    Object.values(value).some((v) => typeof v !== 'string')
  ) {
    throw kvErrors.badParameter('tags must be an object of string values.');
  }
  return value as Record<string, string>;
}

function maxResults(ctx: RequestContext): number {
  const text = ctx.query.get('maxresults');
  if (text === null) return 25;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 25) {
    throw kvErrors.badParameter('invalid maxresults: the value must be between 1 and 25.');
  }
  return n;
}

/** Key Vault paging: `{ value, nextLink }` with a `$skiptoken`; nextLink is null on the last page. */
function pageOf<T>(
  ctx: RequestContext,
  vault: Vault,
  path: string,
  items: T[],
): { value: T[]; nextLink: string | null } {
  const size = maxResults(ctx);
  const skip = ctx.query.get('$skiptoken');
  let start = 0;
  if (skip) {
    const decoded = Number.parseInt(Buffer.from(skip, 'base64url').toString('utf8'), 10);
    if (!Number.isInteger(decoded) || decoded < 0)
      throw kvErrors.badParameter('The $skiptoken is not valid.');
    start = decoded;
  }
  const value = items.slice(start, start + size);
  if (start + size >= items.length) return { value, nextLink: null };
  // Built by hand: Key Vault's nextLink carries a literal `$skiptoken` (URLSearchParams would encode `$`).
  const apiVersion = encodeURIComponent(ctx.query.get('api-version') ?? LATEST);
  const token = Buffer.from(String(start + size), 'utf8').toString('base64url');
  const nextLink = `${vault.properties.vaultUri.replace(/\/$/, '')}${path}?api-version=${apiVersion}&$skiptoken=${token}&maxresults=${size}`;
  return { value, nextLink };
}

function kvReply(ctx: RequestContext, vault: Vault, status: number, body?: unknown): Reply {
  return {
    status,
    ...(body !== undefined ? { body } : {}),
    headers: {
      'x-ms-keyvault-service-version': SERVICE_VERSION,
      'x-ms-keyvault-region': vault.location,
      'x-ms-keyvault-network-info': `conn_type=Ipv4;addr=${ctx.clientIp};act_addr_fam=InterNetwork;`,
    },
  };
}

interface KvRoute {
  method: HttpMethod;
  path: string;
  operation: KeyOperation;
  handler: (vault: Vault, caller: Caller, ctx: RequestContext) => Promise<Reply>;
}

export function registerDataPlane(deps: DataPlaneDeps): void {
  const { core, model } = deps;
  const name = (ctx: RequestContext): string => ctx.params.name ?? '';
  const version = (ctx: RequestContext): string | undefined => ctx.params.version || undefined;

  const routes: KvRoute[] = [
    {
      method: 'POST',
      path: '/keys/:name/create',
      operation: 'create',
      handler: async (vault, caller, ctx) => {
        const body = parseBody(ctx);
        if (typeof body.kty !== 'string') throw kvErrors.badParameter('The parameter kty is required.');
        const created = await model.createKey(vault, caller, name(ctx), {
          kty: body.kty,
          ...(typeof body.key_size === 'number' ? { key_size: body.key_size } : {}),
          ...(typeof body.crv === 'string' ? { crv: body.crv } : {}),
          ...optional('key_ops', stringArray(body.key_ops, 'key_ops')),
          ...optional('attributes', createAttributes(attributesOf(body.attributes))),
          ...optional('tags', tagsOf(body.tags)),
        });
        const record = vault.keys.get(name(ctx).toLowerCase());
        if (!record) throw kvErrors.keyNotFound(name(ctx));
        return kvReply(ctx, vault, 200, keyBundle(vault, record, created));
      },
    },
    {
      method: 'PUT',
      path: '/keys/:name',
      operation: 'import',
      handler: async (vault, caller, ctx) => {
        const body = parseBody(ctx);
        if (!body.key || typeof body.key !== 'object' || Array.isArray(body.key)) {
          throw kvErrors.badParameter('The parameter key is required.');
        }
        if (body.hsm !== undefined && typeof body.hsm !== 'boolean') {
          throw kvErrors.badParameter('The parameter hsm must be a boolean.');
        }
        const imported = await model.importKey(vault, caller, name(ctx), {
          key: body.key as Record<string, unknown>,
          ...optional('hsm', body.hsm),
          ...optional('attributes', createAttributes(attributesOf(body.attributes))),
          ...optional('tags', tagsOf(body.tags)),
        });
        const record = vault.keys.get(name(ctx).toLowerCase());
        if (!record) throw kvErrors.keyNotFound(name(ctx));
        return kvReply(ctx, vault, 200, keyBundle(vault, record, imported));
      },
    },
    {
      method: 'POST',
      path: '/keys/:name/backup',
      operation: 'backup',
      handler: async (vault, caller, ctx) =>
        kvReply(ctx, vault, 200, { value: b64(await model.backupKey(vault, caller, name(ctx))) }),
    },
    {
      method: 'POST',
      path: '/keys/restore',
      operation: 'restore',
      handler: async (vault, caller, ctx) => {
        const body = parseBody(ctx);
        const { record, version: v } = await model.restoreKey(vault, caller, base64url(body.value, 'value'));
        return kvReply(ctx, vault, 200, keyBundle(vault, record, v));
      },
    },
    {
      method: 'GET',
      path: '/keys',
      operation: 'list',
      handler: async (vault, caller, ctx) => {
        const items = (await model.listKeys(vault, caller)).map((k) =>
          keyItem(vault, k.record, k.version, false),
        );
        return kvReply(ctx, vault, 200, pageOf(ctx, vault, '/keys', items));
      },
    },
    {
      method: 'GET',
      path: '/keys/:name/versions',
      operation: 'list',
      handler: async (vault, caller, ctx) => {
        const items = (await model.listKeyVersions(vault, caller, name(ctx))).map((k) =>
          keyItem(vault, k.record, k.version, true),
        );
        return kvReply(ctx, vault, 200, pageOf(ctx, vault, `/keys/${name(ctx)}/versions`, items));
      },
    },
    {
      method: 'GET',
      path: '/keys/:name/rotationpolicy',
      operation: 'getrotationpolicy',
      handler: async (vault, caller, ctx) => {
        const { record, policy } = await model.getRotationPolicy(vault, caller, name(ctx));
        return kvReply(ctx, vault, 200, rotationPolicy(vault, record, policy));
      },
    },
    {
      method: 'PUT',
      path: '/keys/:name/rotationpolicy',
      operation: 'setrotationpolicy',
      handler: async (vault, caller, ctx) => {
        const body = parseBody(ctx);
        const { record, policy } = await model.setRotationPolicy(vault, caller, name(ctx), body);
        return kvReply(ctx, vault, 200, rotationPolicy(vault, record, policy));
      },
    },
    {
      method: 'POST',
      path: '/keys/:name/rotate',
      operation: 'rotate',
      handler: async (vault, caller, ctx) => {
        const { record, version: v } = await model.rotateKey(vault, caller, name(ctx));
        return kvReply(ctx, vault, 200, keyBundle(vault, record, v));
      },
    },
    ...(['/keys/:name', '/keys/:name/:version'] as const).flatMap((path): KvRoute[] => [
      {
        method: 'GET',
        path,
        operation: 'get',
        handler: async (vault, caller, ctx) => {
          const { record, version: v } = await model.getKey(vault, caller, name(ctx), version(ctx));
          return kvReply(ctx, vault, 200, keyBundle(vault, record, v));
        },
      },
      {
        method: 'PATCH',
        path,
        operation: 'update',
        handler: async (vault, caller, ctx) => {
          const body = parseBody(ctx);
          const { record, version: v } = await model.updateKey(vault, caller, name(ctx), version(ctx), {
            ...optional('key_ops', stringArray(body.key_ops, 'key_ops')),
            ...optional('attributes', attributesOf(body.attributes)),
            ...optional('tags', tagsOf(body.tags)),
          });
          return kvReply(ctx, vault, 200, keyBundle(vault, record, v));
        },
      },
    ]),
    {
      method: 'DELETE',
      path: '/keys/:name',
      operation: 'delete',
      handler: async (vault, caller, ctx) => {
        const deleted = await model.deleteKey(vault, caller, name(ctx));
        return kvReply(ctx, vault, 200, deletedKeyBundle(vault, deleted));
      },
    },
    {
      method: 'GET',
      path: '/deletedkeys',
      operation: 'listDeleted',
      handler: async (vault, caller, ctx) => {
        const items = (await model.listDeletedKeys(vault, caller)).map((d) => deletedKeyItem(vault, d));
        return kvReply(ctx, vault, 200, pageOf(ctx, vault, '/deletedkeys', items));
      },
    },
    {
      method: 'GET',
      path: '/deletedkeys/:name',
      operation: 'getDeleted',
      handler: async (vault, caller, ctx) =>
        kvReply(
          ctx,
          vault,
          200,
          deletedKeyBundle(vault, await model.getDeletedKey(vault, caller, name(ctx))),
        ),
    },
    {
      method: 'DELETE',
      path: '/deletedkeys/:name',
      operation: 'purge',
      handler: async (vault, caller, ctx) => {
        await model.purgeDeletedKey(vault, caller, name(ctx));
        return kvReply(ctx, vault, 204);
      },
    },
    {
      method: 'POST',
      path: '/deletedkeys/:name/recover',
      operation: 'recover',
      handler: async (vault, caller, ctx) => {
        const { record, version: v } = await model.recoverDeletedKey(vault, caller, name(ctx));
        return kvReply(ctx, vault, 200, keyBundle(vault, record, v));
      },
    },
    ...(['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] as const).map((op): KvRoute => ({
      method: 'POST',
      path: `/keys/:name/:version/${op.toLowerCase()}`,
      operation: op,
      handler: async (vault, caller, ctx) => {
        const body = parseBody(ctx);
        if (typeof body.alg !== 'string') throw kvErrors.badParameter('The parameter alg is required.');
        const value = base64url(body.value, 'value');
        const out = await model.cryptoOperation(vault, caller, op, name(ctx), version(ctx), body.alg, value);
        return kvReply(ctx, vault, 200, {
          kid: keyId(vault, out.record.name, out.version.version),
          value: b64(out.result),
        });
      },
    })),
    {
      method: 'POST',
      path: '/keys/:name/:version/sign',
      operation: 'sign',
      handler: async (vault, caller, ctx) => {
        const body = parseBody(ctx);
        if (typeof body.alg !== 'string') throw kvErrors.badParameter('The parameter alg is required.');
        const out = await model.sign(
          vault,
          caller,
          name(ctx),
          version(ctx),
          body.alg,
          base64url(body.value, 'value'),
        );
        return kvReply(ctx, vault, 200, {
          kid: keyId(vault, out.record.name, out.version.version),
          value: b64(out.result),
        });
      },
    },
    {
      method: 'POST',
      path: '/keys/:name/:version/verify',
      operation: 'verify',
      handler: async (vault, caller, ctx) => {
        const body = parseBody(ctx);
        if (typeof body.alg !== 'string') throw kvErrors.badParameter('The parameter alg is required.');
        const ok = await model.verify(
          vault,
          caller,
          name(ctx),
          version(ctx),
          body.alg,
          base64url(body.digest, 'digest'),
          base64url(body.value, 'value'),
        );
        return kvReply(ctx, vault, 200, { value: ok });
      },
    },
  ];

  // A versionless key id (`/keys/{name}//wrapkey` once the empty version is collapsed) uses the
  // current version, as the service does for clients that only know the key's name.
  const versionless = routes
    .filter((r) => r.path.startsWith('/keys/:name/:version/'))
    .map((r) => ({ ...r, path: r.path.replace('/:version/', '/') }));
  // Every data-plane request passes here: `authorize` (vault, api-version, tenant, firewall, permission
  // model, service limits), then `handler`. The operation is `route.operation`, the caller
  // `callerOf(core, ctx)`; a refusal is thrown from either step. The Service Bus key polls call the
  // model in-process (../servicebus/keys.ts) and do not pass here.
  for (const route of [...routes, ...versionless]) {
    core.routes.keyVault({
      method: route.method,
      path: route.path,
      operation: KEY_OPERATIONS[route.operation].dataAction,
      authorize: async (ctx) => {
        try {
          const vault = vaultOf(deps, ctx);
          checkApiVersion(ctx, route.operation);
          const keyName = ctx.params.name;
          ctx.scope = keyName ? `${vault.id}/keys/${keyName}` : vault.id;
          await model.authorize(vault, callerOf(core, ctx), route.operation, keyName);
          if (core.throttle.profile)
            deps.limits.take(vault.name, ...transaction(vault, route.operation, ctx), core.clock.now());
        } catch (error) {
          throw toSandboxError(error);
        }
      },
      handler: async (ctx) => {
        try {
          const vault = vaultOf(deps, ctx);
          return await route.handler(vault, callerOf(core, ctx), ctx);
        } catch (error) {
          throw toSandboxError(error);
        }
      },
    });
  }
}
