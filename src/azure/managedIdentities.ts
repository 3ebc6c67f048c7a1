import type { AzureClients } from './clients';
import { refusalOrThrow } from './results';
import { userAssignedIdentityFactsFromSdk } from './transformations';
import { parseUserAssignedIdentityId, type UserAssignedIdentityFacts } from '../domain';

/** User-assigned managed identities: does it exist, and what is its principal (object) id. */
export class ManagedIdentityGateway {
  constructor(private readonly clients: AzureClients) {}

  async getUserAssigned(resourceId: string): Promise<UserAssignedIdentityFacts> {
    const id = parseUserAssignedIdentityId(resourceId);
    try {
      const identity = await this.clients
        .managedIdentities(id.subscriptionId)
        .userAssignedIdentities.get(id.resourceGroup, id.name);
      return userAssignedIdentityFactsFromSdk(id.id, identity);
    } catch (error) {
      const refusal = refusalOrThrow(error);
      return { resourceId: id.id, status: refusal.status === 404 ? 'notFound' : 'forbidden' };
    }
  }
}
