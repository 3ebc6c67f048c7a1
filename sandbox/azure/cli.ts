import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { VirtualClock, WallClock } from '../clock';
import { loadOrCreateFile } from './certs';
import { newSecret } from './core';
import { startAzureSandbox } from './index';

/**
 * The sandbox as its own process:
 *
 *   node dist/sandbox/azure/cli.js [--port 8443] [--http-port 8080] [--clock wall|virtual] [--speed 60]
 *     [--snapshot estate.json] [--throttling azure|off] [--propagation-delay-ms 0] [--lro-duration-ms 0]
 *     [--page-size 100] [--state-dir .sandbox] [--keyvault-dns-suffix vault.sandbox.localhost]
 *
 * Prints the settings an app process needs (also written to <state-dir>/sandbox.env) and the control
 * API's admin secret (SANDBOX_ADMIN_SECRET to pin it; otherwise kept in <state-dir>/admin-secret).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'http-port': { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      clock: { type: 'string', default: 'wall' },
      speed: { type: 'string', default: '1' },
      snapshot: { type: 'string' },
      throttling: { type: 'string', default: 'off' },
      'propagation-delay-ms': { type: 'string', default: '0' },
      'lro-duration-ms': { type: 'string', default: '0' },
      'page-size': { type: 'string', default: '100' },
      'state-dir': { type: 'string', default: join(process.cwd(), '.sandbox') },
      'keyvault-dns-suffix': { type: 'string' },
      'no-storage': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: node dist/sandbox/azure/cli.js [options] — see the comment at the top of sandbox/azure/cli.ts',
    );
    return;
  }
  const int = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number (got ${v})`);
    return n;
  };
  const stateDir = values['state-dir'];
  const adminSecret =
    process.env.SANDBOX_ADMIN_SECRET || loadOrCreateFile(stateDir, 'admin-secret', newSecret).trim();
  const clock =
    values.clock === 'virtual' ? new VirtualClock(Date.now()) : new WallClock(Number(values.speed));
  const throttling =
    values.throttling === 'azure' ? 'azure' : values.throttling === 'off' ? false : undefined;
  if (throttling === undefined) throw new Error('--throttling must be azure or off');

  const sb = await startAzureSandbox({
    port: int('port', values.port),
    httpPort: int('http-port', values['http-port']),
    host: values.host,
    stateDir,
    clock,
    ...(values.snapshot ? { snapshotFile: values.snapshot } : {}),
    throttling,
    propagationDelayMs: int('propagation-delay-ms', values['propagation-delay-ms']),
    lroDurationMs: int('lro-duration-ms', values['lro-duration-ms']),
    pageSize: int('page-size', values['page-size']),
    adminSecret,
    ...(values['keyvault-dns-suffix'] ? { keyVaultDnsSuffix: values['keyvault-dns-suffix'] } : {}),
    // The storage account (Azurite, in memory): AzureWebJobsStorage and Event Grid dead-letter containers.
    storage: !values['no-storage'],
  });
  const envText = Object.entries(sb.env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  writeFileSync(join(stateDir, 'sandbox.env'), `${envText}\n`);
  console.log(
    `Azure sandbox listening on ${sb.url} (identity/proxy on http://127.0.0.1:${sb.httpPort}), ${clock.kind} clock`,
  );
  console.log(`control API: ${sb.url}/_sandbox  (Authorization: Bearer ${adminSecret})`);
  console.log(`app settings (also in ${join(stateDir, 'sandbox.env')}):\n${envText}`);

  const stop = () => {
    void sb.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
