/**
 * Microsoft.ServiceBus ARM routes: namespaces (CRUD, name check), queues and topics, Geo-DR aliases
 * (disasterRecoveryConfigs). Authorisation is the core's RBAC over each route's action; the rules
 * below are the Service Bus resource provider's (docs/ARCHITECTURE.md "Geo-DR", "Sandbox principles").
 */
import { PUBLISHED_API_VERSIONS } from '../arm/apiVersions';
import type { SandboxCore } from '../core';
import { registerEntities } from './entities';
import { registerGeoDr } from './geoDr';
import type { ServiceBusModel } from './model';
import { registerNamespaces } from './namespaces';
import { createRouting } from './routing';

/**
 * One module per resource: namespaces (with identity and CMK encryption), queues and topics, Geo-DR
 * aliases. Each gets the same `ServiceBusRouting` (routing.ts).
 */
export function registerRoutes(core: SandboxCore, model: ServiceBusModel): void {
  core.apiVersions.register('Microsoft.ServiceBus', PUBLISHED_API_VERSIONS['Microsoft.ServiceBus'] ?? []);
  const routing = createRouting(core, model);
  registerNamespaces(routing);
  registerEntities(routing);
  registerGeoDr(routing);
}
