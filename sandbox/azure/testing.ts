import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { LookupFunction } from 'node:net';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { DEFAULT_MONITORING_DNS_SUFFIX } from './core';
import type { AzureSandbox } from './index';

/**
 * Test helpers: run the real Azure SDK clients against an in-process sandbox as any principal.
 *
 *   const sb = await startAzureSandbox();
 *   const alice = sb.control.createPrincipal({ displayName: 'alice' });
 *   const client = new AuthorizationManagementClient(new SandboxCredential(sb, alice.objectId), sb.subscriptionId,
 *     armClientOptions(sb));
 *
 * In-process tests cannot use NODE_EXTRA_CA_CERTS (Node reads it at process start, before the CA may
 * exist), so clients get the CA through `tlsOptions` (ARM) or an `agent` (Key Vault hosts, which also
 * need name resolution — see `sandboxAgent`). The app itself uses neither: it runs in a process started
 * with NODE_EXTRA_CA_CERTS and HTTPS_PROXY (sandbox.env).
 */
export class SandboxCredential implements TokenCredential {
  constructor(
    private readonly sandbox: Pick<AzureSandbox, 'control' | 'clock'>,
    readonly objectId: string,
  ) {}

  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes[0] : scopes;
    if (!scope) throw new Error('SandboxCredential: no scope');
    const issued = await this.sandbox.control.token(this.objectId, scope);
    // The SDK caches by the real clock; report the remaining lifetime in real terms.
    const remainingMs = issued.expires_on * 1000 - this.sandbox.clock.now();
    return { token: issued.access_token, expiresOnTimestamp: Date.now() + remainingMs, tokenType: 'Bearer' };
  }
}

/** Options for ARM clients (legacy and modular): endpoint, token scope and CA. */
export function armClientOptions(sb: Pick<AzureSandbox, 'url' | 'caPem'>): {
  endpoint: string;
  credentialScopes: string[];
  credentials: { scopes: string[] };
  tlsOptions: { ca: string };
  retryOptions: { maxRetries: number };
} {
  const scope = `${sb.url}/.default`;
  return {
    endpoint: sb.url,
    credentialScopes: [scope],
    credentials: { scopes: [scope] },
    tlsOptions: { ca: sb.caPem },
    retryOptions: { maxRetries: 3 },
  };
}

/**
 * An https.Agent that trusts the sandbox CA and sends `*.<Key Vault suffix>` (port-less vault URIs, so
 * port 443), the Azure Monitor regional hosts (`<region>.monitoring.sandbox.localhost`, port-less too)
 * and `localhost` to the sandbox's HTTPS listener — for in-process tests only (a process
 * started with sandbox.env uses the CONNECT proxy instead, which does the same mapping).
 */
export function sandboxAgent(
  sb: Pick<AzureSandbox, 'caPem' | 'keyVaultDnsSuffix' | 'port'>,
  options: { keepAlive?: boolean } = {},
): https.Agent {
  const suffix = `.${sb.keyVaultDnsSuffix}`;
  const monitoring = `.${DEFAULT_MONITORING_DNS_SUFFIX}`;
  const ours = (hostname: string) =>
    hostname.toLowerCase().endsWith(suffix) ||
    hostname.toLowerCase().endsWith(monitoring) ||
    hostname === 'localhost';
  const lookup: LookupFunction = (hostname, options, callback) => {
    if (ours(hostname)) {
      if (options.all)
        (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [
          { address: '127.0.0.1', family: 4 },
        ]);
      else callback(null, '127.0.0.1', 4);
      return;
    }
    callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
  };
  return new SandboxAgent(sb.port, ours, { ca: sb.caPem, lookup, keepAlive: options.keepAlive ?? true });
}

/** Redirects vault hosts (which have no port, as in Azure) to the port the sandbox listens on. */
class SandboxAgent extends https.Agent {
  constructor(
    private readonly sandboxPort: number,
    private readonly ours: (hostname: string) => boolean,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const host = options.host ?? '';
    return super.createConnection(
      this.ours(host) ? { ...options, port: this.sandboxPort } : options,
      callback,
    );
  }
}

/** Plain HTTPS request helper (for wire-shape tests): JSON in, `{ status, headers, body }` out. */
export async function httpsJson(
  sb: Pick<AzureSandbox, 'caPem' | 'keyVaultDnsSuffix' | 'port'>,
  method: string,
  url: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text: string;
}> {
  const agent = sandboxAgent(sb);
  try {
    return await new Promise((resolve, reject) => {
      const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
      const req = https.request(
        url,
        {
          method,
          agent,
          headers: {
            ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
            ...(payload
              ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) }
              : {}),
            ...(options.headers ?? {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = undefined;
            try {
              body = text ? (JSON.parse(text) as unknown) : undefined;
            } catch {
              body = text;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  } finally {
    agent.destroy();
  }
}
