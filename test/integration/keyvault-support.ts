/**
 * Shared setup for the Key Vault integration tests: an in-process sandbox on a virtual clock with the
 * Key Vault provider, a resource group, and helpers that build the REAL SDK clients for a principal.
 */
import type { Agent } from 'node:https';
import type { TokenCredential } from '@azure/core-auth';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { KeyClient } from '@azure/keyvault-keys';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { KeyVaultProvider } from '../../sandbox/azure/keyvault';
import { SandboxCredential, sandboxAgent } from '../../sandbox/azure/testing';

export interface KvHarness {
  sandbox: AzureSandbox;
  clock: VirtualClock;
  provider: KeyVaultProvider;
  agent: Agent;
  rg: string;
  /** A token credential for a sandbox principal (the control API mints tokens like an app registration). */
  credential(objectId: string): TokenCredential;
  arm(objectId: string): KeyVaultManagementClient;
  keys(vaultName: string, objectId: string): KeyClient;
  principal(name: string): string;
  close(): Promise<void>;
}

export async function startKvHarness(): Promise<KvHarness> {
  const clock = new VirtualClock(Date.UTC(2026, 0, 1));
  const sandbox = await startAzureSandbox({ clock, lroRetryAfterSeconds: 0 });
  // The Key Vault provider is one of the sandbox's default providers (providers.ts).
  const provider = sandbox.core.providers.find((p): p is KeyVaultProvider => p instanceof KeyVaultProvider);
  if (!provider) throw new Error('the sandbox runs without the Key Vault provider');
  // Vault hosts live under the sandbox's DNS suffix: the core's test agent resolves them to the sandbox
  // (the app gets the same effect from the sandbox's CONNECT proxy) and trusts the sandbox CA.
  const agent = sandboxAgent(sandbox);
  const rg = 'rg-kv';
  const admin = sandbox.admin.objectId;
  await fetchJson(
    sandbox,
    agent,
    admin,
    'PUT',
    `/subscriptions/${sandbox.subscriptionId}/resourcegroups/${rg}?api-version=2021-04-01`,
    {
      location: 'westeurope',
    },
  );

  const credential = (objectId: string): TokenCredential => new SandboxCredential(sandbox, objectId);
  return {
    sandbox,
    clock,
    provider,
    agent,
    rg,
    credential,
    arm: (objectId) =>
      new KeyVaultManagementClient(credential(objectId), sandbox.subscriptionId, {
        endpoint: sandbox.url,
        agent,
        retryOptions: { maxRetries: 0 },
      }),
    keys: (vaultName, objectId) =>
      new KeyClient(sandbox.vaultUri(vaultName), credential(objectId), {
        agent,
        retryOptions: { maxRetries: 0 },
      }),
    principal: (name) => sandbox.control.createPrincipal({ displayName: name }).objectId,
    close: async () => {
      agent.destroy();
      await sandbox.close();
    },
  };
}

/** A plain HTTPS request to the sandbox as a principal (no SDK), for seeding and wire-shape checks. */
export async function fetchJson(
  sandbox: AzureSandbox,
  agent: Agent,
  objectId: string | undefined,
  method: string,
  pathOrUrl: string,
  body?: unknown,
  resource: string = 'arm',
): Promise<{ status: number; body: unknown; headers: Record<string, string | string[] | undefined> }> {
  const { request } = await import('node:https');
  const url = new URL(pathOrUrl, sandbox.url);
  const token = objectId ? (await sandbox.control.token(objectId, resource)).access_token : undefined;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            body: text ? (JSON.parse(text) as unknown) : undefined,
            headers: res.headers,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
