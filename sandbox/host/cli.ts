#!/usr/bin/env node
/**
 * Runs the local Functions host on its own:
 *   node dist/sandbox/host/cli.js [--app <dir|entry.js>] [--port 7071] [--clock wall|virtual]
 *        [--clock-speed 1] [--clock-start <ISO>] [--settings <file>] [--chaos duplicate-activities]
 *        [--ready-json]
 * With --ready-json the first stdout line is a JSON object ({ event: "ready", url, keys, … }) so a
 * test or script can pick up the port and keys.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { VirtualClock, WallClock, type Clock } from '../clock';
import { startFunctionsHost } from './host';
import { consoleLogger, type HostLogLevel } from './log';
import { applySettings, readLocalSettings } from './settings';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      app: { type: 'string', default: '.' },
      port: { type: 'string' },
      clock: { type: 'string', default: 'wall' },
      'clock-speed': { type: 'string', default: '1' },
      'clock-start': { type: 'string' },
      settings: { type: 'string' },
      chaos: { type: 'string' },
      'log-level': { type: 'string', default: 'information' },
      'ready-json': { type: 'boolean', default: false },
    },
  });
  const appDir = path.resolve(values.app ?? '.');
  const settings = readLocalSettings(appDir.endsWith('.js') ? path.dirname(appDir) : appDir, values.settings);
  applySettings(settings.values);
  const start = values['clock-start'] ? Date.parse(values['clock-start']) : Date.now();
  if (Number.isNaN(start)) throw new Error(`--clock-start must be an ISO date-time`);
  const clock: Clock =
    values.clock === 'virtual' ? new VirtualClock(start) : new WallClock(Number(values['clock-speed']));
  const host = await startFunctionsHost({
    app: appDir,
    port: values.port !== undefined ? Number(values.port) : (settings.port ?? 7071),
    clock,
    keys: settings.keys,
    duplicateActivities: values.chaos === 'duplicate-activities',
    log: consoleLogger(values['log-level'] as HostLogLevel, () => clock.now()),
  });
  if (values['ready-json']) {
    process.stdout.write(
      JSON.stringify({
        event: 'ready',
        url: host.url,
        port: host.port,
        keys: host.keys,
        functions: host.functions,
      }) + '\n',
    );
  } else {
    process.stdout.write(
      `\nFunctions:\n${host.functions.map((f) => `  ${f.name}: [${f.trigger}] ${f.detail}`).join('\n')}\n\n`,
    );
    process.stdout.write(`Host listening on ${host.url} (master key ${host.keys.master})\n`);
  }
  const stop = (): void => {
    void host.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
});
