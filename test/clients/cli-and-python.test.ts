/**
 * Other clients than ours against the sandbox, unchanged: Debian's Azure CLI 2.45 (`az cloud register` the
 * sandbox cloud, `az login --identity` on an App Service-style identity endpoint) and Debian's Python SDK
 * (python3-azure) run the 2019 article's customer-managed-key procedure and its refusals. Each step asserts
 * Azure's documented outcome — status, error code, the state read back — never only "it did not throw".
 *
 * One sandbox for the whole suite (az takes ~1–2 s to start; steps are sequential and share state). The
 * operator is a principal with Owner on the subscription, reached through its own identity site (the
 * `secret`/X-IDENTITY-HEADER value), as a jump-box App Service's identity would be.
 *
 * Where Debian's CLI itself is broken — `az keyvault key create` imports azure.keyvault.v7_0, which
 * python3-azure does not ship — the step uses `az rest` on the Key Vault REST API instead (asserted below).
 * Needs `az` and /usr/bin/python3 with python3-azure: `.ci/run` installs azure-cli from Debian when missing.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { httpsJson } from '../../sandbox/azure/testing';

const PYTHON = '/usr/bin/python3';
const SUITE_TIMEOUT = 300_000;

let sb: AzureSandbox;
let env: NodeJS.ProcessEnv;
let operator: { objectId: string; clientId: string };
let dir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], timeout = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd: dir, timeout, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `az <words of command> ...extra`: the command's words split on spaces, `extra` passed verbatim. */
const azArgs = (command: string, extra: string[]) => [...command.split(' ').filter(Boolean), ...extra];
const azRun = (command: string, ...extra: string[]) => run('az', azArgs(command, extra));

/** An az command that must succeed; returns its JSON output. */
async function az<T = Record<string, unknown>>(command: string, ...extra: string[]): Promise<T> {
  const r = await run('az', [...azArgs(command, extra), '-o', 'json']);
  if (r.code !== 0) throw new Error(`az ${command} failed (${r.code}):\n${r.stderr}`);
  return (r.stdout.trim() ? JSON.parse(r.stdout) : undefined) as T;
}

/** ARM read-back as the sandbox admin (independent of the client under test). */
async function arm(pathAndQuery: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const token = (await sb.control.token(sb.admin.objectId, 'arm')).access_token;
  const res = await httpsJson(sb, 'GET', `${sb.url}${pathAndQuery}`, { token });
  return { status: res.status, body: res.body as Record<string, unknown> };
}

const rg = (name: string) => `/subscriptions/${sb.subscriptionId}/resourceGroups/${name}`;
const vaultPath = (g: string, v: string) =>
  `${rg(g)}/providers/Microsoft.KeyVault/vaults/${v}?api-version=2023-07-01`;
const nsPath = (g: string, n: string, rest = '') =>
  `${rg(g)}/providers/Microsoft.ServiceBus/namespaces/${n}${rest}?api-version=2024-01-01`;

beforeAll(async () => {
  for (const tool of ['/usr/bin/az', PYTHON]) {
    if (!existsSync(tool))
      throw new Error(
        `${tool} is missing: install Debian's azure-cli (\`.ci/run\` does: apt-get install -y azure-cli)`,
      );
  }
  sb = await startAzureSandbox({ clock: new VirtualClock(Date.UTC(2026, 0, 1)) });
  const op = sb.control.createPrincipal({ displayName: 'operator' });
  operator = { objectId: op.objectId, clientId: op.clientId };
  sb.control.assignRole({
    principalId: op.objectId,
    role: 'Owner',
    scope: `/subscriptions/${sb.subscriptionId}`,
    immediate: true,
  });
  const site = sb.control.identitySite({ systemAssigned: op.objectId });
  dir = mkdtempSync(path.join(tmpdir(), 'cmk-clients-'));
  env = {
    PATH: process.env.PATH,
    HOME: dir,
    ...sb.env,
    // The operator's own site: same endpoint, its own secret for both protocols (sb.env names the app's).
    IDENTITY_HEADER: site.header,
    MSI_SECRET: site.header,
    APPSETTING_WEBSITE_SITE_NAME: 'ops-jumpbox',
    AZURE_CONFIG_DIR: path.join(dir, 'azure'),
    AZURE_CORE_COLLECT_TELEMETRY: 'false',
    AZURE_CORE_SURVEY_MESSAGE: 'false',
    AZURE_CORE_NO_COLOR: 'true',
    // For procedure.py: where it is and how to advance the sandbox's virtual clock.
    SANDBOX_SUBSCRIPTION_ID: sb.subscriptionId,
    SANDBOX_TENANT_ID: sb.tenantId,
    SANDBOX_OPERATOR_OBJECT_ID: op.objectId,
    SANDBOX_ADMIN_SECRET: sb.adminSecret,
  };
}, SUITE_TIMEOUT);
afterAll(async () => {
  await sb?.close();
});

