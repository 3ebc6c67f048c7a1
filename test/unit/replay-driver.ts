/**
 * Replays an orchestrator of the product through the real `durable-functions` executor with synthetic
 * histories, in the durable-js samples' style (their `TestHistories` + `createOrchestrator`): each
 * episode hands the orchestrator the whole history so far plus exactly one new event, and reads back
 * its actions, customStatus and output. The activities' answers are scripted by the test (`respond`),
 * so every path — refusals, bugs, platform faults that outlast the retries, lost responses — is chosen
 * by the test, and nothing talks to Azure.
 *
 * History shapes and event-id rules: shared research on the local Durable runtime (§1.2, §1.6, §1.7),
 * the same ones sandbox/host/durable/engine.ts follows.
 */
import type { OrchestrationHandler } from 'durable-functions';
// Deep imports of what durable-functions 3.5 ships for tests (not in its index; pinned version).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const testing = require('durable-functions/lib/src/util/testingUtils') as {
  createOrchestrator: (fn: OrchestrationHandler) => (trigger: unknown, context: unknown) => Promise<unknown>;
  DummyOrchestrationContext: new (
    functionName?: string,
    invocationId?: string,
    logHandler?: (level: string, ...args: unknown[]) => void,
  ) => unknown;
};
import {
  ActionType,
  EventType,
  event,
  flattenActions,
  type Action,
  type HistoryEvent,
  type OrchestratorState,
} from '../../sandbox/host/durable/history';

/** What a scripted activity or sub-orchestration does: return a value, or throw (a platform fault). */
export type Answer = { result: unknown } | { throws: string };

export interface Call {
  kind: 'activity' | 'subOrchestration';
  name: string;
  input: unknown;
  instanceId?: string;
  /** 1 for the first attempt, 2 for the first retry … */
  attempt: number;
}

export interface Replay {
  state: OrchestratorState;
  /** Every activity / sub-orchestration attempt, in order. */
  calls: Call[];
  /** Timers the orchestrator waited on, in seconds from when each was created. */
  timers: number[];
  /** customStatus after each episode. */
  statuses: unknown[];
  /** What the orchestrator logged (context.log / context.error). */
  logs: string[];
}

const START = Date.UTC(2026, 5, 1);

function scheduledTime(action: Action, now: number): number {
  return action.fireAt ? new Date(action.fireAt).getTime() : now;
}

