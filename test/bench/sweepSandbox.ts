/**
 * The compliance-sweep benchmark's Azure: a sandbox in its own process (so the benchmark's RSS is the
 * app's alone) with a generated estate — the benchmark's fixture, not what it measures. What has few
 * instances goes through the sandbox's REST APIs as the administrator (resource groups, identities,
 * vaults, one key, one CMK and one plain namespace per subscription: every Azure rule applies); the
 * many copies (the other keys, the other namespaces) are written into the sandbox's state store
 * directly, in the providers' own record shapes, so 10,000 namespaces seed in seconds:
 *
 *   SUBS subscriptions × PER_SUB Premium namespaces (CMK_SHARE of them with CMK, one user-assigned
 *   identity per subscription), VAULTS vaults (half access-policy, half RBAC) × KEYS_PER_VAULT keys,
 *   the vaults in the first VAULT_SUBS subscriptions; the j-th CMK
 *   namespace uses key j mod (VAULTS × KEYS_PER_VAULT), so every key and vault is in use.
 *
 * Prints one JSON line `{"event":"ready", …}` with the endpoints, the admin secret and the estate.
 * Throttling starts off (the seed is ~11,000 writes); the benchmark turns Azure's limits on after.
 */
import { randomBytes } from 'node:crypto';
import { WallClock } from '../../sandbox/clock';
import { KeyVaultProvider } from '../../sandbox/azure/keyvault';
import { VAULTS as VAULT_RECORDS, vaultRecordKey } from '../../sandbox/azure/keyvault/persistence';
import { startAzureSandbox } from '../../sandbox/azure';
import { httpsJson } from '../../sandbox/azure/testing';

const SUBS = Number(process.env.BENCH_SUBS ?? 100);
const PER_SUB = Number(process.env.BENCH_PER_SUB ?? 100);
const VAULTS = Number(process.env.BENCH_VAULTS ?? 50);
const KEYS_PER_VAULT = Number(process.env.BENCH_KEYS_PER_VAULT ?? 10);
const VAULT_SUBS = Math.min(SUBS, 10);
const CMK_SHARE = 0.8;
const SEED_CONCURRENCY = 32;

export interface BenchEstate {
  subscriptions: string[];
  vaults: Array<{ name: string; id: string; subscriptionId: string; rbac: boolean }>;
  keys: Array<{ vault: string; name: string }>;
  namespaces: Array<{
    id: string;
    subscriptionId: string;
    name: string;
    cmk: boolean;
    key?: { vault: string; name: string };
  }>;
}

const sub = (i: number) => `10000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`;

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

