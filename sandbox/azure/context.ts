import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from './identity/principals';
import type { AccessTokenClaims } from './identity/tokens';
import type { SandboxCore } from './core';

export type { Handler } from './router';

/**
 * The per-request state every pipeline step and handler sees. Built once per request by the pipeline
 * (pipeline.ts); steps fill in `principal`, `action`, `scope` as they run, so the request log and the
 * error middleware can report what was attempted even when a step refuses it.
 */

/** Which emulated service a request belongs to; fault rules and the request log filter on it. */
export type Service = 'arm' | 'keyvault' | 'monitoring' | 'identity' | 'control';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

export interface RequestContext {
  readonly sandbox: SandboxCore;
  /** x-ms-request-id of this request (fresh GUID). */
  readonly requestId: string;
  /** x-ms-correlation-request-id: the client's x-ms-client-request-id / correlation id, or the request id. */
  readonly correlationId: string;
  readonly service: Service;
  readonly method: string;
  /** Absolute URL as the client addressed it (host included, so Key Vault can read the vault name). */
  readonly url: URL;
  /** Decoded path without a trailing slash ("/" for the root). */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: Buffer;
  /** Remote address (IPv4 form when the socket is v4-mapped); the Key Vault firewall checks it. */
  readonly clientIp: string;
  /** Clock time when the request arrived (ms since epoch, on the sandbox clock). */
  readonly receivedAt: number;
  /** Route parameters from the matched path template (original casing kept). */
  params: Record<string, string>;
  /** For Key Vault data-plane requests: the vault name taken from the host (`<vault>.<suffix>`). */
  vaultName?: string;
  /** For Azure Monitor regional requests: the region taken from the host (`<region>.monitoring.<suffix>`). */
  region?: string;
  /** The authenticated caller, once the authenticate step ran. */
  principal?: Principal;
  claims?: AccessTokenClaims;
  /** The operation being attempted (an RBAC action or dataAction name), for the log and for authorisation. */
  action?: string;
  /** The scope the action is checked against. */
  scope?: string;
  /** The api-version the client sent (checked by the pipeline for ARM routes). */
  apiVersion?: string;
  /** Extra headers the pipeline adds to whatever the handler returns (request ids, rate-limit counters). */
  readonly responseHeaders: Record<string, string>;
  /** The JSON body; throws an ARM-shaped 400 when the body is not JSON. Empty body → undefined. */
  json(): unknown;
}

/** What a handler returns; the pipeline serialises it (JSON unless `raw`). */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export const reply = {
  ok: (body: unknown, headers?: Record<string, string>): Reply => ({
    status: 200,
    body,
    ...(headers ? { headers } : {}),
  }),
  created: (body: unknown, headers?: Record<string, string>): Reply => ({
    status: 201,
    body,
    ...(headers ? { headers } : {}),
  }),
  accepted: (headers: Record<string, string>, body?: unknown): Reply => ({ status: 202, headers, body }),
  noContent: (): Reply => ({ status: 204 }),
};
