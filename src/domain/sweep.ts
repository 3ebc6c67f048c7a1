/**
 * The compliance sweep's pure half (docs/ARCHITECTURE.md "Compliance sweep"): how work is cut into
 * batches and waves, what an operator sees in customStatus, and how anything the sweep could not
 * read becomes a "could not assess" entry naming the missing role or setting. No I/O, no clock.
 */
import type { CouldNotAssessCause, CouldNotAssessEntry } from './complianceReport';
import type { ListedNamespace } from './keyIndex';
import type { KeyMaterial } from './keyMaterial';
import type { DiagnoseFacts } from './preflight/facts';
import { keyReferenceKey } from './resourceIds';

/** Cuts `items` into consecutive groups of at most `size` (size ≥ 1). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const n = Math.max(1, Math.floor(size));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/** Calls a sweep made, by where they went (armPacing.ts counts them per activity). */
export interface SweepCalls {
  arm: number;
  keyVault: number;
  other: number;
  /** 429 answers among them. */
  throttled: number;
  /** Calls the pacing gate held back before sending. */
  paced: number;
}

export const noCalls = (): SweepCalls => ({ arm: 0, keyVault: 0, other: 0, throttled: 0, paced: 0 });

export function addCalls(a: SweepCalls, b: Partial<SweepCalls> | undefined): SweepCalls {
  return {
    arm: a.arm + (b?.arm ?? 0),
    keyVault: a.keyVault + (b?.keyVault ?? 0),
    other: a.other + (b?.other ?? 0),
    throttled: a.throttled + (b?.throttled ?? 0),
    paced: a.paced + (b?.paced ?? 0),
  };
}

export const totalCalls = (c: SweepCalls): number => c.arm + c.keyVault + c.other;

export type SweepPhase = 'scope' | 'listing' | 'keyMaterial' | 'evaluating' | 'report' | 'done' | 'failed';

/** customStatus of a running sweep: what `GET /api/operations/{id}` shows while it moves. */
export interface SweepStatus {
  phase: SweepPhase;
  startedAt: string;
  subscriptions: { done: number; total: number; skipped: number };
  namespaces: { listed: number; evaluated: number };
  calls: SweepCalls & { total: number };
  detail?: string;
}

/** How listing one subscription ended. */
export interface SubscriptionOutcome {
  subscriptionId: string;
  status: 'listed' | 'forbidden' | 'failed';
  cause?: CouldNotAssessCause;
  /** What Azure said (status + code + first message line). */
  detail?: string;
  httpStatus?: number;
  code?: string;
}

/** The "could not assess" entry for a subscription that could not be listed. */
export function subscriptionNotAssessed(o: SubscriptionOutcome): CouldNotAssessEntry | undefined {
  if (o.status === 'listed') return undefined;
  const sub = o.subscriptionId;
  const said = o.detail ? ` (${o.detail})` : '';
  const base = {
    scope: 'subscription' as const,
    id: sub,
    subscriptionId: sub,
    ...(o.httpStatus !== undefined ? { status: o.httpStatus } : {}),
    ...(o.code ? { code: o.code } : {}),
  };
  switch (o.cause ?? (o.status === 'forbidden' ? 'forbidden' : 'failed')) {
    case 'forbidden':
      return {
        ...base,
        cause: 'forbidden',
        message: `could not assess: subscription ${sub} — the app's identity may not list its Service Bus namespaces${said}.`,
        fix: "Give the app's identity the Reader role on the subscription (it reads namespaces, Geo-DR aliases, vaults, keys and role assignments through Resource Manager):",
        command: `az role assignment create --assignee <app-principal-id> --role Reader --scope /subscriptions/${sub}`,
      };
    case 'notFound':
      return {
        ...base,
        cause: 'notFound',
        message: `could not assess: subscription ${sub} was not found (or is not in the app's tenant)${said}.`,
        fix: 'Remove it from SWEEP_SUBSCRIPTIONS, or check the subscription id and the tenant of the app.',
      };
    case 'throttled':
      return {
        ...base,
        cause: 'throttled',
        message: `could not assess: Resource Manager kept throttling reads in subscription ${sub} (429) after every retry${said}.`,
        fix: 'Run the sweep again later, or lower SWEEP_CONCURRENCY; other clients of the same identity share the read budget of the subscription.',
      };
    default:
      return {
        ...base,
        cause: o.cause ?? 'failed',
        message: `could not assess: listing subscription ${sub} kept failing after every retry${said}.`,
        fix: 'Run the sweep again; if it persists, check Azure status for Resource Manager in the region.',
      };
  }
}

/**
 * "Could not assess" entries for what one namespace's facts hold unread: a vault the app may not read
 * (or that did not answer), a key it may not see. The evaluator reports the same thing as PRE-011 /
 * PRE-012 findings on the namespace; these entries collect them per vault/key for the report, with
 * every namespace affected (merged across the sweep by `mergeNotAssessed`).
 */
