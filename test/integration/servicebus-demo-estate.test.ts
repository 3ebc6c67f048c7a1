/**
 * The demo estate `npm start` seeds, checked through the real SDK clients: two subscriptions, the vault
 * and key situations, CMK namespaces that work, a Geo-DR pair, and idempotence on a second call.
 */
import { seedDemoEstate, DEMO_SECOND_SUBSCRIPTION_ID } from '../../sandbox/azure/demoEstate';
import { SbHarness } from './servicebus-support';

let h: SbHarness;

beforeAll(async () => {
  h = await SbHarness.start();
});
afterAll(async () => {
  await h.close();
});

it('seeds the estate once and describes it', async () => {
  const summary = await seedDemoEstate(h.sandbox);
  expect(summary.created).toBe(true);
  expect(summary.subscriptions).toEqual([h.sandbox.subscriptionId, DEMO_SECOND_SUBSCRIPTION_ID]);
  expect(summary.text).toMatch(/kv-demo-nopp \(no purge protection\)/);
  expect(summary.text).toMatch(/sb-demo-premium-busy \(primary\) → sb-demo-premium-dr/);

  const names: string[] = [];
  for await (const n of h.sb.namespaces.list()) names.push(n.name ?? '');
  expect(names).toEqual(
    expect.arrayContaining(['sb-demo-cmk-sai', 'sb-demo-cmk-pinned', 'sb-demo-cmk-uai', 'sb-demo-standard']),
  );
  const second: string[] = [];
  for await (const n of h.serviceBus(h.admin, DEMO_SECOND_SUBSCRIPTION_ID).namespaces.list())
    second.push(n.name ?? '');
  expect(second.sort()).toEqual(['sb-demo-b-cmk', 'sb-demo-b-premium', 'sb-demo-b-standard']);

  const pinned = await h.sb.namespaces.get('rg-demo-messaging', 'sb-demo-cmk-pinned');
  expect(pinned.encryption?.keyVaultProperties?.[0]?.keyVersion).toMatch(/^[0-9a-f]{32}$/);
  const vnet = await h.kv.vaults.get('rg-demo-keys', 'kv-demo-vnet');
  expect(vnet.properties.networkAcls?.virtualNetworkRules).toHaveLength(1);
  expect(
    (await h.kv.vaults.get('rg-demo-keys', 'kv-demo-nopp')).properties.enablePurgeProtection,
  ).toBeFalsy();
  expect((await h.kv.vaults.get('rg-demo-keys', 'kv-demo-rbac')).properties.enableRbacAuthorization).toBe(
    true,
  );

  // The CMK namespaces keep working across key polls; the pair completes on the clock.
  await h.minutes(10);
  for (const n of ['sb-demo-cmk-sai', 'sb-demo-cmk-pinned', 'sb-demo-cmk-uai']) {
    expect(await h.operable(n, 'rg-demo-messaging')).toBe(true);
  }
  // The rule cases: a vault rebuilt from a backup and a firewall that lets trusted services through
  // keep their namespaces working; a firewall without that bypass stops its namespace.
  const operable: Array<[string, boolean]> = [];
  for (const n of [
    'sb-demo-cmk-rebuilt',
    'sb-demo-cmk-fw-trusted',
    'sb-demo-cmk-fw-closed',
    'sb-demo-cmk-geo',
  ])
    operable.push([n, await h.operable(n, 'rg-demo-messaging')]);
  expect(operable).toEqual([
    ['sb-demo-cmk-rebuilt', true],
    ['sb-demo-cmk-fw-trusted', true],
    ['sb-demo-cmk-fw-closed', false],
    ['sb-demo-cmk-geo', true],
  ]);
  expect((await h.kv.vaults.get('rg-demo-keys', 'kv-demo-rebuilt')).properties.enablePurgeProtection).toBe(
    undefined,
  );
  const alias = await h.sb.disasterRecoveryConfigs.get(
    'rg-demo-messaging',
    'sb-demo-premium-dr',
    'sb-demo-alias',
  );
  expect(alias).toMatchObject({ role: 'Secondary', provisioningState: 'Succeeded' });

  expect((await seedDemoEstate(h.sandbox)).created).toBe(false);
});
