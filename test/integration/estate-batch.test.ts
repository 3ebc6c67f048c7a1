/**
 * The batch readers (src/azure/estate.ts) with the REAL SDK clients against the sandbox over HTTPS, as
 * the app's identity: one list per subscription, each distinct vault / key / version / RBAC vault read
 * once — counted from the sandbox's request log and derived from the estate below, not from the code —
 * and the same verdicts as diagnose's one-namespace reader.
 */
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { armClientOptions, SandboxCredential } from '../../sandbox/azure/testing';
import type { RequestLogEntry } from '../../sandbox/azure/requestLog';
import { cmkGateways, readDiagnoseFacts, type CmkGateways } from '../../src/azure/cmkFacts';
import { listNamespaces, readEstateFacts } from '../../src/azure/estate';
import {
  buildKeyIndex,
  distinctKeys,
  evaluateDiagnosis,
  parseServiceBusNamespaceId,
  type RuleSettings,
} from '../../src/domain';
import { SandboxAzureClients } from './app-clients-support';
import { ENCRYPTION_USER, SbHarness } from './servicebus-support';

/** The estate, as data: the expected call counts are derived from it. */
interface NsSpec {
  name: string;
  keys: { vault: string; key: string; pinned?: boolean }[];
}
const VAULTS = { 'kv-est-ap': { rbac: false }, 'kv-est-rbac': { rbac: true } } as const;
type VaultName = keyof typeof VAULTS;
const KEYS: { vault: VaultName; key: string }[] = [
  { vault: 'kv-est-ap', key: 'k1' },
  { vault: 'kv-est-ap', key: 'k2' },
  { vault: 'kv-est-rbac', key: 'k3' },
];
const CMK: NsSpec[] = [
  ...[1, 2, 3, 4, 5].map((i) => ({ name: `sb-est-0${i}`, keys: [{ vault: 'kv-est-ap', key: 'k1' }] })),
  { name: 'sb-est-06', keys: [{ vault: 'kv-est-ap', key: 'k1', pinned: true }] },
  { name: 'sb-est-07', keys: [{ vault: 'kv-est-ap', key: 'k1', pinned: true }] },
  { name: 'sb-est-08', keys: [{ vault: 'kv-est-ap', key: 'k2' }] },
  { name: 'sb-est-09', keys: [{ vault: 'kv-est-ap', key: 'k2' }] },
  { name: 'sb-est-10', keys: [{ vault: 'kv-est-rbac', key: 'k3' }] },
  { name: 'sb-est-11', keys: [{ vault: 'kv-est-rbac', key: 'k3' }] },
  {
    name: 'sb-est-12',
    keys: [
      { vault: 'kv-est-ap', key: 'k1' },
      { vault: 'kv-est-rbac', key: 'k3' },
    ],
  },
];
const PLAIN = ['sb-est-plain-1', 'sb-est-plain-2'];
const PAGE_SIZE = 5;

let h: SbHarness;
let gw: CmkGateways;
let settings: RuleSettings;
let authz: AuthorizationManagementClient;
const pinnedVersion: Record<string, string> = {};
const principals: Record<string, string> = {};
const keyScopeAssignment: { scope: string; name: string } = { scope: '', name: '' };

