/**
 * confirmRotation replayed through the real durable-functions executor with synthetic histories
 * (replay-driver.ts): the evidence each check reads is scripted, so the timing (two key polls, then
 * one per poll until the deadline), the verdict per namespace, the pinned-version policy and the stale
 * event are each pinned down without Azure.
 */
import { ASSESS_NAMESPACES } from '../../src/orchestrations/assess';
import { READ_NAMESPACE_ACTIVITY } from '../../src/orchestrations/enableCmkOrchestrator';
import {
  CONFIRM_ROTATION_ORCHESTRATION,
  MOVE_PINNED_ACTIVITY,
  ROTATION_EVIDENCE_ACTIVITY,
  confirmRotationInstanceId,
  confirmRotationOrchestrator,
  type ConfirmRotationInput,
  type ConfirmRotationOutput,
  type ConfirmRotationStatus,
  type EvidenceInput,
} from '../../src/orchestrations/confirmRotation';
import type { NamespaceRotationEvidence, RotationKeyEvidence } from '../../src/domain';
import { RG, SUB, SUFFIX, V1 } from './domain-fixtures';
import { replay, type Answer, type Call } from './replay-driver';

const V2 = 'fedcba9876543210fedcba9876543210';
const ns = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/${name}`;
const NAMES = ['sb-one-0001', 'sb-two-0002', 'sb-three-003', 'sb-pinned-04'];

const input = (over: Partial<ConfirmRotationInput> = {}): ConfirmRotationInput => ({
  eventId: 'evt-1',
  key: {
    vaultName: 'kv-prod',
    keyName: 'cmk-1',
    version: V2,
    versionlessKeyId: `https://kv-prod.${SUFFIX}/keys/cmk-1`,
  },
  namespaceIds: NAMES.map(ns),
  settings: { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 },
  keyPollMinutes: 5,
  uptakeDeadlineMinutes: 60,
  pinnedVersionPolicy: 'report',
  ...over,
});

const goodKey: RotationKeyEvidence = {
  status: 'found',
  currentVersion: V2,
  eventVersion: { status: 'found', enabled: true },
};
const healthyMetrics = (since: string, now: string) => ({
  from: since,
  to: now,
  incoming: 600,
  successful: 600,
  serverErrors: 0,
  baselineServerErrors: 0,
});

/** Evidence per namespace: healthy versionless unless `tweak` says otherwise. */
function evidence(
  tweak: (name: string, e: NamespaceRotationEvidence, call: EvidenceInput) => NamespaceRotationEvidence = (
    _,
    e,
  ) => e,
  key: RotationKeyEvidence = goodKey,
) {
  return (call: Call): Answer => {
    const i = call.input as EvidenceInput;
    return {
      result: {
        ok: true,
        key,
        namespaces: i.namespaces.map(({ namespaceId, since }) => {
          const name = namespaceId.split('/').pop()!;
          const base: NamespaceRotationEvidence = {
            namespaceId,
            name,
            readable: true,
            listsKey: true,
            identityHasAccess: true,
            ...(name === 'sb-pinned-04' ? { pinnedVersion: V1 } : {}),
            metrics: healthyMetrics(since, i.now),
          };
          return tweak(name, base, i);
        }),
      },
    };
  };
}

function responder(handlers: Partial<Record<string, (call: Call) => Answer>>) {
  return (call: Call): Answer => {
    const h = handlers[call.name];
    if (!h) throw new Error(`unexpected call ${call.name}`);
    return h(call);
  };
}

const run = (i: ConfirmRotationInput, respond: (call: Call) => Answer) =>
  replay(confirmRotationOrchestrator, i, respond, { name: CONFIRM_ROTATION_ORCHESTRATION });
const states = (out: ConfirmRotationOutput) =>
  Object.fromEntries(out.namespaces.map((n) => [n.name, n.state]));

