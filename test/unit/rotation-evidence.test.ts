/**
 * Rotation evidence (src/domain/rotation.ts, src/azure/platformMetrics.ts): the metrics API answer read
 * per minute, summed since the rotation against as long before, and the judgement of uptake —
 * each piece of evidence able to withhold confirmation on its own.
 */
import type { Response as MetricsResponse } from '@azure/arm-monitor';
import { requestMetricsFromSdk } from '../../src/azure/platformMetrics';
import {
  followRotationEncryption,
  cmkStateFromEncryption,
  judgeUptake,
  summariseRequestMetrics,
  versionUsable,
  type NamespaceRotationEvidence,
  type RotationKeyEvidence,
} from '../../src/domain';
import { NS_ID, SUFFIX, V1 } from './domain-fixtures';

const V2 = 'fedcba9876543210fedcba9876543210';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const at = (min: number) => new Date(T0 + min * 60_000);

function response(series: Record<string, number[]>, from = -10): MetricsResponse {
  return {
    value: Object.entries(series).map(([name, values]) => ({
      id: `x/${name}`,
      type: 'Microsoft.Insights/metrics',
      name: { value: name },
      unit: 'Count',
      timeseries: [
        {
          data: values.map((v, i) => ({ timeStamp: at(from + i), ...(Number.isNaN(v) ? {} : { total: v }) })),
        },
      ],
    })),
  } as MetricsResponse;
}

describe('request metrics', () => {
  it('reads the three metrics per minute; a minute without a point counts 0; other metrics are ignored', () => {
    const minutes = requestMetricsFromSdk(
      response(
        {
          IncomingRequests: [60, 60],
          SuccessfulRequests: [60, NaN],
          ServerErrors: [0, 60],
          UserErrors: [9, 9],
        },
        0,
      ),
    );
    expect(minutes).toEqual([
      { at: at(0).toISOString(), incoming: 60, successful: 60, serverErrors: 0 },
      { at: at(1).toISOString(), incoming: 60, successful: 0, serverErrors: 60 },
    ]);
  });

  it('sums since the rotation, and the server errors of as long before as the baseline', () => {
    const minutes = requestMetricsFromSdk(
      response({
        IncomingRequests: Array<number>(20).fill(10),
        SuccessfulRequests: Array<number>(20).fill(10),
        ServerErrors: [...Array<number>(9).fill(0), 3, ...Array<number>(10).fill(1)],
      }),
    );
    expect(summariseRequestMetrics(minutes, at(0), at(10))).toEqual({
      from: at(0).toISOString(),
      to: at(10).toISOString(),
      incoming: 100,
      successful: 100,
      serverErrors: 10,
      baselineServerErrors: 3,
    });
  });
});

describe('judgeUptake', () => {
  const key: RotationKeyEvidence = {
    status: 'found',
    currentVersion: V2,
    eventVersion: { status: 'found', enabled: true },
  };
  const ns: NamespaceRotationEvidence = {
    namespaceId: NS_ID,
    name: 'sb-prod-01',
    readable: true,
    listsKey: true,
    identityHasAccess: true,
    metrics: { from: '', to: '', incoming: 10, successful: 10, serverErrors: 0, baselineServerErrors: 0 },
  };
  const judge = (k: Partial<RotationKeyEvidence> = {}, n: Partial<NamespaceRotationEvidence> = {}) =>
    judgeUptake(V2, { ...key, ...k }, { ...ns, ...n }, at(10));

  it('confirms only when every piece holds; each one alone withholds it', () => {
    expect(judge().judgement).toBe('confirmed');
    expect(judge({ eventVersion: { status: 'found', enabled: false } })).toEqual({
      judgement: 'waiting',
      evidence: ['the new version is disabled'],
    });
    expect(judge({}, { identityHasAccess: undefined }).evidence).toEqual([
      "the encryption identity's access could not be read",
    ]);
    expect(judge({}, { metrics: { ...ns.metrics!, serverErrors: 1 } }).judgement).toBe('waiting');
    expect(judge({}, { metrics: { ...ns.metrics!, successful: 0 } }).evidence).toEqual([
      'no successful request since the rotation (10 received)',
    ]);
    expect(judge({}, { metrics: undefined, metricsUnreadable: '403 AuthorizationFailed' }).evidence).toEqual([
      'platform metrics could not be read (403 AuthorizationFailed)',
    ]);
    // No traffic: nothing refutes it, and the evidence says so.
    expect(judge({}, { metrics: { ...ns.metrics!, incoming: 0, successful: 0 } })).toMatchObject({
      judgement: 'confirmed',
    });
  });

  it('superseded, pinned elsewhere, not using the key', () => {
    expect(judge({ currentVersion: V1 }).judgement).toBe('superseded');
    expect(judge({}, { pinnedVersion: V1 }).judgement).toBe('pinnedElsewhere');
    expect(judge({}, { pinnedVersion: V2 }).judgement).toBe('confirmed');
    expect(judge({}, { listsKey: false }).judgement).toBe('notUsingKey');
  });

  it('a version outside its validity window is not usable', () => {
    expect(
      versionUsable({ ...key, eventVersion: { status: 'found', expiresOn: at(5).toISOString() } }, at(10))
        .usable,
    ).toBe(false);
    expect(
      versionUsable({ ...key, eventVersion: { status: 'found', notBefore: at(11).toISOString() } }, at(10))
        .usable,
    ).toBe(false);
    expect(versionUsable({ ...key, eventVersion: { status: 'deleted' } }, at(10)).why).toBe(
      'the new version could not be read (deleted)',
    );
  });

  it('a version Azure refused to show says which role to grant', () => {
    expect(
      versionUsable(
        {
          ...key,
          status: 'forbidden',
          eventVersion: { status: 'forbidden' },
          fix: "The app's identity lacks the role Reader on /subscriptions/s; grant it with: az role assignment create …",
        },
        at(10),
      ),
    ).toEqual({
      usable: false,
      why: "the new version could not be read (forbidden): The app's identity lacks the role Reader on /subscriptions/s; grant it with: az role assignment create …",
    });
  });
});

describe('followRotationEncryption', () => {
  it('moves the pinned reference of that key only, keeping the others and the identity', () => {
    const uai = `/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1`;
    const cmk = cmkStateFromEncryption(
      {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: [
          {
            keyName: 'cmk-1',
            keyVaultUri: `https://kv-prod.${SUFFIX}/`,
            keyVersion: V1,
            userAssignedIdentity: uai,
          },
          { keyName: 'cmk-2', keyVaultUri: `https://kv-prod.${SUFFIX}/`, userAssignedIdentity: uai },
        ],
        requireInfrastructureEncryption: true,
      },
      SUFFIX,
    );
    expect(followRotationEncryption(cmk, { vaultName: 'KV-PROD', keyName: 'cmk-1' }, V2)).toEqual({
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: [
        {
          keyName: 'cmk-1',
          keyVaultUri: `https://kv-prod.${SUFFIX}/`,
          keyVersion: V2,
          identity: { userAssignedIdentity: uai },
        },
        {
          keyName: 'cmk-2',
          keyVaultUri: `https://kv-prod.${SUFFIX}/`,
          identity: { userAssignedIdentity: uai },
        },
      ],
      requireInfrastructureEncryption: true,
    });
    // Not pinned (or not that key): nothing to move.
    expect(followRotationEncryption(cmk, { vaultName: 'kv-prod', keyName: 'cmk-2' }, V2)).toBeUndefined();
  });
});
