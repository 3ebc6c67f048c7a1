/**
 * One cold start, in a fresh process: `bare` loads only @azure/functions + durable-functions (the floor
 * any v4 Durable app pays); `app <entry>` provides @azure/functions-core, loads the compiled app and
 * counts its registrations. Prints one JSON line.
 */
import { performance } from 'node:perf_hooks';
import { Registry, installCoreModule } from '../../sandbox/host/coreShim';

const [mode, entry] = process.argv.slice(2);
const registry = new Registry(() => undefined);
installCoreModule(registry);
const started = performance.now();
/* eslint-disable @typescript-eslint/no-require-imports -- timing the require itself is the point */
if (mode === 'bare') {
  require('@azure/functions');
  require('durable-functions');
} else if (mode === 'app' && entry) {
  require(entry);
} else {
  throw new Error('usage: coldStartProbe bare | app <entry.js>');
}
/* eslint-enable @typescript-eslint/no-require-imports */
const ms = performance.now() - started;
process.stdout.write(
  JSON.stringify({ ms, functions: registry.functions.size, rssMb: process.memoryUsage().rss / 1048576 }) +
    '\n',
);
