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
      await quiesce(e);
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

interface OperationView<O> {
  status: number;
  done: boolean;
  runtimeStatus?: string;
  output: O | null;
}

async function operation<O>(e: GuardianEstate, id: string): Promise<OperationView<O>> {
  const r = await e.estate.app.json<{ done: boolean; runtimeStatus: string; output: O | null }>(
    `/api/operations/${id}`,
    { headers: { 'x-functions-key': e.estate.app.keys.function } },
  );
  return r.status === 200
    ? { status: 200, done: r.body.done, runtimeStatus: r.body.runtimeStatus, output: r.body.output }
    : { status: r.status, done: true, output: null };
}

/** Waits until neither the key watch nor the index refresh runs (after a clock move started them). */
export async function quiesce(e: GuardianEstate): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    const [watch, refresh] = await Promise.all([
      operation(e, 'key-watch'),
      operation(e, 'key-index-refresh'),
    ]);
    if (watch.done && refresh.done) return;
  }
  throw new Error('the key watch / index refresh did not finish');
}

/**
 * Gets the key index rebuilt from the estate as it is now: moves the clock just past the next
 * occurrence of the refresh timer (KEY_INDEX_REFRESH_SCHEDULE, hourly by default) and waits for that
 * refresh to be stored.
 */
export async function refreshIndex(
  e: GuardianEstate,
  periodMs = 60 * 60_000,
): Promise<{ builtAt: string; namespaces: number }> {
  const now = await clockNow(e);
  const due = Math.floor(now / periodMs) * periodMs + periodMs;
  await e.estate.azure.control('POST', '/clock/advance', { to: new Date(due + 1_000).toISOString() });
  for (let i = 0; i < 5000; i++) {
    const op = await operation<{ builtAt: string; namespaces: number; saved: boolean }>(
      e,
      'key-index-refresh',
    );
    if (op.status === 200 && op.done && op.output && Date.parse(op.output.builtAt) >= due) {
      if (op.runtimeStatus !== 'Completed' || !op.output.saved)
        throw new Error(`index refresh: ${JSON.stringify(op)}`);
      await quiesce(e);
      return op.output;
    }
  }
  throw new Error('the key index refresh did not finish');
}
