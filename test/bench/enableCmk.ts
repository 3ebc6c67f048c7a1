/**
 * Benchmark: Azure calls per `POST /api/cmk/enable`, counted from the sandbox's request log for the
 * app's identity, split into reads and writes, printed next to the minimum for the case:
 *   - writes: the plan's `minimumWrites` (identity 0–1, grant 0–1 per access-policy vault or one per
 *     key on RBAC vaults, encryption 1) — the run must write exactly that;
 *   - reads: the namespace, its queues, topics and Geo-DR aliases (4), one vault lookup per subscription
 *     (vault names are global: one list finds them all), one per key, the identity when user-assigned, the assignments of an existing principal per RBAC
 *     vault, and one verification read — the run must stay within 2× of it.
 * Time is printed as a ratio to a dry run of the same request measured in the same run (the baseline).
 * Run: npm run build && node dist/test/bench/enableCmk.js
 */
import { startLocalEstate } from '../support/localEstate';
import {
  Estate,
  grantDocumentedRoles,
  type EnableOutput,
  type RequestLogEntry,
} from '../e2e/enable-cmk-support';

interface Case {
  name: string;
  body: Record<string, unknown>;
  minReads: number;
}

async function measure(e: Estate, c: Case): Promise<string> {
  const t0 = process.hrtime.bigint();
  const dry = await e.post<{ outcome: string }>('/api/cmk/enable', { ...c.body, dryRun: true });
  const dryMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (dry.status !== 200) throw new Error(`${c.name}: dry run ${dry.status}`);

  const mark = await e.mark();
  const t1 = process.hrtime.bigint();
  const { op } = await e.enable(c.body);
  const ms = Number(process.hrtime.bigint() - t1) / 1e6;
  const out = op.output as EnableOutput;
  const calls: RequestLogEntry[] = await e.appRequests(mark);
  const reads = calls.filter((r) => r.method === 'GET').length;
  const writes = calls.filter((r) => r.method !== 'GET' && r.status < 400).length;
  const minWrites = out.minimumWrites?.total ?? 0;
  const ok = writes === minWrites && reads <= 2 * c.minReads ? 'ok' : 'OVER';
  return [
    c.name.padEnd(46),
    out.outcome.padEnd(8),
    `writes ${String(writes).padStart(2)} / min ${String(minWrites).padStart(2)}`,
    `reads ${String(reads).padStart(3)} / min ${String(c.minReads).padStart(3)} (×${(reads / c.minReads).toFixed(2)})`,
    `${ms.toFixed(0).padStart(6)} ms (×${(ms / dryMs).toFixed(1)} of a dry run)`,
    ok,
  ].join('  ');
}

async function main(): Promise<void> {
  const e = await new Estate(await startLocalEstate()).init();
  try {
    await grantDocumentedRoles(e);
    await e.vault('kv-b-ap');
    await e.vault('kv-b-rbac', { rbac: true });
    for (const k of ['k1', 'k2', 'k3']) await e.key('kv-b-ap', k);
    for (const k of ['k1', 'k2']) await e.key('kv-b-rbac', k);
    const uai = await e.uai('id-b');
    for (const ns of ['sb-b-sys', 'sb-b-uai', 'sb-b-three']) await e.namespace(ns);

    const cases: Case[] = [
      {
        name: 'system-assigned, access-policy vault, 1 key',
        body: { namespaceId: e.nsId('sb-b-sys'), keys: [{ keyId: e.keyId('kv-b-ap', 'k1') }] },
        minReads: 4 + 1 + 1 + 1,
      },
      {
        name: 'user-assigned, RBAC vault, 1 key',
        body: {
          namespaceId: e.nsId('sb-b-uai'),
          keys: [{ keyId: e.keyId('kv-b-rbac', 'k1') }],
          identity: { type: 'UserAssigned', resourceId: uai.id },
        },
        minReads: 4 + 1 + 1 + 1 + 1 + 1,
      },
      {
        name: 'system-assigned, 3 keys in 2 vaults, infra',
        body: {
          namespaceId: e.nsId('sb-b-three'),
          keys: [
            { keyId: e.keyId('kv-b-ap', 'k2') },
            { keyId: e.keyId('kv-b-ap', 'k3') },
            { keyId: e.keyId('kv-b-rbac', 'k2') },
          ],
          requireInfrastructureEncryption: true,
        },
        minReads: 4 + 1 + 3 + 1,
      },
      {
        name: 're-run of the first (no-op)',
        body: { namespaceId: e.nsId('sb-b-sys'), keys: [{ keyId: e.keyId('kv-b-ap', 'k1') }] },
        // the preflight reads only: namespace, Geo-DR (entities do not matter once encrypted), vault, key
        minReads: 2 + 1 + 1,
      },
    ];
    console.log('Azure calls per enable (app identity, from the sandbox request log)');
    for (const c of cases) console.log(`  ${await measure(e, c)}`);
  } finally {
    await e.estate.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
