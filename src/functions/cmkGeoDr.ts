/**
 * POST /api/cmk/geo-dr — validate; `dryRun: true` answers the Geo-DR plan and every finding (reads
 * only); otherwise start `enableCmkGeoDr` and answer 202 with the operation to follow.
 */
import { createHash } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import {
  buildGeoDrPlan,
  geoDrRequestFindings,
  hasBlockingFindings,
  parseEnableCmkGeoDrRequest,
  plainKeyRef,
} from '../domain';
import { cmkGateways, readGeoDrFacts } from '../azure/cmkFacts';
import { azureClients } from '../azure/runtime';
import {
  ENABLE_CMK_GEO_DR_ORCHESTRATION,
  type EnableCmkGeoDrInput,
} from '../orchestrations/enableCmkGeoDrOrchestrator';
import { readJsonBody } from './jsonBody';
import { startSingletonOperation } from './operationStart';
import { invalid, namespaceProblem, platformProblem, refusedAtOnce, ruleSettings } from './cmkHttp';

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
  const settings = ruleSettings();
  const parsed = parseEnableCmkGeoDrRequest(read.body, settings.keyVaultDnsSuffix);
  if (!parsed.ok) return invalid(parsed.problems);
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
      const facts = await readGeoDrFacts(cmkGateways(azureClients()), input);
      if (!facts.ok) return namespaceProblem(facts);
      const plan = buildGeoDrPlan(facts.value, new Date());
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
      return platformProblem(error, context);
    }
  }

  const refused = geoDrRequestFindings(
    { ...input, primaryId: req.primary.id, secondaryId: req.secondary.id },
    settings,
    new Date(),
  );
  if (hasBlockingFindings(refused)) return refusedAtOnce(refused);

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