describe('confirmRotation replay', () => {
  it('waits two key polls, then confirms the three versionless namespaces and reports the pinned one as not following', async () => {
    const r = await run(input(), responder({ [ROTATION_EVIDENCE_ACTIVITY]: evidence() }));
    const out = r.state.output as ConfirmRotationOutput;
    expect(r.timers).toEqual([600]);
    expect(r.calls.map((c) => c.name)).toEqual([ROTATION_EVIDENCE_ACTIVITY]);
    expect(states(out)).toEqual({
      'sb-one-0001': 'confirmed',
      'sb-two-0002': 'confirmed',
      'sb-three-003': 'confirmed',
      'sb-pinned-04': 'notFollowing',
    });
    expect(out.outcome).toBe('partial');
    expect(out.summary).toBe(
      `Rotation of https://kv-prod.${SUFFIX}/keys/cmk-1 to ${V2}: 3 confirmed, 1 notFollowing.`,
    );
    const pinned = out.namespaces.find((n) => n.name === 'sb-pinned-04')!;
    expect(pinned).toMatchObject({ reference: 'pinned', pinnedVersion: V1 });
    expect(pinned.evidence[0]).toContain(`pinned to version ${V1}`);
    const one = out.namespaces.find((n) => n.name === 'sb-one-0001')!;
    expect(one).toMatchObject({ reference: 'versionless', confirmedAt: '2026-06-01T00:10:00.000Z' });
    expect(one.evidence).toEqual([
      'the new version is enabled and valid',
      'the encryption identity can get, wrap and unwrap the key',
      '600 of 600 requests succeeded since the rotation, ServerErrors 0 (before: 0)',
    ]);
    // customStatus showed the wait before the first check.
    expect(r.statuses[0]).toMatchObject({
      state: 'waitingForKeyPoll',
      nextCheckAt: '2026-06-01T00:10:00.000Z',
      deadline: '2026-06-01T01:00:00.000Z',
    } satisfies Partial<ConfirmRotationStatus>);
    // The evidence read is asked at the orchestration's time, from the rotation on.
    expect(r.calls[0]!.input).toMatchObject({ now: '2026-06-01T00:10:00.000Z' });
    expect((r.calls[0]!.input as EvidenceInput).namespaces[0]).toEqual({
      namespaceId: ns('sb-one-0001'),
      since: '2026-06-01T00:00:00.000Z',
    });
  });

  it('PINNED_VERSION_POLICY=follow: moves the pinned namespace (PATCH), waits for provisioning, confirms it from the move on', async () => {
    let checks = 0;
    const r = await run(
      input({ pinnedVersionPolicy: 'follow' }),
      responder({
        [ROTATION_EVIDENCE_ACTIVITY]: (call) => {
          checks++;
          return evidence((name, e) =>
            name === 'sb-pinned-04' && checks > 1 ? { ...e, pinnedVersion: V2 } : e,
          )(call);
        },
        [MOVE_PINNED_ACTIVITY]: () => ({ result: { ok: true, provisioningState: 'Updating' } }),
        [READ_NAMESPACE_ACTIVITY]: () => ({
          result: { ok: true, provisioningState: 'Succeeded', cmk: { encrypted: true } },
        }),
      }),
    );
    const out = r.state.output as ConfirmRotationOutput;
    expect(r.calls.map((c) => c.name)).toEqual([
      ROTATION_EVIDENCE_ACTIVITY,
      MOVE_PINNED_ACTIVITY,
      READ_NAMESPACE_ACTIVITY,
      ROTATION_EVIDENCE_ACTIVITY,
    ]);
    // 10 min to the first check, 15 s provisioning poll, then one key poll before confirming the moved one.
    expect(r.timers).toEqual([600, 15, 300]);
    expect(states(out)).toEqual({
      'sb-one-0001': 'confirmed',
      'sb-two-0002': 'confirmed',
      'sb-three-003': 'confirmed',
      'sb-pinned-04': 'confirmed',
    });
    expect(out.outcome).toBe('confirmed');
    // The second check reads only the moved namespace, with the metrics measured from the move.
    expect((r.calls[3]!.input as EvidenceInput).namespaces).toEqual([
      { namespaceId: ns('sb-pinned-04'), since: '2026-06-01T00:10:15.000Z' },
    ]);
    expect(r.calls[1]!.input).toMatchObject({ namespaceId: ns('sb-pinned-04'), key: { version: V2 } });
  });

  it('a namespace whose identity lost access is looked at every poll, notConfirmed at the deadline and handed to the shared assessment (the alert path)', async () => {
    const assessed: unknown[] = [];
    const r = await run(
      input({ namespaceIds: NAMES.slice(0, 3).map(ns) }),
      responder({
        [ROTATION_EVIDENCE_ACTIVITY]: evidence((name, e, call) =>
          name === 'sb-two-0002'
            ? {
                ...e,
                identityHasAccess: false,
                metrics: {
                  ...healthyMetrics(e.metrics!.from, call.now),
                  successful: 0,
                  serverErrors: 600,
                  baselineServerErrors: 300,
                },
              }
            : e,
        ),
        [ASSESS_NAMESPACES]: (call) => {
          assessed.push(call.input);
          return {
            result: {
              ok: true,
              calls: 4,
              assessed: [
                {
                  namespaceId: ns('sb-two-0002'),
                  verdict: 'inoperable',
                  ruleIds: ['CMK-010'],
                  usableKeyIds: [],
                  keyIds: [],
                  findings: [],
                },
              ],
            },
          };
        },
      }),
    );
    const out = r.state.output as ConfirmRotationOutput;
    // First check at 10 min, then every 5 min until the 60-minute deadline: 11 checks.
    expect(r.timers).toEqual([600, ...Array<number>(10).fill(300)]);
    expect(r.calls.map((c) => c.name)).toEqual([
      ...Array<string>(11).fill(ROTATION_EVIDENCE_ACTIVITY),
      ASSESS_NAMESPACES,
    ]);
    expect(out.checks).toBe(11);
    expect(r.calls.slice(1, 11).every((c) => (c.input as EvidenceInput).namespaces.length === 1)).toBe(true);
    expect(assessed).toEqual([
      {
        selector: { namespaceIds: [ns('sb-two-0002')] },
        reason: `rotation of https://kv-prod.${SUFFIX}/keys/cmk-1 to ${V2} not confirmed by the deadline`,
        at: '2026-06-01T01:00:00.000Z',
      },
    ]);
    expect(out.namespaces.find((n) => n.name === 'sb-two-0002')).toMatchObject({
      state: 'notConfirmed',
      assessedVerdict: 'inoperable',
    });
    expect(states(out)).toEqual({
      'sb-one-0001': 'confirmed',
      'sb-two-0002': 'notConfirmed',
      'sb-three-003': 'confirmed',
    });
    expect(out.namespaces.find((n) => n.name === 'sb-two-0002')!.evidence).toEqual([
      'the encryption identity cannot use the key (no access policy get/wrapKey/unwrapKey or CMK role)',
      'ServerErrors rose since the rotation (600 vs 300 in as long before)',
    ]);
    expect(out.outcome).toBe('partial');
    expect(r.logs.join('\n')).toContain('sb-two-0002: rotation to');
  });

  it('a stale event (a newer version is current): every namespace superseded after one check, no alarm', async () => {
    const r = await run(
      input({ key: { ...input().key, version: V1 } }),
      responder({ [ROTATION_EVIDENCE_ACTIVITY]: evidence(undefined, { ...goodKey, currentVersion: V2 }) }),
    );
    const out = r.state.output as ConfirmRotationOutput;
    expect(r.calls).toHaveLength(1);
    expect(out.outcome).toBe('superseded');
    expect(new Set(Object.values(states(out)))).toEqual(new Set(['superseded']));
    expect(out.summary).toBe(
      `Version ${V1} of https://kv-prod.${SUFFIX}/keys/cmk-1 is no longer current: nothing to confirm for this event.`,
    );
  });

  it('a platform fault that outlasts the retries ends the operation as a failed, 503-class error', async () => {
    const r = await run(
      input(),
      responder({ [ROTATION_EVIDENCE_ACTIVITY]: () => ({ throws: '503 ServiceUnavailable' }) }),
    );
    const out = r.state.output as ConfirmRotationOutput;
    expect(r.calls.map((c) => c.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(out.outcome).toBe('failed');
    expect(out.error).toMatchObject({ class: 'platform', status: 503, code: 'PlatformFault' });
  });

  it('one instance id per key version, whatever the casing', () => {
    const a = confirmRotationInstanceId({
      vaultName: 'KV-Prod',
      keyName: 'CMK-1',
      version: V2.toUpperCase(),
    });
    expect(a).toBe(confirmRotationInstanceId({ vaultName: 'kv-prod', keyName: 'cmk-1', version: V2 }));
    expect(a).toMatch(/^confirmRotation-[0-9a-f]{32}$/);
    expect(a).not.toBe(confirmRotationInstanceId({ vaultName: 'kv-prod', keyName: 'cmk-1', version: V1 }));
  });
});
