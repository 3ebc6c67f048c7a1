import type { InvocationContext, Timer } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { KEY_WATCH_INSTANCE_ID, KEY_WATCH_ORCHESTRATION } from '../orchestrations/names';

const RUNNING: ReadonlySet<string> = new Set(['Pending', 'Running', 'ContinuedAsNew']);

/**
 * Key watch timer, every KEY_POLL_MINUTES (docs/ARCHITECTURE.md "Key watch"): starts one `keyWatch`
 * cycle unless the previous one still runs — then this occurrence is skipped with a log line, and the
 * next one comes within a cycle. `src/index.ts` registers it with the schedule `keyWatchSchedule` derives.
 */
export async function keyWatchTimerHandler(
  _timer: Timer,
  client: DurableClient,
  context: InvocationContext,
): Promise<void> {
  const previous = await client.getStatus(KEY_WATCH_INSTANCE_ID, { showInput: false }).catch(() => undefined);
  if (previous && RUNNING.has(String(previous.runtimeStatus))) {
    context.warn(`key watch: the previous cycle (${KEY_WATCH_INSTANCE_ID}) still runs; this one is skipped`);
    return;
  }
  await client.startNew(KEY_WATCH_ORCHESTRATION, { instanceId: KEY_WATCH_INSTANCE_ID, input: {} });
  context.log(`key watch: cycle started (${KEY_WATCH_INSTANCE_ID})`);
}
