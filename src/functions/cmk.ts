import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { cmkGateways, readDiagnoseFacts, readEnablePreflightFacts } from '../azure/cmkFacts';
import { azureClients } from '../azure/runtime';
import {
  plainKeyRef,
  buildEnablePlan,
  evaluateDiagnosis,
  evaluateRequestFindings,
  hasBlockingFindings,
  parseDiagnoseCmkRequest,
  parseEnableCmkRequest,
} from '../domain';
import {
  ENABLE_CMK_ORCHESTRATION,
  enableCmkInstanceId,
  type EnableCmkInput,
} from '../orchestrations/enableCmkOrchestrator';
import { readJsonBody } from './jsonBody';
import { startSingletonOperation } from './operationStart';
import { invalid, namespaceProblem, platformProblem, refusedAtOnce, ruleSettings } from './cmkHttp';

// The instance id lives with the orchestration: the Geo-DR flow starts its sub-orchestration under it too.
export { enableCmkInstanceId };

/**
 * POST /api/cmk/enable — validate; `dryRun: true` answers the plan and every finding (reads only);
 * otherwise start `enableCmk` and answer 202 with the operation to follow.
 */
export async function enableCmkHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const read = await readJsonBody(request);
  if (!read.ok) return read.response;
  const settings = ruleSettings();
  const parsed = parseEnableCmkRequest(read.body, settings.keyVaultDnsSuffix);
  if (!parsed.ok) return invalid(parsed.problems);
  const req = parsed.value;
  const input: EnableCmkInput = {
    namespace: req.namespace,
    keys: req.keys.map(plainKeyRef),
    identity: req.identity,
    requireInfrastructureEncryption: req.requireInfrastructureEncryption,
    settings,
  };

  if (req.dryRun) {
    try {
      const facts = await readEnablePreflightFacts(cmkGateways(azureClients()), input, settings);
      if (!facts.ok) return namespaceProblem({ ...facts, namespaceId: req.namespace.id });
      const plan = buildEnablePlan(facts.value, new Date());
      return {
        status: 200,
        jsonBody: {
          dryRun: true,
          namespaceId: req.namespace.id,
          outcome: plan.outcome,
          summary: plan.summary,
          findings: plan.findings,
          steps: plan.steps,
          minimumWrites: plan.minimumWrites,
        },
      };
    } catch (error) {
      return platformProblem(error, context);
    }
  }

  const refused = evaluateRequestFindings(req.namespace.id, input, settings, new Date());
  if (hasBlockingFindings(refused)) return refusedAtOnce(refused);

  // One enable per namespace at a time: the instance id is derived from the namespace, so a second
  // request while one runs collapses into a 409 pointing at the running operation.
  const instanceId = enableCmkInstanceId(req.namespace.id);
  const started = await startSingletonOperation(request, context, {
    orchestration: ENABLE_CMK_ORCHESTRATION,
    instanceId,
    input,
    conflictTitle: 'An enable operation is already running for this namespace',
  });
  if ('response' in started) return started.response;
  const { location } = started;
  context.log(`enableCmk ${instanceId} started for ${req.namespace.id}`);
  return {
    status: 202,
    headers: { location, 'retry-after': '10' },
    jsonBody: { id: instanceId, namespaceId: req.namespace.id, statusQueryGetUri: location },
  };
}

/** POST /api/cmk/diagnose — one namespace evaluated now: CMK state, keys, access, findings. Reads only. */
export async function diagnoseCmkHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const read = await readJsonBody(request);
  if (!read.ok) return read.response;
  const parsed = parseDiagnoseCmkRequest(read.body);
  if (!parsed.ok) return invalid(parsed.problems);
  try {
    const facts = await readDiagnoseFacts(
      cmkGateways(azureClients()),
      parsed.value.namespace,
      ruleSettings(),
    );
    if (!facts.ok) return namespaceProblem({ ...facts, namespaceId: parsed.value.namespace.id });
    return { status: 200, jsonBody: evaluateDiagnosis(facts.value, new Date()) };
  } catch (error) {
    return platformProblem(error, context);
  }
}
