/**
 * enableCmk under platform faults and duplicated activities, end to end over HTTP: throttling (429)
 * and server errors (503) injected on every ARM call site the flow uses, in turn; retries exhausted;
 * a failure after a grant; and the host's chaos mode that runs every activity twice.
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, fault, grantDocumentedRoles, type EnableOutput } from './enable-cmk-support';
import { readAzureState, type Names } from './fault-matrix-support';

const NS = '/namespaces/sb-f[^/]*';

/** Every call site of the flow: reads of the preflight, the writes, and the verification read. */
const SYSTEM_AP_SITES: Array<{ name: string; method: string; path: string }> = [
  { name: 'namespace GET', method: 'GET', path: `${NS}$` },
  { name: 'queues list', method: 'GET', path: `${NS}/queues$` },
  { name: 'topics list', method: 'GET', path: `${NS}/topics$` },
  { name: 'Geo-DR list', method: 'GET', path: `${NS}/disasterRecoveryConfigs$` },
  { name: 'vault list', method: 'GET', path: '/providers/Microsoft.KeyVault/vaults$' },
  { name: 'key GET', method: 'GET', path: '/vaults/kv-f-ap/keys/[^/]+$' },
  { name: 'namespace PATCH', method: 'PATCH', path: `${NS}$` },
  { name: 'access policy add', method: 'PUT', path: '/accessPolicies/add$' },
];
const UAI_RBAC_SITES: Array<{ name: string; method: string; path: string }> = [
  { name: 'identity GET', method: 'GET', path: '/userAssignedIdentities/id-f$' },
  {
    name: 'role assignments list',
    method: 'GET',
    path: '/vaults/kv-f-rbac/providers/Microsoft.Authorization/roleAssignments$',
  },
  {
    name: 'role assignment PUT',
    method: 'PUT',
    path: '/providers/Microsoft.Authorization/roleAssignments/[0-9a-f-]+$',
  },
];

async function seed(e: Estate): Promise<{ uai: { id: string; principalId: string } }> {
  await grantDocumentedRoles(e);
  await e.vault('kv-f-ap');
  await e.vault('kv-f-rbac', { rbac: true });
  await e.key('kv-f-ap', 'k1');
  await e.key('kv-f-rbac', 'k1');
  return { uai: await e.uai('id-f') };
}

let counter = 0;
interface Run {
  out: EnableOutput;
  /** Every write request the app made (whatever its status) and those that succeeded. */
  attempted: number;
  succeeded: number;
  ns: string;
}
async function writesSince(e: Estate, mark: number): Promise<{ attempted: number; succeeded: number }> {
  return {
    attempted: (await e.appRequests(mark, 'attempted')).length,
    succeeded: (await e.appRequests(mark, 'succeeded')).length,
  };
}
async function runSystemAp(e: Estate): Promise<Run> {
  const ns = `sb-f-${++counter}-sys`;
  await e.namespace(ns);
  const mark = await e.mark();
  const { op } = await e.enable({ namespaceId: e.nsId(ns), keys: [{ keyId: e.keyId('kv-f-ap', 'k1') }] });
  return { out: op.output as EnableOutput, ...(await writesSince(e, mark)), ns };
}
/** A fresh key each run, so the identity always needs a new role assignment. */
async function runUaiRbac(e: Estate, uaiId: string): Promise<Run> {
  const ns = `sb-f-${++counter}-uai`;
  await e.namespace(ns);
  await e.key('kv-f-rbac', `k-${counter}`);
  const mark = await e.mark();
  const { op } = await e.enable({
    namespaceId: e.nsId(ns),
    keys: [{ keyId: e.keyId('kv-f-rbac', `k-${counter}`) }],
    identity: { type: 'UserAssigned', resourceId: uaiId },
  });
  return { out: op.output as EnableOutput, ...(await writesSince(e, mark)), ns };
}

/**
 * The fewest writes each scenario needs, from its facts alone (not from the app's plan): the namespace
 * has no identity yet, so one identity PATCH (system-assigned on, or the user-assigned one attached);
 * one grant (an access-policy `add` on the access-policy vault, one role assignment on the fresh key
 * of the RBAC vault); one encryption PATCH.
 */
