/**
 * Invokes registered functions the way the Node worker does: a core invocation context goes through
 * the app's own `ProgrammingModel` (`getArguments → invokeFunction → getResponse`), so the library's
 * converters build `HttpRequest`, `Timer`, `extraInputs`, and turn the return value into RPC data.
 * Hooks (`app.hook.preInvocation/postInvocation`) run around each call, as in the worker.
 */
import { randomUUID } from 'node:crypto';
import { Registry, type RegisteredFunction, type RpcInvocationResponse, type RpcTypedData } from './coreShim';
import type { HostLogger, HostLogLevel } from './log';

export interface InvocationInput {
  /** Binding name → RPC typed data (trigger and extra inputs such as the durable client). */
  inputData: Array<{ name: string; data: RpcTypedData }>;
  triggerMetadata?: Record<string, RpcTypedData>;
  /** Why the host called the function (shown in the "Executing" log line). */
  reason: string;
  invocationId?: string;
}

export interface InvocationResult {
  invocationId: string;
  response: RpcInvocationResponse;
  durationMs: number;
}

export class FunctionInvocationError extends Error {
  constructor(
    readonly functionName: string,
    readonly invocationId: string,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'FunctionInvocationError';
  }
}

const USER_LEVEL: Record<string, HostLogLevel> = {
  trace: 'trace',
  debug: 'debug',
  information: 'information',
  warning: 'warning',
  error: 'error',
  critical: 'critical',
  none: 'none',
};

export class Invoker {
  private readonly hookData: Record<string, unknown> = {};

  constructor(
    private readonly registry: Registry,
    private readonly log: HostLogger,
    private readonly elapsed: () => number = () => performance.now(),
  ) {}

  async invoke(fn: RegisteredFunction, input: InvocationInput): Promise<InvocationResult> {
    const model = this.registry.programmingModel;
    if (!model) throw new Error('The app did not set a programming model (is @azure/functions loaded?)');
    const invocationId = input.invocationId ?? randomUUID();
    const name = fn.metadata.name;
    const started = this.elapsed();
    this.log('information', `Executing 'Functions.${name}' (Reason='${input.reason}', Id=${invocationId})`);

    const coreCtx = {
      invocationId,
      metadata: fn.metadata,
      request: {
        invocationId,
        functionId: name,
        inputData: input.inputData,
        triggerMetadata: input.triggerMetadata ?? {},
      },
      state: undefined as string | undefined,
      log: (level: string, category: string, message: string) => {
        const hostLevel = USER_LEVEL[level] ?? 'information';
        this.log(hostLevel, category === 'system' ? `[worker] ${message}` : `[${name}] ${message}`);
      },
    };

    let result: unknown;
    let error: unknown;
    let response: RpcInvocationResponse | undefined;
    try {
      const invocationModel = model.getInvocationModel(coreCtx);
      const { context, inputs } = await invocationModel.getArguments();
      const hookData: Record<string, unknown> = {};
      let callback = fn.callback;
      let args = inputs;
      coreCtx.state = 'preInvocationHooks';
      for (const hook of this.registry.hooks.get('preInvocation') ?? []) {
        const hookCtx = {
          hookData,
          appHookData: this.hookData,
          invocationContext: context,
          functionCallback: callback,
          inputs: args,
        };
        await hook(hookCtx);
        callback = hookCtx.functionCallback;
        args = hookCtx.inputs;
      }
      coreCtx.state = 'invocation';
      try {
        result = await invocationModel.invokeFunction(context, args, callback);
      } catch (e) {
        error = e;
      }
      coreCtx.state = 'postInvocationHooks';
      for (const hook of this.registry.hooks.get('postInvocation') ?? []) {
        const hookCtx = {
          hookData,
          appHookData: this.hookData,
          invocationContext: context,
          inputs: args,
          result,
          error,
        };
        await hook(hookCtx);
        result = hookCtx.result;
        error = hookCtx.error;
      }
      coreCtx.state = undefined;
      if (error === undefined) response = await invocationModel.getResponse(context, result);
    } catch (e) {
      error = e;
    }
    const durationMs = Math.round(this.elapsed() - started);
    if (error !== undefined || !response) {
      const message = error instanceof Error ? error.message : String(error);
      this.log(
        'error',
        `Executed 'Functions.${name}' (Failed, Id=${invocationId}, Duration=${durationMs}ms)\n  ${firstLines(message)}`,
      );
      throw new FunctionInvocationError(name, invocationId, error);
    }
    this.log(
      'information',
      `Executed 'Functions.${name}' (Succeeded, Id=${invocationId}, Duration=${durationMs}ms)`,
    );
    return { invocationId, response, durationMs };
  }

  /** Runs the app's `appStart` hooks once, before the host serves anything. */
  async appStart(functionAppDirectory: string): Promise<void> {
    for (const hook of this.registry.hooks.get('appStart') ?? []) {
      await hook({ hookData: {}, appHookData: this.hookData, functionAppDirectory });
    }
  }

  async appTerminate(): Promise<void> {
    for (const hook of this.registry.hooks.get('appTerminate') ?? []) {
      await hook({ hookData: {}, appHookData: this.hookData });
    }
  }
}

function firstLines(message: string): string {
  const lines = message.split('\n');
  return lines.length > 6 ? `${lines.slice(0, 6).join('\n  ')}\n  …` : lines.join('\n  ');
}

/** Decodes RPC typed data the way the worker's converters do (json → parsed, string → parsed if JSON). */
export function fromTypedData(data: RpcTypedData | null | undefined): unknown {
  if (!data) return undefined;
  if (data.json !== undefined && data.json !== null) return JSON.parse(data.json);
  if (data.string !== undefined && data.string !== null) {
    try {
      return JSON.parse(data.string);
    } catch {
      return data.string;
    }
  }
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.int !== undefined && data.int !== null) return data.int;
  if (data.double !== undefined && data.double !== null) return data.double;
  return undefined;
}

export function jsonData(value: unknown): RpcTypedData {
  return { json: JSON.stringify(value ?? null) };
}
