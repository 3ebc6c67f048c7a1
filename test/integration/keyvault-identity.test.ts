/**
 * The app's own path to a vault: @azure/identity's ManagedIdentityCredential (App Service style,
 * IDENTITY_ENDPOINT + IDENTITY_HEADER) gets a token for the resource named in Key Vault's 401 challenge,
 * and KeyClient uses it — the same code the Function App runs in Azure.
 */
import { ManagedIdentityCredential } from '@azure/identity';
import { isRestError } from '@azure/core-rest-pipeline';
import { KeyClient } from '@azure/keyvault-keys';
import { startKvHarness, type KvHarness } from './keyvault-support';

let h: KvHarness;
const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };

beforeAll(async () => {
  h = await startKvHarness();
  process.env.IDENTITY_ENDPOINT = h.sandbox.app.identityEndpoint;
  process.env.IDENTITY_HEADER = h.sandbox.app.identityHeader;
});
afterAll(async () => {
  if (saved.endpoint === undefined) delete process.env.IDENTITY_ENDPOINT;
  else process.env.IDENTITY_ENDPOINT = saved.endpoint;
  if (saved.header === undefined) delete process.env.IDENTITY_HEADER;
  else process.env.IDENTITY_HEADER = saved.header;
  await h.close();
});

it('reads keys with the app managed identity once an access policy names it', async () => {
  const admin = h.sandbox.admin.objectId;
  await h.arm(admin).vaults.createOrUpdate(
    h.rg,
    'kv-msi',
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
  await h.keys('kv-msi', admin).createRsaKey('cmk');

  const appKeys = new KeyClient(h.sandbox.vaultUri('kv-msi'), new ManagedIdentityCredential(), {
    agent: h.agent,
    retryOptions: { maxRetries: 0 },
  });
  let refused: unknown;
  try {
    await appKeys.getKey('cmk');
  } catch (error) {
    refused = error;
  }
  expect(isRestError(refused) && refused.statusCode).toBe(403);

  await h.arm(admin).vaults.updateAccessPolicy(h.rg, 'kv-msi', 'add', {
    properties: {
      accessPolicies: [
        {
          tenantId: h.sandbox.tenantId,
          objectId: h.sandbox.app.objectId,
          permissions: { keys: ['get', 'list'] },
        },
      ],
    },
  });
  expect((await appKeys.getKey('cmk')).name).toBe('cmk');
  const log = h.sandbox.control.requests({ service: 'keyvault', principal: h.sandbox.app.objectId });
  expect(log.map((r) => r.status)).toEqual([403, 200]);
});