export async function replay(
  orchestrator: OrchestrationHandler,
  input: unknown,
  respond: (call: Call) => Answer,
  options: { name?: string; instanceId?: string; maxEpisodes?: number } = {},
): Promise<Replay> {
  const run = testing.createOrchestrator(orchestrator);
  let now = START;
  const history: HistoryEvent[] = [
    event(EventType.OrchestratorStarted, now),
    event(EventType.ExecutionStarted, now, {
      Name: options.name ?? 'orchestration',
      Input: JSON.stringify(input),
    }),
  ];
  const calls: Call[] = [];
  const timers: number[] = [];
  const statuses: unknown[] = [];
  const logs: string[] = [];
  let known = 0;
  let nextId = 0;
  // Work the orchestrator waits for, oldest first; one is completed per episode.
  const pending: Array<{ id: number; action: Action; attempt: number; retryTimer?: boolean }> = [];
  // Attempts waiting for their retry timer: timer id → the action to schedule again.
  const retries = new Map<number, { action: Action; attempt: number }>();
  // Events before the newest OrchestratorStarted have been played.
  let newFrom = 0;

  for (let episode = 0; episode < (options.maxEpisodes ?? 500); episode++) {
    const context = new testing.DummyOrchestrationContext(
      'orchestration',
      `inv-${episode}`,
      (_level, ...args) => logs.push(args.map(String).join(' ')),
    );
    const played = history.map((e, i) => ({ ...e, IsPlayed: i < newFrom }));
    const trigger = {
      history: played,
      input,
      instanceId: options.instanceId ?? 'replay-instance',
      isReplaying: episode > 0,
      parentInstanceId: null,
      upperSchemaVersion: 1,
      upperSchemaVersionNew: 2,
      longRunningTimerIntervalDuration: '3.00:00:00',
      maximumShortTimerDuration: '6.00:00:00',
      defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
    };
    const state = (await run(trigger, context)) as OrchestratorState;
    statuses.push(state.customStatus);
    if (state.isDone || state.error) return { state, calls, timers, statuses, logs };

    const all = flattenActions(state);
    for (const action of all.slice(known)) {
      const id = nextId++;
      if (action.actionType === ActionType.CreateTimer) {
        history.push(event(EventType.TimerCreated, now, { FireAt: action.fireAt }, id));
        timers.push((scheduledTime(action, now) - now) / 1000);
      } else if (
        action.actionType === ActionType.CallSubOrchestrator ||
        action.actionType === ActionType.CallSubOrchestratorWithRetry
      ) {
        history.push(
          event(
            EventType.SubOrchestrationInstanceCreated,
            now,
            { Name: action.functionName, InstanceId: action.instanceId },
            id,
          ),
        );
      } else {
        history.push(event(EventType.TaskScheduled, now, { Name: action.functionName }, id));
      }
      pending.push({ id, action, attempt: 1 });
    }
    known = all.length;
    history.push(event(EventType.OrchestratorCompleted, now));

    const next = pending.shift();
    if (!next) throw new Error(`episode ${episode}: the orchestrator waits for nothing and is not done`);
    const { id, action } = next;
    if (action.actionType === ActionType.CreateTimer || next.retryTimer) {
      now = Math.max(now, scheduledTime(action, now));
      newFrom = history.length;
      history.push(event(EventType.OrchestratorStarted, now));
      history.push(event(EventType.TimerFired, now, { TimerId: id, FireAt: new Date(now).toISOString() }));
      const again = retries.get(id);
      if (again) {
        // The retry timer fired: the next attempt takes the next id, before anything new of this episode.
        retries.delete(id);
        const attemptId = nextId++;
        history.push(event(EventType.TaskScheduled, now, { Name: again.action.functionName }, attemptId));
        pending.unshift({ id: attemptId, action: again.action, attempt: again.attempt });
      }
      continue;
    }
    const sub =
      action.actionType === ActionType.CallSubOrchestrator ||
      action.actionType === ActionType.CallSubOrchestratorWithRetry;
    const call: Call = {
      kind: sub ? 'subOrchestration' : 'activity',
      name: action.functionName ?? '',
      input: typeof action.input === 'string' ? (JSON.parse(action.input) as unknown) : action.input,
      ...(action.instanceId ? { instanceId: action.instanceId } : {}),
      attempt: next.attempt,
    };
    calls.push(call);
    const answer = respond(call);
    newFrom = history.length;
    history.push(event(EventType.OrchestratorStarted, now));
    if ('result' in answer) {
      history.push(
        event(sub ? EventType.SubOrchestrationInstanceCompleted : EventType.TaskCompleted, now, {
          TaskScheduledId: id,
          Result: JSON.stringify(answer.result ?? null),
        }),
      );
      continue;
    }
    history.push(
      event(sub ? EventType.SubOrchestrationInstanceFailed : EventType.TaskFailed, now, {
        TaskScheduledId: id,
        Reason: answer.throws,
        Details: answer.throws,
      }),
    );
    // CallActivityWithRetry: the host writes a retry timer (also after the last attempt — DTFx's
    // back-compat dummy timer), then schedules the next attempt under a fresh id (docs/ARCHITECTURE.md "Local Functions host").
    const retry = action.retryOptions;
    if (retry) {
      const timerId = nextId++;
      const delay = Math.min(
        retry.firstRetryIntervalInMilliseconds * (retry.backoffCoefficient ?? 1) ** (next.attempt - 1),
        retry.maxRetryIntervalInMilliseconds ?? Number.POSITIVE_INFINITY,
      );
      const last = next.attempt >= retry.maxNumberOfAttempts;
      const fireAt = now + (last ? 0 : delay);
      history.push(event(EventType.TimerCreated, now, { FireAt: new Date(fireAt).toISOString() }, timerId));
      // The timer fires in the next episode; then the next attempt (if any) is scheduled.
      pending.unshift({
        id: timerId,
        action: { actionType: ActionType.CreateTimer, fireAt: new Date(fireAt).toISOString() },
        attempt: next.attempt,
        retryTimer: true,
      });
      if (!last) retries.set(timerId, { action, attempt: next.attempt + 1 });
    }
  }
  throw new Error('the orchestration did not finish within the episode budget');
}
