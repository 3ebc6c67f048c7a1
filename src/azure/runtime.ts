import { getConfig } from '../config';
import { AzureClients } from './clients';

let clients: AzureClients | undefined;

/**
 * The app's Azure clients, built once per process on first use (not at load: a function that never
 * talks to Azure — health, bad input — never builds a credential).
 */
export function azureClients(): AzureClients {
  clients ??= new AzureClients(getConfig());
  return clients;
}