beforeAll(async () => {
  h = await SbHarness.start({ pageSize: PAGE_SIZE });
  const app = h.sandbox.app.objectId;
  h.sandbox.control.assignRole({
    principalId: app,
    role: 'Reader',
    scope: `/subscriptions/${h.sandbox.subscriptionId}`,
  });
  gw = cmkGateways(new SandboxAzureClients(h.sandbox, app));
  settings = { keyVaultDnsSuffix: h.sandbox.keyVaultDnsSuffix, keyExpiryWarningDays: 30 };
  authz = new AuthorizationManagementClient(
    new SandboxCredential(h.sandbox, h.admin),
    h.sandbox.subscriptionId,
    armClientOptions(h.sandbox),
  );

  for (const [name, spec] of Object.entries(VAULTS)) await h.vault(name, { rbac: spec.rbac });
  for (const k of KEYS) {
    const first = await h.keys(k.vault).createRsaKey(k.key, { keySize: 2048 });
    if (k.key === 'k1') {
      pinnedVersion.k1 = first.properties.version!;
      // A newer current version: the pinned namespaces use an older one (a separate read).
      await h.keys(k.vault).createRsaKey(k.key, { keySize: 2048 });
    }
  }
  for (const spec of CMK) {
    const ns = await h.namespace(spec.name, { identity: { type: 'SystemAssigned' } });
    const principalId = ns.identity!.principalId!;
    principals[spec.name] = principalId;
    for (const k of spec.keys) {
      if (spec.name === 'sb-est-11' && k.vault === 'kv-est-rbac') {
        // Granted at KEY scope (below the vault): the one unfiltered vault list must still see it.
        const a = h.sandbox.control.assignRole({
          principalId,
          role: ENCRYPTION_USER,
          scope: `${h.vaultId(k.vault)}/keys/${k.key}`,
        });
        keyScopeAssignment.scope = a.scope;
        keyScopeAssignment.name = a.name;
      } else await h.grant(k.vault, principalId);
    }
    await h.sb.namespaces.update(h.rg, spec.name, {
      encryption: {
        keySource: 'Microsoft.KeyVault',
        keyVaultProperties: spec.keys.map((k) => ({
          keyName: k.key,
          keyVaultUri: h.sandbox.vaultUri(k.vault),
          ...(k.pinned ? { keyVersion: pinnedVersion[k.key] } : {}),
        })),
      },
    });
  }
  for (const name of PLAIN) await h.namespace(name);
});
afterAll(async () => h?.close());

/** The app's ARM requests since a mark, each classified by the REST path it addressed. */
function appRequests(since: number): { kind: string; e: RequestLogEntry }[] {
  const kinds: [string, RegExp][] = [
    ['namespaces/list', /\/providers\/Microsoft\.ServiceBus\/namespaces$/i],
    ['aliases/list', /\/namespaces\/[^/]+\/disasterRecoveryConfigs$/i],
    ['namespace/get', /\/providers\/Microsoft\.ServiceBus\/namespaces\/[^/]+$/i],
    ['vaults/list', /^\/subscriptions\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults$/i],
    ['keys/get', /\/vaults\/[^/]+\/keys\/[^/]+$/i],
    ['versions/get', /\/vaults\/[^/]+\/keys\/[^/]+\/versions\/[^/]+$/i],
    ['roleAssignments/list', /\/providers\/Microsoft\.Authorization\/roleAssignments$/i],
  ];
  return h.sandbox.control
    .requests({ sinceSeq: since, principal: h.sandbox.app.objectId })
    .filter((e) => e.service === 'arm')
    .map((e) => ({ kind: kinds.find(([, re]) => re.test(e.path))?.[0] ?? `other ${e.method} ${e.path}`, e }));
}

function countByKind(list: { kind: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { kind } of list) out[kind] = (out[kind] ?? 0) + 1;
  return out;
}