describe('Azure CLI 2.45', () => {
  let vaultUri: string;
  let primaryId: string;
  let secondaryId: string;
  type Vault = { properties: Record<string, unknown> };
  type Policies = {
    properties: { accessPolicies: Array<{ objectId: string; permissions: { keys: string[] } }> };
  };
  type Namespace = { id: string; sku: { name: string }; identity: { type: string; principalId: string } };
  const keysOf = (v: Policies, objectId: string) =>
    v.properties.accessPolicies.find((p) => p.objectId === objectId)?.permissions.keys.sort();

  test(
    'az cloud register discovers the sandbox cloud from its anonymous metadata endpoint',
    async () => {
      const mark = sb.control.mark();
      // The Microsoft Graph resource is not in the 2015-01-01 document az 2.45 reads: --cloud-config names it.
      writeFileSync(
        path.join(dir, 'cloud.json'),
        JSON.stringify({
          endpoints: { resourceManager: sb.url, microsoftGraphResourceId: `${sb.url}/graph/` },
          suffixes: { keyvaultDns: `.${sb.keyVaultDnsSuffix}` },
        }),
      );
      await az('cloud register -n AzureSandbox --cloud-config @cloud.json');
      await az('cloud set -n AzureSandbox');
      const cloud = await az<{
        isActive: boolean;
        endpoints: Record<string, string>;
        suffixes: Record<string, string>;
      }>('cloud show -n AzureSandbox');
      expect(cloud.isActive).toBe(true);
      expect(cloud.endpoints).toMatchObject({
        resourceManager: sb.url,
        activeDirectory: 'https://login.microsoftonline.com/',
        activeDirectoryResourceId: `${sb.url}/`,
        microsoftGraphResourceId: `${sb.url}/graph/`,
      });
      expect(cloud.suffixes.keyvaultDns).toBe('.vault.sandbox.localhost');
      const discovery = sb.control
        .requests({ sinceSeq: mark })
        .filter((r) => r.path === '/metadata/endpoints')
        .map((r) => [r.query, r.status, r.principal]);
      expect(discovery).toEqual([['?api-version=2015-01-01', 200, undefined]]);
    },
    SUITE_TIMEOUT,
  );

  test(
    'az login --identity uses the App Service 2017-09-01 protocol and finds the subscription',
    async () => {
      const mark = sb.control.mark();
      const accounts = await az<Array<Record<string, unknown>>>('login --identity');
      expect(accounts).toEqual([
        expect.objectContaining({
          id: sb.subscriptionId,
          tenantId: sb.tenantId,
          state: 'Enabled',
          user: { assignedIdentityInfo: 'MSI', name: 'systemAssignedIdentity', type: 'servicePrincipal' },
        }),
      ]);
      const calls = sb.control.requests({ sinceSeq: mark });
      const tokens = calls.filter((r) => r.service === 'identity');
      expect(
        tokens.map((r) => [r.query.includes('api-version=2017-09-01'), r.status, r.principal]),
      ).toContainEqual([true, 200, operator.objectId]);
      expect(calls.filter((r) => r.path === '/subscriptions').map((r) => [r.query, r.status])).toEqual([
        ['?api-version=2019-11-01', 200],
      ]);
    },
    SUITE_TIMEOUT,
  );

  test(
    'az keyvault create without --no-self-perms refuses under a managed identity, as in Azure',
    async () => {
      await az('group create -n rg-cli -l westeurope');
      const mark = sb.control.mark();
      const r = await azRun('keyvault create -g rg-cli -n kv-cli -l westeurope');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("Unable to find user with spn 'systemAssignedIdentity'");
      expect(r.stderr).toContain('Cannot create vault.');
      const graph = sb.control
        .requests({ sinceSeq: mark })
        .filter((c) => c.path.startsWith('/graph/'))
        .map((c) => [c.method, c.path, c.status]);
      expect(graph).toEqual([
        ['GET', '/graph/v1.0/me', 400],
        ['GET', '/graph/v1.0/servicePrincipals', 200],
      ]);
      expect((await arm(vaultPath('rg-cli', 'kv-cli'))).status).toBe(404);
    },
    SUITE_TIMEOUT,
  );

  test(
    'vault with soft delete, then az keyvault update turns purge protection on',
    async () => {
      const created = await az<Vault>('keyvault create -g rg-cli -n kv-cli -l westeurope --no-self-perms');
      expect(created.properties).toMatchObject({ enableSoftDelete: true, enablePurgeProtection: null });
      vaultUri = String(created.properties.vaultUri);
      expect(vaultUri).toBe('https://kv-cli.vault.sandbox.localhost/');
      const updated = await az<Vault>('keyvault update -g rg-cli -n kv-cli --enable-purge-protection true');
      expect(updated.properties.enablePurgeProtection).toBe(true);
      const read = await arm(vaultPath('rg-cli', 'kv-cli'));
      expect(read.body.properties).toMatchObject({ enableSoftDelete: true, enablePurgeProtection: true });
    },
    SUITE_TIMEOUT,
  );

  test(
    'a key: az keyvault key create is broken in Debian, so az rest on the Key Vault REST API',
    async () => {
      // -g: az finds a vault without it through GET /subscriptions/{id}/resources, which the sandbox lacks.
      const granted = await az<Policies>(
        `keyvault set-policy -g rg-cli -n kv-cli --object-id ${operator.objectId} --key-permissions get create`,
      );
      expect(keysOf(granted, operator.objectId)).toEqual(['create', 'get']);
      const broken = await azRun('keyvault key create --vault-name kv-cli -n cmk');
      expect(broken.code).not.toBe(0);
      expect(broken.stderr).toContain("No module named 'azure.keyvault.v7_0'");
      const key = await az<{ key: { kid: string; kty: string } }>(
        `rest --method post --url ${vaultUri}keys/cmk/create?api-version=7.4 --resource https://${sb.keyVaultDnsSuffix}`,
        '--body',
        JSON.stringify({ kty: 'RSA', key_size: 2048 }),
      );
      expect(key.key.kty).toBe('RSA');
      expect(key.key.kid).toMatch(/^https:\/\/kv-cli\.vault\.sandbox\.localhost\/keys\/cmk\/[0-9a-f]{32}$/);
      const read = await arm(
        `${rg('rg-cli')}/providers/Microsoft.KeyVault/vaults/kv-cli/keys/cmk?api-version=2023-07-01`,
      );
      expect((read.body.properties as { keyUriWithVersion: string }).keyUriWithVersion).toBe(key.key.kid);
    },
    SUITE_TIMEOUT,
  );

  test(
    'Premium namespace with a system-assigned identity, its access policy, namespace encryption add',
    async () => {
      const ns = await az<Namespace>(
        'servicebus namespace create -g rg-cli -n sb-cli-primary --sku Premium -l westeurope --mi-system-assigned true',
      );
      expect([ns.sku.name, ns.identity.type]).toEqual(['Premium', 'SystemAssigned']);
      primaryId = ns.id;
      await sb.control.advance({ duration: 'PT10M' });
      const policy = await az<Policies>(
        `keyvault set-policy -g rg-cli -n kv-cli --object-id ${ns.identity.principalId} --key-permissions get wrapKey unwrapKey`,
      );
      expect(keysOf(policy, ns.identity.principalId)).toEqual(['get', 'unwrapKey', 'wrapKey']);
      const encrypted = await az<{ encryption: Record<string, unknown> }>(
        'servicebus namespace encryption add -g rg-cli --namespace-name sb-cli-primary --encryption-config key-name=cmk',
        `key-vault-uri=${vaultUri}`,
      );
      expect(encrypted.encryption).toMatchObject({ keySource: 'Microsoft.KeyVault' });
      const read = await arm(nsPath('rg-cli', 'sb-cli-primary'));
      expect((read.body.properties as { encryption: unknown }).encryption).toMatchObject({
        keySource: 'Microsoft.KeyVault',
        // az sends the vault URI without its trailing slash; the RP stores what it was given.
        keyVaultProperties: [{ keyName: 'cmk', keyVaultUri: vaultUri.replace(/\/$/, '') }],
      });
    },
    SUITE_TIMEOUT,
  );

  test(
    'Geo-DR: georecovery-alias set pairs a secondary whose identity can use the key; break-pair',
    async () => {
      const second = await az<Namespace>(
        'servicebus namespace create -g rg-cli -n sb-cli-secondary --sku Premium -l northeurope --mi-system-assigned true',
      );
      secondaryId = second.id;
      await sb.control.advance({ duration: 'PT10M' });
      await az(
        `keyvault set-policy -g rg-cli -n kv-cli --object-id ${second.identity.principalId} --key-permissions get wrapKey unwrapKey`,
      );
      await az(
        `servicebus georecovery-alias set -g rg-cli --namespace-name sb-cli-primary -a sb-cli-alias --partner-namespace ${secondaryId}`,
      );
      await sb.control.advance({ duration: 'PT10M' });
      const alias = (n: string) => arm(nsPath('rg-cli', n, '/disasterRecoveryConfigs/sb-cli-alias'));
      expect((await alias('sb-cli-primary')).body.properties).toMatchObject({
        provisioningState: 'Succeeded',
        role: 'Primary',
        partnerNamespace: secondaryId,
      });
      expect((await alias('sb-cli-secondary')).body.properties).toMatchObject({
        role: 'Secondary',
        partnerNamespace: primaryId,
      });

      await az(
        'servicebus georecovery-alias break-pair -g rg-cli --namespace-name sb-cli-primary -a sb-cli-alias',
      );
      await sb.control.advance({ duration: 'PT10M' });
      expect((await alias('sb-cli-primary')).body.properties).toMatchObject({
        provisioningState: 'Succeeded',
        role: 'PrimaryNotReplicating',
      });
      expect((await alias('sb-cli-secondary')).status).toBe(404);
    },
    SUITE_TIMEOUT,
  );
});

