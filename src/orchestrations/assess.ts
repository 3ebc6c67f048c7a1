/**
 * The shared guardian activities (docs/ARCHITECTURE.md "Key index"): every guardian flow — reactions,
 * key watch, impact, sweep — judges namespaces through ASSESS_NAMESPACES and keeps the key index
 * fresh through REFRESH_KEY_INDEX. Plus the refresh orchestration its timer (and enable) starts.
 *
 * ASSESS_NAMESPACES reads the index (where to look), re-reads the truth with the batch reader (each
 * distinct vault and key once), evaluates with the one evaluator and returns NamespaceHealth per
 * namespace. Time comes from the caller (`at`, the orchestration's replay-safe clock): an activity has
 * no other clock that agrees with the sandbox's or with the orchestration's.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import { cmkGateways, type CmkGateways } from '../azure/cmkFacts';
import type { AzureClients } from '../azure/clients';
import { classifyError } from '../azure/errors';
import { publishHealth, type PublishSummary } from '../azure/healthPublisher';
import { listNamespaces, readKeyMaterial } from '../azure/estate';
import { KeyIndexStore } from '../azure/keyIndexStore';
import { azureClients } from '../azure/runtime';
import { SubscriptionsGateway } from '../azure/subscriptions';
import { infrastructureEncryptionSettings, type AppConfig } from '../config';
import {
  assembleDiagnoseFacts,
  buildKeyIndex,
  evaluateDiagnosis,
  keyMaterialRequest,
  namespaceHealth,
  parseServiceBusNamespaceId,
  ResourceIdError,
  selectNamespaces,
  updateObservations,
  type AssessedNamespace,
  type GroupedResourceId,
  type IndexedSubscription,
  type KeyIndex,
  type KeyName,
  type NamespaceHealth,
  type NamespaceSelector,
  type RuleSettings,
  type SubscriptionListing,
} from '../domain';
import { activity, callActivity, callOrFail, isFailure, StepFailed } from './plumbing';
import {
  ASSESS_NAMESPACES,
  REFRESH_KEY_INDEX,
  KEY_INDEX_REFRESH_ORCHESTRATION,
  KEY_INDEX_REFRESH_TIMER,
  KEY_INDEX_REFRESH_INSTANCE,
} from './names';

export {
  ASSESS_NAMESPACES,
  REFRESH_KEY_INDEX,
  KEY_INDEX_REFRESH_ORCHESTRATION,
  KEY_INDEX_REFRESH_TIMER,
  KEY_INDEX_REFRESH_INSTANCE,
};

export interface AssessInput {
  selector: NamespaceSelector;
  /** Why (logged and echoed): 'keyWatch', 'KeyExpired', 'audit alert', … */
  reason: string;
  /** ISO instant to judge at: the orchestration's currentUtcDateTime. Wall time when absent. */
  at?: string;
  /**
   * Keys an audit-log alert says were deleted, with the deletion time: the deleted-key cache window
   * runs from then instead of from the first read that misses the key.
   */
  goneKeys?: (KeyName & { goneAt: string })[];
}

export interface AssessOutput {
  assessed: NamespaceHealth[];
  /** ARM requests this assessment made (each page counts). */
  calls: number;
  reason: string;
  /** builtAt of the index used (absent when the index had to be built first: see `indexBuilt`). */
  indexBuiltAt?: string;
  /** The index did not exist: this assessment built (and stored) it first. */
  indexBuilt?: true;
  /** Selector ids that are neither indexed nor readable namespaces. */
  notFound: string[];
  /** What the alert path did with the verdicts (healthPublisher.ts). */
  published?: PublishSummary;
}

export interface RefreshInput {
  reason: string;
  /** Only these subscriptions (after an enable); the others are kept as the stored index has them. */
  subscriptionIds?: string[];
  at?: string;
}

export interface RefreshOutput {
  builtAt: string;
  namespaces: number;
  subscriptions: IndexedSubscription[];
  /** False when a newer index was already stored (ours, built from older lists, was dropped). */
  saved: boolean;
  calls: number;
}

function settingsOf(config: AppConfig): RuleSettings {
  return {
    keyVaultDnsSuffix: config.endpoints.keyVaultDnsSuffix,
    keyExpiryWarningDays: config.keyExpiryWarningDays,
    deletedKeyCacheMinutes: config.deletedKeyCacheMinutes,
    ...infrastructureEncryptionSettings(config),
  };
}

const nowOf = (at: string | undefined): Date => {
  const t = at ? Date.parse(at) : NaN;
  return Number.isNaN(t) ? new Date() : new Date(t);
};

/**
 * Lists the subscriptions (input's, else SWEEP_SUBSCRIPTIONS, `*` = every visible one) and saves
 * the index. A subscription whose list fails — refused or a platform fault that outlasted the SDK's
 * retries — is recorded as such and keeps its previous namespaces (buildKeyIndex).
 */
