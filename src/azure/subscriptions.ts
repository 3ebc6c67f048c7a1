import type { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import type { AzureClients } from './clients';

export interface SubscriptionSummary {
  subscriptionId: string;
  displayName: string;
  state: string;
}

/** Subscriptions the app's identity can see (ARM lists only those where it holds a role). */
export class SubscriptionsGateway {
  private readonly client: SubscriptionClient;

  constructor(clients: AzureClients) {
    // Through the clients module, which loads the SDK on first use (docs/ARCHITECTURE.md "Cold start").
    this.client = clients.subscriptions();
  }

  async listVisible(): Promise<SubscriptionSummary[]> {
    const out: SubscriptionSummary[] = [];
    for await (const s of this.client.subscriptions.list()) {
      if (!s.subscriptionId) continue;
      out.push({
        subscriptionId: s.subscriptionId,
        displayName: s.displayName ?? '',
        state: s.state ?? 'Unknown',
      });
    }
    return out;
  }
}
