/**
 * enableCmk with the host's chaos mode that runs every activity twice: the same outcome and the same
 * Azure state as a normal host.
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, type EnableOutput } from './enable-cmk-support';
import { readAzureState, type Names } from './fault-matrix-support';
import { MINIMUM_WRITES, runSystemAp, runUaiRbac, seed } from './enable-cmk-faults-support';

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
