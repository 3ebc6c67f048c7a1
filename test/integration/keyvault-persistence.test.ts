/**
 * A snapshot-backed sandbox (what `npm start` uses) keeps vaults and keys across a restart: the same
 * key version unwraps what it wrapped before, and the rotation policy still runs on the clock.
 */
import { mkdtempSync } from 'node:fs';
import type { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { SandboxCredential, sandboxAgent } from '../../sandbox/azure/testing';
import { fetchJson } from './keyvault-support';

const DAY = 86_400_000;

function clientsFor(sandbox: AzureSandbox): { agent: Agent; credential: TokenCredential } {
  return { agent: sandboxAgent(sandbox), credential: new SandboxCredential(sandbox, sandbox.admin.objectId) };
}

it('keeps vaults and keys across a sandbox restart', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'kv-persist-'));
  const start = Date.UTC(2026, 0, 1);
  const first = await startAzureSandbox({
    clock: new VirtualClock(start),
    stateDir,
    snapshotFile: 'estate.json',
    lroRetryAfterSeconds: 0,
  });
  const a = clientsFor(first);
  const sub = first.subscriptionId;
  await fetchJson(
    first,
    a.agent,
    first.admin.objectId,
    'PUT',
    `/subscriptions/${sub}/resourcegroups/rg-p?api-version=2021-04-01`,
    {
      location: 'westeurope',
    },
  );
  const arm = new KeyVaultManagementClient(a.credential, sub, { endpoint: first.url, agent: a.agent });
  await arm.vaults.createOrUpdate(
    'rg-p',
    'kv-persist',
    {
      location: 'westeurope',
      properties: {
        tenantId: first.tenantId,
        sku: { family: 'A', name: 'standard' },
        enablePurgeProtection: true,
        accessPolicies: [
          { tenantId: first.tenantId, objectId: first.admin.objectId, permissions: { keys: ['all'] } },
        ],
      },
    },
    { updateIntervalInMs: 0 },
  );
  const keys = new KeyClient(first.vaultUri('kv-persist'), a.credential, { agent: a.agent });
  const key = await keys.createRsaKey('cmk');
  await keys.updateKeyRotationPolicy('cmk', {
    lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P30D' }],
  });
  const cek = randomBytes(32);
  const wrapped = await new CryptographyClient(key.id ?? '', a.credential, { agent: a.agent }).wrapKey(
    'RSA-OAEP-256',
    cek,
  );
  a.agent.destroy();
  await first.close();

  const clock = new VirtualClock(start + DAY);
  const second = await startAzureSandbox({
    clock,
    stateDir,
    snapshotFile: 'estate.json',
    lroRetryAfterSeconds: 0,
  });
  try {
    const b = clientsFor(second);
    const vault = await new KeyVaultManagementClient(b.credential, sub, {
      endpoint: second.url,
      agent: b.agent,
    }).vaults.get('rg-p', 'kv-persist');
    expect(vault.properties.enablePurgeProtection).toBe(true);
    // The vault URI names the new port; the key is the same one.
    const keys2 = new KeyClient(second.vaultUri('kv-persist'), b.credential, { agent: b.agent });
    const again = await keys2.getKey('cmk');
    expect(again.properties.version).toBe(key.properties.version);
    const crypto = new CryptographyClient(again.id ?? '', b.credential, { agent: b.agent });
    expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', wrapped.result)).result).equals(cek)).toBe(
      true,
    );
    await clock.advanceBy(30 * DAY);
    expect((await keys2.getKey('cmk')).properties.version).not.toBe(key.properties.version);
    b.agent.destroy();
  } finally {
    await second.close();
  }
});
