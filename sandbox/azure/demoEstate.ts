/**
 * The demo estate `npm start` seeds: the situations the product must recognise, built through the
 * sandbox's own REST APIs as the administrator (so every Azure rule applies to the seed too):
 *
 * - 2 subscriptions;
 * - vaults with and without purge protection, one RBAC and one access-policy vault, one with a virtual
 *   network rule;
 * - keys including one near expiry and one pinned by a namespace (rotated since);
 * - Premium and Standard namespaces, empty and non-empty, CMK with system- and user-assigned identities;
 * - a Geo-DR pair;
 * - one namespace (or pair) per compliance rule the above does not show (`RULE_CASES`): a deleted key
 *   (CMK-002), a vault rebuilt without purge protection (CMK-007, virtual clock only: its first vault
 *   must be purged, which takes the 7-day retention), two firewalled vaults — trusted services allowed
 *   and not (CMK-009) —, a Geo-DR partner whose access was revoked (CMK-012), a resource group that
 *   requires infrastructure encryption with one namespace that has it and one that has not (CMK-013,
 *   with REQUIRE_INFRASTRUCTURE_ENCRYPTION = demoRegulatedScope), a key shared across the two
 *   subscriptions, and a vault of a third subscription the app holds no role on (for a "could not
 *   assess" case; nothing in the seed uses it). Their keys have an expiry and a
 *   rotation policy, so CMK-014 stays on the original three CMK namespaces.
 *
 * The infra wiring (roles, Event Grid, diagnostic settings, alerts) is not seeded here: `npm start`
 * applies it from infra/ (sandbox/infra/demo.ts), as a deployment would.
 *
 * Idempotent: with a snapshot store the estate survives restarts, and a second call only reports it.
 * The second subscription is added when the sandbox was started with one; pass `DEMO_SUBSCRIPTIONS` to
 * `startAzureSandbox` so `SWEEP_SUBSCRIPTIONS` lists both from the start.
 */
import { VirtualClock } from '../clock';
import { DEFAULT_SUBSCRIPTION_ID, type AzureSandbox } from './index';
import { httpsJson } from './testing';

export const DEMO_SECOND_SUBSCRIPTION_ID = '00000000-0000-4000-8000-000000000002';
export const DEMO_SUBSCRIPTIONS = [
  { subscriptionId: DEFAULT_SUBSCRIPTION_ID, displayName: 'Sandbox subscription' },
  { subscriptionId: DEMO_SECOND_SUBSCRIPTION_ID, displayName: 'Sandbox subscription 2' },
];

/** A subscription of the demo holding only a vault; the app is given no role on it (infra/roles.json). */
export const DEMO_SECURITY_SUBSCRIPTION_ID = '00000000-0000-4000-8000-000000000003';

/** The resource group whose namespaces must have infrastructure encryption (REQUIRE_INFRASTRUCTURE_ENCRYPTION). */
export const demoRegulatedScope = (subscriptionId: string): string =>
  `/subscriptions/${subscriptionId}/resourceGroups/rg-demo-regulated`;

export interface DemoEstateSummary {
  subscriptions: string[];
  vaults: string[];
  keys: string[];
  namespaces: string[];
  pairs: string[];
  /** False when the estate was already there (snapshot) and nothing was created. */
  created: boolean;
  /** What to print. */
  text: string;
}

const DAY = 86_400_000;
const SB_API = '2021-11-01';
const KV_ARM_API = '2023-07-01';
const KV_API = '7.4';

type Sandbox = Pick<
  AzureSandbox,
  | 'url'
  | 'port'
  | 'caPem'
  | 'keyVaultDnsSuffix'
  | 'control'
  | 'core'
  | 'clock'
  | 'tenantId'
  | 'admin'
  | 'vaultUri'
>;

