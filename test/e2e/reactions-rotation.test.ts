/**
 * The Key Vault reactions end to end (issue 12 items 3 and 5): `npm start`'s composition on a virtual
 * clock, namespaces enabled through the app, a system topic on their vault delivering to the app's
 * `keyVaultEvents` function, and real Key Vault operations (rotation over the data plane, access
 * policies over ARM). Observed only over HTTP: the app's operations, the host's Durable API (instance
 * counts), the sandbox's request log (what the app called), Event Grid's delivery log.
 *
 *   rotate a key used by 3 versionless + 1 pinned namespaces, plus one whose access was removed before
 *   → 3 confirmed, 1 notFollowing, the one without access notConfirmed at the deadline and assessed
 *   inoperable; the same event delivered 3 times and two rotations delivered out of order → exact
 *   instance counts, the stale one superseded; forged events and alert payloads → no writes, no
 *   instance, no call to any host they name.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startLocalEstate } from '../support/localEstate';
import type { RequestLogEntry } from './enable-cmk-support';
import { ReactionsEstate } from './reactions-support';

const POLL_MIN = 5;
const DEADLINE_MIN = 30;
const MINUTE = 60_000;

let e: ReactionsEstate;
let subscription: string;
let v1: string;
const ns: Record<string, string> = {};

interface Uptake {
  name: string;
  state: string;
  reference: string;
  evidence: string[];
  assessedVerdict?: string;
}
interface RotationOutput {
  outcome: string;
  summary: string;
  namespaces: Uptake[];
}

const byName = (list: Uptake[]) => Object.fromEntries(list.map((n) => [n.name, n.state]));

beforeAll(async () => {
  e = await new ReactionsEstate(
    await startLocalEstate({
      // The app's information lines (ignored events, duplicates) are part of what is checked.
      args: ['--log-level', 'information'],
      env: {
        KEY_POLL_MINUTES: String(POLL_MIN),
        UPTAKE_DEADLINE_MINUTES: String(DEADLINE_MIN),
        PINNED_VERSION_POLICY: 'report',
      },
    }),
  ).setup();
  await e.rotatableVault('kv-rot');
  await e.key('kv-rot', 'cmk');
  v1 = await e.currentVersion('kv-rot', 'cmk');
  for (const name of ['sb-rot-a', 'sb-rot-b', 'sb-rot-c', 'sb-rot-lost'])
    ns[name] = await e.cmkNamespace(name, 'kv-rot', 'cmk');
  ns['sb-rot-pin'] = await e.cmkNamespace('sb-rot-pin', 'kv-rot', 'cmk', v1);
  // sb-rot-lost loses its access before the rotation (as an operator's mistake would).
  await e.arm('PUT', `${e.vaultId('kv-rot')}/accessPolicies/remove?api-version=2023-07-01`, {
    properties: {
      accessPolicies: [
        {
          tenantId: e.estate.azure.tenantId,
          objectId: await e.principalOf('sb-rot-lost'),
          permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
        },
      ],
    },
  });
  // Every namespace serves 60 requests a minute (what the platform metrics then show).
  await e.estate.azure.control('PUT', '/traffic', { defaultRequestsPerMinute: 60 });
  subscription = await e.subscribeApp('kv-rot');
}, 120_000);

afterAll(async () => e?.estate.stop());

async function operation(instanceId: string): Promise<RotationOutput & { done: boolean }> {
  const op = await e.operationOf<RotationOutput>(instanceId);
  return { ...(op.output ?? (op.customStatus as unknown as RotationOutput)), done: op.done };
}

describe('rotation uptake', () => {
  let instanceId: string;
  let mark: number;

  it('a rotation delivered three times starts ONE confirmRotation for the five namespaces', async () => {
    // Event Grid delivers the next KeyNewVersionCreated twice more (at-least-once, on demand).
    for (let i = 0; i < 2; i++)
      await e.estate.azure.control('POST', '/eventgrid/faults', {
        effect: 'duplicate',
        count: 1,
        match: { eventType: 'Microsoft.KeyVault.KeyNewVersionCreated' },
      });
    mark = await e.mark();
    const before = (await e.deliveries(subscription)).attempts.length;
    const v2 = await e.rotate('kv-rot', 'cmk');
    let attempts: Awaited<ReturnType<ReactionsEstate['deliveries']>>['attempts'] = [];
    for (let i = 0; i < 100 && attempts.length < 3; i++) {
      attempts = (await e.deliveries(subscription)).attempts.slice(before);
      if (attempts.length < 3) await new Promise((r) => setTimeout(r, 50));
    }
    expect(attempts.map((a) => [a.eventType, a.status])).toEqual(
      Array(3).fill(['Microsoft.KeyVault.KeyNewVersionCreated', 202]),
    );
    expect(new Set(attempts.map((a) => a.eventId)).size).toBe(1);
    const instances = await e.instances('confirmRotation');
    expect(instances).toHaveLength(1);
    instanceId = instances[0]!.instanceId;
    expect(e.estate.logs.join('\n')).toMatch(/duplicate of confirmRotation/);
    const status = await operation(instanceId);
    expect(status.namespaces.map((n) => n.state)).toEqual(Array(5).fill('waiting'));
    expect(v2).not.toBe(v1);
  });

  it('after two key polls: the 3 versionless namespaces confirmed with evidence, the pinned one reported as not following', async () => {
    await e.advance(2 * POLL_MIN * MINUTE);
    const status = await operation(instanceId);
    expect(byName(status.namespaces)).toEqual({
      'sb-rot-a': 'confirmed',
      'sb-rot-b': 'confirmed',
      'sb-rot-c': 'confirmed',
      'sb-rot-lost': 'waiting',
      'sb-rot-pin': 'notFollowing',
    });
    const a = status.namespaces.find((n) => n.name === 'sb-rot-a')!;
    expect(a.evidence.slice(0, 2)).toEqual([
      'the new version is enabled and valid',
      'the encryption identity can get, wrap and unwrap the key',
    ]);
    // 60 requests a minute, every complete minute since the rotation (9 or 10 of them), all successful.
    const [, ok, of] =
      /^(\d+) of (\d+) requests succeeded since the rotation, ServerErrors 0 \(before: 0\)$/.exec(
        a.evidence[2] ?? '',
      ) ?? [];
    expect(ok).toBe(of);
    expect([540, 600]).toContain(Number(ok));
    const lost = status.namespaces.find((n) => n.name === 'sb-rot-lost')!;
    expect(lost.evidence[0]).toBe(
      'the encryption identity cannot use the key (no access policy get/wrapKey/unwrapKey or CMK role)',
    );
    // Report mode: the app wrote nothing to Azure.
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  });

  it('the namespace that cannot use the key is not confirmed by the deadline and is assessed (and published) inoperable', async () => {
    await e.advance((DEADLINE_MIN - 2 * POLL_MIN) * MINUTE);
    const op = await operation(instanceId);
    expect(op.done).toBe(true);
    expect(op.outcome).toBe('partial');
    const lost = op.namespaces.find((n) => n.name === 'sb-rot-lost')!;
    expect(lost).toMatchObject({ state: 'notConfirmed', assessedVerdict: 'inoperable' });
    expect(op.summary).toMatch(/3 confirmed, 1 notFollowing, 1 notConfirmed/);
    // The deadline's assessment published one sample, for that namespace only — CmkHealthy and
    // CmkAtRisk, one POST per metric (no key expiry: no CmkKeyDaysToExpiry), accepted. (The key watch
    // publishes every namespace each KEY_POLL_MINUTES on the minute; the deadline is not on one.)
    const deadline = new Date(
      (await e.operationOf<{ deadline: string }>(instanceId)).output!.deadline,
    ).toISOString();
    const published = (await e.appRequests(mark)).filter(
      (r: RequestLogEntry & { time?: string }) =>
        r.method === 'POST' && /monitoring/.test(r.host) && r.time === deadline,
    );
    expect(deadline.endsWith(':00.000Z') && Number(deadline.slice(14, 16)) % POLL_MIN === 0).toBe(false);
    expect(published.map((p) => [p.path.toLowerCase(), p.status])).toEqual([
      [`${ns['sb-rot-lost']!.toLowerCase()}/metrics`, 200],
      [`${ns['sb-rot-lost']!.toLowerCase()}/metrics`, 200],
    ]);
  });
});

describe('out of order and stale', () => {
  it('a rotation delivered after a newer one: its confirmation ends superseded, no alarm; the newer one confirms', async () => {
    const subs = (await e.instances('confirmRotation')).length;
    await e.estate.azure.control('POST', '/eventgrid/faults', {
      effect: 'delay',
      delayMs: 2 * MINUTE,
      count: 1,
      match: { eventType: 'Microsoft.KeyVault.KeyNewVersionCreated' },
    });
    const mark = await e.mark();
    const v3 = await e.rotate('kv-rot', 'cmk'); // delivered 2 minutes late
    const v4 = await e.rotate('kv-rot', 'cmk'); // delivered at once
    expect(v3).not.toBe(v4);
    await e.advance(3 * MINUTE);
    const all = await e.instances('confirmRotation');
    expect(all).toHaveLength(subs + 2);
    // The newer one started first.
    const fresh = all.slice(subs);
    await e.advance(2 * POLL_MIN * MINUTE);
    const outputs = await Promise.all(fresh.map((i) => operation(i.instanceId)));
    const stale = outputs.find((o) => o.outcome === 'superseded');
    expect(stale?.namespaces.map((n) => n.state)).toEqual(Array(5).fill('superseded'));
    const current = outputs.find((o) => o !== stale)!;
    expect(byName(current.namespaces)).toMatchObject({
      'sb-rot-a': 'confirmed',
      'sb-rot-b': 'confirmed',
      'sb-rot-c': 'confirmed',
      'sb-rot-pin': 'notFollowing',
    });
    // The stale confirmation assessed nothing (no alert path taken), and nothing was written to Azure
    // (publishes in this window are the key watch's, on the poll minute).
    expect(stale?.namespaces.some((n) => 'assessedVerdict' in n)).toBe(false);
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  });
});

describe('forged and malformed input', () => {
  let seen = 0;
  let server: http.Server;
  let port = 0;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen++;
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => new Promise<void>((r) => server.close(() => r())));

  const forged = (
    id: string,
    data: Record<string, unknown>,
    type = 'Microsoft.KeyVault.KeyNewVersionCreated',
  ) => ({
    id,
    topic: e.vaultId('kv-rot'),
    subject: 'cmk',
    eventType: type,
    eventTime: '2026-01-01T00:00:00Z',
    data: {
      Id: `https://kv-rot.vault.sandbox.localhost/keys/cmk/${'a'.repeat(32)}`,
      VaultName: 'kv-rot',
      ObjectType: 'Key',
      ObjectName: 'cmk',
      Version: 'a'.repeat(32),
      ...data,
    },
    dataVersion: '1',
    metadataVersion: '1',
  });

  it('events naming foreign hosts, other vaults, unindexed keys, wrong types or wrong shapes: acknowledged, nothing started, nothing called', async () => {
    const mark = await e.mark();
    const instances = (await e.instances()).length;
    const batch = [
      forged('f-1', { Id: `https://127.0.0.1:${port}/keys/cmk/${'a'.repeat(32)}` }),
      forged('f-2', { Id: `https://localhost:${port}/keys/cmk/${'a'.repeat(32)}` }),
      forged('f-3', {
        Id: `https://kv-rot.vault.sandbox.localhost.127.0.0.1.nip.io/keys/cmk/${'a'.repeat(32)}`,
      }),
      forged('f-4', { VaultName: 'kv-other' }),
      forged('f-5', {
        Id: `https://kv-unindexed.vault.sandbox.localhost/keys/cmk/${'a'.repeat(32)}`,
        VaultName: 'kv-unindexed',
      }),
      {
        ...forged('f-6', {}),
        topic: e.vaultId('kv-unindexed'),
        data: {
          ...forged('f-6', {}).data,
          VaultName: 'kv-unindexed',
          Id: `https://kv-unindexed.vault.sandbox.localhost/keys/cmk/${'a'.repeat(32)}`,
        },
      },
      forged('f-7', {
        Id: `https://kv-rot.vault.sandbox.localhost/keys/other-key/${'a'.repeat(32)}`,
        ObjectName: 'other-key',
      }),
      forged('f-8', {}, 'Microsoft.KeyVault.SecretNewVersionCreated'),
      forged('f-9', { Version: 42 }),
      forged('f-10', { EXP: 'never' }),
      ...Array.from({ length: 300 }, (_, i) =>
        forged(`f-bulk-${i}`, { Id: `https://127.0.0.1:${port}/keys/cmk/${'b'.repeat(32)}` }),
      ),
    ];
    const r = await e.postWebhook(batch);
    expect(r.status).toBe(202);
    expect((await e.instances()).length).toBe(instances);
    expect(await e.appRequests(mark)).toEqual([]);
    expect(seen).toBe(0);
    const log = e.estate.logs.join('\n');
    expect(log).toMatch(/ignored \(foreignVault\).*f-1/);
    expect(log).toMatch(/ignored \(inconsistent\).*f-4/);
    expect(log).toMatch(/ignored \(notIndexed\).*f-6/);
    expect(log).toMatch(/ignored \(unknownType\).*f-8/);
    expect(log).toMatch(/ignored \(malformed\).*f-9/);
    // A delivery over Event Grid's 1 MB is refused by the host before the app sees it.
    const huge = await e.postWebhook(JSON.stringify(Array(5000).fill(forged('f-huge', {}))));
    expect(huge.status).toBe(413);
    expect((await e.instances()).length).toBe(instances);
  });

  it('forged audit alerts: 400 or ignored, nothing started, nothing called', async () => {
    const mark = await e.mark();
    const instances = (await e.instances()).length;
    const post = (body: unknown) =>
      e.post<{ status?: number; outcome?: string; reason?: string }>('/api/alerts/keyvault-audit', body);
    const essentials = {
      alertId: '/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/forged',
      monitorCondition: 'Fired',
      alertTargetIDs: [e.vaultId('kv-unindexed')],
    };
    expect((await post({ schemaId: 'AzureMonitorMetricAlert', data: {} })).status).toBe(400);
    expect(
      (
        await post({
          schemaId: 'azureMonitorCommonAlertSchema',
          data: { essentials: { ...essentials, alertTargetIDs: 'x' } },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await post({
          schemaId: 'azureMonitorCommonAlertSchema',
          data: {
            essentials: {
              ...essentials,
              alertTargetIDs: [
                `/subscriptions/${e.sub}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st`,
              ],
            },
          },
        })
      ).status,
    ).toBe(400);
    const unindexed = await post({ schemaId: 'azureMonitorCommonAlertSchema', data: { essentials } });
    expect(unindexed).toMatchObject({ status: 200, body: { outcome: 'ignored', reason: 'notIndexed' } });
    const foreignKeys = await post({
      schemaId: 'azureMonitorCommonAlertSchema',
      data: {
        essentials,
        alertContext: {
          SearchResults: {
            tables: [{ columns: [{ name: 'id_s' }], rows: [[`https://127.0.0.1:${port}/keys/cmk`]] }],
          },
        },
      },
    });
    expect(foreignKeys).toMatchObject({ status: 200, body: { outcome: 'ignored', reason: 'notIndexed' } });
    expect((await e.instances()).length).toBe(instances);
    expect(await e.appRequests(mark)).toEqual([]);
    expect(seen).toBe(0);
  });
});

describe('POST /api/alerts/keyvault-audit', () => {
  it('re-assesses the namespaces of the key the alert names, once per firing', async () => {
    const body = {
      schemaId: 'azureMonitorCommonAlertSchema',
      data: {
        essentials: {
          alertId: `/subscriptions/${e.sub}/providers/Microsoft.AlertsManagement/alerts/kv-audit-1`,
          alertRule: 'kv-key-changed',
          monitorCondition: 'Fired',
          firedDateTime: '2026-01-01T02:00:00.000Z',
          alertTargetIDs: [e.vaultId('kv-rot').toLowerCase()],
        },
        alertContext: {
          SearchResults: {
            tables: [
              {
                columns: [{ name: 'OperationName' }, { name: 'id_s' }],
                rows: [['KeyUpdate', e.keyId('kv-rot', 'cmk')]],
              },
            ],
          },
        },
      },
    };
    const first = await e.post<{ id: string; duplicate: boolean; keys: string[] }>(
      '/api/alerts/keyvault-audit',
      body,
    );
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ duplicate: false, keys: [e.keyId('kv-rot', 'cmk')] });
    const again = await e.post<{ id: string; duplicate: boolean }>('/api/alerts/keyvault-audit', body);
    expect(again.body).toEqual(expect.objectContaining({ id: first.body.id, duplicate: true }));
    const op = await e.settle<{
      outcome: string;
      impacts: Array<{ namespaces: Array<{ namespaceId: string; verdict: string }> }>;
    }>(first.body.id);
    expect(op.output?.outcome).toBe('assessed');
    const verdicts = Object.fromEntries(
      op.output!.impacts[0]!.namespaces.map(
        (n) => [n.namespaceId.split('/').pop() ?? '', n.verdict] as const,
      ),
    );
    expect(verdicts).toEqual({
      'sb-rot-a': 'healthy',
      'sb-rot-b': 'healthy',
      'sb-rot-c': 'healthy',
      'sb-rot-lost': 'inoperable',
      'sb-rot-pin': 'healthy',
    });
  });
});

describe('VaultAccessPolicyChanged', () => {
  it("re-verifies every indexed identity's access on the vault: the one whose policy was removed is inoperable, the others healthy", async () => {
    const before = (await e.instances('assessKeyImpact')).length;
    await e.arm('PUT', `${e.vaultId('kv-rot')}/accessPolicies/remove?api-version=2023-07-01`, {
      properties: {
        accessPolicies: [
          {
            tenantId: e.estate.azure.tenantId,
            objectId: await e.principalOf('sb-rot-c'),
            permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
          },
        ],
      },
    });
    let started = await e.instances('assessKeyImpact');
    for (let i = 0; i < 100 && started.length === before; i++) {
      await new Promise((r) => setTimeout(r, 50));
      started = await e.instances('assessKeyImpact');
    }
    expect(started).toHaveLength(before + 1);
    const id = started.find((i) => /^assessKeyImpact-access-/.test(i.instanceId))!.instanceId;
    const op = await e.settle<{
      kind: string;
      impacts: Array<{ subject: string; namespaces: Array<{ namespaceId: string; verdict: string }> }>;
    }>(id);
    expect(op.output?.kind).toBe('VaultAccessPolicyChanged');
    expect(op.output?.impacts.map((i) => i.subject)).toEqual(['vault kv-rot']);
    expect(
      Object.fromEntries(
        op.output!.impacts[0]!.namespaces.map(
          (n) => [n.namespaceId.split('/').pop() ?? '', n.verdict] as const,
        ),
      ),
    ).toEqual({
      'sb-rot-a': 'healthy',
      'sb-rot-b': 'healthy',
      'sb-rot-c': 'inoperable',
      'sb-rot-lost': 'inoperable',
      'sb-rot-pin': 'healthy',
    });
  });
});
