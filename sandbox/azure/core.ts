import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../clock';
import { ApiVersions } from './arm/apiVersions';
import { AsyncOperations } from './arm/operations';
import type { RequestContext } from './context';
import { ArmErrors, SandboxError } from './errors';
import { Faults } from './faults';
import { IdentityEndpoints } from './identity/endpoint';
import { PrincipalDirectory, type Principal } from './identity/principals';
import { TokenService, type AccessTokenClaims, type TokenExpiryMode } from './identity/tokens';
import { Rbac } from './rbac/authorization';
import { ROLE_IDS } from './rbac/roles';
import { RequestLog } from './requestLog';
import { RouteTable } from './router';
import type { BlobStorage } from './storage/azurite';
import type { Store } from './store';
import { Throttler, type ThrottleProfile } from './throttle';

/**
 * The sandbox's services, shared by the pipeline, the control API and every resource provider. A
 * provider receives this object in `register(core)` and keeps it; it reaches state only through
 * `core.store`, time only through `core.clock`, and permissions only through `core.rbac`.
 */
export interface ResourceProvider {
  readonly name: string;
  /** Declares routes (core.routes.arm / keyVault), api-versions (core.apiVersions.register), … */
  register(core: SandboxCore): void;
  /**
   * Store collections whose keys are ARM resource ids: deleting a resource group deletes the records
   * under it (and the role assignments and system-assigned identities of those resources).
   */
  readonly collections?: readonly string[];
  /**
   * Called when a scope (a resource group) is deleted, before the records under it go: for resources
   * that do not simply vanish with their group (Key Vault soft-deletes its vaults).
   */
  deletingScope?(scope: string): void;
  /** Called after a reset cleared the store (drop in-memory caches, timers). */
  reset?(): void;
  /** Called when the sandbox closes (release sockets, child processes). */
  close?(): void | Promise<void>;
}

export interface ResolvedOptions {
  tenantId: string;
  subscriptions: Array<{ subscriptionId: string; displayName: string }>;
  defaultLocation: string;
  keyVaultDnsSuffix: string;
  /** DNS suffix of Azure Monitor's regional hosts (`<region>.<suffix>`); default `monitoring.sandbox.localhost`. */
  monitoringDnsSuffix?: string;
  tokenLifetimeSeconds: number;
  lroDurationMs: number;
  lroRetryAfterSeconds: number;
  pageSize: number;
  adminSecret: string;
  /** Fixed ids for the seeded principals, so env files stay valid across restarts/resets. */
  adminObjectId: string;
  adminClientId: string;
  appObjectId: string;
  appClientId: string;
  appResourceId: string;
  identityHeader: string;
}

/**
 * What an observer sees after every answered request (pipeline step 11): the Azure Monitor provider
 * derives the Key Vault audit log and platform metrics from it without touching other providers.
 */
export interface RequestOutcome {
  service: RequestContext['service'];
  method: string;
  /** Host the client addressed (tells vaults apart) and the decoded path. */
  host: string;
  path: string;
  query: string;
  /** The matched route's path template and parameters (absent when no route matched). */
  routePath?: string;
  params: Record<string, string>;
  vaultName?: string;
  principal?: { objectId: string; clientId?: string };
  clientIp: string;
  /** Set when a Microsoft service called on a customer's behalf (Service Bus reaching its CMK). */
  trustedService?: string;
  apiVersion?: string;
  userAgent?: string;
  requestId: string;
  correlationId: string;
  /** Clock time of the request (ms). */
  time: number;
  status: number;
  errorCode?: string;
  /** Handler time in real milliseconds. */
  durationMs: number;
}

export type RequestObserver = (outcome: RequestOutcome) => void;

/** Azure's custom-metrics audience (the ingestion docs insist on the trailing slash). */
export const MONITORING_AUDIENCE = 'https://monitoring.azure.com/';
export const DEFAULT_MONITORING_DNS_SUFFIX = 'monitoring.sandbox.localhost';

export interface SandboxCoreInit {
  clock: Clock;
  store: Store;
  options: ResolvedOptions;
  port: number;
  signingKeyPem?: string;
  throttling?: ThrottleProfile;
  propagationDelayMs?: number;
  tokenExpiry?: TokenExpiryMode;
}

export class SandboxCore {
  readonly clock: Clock;
  readonly store: Store;
  readonly options: ResolvedOptions;
  readonly routes = new RouteTable();
  readonly apiVersions = new ApiVersions();
  readonly principals: PrincipalDirectory;
  readonly tokens: TokenService;
  readonly rbac: Rbac;
  readonly throttle: Throttler;
  readonly faults = new Faults();
  readonly log = new RequestLog();
  readonly operations: AsyncOperations;
  readonly identityEndpoints: IdentityEndpoints;
  readonly providers: ResourceProvider[] = [];
  /** Called after each answered request (see RequestOutcome); must not throw or block. */
  readonly observers: RequestObserver[] = [];
  /** Listening ports (set by the server once bound): HTTPS, and plain HTTP (identity endpoint, proxy). */
  port: number;
  httpPort = 0;
  /** The storage account (Azurite's Blob service) when the sandbox runs one (`storage: true`). */
  storage?: BlobStorage;
  /** The sandbox CA (PEM): outbound HTTPS the sandbox makes (Event Grid deliveries) trusts it too. */
  caPem = '';