describe('estate batch reads', () => {
  it('lists a subscription in one paged list, aliases only for CMK namespaces, and reads each vault, key, version and RBAC vault once', async () => {
    const totalNamespaces = CMK.length + PLAIN.length;
    const vaultsInSub = Object.keys(VAULTS).length;
    const distinct = new Set(CMK.flatMap((n) => n.keys.map((k) => `${k.vault}/${k.key}`)));
    const pinned = new Set(
      CMK.flatMap((n) => n.keys.filter((k) => k.pinned).map((k) => `${k.vault}/${k.key}`)),
    );
    const rbacVaults = new Set(
      CMK.flatMap((n) => n.keys.filter((k) => VAULTS[k.vault as VaultName].rbac).map((k) => k.vault)),
    );

    const mark = h.sandbox.control.mark();
    const listing = await listNamespaces(gw, h.sandbox.subscriptionId);
    expect(listing.status).toBe('listed');
    expect(listing.namespaces?.map((n) => n.name).sort()).toEqual(
      [...CMK.map((n) => n.name), ...PLAIN].sort(),
    );
    const listCalls = countByKind(appRequests(mark));
    expect(listCalls).toEqual({
      'namespaces/list': Math.ceil(totalNamespaces / PAGE_SIZE),
      'aliases/list': CMK.length,
    });
    expect(listing.calls).toBe(Math.ceil(totalNamespaces / PAGE_SIZE) + CMK.length);

    const index = buildKeyIndex([listing], new Date(h.clock.now()).toISOString());
    expect(index.namespaces).toHaveLength(CMK.length);
    expect(distinctKeys(index)).toHaveLength(distinct.size);

    // Assignments at, above or below each RBAC vault, as the admin sees them: pages of the one list.
    let rbacListPages = 0;
    for (const v of rbacVaults) {
      let n = 0;
      for await (const a of authz.roleAssignments.listForScope(h.vaultId(v))) if (a) n++;
      rbacListPages += Math.ceil(n / PAGE_SIZE);
    }
    expect(rbacListPages).toBeGreaterThan(rbacVaults.size); // the estate forces a second page

    const mark2 = h.sandbox.control.mark();
    const { facts, material } = await readEstateFacts(gw, index.namespaces, settings);
    const readCalls = appRequests(mark2);
    expect(countByKind(readCalls)).toEqual({
      'vaults/list': Math.ceil(vaultsInSub / PAGE_SIZE),
      'keys/get': distinct.size,
      'versions/get': pinned.size,
      'roleAssignments/list': rbacListPages,
    });
    // The role-assignment list is the unfiltered one (it covers every principal and every key below).
    expect(readCalls.filter((r) => r.kind === 'roleAssignments/list' && /filter/i.test(r.e.query))).toEqual(
      [],
    );
    expect(material.calls).toBe(readCalls.length);

    const verdicts = facts.map((f) => evaluateDiagnosis(f, new Date(h.clock.now())).health.verdict);
    expect(verdicts).toEqual(CMK.map(() => 'healthy'));
    // The key-scope grant below the RBAC vault was seen through the vault-scope list.
    const ns11 = facts.find((f) => f.namespace.name === 'sb-est-11');
    expect(ns11?.keys).toEqual([expect.objectContaining({ identityHasAccess: true })]);
    // Pinned namespaces got the version's facts, versionless ones the current version's.
    const ns06 = facts.find((f) => f.namespace.name === 'sb-est-06');
    const ns01 = facts.find((f) => f.namespace.name === 'sb-est-01');
    expect(ns06?.keys[0]?.key?.currentVersion).toBe(pinnedVersion.k1);
    expect(ns01?.keys[0]?.key?.currentVersion).not.toBe(pinnedVersion.k1);
  });

  it('judges exactly as diagnose does after access is removed by policy and by RBAC', async () => {
    await h.revoke('kv-est-ap', principals['sb-est-09']!);
    await authz.roleAssignments.delete(keyScopeAssignment.scope, keyScopeAssignment.name);

    const listing = await listNamespaces(gw, h.sandbox.subscriptionId);
    const index = buildKeyIndex([listing], new Date(h.clock.now()).toISOString());
    const now = new Date(h.clock.now());
    const { facts } = await readEstateFacts(gw, index.namespaces, settings);
    const batch = facts.map((f) => evaluateDiagnosis(f, now));
    const byName = Object.fromEntries(batch.map((d, i) => [facts[i]!.namespace.name, d]));
    expect(byName['sb-est-09']?.health.verdict).toBe('inoperable');
    expect(byName['sb-est-11']?.health.verdict).toBe('inoperable');
    expect(byName['sb-est-09']?.findings.map((f) => f.ruleId)).toEqual(
      expect.arrayContaining(['CMK-008', 'CMK-010']),
    );
    expect(batch.filter((d) => d.health.verdict === 'healthy')).toHaveLength(CMK.length - 2);

    for (const name of ['sb-est-09', 'sb-est-11', 'sb-est-12', 'sb-est-06']) {
      const one = await readDiagnoseFacts(gw, parseServiceBusNamespaceId(h.nsId(name)), settings);
      if (!one.ok) throw new Error(one.detail);
      expect(evaluateDiagnosis(one.value, now)).toEqual(byName[name]);
    }
  });
});
