/**
 * Replay tests of the product's orchestrators (enableCmk, enableCmkGeoDr) with synthetic histories:
 * the real durable-functions executor replays each history; the activities' answers are scripted.
 * What they pin down: the error classes end where they must (a bug is a 500-class failure, never a
 * refusal, never retried; a platform fault that outlasts the retries is a 503-class failure), the one
 * retried refusal is retried only after a grant of this run, the Geo-DR pairing reported is the one
 * read last, and the encryption sub-orchestration runs under the enable instance id.
 */
import { cmkStateFromEncryption, plainKeyRef, type GeoDrAliasFacts } from '../../src/domain';
import {
  ENABLE_CMK_ORCHESTRATION,
  ENSURE_IDENTITY_ACTIVITY,
  GRANT_KEY_ACCESS_ACTIVITY,
  READ_ENABLE_FACTS_ACTIVITY,
  READ_NAMESPACE_ACTIVITY,
  SET_ENCRYPTION_ACTIVITY,
  enableCmkInstanceId,
  enableCmkOrchestrator,
  type EnableCmkInput,
  type EnableCmkOutput,
  type GrantRecord,
} from '../../src/orchestrations/enableCmkOrchestrator';
import {
  GEO_BREAK_ACTIVITY,
  GEO_PAIR_ACTIVITY,
  GEO_READ_ALIASES_ACTIVITY,
  GEO_READ_FACTS_ACTIVITY,
  enableCmkGeoDrOrchestrator,
  pairingFromAliases,
  type EnableCmkGeoDrInput,
  type EnableCmkGeoDrOutput,
  type EnableCmkGeoDrStatus,
} from '../../src/orchestrations/enableCmkGeoDrOrchestrator';
import { REFRESH_KEY_INDEX } from '../../src/orchestrations/assess';
import { activity, type ActivityFailure } from '../../src/orchestrations/plumbing';
import { RG, SUB, SUFFIX, enableFacts, enableRequest, keyUrl, vaultId } from './domain-fixtures';
import { replay, type Answer, type Call } from './replay-driver';

const KEY = keyUrl('kv-prod', 'cmk-1');
const request = enableRequest({ keys: [{ keyId: KEY }] });
const settings = { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 };
const enableInput: EnableCmkInput = {
  namespace: request.namespace,
  keys: request.keys.map(plainKeyRef),
  identity: request.identity,
  requireInfrastructureEncryption: false,
  settings,
};
const encrypted = cmkStateFromEncryption(
  {
    keySource: 'Microsoft.KeyVault',
    keyVaultProperties: [{ keyName: 'cmk-1', keyVaultUri: `https://kv-prod.${SUFFIX}/` }],
    requireInfrastructureEncryption: false,
  },
  SUFFIX,
);
const grant = (created: boolean): GrantRecord => ({
  vaultName: 'kv-prod',
  kind: 'accessPolicy',
  principalId: 'p-1',
  scope: vaultId('kv-prod'),
  permissions: ['get', 'wrapKey', 'unwrapKey'],
  created,
});
const ok = (value: object = {}): Answer => ({ result: { ok: true, ...value } });
const refused = (status: number, code: string, detail: string): Answer => ({
  result: { ok: false, class: 'refusal', status, code, detail } satisfies ActivityFailure,
});

const refreshed = {
  builtAt: '2026-01-01T00:00:00.000Z',
  namespaces: 1,
  subscriptions: [],
  saved: true,
  calls: 2,
};

/** The enable flow's activities, healthy unless the test overrides one. */
function enableResponder(overrides: Partial<Record<string, (call: Call) => Answer>> = {}) {
  return (call: Call): Answer => {
    const override = overrides[call.name];
    if (override) return override(call);
    switch (call.name) {
      case READ_ENABLE_FACTS_ACTIVITY:
        return ok({ facts: enableFacts() });
      case ENSURE_IDENTITY_ACTIVITY:
        return ok({ principalId: 'p-1', tenantId: 't-1', cmk: { encrypted: false } });
      case GRANT_KEY_ACCESS_ACTIVITY:
        return ok({ grants: [grant(true)] });
      case SET_ENCRYPTION_ACTIVITY:
        return ok({ provisioningState: 'Updating' });
      case READ_NAMESPACE_ACTIVITY:
        return ok({ provisioningState: 'Succeeded', principalId: 'p-1', cmk: encrypted });
      case REFRESH_KEY_INDEX:
        return ok(refreshed);
      default:
        throw new Error(`unexpected call ${call.name}`);
    }
  };
}

const runEnable = (respond: (call: Call) => Answer) =>
  replay(enableCmkOrchestrator, enableInput, respond, { name: ENABLE_CMK_ORCHESTRATION });
