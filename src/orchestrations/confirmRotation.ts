/**
 * `confirmRotation` — after `KeyNewVersionCreated`, confirms that every namespace using the key picked
 * up the new version (docs/ARCHITECTURE.md "Reactions"):
 *
 *   wait two key polls (KEY_POLL_MINUTES × 2: Service Bus checks its keys once per poll)
 *   → read the evidence (key, each namespace, its platform metrics) → judge (domain/rotation.ts)
 *   → pinned elsewhere: report it, or with PINNED_VERSION_POLICY=follow move it (PATCH) and confirm it
 *   → look again every poll until confirmed or UPTAKE_DEADLINE_MINUTES after the event
 *   → what is still not confirmed is re-assessed through the shared assessment (which publishes its
 *     health, so the alert rules fire — never an action group directly).
 *
 * One instance per key version (`confirmRotationInstanceId`): the same event delivered again, or
 * delivered to two subscriptions, collapses into the instance already there. A stale event (a newer
 * version is current) ends as `superseded` without an alarm. Progress and the verdict of each
 * namespace are in customStatus all along.
 */
import { createHash } from 'node:crypto';
import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { cmkGateways } from '../azure/cmkFacts';
import { readEstateFacts } from '../azure/estate';
import { PlatformMetricsGateway } from '../azure/platformMetrics';
import { azureClients } from '../azure/runtime';
import type { PinnedVersionPolicy } from '../config';
import {
  grantRoleFix,
  followRotationEncryption,
  judgeUptake,
  parseServiceBusNamespaceId,
  summariseRequestMetrics,
  type KeyFacts,
  type NamespaceHealth,
  type NamespaceRotationEvidence,
  type RotationKeyEvidence,
  type RuleSettings,
} from '../domain';
import { ASSESS_NAMESPACES, type AssessInput } from './assess';
import { READ_NAMESPACE_ACTIVITY } from './enableCmkOrchestrator';
import {
  activity,
  asStepFailed,
  callActivity,
  callOrFail,
  failureOf,
  isFailure,
  wait,
  type ActivityFailure,
  type OperationError,
  operationError,
} from './plumbing';
import { CONFIRM_ROTATION_ORCHESTRATION, ROTATION_EVIDENCE_ACTIVITY, MOVE_PINNED_ACTIVITY } from './names';

export { CONFIRM_ROTATION_ORCHESTRATION, ROTATION_EVIDENCE_ACTIVITY, MOVE_PINNED_ACTIVITY };

/** `confirmRotation-<hash of vault/key/version>`: one confirmation per key version, however often announced. */
export function confirmRotationInstanceId(key: {
  vaultName: string;
  keyName: string;
  version: string;
}): string {
  const what = `${key.vaultName}/${key.keyName}/${key.version}`.toLowerCase();
  return `confirmRotation-${createHash('sha256').update(what).digest('hex').slice(0, 32)}`;
}

// ---------------------------------------------------------------------------------------------------
// Input, status, output
// ---------------------------------------------------------------------------------------------------

export interface RotatedKey {
  vaultName: string;
  keyName: string;
  /** The version the event announced (lower case). */
  version: string;
  versionlessKeyId: string;
}

export interface ConfirmRotationInput {
  eventId: string;
  eventTime?: string;
  key: RotatedKey;
  /** The namespaces the key index lists for the key (a hint: each is re-read). */
  namespaceIds: string[];
  settings: RuleSettings;
  keyPollMinutes: number;
  uptakeDeadlineMinutes: number;
  pinnedVersionPolicy: PinnedVersionPolicy;
}

export type UptakeState =
  | 'waiting'
  | 'confirmed'
  | 'notConfirmed'
  | 'notFollowing'
  | 'moved'
  | 'moveFailed'
  | 'superseded'
  | 'notUsingKey';

export interface NamespaceUptake {
  namespaceId: string;
  name: string;
  reference: 'versionless' | 'pinned' | 'unknown';
  pinnedVersion?: string;
  state: UptakeState;
  /** What was seen (confirmed) or is lacking (waiting, notConfirmed), as of `checkedAt`. */
  evidence: string[];
  /** Uptake is measured from here: the rotation, or the move of a pinned reference. */
  since: string;
  checkedAt?: string;
  confirmedAt?: string;
  /** The verdict the shared assessment published for it (namespaces not confirmed by the deadline). */
  assessedVerdict?: string;
}

