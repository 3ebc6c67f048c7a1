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

it('runs a first compliance sweep over the demo estate at start-up and stores its report', async () => {
  const headers = { 'x-functions-key': estate.app.keys.function };
  let op: { runtimeStatus?: string; output?: { summary?: { namespaces: number }; report?: unknown } } = {};
  for (let i = 0; i < 240 && op.runtimeStatus !== 'Completed'; i++) {
    op = (await estate.app.json<typeof op>('/api/operations/complianceSweep', { headers })).body;
    if (op.runtimeStatus !== 'Completed') await new Promise((r) => setTimeout(r, 250));
  }
  expect(op.runtimeStatus).toBe('Completed');
  // The demo estate's 18 namespaces but the one a wall clock cannot build (sb-demo-cmk-rebuilt: a purge takes 7 days).
  expect(op.output?.summary?.namespaces).toBe(17);
  const report = await estate.app.json<{ namespaces: unknown[] }>('/api/compliance/report', { headers });
  expect(report.status).toBe(200);
  expect(report.body.namespaces).toHaveLength(17);
});

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

it('runs the storage account (Azurite): AzureWebJobsStorage reaches a real Blob endpoint with the dead-letter container', async () => {
  const { BlobServiceClient } = await import('@azure/storage-blob');
  const connection = estate.azure.env.AzureWebJobsStorage;
  expect(connection).toMatch(/^DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;/);
  const containers: string[] = [];
  for await (const c of BlobServiceClient.fromConnectionString(connection!).listContainers())
    containers.push(c.name);
  // The sandbox's own container; the app's (cmk-guardian, cmk-reports) appear once npm start's first
  // sweep has stored its index and report, which this test does not wait for.
  expect(containers.filter((c) => !c.startsWith('cmk-'))).toEqual(['eventgrid-deadletter']);
});

it("delivers a Key Vault event of a demo vault to the app's keyVaultEvents function through the demo Event Grid subscription", async () => {
  const { readFileSync } = await import('node:fs');
  const https = await import('node:https');
  const ca = readFileSync(estate.azure.caPath, 'utf8');
  const admin = '00000000-0000-4000-8000-00000000ad01';
  const token = await estate.azure.control<{ access_token: string }>('POST', '/tokens', { objectId: admin });
  const vault = `/subscriptions/${estate.azure.subscriptionId}/resourceGroups/rg-demo-keys/providers/Microsoft.KeyVault/vaults/kv-demo-nopp`;
  const body = JSON.stringify({
    properties: {
      accessPolicies: [{ tenantId: estate.azure.tenantId, objectId: admin, permissions: { keys: ['get'] } }],
    },
  });
  // An access-policy change on the vault is a VaultAccessPolicyChanged event.
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request(
      `${estate.azure.url}${vault}/accessPolicies/replace?api-version=2023-07-01`,
      {
        method: 'PUT',
        ca,
        headers: {
          authorization: `Bearer ${token.body.access_token}`,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  expect(status).toBe(200);
  type Attempt = { subscription: string; eventType: string; status: number; outcome: string };
  let attempts: Attempt[] = [];
  for (let i = 0; i < 50 && attempts.length === 0; i++) {
    const log = await estate.azure.control<{ attempts: Attempt[] }>(
      'GET',
      '/eventgrid/deliveries?subscription=evgt-kv-demo-nopp/eventSubscriptions/cmk-guardian',
    );
    attempts = log.body.attempts;
    if (attempts.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  // The host accepted the system key (401 otherwise) and the app's keyVaultEvents function took the
  // event (202): no indexed namespace uses kv-demo-nopp, so it is acknowledged and ignored.
  expect(attempts.map((a) => [a.eventType, a.status, a.outcome])).toEqual([
    ['Microsoft.KeyVault.VaultAccessPolicyChanged', 202, 'Succeeded'],
  ]);
});
