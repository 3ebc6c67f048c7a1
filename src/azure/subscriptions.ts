import type { AzureClients } from './clients';
import { subscriptionSummaryFromSdk, type SubscriptionSummary } from './transformations';

export type { SubscriptionSummary } from './transformations';

/**
 * Subscriptions the app's identity can see (ARM lists only those where it holds a role). Errors are
 * thrown as they come: the callers classify them (errors.ts) — a 403 is a readiness finding for the
 * health check, a fact ("not visible") for the vault search.
 */
export class SubscriptionsGateway {
  constructor(private readonly clients: AzureClients) {}

  async listVisible(): Promise<SubscriptionSummary[]> {
    const out: SubscriptionSummary[] = [];
    for await (const s of this.clients.subscriptions().subscriptions.list()) {
      const summary = subscriptionSummaryFromSdk(s);
      if (summary) out.push(summary);
    }
    return out;
  }
}
