import { randomUUID } from 'node:crypto';
import type { Clock } from '../../clock';
import type { Reply, RequestContext } from '../context';
import { ArmErrors, isSandboxError, SandboxError } from '../errors';

/**
 * ARM asynchronous operations (LROs): a PUT answers 201/200 with `provisioningState` not terminal and an
 * `Azure-AsyncOperation` header; a DELETE/POST answers 202 with `Location` (+ Azure-AsyncOperation).
 * The client polls until the operation is terminal.
 *
 * The status is a function of clock time at poll (`now >= dueAt` → done), not a timer's mutation: in
 * virtual time a test advances the clock and the next poll sees the result, whether or not a callback
 * ran in between. The operation's side effect (`complete`) is applied exactly once, lazily — by the
 * first request after it fell due (every request settles due operations first) or by the clock
 * callback scheduled for `dueAt`, whichever comes first.
 *
 * Operations live in memory: a sandbox restart forgets in-flight LROs (their resources keep the state
 * they had, and `provisioningState` helpers report them as succeeded).
 */
export interface BeginOptions {
  /** The resource (or collection) the operation acts on; used for the URLs' namespace and authorisation. */
  resourceId: string;
  /** Provider namespace, e.g. Microsoft.KeyVault (operation URLs live under it). */
  namespace: string;
  location: string;
  /** How long the operation runs (clock ms); default options.lroDurationMs. */
  durationMs?: number;
  /** The side effect, applied once when due. Throw a SandboxError to make the operation fail with it. */
  complete?: () => void | Promise<void>;
  /** The final result for the Location poll: a body (200) or undefined (204). Evaluated after complete. */
  result?: () => unknown;
}

export interface AsyncOperation {
  id: string;
  resourceId: string;
  namespace: string;
  location: string;
  subscriptionId: string;
  startedAt: number;
  dueAt: number;
  /** Object id of the principal who started it (may always poll it). */
  startedBy?: string;
  /** Set once `complete` ran. */
  settled: boolean;
  error?: SandboxError;
  complete?: () => void | Promise<void>;
  result?: () => unknown;
}

export type OperationStatus = 'InProgress' | 'Succeeded' | 'Failed';

const OPERATION_RETENTION_MS = 24 * 3600_000;

export class AsyncOperations {
  private readonly ops = new Map<string, AsyncOperation>();

  constructor(
    private readonly clock: Clock,
    private readonly defaultDurationMs: () => number,
    private readonly retryAfterSeconds: () => number,
  ) {}

  /** Starts an operation; returns it with the headers the initial response must carry. */
  begin(
    ctx: RequestContext,
    options: BeginOptions,
  ): { operation: AsyncOperation; headers: Record<string, string> } {
    const sub = /\/subscriptions\/([^/]+)/i.exec(options.resourceId)?.[1];
    if (!sub) throw ArmErrors.internal('async operation outside a subscription');
    const now = this.clock.now();
    const op: AsyncOperation = {
      id: randomUUID(),
      resourceId: options.resourceId,
      namespace: options.namespace,
      location: options.location.replace(/\s+/g, '').toLowerCase(),
      subscriptionId: sub,
      startedAt: now,
      dueAt: now + (options.durationMs ?? this.defaultDurationMs()),
      ...(ctx.principal ? { startedBy: ctx.principal.objectId } : {}),
      settled: false,
      ...(options.complete ? { complete: options.complete } : {}),
      ...(options.result ? { result: options.result } : {}),
    };
    this.ops.set(op.id, op);
    // Also settle on the clock, so side effects happen even if nobody polls; an operation due now is
    // settled by the next request instead (no clock churn inside the request that started it).
    if (op.dueAt > now) this.clock.schedule(op.dueAt, () => this.settle(op), `lro ${op.namespace} ${op.id}`);
    return { operation: op, headers: this.headers(ctx, op) };
  }

  get(id: string): AsyncOperation | undefined {
    return this.ops.get(id.toLowerCase());
  }

  /** Applies every operation that fell due (called at the start of every request). */
  async settleDue(): Promise<void> {
    const now = this.clock.now();
    for (const op of this.ops.values()) {
      if (!op.settled && op.dueAt <= now) await this.settle(op);
      // Forget operations a day (clock time) after they finished; nobody polls that late.
      else if (op.settled && now - op.dueAt > OPERATION_RETENTION_MS) this.ops.delete(op.id);
    }
  }

  status(op: AsyncOperation): OperationStatus {
    if (op.dueAt > this.clock.now() || !op.settled) return 'InProgress';
    return op.error ? 'Failed' : 'Succeeded';
  }

  /** Body of the Azure-AsyncOperation poll. */
  statusBody(op: AsyncOperation): Record<string, unknown> {
    const status = this.status(op);
    return {
      id: this.url(op, 'operationStatuses').pathname,
      name: op.id,
      status,
      startTime: new Date(op.startedAt).toISOString(),
      ...(status !== 'InProgress' ? { endTime: new Date(op.dueAt).toISOString() } : {}),
      ...(op.error ? { error: { code: op.error.code, message: op.error.message } } : {}),
    };
  }

  /** Reply for the Location poll: 202 while running, then the result (200/204) or the error. */
  resultReply(ctx: RequestContext, op: AsyncOperation): Reply {
    const status = this.status(op);
    if (status === 'InProgress') return { status: 202, headers: this.headers(ctx, op) };
    if (op.error) throw op.error;
    const body = op.result?.();
    return body === undefined ? { status: 204 } : { status: 200, body };
  }

  reset(): void {
    this.ops.clear();
  }

  private async settle(op: AsyncOperation): Promise<void> {
    if (op.settled || op.dueAt > this.clock.now()) return;
    op.settled = true;
    try {
      await op.complete?.();
    } catch (error) {
      op.error = isSandboxError(error)
        ? error
        : ArmErrors.internal(error instanceof Error ? error.message : String(error));
    }
  }

  private url(op: AsyncOperation, kind: 'operationStatuses' | 'operationResults'): URL {
    return new URL(
      `/subscriptions/${op.subscriptionId}/providers/${op.namespace}/locations/${op.location}/${kind}/${op.id}`,
      'https://placeholder',
    );
  }

  private headers(ctx: RequestContext, op: AsyncOperation): Record<string, string> {
    const base = `${ctx.url.protocol}//${ctx.url.host}`;
    const apiVersion = ctx.query.get('api-version');
    const q = apiVersion ? `?api-version=${encodeURIComponent(apiVersion)}` : '';
    return {
      'Azure-AsyncOperation': `${base}${this.url(op, 'operationStatuses').pathname}${q}`,
      Location: `${base}${this.url(op, 'operationResults').pathname}${q}`,
      'Retry-After': String(this.retryAfterSeconds()),
    };
  }
}