export interface ConfirmRotationStatus {
  state: 'waitingForKeyPoll' | 'checking' | 'moving' | 'alerting' | 'done';
  eventId: string;
  key: RotatedKey;
  startedAt: string;
  deadline: string;
  nextCheckAt?: string;
  checks: number;
  namespaces: NamespaceUptake[];
}

export interface ConfirmRotationOutput extends Omit<ConfirmRotationStatus, 'state' | 'nextCheckAt'> {
  outcome: 'confirmed' | 'partial' | 'notConfirmed' | 'superseded' | 'nothingToConfirm' | 'failed';
  summary: string;
  error?: OperationError;
}

const FINAL: ReadonlySet<UptakeState> = new Set([
  'confirmed',
  'notConfirmed',
  'notFollowing',
  'moveFailed',
  'superseded',
  'notUsingKey',
]);

// ---------------------------------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------------------------------

export interface EvidenceInput {
  key: RotatedKey;
  namespaces: Array<{ namespaceId: string; since: string }>;
  /** The orchestration's time (activities have no clock of their own that matches Azure's). */
  now: string;
  settings: RuleSettings;
}

export type EvidenceResult =
  { ok: true; key: RotationKeyEvidence; namespaces: NamespaceRotationEvidence[] } | ActivityFailure;

const notRead = (status: KeyFacts['status']): RotationKeyEvidence['eventVersion'] => ({ status });

/**
 * Re-reads the truth for the key and each namespace: each namespace's body (its encryption now), then
 * the batch reader for all of them at once (estate.ts: each vault, access-policy list and key read
 * once, whatever the count of namespaces), the key's current version and the announced version by id
 * (ARM, in the vault the namespaces' own references lead to — never a host from the event), and each
 * namespace's request metrics since `since` and as long before.
 */
export const readEvidenceActivity = activity(async (input: EvidenceInput): Promise<EvidenceResult> => {
  const clients = azureClients();
  const gw = cmkGateways(clients);
  const metrics = new PlatformMetricsGateway(clients);
  const now = new Date(input.now);
  const vaultName = input.key.vaultName.toLowerCase();
  const keyName = input.key.keyName.toLowerCase();

  const ids = input.namespaces.map((n) => parseServiceBusNamespaceId(n.namespaceId));
  const bodies = await Promise.all(ids.map((id) => gw.serviceBus.getNamespace(id)));
  const listed = bodies.flatMap((b) => (b.ok ? [b.value] : []));
  const { facts, material } = await readEstateFacts(gw, listed, input.settings);
  const vaultFacts = material.vaults[vaultName]?.facts;
  const vaultResourceId = vaultFacts?.resourceId;
  // A refusal names the role that would have allowed the read (decided by status, never by wording).
  const readerFix = (status: number | undefined, subscriptionId: string): string | undefined =>
    status === 403 || status === 401
      ? grantRoleFix('subscription', `/subscriptions/${subscriptionId}`)
      : undefined;
  const withFix = (detail: string, fix: string | undefined) => (fix ? sentences(detail, fix) : detail);

  const namespaces = await Promise.all(
    ids.map(async (ns, i): Promise<NamespaceRotationEvidence> => {
      const base = { namespaceId: ns.id, name: ns.name };
      const body = bodies[i]!;
      if (!body.ok)
        return {
          ...base,
          readable: false,
          detail: withFix(body.detail, readerFix(body.status, ns.subscriptionId)),
          listsKey: false,
        };
      const cmk = body.value.cmk;
      const at = cmk.encrypted
        ? cmk.keys.findIndex(
            (k) => k.hostTrusted && k.vaultName === vaultName && k.keyName.toLowerCase() === keyName,
          )
        : -1;
      if (!cmk.encrypted || at < 0) return { ...base, readable: true, listsKey: false };
      const ref = cmk.keys[at]!;
      const assembled = facts[listed.indexOf(body.value)];
      const access = assembled?.keys[at]?.identityHasAccess;
      const sinceDate = new Date(input.namespaces[i]!.since);
      const read = await metrics.requestMetrics(
        ns,
        new Date(sinceDate.getTime() - (now.getTime() - sinceDate.getTime())),
        now,
      );
      return {
        ...base,
        readable: true,
        listsKey: true,
        ...(ref.keyVersion ? { pinnedVersion: ref.keyVersion } : {}),
        ...(access !== undefined ? { identityHasAccess: access } : {}),
        ...(read.ok
          ? { metrics: summariseRequestMetrics(read.value, sinceDate, now) }
          : { metricsUnreadable: withFix(read.detail, readerFix(read.status, ns.subscriptionId)) }),
      };
    }),
  );

  // The key: its current version and the announced one, each by id (two reads, whatever the count of namespaces).
  let key: RotationKeyEvidence = { status: 'notFound', eventVersion: notRead('notFound') };
  if (vaultFacts?.status === 'forbidden' && ids[0])
    key = {
      status: 'forbidden',
      eventVersion: notRead('forbidden'),
      fix: grantRoleFix('subscription', `/subscriptions/${ids[0].subscriptionId}`),
    };
  if (vaultResourceId) {
    const [current, announced] = await Promise.all([
      gw.keyVault.getKeyCurrent(vaultResourceId, input.key.keyName),
      gw.keyVault.getKeyVersion(vaultResourceId, input.key.keyName, input.key.version),
    ]);
    key = {
      status: current.status,
      ...(current.currentVersion ? { currentVersion: current.currentVersion.toLowerCase() } : {}),
      eventVersion: {
        status: announced.status,
        ...(announced.enabled !== undefined ? { enabled: announced.enabled } : {}),
        ...(announced.expiresOn ? { expiresOn: announced.expiresOn } : {}),
        ...(announced.notBefore ? { notBefore: announced.notBefore } : {}),
      },
    };
  }
  return { ok: true, key, namespaces };
});

