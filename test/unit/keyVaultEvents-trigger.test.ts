/**
 * The Event Grid trigger's decision and start rule (src/functions/keyVaultEvents.ts): which reaction an
 * event starts and under which id, what is ignored and why, and that a duplicate — of a running or of
 * a finished reaction — starts nothing.
 */
import { loadConfig } from '../../src/config';
import { cmkStateFromEncryption, type KeyIndex } from '../../src/domain';
import {
  decideKeyVaultEvent,
  startOnce,
  type OrchestrationStarter,
} from '../../src/functions/keyVaultEvents';
import { confirmRotationInstanceId } from '../../src/orchestrations/confirmRotation';
import { RG, SUB, SUFFIX, V1, vaultId } from './domain-fixtures';

const config = loadConfig({
  KEY_POLL_MINUTES: '5',
  UPTAKE_DEADLINE_MINUTES: '30',
  PINNED_VERSION_POLICY: 'follow',
});
const nsId = (n: string) =>
  `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/${n}`;
const ns = (name: string, keyVersion?: string) => ({
  id: nsId(name),
  subscriptionId: SUB,
  resourceGroup: RG,
  name,
  identity: { systemAssigned: { principalId: `p-${name}` }, userAssigned: [] },
  cmk: cmkStateFromEncryption(
    {
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: [
        {
          keyName: 'cmk-1',
          keyVaultUri: `https://kv-prod.${SUFFIX}/`,
          ...(keyVersion ? { keyVersion } : {}),
        },
      ],
    },
    SUFFIX,
  ),
});
const index: KeyIndex = {
  version: 1,
  builtAt: '2026-06-01T00:00:00Z',
  subscriptions: [{ subscriptionId: SUB, status: 'listed' }],
  namespaces: [ns('sb-alpha-01'), ns('sb-beta-002', V1)],
};
const V2 = 'fedcba9876543210fedcba9876543210';

const event = (type: string, over: Record<string, unknown> = {}) => ({
  id: 'evt-1',
  topic: vaultId('kv-prod'),
  subject: 'cmk-1',
  eventType: `Microsoft.KeyVault.${type}`,
  eventTime: '2026-06-01T00:00:00Z',
  data: {
    Id: `https://kv-prod.${SUFFIX}/keys/cmk-1/${V2}`,
    VaultName: 'kv-prod',
    ObjectType: 'Key',
    ObjectName: 'cmk-1',
    Version: V2,
    ...over,
  },
  dataVersion: '1',
});

// The unit tests run against the public cloud suffix (vault.azure.net).
const cfg = { ...config, endpoints: { ...config.endpoints, keyVaultDnsSuffix: SUFFIX } };

