import { app, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { getConfig } from '../config';
import { azureClients } from '../azure/runtime';
import { SubscriptionsGateway } from '../azure/subscriptions';
import { describeAzureError } from '../azure/errors';
import { problem } from './problem';

/**
 * Readiness against Azure: can the app get a token with its identity, reach Resource Manager, and see
 * the subscriptions it is configured to sweep? One ARM read; nothing is written.
 */
export async function azureHealthHandler(
  _request: unknown,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const config = getConfig();
  let visible;
  try {
    visible = await new SubscriptionsGateway(azureClients()).listVisible();
  } catch (error) {
    const described = describeAzureError(error);
    context.warn(`Azure readiness check failed: ${described.detail}`);
    return problem({
      status: 503,
      title: 'Azure is not reachable with the app identity',
      detail: described.detail,
      code: described.code,
    });
  }
  const configured = config.sweep.subscriptions;
  const visibleIds = new Set(visible.map((s) => s.subscriptionId.toLowerCase()));
  const missing = configured === '*' ? [] : configured.filter((id) => !visibleIds.has(id.toLowerCase()));
  const findings = [
    ...(visible.length === 0
      ? [
          'The app identity sees no subscription: it holds no role anywhere yet (grant it Reader on the subscriptions to sweep).',
        ]
      : []),
    ...missing.map(
      (id) => `SWEEP_SUBSCRIPTIONS lists ${id}, which the app identity cannot see (grant it Reader there).`,
    ),
  ];
  return {
    status: 200,
    jsonBody: {
      status: findings.length === 0 ? 'ok' : 'degraded',
      resourceManager: config.endpoints.resourceManager,
      subscriptions: visible,
      findings,
    },
  };
}

app.http('azureHealth', {
  route: 'health/azure',
  methods: ['GET'],
  authLevel: 'function',
  handler: azureHealthHandler,
});
