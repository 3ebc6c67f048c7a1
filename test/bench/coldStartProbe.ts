/**
 * One cold start, in a fresh process: `bare` loads only @azure/functions + durable-functions (the floor
 * any v4 Durable app pays); `app <entry>` provides @azure/functions-core, loads the compiled app and
 * counts its registrations; `app-all <entry> <dir>…` also loads every module under the given folders
 * afterwards (untimed) — its function list is what "the whole app registered at start-up" must equal.
 * Prints one JSON line, with the packages loaded beyond the baseline (the SDKs must not be among them).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Registry, installCoreModule } from '../../sandbox/host/coreShim';

const [mode, entry, ...dirs] = process.argv.slice(2);
const registry = new Registry(() => undefined);
installCoreModule(registry);
const started = performance.now();
/* eslint-disable @typescript-eslint/no-require-imports -- timing the require itself is the point */
if (mode === 'bare') {
  require('@azure/functions');
  require('durable-functions');
} else if ((mode === 'app' || mode === 'app-all') && entry) {
  require(entry);
} else {
  throw new Error('usage: coldStartProbe bare | app <entry.js> | app-all <entry.js> <dir>…');
}
const ms = performance.now() - started;
const packages = [
  ...new Set(
    Object.keys(require.cache)
      .map((file) => /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(file)?.[1]?.replace('\\', '/'))
      .filter((name): name is string => name !== undefined),
  ),
].sort();
if (mode === 'app-all') {
  for (const dir of dirs) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) require(path.join(dir, file));
  }
}
/* eslint-enable @typescript-eslint/no-require-imports */
process.stdout.write(
  JSON.stringify({
    ms,
    functions: registry.functions.size,
    names: [...registry.functions.keys()].sort(),
    packages,
    rssMb: process.memoryUsage().rss / 1048576,
  }) + '\n',
);
