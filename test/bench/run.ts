/**
 * Benchmarks for the local Functions host. Every figure is printed next to a baseline measured in the
 * same run on the same machine, as a ratio:
 *   1. cold start — loading the compiled app and registering its functions vs. a bare import of
 *      @azure/functions + durable-functions (median of N fresh processes each);
 *   2. orchestration overhead — episodes per second for a 100-activity fan-out (every completion is
 *      one replay of a growing history) vs. 100 independent one-activity orchestrations.
 * Run: npm run bench   (median of 9 fresh processes per row; BENCH_RUNS=15 for more)
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { FIXTURE_APP, ROOT, TEST_KEYS, startHostProcess } from '../support/hostProcess';

const RUNS = Math.max(9, Number(process.env.BENCH_RUNS ?? 9));
const PROBE = path.join(__dirname, 'coldStartProbe.js');

interface Probe {
  ms: number;
  functions: number;
  names: string[];
  packages: string[];
  rssMb: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function probe(args: string[]): Probe {
  return JSON.parse(
    execFileSync(process.execPath, [PROBE, ...args], { cwd: ROOT, encoding: 'utf8' }).trim(),
  ) as Probe;
}

function coldStart(): void {
  const bare: Probe[] = [];
  const app: Probe[] = [];
  const fixture: Probe[] = [];
  for (let i = 0; i < RUNS; i++) {
    bare.push(probe(['bare']));
    app.push(probe(['app', path.join(ROOT, 'dist', 'src', 'index.js')]));
    fixture.push(probe(['app', FIXTURE_APP]));
  }
  const base = median(bare.map((b) => b.ms));
  // The timed app load must register every function of the product: compare with a load that also
  // requires every module under dist/src/functions and dist/src/orchestrations afterwards.
  const dist = path.join(ROOT, 'dist', 'src');
  const all = probe([
    'app-all',
    path.join(dist, 'index.js'),
    path.join(dist, 'functions'),
    path.join(dist, 'orchestrations'),
  ]);
  const registered = app[0]!.names;
  if (registered.join() !== all.names.join()) {
    throw new Error(
      `the timed start registered ${registered.length} functions, the whole app has ${all.names.length}: ${all.names.filter((n) => !registered.includes(n)).join(', ')} missing`,
    );
  }
  const extra = app[0]!.packages.filter((p) => !bare[0]!.packages.includes(p));
  const row = (label: string, samples: Probe[]) => {
    const ms = median(samples.map((s) => s.ms));
    const rss = median(samples.map((s) => s.rssMb));
    return `  ${label.padEnd(44)} ${ms.toFixed(1).padStart(7)} ms  ×${(ms / base).toFixed(2).padStart(5)}  ${String(samples[0]!.functions).padStart(3)} functions  rss ${rss.toFixed(0)} MB`;
  };
  console.log(`Cold start (median of ${RUNS} fresh processes)`);
  console.log(row('baseline: @azure/functions + durable-functions', bare));
  console.log(row('the Function App (dist/src/index.js)', app));
  console.log(row('the host test fixture app', fixture));
  const ratio = median(app.map((s) => s.ms)) / base;
  console.log(
    `  app / baseline: ×${ratio.toFixed(2)} (target ≤ ×1.30) — ${registered.length} functions registered, as many as the whole app has`,
  );
  console.log(`  packages loaded at start beyond the baseline: ${extra.length ? extra.join(', ') : 'none'}`);
}

async function orchestrationOverhead(): Promise<void> {
  const host = await startHostProcess({
    args: ['--log-level', 'warning'],
    env: { FIXTURE_SCHEDULE: '0 0 0 1 1 *' },
  });
  const admin = { 'x-functions-key': TEST_KEYS.master };
  const json = { 'content-type': 'application/json' };
  const episodes = async () =>
    (await host.json<{ episodes: number }>('/admin/host/status', { headers: admin })).body.episodes;
  try {
    // Warm up (JIT, first requires).
    await host.json('/api/fixture/run/fanOut', { method: 'POST', headers: json, body: '10' });

    /** Starts orchestrations through the Durable client and times them until all their episodes ran. */
    const measure = async (starts: Array<[string, unknown]>, expectedEpisodes: number) => {
      const before = await episodes();
      const t = performance.now();
      await Promise.all(
        starts.map(([name, input]) =>
          host.json(`/api/fixture/orchestrators/${name}`, {
            method: 'POST',
            headers: json,
            body: JSON.stringify(input),
          }),
        ),
      );
      while ((await episodes()) - before < expectedEpisodes) await new Promise((r) => setTimeout(r, 2));
      return { ms: performance.now() - t, episodes: (await episodes()) - before };
    };
    const base = await measure(
      Array.from({ length: 100 }, (_, i): [string, unknown] => ['hello', `n${i}`]),
      200,
    );
    const fan = await measure([['fanOut', 100]], 101);
    const [baseMs, baseEpisodes, fanMs, fanEpisodes] = [base.ms, base.episodes, fan.ms, fan.episodes];

    const baseRate = baseEpisodes / (baseMs / 1000);
    const fanRate = fanEpisodes / (fanMs / 1000);
    console.log('\nOrchestration overhead (one process, virtual clock)');
    console.log(
      `  baseline: 100 × one-activity orchestrations   ${baseEpisodes} episodes in ${baseMs.toFixed(0)} ms = ${baseRate.toFixed(0)} episodes/s`,
    );
    console.log(
      `  fan-out of 100 activities (Task.all)          ${fanEpisodes} episodes in ${fanMs.toFixed(0)} ms = ${fanRate.toFixed(0)} episodes/s  ×${(fanRate / baseRate).toFixed(2)} of baseline rate`,
    );
    console.log(`  per fan-out: ${fanEpisodes} episodes (1 start + 100 completions), activities: 100`);
  } finally {
    await host.stop();
  }
}

async function main(): Promise<void> {
  coldStart();
  await orchestrationOverhead();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