describe('Python SDK (python3-azure), the article procedure and its refusals', () => {
  type Refusal = { error: { status: number; code: string; message: string } | null; encryption: unknown };
  let report: Record<string, unknown> & Record<`refuse${string}`, Refusal>;

  beforeAll(async () => {
    const r = await run(PYTHON, [path.join(__dirname, 'procedure.py')]);
    if (r.code !== 0) throw new Error(`procedure.py failed (${r.code}):\n${r.stderr}`);
    report = JSON.parse(r.stdout) as typeof report;
  }, SUITE_TIMEOUT);

  test('vault: soft delete at creation, purge protection turned on by update; a key on the port-less URI', () => {
    expect(report.vaultCreated).toEqual({
      softDelete: true,
      purgeProtection: null,
      vaultUri: 'https://kv-py.vault.sandbox.localhost/',
    });
    expect(report.vaultUpdated).toEqual({ softDelete: true, purgeProtection: true });
    const key = report.key as { kid: string; kty: string; readBack: string };
    expect(key.kid).toMatch(/^https:\/\/kv-py\.vault\.sandbox\.localhost\/keys\/cmk\/[0-9a-f]{32}$/);
    expect([key.kty, key.readBack]).toEqual(['RSA', key.kid]);
  });

  test('Premium namespace with identity, access policy for it, encryption read back', async () => {
    const ns = report.namespace as { sku: string; identity: string; principalId: string };
    expect([ns.sku, ns.identity]).toEqual(['Premium', 'SystemAssigned']);
    expect(report.accessPolicy).toContainEqual({
      objectId: ns.principalId,
      keys: ['get', 'unwrapKey', 'wrapKey'],
    });
    expect(report.encryption).toEqual({
      keySource: 'Microsoft.KeyVault',
      keys: [['cmk', 'https://kv-py.vault.sandbox.localhost/']],
    });
    const read = await arm(nsPath('rg-py', 'sb-py-primary'));
    expect((read.body.properties as { encryption: unknown }).encryption).toMatchObject({
      keyVaultProperties: [{ keyName: 'cmk', keyVaultUri: 'https://kv-py.vault.sandbox.localhost/' }],
    });
  });

  test('Geo-DR pair with an encrypted primary, then break-pair', () => {
    const nsId = (n: string) => `${rg('rg-py')}/providers/Microsoft.ServiceBus/namespaces/${n}`;
    expect(report.pair).toEqual({
      primary: { provisioningState: 'Succeeded', role: 'Primary', partner: nsId('sb-py-secondary') },
      secondary: { provisioningState: 'Succeeded', role: 'Secondary', partner: nsId('sb-py-primary') },
    });
    const broken = report.breakPair as {
      primary: Record<string, unknown>;
      secondaryStillHasAlias: { status: number; code: string };
    };
    expect(broken.primary).toMatchObject({ provisioningState: 'Succeeded', role: 'PrimaryNotReplicating' });
    expect([broken.secondaryStillHasAlias.status, broken.secondaryStillHasAlias.code]).toEqual([
      404,
      'ResourceNotFound',
    ]);
  });

  test.each([
    ['refuseStandard', /supported only on the Premium tier; the namespace's SKU is 'Standard'/],
    ['refuseQueue', /only be enabled on a new or empty namespace; this namespace contains 1 queue\(s\)/],
    ['refuseNoPurgeProtection', /'kv-py-nopp' must have soft delete and purge protection enabled/],
    ['refuseFourKeys', /between 1 and 3 keys in keyVaultProperties; the request has 4/],
    ['refuseVnetRule', /'kv-py-vnet' has virtual network rules/],
    [
      'refuseNoAccess',
      /cannot use the key 'https:\/\/kv-py\.vault\.sandbox\.localhost\/keys\/cmk'.*ForbiddenByPolicy/,
    ],
  ])('%s: 400 BadRequest with the broken rule, and the namespace stays unencrypted', (step, message) => {
    const outcome = report[step as `refuse${string}`] as Refusal;
    expect(outcome.error).toMatchObject({ status: 400, code: 'BadRequest' });
    expect(outcome.error?.message).toMatch(message);
    expect(outcome.encryption).toBeNull();
  });

  test(
    'Azure CLI reports the same refusal with its code (a namespace with a queue)',
    async () => {
      const r = await azRun(
        'servicebus namespace encryption add -g rg-py --namespace-name sb-py-queue --encryption-config key-name=cmk',
        'key-vault-uri=https://kv-py.vault.sandbox.localhost/',
      );
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/\(BadRequest\) Encryption can only be enabled on a new or empty namespace/);
      const read = await arm(nsPath('rg-py', 'sb-py-queue'));
      expect((read.body.properties as { encryption?: unknown }).encryption).toBeUndefined();
    },
    SUITE_TIMEOUT,
  );
});
