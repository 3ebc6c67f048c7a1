import { cloudMetadataProvider } from './arm/metadata';
import { resourcesProvider } from './arm/resources';
import { EventGridProvider } from './eventgrid';
import type { ResourceProvider } from './core';
import { graphProvider } from './graph/provider';
import { managedIdentityProvider } from './identity/userAssigned';
import { KeyVaultProvider } from './keyvault';
import { MonitorProvider } from './monitor';
import { authorizationProvider } from './rbac/provider';
import { ServiceBusProvider } from './servicebus';

/**
 * The resource providers every sandbox runs. A new provider (Key Vault, Service Bus, Monitor, Event
 * Grid) is one module exporting a `ResourceProvider`, added to this list — that is the only line of
 * the core it touches.
 */
export function defaultProviders(): ResourceProvider[] {
  return [
    resourcesProvider,
    authorizationProvider,
    managedIdentityProvider,
    new KeyVaultProvider(),
    new ServiceBusProvider(),
    new MonitorProvider(),
    // After Key Vault: it subscribes to the Key Vault provider's events.
    new EventGridProvider(),
    cloudMetadataProvider,
    graphProvider,
  ];
}
