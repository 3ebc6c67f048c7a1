import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { VirtualClock } from '../clock';
import { reply, type RequestContext } from './context';
import type { SandboxCore } from './core';
import { newSecret } from './core';
import { SandboxError } from './errors';
import { faultRuleSchema, type FaultRule, type FaultRuleInput } from './faults';
import type { IdentitySite } from './identity/endpoint';
import type { NewPrincipal, Principal } from './identity/principals';
import type { RoleAssignment } from './rbac/authorization';
import { isGuid } from './rbac/authorization';
import type { RequestLogEntry, RequestLogFilter, WriteFilter } from './requestLog';
import { AZURE_ARM_LIMITS, type ThrottleProfile } from './throttle';

/**
 * The sandbox's own API — what Azure does not have: seed principals and role assignments as the
 * administrator, mint tokens for any principal, move virtual time, inject faults, read the request log,
 * reset. In-process callers use `SandboxControl` directly; everyone else uses `/_sandbox/*` over HTTPS
 * with `Authorization: Bearer <admin secret>` (printed by the CLI, returned by startAzureSandbox).
 */
export interface Settings {
  propagationDelayMs: number;
  tokenExpiry: 'client' | 'clock';
  lroDurationMs: number;
  pageSize: number;
  throttling: ThrottleProfile | null;
}

export class SandboxControl {
  constructor(private readonly core: SandboxCore) {}

  // ---- clock ----------------------------------------------------------------------------------------
  clock(): {
    now: string;
    nowMs: number;
    kind: 'wall' | 'virtual';
    pending?: Array<{ at: string; label: string }>;
  } {
    const c = this.core.clock;
    return {
      now: new Date(c.now()).toISOString(),
      nowMs: c.now(),
      kind: c.kind,
      ...(c instanceof VirtualClock ? { pending: c.pending() } : {}),
    };
  }

  /** Advances virtual time (and runs everything that falls due on the way). */
  async advance(by: {
    ms?: number;
    duration?: string;
    to?: string | number;
  }): Promise<ReturnType<SandboxControl['clock']>> {
    const c = this.core.clock;
    if (!(c instanceof VirtualClock))
      throw new SandboxError(
        409,
        'ClockNotVirtual',
        'The sandbox runs on the wall clock; time cannot be advanced.',
      );
    if (by.to !== undefined) await c.advanceTo(typeof by.to === 'number' ? by.to : Date.parse(by.to));
    else await c.advanceBy(by.ms ?? parseIsoDuration(by.duration ?? 'PT0S'));
    return this.clock();
  }

  // ---- principals and tokens ------------------------------------------------------------------------
  createPrincipal(input: NewPrincipal): Principal {
    return this.core.principals.create(input);
  }

  principals(): Principal[] {
    return this.core.principals.list();
  }

  /** An access token for any principal: `resource` 'arm' (default), 'keyvault' or an audience URL. */
  async token(
    objectId: string,
    resource: string = 'arm',
    lifetimeSeconds?: number,
  ): Promise<{ access_token: string; expires_on: number; token_type: 'Bearer'; resource: string }> {
    const principal = this.core.principals.get(objectId);
    if (!principal)
      throw new SandboxError(
        404,
        'PrincipalNotFound',
        `Principal ${objectId} does not exist in the sandbox directory.`,
      );
    const audience =
      resource === 'arm'
        ? this.core.urls.arm
        : resource === 'keyvault'
          ? this.core.urls.keyVaultAudience
          : resource.replace(/\/\.default$/, '');
    const issued = await this.core.tokens.issue(principal, audience, lifetimeSeconds);
    return {
      access_token: issued.token,
      expires_on: issued.expiresOn,
      token_type: 'Bearer',
      resource: audience,
    };
  }

  /**
   * Seeds a role assignment as the administrator. `role`: a role name ("Key Vault Reader") or GUID.
   * `immediate` (default true) skips the propagation delay — seeded access exists "since forever".
   */
  assignRole(input: {
    principalId: string;
    role: string;
    scope: string;
    immediate?: boolean;
    name?: string;
  }): RoleAssignment {
    const role = isGuid(input.role)
      ? this.core.rbac.roleDefinition(input.role)
      : this.core.rbac.roleByName(input.role);
    if (!role)
      throw new SandboxError(
        400,
        'RoleDefinitionDoesNotExist',
        `The specified role definition '${input.role}' does not exist.`,
      );
    const principal = this.core.principals.get(input.principalId);
    if (!principal)
      throw new SandboxError(
        400,
        'PrincipalNotFound',
        `Principal ${input.principalId} does not exist in the sandbox directory.`,
      );
    const sub = /^\/subscriptions\/([^/]+)/i.exec(input.scope)?.[1];
    const assignment = this.core.rbac.putAssignment({
      scope: input.scope,
      name: input.name ?? randomUUID(),
      roleDefinitionId: `${sub ? `/subscriptions/${sub}` : ''}/providers/Microsoft.Authorization/roleDefinitions/${role.name}`,
      principalId: principal.objectId,
      principalType: principal.principalType,
      createdBy: this.core.options.adminObjectId,
    });
    if (input.immediate !== false) {
      const now = { ...assignment, effectiveAt: this.core.clock.now() };
      this.core.store.put('roleAssignments', assignment.id, now);
      return now;
    }
    return assignment;
  }