export function unreadableIn(facts: DiagnoseFacts): CouldNotAssessEntry[] {
  const out: CouldNotAssessEntry[] = [];
  const nsId = facts.namespace.id;
  const sub = facts.namespace.subscriptionId;
  for (const v of facts.vaults) {
    if (v.status === 'found') continue;
    const scope =
      v.resourceId ??
      `/subscriptions/<subscription>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/${v.vaultName}`;
    const said = v.detail ? ` (${v.detail})` : '';
    const base = {
      scope: 'vault' as const,
      id: v.resourceId ?? v.vaultUri,
      subscriptionId: sub,
      namespaceIds: [nsId],
    };
    if (v.status === 'forbidden')
      out.push({
        ...base,
        cause: 'forbidden',
        message: `could not assess: key vault ${v.vaultName} — the app's identity may not read it${said}.`,
        fix: "Give the app's identity Reader on the vault or its subscription (vault properties, keys and role assignments are read through Resource Manager):",
        command: `az role assignment create --assignee <app-principal-id> --role Reader --scope ${scope}`,
      });
    else if (v.status === 'notFound')
      out.push({
        ...base,
        cause: 'notFound',
        message: `could not assess: key vault ${v.vaultName} (${v.vaultUri}) was not found in the subscriptions the app can see${said}.`,
        fix: "Give the app's identity Reader on the vault's subscription, or fix the namespace's key URI if the vault is gone.",
      });
    else
      out.push({
        ...base,
        cause: 'unreachable',
        message: `could not assess: key vault ${v.vaultName} did not answer${said}.`,
        fix: 'Run the sweep again; if it persists, check the vault (and, for data-plane reads, its firewall: networkAcls.bypass must be AzureServices or the app allowed).',
      });
  }
  const refs = facts.namespace.cmk.encrypted ? facts.namespace.cmk.keys : [];
  refs.forEach((ref, i) => {
    const key = facts.keys[i]?.key;
    if (!key || (key.status !== 'forbidden' && key.status !== 'unreachable')) return;
    const base = { scope: 'key' as const, id: ref.keyId, subscriptionId: sub, namespaceIds: [nsId] };
    out.push(
      key.status === 'forbidden'
        ? {
            ...base,
            cause: 'forbidden',
            message: `could not assess: key ${ref.keyName} in key vault ${ref.vaultName ?? ref.host} — the app's identity may not read it.`,
            fix: "Give the app's identity Reader on the vault (key metadata is read through Resource Manager):",
            command: `az role assignment create --assignee <app-principal-id> --role Reader --scope $(az keyvault show --name ${ref.vaultName ?? '<vault>'} --query id --output tsv)`,
          }
        : {
            ...base,
            cause: 'unreachable',
            message: `could not assess: key ${ref.keyName} in key vault ${ref.vaultName ?? ref.host} could not be read (no answer after every retry).`,
            fix: 'Run the sweep again; if it persists, check the vault.',
          },
    );
  });
  return out;
}

/** One entry per scope + id + cause, with every namespace it affects (sorted, each once). */
export function mergeNotAssessed(entries: readonly CouldNotAssessEntry[]): CouldNotAssessEntry[] {
  const byKey = new Map<string, CouldNotAssessEntry>();
  for (const e of entries) {
    const k = `${e.scope}|${e.id.toLowerCase()}|${e.cause}`;
    const prev = byKey.get(k);
    if (!prev) {
      byKey.set(k, { ...e, ...(e.namespaceIds ? { namespaceIds: [...e.namespaceIds] } : {}) });
      continue;
    }
    if (e.namespaceIds) {
      const ids = new Map((prev.namespaceIds ?? []).map((id) => [id.toLowerCase(), id] as const));
      for (const id of e.namespaceIds) if (!ids.has(id.toLowerCase())) ids.set(id.toLowerCase(), id);
      prev.namespaceIds = [...ids.values()].sort();
    }
  }
  return [...byKey.values()].sort((a, b) =>
    a.scope === b.scope ? a.id.localeCompare(b.id) : a.scope.localeCompare(b.scope),
  );
}

/** Key material that holds nothing yet (merged into as the sweep's batches are read). */
export function emptyKeyMaterial(): KeyMaterial {
  return { vaults: {}, keys: {}, identities: {}, partners: {}, calls: 0, callsByOperation: {} };
}

/**
 * The part of the key material a batch of namespaces needs (their vaults, keys, identities and
 * partners), so an evaluation activity's input stays proportional to its batch, not to the estate.
 */
export function materialFor(namespaces: readonly ListedNamespace[], material: KeyMaterial): KeyMaterial {
  const out = emptyKeyMaterial();
  for (const ns of namespaces) {
    if (!ns.cmk.encrypted) continue;
    for (const ref of ns.cmk.keys) {
      const vault = ref.vaultName?.toLowerCase();
      if (vault && material.vaults[vault]) out.vaults[vault] = material.vaults[vault];
      const id = keyReferenceKey(ref);
      if (material.keys[id]) out.keys[id] = material.keys[id];
    }
    const enc = ns.cmk.identity;
    if (enc.type === 'UserAssigned') {
      const id = enc.resourceId.toLowerCase();
      if (material.identities[id]) out.identities[id] = material.identities[id];
    }
    const partner = ns.geoDr?.partnerNamespaceId?.toLowerCase();
    if (partner && material.partners[partner]) out.partners[partner] = material.partners[partner];
  }
  return out;
}
