import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SandboxCore } from './core';
import { createRequestListener } from './pipeline';

/**
 * The sockets. Two listeners on loopback:
 *
 * - HTTPS (`port`): ARM, Key Vault data plane, control API, identity endpoint. Azure SDKs insist on TLS
 *   for bearer tokens; the certificate covers localhost, 127.0.0.1 and `*.<Key Vault DNS suffix>`.
 * - HTTP (`httpPort`): the App Service-style identity endpoint (App Service serves it over plain http
 *   on loopback too) and a forward proxy.
 *
 * Key Vault host names — the decision: vaults are `https://<vault>.<suffix>/` — no port, as in Azure —
 * with the suffix `vault.sandbox.localhost` by default (KEYVAULT_DNS_SUFFIX), because the Key Vault
 * SDKs' challenge check needs the vault host to end in `.` + the token resource's host (Python compares
 * host *and port*, so a port in the vault URI fails every Python Key Vault client; kids carry the vault
 * URI, so they must not name a port either), and our app only follows Key Vault URLs under the
 * configured suffix. `*.localhost` does not resolve through getaddrinfo on this Linux (glibc has no
 * special case; verified: dns.lookup('x.vault.sandbox.localhost') → ENOTFOUND), and a custom `lookup`
 * would make the app's code differ from Azure's. So the sandbox is also an HTTP CONNECT proxy: with
 * HTTPS_PROXY=http://127.0.0.1:<httpPort> (honoured by every Azure SDK's core-rest-pipeline proxy policy,
 * by Python `requests` and so by Azure CLI) the client asks the proxy for `<vault>.<suffix>:443` and the
 * proxy tunnels it to the HTTPS listener — no DNS, no /etc/hosts, configuration only. NO_PROXY is
 * `127.0.0.1` only (the plain-http identity endpoint): Python matches NO_PROXY entries as host suffixes,
 * so `localhost` there would send vault hosts around the proxy. ARM (`localhost:<port>`) is tunnelled
 * too. The proxy only tunnels to the sandbox itself (the machine is offline; nothing else is reachable).
 * Where `*.localhost` does resolve to loopback (systemd-resolved, browsers, curl) a client still needs
 * the proxy, because the vault URI names port 443 and the sandbox listens elsewhere.
 */
export interface Listening {
  port: number;
  httpPort: number;
  close(): Promise<void>;
}

export async function listen(
  core: SandboxCore,
  tls: { certPem: string; keyPem: string },
  options: { host: string; port: number; httpPort: number },
): Promise<Listening> {
  const listener = createRequestListener(core);
  const httpsServer = https.createServer(
    { key: tls.keyPem, cert: tls.certPem, keepAliveTimeout: 5_000 },
    listener,
  );
  const httpServer = http.createServer({ keepAliveTimeout: 5_000 }, listener);
  const sockets = new Set<Duplex>();
  const track = (s: Duplex) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  httpsServer.on('connection', track);
  httpServer.on('connection', track);

  httpServer.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const [host = '', portText = '443'] = (req.url ?? '').split(/:(?=\d+$)/);
    const target = host.toLowerCase().replace(/^\[|\]$/g, '');
    const suffix = `.${core.options.keyVaultDnsSuffix}`;
    const ours =
      target.endsWith(suffix) ||
      target.endsWith(`.${core.urls.monitoringDnsSuffix}`) ||
      ((target === 'localhost' || target === '127.0.0.1' || target === '::1') &&
        Number(portText) === core.port);
    if (!ours) {
      socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    // Any port under the Key Vault or Azure Monitor suffix reaches the HTTPS listener (their URIs are
    // port-less: 443).
    const upstream = net.connect(core.port, '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    track(upstream);
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    httpsServer.once('error', reject).listen(options.port, options.host, () => resolve());
  });
  core.port = (httpsServer.address() as AddressInfo).port;
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject).listen(options.httpPort, options.host, () => resolve());
  });
  const httpPort = (httpServer.address() as AddressInfo).port;
  core.httpPort = httpPort;

  return {
    port: core.port,
    httpPort,
    close: async () => {
      const closing = [httpsServer, httpServer].map(
        (s) => new Promise<void>((resolve) => s.close(() => resolve())),
      );
      for (const s of sockets) s.destroy();
      await Promise.all(closing);
    },
  };
}
