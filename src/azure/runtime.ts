import { getConfig } from '../config';
import { pacingPolicy, sharedPacer } from './armPacing';
import { AzureClients } from './clients';

let clients: AzureClients | undefined;

/**
 * The app's Azure clients, built once per process on first use (not at load: a function that never
 * talks to Azure — health, bad input — never builds a credential). Every client paces its calls
 * against ARM's budgets and counts them (armPacing.ts).
 */
export function azureClients(): AzureClients {
  const config = getConfig();
  clients ??= new AzureClients(config, undefined, [pacingPolicy(sharedPacer(), config.endpoints)]);
  return clients;
}
