/**
 * Rotation uptake (docs/ARCHITECTURE.md "Reactions"): after Key Vault announced a new key version,
 * has each namespace that uses the key picked it up? Pure — the evidence is read by the
 * confirmRotation orchestration's activity, judged here.
 *
 * ARM does not show which key version a namespace is using (servicebus-cmk research: no in-use version,
 * no "Revoked" status), so uptake is confirmed by evidence that would be false if it had failed:
 * - the new version is the key's current version (else the event is stale: a newer one superseded it),
 *   enabled, inside its validity window — Service Bus takes the current version at its poll;
 * - the namespace's encryption identity can use the key (access policy get/wrapKey/unwrapKey or the
 *   CMK role at the key's scope) — without it the poll fails and the namespace goes dark;
 * - the namespace's platform metrics since the rotation show successful requests and no more server
 *   errors than the same length of time before it (an unusable key shows as ServerErrors).
 * A namespace pinned to another version does not follow rotation at all (Service Bus uses exactly the
 * pinned version): it is reported, or moved when the policy says so.
 */
import type { CmkState, KeyFacts } from './cmkState';
import type { SetEncryptionStep } from './plan';

/** One minute of a namespace's request metrics (totals). */
export interface RequestMetricsMinute {
  /** Start of the minute, ISO 8601. */
  at: string;
  incoming: number;
  successful: number;
  serverErrors: number;
}

/** The request metrics since the rotation, and the same length of time before it. */
export interface RequestMetricsSummary {
  from: string;
  to: string;
  incoming: number;
  successful: number;
  serverErrors: number;
  /** Server errors in [from − (to − from), from): what "no rise" is measured against. */
  baselineServerErrors: number;
}

export function summariseRequestMetrics(
  minutes: readonly RequestMetricsMinute[],
  since: Date,
  now: Date,
): RequestMetricsSummary {
  const from = since.getTime();
  const to = now.getTime();
  const baselineFrom = from - (to - from);
  const sum = { incoming: 0, successful: 0, serverErrors: 0, baselineServerErrors: 0 };
  for (const m of minutes) {
    const t = Date.parse(m.at);
    if (t >= from && t < to) {
      sum.incoming += m.incoming;
      sum.successful += m.successful;
      sum.serverErrors += m.serverErrors;
    } else if (t >= baselineFrom && t < from) sum.baselineServerErrors += m.serverErrors;
  }
  return { from: since.toISOString(), to: now.toISOString(), ...sum };
}

/** What the key itself says, re-read from Azure. */
export interface RotationKeyEvidence {
  /** The key (its current version): found, notFound, deleted … */
  status: KeyFacts['status'];
  currentVersion?: string;
  /** The version the event announced, read by its own id. */
  eventVersion: Pick<KeyFacts, 'status' | 'enabled' | 'expiresOn' | 'notBefore'>;
  /** Not read because Azure refused: what to grant (the evidence names it). */
  fix?: string;
}

/** What one namespace says, re-read from Azure. */
export interface NamespaceRotationEvidence {
  namespaceId: string;
  name: string;
  /** False when the namespace could not be read (detail says why). */
  readable: boolean;
  detail?: string;
  /** Whether its encryption still lists the key (by vault and name). */
  listsKey: boolean;
  /** The version it is pinned to, lower case; absent = versionless (follows rotation). */
  pinnedVersion?: string;
  /** Whether its encryption identity may get/wrap/unwrap the key; undefined = could not be told. */
  identityHasAccess?: boolean;
  metrics?: RequestMetricsSummary;
  /** Why the metrics could not be read (then they neither confirm nor refute). */
  metricsUnreadable?: string;
}

export type UptakeJudgement =
  /** Every piece of evidence holds. */
  | 'confirmed'
  /** Not (yet) — `missing` says what is lacking; the orchestration looks again until the deadline. */
  | 'waiting'
  /** Pinned to another version: it will not follow this rotation. */
  | 'pinnedElsewhere'
  /** A newer version than the event's is current: this event is stale (no alarm; the newer one's event confirms it). */
  | 'superseded'
  /** The namespace no longer lists this key. */
  | 'notUsingKey';

export interface Uptake {
  judgement: UptakeJudgement;
  /** What is lacking (waiting) or what was seen (confirmed), one sentence each. */
  evidence: string[];
}

