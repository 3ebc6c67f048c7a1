/**
 * The shared activities every guardian flow calls (docs/ARCHITECTURE.md "Key index"):
 *
 * - `ASSESS_NAMESPACES` — the namespaces a selector names in the key index (by key, vault, identity,
 *   id, or all), their truth re-read from Azure (the namespaces, then the batch reader: each vault, key
 *   and access list once), judged by the one evaluator at the orchestration's time, and handed to the
 *   health publisher (custom metrics → the alert rules). The index only says where to look.
 * - `REFRESH_KEY_INDEX` — one ARM list per subscription in scope (SWEEP_SUBSCRIPTIONS, or every
 *   subscription the app can see), built into the index and saved (a newer stored index wins).
 *
 * Both are activities (idempotent: an assessment twice publishes the same sample, which the publisher
 * drops as a duplicate in the same minute; a refresh twice saves the same index).
 */
import * as df from 'durable-functions';
import { cmkGateways, type CmkGateways } from '../azure/cmkFacts';
import { listNamespaces, readEstateFacts } from '../azure/estate';
import { publishHealth, type PublishSummary } from '../azure/healthPublisher';
import { KeyIndexStore } from '../azure/keyIndexStore';
import { azureClients } from '../azure/runtime';
import { SubscriptionsGateway } from '../azure/subscriptions';
import { getConfig } from '../config';
import {
  buildKeyIndex,
  evaluateDiagnosis,
  namespaceHealth,
  parseServiceBusNamespaceId,
  selectNamespaces,
  updateObservations,
  type IndexedNamespace,
  type ListedNamespace,
  type NamespaceHealth,
  type NamespaceSelector,
  type RuleSettings,
} from '../domain';
import { activity } from './plumbing';

export const ASSESS_NAMESPACES = 'assessNamespaces';
export const REFRESH_KEY_INDEX = 'refreshKeyIndex';

export interface AssessInput {
  selector: NamespaceSelector;
  /** Why (for the log): "KeyExpired event …", "key watch", "rotation not confirmed …". */
  reason: string;
  /** The orchestration's time (ISO): verdicts and published samples are dated with it. */
  at?: string;
}

export interface AssessOutput {
  assessed: NamespaceHealth[];
  /** ARM calls made (namespace reads + the batch reader's). */
  calls: number;
  /** Selected by id but not in the index, or no longer found in Azure. */
  notAssessed: string[];
  published?: Omit<PublishSummary, 'rules'>;
}

/** Up to this many namespaces of one subscription are read one by one; more: one list of it. */
const READ_ONE_BY_ONE = 20;

function settings(): RuleSettings {
  const config = getConfig();
  return {
    keyVaultDnsSuffix: config.endpoints.keyVaultDnsSuffix,
    keyExpiryWarningDays: config.keyExpiryWarningDays,
  };
}

/**
 * The selected namespaces as Azure has them now: per subscription one GET each when few, else one
 * list (+ pages) filtered to them. The Geo-DR pairing is the index's (alias lists are the refresh's job).
 */
