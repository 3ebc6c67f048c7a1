/**
 * What `npm start` promises in README: the emulated Azure seeded with the demo estate, the app running
 * against it with its own identity. Started as npm start starts it (wall clock, seeded), on free ports.
 */
import { startLocalEstate, type LocalEstate } from '../support/localEstate';

let estate: LocalEstate;

beforeAll(async () => {
  // No --no-seed and a wall clock: exactly the npm start composition, only on free ports.
  estate = await startLocalEstate({ args: ['--clock', 'wall'], seed: true });
}, 120_000);

afterAll(async () => estate?.stop());

it('serves /api/health', async () => {
  const response = await estate.app.json<{ status: string; config: { cloud: string } }>('/api/health');
  expect(response.status).toBe(200);
  expect(response.body).toMatchObject({ status: 'ok', config: { cloud: 'Custom' } });
});

it('seeds two subscriptions the app identity can read', async () => {
  const response = await estate.app.json<{
    status: string;
    subscriptions: Array<{ subscriptionId: string }>;
  }>('/api/health/azure', {
    headers: { 'x-functions-key': estate.app.keys.function },
  });
  expect(response.status).toBe(200);
  expect(response.body.status).toBe('ok');
  expect(response.body.subscriptions).toHaveLength(2);
});

it('seeds the demo namespaces and vaults through the real ARM APIs', async () => {
  const log = await estate.azure.control<
    | { requests?: Array<{ method: string; path: string; status: number }> }
    | Array<{ method: string; path: string; status: number }>
  >('GET', '/requests?method=PUT');
  const entries = Array.isArray(log.body) ? log.body : (log.body.requests ?? []);
  const created = entries.filter((e) => e.status < 300).map((e) => e.path.toLowerCase());
  expect(created.some((p) => p.includes('/microsoft.servicebus/namespaces/sb-demo-cmk-sai'))).toBe(true);
  expect(created.some((p) => p.includes('/microsoft.keyvault/vaults/kv-demo-rbac'))).toBe(true);
  expect(created.some((p) => p.includes('/disasterrecoveryconfigs/sb-demo-alias'))).toBe(true);
});

it('lets a user dry-run an enable on the demo estate with the roles the app was given', async () => {
  const vault = await estate.azure.control<{ status: string }>('GET', '/health');
  expect(vault.status).toBe(200);
  const namespaceId = `/subscriptions/${estate.azure.subscriptionId}/resourceGroups/rg-demo-messaging/providers/Microsoft.ServiceBus/namespaces/sb-demo-premium-empty`;
  const response = await estate.app.json<{
    outcome: string;
    findings: Array<{ ruleId: string; blocks: boolean }>;
  }>('/api/cmk/enable', {
    method: 'POST',
    headers: { 'x-functions-key': estate.app.keys.function, 'content-type': 'application/json' },
    body: JSON.stringify({
      namespaceId,
      keys: [{ keyId: 'https://kv-demo-ap.vault.sandbox.localhost/keys/sb-cmk' }],
      dryRun: true,
    }),
  });
  expect(response.status).toBe(200);
  expect(response.body.outcome).toBe('apply');
  expect(response.body.findings.filter((f) => f.blocks)).toEqual([]);
});