async function main(): Promise<void> {
  const subscriptions = Array.from({ length: SUBS }, (_, i) => sub(i));
  const sb = await startAzureSandbox({
    clock: new WallClock(1),
    stateDir: process.env.BENCH_STATE_DIR,
    subscriptions: subscriptions.map((s, i) => ({ subscriptionId: s, displayName: `Bench ${i + 1}` })),
    storage: true,
  });
  const t0 = Date.now();
  const phase = (what: string) =>
    process.stderr.write(`seed: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  const admin = sb.admin.objectId;
  let token = (await sb.control.token(admin, 'arm')).access_token;
  const refresh = setInterval(() => {
    void sb.control.token(admin, 'arm').then((t) => (token = t.access_token));
  }, 600_000);
  const arm = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await httpsJson(sb, method, `${sb.url}${path}`, { token, ...(body ? { body } : {}) });
    if (res.status >= 400) throw new Error(`seed: ${method} ${path} → ${res.status} ${res.text}`);
    return (res.body ?? {}) as Record<string, unknown>;
  };
  const rg = (s: string, name: string) => `/subscriptions/${s}/resourceGroups/${name}`;

  // Resource groups and one user-assigned identity per subscription.
  const uais = new Map<string, { id: string; principalId: string }>();
  await mapLimit(subscriptions, SEED_CONCURRENCY, async (s) => {
    await arm('PUT', `${rg(s, 'rg-bench')}?api-version=2021-04-01`, { location: 'westeurope' });
    const id = `${rg(s, 'rg-bench')}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-bench`;
    const body = await arm('PUT', `${id}?api-version=2023-01-31`, { location: 'westeurope' });
    uais.set(s, { id, principalId: (body.properties as { principalId: string }).principalId });
    // The app's documented roles: Reader (reads) and Monitoring Metrics Publisher (health metrics).
    for (const role of ['Reader', 'Monitoring Metrics Publisher'])
      sb.control.assignRole({
        principalId: sb.app.objectId,
        role,
        scope: `/subscriptions/${s}`,
        immediate: true,
      });
  });

  phase('resource groups + identities');
  // Vaults (half RBAC) with every identity granted, and their keys.
  const vaults: BenchEstate['vaults'] = [];
  for (let v = 0; v < VAULTS; v++) {
    const s = subscriptions[v % VAULT_SUBS]!;
    const name = `kvb${String(v).padStart(3, '0')}`;
    vaults.push({
      name,
      id: `${rg(s, 'rg-keys')}/providers/Microsoft.KeyVault/vaults/${name}`,
      subscriptionId: s,
      rbac: v % 2 === 1,
    });
  }
  await mapLimit([...new Set(vaults.map((v) => v.subscriptionId))], SEED_CONCURRENCY, async (s) => {
    await arm('PUT', `${rg(s, 'rg-keys')}?api-version=2021-04-01`, { location: 'westeurope' });
  });
  const keys: BenchEstate['keys'] = [];
  const keyName = (k: number) => `key${String(k).padStart(2, '0')}`;
  const expires = Math.floor((sb.clock.now() + 365 * 86_400_000) / 1000);
  await mapLimit(vaults, 8, async (v) => {
    await arm('PUT', `${v.id}?api-version=2023-07-01`, {
      location: 'westeurope',
      properties: {
        tenantId: sb.tenantId,
        sku: { family: 'A', name: 'standard' },
        enableRbacAuthorization: v.rbac,
        enablePurgeProtection: true,
        accessPolicies: v.rbac
          ? []
          : [...uais.values()].map((u) => ({
              tenantId: sb.tenantId,
              objectId: u.principalId,
              permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
            })),
      },
    });
    if (v.rbac)
      for (const u of uais.values())
        sb.control.assignRole({
          principalId: u.principalId,
          role: 'Key Vault Crypto Service Encryption User',
          scope: v.id,
          immediate: true,
        });
  });
  // Keys: ONE through ARM (the service's rules apply: kty, size, expiry), the others its record copied
  // into the store under their own name and version, then loaded by the Key Vault model the way a
  // snapshot-backed sandbox loads its vaults at start (persistence.ts). A PUT per key would spend
  // the seed's minutes generating 500 RSA keys; the sweep reads key metadata through ARM, which is
  // the same for a copied record.
  const kv = sb.core.providers.find((p): p is KeyVaultProvider => p instanceof KeyVaultProvider)!.model;
  const first = vaults[0]!;
  await arm('PUT', `${first.id}/keys/${keyName(0)}?api-version=2023-07-01`, {
    properties: { kty: 'RSA', keySize: 2048, attributes: { exp: expires } },
  });
  const state = kv.exportState();
  const template = state.vaults.find((v) => v.name === first.name)!.keys.find((k) => k.name === keyName(0))!;
  for (const stored of state.vaults) {
    stored.keys = Array.from({ length: KEYS_PER_VAULT }, (_, k) => ({
      ...template,
      name: keyName(k),
      versions: template.versions.map((v) => ({ ...v, version: randomBytes(16).toString('hex') })),
    }));
    sb.core.store.put(VAULT_RECORDS, vaultRecordKey(stored), stored);
    for (let k = 0; k < KEYS_PER_VAULT; k++) keys.push({ vault: stored.name, name: keyName(k) });
  }
  kv.importState(state);
  phase('vaults + keys');
  keys.sort((a, b) => `${a.vault}/${a.name}`.localeCompare(`${b.vault}/${b.name}`));

  // Namespaces: the j-th CMK namespace of the estate uses key j mod K (all K keys in use).
  const namespaces: BenchEstate['namespaces'] = [];
  let j = 0;
  subscriptions.forEach((s, i) => {
    for (let n = 0; n < PER_SUB; n++) {
      const name = `sbb-${String(i).padStart(3, '0')}-${String(n).padStart(3, '0')}`;
      const cmk = n < PER_SUB * CMK_SHARE;
      namespaces.push({
        id: `${rg(s, 'rg-bench')}/providers/Microsoft.ServiceBus/namespaces/${name}`,
        subscriptionId: s,
        name,
        cmk,
        ...(cmk ? { key: keys[j++ % keys.length]! } : {}),
      });
    }
  });
  // The first CMK and the first plain namespace of each subscription through ARM (every rule of the
  // service applies); the others are copies of their records with their own id, name and key, put in
  // the store directly — ARM PUTs would spend the seed's minutes on the service's key probes (RSA
  // wrap/unwrap per PUT) and start 10,000 key-poll timers that would load the emulator during the
  // measured sweep. What the sweep reads (ARM GET/list) is the same for a copied record.
  const put = async (ns: BenchEstate['namespaces'][number]): Promise<void> => {
    const uai = uais.get(ns.subscriptionId)!;
    await arm('PUT', `${ns.id}?api-version=2021-11-01`, {
      location: 'westeurope',
      sku: { name: 'Premium', tier: 'Premium', capacity: 1 },
      identity: { type: 'UserAssigned', userAssignedIdentities: { [uai.id]: {} } },
      properties: ns.key
        ? {
            encryption: {
              keySource: 'Microsoft.KeyVault',
              keyVaultProperties: [
                {
                  keyName: ns.key.name,
                  keyVaultUri: sb.vaultUri(ns.key.vault),
                  identity: { userAssignedIdentity: uai.id },
                },
              ],
              requireInfrastructureEncryption: false,
            },
          }
        : {},
    });
  };
  type Rec = {
    id: string;
    name: string;
    encryption?: { keys: Array<{ keyName: string; keyVaultUri: string }> };
  };
  await mapLimit(subscriptions, 8, async (s) => {
    const own = namespaces.filter((n) => n.subscriptionId === s);
    const templates = [own.find((n) => n.cmk), own.find((n) => !n.cmk)].filter((n) => n !== undefined);
    for (const t of templates) await put(t);
    const records = templates.map((t) => sb.core.store.get<Rec>('serviceBusNamespaces', t.id)!);
    for (const ns of own) {
      if (templates.includes(ns)) continue;
      const tpl = records[ns.cmk ? 0 : templates.findIndex((t) => !t.cmk)]!;
      const copy: Rec = JSON.parse(JSON.stringify(tpl)) as Rec;
      copy.id = ns.id;
      copy.name = ns.name;
      if (copy.encryption && ns.key)
        copy.encryption.keys = copy.encryption.keys.map((k) => ({
          ...k,
          keyName: ns.key!.name,
          keyVaultUri: sb.vaultUri(ns.key!.vault),
        }));
      sb.core.store.put('serviceBusNamespaces', ns.id, copy);
    }
  });
  phase('namespaces');
  clearInterval(refresh);
  sb.control.clearRequests();
  const estate: BenchEstate = { subscriptions, vaults, keys, namespaces };
  process.stdout.write(
    `${JSON.stringify({
      event: 'ready',
      url: sb.url,
      adminSecret: sb.adminSecret,
      caPath: sb.caPath,
      env: sb.env,
      app: sb.app,
      admin: sb.admin,
      tenantId: sb.tenantId,
      pageSize: sb.core.options.pageSize,
      estate,
    })}\n`,
  );
  const stop = () => void sb.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench sandbox failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
