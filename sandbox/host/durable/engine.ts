/**
 * An in-memory Durable Functions backend: it keeps instances and their histories, runs orchestrator
 * episodes through the app's own `durable-functions` orchestrator (real replay, history schema V3),
 * runs activities, retries and timers host-side exactly as the Durable extension / DurableTask.Core
 * record them, and tells parents when sub-orchestrations end.
 *
 * One new event is delivered per episode. That keeps the event-id allocation identical on both sides
 * (docs/ARCHITECTURE.md "Local Functions host"): retry ids are allocated for the delivered event first, then
 * every new action the orchestrator returns gets the next id in depth-first order.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, Cancel } from '../../clock';
import { Registry, type RegisteredFunction } from '../coreShim';
import { FunctionInvocationError, Invoker, fromTypedData, jsonData } from '../invoker';
import type { HostLogger } from '../log';
import {
  ActionType,
  EventType,
  decodeActionInput,
  event,
  flattenActions,
  statusTime,
  toJsonText,
  toStatusHistory,
  type Action,
  type HistoryEvent,
  type OrchestratorState,
  type RetryOptionsWire,
} from './history';

export type RuntimeStatus =
  'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Terminated' | 'Suspended';

const TERMINAL: ReadonlySet<RuntimeStatus> = new Set(['Completed', 'Failed', 'Terminated']);

export interface EngineOptions {
  registry: Registry;
  invoker: Invoker;
  clock: Clock;
  log: HostLogger;
  /** Run every activity twice (Durable guarantees at-least-once): idempotency bugs show up in tests. */
  duplicateActivities?: boolean;
  /** host.json extensions.durableTask.maxConcurrentActivityFunctions */
  maxConcurrentActivities?: number;
}

interface RetryState {
  options: RetryOptionsWire;
  action: Action;
  failures: number;
}

interface RecordedAction {
  kind: string;
  id: number | undefined;
}

interface Instance {
  instanceId: string;
  name: string;
  executionId: string;
  input: unknown;
  status: RuntimeStatus;
  createdTime: number;
  lastUpdatedTime: number;
  customStatus: unknown;
  output: unknown;
  history: HistoryEvent[];
  inbox: HistoryEvent[];
  actions: RecordedAction[];
  nextEventId: number;
  retryByTask: Map<number, RetryState>;
  retryByTimer: Map<number, RetryState>;
  timers: Map<number, Cancel>;
  parent?: { instanceId: string; taskScheduledId: number };
  pumping: boolean;
  episodes: number;
}

export class UnknownFunctionError extends Error {}
export class InstanceExistsError extends Error {}

export interface StatusOptions {
  showHistory?: boolean;
  showHistoryOutput?: boolean;
  showInput?: boolean;
}

export interface StatusFilter {
  createdTimeFrom?: number;
  createdTimeTo?: number;
  runtimeStatus?: RuntimeStatus[];
  instanceIdPrefix?: string;
}

export class DurableEngine {
  private readonly instances = new Map<string, Instance>();
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  private activitySlots: number;
  private readonly activityQueue: Array<() => void> = [];

  constructor(private readonly options: EngineOptions) {
    this.activitySlots = Math.max(1, options.maxConcurrentActivities ?? 10);
    options.clock.addSettler(() => this.whenIdle());
  }

  // ---------------------------------------------------------------- client operations

  /** Starts (or restarts, if it ended) an orchestration instance. */
  startNew(name: string, input: unknown, instanceId?: string, parent?: Instance['parent']): Instance {
    const fn = this.orchestrator(name);
    const id = instanceId ?? randomBytes(16).toString('hex');
    const existing = this.instances.get(id);
    if (existing && !TERMINAL.has(existing.status)) {
      throw new InstanceExistsError(`An instance with ID '${id}' already exists and is ${existing.status}.`);
    }
    if (existing) this.cancelTimers(existing);
    const now = this.options.clock.now();
    const instance: Instance = {
      instanceId: id,
      name: fn.metadata.name,
      executionId: randomBytes(16).toString('hex'),
      input,
      status: 'Pending',
      createdTime: now,
      lastUpdatedTime: now,
      customStatus: null,
      output: null,
      history: [],
      inbox: [],
      actions: [],
      nextEventId: 0,
      retryByTask: new Map(),
      retryByTimer: new Map(),
      timers: new Map(),
      ...(parent ? { parent } : {}),
      pumping: false,
      episodes: 0,
    };
    instance.inbox.push(this.executionStarted(instance, now));
    this.instances.set(id, instance);
    this.pump(instance);
    return instance;
  }