export async function seedDemoEstate(sandbox: Sandbox): Promise<DemoEstateSummary> {
  const admin = sandbox.admin.objectId;
  const subA = sandbox.core.options.subscriptions[0]?.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID;
  const subB = ensureSecondSubscription(sandbox, subA);
  const rgKeys = `/subscriptions/${subA}/resourceGroups/rg-demo-keys`;
  const rgMsg = `/subscriptions/${subA}/resourceGroups/rg-demo-messaging`;
  const rgB = `/subscriptions/${subB}/resourceGroups/rg-demo-b`;
  const ns = (rg: string, name: string) => `${rg}/providers/Microsoft.ServiceBus/namespaces/${name}`;
  const vaultId = (rg: string, name: string) => `${rg}/providers/Microsoft.KeyVault/vaults/${name}`;

  const request = async (
    method: string,
    url: string,
    body?: unknown,
    resource: 'arm' | 'keyvault' = 'arm',
  ): Promise<Record<string, unknown>> => {
    const token = (await sandbox.control.token(admin, resource)).access_token;
    const res = await httpsJson(sandbox, method, url, { token, ...(body === undefined ? {} : { body }) });
    if (res.status >= 400) throw new Error(`demo estate: ${method} ${url} → ${res.status} ${res.text}`);
    return (res.body ?? {}) as Record<string, unknown>;
  };
  const arm = (method: string, path: string, api: string, body?: unknown) =>
    request(method, `${sandbox.url}${path}?api-version=${api}`, body);
  const kv = (vault: string, path: string, body?: unknown, method = 'POST') =>
    request(method, `${sandbox.vaultUri(vault)}${path}?api-version=${KV_API}`, body, 'keyvault');

  const summary: DemoEstateSummary = {
    subscriptions: [subA, subB],
    vaults: [],
    keys: [],
    namespaces: [],
    pairs: [],
    created: true,
    text: '',
  };
  const marker = sandbox.core.store.get('serviceBusNamespaces', ns(rgMsg, 'sb-demo-cmk-sai'));
  if (marker) {
    summary.created = false;
    summary.text = `Demo estate already present (subscriptions ${subA}, ${subB}); nothing seeded.`;
    return summary;
  }

  for (const rg of [rgKeys, rgMsg, rgB]) await arm('PUT', rg, '2021-04-01', { location: 'westeurope' });
  const rgRegulated = demoRegulatedScope(subA);
  await arm('PUT', rgRegulated, '2021-04-01', { location: 'westeurope' });
  const policyFor = (objectId: string, keys: string[]) => ({
    tenantId: sandbox.tenantId,
    objectId,
    permissions: { keys },
  });
  const CMK_PERMISSIONS = ['get', 'wrapKey', 'unwrapKey'];
  const ROTATION_POLICY = {
    lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Rotate' } }],
    attributes: { expiryTime: 'P1Y' },
  };

  // CMK-007 first (it moves the clock, so every relative date below is taken after it): a namespace
  // encrypted while its vault had purge protection; the vault was deleted, purged by Key Vault after
  // its 7-day retention, rebuilt under the same name WITHOUT purge protection and the key restored
  // from its backup (same versions, so Service Bus keeps working). Service Bus checks purge protection
  // only when encryption is set, so this is the one way a CMK namespace ends up on such a vault. Only a
  // virtual clock can skip the retention; on the wall clock (plain npm start) this case is left out.
  if (sandbox.clock instanceof VirtualClock) {
    const name = 'kv-demo-rebuilt';
    const id = vaultId(rgKeys, name);
    const props = (purgeProtection: boolean, extra: Array<Record<string, unknown>>) => ({
      location: 'westeurope',
      properties: {
        tenantId: sandbox.tenantId,
        sku: { family: 'A', name: 'standard' },
        softDeleteRetentionInDays: 7,
        ...(purgeProtection ? { enablePurgeProtection: true } : {}),
        accessPolicies: [policyFor(admin, ['all']), ...extra],
      },
    });
    await arm('PUT', id, KV_ARM_API, props(true, []));
    await kv(name, 'keys/cmk/create', {
      kty: 'RSA',
      key_size: 2048,
      attributes: { exp: Math.floor((sandbox.clock.now() + 400 * DAY) / 1000) },
    });
    await kv(name, 'keys/cmk/rotationpolicy', ROTATION_POLICY, 'PUT');
    const backup = String((await kv(name, 'keys/cmk/backup')).value);
    const nsId = ns(rgMsg, 'sb-demo-cmk-rebuilt');
    const made = await arm('PUT', nsId, SB_API, {
      location: 'westeurope',
      sku: { name: 'Premium', tier: 'Premium', capacity: 1 },
      identity: { type: 'SystemAssigned' },
    });
    const principal = String((made.identity as { principalId?: string } | undefined)?.principalId);
    await arm('PUT', `${id}/accessPolicies/add`, KV_ARM_API, {
      properties: { accessPolicies: [policyFor(principal, CMK_PERMISSIONS)] },
    });
    await arm('PATCH', nsId, SB_API, {
      properties: {
        encryption: {
          keySource: 'Microsoft.KeyVault',
          keyVaultProperties: [{ keyName: 'cmk', keyVaultUri: sandbox.vaultUri(name) }],
        },
      },
    });
    await arm('DELETE', id, KV_ARM_API);
    await sandbox.clock.advanceBy(7 * DAY + 60_000);
    await arm('PUT', id, KV_ARM_API, props(false, [policyFor(principal, CMK_PERMISSIONS)]));
    await kv(name, 'keys/restore', { value: backup });
    // The next key poll finds the key again: the namespace serves before anything else is seeded.
    await sandbox.clock.advanceBy(6 * 60_000);
    summary.vaults.push(`${name} (rebuilt after a purge, no purge protection)`);
    summary.keys.push(`${name}/cmk (restored from a backup)`);
    summary.namespaces.push('sb-demo-cmk-rebuilt (Premium, CMK on a vault rebuilt without purge protection)');
  }

  // ── vaults ──
  const vault = async (
    rg: string,
    name: string,
    opts: { purgeProtection: boolean; rbac: boolean; vnetRule?: boolean },
    note: string,
  ) => {
    await arm('PUT', vaultId(rg, name), KV_ARM_API, {
      location: 'westeurope',
      properties: {
        tenantId: sandbox.tenantId,
        sku: { family: 'A', name: 'standard' },
        enableRbacAuthorization: opts.rbac,
        ...(opts.purgeProtection ? { enablePurgeProtection: true } : {}),
        ...(opts.vnetRule
          ? {
              networkAcls: {
                defaultAction: 'Deny',
                bypass: 'AzureServices',
                // The administrator's own address keeps the seed able to create keys.
                ipRules: [{ value: '127.0.0.1' }],
                virtualNetworkRules: [
                  {
                    id: `${rg}/providers/Microsoft.Network/virtualNetworks/vnet-demo/subnets/default`,
                  },
                ],
              },
            }
          : {}),
        accessPolicies: opts.rbac
          ? []
          : [{ tenantId: sandbox.tenantId, objectId: admin, permissions: { keys: ['all'] } }],
      },
    });
    if (opts.rbac) {
      sandbox.control.assignRole({
        principalId: admin,
        role: 'Key Vault Crypto Officer',
        scope: vaultId(rg, name),
      });
    }
    summary.vaults.push(`${name} (${note})`);
  };
  await vault(
    rgKeys,
    'kv-demo-ap',
    { purgeProtection: true, rbac: false },
    'access policies, purge protection',
  );
  await vault(rgKeys, 'kv-demo-rbac', { purgeProtection: true, rbac: true }, 'RBAC, purge protection');
  await vault(rgKeys, 'kv-demo-nopp', { purgeProtection: false, rbac: false }, 'no purge protection');
  await vault(
    rgKeys,
    'kv-demo-vnet',
    { purgeProtection: true, rbac: false, vnetRule: true },
    'virtual network rule',
  );
  await vault(rgB, 'kv-demo-b', { purgeProtection: true, rbac: false }, `subscription 2, access policies`);

  // ── keys ──
  const now = sandbox.clock.now();
  const key = async (v: string, name: string, note: string, exp?: number): Promise<string> => {
    const created = await kv(v, `keys/${name}/create`, {
      kty: 'RSA',
      key_size: 2048,
      ...(exp ? { attributes: { exp: Math.floor(exp / 1000) } } : {}),
    });
    summary.keys.push(`${v}/${name} (${note})`);
    return String((created.key as { kid?: string } | undefined)?.kid ?? '')
      .split('/')
      .pop()!;
  };
  await key('kv-demo-ap', 'sb-cmk', 'versionless, expires in 1 year', now + 365 * DAY);
  await key('kv-demo-ap', 'sb-cmk-near-expiry', 'expires in 10 days', now + 10 * DAY);
  const pinnedV1 = await key('kv-demo-ap', 'sb-cmk-pinned', 'pinned by sb-demo-cmk-pinned, rotated since');
  await kv('kv-demo-ap', 'keys/sb-cmk-pinned/rotate');
  await key('kv-demo-rbac', 'sb-cmk-uai', 'used through a user-assigned identity');
  await key('kv-demo-nopp', 'cmk', 'in a vault without purge protection');
  await key('kv-demo-vnet', 'cmk', 'in a vault with a VNet rule');
  await key('kv-demo-b', 'cmk', 'subscription 2');

  // ── identities and grants ──
  const uaiId = `${rgKeys}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-demo-sb-cmk`;
  const uai = await arm('PUT', uaiId, '2023-01-31', { location: 'westeurope' });
  const uaiPrincipal = String((uai.properties as { principalId?: string }).principalId);
  sandbox.control.assignRole({
    principalId: uaiPrincipal,
    role: 'Key Vault Crypto Service Encryption User',
    scope: vaultId(rgKeys, 'kv-demo-rbac'),
  });
  const grantPolicy = (rg: string, v: string, objectId: string) =>
    arm('PUT', `${vaultId(rg, v)}/accessPolicies/add`, KV_ARM_API, {
      properties: {
        accessPolicies: [
          { tenantId: sandbox.tenantId, objectId, permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] } },
        ],
      },
    });

  // ── namespaces ──
  const premium = { name: 'Premium', tier: 'Premium', capacity: 1 };
  const standard = { name: 'Standard', tier: 'Standard' };
  const namespace = async (
    id: string,
    body: Record<string, unknown>,
    note: string,
  ): Promise<Record<string, unknown>> => {
    const created = await arm('PUT', id, SB_API, { location: 'westeurope', ...body });
    summary.namespaces.push(`${id.split('/').pop()} (${note})`);
    return created;
  };
  const principalOf = (n: Record<string, unknown>) =>
    String((n.identity as { principalId?: string } | undefined)?.principalId);
  const encrypt = (id: string, keys: Array<Record<string, unknown>>) =>
    arm('PATCH', id, SB_API, {
      properties: { encryption: { keySource: 'Microsoft.KeyVault', keyVaultProperties: keys } },
    });
  const entities = async (id: string, queues: string[], topics: string[]) => {
    for (const q of queues) await arm('PUT', `${id}/queues/${q}`, SB_API, { properties: {} });
    for (const t of topics) await arm('PUT', `${id}/topics/${t}`, SB_API, { properties: {} });
  };
  const apUri = sandbox.vaultUri('kv-demo-ap');

  // CMK with the system-assigned identity: a versionless key and a near-expiry one (two keys).
  const sai = ns(rgMsg, 'sb-demo-cmk-sai');
  const saiNs = await namespace(
    sai,
    { sku: premium, identity: { type: 'SystemAssigned' } },
    'Premium, CMK (system identity, 2 keys incl. near expiry)',
  );
  await grantPolicy(rgKeys, 'kv-demo-ap', principalOf(saiNs));
  await encrypt(sai, [
    { keyName: 'sb-cmk', keyVaultUri: apUri },
    { keyName: 'sb-cmk-near-expiry', keyVaultUri: apUri },
  ]);
  await entities(sai, ['orders'], []);

  // CMK pinned to the first version of a key that was rotated since.
  const pinned = ns(rgMsg, 'sb-demo-cmk-pinned');
  const pinnedNs = await namespace(
    pinned,
    { sku: premium, identity: { type: 'SystemAssigned' } },
    'Premium, CMK pinned to an old key version',
  );
  await grantPolicy(rgKeys, 'kv-demo-ap', principalOf(pinnedNs));
  await encrypt(pinned, [{ keyName: 'sb-cmk-pinned', keyVaultUri: apUri, keyVersion: pinnedV1 }]);

  // CMK with a user-assigned identity on the RBAC vault, set at creation.
  await namespace(
    ns(rgMsg, 'sb-demo-cmk-uai'),
    {
      sku: premium,
      identity: { type: 'UserAssigned', userAssignedIdentities: { [uaiId]: {} } },
      properties: {
        encryption: {
          keySource: 'Microsoft.KeyVault',
          keyVaultProperties: [
            {
              keyName: 'sb-cmk-uai',
              keyVaultUri: sandbox.vaultUri('kv-demo-rbac'),
              identity: { userAssignedIdentity: uaiId },
            },
          ],
        },
      },
    },
    'Premium, CMK (user-assigned identity, RBAC vault)',
  );

  // Candidates and non-candidates for CMK.
  await namespace(
    ns(rgMsg, 'sb-demo-premium-empty'),
    { sku: premium, identity: { type: 'SystemAssigned' } },
    'Premium, empty, no CMK',
  );
  const busy = ns(rgMsg, 'sb-demo-premium-busy');
  await namespace(busy, { sku: premium }, 'Premium, queues and a topic, Geo-DR primary');
  await entities(busy, ['orders', 'payments'], ['events']);
  const dr = ns(rgMsg, 'sb-demo-premium-dr');
  await namespace(dr, { sku: premium }, 'Premium, Geo-DR secondary');
  await arm('PUT', `${busy}/disasterRecoveryConfigs/sb-demo-alias`, SB_API, {
    properties: { partnerNamespace: dr },
  });
  summary.pairs.push('sb-demo-alias: sb-demo-premium-busy (primary) → sb-demo-premium-dr (secondary)');
  const std = ns(rgMsg, 'sb-demo-standard');
  await namespace(std, { sku: standard }, 'Standard, one queue');
  await entities(std, ['legacy'], []);

  // Subscription 2.
  await namespace(
    ns(rgB, 'sb-demo-b-premium'),
    { sku: premium, identity: { type: 'SystemAssigned' } },
    'subscription 2, Premium, empty',
  );
  const stdB = ns(rgB, 'sb-demo-b-standard');
  await namespace(stdB, { sku: standard }, 'subscription 2, Standard, one topic');
  await entities(stdB, [], ['notifications']);

  // ── one namespace per rule the estate above does not show (each key clean: expiry + rotation policy) ──
  const cleanKey = async (v: string, name: string, note: string): Promise<void> => {
    await key(v, name, note, now + 365 * DAY);
    await kv(v, `keys/${name}/rotationpolicy`, ROTATION_POLICY, 'PUT');
  };
  const cmkNamespace = async (
    id: string,
    vault: { rg: string; name: string },
    keyName: string,
    note: string,
    options: { infra?: boolean } = {},
  ): Promise<string> => {
    const made = await namespace(id, { sku: premium, identity: { type: 'SystemAssigned' } }, note);
    const principal = principalOf(made);
    await grantPolicy(vault.rg, vault.name, principal);
    await arm('PATCH', id, SB_API, {
      properties: {
        encryption: {
          keySource: 'Microsoft.KeyVault',
          keyVaultProperties: [{ keyName, keyVaultUri: sandbox.vaultUri(vault.name) }],
          ...(options.infra ? { requireInfrastructureEncryption: true } : {}),
        },
      },
    });
    return principal;
  };
  const ap = { rg: rgKeys, name: 'kv-demo-ap' };
  await cleanKey(
    'kv-demo-ap',
    'sb-cmk-managed',
    'expiry and rotation policy; 4 namespaces in 2 subscriptions',
  );

  // CMK-002: the namespace's only key was deleted (soft-deleted, recoverable). Its own vault, which
  // infra's wiring (audit log, Event Grid) does not cover: Service Bus's failing polls would keep the
  // demo's audit alert fired from the start.
  await vault(rgKeys, 'kv-demo-del', { purgeProtection: true, rbac: false }, 'its only key deleted');
  await cleanKey('kv-demo-del', 'cmk', 'deleted after sb-demo-cmk-deleted-key was encrypted with it');
  await cmkNamespace(
    ns(rgMsg, 'sb-demo-cmk-deleted-key'),
    { rg: rgKeys, name: 'kv-demo-del' },
    'cmk',
    'Premium, CMK, its key deleted since',
  );
  await request(
    'DELETE',
    `${sandbox.vaultUri('kv-demo-del')}keys/cmk?api-version=${KV_API}`,
    undefined,
    'keyvault',
  );

  // CMK-009: two vaults that deny by default, with no address of the app allowed; one lets trusted
  // services (Service Bus) through, the other does not. The firewall closes after the key and the
  // encryption were set (Service Bus would refuse the second while it is closed).
  for (const [name, bypass] of [
    ['kv-demo-fw-trusted', 'AzureServices'],
    ['kv-demo-fw-closed', 'None'],
  ] as const) {
    await vault(rgKeys, name, { purgeProtection: true, rbac: false }, `firewall: deny, bypass ${bypass}`);
    await cleanKey(name, 'cmk', `behind the firewall of ${name}`);
    const nsName = name === 'kv-demo-fw-trusted' ? 'sb-demo-cmk-fw-trusted' : 'sb-demo-cmk-fw-closed';
    await cmkNamespace(
      ns(rgMsg, nsName),
      { rg: rgKeys, name },
      'cmk',
      `Premium, CMK, vault firewall bypass ${bypass}`,
    );
    await arm('PATCH', vaultId(rgKeys, name), KV_ARM_API, {
      properties: { networkAcls: { defaultAction: 'Deny', bypass, ipRules: [], virtualNetworkRules: [] } },
    });
  }

  // CMK-012: a CMK primary paired with a secondary whose identity was granted (so the pairing
  // succeeded) and whose access policy was removed since: a failover would leave it unable to unwrap.
  const geo = ns(rgMsg, 'sb-demo-cmk-geo');
  await cmkNamespace(geo, ap, 'sb-cmk-managed', 'Premium, CMK, Geo-DR primary');
  const geoDr = ns(rgMsg, 'sb-demo-cmk-geo-dr');
  const geoDrPrincipal = principalOf(
    await namespace(
      geoDr,
      { sku: premium, identity: { type: 'SystemAssigned' } },
      'Premium, Geo-DR secondary of sb-demo-cmk-geo, its key access removed',
    ),
  );
  await grantPolicy(rgKeys, 'kv-demo-ap', geoDrPrincipal);
  await arm('PUT', `${geo}/disasterRecoveryConfigs/sb-demo-geo-alias`, SB_API, {
    properties: { partnerNamespace: geoDr },
  });
  await arm('PUT', `${vaultId(rgKeys, 'kv-demo-ap')}/accessPolicies/remove`, KV_ARM_API, {
    properties: { accessPolicies: [policyFor(geoDrPrincipal, CMK_PERMISSIONS)] },
  });
  summary.pairs.push('sb-demo-geo-alias: sb-demo-cmk-geo (primary, CMK) → sb-demo-cmk-geo-dr (secondary)');

  // CMK-013: the regulated resource group requires infrastructure encryption; one namespace has it.
  await cmkNamespace(
    ns(rgRegulated, 'sb-demo-regulated-double'),
    ap,
    'sb-cmk-managed',
    'Premium, CMK with infrastructure encryption, regulated group',
    { infra: true },
  );
  await cmkNamespace(
    ns(rgRegulated, 'sb-demo-regulated-single'),
    ap,
    'sb-cmk-managed',
    'Premium, CMK without infrastructure encryption, regulated group',
  );

  // Subscription 2 shares sb-cmk-managed (a vault of subscription 1): one key, namespaces in two subscriptions.
  await cmkNamespace(
    ns(rgB, 'sb-demo-b-cmk'),
    ap,
    'sb-cmk-managed',
    'subscription 2, Premium, CMK (key in subscription 1)',
  );

  // A vault (and key) in a third subscription the app holds no role on. No demo namespace uses it: a
  // key the app can never find is searched for in every visible subscription on every key-watch
  // cycle, and those generic list calls would interleave with the fault matrix's call sites. The sweep
  // e2e points a namespace at it ("could not assess").
  const subC = ensureSecuritySubscription(sandbox);
  const rgSec = `/subscriptions/${subC}/resourceGroups/rg-demo-security`;
  await arm('PUT', rgSec, '2021-04-01', { location: 'westeurope' });
  await vault(
    rgSec,
    'kv-demo-sec',
    { purgeProtection: true, rbac: false },
    'subscription 3, no role for the app',
  );
  await cleanKey('kv-demo-sec', 'cmk', 'in a subscription the app cannot read');

  summary.text = [
    `Demo estate seeded (subscriptions ${subA}, ${subB}; ${subC} holds only kv-demo-sec):`,
    '  Key vaults:',
    ...summary.vaults.map((v) => `    ${v}`),
    '  Keys:',
    ...summary.keys.map((k) => `    ${k}`),
    '  Service Bus namespaces:',
    ...summary.namespaces.map((n) => `    ${n}`),
    '  Geo-DR:',
    ...summary.pairs.map((p) => `    ${p}`),
  ].join('\n');
  return summary;
}

