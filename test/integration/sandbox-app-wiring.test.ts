/**
 * The app's own wiring (src/azure/clients.ts, compiled in dist/) in a separate process configured only
 * through the environment the sandbox hands out (sandbox.env): AZURE_CLOUD=Custom, ARM_ENDPOINT,
 * KEYVAULT_DNS_SUFFIX, IDENTITY_ENDPOINT/HEADER, NODE_EXTRA_CA_CERTS, HTTPS_PROXY/NO_PROXY. No test
 * hooks: the managed identity credential, ARM over HTTPS with the CA from the environment, and the Key
 * Vault data plane at `<vault>.vault.sandbox.localhost` through the sandbox's CONNECT proxy.
 * Needs `npm run build` (npm test builds first), like the e2e suite.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ResourceManagementClient } from '@azure/arm-resources';
import { KeyClient } from '@azure/keyvault-keys';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { armClientOptions, sandboxAgent, SandboxCredential } from '../../sandbox/azure/testing';

const DIST = path.resolve(__dirname, '..', '..', 'dist');
let sb: AzureSandbox;

beforeAll(async () => {
  sb = await startAzureSandbox({ clock: new VirtualClock(Date.UTC(2026, 0, 1)) });
});
afterAll(() => sb.close());

const script = `
const { loadConfig } = require(${JSON.stringify(path.join(DIST, 'src', 'config.js'))});
const { AzureClients } = require(${JSON.stringify(path.join(DIST, 'src', 'azure', 'clients.js'))});
const [sub, rg, vaultName] = process.argv.slice(2);
(async () => {
  const clients = new AzureClients(loadConfig(process.env));
  const out = {};
  const vault = await clients.keyVaultManagement(sub).vaults.get(rg, vaultName);
  out.vaultUri = vault.properties.vaultUri;
  const key = await clients.keys(vault.properties.vaultUri).getKey('cmk');
  out.keyId = key.id;
  try {
    await clients.keys(vault.properties.vaultUri).createKey('other', 'RSA');
  } catch (e) {
    out.createKey = { statusCode: e.statusCode, code: e.code };
  }
  try {
    clients.keys('https://attacker.example.com/');
  } catch (e) {
    out.foreignVault = e.name;
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('the compiled app reaches ARM and a vault with nothing but the sandbox environment', async () => {
  expect(existsSync(path.join(DIST, 'src', 'azure', 'clients.js'))).toBe(true);
  const sub = sb.subscriptionId;
  const admin = new SandboxCredential(sb, sb.admin.objectId);
  await new ResourceManagementClient(admin, sub, armClientOptions(sb)).resourceGroups.createOrUpdate(
    'rg-app',
    { location: 'westeurope' },
  );
  const vault = await new KeyVaultManagementClient(admin, sub, armClientOptions(sb)).vaults.createOrUpdate(
    'rg-app',
    'kv-app-wiring',
    {
      location: 'westeurope',
      properties: {
        tenantId: sb.tenantId,
        sku: { family: 'A', name: 'standard' },
        enableRbacAuthorization: true,
        enablePurgeProtection: true,
      },
    },
    { updateIntervalInMs: 1 },
  );
  const vaultId = vault.id!;
  sb.control.assignRole({ principalId: sb.admin.objectId, role: 'Key Vault Crypto Officer', scope: vaultId });
  const agent = sandboxAgent(sb);
  await new KeyClient(sb.vaultUri('kv-app-wiring'), admin, { agent }).createRsaKey('cmk', { keySize: 2048 });
  agent.destroy();
  // The app identity: ARM read on the group, key read/wrap/unwrap on the vault — nothing more.
  sb.control.assignRole({
    principalId: sb.app.objectId,
    role: 'Reader',
    scope: `/subscriptions/${sub}/resourceGroups/rg-app`,
  });
  sb.control.assignRole({
    principalId: sb.app.objectId,
    role: 'Key Vault Crypto Service Encryption User',
    scope: vaultId,
  });

  const dir = mkdtempSync(path.join(tmpdir(), 'app-wiring-'));
  writeFileSync(path.join(dir, 'run.js'), script);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...sb.env };
  const mark = sb.control.mark();
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      [path.join(dir, 'run.js'), sub, 'rg-app', 'kv-app-wiring'],
      { env, timeout: 30_000 },
      (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
    ),
  );
  const out = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  expect(out.vaultUri).toBe(sb.vaultUri('kv-app-wiring'));
  expect(out.keyId).toMatch(/^https:\/\/kv-app-wiring\.vault\.sandbox\.localhost\/keys\/cmk\/[0-9a-f]{32}$/);
  expect(out.createKey).toMatchObject({ statusCode: 403, code: 'Forbidden' });
  expect(out.foreignVault).toBe('InvalidKeyVaultUrlError');

  // Every call was made as the app's managed identity; the vault calls arrived on the vault host.
  const calls = sb.control.requests({ sinceSeq: mark });
  // One token per audience (the credential caches it): ARM and Key Vault.
  expect(
    calls
      .filter((c) => c.service === 'identity')
      .map((c) => new URLSearchParams(c.query).get('resource'))
      .sort(),
  ).toEqual([sb.url, 'https://vault.sandbox.localhost'].sort());
  const azureCalls = calls.filter(
    (c) => c.service === 'arm' || (c.service === 'keyvault' && c.status !== 401),
  );
  expect(azureCalls.every((c) => c.principal === sb.app.objectId)).toBe(true);
  expect(
    calls.some(
      (c) =>
        c.service === 'keyvault' && c.host === `kv-app-wiring.${sb.keyVaultDnsSuffix}` && c.status === 200,
    ),
  ).toBe(true);
});
