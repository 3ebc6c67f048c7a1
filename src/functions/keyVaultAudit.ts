import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { KeyIndexStore } from '../azure/keyIndexStore';
import { azureClients } from '../azure/runtime';
import { getConfig } from '../config';
import { MAX_ALERT_BYTES, namespacesUsingKey, namespacesUsingVault, parseAuditAlert } from '../domain';
import {
  ASSESS_KEY_IMPACT_ORCHESTRATION,
  assessKeyImpactInstanceId,
  type AssessKeyImpactInput,
} from '../orchestrations/assessKeyImpact';
import { invalid, platformProblem } from './cmkHttp';
import { readJsonBody } from './jsonBody';
import { durableStarter, startOnce } from './keyVaultEvents';
import { problem } from './problem';

/**
 * POST /api/alerts/keyvault-audit — the webhook of the action group on the vaults' audit-log alert
 * (common alert schema; docs/ARCHITECTURE.md "Reactions"). Key deletion, disable and RBAC revocation
 * have no Event Grid event: this is the fast hint, the key watch the guarantee. Re-assesses at once
 * every indexed namespace that uses a key or vault the alert names (assessKeyImpact, one instance per
 * firing, so a re-sent alert collapses). Not a common-schema alert → 400; names no vault or key → 400;
 * a resolved alert or one about vaults no indexed namespace uses → 200 "ignored" with a log line.
 */
export async function keyVaultAuditHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const read = await readJsonBody(request, MAX_ALERT_BYTES);
  if (!read.ok) return read.response;
  const config = getConfig();
  const parsed = parseAuditAlert(read.body, config.endpoints.keyVaultDnsSuffix);
  if (!parsed.ok) return invalid(parsed.problems);
  const alert = parsed.value;
  const ignored = (reason: string, detail: string): HttpResponseInit => {
    context.log(`keyvault-audit: ignored (${reason}) alert ${alert.alertId}: ${detail}`);
    return { status: 200, jsonBody: { outcome: 'ignored', reason, detail } };
  };
  if (alert.monitorCondition === 'Resolved')
    return ignored('resolved', 'a resolved alert asks for nothing; the key watch keeps assessing.');

  try {
    const index = await new KeyIndexStore(azureClients()).load();
    if (!index) return ignored('noIndex', 'the key index has not been built yet; the key watch will assess.');
    const keys = alert.keys.filter((k) => namespacesUsingKey(index, k).length > 0);
    const keyVaults = new Set(alert.keys.map((k) => k.vaultName));
    // A vault counts on its own only when the alert names none of its keys.
    const vaults = alert.vaults
      .filter((v) => !keyVaults.has(v.name) && namespacesUsingVault(index, v.name).length > 0)
      .map((v) => v.name);
    if (keys.length === 0 && vaults.length === 0)
      return ignored(
        'notIndexed',
        `no indexed namespace uses ${[...alert.keys.map((k) => k.versionlessKeyId), ...alert.vaults.map((v) => `vault ${v.name}`)].join(', ')}.`,
      );
    const instanceId = assessKeyImpactInstanceId(
      'AuditAlert',
      `${alert.alertId}|${alert.firedDateTime ?? ''}`,
    );
    const input: AssessKeyImpactInput = {
      kind: 'AuditAlert',
      sourceId: alert.alertId,
      keys,
      vaults,
      reason: `audit alert ${alert.alertRule ?? alert.alertId}`,
    };
    let outcome: 'started' | 'duplicate';
    try {
      outcome = await startOnce(
        durableStarter(df.getClient(context)),
        ASSESS_KEY_IMPACT_ORCHESTRATION,
        instanceId,
        input,
      );
    } catch (error) {
      context.error(`keyvault-audit: could not start ${instanceId}: ${String(error)}`);
      return problem({
        status: 503,
        title: 'Could not start the assessment',
        detail: 'The Durable Functions backend did not accept the operation; the alert will be sent again.',
      });
    }
    const location = new URL(`/api/operations/${instanceId}`, request.url).toString();
    context.log(
      `keyvault-audit: ${outcome === 'started' ? 'started' : 'duplicate of'} ${instanceId} for ${keys.length} key(s), ${vaults.length} vault(s)`,
    );
    return {
      status: 202,
      headers: { location },
      jsonBody: {
        id: instanceId,
        statusQueryGetUri: location,
        duplicate: outcome === 'duplicate',
        keys: keys.map((k) => k.versionlessKeyId),
        vaults,
        ignored: alert.ignored,
      },
    };
  } catch (error) {
    return platformProblem(error, context);
  }
}