export interface MoveInput {
  namespaceId: string;
  key: RotatedKey;
  settings: RuleSettings;
}

export type MoveResult = { ok: true; provisioningState?: string } | ActivityFailure;

/**
 * PINNED_VERSION_POLICY=follow: PATCH the namespace's encryption with the pinned reference of this key
 * moved to the new version (the other keys as they are). Re-reads the namespace first, so a reference
 * changed meanwhile is not overwritten with an old view. Idempotent: the same PATCH twice is one state.
 */
export const movePinnedActivity = activity(async (input: MoveInput): Promise<MoveResult> => {
  const gw = cmkGateways(azureClients());
  const ns = parseServiceBusNamespaceId(input.namespaceId);
  const current = await gw.serviceBus.getNamespace(ns);
  if (!current.ok)
    return failureOf({
      ...current,
      ...(current.status === 403
        ? { fix: grantRoleFix('subscription', `/subscriptions/${ns.subscriptionId}`) }
        : {}),
    });
  const encryption = followRotationEncryption(current.value.cmk, input.key, input.key.version);
  if (!encryption)
    return failureOf({
      code: 'NotPinned',
      detail: `Namespace ${ns.name} no longer pins a version of ${input.key.versionlessKeyId}.`,
    });
  const patched = await gw.serviceBus.patchEncryption(ns, encryption);
  if (!patched.ok)
    return failureOf({
      ...patched,
      ...(patched.status === 403 ? { fix: grantRoleFix('namespace', ns.id) } : {}),
    });
  return {
    ok: true,
    ...(patched.value?.provisioningState ? { provisioningState: patched.value.provisioningState } : {}),
  };
});

// ---------------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------------

/** Provisioning polls after a move (the namespace PATCH is quick; 15 s × 40 = 10 min at most). */
export const MOVE_TIMING = { pollSeconds: 15, maxPolls: 40 };

