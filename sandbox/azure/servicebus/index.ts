/**
 * The Service Bus resource provider of the sandbox: namespaces, queues, topics, Geo-DR aliases and the
 * customer-managed-key behaviour (model.ts, keys.ts) behind the ARM routes (routes.ts). Registered in
 * providers.ts. Options come from the constructor, else from KEY_POLL_MINUTES and
 * DELETED_KEY_CACHE_MINUTES, else the documented defaults (5 and 60 minutes).
 */
import type { ResourceProvider, SandboxCore } from '../core';
import { ALIASES, ENTITIES, NAMESPACES, ServiceBusModel, type ServiceBusOptions } from './model';
import { registerRoutes } from './routes';

const envNumber = (name: string): number | undefined => {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v > 0 ? v : undefined;
};

export class ServiceBusProvider implements ResourceProvider {
  readonly name = 'Microsoft.ServiceBus';
  readonly collections = [NAMESPACES, ENTITIES, ALIASES];
  readonly options: ServiceBusOptions;
  private current?: ServiceBusModel;

  constructor(options: Partial<ServiceBusOptions> = {}) {
    this.options = {
      keyPollMinutes: options.keyPollMinutes ?? envNumber('KEY_POLL_MINUTES') ?? 5,
      deletedKeyCacheMinutes: options.deletedKeyCacheMinutes ?? envNumber('DELETED_KEY_CACHE_MINUTES') ?? 60,
      pairingBaseMs: options.pairingBaseMs ?? 30_000,
      entitiesPerMinute: options.entitiesPerMinute ?? 60,
    };
  }

  get model(): ServiceBusModel {
    if (!this.current) throw new Error('ServiceBusProvider used before register(core)');
    return this.current;
  }

  register(core: SandboxCore): void {
    // The options object is shared, so a test or `npm start` may change poll/cache minutes at run time.
    this.current = new ServiceBusModel(core, this.options);
    registerRoutes(core, this.current);
    // A snapshot store already holds the estate: re-arm the key polls of CMK namespaces.
    this.current.resume();
  }

  reset(): void {
    this.current?.reset();
  }
}

export { ServiceBusModel } from './model';
export type { NamespaceRecord, ServiceBusOptions } from './model';
