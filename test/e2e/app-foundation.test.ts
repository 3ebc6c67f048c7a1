/**
 * The product's own Function App (package.json "main") on the local host: health, the operations
 * status function, and start-up validation of settings — over HTTP only.
 */
import { ROOT, TEST_KEYS, startHostProcess, type HostProcess } from '../support/hostProcess';

const AG =
  '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ops/providers/Microsoft.Insights/actionGroups/ag-ops';

describe('the Function App on the local host', () => {
  let host: HostProcess;
  beforeAll(async () => {
    host = await startHostProcess({
      app: ROOT,
      env: {
        KEY_EXPIRY_WARNING_DAYS: '45',
        SWEEP_SUBSCRIPTIONS: '*',
        KEY_POLL_MINUTES: '3',
        UPTAKE_DEADLINE_MINUTES: '45',
        PINNED_VERSION_POLICY: 'follow',
        ALERT_RULES: 'managed',
        ALERT_ACTION_GROUP_ID: AG,
      },
    });
  });
  afterAll(async () => host?.stop());

  it('GET /api/health is anonymous and summarises the configuration without secrets', async () => {
    const response = await host.json<Record<string, unknown>>('/api/health');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      status: 'ok',
      name: 'servicebus-cmk-guardian',
      config: {
        cloud: 'AzurePublicCloud',
        resourceManager: 'https://management.azure.com',
        keyVaultDnsSuffix: 'vault.azure.net',
        subscriptions: '*',
        keyExpiryWarningDays: 45,
        sweepSchedule: '0 0 */6 * * *',
        sweepConcurrency: 8,
        reportsContainer: 'cmk-reports',
        keyPollMinutes: 3,
        uptakeDeadlineMinutes: 45,
        pinnedVersionPolicy: 'follow',
        alertRules: 'managed',
        alertActionGroupId: AG,
        alertRulesResourceGroup: null,
        monitoringEndpoint: 'https://{region}.monitoring.azure.com',
      },
    });
    // Only settings a built feature reads: nothing of the sweep schedule or reports yet.
    // Only settings a built feature reads.
    expect(Object.keys(response.body.config as object).sort()).toEqual([
      'alertActionGroupId',
      'alertRules',
      'alertRulesResourceGroup',
      'cloud',
      'deletedKeyCacheMinutes',
      'keyExpiryWarningDays',
      'keyIndexRefreshSchedule',
      'keyPollMinutes',
      'keyVaultDnsSuffix',
      'monitoringEndpoint',
      'pinnedVersionPolicy',
      'reportsContainer',
      'requireInfrastructureEncryption',
      'resourceManager',
      'storage',
      'subscriptions',
      'sweepConcurrency',
      'sweepSchedule',
      'uptakeDeadlineMinutes',
    ]);
    expect(String(response.body.version)).toMatch(/^\d+\.\d+\.\d+/);
    expect(JSON.stringify(response.body)).not.toMatch(/key=|secret|password|AccountKey/i);
  });

  it('GET /api/operations/{id} needs a function key', async () => {
    expect((await host.fetch('/api/operations/abc')).status).toBe(401);
  });

  it('GET /api/operations/{id} answers 404 problem+json for an unknown operation', async () => {
    const response = await host.fetch('/api/operations/does-not-exist', {
      headers: { 'x-functions-key': TEST_KEYS.function },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 404, title: 'Operation not found' });
  });

  it('GET /api/operations/{id} refuses a malformed id with 400 before touching Durable', async () => {
    const response = await host.fetch(`/api/operations/${encodeURIComponent('bad id&x=1')}`, {
      headers: { 'x-functions-key': TEST_KEYS.function },
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ title: 'Invalid operation id' });
  });
});

describe('start-up validation', () => {
  it('refuses to start with a malformed setting and names it', async () => {
    await expect(startHostProcess({ app: ROOT, env: { KEY_EXPIRY_WARNING_DAYS: 'soon' } })).rejects.toThrow(
      /KEY_EXPIRY_WARNING_DAYS must be a whole number \(got "soon"\)/,
    );
  });

  it('refuses a Custom cloud without its endpoints and names each missing one', async () => {
    const failure = startHostProcess({ app: ROOT, env: { AZURE_CLOUD: 'Custom' } });
    await expect(failure).rejects.toThrow(/ARM_ENDPOINT is required when AZURE_CLOUD=Custom/);
    await expect(failure).rejects.toThrow(/KEYVAULT_DNS_SUFFIX is required when AZURE_CLOUD=Custom/);
  });
});

describe('chaos: activities run twice', () => {
  let host: HostProcess;
  beforeAll(async () => {
    host = await startHostProcess({ args: ['--chaos', 'duplicate-activities'] });
  });
  afterAll(async () => host?.stop());

  it('runs every activity twice and records the second result, as an at-least-once redelivery would', async () => {
    const response = await host.json<number>('/api/fixture/run/chaos', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '"k1"',
    });
    expect(response.status).toBe(200);
    expect(response.body).toBe(2);
    expect(host.logs.some((l) => l.includes("[chaos] running activity 'countExecutions' again"))).toBe(true);
  });
});