export const confirmRotationOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ConfirmRotationInput>();
  const startedAt = context.df.currentUtcDateTime;
  const pollMs = input.keyPollMinutes * 60_000;
  const deadline = new Date(startedAt.getTime() + input.uptakeDeadlineMinutes * 60_000);
  const namespaces: NamespaceUptake[] = input.namespaceIds.map((id) => ({
    namespaceId: id,
    name: id.split('/').pop() ?? id,
    reference: 'unknown',
    state: 'waiting',
    evidence: ['waiting for the service to poll its keys'],
    since: startedAt.toISOString(),
  }));
  const firstCheck = new Date(startedAt.getTime() + 2 * pollMs);
  const status: ConfirmRotationStatus = {
    state: 'waitingForKeyPoll',
    eventId: input.eventId,
    key: input.key,
    startedAt: startedAt.toISOString(),
    deadline: deadline.toISOString(),
    nextCheckAt: firstCheck.toISOString(),
    checks: 0,
    namespaces,
  };
  const publish = () => context.df.setCustomStatus(status);
  const log = (message: string) => {
    if (!context.df.isReplaying) context.log(`${context.df.instanceId}: ${message}`);
  };
  publish();

  const finish = (error?: OperationError): ConfirmRotationOutput => {
    status.state = 'done';
    delete status.nextCheckAt;
    publish();
    const rest = {
      eventId: status.eventId,
      key: status.key,
      startedAt: status.startedAt,
      deadline: status.deadline,
      checks: status.checks,
      namespaces,
    };
    const count = (s: UptakeState) => namespaces.filter((n) => n.state === s).length;
    const open = count('notConfirmed') + count('moveFailed');
    const outcome: ConfirmRotationOutput['outcome'] = error
      ? 'failed'
      : namespaces.length === 0
        ? 'nothingToConfirm'
        : namespaces.every((n) => n.state === 'superseded')
          ? 'superseded'
          : open === 0 && count('notFollowing') === 0
            ? 'confirmed'
            : open === namespaces.length
              ? 'notConfirmed'
              : 'partial';
    const parts = (
      ['confirmed', 'notFollowing', 'notConfirmed', 'moveFailed', 'superseded', 'notUsingKey'] as const
    )
      .filter((s) => count(s) > 0)
      .map((s) => `${count(s)} ${s}`);
    const summary =
      outcome === 'failed'
        ? `Rotation of ${input.key.versionlessKeyId} to ${input.key.version} could not be confirmed: ${error?.detail ?? ''}`
        : outcome === 'superseded'
          ? `Version ${input.key.version} of ${input.key.versionlessKeyId} is no longer current: nothing to confirm for this event.`
          : `Rotation of ${input.key.versionlessKeyId} to ${input.key.version}: ${parts.join(', ') || 'no namespace uses the key'}.`;
    return { ...rest, outcome, summary, ...(error ? { error } : {}) };
  };

  if (namespaces.length === 0) return finish();

  try {
    yield context.df.createTimer(firstCheck);
    for (;;) {
      const now = context.df.currentUtcDateTime;
      const open = namespaces.filter((n) => !FINAL.has(n.state));
      status.state = 'checking';
      status.checks++;
      publish();
      const read = (yield* callActivity<{
        key: RotationKeyEvidence;
        namespaces: NamespaceRotationEvidence[];
      }>(
        context,
        ROTATION_EVIDENCE_ACTIVITY,
        {
          key: input.key,
          namespaces: open.map((n) => ({ namespaceId: n.namespaceId, since: n.since })),
          now: now.toISOString(),
          settings: input.settings,
        } satisfies EvidenceInput,
        'readEvidence',
      )) as EvidenceResult;
      if (isFailure(read)) {
        // Azure refused a read (or a bug): say so on every open namespace and look again next poll.
        for (const n of open) n.evidence = [`the evidence could not be read: ${read.detail}`];
        log(`evidence read failed (${read.class} ${read.code}): ${read.detail}`);
      } else {
        for (const n of open) {
          const ev = read.namespaces.find((e) => e.namespaceId.toLowerCase() === n.namespaceId.toLowerCase());
          if (!ev) continue;
          n.name = ev.name;
          n.checkedAt = now.toISOString();
          if (ev.listsKey) {
            n.reference = ev.pinnedVersion ? 'pinned' : 'versionless';
            if (ev.pinnedVersion) n.pinnedVersion = ev.pinnedVersion;
            else delete n.pinnedVersion;
          }
          const uptake = judgeUptake(input.key.version, read.key, ev, now);
          n.evidence = uptake.evidence;
          switch (uptake.judgement) {
            case 'confirmed':
              n.state = 'confirmed';
              n.confirmedAt = now.toISOString();
              break;
            case 'superseded':
              n.state = 'superseded';
              break;
            case 'notUsingKey':
              n.state = 'notUsingKey';
              break;
            case 'pinnedElsewhere':
              if (input.pinnedVersionPolicy === 'follow' && n.state !== 'moved') {
                status.state = 'moving';
                publish();
                const moved = yield* movePinned(context, input, n);
                n.state = moved.ok ? 'moved' : 'moveFailed';
                n.evidence = moved.ok
                  ? [
                      `moved from version ${n.pinnedVersion ?? '?'} to ${input.key.version}; confirming uptake`,
                    ]
                  : [`the move to version ${input.key.version} failed: ${moved.detail}`];
                if (moved.ok) n.since = context.df.currentUtcDateTime.toISOString();
                log(`${n.name}: ${n.evidence[0]}`);
              } else {
                n.state = n.state === 'moved' ? 'moveFailed' : 'notFollowing';
              }
              break;
            case 'waiting':
              break;
          }
        }
      }
      const stillOpen = namespaces.filter((n) => !FINAL.has(n.state));
      const at = context.df.currentUtcDateTime;
      if (stillOpen.length === 0 || at.getTime() >= deadline.getTime()) break;
      const next = new Date(Math.min(at.getTime() + pollMs, deadline.getTime()));
      status.state = 'waitingForKeyPoll';
      status.nextCheckAt = next.toISOString();
      publish();
      yield context.df.createTimer(next);
    }
  } catch (error) {
    const failed = asStepFailed(error, 'readEvidence');
    for (const n of namespaces) if (!FINAL.has(n.state)) n.state = 'notConfirmed';
    return finish(operationError(failed));
  }

  const unconfirmed = namespaces.filter((n) => !FINAL.has(n.state));
  for (const n of unconfirmed) {
    n.state = 'notConfirmed';
    log(
      `${n.name}: rotation to ${input.key.version} NOT confirmed by ${deadline.toISOString()}: ${n.evidence.join('; ')}`,
    );
  }
  // The alert: the shared assessment re-reads, evaluates and publishes these namespaces' health (the
  // alert rules fire from the published metrics; never an action group from here).
  const alerted = namespaces.filter((n) => n.state === 'notConfirmed' || n.state === 'moveFailed');
  if (alerted.length) {
    status.state = 'alerting';
    publish();
    try {
      const r = yield* callOrFail<{ assessed: NamespaceHealth[]; calls: number }>(
        context,
        ASSESS_NAMESPACES,
        {
          selector: { namespaceIds: alerted.map((n) => n.namespaceId) },
          reason: `rotation of ${input.key.versionlessKeyId} to ${input.key.version} not confirmed by the deadline`,
          at: context.df.currentUtcDateTime.toISOString(),
        } satisfies AssessInput,
        'alert',
      );
      for (const n of alerted) {
        const h = r.assessed.find((a) => a.namespaceId.toLowerCase() === n.namespaceId.toLowerCase());
        if (h) n.assessedVerdict = h.verdict;
      }
    } catch (error) {
      return finish(operationError(asStepFailed(error, 'alert')));
    }
  }
  return finish();
};