  constructor(init: SandboxCoreInit) {
    this.clock = init.clock;
    this.store = init.store;
    this.options = init.options;
    this.port = init.port;
    this.principals = new PrincipalDirectory(this.store, this.options.tenantId);
    this.tokens = new TokenService(
      this.clock,
      this.options.tokenLifetimeSeconds,
      init.signingKeyPem,
      init.tokenExpiry,
    );
    this.rbac = new Rbac(this.store, this.clock, init.propagationDelayMs ?? 0);
    this.throttle = new Throttler(this.clock, init.throttling);
    this.operations = new AsyncOperations(
      this.clock,
      () => this.options.lroDurationMs,
      () => this.options.lroRetryAfterSeconds,
    );
    this.identityEndpoints = new IdentityEndpoints(this.store);
  }

  /** Where clients reach the sandbox. */
  get urls(): {
    arm: string;
    armAudiences: string[];
    keyVaultDnsSuffix: string;
    keyVaultAudience: string;
    monitoringDnsSuffix: string;
    monitoringAudience: string;
    /** Custom-metrics ingestion base for a region, `https://<region>.<monitoring suffix>` (port-less, as vaults). */
    monitoringEndpoint: (region: string) => string;
    identityPath: string;
    identityEndpoint: string;
    vaultUri: (vaultName: string) => string;
  } {
    const arm = `https://localhost:${this.port}`;
    const suffix = this.options.keyVaultDnsSuffix;
    return {
      arm,
      // What ARM accepts: the sandbox URL (ARM_AUDIENCE defaults to ARM_ENDPOINT), with or without '/'.
      armAudiences: [arm, `https://127.0.0.1:${this.port}`],
      keyVaultDnsSuffix: suffix,
      keyVaultAudience: `https://${suffix}`,
      monitoringDnsSuffix: this.options.monitoringDnsSuffix ?? DEFAULT_MONITORING_DNS_SUFFIX,
      monitoringAudience: MONITORING_AUDIENCE,
      monitoringEndpoint: (region: string) =>
        `https://${region.replace(/\s+/g, '').toLowerCase()}.${this.options.monitoringDnsSuffix ?? DEFAULT_MONITORING_DNS_SUFFIX}`,
      identityPath: '/msi/token',
      // App Service serves its identity endpoint over plain http on loopback; so do we.
      identityEndpoint: `http://127.0.0.1:${this.httpPort}/msi/token`,
      // Azure's vault URIs have no port; clients reach <vault>.<suffix>:443 through the CONNECT proxy (server.ts).
      vaultUri: (vaultName: string) => `https://${vaultName.toLowerCase()}.${suffix}/`,
    };
  }

  /** Tells every observer about an answered request (the pipeline, and in-process callers like Service Bus). */
  notifyObservers(outcome: RequestOutcome): void {
    for (const observe of this.observers) {
      try {
        observe(outcome);
      } catch (error) {
        console.error('[sandbox] request observer failed:', error);
      }
    }
  }

  use(provider: ResourceProvider): void {
    this.providers.push(provider);
    provider.register(this);
  }

  // ---- authentication ------------------------------------------------------------------------------

