import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  type KeyObject,
} from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../../clock';
import type { Principal } from './principals';

/**
 * Access tokens: RS256 JWTs shaped like Entra ID v1 tokens (aud, iss, iat, nbf, exp, oid, tid, appid,
 * sub, idtyp, uti, xms_mirid for managed identities), issued on the sandbox clock.
 *
 * Expiry has two modes, because a client decides when to refresh by *its* clock — the real one:
 * - 'client' (default): a token expires when its lifetime has elapsed in real time since it was issued,
 *   i.e. when the client itself would consider it expired and refresh it. Advancing virtual time by a
 *   month does not invalidate tokens the SDK legitimately holds (in Azure the client's clock would have
 *   moved too and it would have refreshed).
 * - 'clock': `exp` is checked against the sandbox clock — for tests that want Azure's
 *   ExpiredAuthenticationToken by advancing virtual time.
 * With a wall clock at speed 1 both agree.
 */
export interface AccessTokenClaims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  oid: string;
  tid: string;
  appid: string;
  sub: string;
  idtyp: 'app' | 'user';
  /** Unique token id (Entra's `uti`). */
  uti: string;
  xms_mirid?: string;
}

export type TokenExpiryMode = 'client' | 'clock';

/**
 * Real issue time per token id. Process-wide on purpose: it stands for the client's clock, and a
 * sandbox restarted in the same process (same signing key) must judge tokens the client still holds.
 */
const issuedAtReal = new Map<string, number>();
function rememberIssue(uti: string): void {
  const now = Date.now();
  issuedAtReal.set(uti, now);
  if (issuedAtReal.size > 100_000) {
    for (const [k, t] of issuedAtReal)
      if (now - t > 7 * 24 * 3600_000 || issuedAtReal.size > 50_000) issuedAtReal.delete(k);
  }
}

export interface IssuedToken {
  token: string;
  /** Expiry on the sandbox clock (seconds since epoch). */
  expiresOn: number;
  claims: AccessTokenClaims;
}

export type VerifyResult =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; reason: 'invalid'; detail: string }
  | { ok: false; reason: 'expired'; exp: number }
  | { ok: false; reason: 'audience'; aud: string };

export class TokenService {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  readonly keyId: string;

  /** `signingKeyPem`: reuse a persisted key so tokens cached by a client survive a sandbox restart. */
  constructor(
    private readonly clock: Clock,
    readonly lifetimeSeconds: number,
    signingKeyPem?: string,
    public expiryMode: TokenExpiryMode = 'client',
  ) {
    this.privateKey = signingKeyPem
      ? createPrivateKey(signingKeyPem)
      : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    this.publicKey = createPublicKey(this.privateKey);
    this.keyId = (this.publicKey.export({ format: 'jwk' }).n ?? randomUUID()).slice(0, 16);
  }

  exportSigningKey(): string {
    return this.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  /** `resource`: the audience (a scope's resource, e.g. https://management.azure.com). */
  async issue(
    principal: Principal,
    resource: string,
    lifetimeSeconds = this.lifetimeSeconds,
  ): Promise<IssuedToken> {
    const iat = Math.floor(this.clock.now() / 1000);
    const claims: AccessTokenClaims = {
      aud: resource,
      iss: `https://sts.windows.net/${principal.tenantId}/`,
      iat,
      nbf: iat - 5 * 60,
      exp: iat + lifetimeSeconds,
      oid: principal.objectId,
      tid: principal.tenantId,
      appid: principal.clientId,
      sub: principal.objectId,
      idtyp: principal.principalType === 'User' ? 'user' : 'app',
      uti: randomUUID().replace(/-/g, ''),
      ...(principal.resourceId ? { xms_mirid: principal.resourceId } : {}),
    };
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.keyId })
      .sign(this.privateKey);
    rememberIssue(claims.uti);
    return { token, expiresOn: claims.exp, claims };
  }

  /**
   * Checks signature, lifetime (on the sandbox clock) and audience. Audiences compare without a trailing
   * slash, as Entra issues `https://management.azure.com/` for the `…/.default` scope of either spelling.
   */
  async verify(token: string, audiences: readonly string[]): Promise<VerifyResult> {
    let claims: AccessTokenClaims;
    try {
      claims = await this.check(token, new Date(this.clock.now()));
    } catch (error) {
      if (!(error instanceof joseErrors.JWTExpired)) {
        return {
          ok: false,
          reason: 'invalid',
          detail: error instanceof Error ? error.message : String(error),
        };
      }
      const payload = error.payload as { exp?: number; iat?: number; uti?: string };
      const issuedReal = payload.uti ? issuedAtReal.get(payload.uti) : undefined;
      const lifetimeMs = ((payload.exp ?? 0) - (payload.iat ?? 0)) * 1000;
      if (this.expiryMode === 'clock' || issuedReal === undefined || Date.now() - issuedReal >= lifetimeMs) {
        return { ok: false, reason: 'expired', exp: payload.exp ?? 0 };
      }
      // 'client' mode: still valid by the client's clock; verify everything else at its issue time.
      try {
        claims = await this.check(token, new Date(((payload.iat ?? 0) + 1) * 1000));
      } catch (again) {
        return {
          ok: false,
          reason: 'invalid',
          detail: again instanceof Error ? again.message : String(again),
        };
      }
    }
    if (typeof claims.oid !== 'string' || typeof claims.tid !== 'string' || typeof claims.aud !== 'string') {
      return { ok: false, reason: 'invalid', detail: 'The token has no oid, tid or aud claim.' };
    }
    const strip = (s: string) => s.replace(/\/+$/, '').toLowerCase();
    if (!audiences.some((a) => strip(a) === strip(claims.aud)))
      return { ok: false, reason: 'audience', aud: claims.aud };
    return { ok: true, claims };
  }

  private async check(token: string, at: Date): Promise<AccessTokenClaims> {
    const result = await jwtVerify(token, this.publicKey, {
      algorithms: ['RS256'],
      currentDate: at,
      clockTolerance: 0,
    });
    return result.payload as unknown as AccessTokenClaims;
  }
}

/** The resource of an OAuth scope (`https://x/.default` → `https://x`), as the token endpoint treats it. */
export function scopeToResource(scope: string): string {
  return scope.replace(/\/\.default$/, '');
}