/** Azure's message (which may end in a full stop or not), then the fix. */
const sentences = (detail: string, fix: string): string => `${detail.replace(/\.$/, '')}. ${fix}`;

/** PATCH the pinned reference to the new version, then wait for provisioning to succeed. */
function* movePinned(
  context: OrchestrationContext,
  input: ConfirmRotationInput,
  n: NamespaceUptake,
): Generator<df.Task, { ok: true } | { ok: false; detail: string }, unknown> {
  const r = (yield* callActivity<{ provisioningState?: string }>(
    context,
    MOVE_PINNED_ACTIVITY,
    { namespaceId: n.namespaceId, key: input.key, settings: input.settings } satisfies MoveInput,
    'movePinned',
  )) as MoveResult;
  if (isFailure(r)) return { ok: false, detail: r.fix ? sentences(r.detail, r.fix) : r.detail };
  let state = r.provisioningState;
  for (let poll = 0; state?.toLowerCase() !== 'succeeded'; poll++) {
    if (state?.toLowerCase() === 'failed')
      return { ok: false, detail: 'provisioningState Failed after the PATCH' };
    if (poll >= MOVE_TIMING.maxPolls)
      return { ok: false, detail: `still ${state ?? 'updating'} after the PATCH` };
    if (state !== undefined) yield wait(context, MOVE_TIMING.pollSeconds);
    const ns = (yield* callActivity<{ provisioningState?: string }>(
      context,
      READ_NAMESPACE_ACTIVITY,
      { namespace: parseServiceBusNamespaceId(n.namespaceId) },
      'movePinned',
    )) as { ok: true; provisioningState?: string } | ActivityFailure;
    if (isFailure(ns)) return { ok: false, detail: ns.detail };
    state = ns.provisioningState ?? 'Succeeded';
  }
  return { ok: true };
}
