/**
 * PINNED_VERSION_POLICY=follow end to end: a namespace pinned to the old version of a rotated key is
 * moved to the new version by the app (one PATCH of its encryption, read back from Azure) and then
 * confirmed like the versionless one beside it; CloudEvents 1.0 delivery.
 */
import { startLocalEstate } from '../support/localEstate';
import { ReactionsEstate } from './reactions-support';

const POLL_MIN = 5;
const MINUTE = 60_000;
let e: ReactionsEstate;
let v1: string;

beforeAll(async () => {
  e = await new ReactionsEstate(
    await startLocalEstate({
      env: {
        KEY_POLL_MINUTES: String(POLL_MIN),
        UPTAKE_DEADLINE_MINUTES: '30',
        PINNED_VERSION_POLICY: 'follow',
      },
    }),
  ).setup();
  await e.rotatableVault('kv-follow');
  await e.key('kv-follow', 'cmk');
  v1 = await e.currentVersion('kv-follow', 'cmk');
  await e.cmkNamespace('sb-follow-free', 'kv-follow', 'cmk');
  await e.cmkNamespace('sb-follow-pin', 'kv-follow', 'cmk', v1);
  await e.estate.azure.control('PUT', '/traffic', { defaultRequestsPerMinute: 60 });
  await e.subscribeApp('kv-follow', 'CloudEventSchemaV1_0');
}, 120_000);

afterAll(async () => e?.estate.stop());

it('moves the pinned namespace to the new version (one PATCH) and confirms both', async () => {
  const mark = await e.mark();
  const v2 = await e.rotate('kv-follow', 'cmk');
  let instances = await e.instances('confirmRotation');
  for (let i = 0; i < 100 && instances.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    instances = await e.instances('confirmRotation');
  }
  expect(instances).toHaveLength(1);
  await e.advance(2 * POLL_MIN * MINUTE + MINUTE);
  // The move happened at the first check: exactly one write, the namespace PATCH.
  const writes = await e.appRequests(mark, 'attempted');
  expect(writes.filter((w) => !/monitoring/.test(w.host)).map((w) => `${w.method} ${w.path}`)).toEqual([
    expect.stringMatching(/^PATCH .*namespaces\/sb-follow-pin$/i),
  ]);
  const encryption = (await e.getNamespace('sb-follow-pin')).properties.encryption as {
    keyVaultProperties: Array<{ keyName: string; keyVersion?: string }>;
  };
  expect(encryption.keyVaultProperties).toEqual([
    expect.objectContaining({ keyName: 'cmk', keyVersion: v2 }),
  ]);
  await e.advance(POLL_MIN * MINUTE);
  const op = await e.operationOf<{
    outcome: string;
    namespaces: Array<{ name: string; state: string; reference: string; pinnedVersion?: string }>;
  }>(instances[0]!.instanceId);
  expect(op.output?.outcome).toBe('confirmed');
  expect(op.output?.namespaces.map((n) => [n.name, n.state, n.reference, n.pinnedVersion])).toEqual([
    ['sb-follow-free', 'confirmed', 'versionless', undefined],
    ['sb-follow-pin', 'confirmed', 'pinned', v2],
  ]);
});