describe('decideKeyVaultEvent', () => {
  it('KeyNewVersionCreated → confirmRotation for every indexed namespace of the key, id from key + version, settings carried', () => {
    const d = decideKeyVaultEvent(event('KeyNewVersionCreated'), index, cfg);
    expect(d).toMatchObject({
      action: 'start',
      orchestration: 'confirmRotation',
      instanceId: confirmRotationInstanceId({ vaultName: 'kv-prod', keyName: 'cmk-1', version: V2 }),
      namespaces: 2,
      input: {
        eventId: 'evt-1',
        namespaceIds: [nsId('sb-alpha-01'), nsId('sb-beta-002')],
        keyPollMinutes: 5,
        uptakeDeadlineMinutes: 30,
        pinnedVersionPolicy: 'follow',
      },
    });
    // Another event id for the same version (a second subscription, a re-publish) is the same instance.
    const again = decideKeyVaultEvent({ ...event('KeyNewVersionCreated'), id: 'evt-2' }, index, cfg);
    expect(again.action === 'start' && again.instanceId).toBe(d.action === 'start' && d.instanceId);
  });

  it('near expiry, expiry and access changes → assessKeyImpact, by key + version or by event id', () => {
    const near = decideKeyVaultEvent(event('KeyNearExpiry'), index, cfg);
    const expired = decideKeyVaultEvent(event('KeyExpired'), index, cfg);
    const access = decideKeyVaultEvent(
      event('VaultAccessPolicyChanged', {
        Id: `https://kv-prod.${SUFFIX}/`,
        ObjectType: 'Vault',
        ObjectName: 'kv-prod',
        Version: '',
      }),
      index,
      cfg,
    );
    expect([near, expired, access].map((d) => d.action === 'start' && d.instanceId)).toEqual([
      expect.stringMatching(/^assessKeyImpact-nearExpiry-[0-9a-f]{32}$/),
      expect.stringMatching(/^assessKeyImpact-expired-[0-9a-f]{32}$/),
      expect.stringMatching(/^assessKeyImpact-access-[0-9a-f]{32}$/),
    ]);
    expect(access).toMatchObject({
      input: { kind: 'VaultAccessPolicyChanged', keys: [], vaults: ['kv-prod'] },
    });
    expect(near).toMatchObject({
      input: { kind: 'KeyNearExpiry', keys: [{ keyName: 'cmk-1', version: V2 }], vaults: [] },
    });
  });

  it('ignores, with the reason: no index yet, a key no namespace uses, a forged host, another type', () => {
    const reason = (raw: unknown, idx: KeyIndex | null = index) => {
      const d = decideKeyVaultEvent(raw, idx ?? undefined, cfg);
      return d.action === 'ignore' ? d.reason : d.action;
    };
    expect(reason(event('KeyNewVersionCreated'), null)).toBe('noIndex');
    expect(
      reason(
        event('KeyNewVersionCreated', {
          Id: `https://kv-prod.${SUFFIX}/keys/cmk-9/${V2}`,
          ObjectName: 'cmk-9',
        }),
      ),
    ).toBe(
      'inconsistent', // subject still says cmk-1
    );
    expect(
      reason({
        ...event('KeyNewVersionCreated', {
          Id: `https://kv-prod.${SUFFIX}/keys/cmk-9/${V2}`,
          ObjectName: 'cmk-9',
        }),
        subject: 'cmk-9',
      }),
    ).toBe('notIndexed');
    expect(
      reason(event('KeyNewVersionCreated', { Id: `https://kv-prod.evil.example/keys/cmk-1/${V2}` })),
    ).toBe('foreignVault');
    expect(reason(event('SecretNearExpiry'))).toBe('unknownType');
  });
});

describe('startOnce', () => {
  const client = (existing: Set<string>, failStart = false) => {
    const started: string[] = [];
    const c: OrchestrationStarter = {
      getStatus: async (id) => (existing.has(id) ? { runtimeStatus: 'Completed' } : undefined),
      startNew: async (_name, { instanceId }) => {
        if (failStart) throw new Error('409 conflict');
        started.push(instanceId);
        existing.add(instanceId);
        return instanceId;
      },
    };
    return { c, started };
  };

  it('starts an id once; a duplicate of a running or finished one starts nothing', async () => {
    const ids = new Set<string>();
    const { c, started } = client(ids);
    expect(await startOnce(c, 'confirmRotation', 'x', {})).toBe('started');
    expect(await startOnce(c, 'confirmRotation', 'x', {})).toBe('duplicate');
    expect(started).toEqual(['x']);
  });

  it('a lost race (the start refused because the other delivery just started it) is a duplicate; any other failure is thrown', async () => {
    const racing = new Set<string>();
    let calls = 0;
    const c: OrchestrationStarter = {
      getStatus: async (id) => (calls++ > 0 && racing.has(id) ? { runtimeStatus: 'Running' } : undefined),
      startNew: async (_n, { instanceId }) => {
        racing.add(instanceId);
        throw new Error('An instance with ID already exists');
      },
    };
    expect(await startOnce(c, 'confirmRotation', 'y', {})).toBe('duplicate');
    const { c: broken } = client(new Set(), true);
    await expect(startOnce(broken, 'confirmRotation', 'z', {})).rejects.toThrow('409 conflict');
  });
});
