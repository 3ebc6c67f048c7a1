/**
 * Microsoft.ServiceBus ARM routes: namespaces (CRUD, name check), queues and topics, Geo-DR aliases
 * (disasterRecoveryConfigs). Authorisation is the core's RBAC over each route's action; the rules
 * below are the Service Bus resource provider's (docs/ARCHITECTURE.md "Geo-DR", "Sandbox principles").
 */
import type { SandboxCore } from '../core';
import { registerEntities } from './entities';
import { registerGeoDr } from './geoDr';
import type { ServiceBusModel } from './model';
import { registerNamespaces } from './namespaces';
import { createRouting } from './routing';

/** Published Microsoft.ServiceBus api-versions from 2021 on; 2021-11-01 is what @azure/arm-servicebus 6.1.0 sends. */
export const SERVICEBUS_API_VERSIONS = [
  '2021-01-01-preview',
  '2021-06-01-preview',
  '2021-11-01',
  '2022-01-01-preview',
  '2022-10-01-preview',
  '2023-01-01-preview',
  '2024-01-01',
  '2025-05-01-preview',
  '2026-01-01',
];

/**
 * One module per resource: namespaces (with identity and CMK encryption), queues and topics, Geo-DR
 * aliases. Each gets the same `ServiceBusRouting` (routing.ts).
 */
export function registerRoutes(core: SandboxCore, model: ServiceBusModel): void {
  core.apiVersions.register('Microsoft.ServiceBus', SERVICEBUS_API_VERSIONS);
  const routing = createRouting(core, model);
  registerNamespaces(routing);
  registerEntities(routing);
  registerGeoDr(routing);
}
