/**
 * Provides the built-in `@azure/functions-core` module the way the Azure Functions Node worker does
 * (a hook on `require`), so the compiled app registers its functions exactly as in Azure: every
 * `app.http/timer/eventGrid/generic` and `df.app.*` call arrives here as metadata + handler.
 */
import Module from 'node:module';

export interface BindingInfo {
  type: string;
  direction?: 'in' | 'out' | 'inout';
  name?: string;
  [option: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  bindings: Record<string, BindingInfo>;
  retryOptions?: unknown;
}

export type FunctionCallback = (...args: unknown[]) => unknown;
export type HookCallback = (context: Record<string, unknown>) => unknown;

export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreCtx: unknown): InvocationModel;
}

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], handler: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

export interface RpcTypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  http?: RpcHttpData | null;
  int?: number | null;
  double?: number | null;
}

export interface RpcHttpData {
  method?: string | null;
  url?: string | null;
  headers?: Record<string, string> | null;
  body?: RpcTypedData | null;
  params?: Record<string, string> | null;
  statusCode?: string | null;
  query?: Record<string, string> | null;
}

export interface RpcInvocationResponse {
  invocationId?: string | null;
  outputData?: Array<{ name?: string | null; data?: RpcTypedData | null }> | null;
  returnValue?: RpcTypedData | null;
}

export interface RegisteredFunction {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

export type LogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';

/** Everything the app registered while it loaded. */
export class Registry {
  readonly functions = new Map<string, RegisteredFunction>();
  readonly hooks = new Map<string, HookCallback[]>();
  programmingModel: ProgrammingModel | undefined;

  constructor(private readonly systemLog: (level: LogLevel, message: string) => void) {}

  /** The object `require('@azure/functions-core')` returns inside the app. */
  coreApi(): Record<string, unknown> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the core API is a plain object, as the worker's
    const registry = this;
    class Disposable {
      constructor(private readonly dispose_: () => void) {}
      dispose(): void {
        this.dispose_();
      }
    }
    return {
      version: '4.0.0-local',
      hostVersion: '4.1000.0-local',
      Disposable,
      registerFunction(metadata: FunctionMetadata, callback: FunctionCallback) {
        const key = metadata.name.toLowerCase();
        if (registry.functions.has(key)) {
          throw new Error(`A function with the name "${metadata.name}" has already been registered.`);
        }
        registry.functions.set(key, { metadata, callback });
        return new Disposable(() => registry.functions.delete(key));
      },
      registerHook(hookName: string, callback: HookCallback) {
        if (!['preInvocation', 'postInvocation', 'appStart', 'appTerminate'].includes(hookName)) {
          // The worker throws a RangeError for hooks it does not know (the library relies on it for `log`).
          const error = new RangeError(`Unrecognized hook "${hookName}"`);
          (error as unknown as Record<string, unknown>).isAzureFunctionsSystemError = true;
          throw error;
        }
        const list = registry.hooks.get(hookName) ?? [];
        list.push(callback);
        registry.hooks.set(hookName, list);
        return new Disposable(() => list.splice(list.indexOf(callback), 1));
      },
      setProgrammingModel(model: ProgrammingModel) {
        registry.programmingModel = model;
      },
      getProgrammingModel() {
        return registry.programmingModel;
      },
      log(level: LogLevel, _category: string, message: string) {
        registry.systemLog(level, message);
      },
    };
  }

  find(name: string): RegisteredFunction | undefined {
    return this.functions.get(name.toLowerCase());
  }

  /** The trigger binding of a function (exactly one per function). */
  static trigger(fn: RegisteredFunction): { name: string; binding: BindingInfo } {
    for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
      if (binding.direction !== 'out' && binding.type.toLowerCase().endsWith('trigger'))
        return { name, binding };
    }
    throw new Error(`Function ${fn.metadata.name} has no trigger binding`);
  }
}

let installed: Registry | undefined;

/**
 * Installs the `@azure/functions-core` provider. Call once, before the app (or anything that loads
 * `@azure/functions`) is required; the library caches the module on first use.
 */
export function installCoreModule(registry: Registry): void {
  if (installed) throw new Error('@azure/functions-core is already provided in this process');
  installed = registry;
  const core = registry.coreApi();
  type Require = (this: NodeJS.Module, id: string) => unknown;
  const proto = (Module as unknown as { prototype: { require: Require } }).prototype;
  const original = proto.require;
  proto.require = function (this: NodeJS.Module, id: string): unknown {
    return id === '@azure/functions-core' ? core : original.call(this, id);
  };
}
