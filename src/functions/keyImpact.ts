import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { cmkGateways } from '../azure/cmkFacts';
import { readImpactFacts } from '../azure/keyImpact';
import { KeyIndexStore } from '../azure/keyIndexStore';
import { azureClients } from '../azure/runtime';
import { parseKeyImpactRequest, predictKeyImpact } from '../domain';
import { invalid, platformProblem, ruleSettings } from './cmkHttp';
import { readJsonBody } from './jsonBody';
import { problem } from './problem';

/**
 * POST /api/keys/impact — what would break if this key / vault / identity changed: the namespaces
 * that would go inoperable, those that would only degrade (and on which key they keep running), and
 * the Geo-DR partners concerned. Reads only (docs/ARCHITECTURE.md "Blast radius").
 */
export async function keyImpactHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const read = await readJsonBody(request);
  if (!read.ok) return read.response;
  const settings = ruleSettings();
  // Everything the request names is checked before anything is read: a bad host never gets a call.
  const parsed = parseKeyImpactRequest(read.body, settings.keyVaultDnsSuffix);
  if (!parsed.ok) return invalid(parsed.problems);
  const { target, change } = parsed.value;
  try {
    const clients = azureClients();
    const store = new KeyIndexStore(clients);
    const [index, observations] = await Promise.all([store.load(), store.loadObservations()]);
    if (!index) {
      return {
        ...problem({
          status: 503,
          title: 'The key index is not built yet',
          detail:
            'The key index is built by its refresh timer (KEY_INDEX_REFRESH_SCHEDULE), after every enable and by the first key-watch cycle; ask again after one of those.',
        }),
        headers: { 'content-type': 'application/problem+json', 'retry-after': '60' },
      };
    }
    const now = new Date();
    const facts = await readImpactFacts(cmkGateways(clients), index, target, settings, observations);
    const impact = predictKeyImpact(facts.facts, target, change, now, facts.currentVersions);
    return {
      status: 200,
      jsonBody: {
        target,
        ...impact,
        assessedAt: now.toISOString(),
        index: { builtAt: index.builtAt, namespaces: index.namespaces.length },
        read: {
          namespaces: facts.facts.length,
          calls: facts.calls,
          callsByOperation: facts.callsByOperation,
        },
      },
    };
  } catch (error) {
    return platformProblem(error, context);
  }
}