/** The demo's third subscription (only a vault in it); the app is granted nothing there. */
function ensureSecuritySubscription(sandbox: Sandbox): string {
  const id = DEMO_SECURITY_SUBSCRIPTION_ID;
  if (!sandbox.core.options.subscriptions.some((s) => s.subscriptionId === id)) {
    sandbox.core.options.subscriptions.push({
      subscriptionId: id,
      displayName: 'Sandbox subscription 3 (security)',
    });
  }
  sandbox.core.store.put('subscriptions', id, {
    subscriptionId: id,
    displayName: 'Sandbox subscription 3 (security)',
    state: 'Enabled',
    tenantId: sandbox.tenantId,
  });
  return id;
}

/** Adds the demo's second subscription to a sandbox started with one (the directory's root admin sees it). */
function ensureSecondSubscription(sandbox: Sandbox, first: string): string {
  const existing = sandbox.core.options.subscriptions.find((s) => s.subscriptionId !== first);
  if (existing) return existing.subscriptionId;
  const second = DEMO_SUBSCRIPTIONS[1]!;
  sandbox.core.options.subscriptions.push(second);
  sandbox.core.store.put('subscriptions', second.subscriptionId, {
    subscriptionId: second.subscriptionId,
    displayName: second.displayName,
    state: 'Enabled',
    tenantId: sandbox.tenantId,
  });
  return second.subscriptionId;
}
