/**
 * `npm start`: the whole product offline on one machine. It composes the pieces of `sandbox/`:
 *   1. the clock everything shares (wall clock, optionally faster: CLOCK_SPEED=60);
 *   2. the local Functions host running the compiled app (package.json "main") on port 7071 (PORT).
 * The emulated Azure joins this composition as a third piece: it only adds settings for the app
 * (endpoints, identity, CA) and shares the clock — the app itself does not change.
 */
import path from 'node:path';
import { WallClock } from './clock';
import { startFunctionsHost } from './host/host';
import { consoleLogger } from './host/log';
import { applySettings, readLocalSettings } from './host/settings';

const ROOT = path.resolve(__dirname, '..', '..');

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 7071);
  const speed = Number(process.env.CLOCK_SPEED ?? 1);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a TCP port number (got "${process.env.PORT}")`);
  if (!(speed > 0))
    throw new Error(`CLOCK_SPEED must be a positive number (got "${process.env.CLOCK_SPEED}")`);
  const clock = new WallClock(speed);

  const settings = readLocalSettings(ROOT);
  applySettings(settings.values);

  const host = await startFunctionsHost({
    app: ROOT,
    port,
    clock,
    keys: settings.keys,
    log: consoleLogger('information', () => clock.now()),
  });

  const banner = [
    '',
    'Service Bus CMK Guardian — running offline',
    `  Functions host   ${host.url}  (settings: ${settings.file ? path.relative(ROOT, settings.file) : 'environment only'})`,
    `  Clock            ${speed === 1 ? 'wall clock' : `wall clock × ${speed}`}`,
    '',
    'Functions:',
    ...host.functions.map((f) => `  ${f.name.padEnd(22)} [${f.trigger}] ${f.detail}`),
    '',
    'Keys (generated for this run unless pinned in local.settings.json Host.Keys):',
    `  function key     ${host.keys.function}`,
    `  master key       ${host.keys.master}`,
    '',
    'Try:',
    `  curl -s ${host.url}/api/health`,
    `  curl -s -H "x-functions-key: ${host.keys.function}" ${host.url}/api/operations/<operation id>`,
    '',
    'State is in memory: stopping the host loses Durable instances and timer schedule status.',
    'Press Ctrl+C to stop.',
    '',
  ];
  process.stdout.write(banner.join('\n') + '\n');

  const stop = (): void => {
    void host.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${(error as Error).message}\n`);
  process.exit(1);
});