async function readCurrent(
  gw: CmkGateways,
  selected: readonly IndexedNamespace[],
): Promise<{ namespaces: ListedNamespace[]; missing: string[]; calls: number }> {
  const bySub = new Map<string, IndexedNamespace[]>();
  for (const n of selected)
    bySub.set(n.subscriptionId.toLowerCase(), [...(bySub.get(n.subscriptionId.toLowerCase()) ?? []), n]);
  const namespaces: ListedNamespace[] = [];
  const missing: string[] = [];
  let calls = 0;
  const withPairing = (current: ListedNamespace, indexed: IndexedNamespace): ListedNamespace =>
    indexed.geoDr && !current.geoDr ? { ...current, geoDr: indexed.geoDr } : current;
  for (const [, list] of bySub) {
    if (list.length <= READ_ONE_BY_ONE) {
      const bodies = await Promise.all(
        list.map((n) => gw.serviceBus.getNamespace(parseServiceBusNamespaceId(n.id))),
      );
      calls += list.length;
      bodies.forEach((b, i) => {
        const indexed = list[i]!;
        if (b.ok) namespaces.push(withPairing(b.value, indexed));
        else missing.push(indexed.id);
      });
      continue;
    }
    const listed = await gw.serviceBus.listBySubscription(list[0]!.subscriptionId);
    if (!listed.ok) {
      calls++;
      missing.push(...list.map((n) => n.id));
      continue;
    }
    calls += listed.value.pages;
    const byId = new Map(listed.value.namespaces.map((n) => [n.id.toLowerCase(), n] as const));
    for (const indexed of list) {
      const current = byId.get(indexed.id.toLowerCase());
      if (current) namespaces.push(withPairing(current, indexed));
      else missing.push(indexed.id);
    }
  }
  return { namespaces, missing, calls };
}

export const assessNamespacesActivity = activity(
  async (input: AssessInput): Promise<{ ok: true } & AssessOutput> => {
    const clients = azureClients();
    const gw = cmkGateways(clients);
    const store = new KeyIndexStore(clients);
    const now = input.at ? new Date(input.at) : new Date();
    const index = await store.load();
    if (!index)
      return { ok: true, assessed: [], calls: 0, notAssessed: [...(input.selector.namespaceIds ?? [])] };
    const { namespaces: selected, unindexedIds } = selectNamespaces(index, input.selector);
    const current = await readCurrent(gw, selected);
    const rules = settings();
    const observations = await store.loadObservations();
    const { facts, material } = await readEstateFacts(gw, current.namespaces, rules, observations);
    const assessed = facts.map((f, i) =>
      namespaceHealth(evaluateDiagnosis(f, now), current.namespaces[i]?.location),
    );
    await store.updateObservations((stored) => updateObservations(stored, material, now));
    const published = await publishHealth(clients, assessed, now);
    const { rules: _rules, ...summary } = published;
    void _rules;
    return {
      ok: true,
      assessed,
      calls: current.calls + material.calls,
      notAssessed: [...unindexedIds, ...current.missing],
      published: summary,
    };
  },
);

export interface RefreshInput {
  at?: string;
}

export interface RefreshOutput {
  namespaces: number;
  subscriptions: Array<{ subscriptionId: string; status: string; detail?: string }>;
  saved: boolean;
  calls: number;
}

export const refreshKeyIndexActivity = activity(
  async (input: RefreshInput): Promise<{ ok: true } & RefreshOutput> => {
    const clients = azureClients();
    const gw = cmkGateways(clients);
    const store = new KeyIndexStore(clients);
    const scope = getConfig().sweep.subscriptions;
    let calls = 0;
    const subscriptions =
      scope === '*'
        ? (await new SubscriptionsGateway(clients).listVisible()).map((s) => s.subscriptionId)
        : scope;
    if (scope === '*') calls++;
    const listings = [];
    for (const sub of subscriptions) {
      const listing = await listNamespaces(gw, sub);
      calls += listing.calls;
      listings.push(listing);
    }
    const previous = await store.load();
    const builtAt = (input.at ? new Date(input.at) : new Date()).toISOString();
    const index = buildKeyIndex(listings, builtAt, previous);
    const saved = await store.save(index);
    return {
      ok: true,
      namespaces: index.namespaces.length,
      subscriptions: index.subscriptions.map((s) => ({
        subscriptionId: s.subscriptionId,
        status: s.status,
        ...(s.detail ? { detail: s.detail } : {}),
      })),
      saved: saved.saved,
      calls,
    };
  },
);

df.app.activity(ASSESS_NAMESPACES, { handler: assessNamespacesActivity });
df.app.activity(REFRESH_KEY_INDEX, { handler: refreshKeyIndexActivity });
