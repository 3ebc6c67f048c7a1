/**
 * Key Vault service limits under the sandbox's throttling profile: the 21st software key CREATE within
 * 10 seconds is refused with 429 + Retry-After, and the real SDK retries through it once the clock moves.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyClient } from '@azure/keyvault-keys';
import { isRestError } from '@azure/core-rest-pipeline';
import { startKvHarness, type KvHarness } from './keyvault-support';

let h: KvHarness;
beforeAll(async () => {
  h = await startKvHarness();
});
afterAll(async () => {
  await h.close();
});

it('throttles key creation per vault and the SDK retries after Retry-After', async () => {
  const admin = h.sandbox.admin.objectId;
  await h.arm(admin).vaults.createOrUpdate(
    h.rg,
    'kv-limits',
    {
      location: 'westeurope',
      properties: {
        tenantId: h.sandbox.tenantId,
        sku: { family: 'A', name: 'standard' },
        accessPolicies: [{ tenantId: h.sandbox.tenantId, objectId: admin, permissions: { keys: ['all'] } }],
      },
    },
    { updateIntervalInMs: 0 },
  );
  h.sandbox.control.updateSettings({ throttling: 'azure' });
  const noRetry = h.keys('kv-limits', admin);
  for (let i = 0; i < 20; i++) await noRetry.createEcKey(`k${i}`);
  let refused: unknown;
  try {
    await noRetry.createEcKey('k20');
  } catch (error) {
    refused = error;
  }
  if (!isRestError(refused)) throw new Error('expected the 21st create to be throttled');
  expect(refused.statusCode).toBe(429);
  expect(refused.code).toBe('Throttled');
  expect(refused.response?.headers.get('retry-after')).toBe('1');
  // Reads are a different budget: still fine.
  expect((await noRetry.getKey('k0')).name).toBe('k0');

  // The SDK's retry policy honours Retry-After; the clock moves while it waits.
  const mark = h.sandbox.control.mark();
  const retrying = new KeyClient(h.sandbox.vaultUri('kv-limits'), h.credential(admin), { agent: h.agent });
  const pending = retrying.createEcKey('k21');
  while (!h.sandbox.control.requests({ sinceSeq: mark }).some((r) => r.status === 429)) await sleep(10);
  await h.clock.advanceBy(1000);
  expect((await pending).name).toBe('k21');
  const statuses = h.sandbox.control
    .requests({ sinceSeq: mark, service: 'keyvault', method: 'POST' })
    .map((r) => r.status);
  expect(statuses).toEqual([401, 429, 200]);
});
