import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { getConfig } from '../config';
import { azureClients } from '../azure/runtime';
import { SubscriptionsGateway } from '../azure/subscriptions';
import { classifyError } from '../azure/errors';
import { errorProblem, problem } from './problem';

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
    const c = classifyError(error);
    if (c.class === 'refusal') {
      // Azure answered and said no: a readiness finding with the fix, in the class of Azure's answer.
      context.warn(`Azure readiness check refused: ${c.detail}`);
      const finding =
        c.status === 401 || c.status === 403 || c.status === undefined
          ? `The app identity may not list subscriptions (${c.detail}). ${c.fix ?? 'Grant it Reader on the subscriptions to sweep: az role assignment create --assignee <app-principal-id> --role Reader --scope /subscriptions/<id>'}`
          : `Resource Manager refused the subscription list (${c.detail}).`;
      return problem({
        status: c.status !== undefined && c.status >= 400 && c.status < 500 ? c.status : 403,
        title: 'The app identity is not ready for Azure',
        detail: c.detail,
        code: c.code,
        errorClass: c.class,
        resourceManager: config.endpoints.resourceManager,
        findings: [finding],
      });
    }
    return errorProblem(error, context, { platform: 'Azure is not reachable with the app identity' });
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
