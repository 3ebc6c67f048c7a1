/**
 * Driving the guardian's schedules from a test or benchmark: the key-index refresh and one key-watch
 * cycle, both by moving the sandbox's virtual clock to the timer's next occurrence and following the
 * orchestration through `GET /api/operations/{id}` — the app is never called any other way.
 */
import type { RequestLogEntry } from './enable-cmk-support';
import type { GuardianEstate } from './guardian-support';

export interface WatchCycle {
  at: string;
  calls: number;
  byOperation: Record<string, number>;
  byVerdict: Record<string, number>;
  attention: Array<{
    namespaceId: string;
    verdict: string;
    ruleIds: string[];
    inoperableWithinMinutes?: number;
  }>;
  requests: RequestLogEntry[];
  /** Wall time from the clock move to the cycle's end (benchmarks only; no test asserts it). */
  ms: number;
}

async function clockNow(e: GuardianEstate): Promise<number> {
  return (await e.estate.azure.control<{ nowMs: number }>('GET', '/clock')).body.nowMs;
}

interface WatchOutput {
  outcome: string;
  at: string;
  calls: number;
  byVerdict: Record<string, number>;
  attention: WatchCycle['attention'];
  error?: unknown;
}

/** Moves the clock just past the next key-watch occurrence and waits for that cycle to end. */
export async function runKeyWatchCycle(e: GuardianEstate, pollMinutes: number): Promise<WatchCycle> {
  const period = pollMinutes * 60_000;
  const now = await clockNow(e);
  const due = Math.floor(now / period) * period + period;
  const mark = await e.mark();
  const t0 = process.hrtime.bigint();
  await e.estate.azure.control('POST', '/clock/advance', { to: new Date(due + 1_000).toISOString() });
  for (let i = 0; i < 3000; i++) {
    const op = await e.estate.app.json<{ done: boolean; output: WatchOutput | null }>(
      '/api/operations/key-watch',
      {
        headers: { 'x-functions-key': e.estate.app.keys.function },
      },
    );
    const out = op.body.output;
    if (op.status === 200 && op.body.done && out && Date.parse(out.at) >= due) {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (out.outcome !== 'assessed') throw new Error(`key watch failed: ${JSON.stringify(out)}`);
      const requests = (await e.appRequests(mark)).filter(
        (r) => r.service === 'arm' || r.service === 'keyvault',
      );
      const byOperation: Record<string, number> = {};
      for (const r of requests)
        byOperation[r.operation ?? r.path] = (byOperation[r.operation ?? r.path] ?? 0) + 1;
      return {
        at: out.at,
        calls: requests.length,
        byOperation,
        byVerdict: out.byVerdict,
        attention: out.attention,
        requests,
        ms,
      };
    }
  }
  throw new Error('the key-watch cycle did not finish');
}

/** Gets the key index rebuilt now (after seeding): PENDING core's refresh entry point. */
export async function refreshIndex(e: GuardianEstate): Promise<void> {
  void e;
  throw new Error('refreshIndex: wire to core');
}