export async function refreshKeyIndex(clients: AzureClients, input: RefreshInput): Promise<RefreshOutput> {
  const gw = cmkGateways(clients);
  const store = new KeyIndexStore(clients);
  // The stored index first: without a reachable store, fail before spending any ARM list.
  const previous = await store.load();
  let calls = 0;
  let subscriptionIds = input.subscriptionIds;
  if (!subscriptionIds) {
    const configured = clients.config.sweep.subscriptions;
    if (configured === '*') {
      calls++;
      subscriptionIds = (await new SubscriptionsGateway(clients).listVisible()).map((s) => s.subscriptionId);
    } else subscriptionIds = configured;
  }
  const listings: SubscriptionListing[] = [];
  for (const subscriptionId of subscriptionIds) {
    try {
      const listing = await listNamespaces(gw, subscriptionId);
      calls += listing.calls;
      listings.push(listing);
    } catch (error) {
      const c = classifyError(error);
      if (c.class === 'bug') throw error;
      calls++;
      listings.push({ subscriptionId, status: 'failed', detail: c.detail });
    }
  }
  const builtAt = nowOf(input.at).toISOString();
  const index = buildKeyIndex(listings, builtAt, previous, {
    keepUnlisted: input.subscriptionIds !== undefined,
  });
  const saved = await store.save(index);
  return {
    builtAt,
    namespaces: index.namespaces.length,
    subscriptions: index.subscriptions,
    saved: saved.saved,
    calls,
  };
}

/** The namespaces named by id that the index does not hold, read one by one (GET + alias). */
async function readUnindexed(
  gw: CmkGateways,
  ids: readonly string[],
): Promise<{ namespaces: AssessedNamespace[]; notFound: string[]; calls: number }> {
  const namespaces: AssessedNamespace[] = [];
  const notFound: string[] = [];
  let calls = 0;
  for (const id of ids) {
    let parsed: GroupedResourceId;
    try {
      parsed = parseServiceBusNamespaceId(id);
    } catch (e) {
      if (!(e instanceof ResourceIdError)) throw e;
      notFound.push(id);
      continue;
    }
    calls++;
    const ns = await gw.serviceBus.getNamespace(parsed);
    if (!ns.ok) {
      notFound.push(id);
      continue;
    }
    if (ns.value.cmk.encrypted) {
      calls++;
      const alias = await gw.geoDr.aliasOf(parsed);
      if (alias.ok && alias.value)
        namespaces.push({
          ...ns.value,
          geoDr: {
            alias: alias.value.name,
            role: alias.value.role,
            ...(alias.value.partnerNamespaceId ? { partnerNamespaceId: alias.value.partnerNamespaceId } : {}),
          },
        });
      else namespaces.push(ns.value);
    } else namespaces.push(ns.value);
  }
  return { namespaces, notFound, calls };
}

/** Audit-alert deletion times as observation hints, keyed like the material's keys. */
function goneHints(keys: readonly string[], goneKeys: AssessInput['goneKeys']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const g of goneKeys ?? []) {
    if (Number.isNaN(Date.parse(g.goneAt))) continue;
    const vault = g.vaultName.toLowerCase();
    const name = g.keyName.toLowerCase();
    for (const id of keys) {
      const [host, , keyName] = id.split('/');
      if (host?.split('.')[0] === vault && keyName === name) out[id] = new Date(g.goneAt).toISOString();
    }
  }
  return out;
}

/**
 * ASSESS_NAMESPACES without the Durable wrapper. The verdicts are handed to the alert path
 * (publishHealth, stamped with the same `at`) unless `publish: false` (tests of the judging alone).
 */