/** Whether the announced version can be used now (as Service Bus would judge it at its poll). */
export function versionUsable(key: RotationKeyEvidence, now: Date): { usable: boolean; why: string } {
  const v = key.eventVersion;
  if (v.status !== 'found')
    return {
      usable: false,
      why: `the new version could not be read (${v.status})${key.fix ? `: ${key.fix}` : ''}`,
    };
  if (v.enabled === false) return { usable: false, why: 'the new version is disabled' };
  if (v.expiresOn && Date.parse(v.expiresOn) <= now.getTime())
    return { usable: false, why: `the new version expired at ${v.expiresOn}` };
  if (v.notBefore && Date.parse(v.notBefore) > now.getTime())
    return { usable: false, why: `the new version is not valid before ${v.notBefore}` };
  return { usable: true, why: 'the new version is enabled and valid' };
}

/** The one judgement of uptake for one namespace. */
export function judgeUptake(
  eventVersion: string,
  key: RotationKeyEvidence,
  ns: NamespaceRotationEvidence,
  now: Date,
): Uptake {
  if (key.currentVersion && key.currentVersion.toLowerCase() !== eventVersion.toLowerCase())
    return {
      judgement: 'superseded',
      evidence: [`version ${key.currentVersion} is current now; ${eventVersion} is not the latest`],
    };
  if (!ns.readable)
    return { judgement: 'waiting', evidence: [`the namespace could not be read (${ns.detail})`] };
  if (!ns.listsKey) return { judgement: 'notUsingKey', evidence: ['the namespace no longer lists this key'] };
  if (ns.pinnedVersion && ns.pinnedVersion !== eventVersion.toLowerCase())
    return {
      judgement: 'pinnedElsewhere',
      evidence: [
        `pinned to version ${ns.pinnedVersion}: Service Bus uses exactly that version, rotation or not`,
      ],
    };
  const missing: string[] = [];
  const seen: string[] = [];
  const usable = versionUsable(key, now);
  (usable.usable ? seen : missing).push(usable.why);
  if (ns.identityHasAccess === true) seen.push('the encryption identity can get, wrap and unwrap the key');
  else if (ns.identityHasAccess === false)
    missing.push(
      'the encryption identity cannot use the key (no access policy get/wrapKey/unwrapKey or CMK role)',
    );
  else missing.push("the encryption identity's access could not be read");
  const m = ns.metrics;
  if (!m) missing.push(`platform metrics could not be read (${ns.metricsUnreadable ?? 'no answer'})`);
  else if (m.serverErrors > m.baselineServerErrors)
    missing.push(
      `ServerErrors rose since the rotation (${m.serverErrors} vs ${m.baselineServerErrors} in as long before)`,
    );
  else if (m.incoming > 0 && m.successful === 0)
    missing.push(`no successful request since the rotation (${m.incoming} received)`);
  else if (m.incoming === 0)
    seen.push('no requests since the rotation: the metrics neither confirm nor refute it (no ServerErrors)');
  else
    seen.push(
      `${m.successful} of ${m.incoming} requests succeeded since the rotation, ServerErrors ${m.serverErrors} (before: ${m.baselineServerErrors})`,
    );
  return missing.length
    ? { judgement: 'waiting', evidence: missing }
    : { judgement: 'confirmed', evidence: seen };
}

/** The PATCH body that moves a namespace's pinned reference of one key to `version`, keeping the rest. */
export function followRotationEncryption(
  cmk: CmkState,
  key: { vaultName: string; keyName: string },
  version: string,
): SetEncryptionStep['encryption'] | undefined {
  if (!cmk.encrypted) return undefined;
  let moved = false;
  const keyVaultProperties = cmk.keys.map((k) => {
    const match =
      k.hostTrusted &&
      k.vaultName?.toLowerCase() === key.vaultName.toLowerCase() &&
      k.keyName.toLowerCase() === key.keyName.toLowerCase() &&
      k.keyVersion !== undefined;
    if (match) moved = true;
    const keyVersion = match ? version.toLowerCase() : k.keyVersion;
    return {
      keyName: k.keyName,
      keyVaultUri: k.vaultUri,
      ...(keyVersion ? { keyVersion } : {}),
      ...(k.identity.type === 'UserAssigned'
        ? { identity: { userAssignedIdentity: k.identity.resourceId } }
        : {}),
    };
  });
  if (!moved) return undefined;
  return {
    keySource: 'Microsoft.KeyVault',
    keyVaultProperties,
    requireInfrastructureEncryption: cmk.requireInfrastructureEncryption,
  };
}
