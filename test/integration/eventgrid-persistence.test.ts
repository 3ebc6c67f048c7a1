/**
 * A snapshot-backed sandbox (the CLI's `--snapshot`) keeps system topics and event subscriptions
 * across a restart: after it, a Key Vault operation still reaches the subscription's endpoint.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventGridManagementClient } from '@azure/arm-eventgrid';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { KeyClient } from '@azure/keyvault-keys';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { SandboxCredential, sandboxAgent } from '../../sandbox/azure/testing';
import { fetchJson } from './keyvault-support';
import { startReceiver } from './eventgrid-support';

it('keeps system topics and event subscriptions across a sandbox restart', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'eg-persist-'));
  const clock = new VirtualClock(Date.UTC(2026, 0, 1));
  const rx = await startReceiver(clock);
  const start = () =>
    startAzureSandbox({ clock, stateDir, snapshotFile: 'estate.json', lroRetryAfterSeconds: 0 });
  const clients = (sb: AzureSandbox) => {
    const agent = sandboxAgent(sb);
    const credential = new SandboxCredential(sb, sb.admin.objectId);
    const options = { endpoint: sb.url, agent, retryOptions: { maxRetries: 0 } };
    return {
      agent,
      eg: new EventGridManagementClient(credential, sb.subscriptionId, {
        ...options,
        credentialScopes: [`${sb.url}/.default`],
      }),
      kv: new KeyVaultManagementClient(credential, sb.subscriptionId, options),
      keys: new KeyClient(sb.vaultUri('kv-eg-persist'), credential, {
        agent,
        retryOptions: { maxRetries: 0 },
      }),
    };
  };
  const first = await start();
  const a = clients(first);
  const rg = 'rg-eg-persist';
  await fetchJson(
    first,
    a.agent,
    first.admin.objectId,
    'PUT',
    `/subscriptions/${first.subscriptionId}/resourcegroups/${rg}?api-version=2021-04-01`,
    {
      location: 'westeurope',
    },
  );
  await a.kv.vaults.createOrUpdate(
    rg,
    'kv-eg-persist',
    {
      location: 'westeurope',
      properties: {
        tenantId: first.tenantId,
        sku: { family: 'A', name: 'standard' },
        accessPolicies: [
          { tenantId: first.tenantId, objectId: first.admin.objectId, permissions: { keys: ['all'] } },
        ],
      },
    },
    { updateIntervalInMs: 0 },
  );
  const vaultId = `/subscriptions/${first.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/kv-eg-persist`;
  await a.eg.systemTopics.beginCreateOrUpdateAndWait(
    rg,
    'evgt-persist',
    { location: 'westeurope', source: vaultId, topicType: 'Microsoft.KeyVault.vaults' },
    { updateIntervalInMs: 0 },
  );
  await a.eg.systemTopicEventSubscriptions.beginCreateOrUpdateAndWait(
    rg,
    'evgt-persist',
    'kept',
    { destination: { endpointType: 'WebHook', endpointUrl: rx.url } },
    { updateIntervalInMs: 0 },
  );
  a.agent.destroy();
  await first.close();

  const second = await start();
  const b = clients(second);
  try {
    const sub = await b.eg.systemTopicEventSubscriptions.get(rg, 'evgt-persist', 'kept');
    expect([sub.provisioningState, sub.topic]).toEqual(['Succeeded', vaultId]);
    rx.received.length = 0;
    const key = await b.keys.createRsaKey('after-restart');
    await clock.advanceBy(0);
    expect(rx.notifications().map((n) => (n.body as Array<{ data: { Id: string } }>)[0]!.data.Id)).toEqual([
      key.id,
    ]);
  } finally {
    b.agent.destroy();
    await second.close();
    await rx.close();
  }
});