  raiseEvent(instanceId: string, eventName: string, data: unknown): 'accepted' | 'gone' | 'notFound' {
    const instance = this.instances.get(instanceId);
    if (!instance) return 'notFound';
    if (TERMINAL.has(instance.status)) return 'gone';
    this.deliver(
      instance,
      event(EventType.EventRaised, this.options.clock.now(), { Name: eventName, Input: toJsonText(data) }),
    );
    return 'accepted';
  }

  terminate(instanceId: string, reason: string): 'accepted' | 'gone' | 'notFound' {
    const instance = this.instances.get(instanceId);
    if (!instance) return 'notFound';
    if (TERMINAL.has(instance.status)) return 'gone';
    const now = this.options.clock.now();
    instance.history.push({
      ...event(EventType.ExecutionTerminated, now, { Input: toJsonText(reason) }),
      IsPlayed: true,
    });
    instance.inbox = [];
    this.cancelTimers(instance);
    this.finish(instance, 'Terminated', reason, now);
    this.options.log(
      'information',
      `${instance.instanceId}: Function '${instance.name} (Orchestrator)' was terminated. Reason: ${reason}`,
    );
    return 'accepted';
  }

  suspend(instanceId: string, reason: string): 'accepted' | 'gone' | 'notFound' {
    const instance = this.instances.get(instanceId);
    if (!instance) return 'notFound';
    if (TERMINAL.has(instance.status)) return 'gone';
    if (instance.status !== 'Suspended') {
      instance.history.push({
        ...event(EventType.ExecutionSuspended, this.options.clock.now(), { Reason: reason }),
        IsPlayed: true,
      });
      instance.status = 'Suspended';
      instance.lastUpdatedTime = this.options.clock.now();
    }
    return 'accepted';
  }

  resume(instanceId: string, reason: string): 'accepted' | 'gone' | 'notFound' {
    const instance = this.instances.get(instanceId);
    if (!instance) return 'notFound';
    if (TERMINAL.has(instance.status)) return 'gone';
    if (instance.status === 'Suspended') {
      instance.history.push({
        ...event(EventType.ExecutionResumed, this.options.clock.now(), { Reason: reason }),
        IsPlayed: true,
      });
      instance.status = instance.episodes > 0 ? 'Running' : 'Pending';
      instance.lastUpdatedTime = this.options.clock.now();
      this.pump(instance);
    }
    return 'accepted';
  }

  purge(instanceId: string): number {
    const instance = this.instances.get(instanceId);
    if (!instance || !TERMINAL.has(instance.status)) return 0;
    this.instances.delete(instanceId);
    return 1;
  }

  purgeBy(filter: StatusFilter): number {
    let deleted = 0;
    for (const instance of this.select({ ...filter })) {
      if (
        TERMINAL.has(instance.status) &&
        (!filter.runtimeStatus || filter.runtimeStatus.includes(instance.status))
      ) {
        deleted += this.purge(instance.instanceId);
      }
    }
    return deleted;
  }

  getStatus(instanceId: string, options: StatusOptions = {}): Record<string, unknown> | undefined {
    const instance = this.instances.get(instanceId);
    return instance ? this.toStatus(instance, options) : undefined;
  }

  listStatus(filter: StatusFilter, options: StatusOptions = {}): Array<Record<string, unknown>> {
    return this.select(filter).map((i) => this.toStatus(i, options));
  }

  /** Resolves when no episode or activity is running or queued (used by the virtual clock and tests). */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get stats(): { instances: number; episodes: number } {
    let episodes = 0;
    for (const i of this.instances.values()) episodes += i.episodes;
    return { instances: this.instances.size, episodes };
  }

  // ---------------------------------------------------------------- internals