export async function assessNamespaces(
  clients: AzureClients,
  input: AssessInput,
  options: { publish?: boolean } = {},
): Promise<AssessOutput> {
  const gw = cmkGateways(clients);
  const store = new KeyIndexStore(clients);
  const now = nowOf(input.at);
  const settings = settingsOf(clients.config);
  let calls = 0;
  let index: KeyIndex | undefined = await store.load();
  let indexBuilt = false;
  if (!index) {
    const refreshed = await refreshKeyIndex(clients, {
      reason: `${input.reason} (no index yet)`,
      at: now.toISOString(),
    });
    calls += refreshed.calls;
    index = await store.load();
    indexBuilt = true;
  }
  const picked = index
    ? selectNamespaces(index, input.selector)
    : { namespaces: [], unindexedIds: input.selector.namespaceIds ?? [] };
  const extra = await readUnindexed(gw, picked.unindexedIds);
  calls += extra.calls;
  const namespaces: AssessedNamespace[] = [...picked.namespaces, ...extra.namespaces];
  if (namespaces.length === 0)
    return {
      assessed: [],
      calls,
      reason: input.reason,
      ...(index && !indexBuilt ? { indexBuiltAt: index.builtAt } : {}),
      ...(indexBuilt ? { indexBuilt: true as const } : {}),
      notFound: extra.notFound,
    };

  const material = await readKeyMaterial(gw, keyMaterialRequest(namespaces), settings);
  calls += material.calls;
  const hints = goneHints(Object.keys(material.keys), input.goneKeys);
  // Observations first, so this very assessment judges with the first miss (or the audit time).
  const observations = await store.updateObservations((stored) =>
    updateObservations(stored, material, now, hints),
  );
  const assessed = namespaces.map((ns) => {
    const facts = assembleDiagnoseFacts(ns, material, settings, observations);
    return namespaceHealth(evaluateDiagnosis(facts, now), ns.location);
  });
  const published = options.publish === false ? undefined : await publishHealth(clients, assessed, now);
  return {
    assessed,
    calls,
    reason: input.reason,
    ...(index && !indexBuilt ? { indexBuiltAt: index.builtAt } : {}),
    ...(indexBuilt ? { indexBuilt: true as const } : {}),
    notFound: extra.notFound,
    ...(published ? { published } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// Durable registrations
// ---------------------------------------------------------------------------------------------------

export const assessNamespacesActivity = activity(
  async (input: AssessInput): Promise<{ ok: true } & AssessOutput> => ({
    ok: true,
    ...(await assessNamespaces(azureClients(), input)),
  }),
);

export const refreshKeyIndexActivity = activity(
  async (input: RefreshInput): Promise<{ ok: true } & RefreshOutput> => ({
    ok: true,
    ...(await refreshKeyIndex(azureClients(), input)),
  }),
);

/** Refreshes the index (the timer's orchestration): one activity, platform faults retried. */
export const keyIndexRefreshOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<RefreshInput>() ?? { reason: 'timer' };
  const out = yield* callOrFail<RefreshOutput>(
    context,
    REFRESH_KEY_INDEX,
    { ...input, at: context.df.currentUtcDateTime.toISOString() },
    'refreshKeyIndex',
  );
  const { ok: _ok, ...result } = out;
  return result;
};

const RUNNING: ReadonlySet<string> = new Set(['Running', 'Pending', 'ContinuedAsNew']);

/**
 * KEY_INDEX_REFRESH_SCHEDULE (NCRONTAB, default hourly): starts the refresh under one instance id; a
 * tick while the previous refresh still runs is skipped with a log line. `src/index.ts` registers it
 * with the schedule from the validated configuration, so a default works without an app setting.
 */
export async function keyIndexRefreshTimerHandler(
  _timer: Timer,
  client: df.DurableClient,
  context: InvocationContext,
): Promise<void> {
  const existing = await client
    .getStatus(KEY_INDEX_REFRESH_INSTANCE, { showInput: false })
    .catch(() => undefined);
  if (existing && RUNNING.has(String(existing.runtimeStatus))) {
    context.log(`key index refresh still running (${KEY_INDEX_REFRESH_INSTANCE}); this tick is skipped`);
    return;
  }
  await client.startNew(KEY_INDEX_REFRESH_ORCHESTRATION, {
    instanceId: KEY_INDEX_REFRESH_INSTANCE,
    input: { reason: 'timer' } satisfies RefreshInput,
  });
}

/** What a successful enable reports about the key index refresh it ends with. */
export interface KeyIndexRefreshNote {
  refreshed: boolean;
  detail: string;
}

/**
 * The last activity of a successful enable: re-list the namespace's subscription(s) into the key
 * index so the guardian watches the namespace from now on. A failure does not undo the enable — CMK
 * is on — it is reported, and the next timer refresh picks the namespace up.
 */
export function* refreshIndexAfterEnable(
  context: OrchestrationContext,
  subscriptionIds: readonly string[],
  reason: string,
): Generator<Task, KeyIndexRefreshNote, unknown> {
  const ids = [...new Map(subscriptionIds.map((s) => [s.toLowerCase(), s] as const)).values()];
  try {
    const r = yield* callActivity<RefreshOutput>(
      context,
      REFRESH_KEY_INDEX,
      {
        reason,
        subscriptionIds: ids,
        at: context.df.currentUtcDateTime.toISOString(),
      } satisfies RefreshInput,
      'refreshKeyIndex',
    );
    if (isFailure(r))
      return {
        refreshed: false,
        detail: `key index not refreshed (${r.detail}); the next scheduled refresh will add it`,
      };
    return {
      refreshed: true,
      detail: r.saved
        ? `key index refreshed: ${r.namespaces} CMK namespace(s) guarded`
        : 'key index already refreshed by a newer run',
    };
  } catch (error) {
    const detail = error instanceof StepFailed ? error.detail : String(error);
    return {
      refreshed: false,
      detail: `key index not refreshed (${detail}); the next scheduled refresh will add it`,
    };
  }
}
