/**
 * POST /api/cmk/geo-dr — validate; `dryRun: true` answers the Geo-DR plan and every finding (reads
 * only); otherwise start `enableCmkGeoDr` and answer 202 with the operation to follow.
 */
import { createHash } from 'node:crypto';
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { getConfig } from '../config';
import { describeAzureError } from '../azure/errors';
import { buildGeoDrPlan, parseEnableCmkGeoDrRequest, plainKeyRef, type RuleSettings } from '../domain';
import {
  ENABLE_CMK_GEO_DR_ORCHESTRATION,
  readGeoDrFacts,
  type EnableCmkGeoDrInput,
} from '../orchestrations/enableCmkGeoDrOrchestrator';
import { readJsonBody } from './jsonBody';
import { startSingletonOperation } from './operationStart';
import { problem } from './problem';

/** One Geo-DR operation per primary namespace at a time: the instance id is derived from it. */
export function enableCmkGeoDrInstanceId(primaryNamespaceId: string): string {
  return `enableCmkGeoDr-${createHash('sha256').update(primaryNamespaceId.toLowerCase()).digest('hex').slice(0, 32)}`;
}

export async function enableCmkGeoDrHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const read = await readJsonBody(request);
  if (!read.ok) return read.response;
  const config = getConfig();
  const settings: RuleSettings = {
    keyVaultDnsSuffix: config.endpoints.keyVaultDnsSuffix,
    keyExpiryWarningDays: config.keyExpiryWarningDays,
  };
  const parsed = parseEnableCmkGeoDrRequest(read.body, settings.keyVaultDnsSuffix);
  if (!parsed.ok) {
    return problem({
      status: 400,
      title: 'Invalid request',
      detail: parsed.problems.map((p) => `${p.field}: ${p.message}`).join('; '),
      errors: parsed.problems,
    });
  }
  const req = parsed.value;
  const input: EnableCmkGeoDrInput = {
    primary: req.primary,
    secondary: req.secondary,
    alias: req.alias,
    keys: req.keys.map(plainKeyRef),
    identity: req.identity,
    requireInfrastructureEncryption: req.requireInfrastructureEncryption,
    settings,
  };

  if (req.dryRun) {
    try {
      const facts = await readGeoDrFacts(input);
      if (!facts.ok) {
        const status = facts.status === 404 ? 404 : facts.status === 403 || facts.status === 401 ? 403 : 502;
        return problem({
          status,
          title:
            status === 404
              ? 'Namespace not found'
              : status === 403
                ? "The app's identity may not read the namespace"
                : 'Azure refused the read',
          detail: `${facts.namespaceId}: ${facts.detail}`,
          code: facts.code,
        });
      }
      const plan = buildGeoDrPlan(facts.facts, new Date());
      return {
        status: 200,
        jsonBody: {
          dryRun: true,
          primaryNamespaceId: req.primary.id,
          secondaryNamespaceId: req.secondary.id,
          alias: req.alias,
          outcome: plan.outcome,
          ...(plan.order ? { order: plan.order } : {}),
          pairing: plan.pairing,
          summary: plan.summary,
          findings: plan.findings,
          steps: plan.steps,
        },
      };
    } catch (error) {
      const d = describeAzureError(error);
      context.warn(`Azure call failed: ${d.detail}`);
      return problem({
        status: 503,
        title: 'Azure is busy or unavailable; retry later',
        detail: d.detail,
        code: d.code,
      });
    }
  }

  const instanceId = enableCmkGeoDrInstanceId(req.primary.id);
  const started = await startSingletonOperation(request, context, {
    orchestration: ENABLE_CMK_GEO_DR_ORCHESTRATION,
    instanceId,
    input,
    conflictTitle: 'A Geo-DR operation is already running for this primary namespace',
  });
  if ('response' in started) return started.response;
  const { location } = started;
  context.log(
    `enableCmkGeoDr ${instanceId} started for ${req.primary.id} / ${req.secondary.id} (alias ${req.alias})`,
  );
  return {
    status: 202,
    headers: { location, 'retry-after': '10' },
    jsonBody: {
      id: instanceId,
      primaryNamespaceId: req.primary.id,
      secondaryNamespaceId: req.secondary.id,
      alias: req.alias,
      statusQueryGetUri: location,
    },
  };
}

app.http('cmkGeoDr', {
  route: 'cmk/geo-dr',
  methods: ['POST'],
  authLevel: 'function',
  extraInputs: [df.input.durableClient()],
  handler: enableCmkGeoDrHandler,
});