  private orchestrator(name: string): RegisteredFunction {
    const fn = this.options.registry.find(name);
    if (!fn || Registry.trigger(fn).binding.type !== 'orchestrationTrigger') {
      throw new UnknownFunctionError(
        `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
    }
    return fn;
  }

  private activity(name: string): RegisteredFunction | undefined {
    const fn = this.options.registry.find(name);
    return fn && Registry.trigger(fn).binding.type === 'activityTrigger' ? fn : undefined;
  }

  private executionStarted(instance: Instance, now: number): HistoryEvent {
    return event(EventType.ExecutionStarted, now, {
      OrchestrationInstance: { InstanceId: instance.instanceId, ExecutionId: instance.executionId },
      ParentInstance: instance.parent
        ? {
            OrchestrationInstance: { InstanceId: instance.parent.instanceId },
            TaskScheduleId: instance.parent.taskScheduledId,
          }
        : null,
      Name: instance.name,
      Version: '',
      Input: toJsonText(instance.input),
      Tags: null,
    });
  }

  private select(filter: StatusFilter): Instance[] {
    return [...this.instances.values()].filter(
      (i) =>
        (filter.createdTimeFrom === undefined || i.createdTime >= filter.createdTimeFrom) &&
        (filter.createdTimeTo === undefined || i.createdTime <= filter.createdTimeTo) &&
        (!filter.runtimeStatus || filter.runtimeStatus.includes(i.status)) &&
        (!filter.instanceIdPrefix || i.instanceId.startsWith(filter.instanceIdPrefix)),
    );
  }

  private toStatus(instance: Instance, options: StatusOptions): Record<string, unknown> {
    const status: Record<string, unknown> = {
      name: instance.name,
      instanceId: instance.instanceId,
      runtimeStatus: instance.status,
      input: options.showInput === false ? null : (instance.input ?? null),
      customStatus: instance.customStatus ?? null,
      output: instance.output ?? null,
      createdTime: statusTime(instance.createdTime),
      lastUpdatedTime: statusTime(instance.lastUpdatedTime),
    };
    if (options.showHistory)
      status.historyEvents = toStatusHistory(instance.history, options.showHistoryOutput === true);
    return status;
  }

  private deliver(instance: Instance, e: HistoryEvent): void {
    if (TERMINAL.has(instance.status)) return;
    instance.inbox.push(e);
    this.pump(instance);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight++;
    const done = (): void => {
      this.inFlight--;
      if (this.inFlight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    };
    work.then(done, done);
    return work;
  }

  /** Runs queued episodes of one instance, one at a time, in arrival order. */
  private pump(instance: Instance): void {
    if (instance.pumping) return;
    instance.pumping = true;
    void this.track(
      (async () => {
        // Yield first so a caller that just started the instance gets its 202 before the first episode.
        await Promise.resolve();
        try {
          while (
            instance.inbox.length > 0 &&
            !TERMINAL.has(instance.status) &&
            instance.status !== 'Suspended'
          ) {
            const next = instance.inbox.shift()!;
            await this.runEpisode(instance, next);
          }
        } finally {
          instance.pumping = false;
        }
      })(),
    );
  }

  private async runEpisode(instance: Instance, delivered: HistoryEvent): Promise<void> {
    const { clock, log } = this.options;
    const now = clock.now();
    const newEvents: HistoryEvent[] = [event(EventType.OrchestratorStarted, now), delivered];
    const toDispatch: Array<() => void> = [];
    instance.episodes++;
    if (instance.status === 'Pending') instance.status = 'Running';

    // 1. Retry bookkeeping for the delivered event (ids before the orchestrator's new actions).
    this.allocateRetry(instance, delivered, now, newEvents, toDispatch);

    // 2. Replay: the orchestrator sees all played history plus this episode's events.
    const fn = this.orchestrator(instance.name);
    const trigger = Registry.trigger(fn);
    const bindingInfo = {
      history: [...instance.history, ...newEvents],
      input: instance.input,
      instanceId: instance.instanceId,
      isReplaying: instance.history.length > 0,
      parentInstanceId: instance.parent?.instanceId ?? null,
      upperSchemaVersion: 1,
      upperSchemaVersionNew: 2, // V3: no entities/lock() locally, so lock() fails fast with a clear message
      longRunningTimerIntervalDuration: '3.00:00:00',
      maximumShortTimerDuration: '6.00:00:00',
      defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
    };
    let state: OrchestratorState;
    try {
      const result = await this.options.invoker.invoke(fn, {
        inputData: [{ name: trigger.name, data: { string: JSON.stringify(bindingInfo) } }],
        reason: `(null)`,
      });
      state = fromTypedData(result.response.returnValue) as OrchestratorState;
    } catch (error) {
      const extracted = extractFailureState(error);
      if (!extracted) {
        this.fail(instance, newEvents, now, error instanceof Error ? error.message : String(error));
        return;
      }
      state = extracted;
    }
    if (state.customStatus !== undefined) instance.customStatus = state.customStatus;

    // 3. New actions get ids in depth-first order; old ones must match what history recorded.
    const actions = flattenActions(state);
    let continueAsNew: Action | undefined;
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i]!;
      const kind = actionKind(action);
      const recorded = instance.actions[i];
      if (recorded) {
        if (recorded.kind !== kind) {
          this.fail(
            instance,
            newEvents,
            now,
            `Non-Deterministic workflow detected: on replay the orchestrator scheduled ${kind} at position ${i}, ` +
              `but its history records ${recorded.kind}. Orchestrator code must be deterministic ` +
              `(use context.df.currentUtcDateTime, not Date.now(); no random or I/O in the orchestrator).`,
          );
          return;
        }
        if (action.actionType === ActionType.CreateTimer && action.isCanceled && recorded.id !== undefined) {
          instance.timers.get(recorded.id)?.();
          instance.timers.delete(recorded.id);
        }
        continue;
      }
      const id = this.schedule(instance, action, now, newEvents, toDispatch);
      if (id === 'unsupported') {
        this.fail(
          instance,
          newEvents,
          now,
          `The local Functions host does not support ${ActionType[action.actionType]} actions.`,
        );
        return;
      }
      if (action.actionType === ActionType.ContinueAsNew) continueAsNew = action;
      instance.actions.push({ kind, id });
    }

    newEvents.push(event(EventType.OrchestratorCompleted, now));
    instance.lastUpdatedTime = now;

    if (state.error !== undefined && !state.isDone) {
      this.fail(instance, newEvents.slice(0, -1), now, state.error);
      return;
    }
    if (state.error !== undefined) {
      this.fail(instance, newEvents.slice(0, -1), now, state.error);
      return;
    }
    this.commit(instance, newEvents);

    if (state.isDone && continueAsNew) {
      this.continueAsNew(instance, decodeActionInput(continueAsNew.input), now);
      return;
    }
    if (state.isDone) {
      instance.history.push({
        ...event(EventType.ExecutionCompleted, now, {
          OrchestrationStatus: 0,
          Result: toJsonText(state.output),
        }),
        IsPlayed: true,
      });
      this.cancelTimers(instance);
      this.finish(instance, 'Completed', state.output ?? null, now);
      log(
        'debug',
        `${instance.instanceId}: orchestration '${instance.name}' completed after ${instance.episodes} episodes`,
      );
      return;
    }
    for (const dispatch of toDispatch) dispatch();
  }

  /** Allocates the ids DurableTask.Core's RetryInterceptor would for the delivered event. */
  private allocateRetry(
    instance: Instance,
    delivered: HistoryEvent,
    now: number,
    newEvents: HistoryEvent[],
    toDispatch: Array<() => void>,
  ): void {
    if (
      delivered.EventType === EventType.TaskFailed ||
      delivered.EventType === EventType.SubOrchestrationInstanceFailed
    ) {
      const retry = instance.retryByTask.get(delivered.TaskScheduledId as number);
      if (!retry) return;
      retry.failures++;
      const exhausted = retry.failures >= retry.options.maxNumberOfAttempts;
      // After the last attempt DTFx still writes a timer ("dummy timer for back-compat", due now);
      // the JS RetryableTask surfaces the error when it fires.
      const delay = exhausted ? 0 : retryDelay(retry.options, retry.failures);
      const timerId = instance.nextEventId++;
      const fireAt = now + delay;
      newEvents.push(event(EventType.TimerCreated, now, { FireAt: new Date(fireAt).toISOString() }, timerId));
      instance.retryByTimer.set(timerId, retry);
      toDispatch.push(() => this.armTimer(instance, timerId, fireAt));
      return;
    }
    if (delivered.EventType === EventType.TimerFired) {
      const retry = instance.retryByTimer.get(delivered.TimerId as number);
      if (!retry || retry.failures >= retry.options.maxNumberOfAttempts) return;
      const id = instance.nextEventId++;
      instance.retryByTask.set(id, retry);
      this.scheduleWork(instance, retry.action, id, now, newEvents, toDispatch);
    }
  }

  /** Records a new action in history and queues its work; returns its event id. */
  private schedule(
    instance: Instance,
    action: Action,
    now: number,
    newEvents: HistoryEvent[],
    toDispatch: Array<() => void>,
  ): number | undefined | 'unsupported' {
    switch (action.actionType) {
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry:
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const id = instance.nextEventId++;
        if (action.retryOptions)
          instance.retryByTask.set(id, { options: action.retryOptions, action, failures: 0 });
        this.scheduleWork(instance, action, id, now, newEvents, toDispatch);
        return id;
      }
      case ActionType.CreateTimer: {
        const id = instance.nextEventId++;
        const fireAt = Date.parse(action.fireAt ?? '') || now;
        newEvents.push(event(EventType.TimerCreated, now, { FireAt: new Date(fireAt).toISOString() }, id));
        if (!action.isCanceled) toDispatch.push(() => this.armTimer(instance, id, fireAt));
        return id;
      }
      case ActionType.WaitForExternalEvent:
      case ActionType.ContinueAsNew:
        return undefined; // keyed by name / no id, as in the extension
      default:
        return 'unsupported';
    }
  }

  private scheduleWork(
    instance: Instance,
    action: Action,
    id: number,
    now: number,
    newEvents: HistoryEvent[],
    toDispatch: Array<() => void>,
  ): void {
    const name = action.functionName ?? '';
    const isSub =
      action.actionType === ActionType.CallSubOrchestrator ||
      action.actionType === ActionType.CallSubOrchestratorWithRetry;
    if (!isSub) {
      newEvents.push(
        event(
          EventType.TaskScheduled,
          now,
          { Name: name, Version: '', Input: toJsonText(decodeActionInput(action.input)) },
          id,
        ),
      );
      toDispatch.push(() => this.runActivity(instance, name, decodeActionInput(action.input), id));
      return;
    }
    const childId = action.instanceId || `${instance.executionId}:${id}`;
    newEvents.push(
      event(
        EventType.SubOrchestrationInstanceCreated,
        now,
        { Name: name, Version: '', InstanceId: childId, Input: toJsonText(action.input) },
        id,
      ),
    );
    toDispatch.push(() => {
      try {
        this.startNew(name, action.input ?? null, childId, {
          instanceId: instance.instanceId,
          taskScheduledId: id,
        });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.deliver(
          instance,
          failedEvent(
            EventType.SubOrchestrationInstanceFailed,
            this.options.clock.now(),
            id,
            `Sub-orchestration '${name}' could not start: ${message}`,
            message,
          ),
        );
      }
    });
  }

  private armTimer(instance: Instance, timerId: number, fireAt: number): void {
    const cancel = this.options.clock.schedule(
      fireAt,
      () => {
        instance.timers.delete(timerId);
        this.deliver(
          instance,
          event(EventType.TimerFired, this.options.clock.now(), {
            TimerId: timerId,
            FireAt: new Date(fireAt).toISOString(),
          }),
        );
      },
      `durable timer ${instance.instanceId}#${timerId}`,
    );
    instance.timers.set(timerId, cancel);
  }

  private runActivity(instance: Instance, name: string, input: unknown, taskId: number): void {
    const executionId = instance.executionId;
    void this.track(
      (async () => {
        const fn = this.activity(name);
        let outcome: HistoryEvent;
        if (!fn) {
          const message = `The function '${name}' doesn't exist, is disabled, or is not an activity function.`;
          outcome = failedEvent(EventType.TaskFailed, this.options.clock.now(), taskId, message, message);
        } else {
          await this.acquireActivitySlot();
          try {
            outcome = await this.invokeActivity(fn, input, taskId);
            if (this.options.duplicateActivities) {
              this.options.log(
                'information',
                `[chaos] running activity '${name}' again (at-least-once delivery)`,
              );
              outcome = await this.invokeActivity(fn, input, taskId);
            }
          } finally {
            this.releaseActivitySlot();
          }
        }
        // A result for an execution that has since continued-as-new or been restarted is dropped.
        if (instance.executionId === executionId && this.instances.get(instance.instanceId) === instance)
          this.deliver(instance, outcome);
      })(),
    );
  }

  private async invokeActivity(
    fn: RegisteredFunction,
    input: unknown,
    taskId: number,
  ): Promise<HistoryEvent> {
    const trigger = Registry.trigger(fn);
    try {
      const result = await this.options.invoker.invoke(fn, {
        inputData: [{ name: trigger.name, data: jsonData(input) }],
        reason: '(null)',
      });
      const value = result.response.returnValue;
      // A string return stays a string (the extension stores it as a JSON string, it is not re-parsed).
      const output = typeof value?.string === 'string' ? value.string : fromTypedData(value);
      return event(EventType.TaskCompleted, this.options.clock.now(), {
        TaskScheduledId: taskId,
        Result: toJsonText(output),
      });
    } catch (error) {
      const cause = error instanceof FunctionInvocationError ? error.cause : error;
      const message = cause instanceof Error ? cause.message : String(cause);
      const details = JSON.stringify({
        Message: message,
        StackTrace: cause instanceof Error ? (cause.stack ?? null) : null,
      });
      return failedEvent(
        EventType.TaskFailed,
        this.options.clock.now(),
        taskId,
        `Activity function '${fn.metadata.name}' failed: ${message}`,
        details,
      );
    }
  }

  private acquireActivitySlot(): Promise<void> {
    if (this.activitySlots > 0) {
      this.activitySlots--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.activityQueue.push(resolve));
  }

  private releaseActivitySlot(): void {
    const next = this.activityQueue.shift();
    if (next) next();
    else this.activitySlots++;
  }

  private commit(instance: Instance, newEvents: HistoryEvent[]): void {
    for (const e of newEvents) instance.history.push({ ...e, IsPlayed: true });
  }

  private fail(instance: Instance, newEvents: HistoryEvent[], now: number, message: string): void {
    this.commit(instance, newEvents);
    const output = `Orchestrator function '${instance.name}' failed: ${message}`;
    instance.history.push({
      ...event(EventType.ExecutionCompleted, now, { OrchestrationStatus: 3, Result: toJsonText(output) }),
      IsPlayed: true,
    });
    this.cancelTimers(instance);
    this.options.log('error', `${instance.instanceId}: ${output}`);
    this.finish(instance, 'Failed', output, now);
  }

  private finish(instance: Instance, status: RuntimeStatus, output: unknown, now: number): void {
    instance.status = status;
    instance.output = output;
    instance.lastUpdatedTime = now;
    instance.inbox = [];
    const parentRef = instance.parent;
    const parent = parentRef ? this.instances.get(parentRef.instanceId) : undefined;
    // DTFx does not notify a parent when a child is terminated: the parent keeps waiting, as in Azure.
    if (!parentRef || !parent || status === 'Terminated') return;
    if (status === 'Completed') {
      this.deliver(
        parent,
        event(EventType.SubOrchestrationInstanceCompleted, now, {
          TaskScheduledId: parentRef.taskScheduledId,
          Result: toJsonText(output),
        }),
      );
    } else {
      const message = typeof output === 'string' ? output : JSON.stringify(output);
      this.deliver(
        parent,
        failedEvent(
          EventType.SubOrchestrationInstanceFailed,
          now,
          parentRef.taskScheduledId,
          message,
          message,
        ),
      );
    }
  }

  private continueAsNew(instance: Instance, input: unknown, now: number): void {
    this.cancelTimers(instance);
    instance.status = 'ContinuedAsNew';
    instance.input = input;
    instance.executionId = randomBytes(16).toString('hex');
    instance.history = [];
    instance.actions = [];
    instance.nextEventId = 0;
    instance.retryByTask.clear();
    instance.retryByTimer.clear();
    instance.inbox = [this.executionStarted(instance, now)];
    instance.lastUpdatedTime = now;
    this.options.log('information', `${instance.instanceId}: '${instance.name}' continued as new`);
    instance.status = 'Running';
    // The pump loop picks up the new ExecutionStarted.
  }

  private cancelTimers(instance: Instance): void {
    for (const cancel of instance.timers.values()) cancel();
    instance.timers.clear();
  }
}

function actionKind(action: Action): string {
  const target = action.functionName ?? action.externalEventName ?? '';
  return `${ActionType[action.actionType]}${target ? `(${target})` : ''}`;
}

function retryDelay(options: RetryOptionsWire, failures: number): number {
  const base =
    options.firstRetryIntervalInMilliseconds * Math.pow(options.backoffCoefficient ?? 1, failures - 1);
  return options.maxRetryIntervalInMilliseconds && options.maxRetryIntervalInMilliseconds > 0
    ? Math.min(base, options.maxRetryIntervalInMilliseconds)
    : base;
}

function failedEvent(
  type: EventType,
  at: number,
  taskId: number,
  reason: string,
  details: string,
): HistoryEvent {
  return event(type, at, { TaskScheduledId: taskId, Reason: reason, Details: details, FailureDetails: null });
}

/** An orchestrator failure arrives as a thrown error carrying the state after "$OutOfProcData$:". */
function extractFailureState(error: unknown): OrchestratorState | undefined {
  const cause = error instanceof FunctionInvocationError ? error.cause : error;
  const message = cause instanceof Error ? cause.message : '';
  const marker = '$OutOfProcData$:';
  const at = message.indexOf(marker);
  if (at < 0) return undefined;
  try {
    return JSON.parse(message.slice(at + marker.length)) as OrchestratorState;
  } catch {
    return undefined;
  }
}