  /** Registers an identity "site" (another Function App): a header secret → identities. */
  identitySite(site: IdentitySite & { header?: string }): { header: string; endpoint: string } {
    const header = site.header ?? newSecret();
    this.core.identityEndpoints.register(header, {
      ...(site.systemAssigned ? { systemAssigned: site.systemAssigned } : {}),
      ...(site.userAssigned ? { userAssigned: site.userAssigned } : {}),
    });
    return { header, endpoint: this.core.urls.identityEndpoint };
  }

  // ---- settings -------------------------------------------------------------------------------------
  settings(): Settings {
    return {
      propagationDelayMs: this.core.rbac.propagationDelayMs,
      tokenExpiry: this.core.tokens.expiryMode,
      lroDurationMs: this.core.options.lroDurationMs,
      pageSize: this.core.options.pageSize,
      throttling: this.core.throttle.profile ?? null,
    };
  }

  updateSettings(
    update: Partial<Omit<Settings, 'throttling'>> & { throttling?: ThrottleProfile | 'azure' | null },
  ): Settings {
    if (update.propagationDelayMs !== undefined)
      this.core.rbac.propagationDelayMs = update.propagationDelayMs;
    if (update.tokenExpiry !== undefined) this.core.tokens.expiryMode = update.tokenExpiry;
    if (update.lroDurationMs !== undefined) this.core.options.lroDurationMs = update.lroDurationMs;
    if (update.pageSize !== undefined) this.core.options.pageSize = update.pageSize;
    if (update.throttling !== undefined) {
      this.core.throttle.setProfile(
        update.throttling === 'azure' ? AZURE_ARM_LIMITS : (update.throttling ?? undefined),
      );
    }
    return this.settings();
  }

  // ---- faults ----------------------------------------------------------------------------------------
  addFault(rule: FaultRuleInput): FaultRule {
    return this.core.faults.add(rule);
  }
  faults(): FaultRule[] {
    return this.core.faults.list();
  }
  removeFault(id: string): boolean {
    return this.core.faults.remove(id);
  }
  clearFaults(): void {
    this.core.faults.clear();
  }

  // ---- request log -----------------------------------------------------------------------------------
  requests(filter?: RequestLogFilter): RequestLogEntry[] {
    return this.core.log.query(filter);
  }
  /** Cursor for "requests since now": pass it as `sinceSeq` later. */
  mark(): number {
    return this.core.log.lastSeq;
  }
  clearRequests(): void {
    this.core.log.clear();
  }

  reset(): void {
    this.core.reset();
  }
}

/**
 * `?writes=attempted|succeeded`; the older `?writesOnly=true` means attempted writes ("nothing was
 * written" must count refused attempts too). Anything else is a 400, so a typo cannot widen a filter.
 */
function writesQuery(q: URLSearchParams): { writes?: WriteFilter } {
  const writes = q.get('writes') ?? (q.get('writesOnly') === 'true' ? 'attempted' : null);
  if (writes === null) return {};
  if (writes !== 'attempted' && writes !== 'succeeded')
    throw new SandboxError(
      400,
      'InvalidQueryParameter',
      `writes must be 'attempted' or 'succeeded', not '${writes}'.`,
    );
  return { writes };
}

/** `P1DT2H3M4.5S` → ms (days and smaller; months/years are ambiguous and refused). */
export function parseIsoDuration(text: string): number {
  const m =
    /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
      text,
    );
  if (!m || text === 'P' || text.endsWith('T'))
    throw new SandboxError(400, 'InvalidDuration', `'${text}' is not an ISO 8601 duration like PT5M or P1D.`);
  const [, w, d, h, min, s] = m.map((x) => (x === undefined ? 0 : Number(x)));
  return ((((w ?? 0) * 7 + (d ?? 0)) * 24 + (h ?? 0)) * 60 + (min ?? 0)) * 60_000 + (s ?? 0) * 1000;
}

// ---- HTTP routes ---------------------------------------------------------------------------------------

