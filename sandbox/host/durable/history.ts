/**
 * The Durable extension's history format (DurableTask.Core history events, serialised PascalCase with a
 * numeric EventType), as the `durable-functions` package's replay executor reads it. See
 * docs/ARCHITECTURE.md "Local Functions host".
 */
export enum EventType {
  ExecutionStarted = 0,
  ExecutionCompleted = 1,
  ExecutionFailed = 2,
  ExecutionTerminated = 3,
  TaskScheduled = 4,
  TaskCompleted = 5,
  TaskFailed = 6,
  SubOrchestrationInstanceCreated = 7,
  SubOrchestrationInstanceCompleted = 8,
  SubOrchestrationInstanceFailed = 9,
  TimerCreated = 10,
  TimerFired = 11,
  OrchestratorStarted = 12,
  OrchestratorCompleted = 13,
  EventSent = 14,
  EventRaised = 15,
  ContinueAsNew = 16,
  GenericEvent = 17,
  HistoryState = 18,
  ExecutionSuspended = 19,
  ExecutionResumed = 20,
}

export interface HistoryEvent {
  EventType: EventType;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

/** The action types an orchestrator returns (durable-functions `ActionType`). */
export enum ActionType {
  CallActivity = 0,
  CallActivityWithRetry = 1,
  CallSubOrchestrator = 2,
  CallSubOrchestratorWithRetry = 3,
  ContinueAsNew = 4,
  CreateTimer = 5,
  WaitForExternalEvent = 6,
  CallEntity = 7,
  CallHttp = 8,
  SignalEntity = 9,
  ScheduledSignalEntity = 10,
  WhenAny = 11,
  WhenAll = 12,
  LockEntities = 13,
  ReleaseEntities = 14,
}

export interface RetryOptionsWire {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

export interface Action {
  actionType: ActionType;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptionsWire;
  instanceId?: string;
  version?: string;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: Action[];
}

/** What the orchestrator function returns (or embeds in its failure): see OrchestratorState.js. */
export interface OrchestratorState {
  isDone: boolean;
  actions: Action[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion?: number;
}

export function event(
  type: EventType,
  at: number,
  fields: Record<string, unknown> = {},
  eventId = -1,
): HistoryEvent {
  return {
    EventType: type,
    EventId: eventId,
    IsPlayed: false,
    Timestamp: new Date(at).toISOString(),
    ...fields,
  };
}

/** Depth-first list of the atomic actions, the order in which both sides hand out event ids. */
export function flattenActions(state: OrchestratorState): Action[] {
  const out: Action[] = [];
  const walk = (actions: Action[]): void => {
    for (const action of actions) {
      if (action.actionType === ActionType.WhenAll || action.actionType === ActionType.WhenAny) {
        walk(action.compoundActions ?? []);
      } else {
        out.push(action);
      }
    }
  };
  for (const group of state.actions ?? []) walk(group);
  return out;
}

/** `callActivity` stringifies string inputs once (Utils.processInput); the worker parses them once. */
export function decodeActionInput(input: unknown): unknown {
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input) as unknown;
  } catch {
    return input;
  }
}

/** JSON text for a `Result`/`Input` field: always valid JSON ("null" for undefined). */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value);
}

/** Extension-style ISO time without fractions (DateTime.ToString("s") + "Z"). */
export function statusTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The history as the HTTP status API shows it (`showHistory=true`): event names, no scheduling noise. */
export function toStatusHistory(events: HistoryEvent[], showOutput: boolean): Array<Record<string, unknown>> {
  const scheduled = new Map<number, HistoryEvent>();
  const out: Array<Record<string, unknown>> = [];
  for (const e of events) {
    switch (e.EventType) {
      case EventType.TaskScheduled:
      case EventType.SubOrchestrationInstanceCreated:
        scheduled.set(e.EventId, e);
        break;
      case EventType.OrchestratorStarted:
      case EventType.OrchestratorCompleted:
        break;
      default: {
        const item: Record<string, unknown> = {
          EventType: EventType[e.EventType],
          EventId: e.EventId,
          Timestamp: e.Timestamp,
        };
        const origin = typeof e.TaskScheduledId === 'number' ? scheduled.get(e.TaskScheduledId) : undefined;
        if (origin) {
          item.FunctionName = origin.Name;
          item.ScheduledTime = origin.Timestamp;
          item.TaskScheduledId = e.TaskScheduledId;
        }
        if (e.EventType === EventType.ExecutionStarted) item.FunctionName = e.Name;
        if (e.EventType === EventType.TimerFired || e.EventType === EventType.TimerCreated) {
          item.TimerId = e.TimerId;
          item.FireAt = e.FireAt;
        }
        if (e.EventType === EventType.EventRaised) item.Name = e.Name;
        if (e.Reason !== undefined) item.Reason = e.Reason;
        if (e.Details !== undefined) item.Details = e.Details;
        if (e.OrchestrationStatus !== undefined) item.OrchestrationStatus = e.OrchestrationStatus;
        if (showOutput && typeof e.Result === 'string') item.Result = safeParse(e.Result);
        if (showOutput && e.EventType === EventType.ExecutionStarted && typeof e.Input === 'string')
          item.Input = safeParse(e.Input);
        out.push(item);
      }
    }
  }
  return out;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