const MINIMUM_WRITES = { systemAp: 1 + 1 + 1, uaiRbac: 1 + 1 + 1 };

async function hitsOf(e: Estate, ruleId: string): Promise<number | undefined> {
  const rules = await e.estate.azure.control<Array<{ id: string; hits: number }>>('GET', '/faults');
  return rules.body.find((r) => r.id === ruleId)?.hits;
}

describe('platform faults', () => {
  let e: Estate;
  let uai: { id: string; principalId: string };
  beforeAll(async () => {
    e = await new Estate(await startLocalEstate()).init();
    ({ uai } = await seed(e));
  }, 120_000);
  afterAll(async () => e?.estate.stop());
  afterEach(async () => {
    await e.estate.azure.control('DELETE', '/faults');
  });

  const THROTTLE = { type: 'throttle' as const, retryAfterSeconds: 0 };

  const EFFECTS = [
    ['429', { type: 'throttle' as const, retryAfterSeconds: 0 }],
    ['503', { type: 'error' as const, status: 503, code: 'ServiceUnavailable', message: 'injected' }],
  ] as const;
  // One more fault in a row than the SDK's own retries (3), so the Durable retry has to step in too.
  const IN_A_ROW = 4;
  const cases = (sites: typeof SYSTEM_AP_SITES) =>
    sites.flatMap((site) => EFFECTS.map(([label, effect]) => [label, site.name, site, effect] as const));

  it.each(cases(SYSTEM_AP_SITES))(
    'system-assigned + access policy: %s on %s — still enabled with the minimum writes',
    async (_label, _name, site, effect) => {
      const mark = await e.mark();
      const rule = await fault(e, site, effect, IN_A_ROW);
      const run = await runSystemAp(e);
      expect(run.out.outcome).toBe('enabled');
      expect(run.succeeded).toBe(MINIMUM_WRITES.systemAp);
      // A faulted write site was attempted once per fault, then once more successfully.
      expect(run.attempted).toBe(MINIMUM_WRITES.systemAp + (site.method === 'GET' ? 0 : IN_A_ROW));
      const failed = (await e.appRequests(mark)).filter((r) => r.status === 429 || r.status === 503);
      expect(failed.length).toBe(IN_A_ROW); // every injected fault was met (and ridden through)
      expect(await hitsOf(e, rule)).toBe(IN_A_ROW);
    },
  );

  it.each(cases(UAI_RBAC_SITES))(
    'user-assigned + RBAC: %s on %s — still enabled with the minimum writes',
    async (_label, _name, site, effect) => {
      const mark = await e.mark();
      const rule = await fault(e, site, effect, IN_A_ROW);
      const run = await runUaiRbac(e, uai.id);
      expect(run.out.outcome).toBe('enabled');
      expect(run.out.grants).toHaveLength(1);
      expect(run.succeeded).toBe(MINIMUM_WRITES.uaiRbac);
      expect(run.attempted).toBe(MINIMUM_WRITES.uaiRbac + (site.method === 'GET' ? 0 : IN_A_ROW));
      const failed = (await e.appRequests(mark)).filter((r) => r.status === 429 || r.status === 503);
      expect(failed.length).toBe(IN_A_ROW);
      expect(await hitsOf(e, rule)).toBe(IN_A_ROW);
    },
  );

  it('when the faults never stop, fails with a clear state after the retries — nothing half-reported', async () => {
    await fault(e, { method: 'PUT', path: '/accessPolicies/add$' }, THROTTLE);
    const { out, ns } = await runSystemAp(e);
    expect(out.outcome).toBe('failed');
    expect(out.error).toMatchObject({ step: 'grantKeyAccess', code: 'PlatformFault' });
    expect(out.summary).toMatch(/NOT enabled/);
    expect(out.steps.find((s) => s.kind === 'grantKeyAccess')?.status).toBe('failed');
    expect(out.steps.find((s) => s.kind === 'setEncryption')?.status).toBe('pending');
    expect(out.changes).toHaveLength(1); // the identity was turned on, and it says so
    expect(out.grants).toEqual([]);
    // Azure agrees: the identity is on, the vault has no policy for it, the namespace is not encrypted.
    const after = await e.getNamespace(ns);
    expect(after.properties.encryption).toBeUndefined();
    const vault = await e.arm<{ properties: { accessPolicies: Array<{ objectId: string }> } }>(
      'GET',
      `${e.vaultId('kv-f-ap')}?api-version=2023-07-01`,
    );
    expect(vault.properties.accessPolicies.map((p) => p.objectId)).not.toContain(after.identity?.principalId);
    expect(after.identity?.principalId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a failure after a grant reports the grant (output and customStatus)', async () => {
    await fault(e, { method: 'PATCH', path: `${NS}$` }, THROTTLE);
    const ns = await e.namespace(`sb-f-${++counter}-late`);
    await e.key('kv-f-rbac', 'k-late');
    const start = await e.post<{ id: string }>('/api/cmk/enable', {
      namespaceId: ns,
      keys: [{ keyId: e.keyId('kv-f-rbac', 'k-late') }],
      identity: { type: 'UserAssigned', resourceId: uai.id },
    });
    const op = await e.settle(start.body.id);
    const out = op.output as EnableOutput;
    expect(out.outcome).toBe('failed');
    expect(out.error?.step).toBe('ensureIdentity');
    expect(out.grants).toEqual([]);

    // Now with the identity already attached, so the grant happens and the encryption PATCH fails.
    await e.estate.azure.control('DELETE', '/faults');
    await e.arm('PATCH', `${ns}?api-version=2021-11-01`, {
      identity: { type: 'UserAssigned', userAssignedIdentities: { [uai.id]: {} } },
    });
    const markAgain = await e.mark();
    const encryptionFault = await fault(e, { method: 'PATCH', path: `${NS}$` }, THROTTLE);
    const again = await e.post<{ id: string }>('/api/cmk/enable', {
      namespaceId: ns,
      keys: [{ keyId: e.keyId('kv-f-rbac', 'k-late') }],
      identity: { type: 'UserAssigned', resourceId: uai.id },
    });
    const op2 = await e.settle(again.body.id);
    const out2 = op2.output as EnableOutput;
    expect(out2.outcome).toBe('failed');
    expect(out2.error?.step).toBe('setEncryption');
    expect(out2.grants).toEqual([
      expect.objectContaining({ kind: 'roleAssignment', principalId: uai.principalId }),
    ]);
    expect(op2.customStatus?.grants).toEqual(out2.grants);
    expect(op2.customStatus?.state).toBe('failed');
    expect(out2.summary).toContain('Key access granted before the failure stays in place');
    // Exactly one role assignment was written (attempts included), and Azure holds exactly that one.
    const grantWrites = (await e.appRequests(markAgain, 'attempted')).filter((r) =>
      /roleAssignments/.test(r.path),
    );
    expect(grantWrites.map((r) => `${r.method} ${r.status}`)).toEqual(['PUT 201']);
    const held = await e.arm<{ value: Array<{ properties: { principalId: string; scope: string } }> }>(
      'GET',
      `${e.vaultId('kv-f-rbac')}/keys/k-late/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`,
    );
    expect(
      held.value.filter((a) => a.properties.principalId === uai.principalId).map((a) => a.properties.scope),
    ).toEqual([`${e.vaultId('kv-f-rbac')}/keys/k-late`]);
    // The encryption PATCH was refused every time it was tried — and never accepted.
    const patches = (await e.appRequests(markAgain, 'attempted')).filter((r) => r.method === 'PATCH');
    expect(patches.length).toBeGreaterThan(0);
    expect(patches.filter((r) => r.status !== 429)).toEqual([]);
    expect(await hitsOf(e, encryptionFault)).toBe(patches.length);
    expect((await e.getNamespace(ns.split('/').pop()!)).properties.encryption).toBeUndefined();
  });
});

describe('chaos: every activity runs twice', () => {
  let normal: Estate;
  let chaos: Estate;
  beforeAll(async () => {
    [normal, chaos] = await Promise.all([
      startLocalEstate().then((s) => new Estate(s).init()),
      startLocalEstate({ args: ['--chaos', 'duplicate-activities'] }).then((s) => new Estate(s).init()),
    ]);
  }, 120_000);
  afterAll(async () => Promise.all([normal?.estate.stop(), chaos?.estate.stop()]));

  it('reaches the same outcome, and Azure holds the same identities, encryption, policies and role assignments', async () => {
    const results = [];
    for (const e of [normal, chaos]) {
      const { uai } = await seed(e);
      const sys = await runSystemAp(e);
      const user = await runUaiRbac(e, uai.id);
      const mark = await e.mark();
      const rerun = await e.enable({
        namespaceId: e.nsId(sys.ns),
        keys: [{ keyId: e.keyId('kv-f-ap', 'k1') }],
      });
      const rerunWrites = await e.appRequests(mark, 'attempted');
      // What Azure holds, names replaced by their role in the scenario (the two hosts name things apart).
      const names: Names = {
        [e.sub]: '{sub}',
        [sys.ns]: '{sys}',
        [user.ns]: '{uai-ns}',
        [uai.principalId]: '{uai.principal}',
        [`k-${user.ns.split('-')[2]}`]: '{fresh-key}',
      };
      const state = await readAzureState(e, {
        namespaces: [sys.ns, user.ns],
        vaults: [
          { id: e.vaultId('kv-f-ap'), name: 'kv-f-ap' },
          { id: e.vaultId('kv-f-rbac'), name: 'kv-f-rbac' },
        ],
        names,
      });
      results.push({ sys, user, rerun: rerun.op.output as EnableOutput, rerunWrites, state });
    }
    const [a, b] = results as [(typeof results)[0], (typeof results)[0]];
    for (const r of [a, b]) {
      expect(r.sys.out.outcome).toBe('enabled');
      expect(r.user.out.outcome).toBe('enabled');
      expect(r.rerun.outcome).toBe('noOp');
      expect(r.rerunWrites).toEqual([]);
    }
    // Azure, read back: the same end state on both hosts …
    expect(b.state).toEqual(a.state);
    // … and that state is the intended one (so "the same" is not "the same wrong").
    expect(a.state).toEqual({
      namespaces: {
        '{sys}': {
          identityType: 'SystemAssigned',
          systemAssigned: 'yes',
          userAssigned: [],
          encryption: {
            keySource: 'Microsoft.KeyVault',
            infra: false,
            keys: [
              {
                name: 'k1',
                uri: 'https://kv-f-ap.vault.sandbox.localhost',
                version: '',
                identity: '',
              },
            ],
          },
        },
        '{uai-ns}': {
          identityType: 'UserAssigned',
          systemAssigned: 'no',
          userAssigned: [expect.stringMatching(/userAssignedIdentities\/id-f$/i)],
          encryption: {
            keySource: 'Microsoft.KeyVault',
            infra: false,
            keys: [
              {
                name: '{fresh-key}',
                uri: 'https://kv-f-rbac.vault.sandbox.localhost',
                version: '',
                identity: expect.stringMatching(/userAssignedIdentities\/id-f$/i) as string,
              },
            ],
          },
        },
      },
      accessPolicies: { 'kv-f-ap': ['{sys}.principal: get,unwrapkey,wrapkey'], 'kv-f-rbac': [] },
      roleAssignments: [
        `{uai.principal} e147488a-f6f5-4113-8e2d-b22465e65bf6 /subscriptions/{sub}/resourceGroups/rg-cmk/providers/Microsoft.KeyVault/vaults/kv-f-rbac/keys/{fresh-key}`,
      ],
      aliases: { '{sys}': [], '{uai-ns}': [] },
    });
    // The chaos host really ran the activities twice: each write was made twice (idempotently).
    expect(a.sys.attempted).toBe(MINIMUM_WRITES.systemAp);
    expect(b.sys.attempted).toBe(2 * MINIMUM_WRITES.systemAp);
  });
});