  /** Verifies the caller for ctx.service; sets ctx.principal / ctx.claims or throws Azure's 401. */
  async authenticate(ctx: RequestContext): Promise<void> {
    if (ctx.service === 'control') return this.authenticateAdmin(ctx);
    if (ctx.service === 'identity') return; // the identity route checks X-IDENTITY-HEADER itself
    const keyVault = ctx.service === 'keyvault';
    const header = ctx.headers.authorization;
    if (!header)
      throw keyVault
        ? this.keyVaultChallenge('AKV10000: Request is missing a Bearer or PoP token.')
        : ArmErrors.missingAuthorization();
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      throw keyVault
        ? this.keyVaultChallenge('AKV10001: The authorization header is not in the expected format.')
        : ArmErrors.invalidAuthorizationHeader();
    }
    const audiences = keyVault
      ? [this.urls.keyVaultAudience]
      : ctx.service === 'monitoring'
        ? [this.urls.monitoringAudience]
        : this.urls.armAudiences;
    const result = await this.tokens.verify(match[1]!, audiences);
    if (!result.ok) {
      if (result.reason === 'expired') {
        throw keyVault
          ? this.keyVaultChallenge('AKV10013: The access token has expired.')
          : ArmErrors.expiredToken(new Date(result.exp * 1000), new Date(this.clock.now()));
      }
      if (result.reason === 'audience') {
        throw keyVault
          ? this.keyVaultChallenge(
              `AKV10022: Invalid audience. Expected ${this.urls.keyVaultAudience}, found: ${result.aud}.`,
            )
          : ArmErrors.wrongAudience(result.aud, audiences);
      }
      throw keyVault
        ? this.keyVaultChallenge('AKV10021: The access token is invalid.')
        : ArmErrors.invalidToken(result.detail);
    }
    if (result.claims.tid !== this.options.tenantId) {
      throw keyVault
        ? this.keyVaultChallenge(
            `AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${this.options.tenantId}/, found: ${result.claims.iss}.`,
          )
        : ArmErrors.wrongTenant(result.claims.tid);
    }
    ctx.claims = result.claims;
    ctx.principal = this.principalFromClaims(result.claims);
  }

  /**
   * Key Vault's 401: the SDK's challenge policy reads `authorization` (tenant) and `resource` (scope)
   * from WWW-Authenticate, checks that the vault host ends with the resource host, and retries.
   */
  keyVaultChallenge(message: string): SandboxError {
    return new SandboxError(
      401,
      'Unauthorized',
      message,
      {},
      {
        'WWW-Authenticate': `Bearer authorization="https://login.microsoftonline.com/${this.options.tenantId}", resource="${this.urls.keyVaultAudience}"`,
      },
    );
  }

  private authenticateAdmin(ctx: RequestContext): void {
    const header = ctx.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m || m[1] !== this.options.adminSecret) {
      throw new SandboxError(
        401,
        'AuthenticationFailed',
        'The control API needs "Authorization: Bearer <admin secret>".',
      );
    }
  }

  /** A token's principal; a deleted principal's still-valid token keeps working (and has no roles). */
  private principalFromClaims(claims: AccessTokenClaims): Principal {
    return (
      this.principals.get(claims.oid) ?? {
        objectId: claims.oid,
        clientId: claims.appid,
        tenantId: claims.tid,
        displayName: claims.oid,
        kind: 'test',
        principalType: claims.idtyp === 'user' ? 'User' : 'ServicePrincipal',
      }
    );
  }

  // ---- seeding and reset -------------------------------------------------------------------------

  /** The fixed estate every sandbox starts with: subscriptions, the admin (Owner at /), the app identity. */
  seed(): void {
    for (const s of this.options.subscriptions) {
      this.store.put('subscriptions', s.subscriptionId, {
        subscriptionId: s.subscriptionId,
        displayName: s.displayName,
        state: 'Enabled',
        tenantId: this.options.tenantId,
      });
    }
    if (!this.principals.get(this.options.adminObjectId)) {
      this.principals.create({
        objectId: this.options.adminObjectId,
        clientId: this.options.adminClientId,
        displayName: 'sandbox-admin',
        kind: 'admin',
      });
      this.rbac.putAssignment({
        scope: '/',
        name: randomUUIDFrom(this.options.adminObjectId),
        roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.owner}`,
        principalId: this.options.adminObjectId,
        principalType: 'ServicePrincipal',
        createdBy: this.options.adminObjectId,
      });
      // The admin's assignment exists "since forever": no propagation delay for the seed.
      const seeded = this.rbac.assignmentsApplyingTo('/', this.options.adminObjectId)[0];
      if (seeded) this.store.put('roleAssignments', seeded.id, { ...seeded, effectiveAt: 0 });
    }
    if (!this.principals.get(this.options.appObjectId)) {
      this.principals.create({
        objectId: this.options.appObjectId,
        clientId: this.options.appClientId,
        displayName: this.options.appResourceId.split('/').pop() ?? 'app',
        kind: 'systemAssigned',
        resourceId: this.options.appResourceId,
      });
    }
    // Keep user-assigned identities attached to the app's site across restarts (snapshot).
    const site = this.identityEndpoints.get(this.options.identityHeader);
    this.identityEndpoints.register(this.options.identityHeader, {
      ...site,
      systemAssigned: this.options.appObjectId,
    });
  }

  /** Forgets the whole estate and re-seeds (same admin secret, app identity and identity header). */
  reset(): void {
    this.store.clear();
    this.faults.clear();
    this.log.clear();
    this.throttle.reset();
    this.operations.reset();
    this.seed();
    for (const p of this.providers) p.reset?.();
  }

  /** Deletes everything under an ARM scope (a resource group or a resource) across provider collections. */
  deleteUnder(scope: string): void {
    const prefix = scope.replace(/\/+$/, '');
    for (const p of this.providers) p.deletingScope?.(prefix);
    for (const p of this.providers) {
      for (const c of p.collections ?? []) {
        this.store.delete(c, prefix);
        this.store.deletePrefix(c, `${prefix}/`);
      }
    }
    this.rbac.deleteAssignmentsUnder(prefix);
    for (const principal of this.principals.list()) {
      const r = principal.resourceId?.toLowerCase();
      if (
        principal.kind === 'systemAssigned' &&
        r &&
        (r === prefix.toLowerCase() || r.startsWith(`${prefix.toLowerCase()}/`))
      ) {
        this.principals.delete(principal.objectId);
      }
    }
  }
}

/** A stable GUID derived from a string (seed assignments keep their id across resets). */
function randomUUIDFrom(seed: string): string {
  const hex = Buffer.from(seed.replace(/-/g, ''), 'hex');
  if (hex.length !== 16) return randomUUID();
  const b = Buffer.from(hex);
  b[0] = (b[0] ?? 0) ^ 0x5a;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const newSecret = (): string => randomBytes(24).toString('base64url');
