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
 * sub, idtyp, xms_mirid for managed identities). Issued and checked on the sandbox clock, so a test
 * that advances virtual time past `exp` sees Azure's ExpiredAuthenticationToken.
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
  xms_mirid?: string;
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
      ...(principal.resourceId ? { xms_mirid: principal.resourceId } : {}),
    };
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.keyId })
      .sign(this.privateKey);
    return { token, expiresOn: claims.exp, claims };
  }

  /**
   * Checks signature, lifetime (on the sandbox clock) and audience. Audiences compare without a trailing
   * slash, as Entra issues `https://management.azure.com/` for the `…/.default` scope of either spelling.
   */
  async verify(token: string, audiences: readonly string[]): Promise<VerifyResult> {
    let claims: AccessTokenClaims;
    try {
      const result = await jwtVerify(token, this.publicKey, {
        algorithms: ['RS256'],
        currentDate: new Date(this.clock.now()),
        clockTolerance: 0,
      });
      claims = result.payload as unknown as AccessTokenClaims;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        const exp = (error.payload as { exp?: number }).exp ?? 0;
        return { ok: false, reason: 'expired', exp };
      }
      return { ok: false, reason: 'invalid', detail: error instanceof Error ? error.message : String(error) };
    }
    if (typeof claims.oid !== 'string' || typeof claims.tid !== 'string' || typeof claims.aud !== 'string') {
      return { ok: false, reason: 'invalid', detail: 'The token has no oid, tid or aud claim.' };
    }
    const strip = (s: string) => s.replace(/\/+$/, '').toLowerCase();
    if (!audiences.some((a) => strip(a) === strip(claims.aud)))
      return { ok: false, reason: 'audience', aud: claims.aud };
    return { ok: true, claims };
  }
}

/** The resource of an OAuth scope (`https://x/.default` → `https://x`), as the token endpoint treats it. */
export function scopeToResource(scope: string): string {
  return scope.replace(/\/\.default$/, '');
}