const named = (calls: Call[], name: string) => calls.filter((c) => c.name === name);

describe('enableCmk replay', () => {
  it('the happy path: every step in order, enabled, the grant reported', async () => {
    const r = await runEnable(enableResponder());
    const out = r.state.output as EnableCmkOutput;
    expect(out.outcome).toBe('enabled');
    expect(out.steps.map((s) => `${s.kind}:${s.status}`)).toEqual([
      'preflight:done',
      'ensureIdentity:done',
      'grantKeyAccess:done',
      'waitForAccessPropagation:done',
      'setEncryption:done',
      'waitForProvisioning:done',
      'verifyEncryption:done',
    ]);
    expect(out.grants).toEqual([grant(true)]);
    expect(r.calls.map((c) => c.name)).toEqual([
      READ_ENABLE_FACTS_ACTIVITY,
      ENSURE_IDENTITY_ACTIVITY,
      GRANT_KEY_ACCESS_ACTIVITY,
      SET_ENCRYPTION_ACTIVITY,
      READ_NAMESPACE_ACTIVITY,
      READ_NAMESPACE_ACTIVITY,
      REFRESH_KEY_INDEX,
    ]);
    // The last activity refreshes the key index for the namespace's subscription only.
    expect(named(r.calls, REFRESH_KEY_INDEX)[0]?.input).toMatchObject({
      subscriptionIds: [SUB],
      reason: 'enableCmk',
    });
    expect(out.keyIndex).toEqual({
      refreshed: true,
      detail: 'key index refreshed: 1 CMK namespace(s) guarded',
    });
  });

  it('a key index refresh that fails does not undo the enable: enabled, and the note says so', async () => {
    const r = await runEnable(
      enableResponder({ [REFRESH_KEY_INDEX]: () => refused(404, 'ContainerNotFound', 'storage said no') }),
    );
    const out = r.state.output as EnableCmkOutput;
    expect(out.outcome).toBe('enabled');
    expect(out.keyIndex).toEqual({
      refreshed: false,
      detail: 'key index not refreshed (storage said no); the next scheduled refresh will add it',
    });
  });

  it('an unexpected TypeError in an activity: a failed operation with a 500-class bug error, not retried, not a refusal', async () => {
    // What the real activity wrapper makes of a TypeError thrown inside an activity body.
    const logged: string[] = [];
    const context = {
      functionName: GRANT_KEY_ACCESS_ACTIVITY,
      invocationId: 'i-1',
      error: (m: string) => logged.push(m),
    };
    const bug = await activity(async (_: unknown) => {
      const body = {} as { properties: { accessPolicies: unknown[] } };
      return body.properties.accessPolicies.length;
    })({}, context as never);
    expect(bug).toMatchObject({ ok: false, class: 'bug', code: 'TypeError' });
    expect(logged.join('\n')).toMatch(/BUG in enableCmk_grantKeyAccess[\s\S]*at /); // with the stack

    const r = await runEnable(enableResponder({ [GRANT_KEY_ACCESS_ACTIVITY]: () => ({ result: bug }) }));
    const out = r.state.output as EnableCmkOutput;
    expect(out.outcome).toBe('failed');
    expect(out.error).toMatchObject({ step: 'grantKeyAccess', class: 'bug', status: 500, code: 'TypeError' });
    expect(out.summary).toContain('an internal error of the app (a bug');
    expect(named(r.calls, GRANT_KEY_ACCESS_ACTIVITY)).toHaveLength(1);
    expect(named(r.calls, SET_ENCRYPTION_ACTIVITY)).toHaveLength(0);
  });

  it('a refusal right after a grant of this run is retried on doubling timers, the raw message logged', async () => {
    let n = 0;
    const r = await runEnable(
      enableResponder({
        [SET_ENCRYPTION_ACTIVITY]: () =>
          ++n <= 2
            ? refused(400, 'BadRequest', `Azure raw text ${n}`)
            : ok({ provisioningState: 'Updating' }),
      }),
    );
    const out = r.state.output as EnableCmkOutput;
    expect(out.outcome).toBe('enabled');
    expect(named(r.calls, SET_ENCRYPTION_ACTIVITY)).toHaveLength(3);
    // propagation wait 30 s, then the two grant-propagation waits: 60 s, 120 s …
    expect(r.timers).toEqual([30, 60, 120, 15]); // … and the provisioning poll
    expect(r.logs.filter((l) => /Azure said: Azure raw text \d/.test(l))).toHaveLength(2);
  });

  it('the same refusal without a grant of this run (the role assignment existed) is not retried', async () => {
    const r = await runEnable(
      enableResponder({
        [GRANT_KEY_ACCESS_ACTIVITY]: () => ok({ grants: [grant(false)] }),
        [SET_ENCRYPTION_ACTIVITY]: () => refused(400, 'BadRequest', 'the key cannot be used'),
      }),
    );
    const out = r.state.output as EnableCmkOutput;
    expect(out.outcome).toBe('failed');
    expect(out.error).toMatchObject({
      step: 'setEncryption',
      class: 'refusal',
      status: 400,
      code: 'BadRequest',
    });
    expect(named(r.calls, SET_ENCRYPTION_ACTIVITY)).toHaveLength(1);
  });

  it('a refusal with another code after a fresh grant (409 Conflict) is not retried', async () => {
    const r = await runEnable(
      enableResponder({ [SET_ENCRYPTION_ACTIVITY]: () => refused(409, 'Conflict', 'Unable to freeze') }),
    );
    expect((r.state.output as EnableCmkOutput).error).toMatchObject({ class: 'refusal', status: 409 });
    expect(named(r.calls, SET_ENCRYPTION_ACTIVITY)).toHaveLength(1);
  });

  it('a platform fault that outlasts the retries: a 503-class failure after exactly the six attempts', async () => {
    const r = await runEnable(
      enableResponder({ [SET_ENCRYPTION_ACTIVITY]: () => ({ throws: 'socket hang up' }) }),
    );
    const out = r.state.output as EnableCmkOutput;
    expect(out.outcome).toBe('failed');
    expect(out.error).toMatchObject({
      step: 'setEncryption',
      class: 'platform',
      status: 503,
      code: 'PlatformFault',
    });
    expect(named(r.calls, SET_ENCRYPTION_ACTIVITY).map((c) => c.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(out.summary).toContain('Key access granted before the failure stays in place');
  });
});

// ---------------------------------------------------------------------------------------------------

const PRI = request.namespace;
const SEC_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/sb-prod-02`;
const SEC = { ...PRI, id: SEC_ID, name: 'sb-prod-02' };
const ALIAS = 'sb-prod-alias';
const geoInput: EnableCmkGeoDrInput = {
  primary: PRI,
  secondary: SEC,
  alias: ALIAS,
  keys: enableInput.keys,
  identity: enableInput.identity,
  requireInfrastructureEncryption: false,
  settings,
};
const aliasFacts = (
  role: GeoDrAliasFacts['role'],
  partner?: string,
  more: Partial<GeoDrAliasFacts> = {},
) => ({
  name: ALIAS,
  role,
  ...(partner ? { partnerNamespaceId: partner } : {}),
  provisioningState: 'Succeeded',
  pendingReplicationOperationsCount: 0,
  ...more,
});
const PAIRED = {
  primaryAlias: aliasFacts('Primary', SEC_ID),
  secondaryAlias: aliasFacts('Secondary', PRI.id),
};
const BROKEN = { primaryAlias: aliasFacts('PrimaryNotReplicating') };

function geoFacts(aliases: { primaryAlias?: GeoDrAliasFacts; secondaryAlias?: GeoDrAliasFacts }) {
  return {
    alias: ALIAS,
    primary: enableFacts(),
    secondary: enableFacts({ namespace: { id: SEC_ID, name: 'sb-prod-02' } }),
    ...aliases,
  };
}

/**
 * Azure as the Geo-DR flow sees it: `aliases` is what a read answers now (the test moves it as the
 * break and the pairing take effect); the break and the pair answers are scripted per test.
 */
function geoResponder(
  opts: { breakAnswer?: (call: Call) => Answer; pairAnswer?: (call: Call) => Answer } = {},
) {
  const azure = { aliases: PAIRED as { primaryAlias?: GeoDrAliasFacts; secondaryAlias?: GeoDrAliasFacts } };
  const reads: Array<typeof azure.aliases> = [];
  const respond = (call: Call): Answer => {
    switch (call.name) {
      case GEO_READ_FACTS_ACTIVITY:
        return ok({ facts: geoFacts(azure.aliases) });
      case GEO_READ_ALIASES_ACTIVITY:
        reads.push(azure.aliases);
        return ok(azure.aliases);
      case GEO_BREAK_ACTIVITY:
        azure.aliases = BROKEN; // the break takes effect in Azure — whatever the caller hears
        return opts.breakAnswer ? opts.breakAnswer(call) : ok({ already: false });
      case GEO_PAIR_ACTIVITY: {
        const answer = opts.pairAnswer ? opts.pairAnswer(call) : ok({ already: false });
        if ('result' in answer && (answer.result as { ok: boolean }).ok) azure.aliases = PAIRED;
        return answer;
      }
      case ENSURE_IDENTITY_ACTIVITY:
        return ok({ principalId: 'p-sec', tenantId: 't-1', cmk: { encrypted: false } });
      case GRANT_KEY_ACCESS_ACTIVITY:
        return ok({ grants: [{ ...grant(true), principalId: 'p-sec' }] });
      case REFRESH_KEY_INDEX:
        return ok(refreshed);
      case ENABLE_CMK_ORCHESTRATION:
        return {
          result: {
            outcome: 'enabled',
            summary: 'enabled',
            grants: [grant(true)],
            steps: [],
            changes: [],
            findings: [],
          },
        };
      default:
        throw new Error(`unexpected call ${call.name}`);
    }
  };
  return { respond, reads, azure };
}

const runGeo = (respond: (call: Call) => Answer) =>
  replay(enableCmkGeoDrOrchestrator, geoInput, respond, { name: 'enableCmkGeoDr' });

describe('enableCmkGeoDr replay', () => {
  it('break → grant → encrypt (under the enable instance id) → re-pair; the pairing reported is the last read', async () => {
    const azure = geoResponder();
    const r = await runGeo(azure.respond);
    const out = r.state.output as EnableCmkGeoDrOutput;
    expect(out.outcome).toBe('enabled');
    const sub = r.calls.filter((c) => c.kind === 'subOrchestration');
    expect(sub).toEqual([
      expect.objectContaining({ name: ENABLE_CMK_ORCHESTRATION, instanceId: enableCmkInstanceId(PRI.id) }),
    ]);
    expect(out.pairing).toEqual(pairingFromAliases(geoInput, azure.reads.at(-1)!));
    expect(out.pairing).toMatchObject({ intact: true, state: 'paired' });
    // Last, after the re-pair: the index learns the pairing (both namespaces' subscription, once).
    expect(r.calls.at(-1)).toMatchObject({ name: REFRESH_KEY_INDEX, input: { subscriptionIds: [SUB] } });
    expect(out.keyIndex?.refreshed).toBe(true);
  });

  it('a break that took effect but whose answer was lost: re-read, reported broken, re-paired — never "intact"', async () => {
    const azure = geoResponder({ breakAnswer: () => ({ throws: 'ECONNRESET: the answer was lost' }) });
    const r = await runGeo(azure.respond);
    const out = r.state.output as EnableCmkGeoDrOutput;
    expect(named(r.calls, GEO_BREAK_ACTIVITY)).toHaveLength(6);
    expect(out.error).toMatchObject({ step: 'breakPairing', class: 'platform', status: 503 });
    // The first read after the failure saw the broken pairing, and customStatus said so.
    expect(azure.reads[0]).toBe(BROKEN);
    const afterFailure = r.statuses
      .map((s) => (s as EnableCmkGeoDrStatus | undefined)?.pairing)
      .filter((p) => p?.state === 'broken');
    expect(afterFailure.length).toBeGreaterThan(0);
    expect(out.summary).not.toContain('The pairing is intact');
    // … so the run restored it, and reports the read that followed.
    expect(named(r.calls, GEO_PAIR_ACTIVITY)).toHaveLength(1);
    expect(out.outcome).toBe('restored');
    expect(out.steps.at(-1)).toMatchObject({ kind: 'restorePairing', status: 'done' });
    expect(out.pairing).toEqual(pairingFromAliases(geoInput, azure.reads.at(-1)!));
  });

  it('a break that did not take effect and failed: the re-read says intact, and nothing is re-paired', async () => {
    const azure = geoResponder({
      breakAnswer: () => {
        azure.azure.aliases = PAIRED; // Azure never broke it
        return { throws: 'ETIMEDOUT' };
      },
    });
    const r = await runGeo(azure.respond);
    const out = r.state.output as EnableCmkGeoDrOutput;
    expect(out.outcome).toBe('failed');
    expect(out.summary).toContain('The pairing is intact.');
    expect(out.pairing).toEqual(pairingFromAliases(geoInput, PAIRED));
    expect(named(r.calls, GEO_PAIR_ACTIVITY)).toHaveLength(0);
  });

  it('re-pair refused for good after a lost break: critical, and the pairing is the broken one read last', async () => {
    const azure = geoResponder({
      breakAnswer: () => ({ throws: 'ECONNRESET' }),
      pairAnswer: () => refused(409, 'Conflict', 'Unable to freeze secondary namespace'),
    });
    const r = await runGeo(azure.respond);
    const out = r.state.output as EnableCmkGeoDrOutput;
    expect(out.outcome).toBe('critical');
    expect(out.pairing).toMatchObject({ intact: false, state: 'broken' });
    expect(out.pairing.detail).toContain('CRITICAL');
    expect(azure.reads.at(-1)).toBe(BROKEN);
  });
});