const advanceBody = z.object({
  ms: z.number().nonnegative().optional(),
  duration: z.string().optional(),
  to: z.union([z.string(), z.number()]).optional(),
});
const principalBody = z.object({
  displayName: z.string().min(1),
  kind: z.enum(['test', 'systemAssigned', 'userAssigned', 'admin']).optional(),
  principalType: z.enum(['ServicePrincipal', 'User']).optional(),
  objectId: z.string().uuid().optional(),
  clientId: z.string().uuid().optional(),
  resourceId: z.string().optional(),
});
const tokenBody = z.object({
  objectId: z.string().min(1),
  resource: z.string().optional(),
  lifetimeSeconds: z.number().int().positive().optional(),
});
const assignBody = z.object({
  principalId: z.string().min(1),
  role: z.string().min(1),
  scope: z.string().min(1),
  immediate: z.boolean().optional(),
  name: z.string().uuid().optional(),
});
const bucket = z.object({ capacity: z.number().positive(), refillPerSecond: z.number().nonnegative() });
const settingsBody = z.object({
  propagationDelayMs: z.number().int().nonnegative().optional(),
  tokenExpiry: z.enum(['client', 'clock']).optional(),
  lroDurationMs: z.number().int().nonnegative().optional(),
  pageSize: z.number().int().positive().optional(),
  throttling: z
    .union([z.literal('azure'), z.null(), z.object({ reads: bucket, writes: bucket, deletes: bucket })])
    .optional(),
});
const siteBody = z.object({
  header: z.string().min(16).optional(),
  systemAssigned: z.string().optional(),
  userAssigned: z.array(z.string()).optional(),
});

function body<T>(ctx: RequestContext, schema: z.ZodType<T>): T {
  const r = schema.safeParse(ctx.json() ?? {});
  if (!r.success)
    throw new SandboxError(
      400,
      'InvalidRequestContent',
      r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
    );
  return r.data;
}

export function registerControlApi(core: SandboxCore, control: SandboxControl, caPem: string): void {
  const route = (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    handler: (ctx: RequestContext) => unknown,
    anonymous = false,
  ) =>
    core.routes.service('control', {
      method,
      path: `/_sandbox${path}`,
      operation: `sandbox/${path.split('/')[1] ?? ''}/${method.toLowerCase()}`,
      authorize: anonymous ? 'anonymous' : 'authenticated',
      handler: async (ctx) => {
        const result = await handler(ctx);
        return result === undefined ? reply.noContent() : reply.ok(result);
      },
    });

  route('GET', '/health', () => ({ status: 'ok', clock: control.clock(), arm: core.urls.arm }), true);
  core.routes.service('control', {
    method: 'GET',
    path: '/_sandbox/ca',
    operation: 'sandbox/ca/get',
    authorize: 'anonymous',
    handler: () => ({ status: 200, body: caPem, headers: { 'Content-Type': 'application/x-pem-file' } }),
  });
  route('GET', '/clock', () => control.clock());
  route('POST', '/clock/advance', (ctx) => control.advance(body(ctx, advanceBody)));
  route('GET', '/principals', () => control.principals());
  route('POST', '/principals', (ctx) => control.createPrincipal(body(ctx, principalBody)));
  route('POST', '/tokens', (ctx) => {
    const b = body(ctx, tokenBody);
    return control.token(b.objectId, b.resource, b.lifetimeSeconds);
  });
  route('POST', '/role-assignments', (ctx) => control.assignRole(body(ctx, assignBody)));
  route('POST', '/identity-sites', (ctx) => control.identitySite(body(ctx, siteBody)));
  route('GET', '/settings', () => control.settings());
  route('PUT', '/settings', (ctx) => control.updateSettings(body(ctx, settingsBody)));
  route('GET', '/faults', () => control.faults());
  route('POST', '/faults', (ctx) => {
    const parsed = faultRuleSchema.safeParse(ctx.json() ?? {});
    if (!parsed.success)
      throw new SandboxError(
        400,
        'InvalidRequestContent',
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    return control.addFault(parsed.data);
  });
  route('DELETE', '/faults', () => control.clearFaults());
  route('DELETE', '/faults/:id', (ctx) => {
    if (!control.removeFault(ctx.params.id!))
      throw new SandboxError(404, 'NotFound', `No fault rule '${ctx.params.id}'.`);
    return undefined;
  });
  route('GET', '/requests', (ctx) => {
    const q = ctx.query;
    const since = q.get('since');
    return control.requests({
      ...(since ? { sinceSeq: Number(since) } : {}),
      ...(q.get('service') ? { service: q.get('service') as RequestLogEntry['service'] } : {}),
      ...(q.get('method') ? { method: q.get('method')! } : {}),
      ...(q.get('principal') ? { principal: q.get('principal')! } : {}),
      ...writesQuery(q),
    });
  });
  route('DELETE', '/requests', () => control.clearRequests());
  route('POST', '/reset', () => control.reset());
}
