/**
 * A snapshot-backed sandbox (what `npm start` uses) keeps Service Bus namespaces, their encryption and
 * Geo-DR state across a restart, and the restarted sandbox resumes each CMK namespace's key poll.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SbHarness } from './servicebus-support';

it('resumes key polls of CMK namespaces after a restart', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'sb-persist-'));
  const first = await SbHarness.start({ stateDir, snapshotFile: 'estate.json' });
  const uri = await first.vault('kv-sb-persist');
  await first.keys('kv-sb-persist').createRsaKey('cmk');
  const ns = await first.namespace('sb-persist', { identity: { type: 'SystemAssigned' } });
  await first.grant('kv-sb-persist', ns.identity!.principalId!);
  await first.sb.namespaces.update(first.rg, 'sb-persist', {
    encryption: {
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: [{ keyName: 'cmk', keyVaultUri: uri }],
    },
  });
  await first.close();

  const second = await SbHarness.start({ stateDir, snapshotFile: 'estate.json' });
  try {
    const again = await second.sb.namespaces.get(second.rg, 'sb-persist');
    expect(again.identity?.principalId).toBe(ns.identity?.principalId);
    expect(again.encryption?.keyVaultProperties?.[0]?.keyName).toBe('cmk');
    expect(await second.operable('sb-persist')).toBe(true);
    await second.keys('kv-sb-persist').updateKeyProperties('cmk', { enabled: false });
    await second.minutes(5);
    expect(await second.operable('sb-persist')).toBe(false);
  } finally {
    await second.close();
  }
});
