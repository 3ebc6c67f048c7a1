/**
 * The Geo-DR preflight and plan (pure): both orders, both identity kinds, every refusal with nothing
 * planned, convergence from a broken pairing, the no-op, the secondary's access plan, the request.
 */
import {
  buildGeoDrPlan,
  pairingState,
  geoDrRequestFindings,
  parseEnableCmkGeoDrRequest,
  repairCommand,
  secondaryAccessPlan,
  type EnablePreflightFacts,
  type GeoDrAliasFacts,
  type GeoDrFacts,
} from '../../src/domain';
import { NOW, NS_ID, RG, SUB, SUFFIX, UAI_ID, enableFacts, keyUrl, vaultFacts } from './domain-fixtures';

const SEC_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/sb-prod-02`;
const ALIAS = 'sb-prod-alias';
const KEY = keyUrl('kv-prod', 'cmk-1');

const paired = (): Pick<GeoDrFacts, 'primaryAlias' | 'secondaryAlias'> => ({
  primaryAlias: alias('Primary', SEC_ID),
  secondaryAlias: alias('Secondary', NS_ID),
});
function alias(
  role: GeoDrAliasFacts['role'],
  partner?: string,
  more: Partial<GeoDrAliasFacts> = {},
): GeoDrAliasFacts {
  return {
    name: ALIAS,
    role,
    ...(partner ? { partnerNamespaceId: partner } : {}),
    provisioningState: 'Succeeded',
    pendingReplicationOperationsCount: 0,
    ...more,
  };
}

function facts(
  opts: {
    request?: Record<string, unknown>;
    primary?: Partial<EnablePreflightFacts['namespace']>;
    secondary?: Partial<EnablePreflightFacts['namespace']>;
    secondaryAccess?: boolean;
    vaults?: ReturnType<typeof vaultFacts>[];
  } & Partial<Pick<GeoDrFacts, 'primaryAlias' | 'secondaryAlias'>> = {},
): GeoDrFacts {
  const request = opts.request ?? { keys: [{ keyId: KEY }] };
  const primary = enableFacts({
    request,
    namespace: opts.primary ?? {},
    ...(opts.vaults ? { vaults: opts.vaults } : {}),
  });
  const secondary = enableFacts({
    request,
    namespace: { id: SEC_ID, name: 'sb-prod-02', ...(opts.secondary ?? {}) },
    ...(opts.vaults ? { vaults: opts.vaults } : {}),
  });
  if (opts.secondaryAccess) secondary.keys = secondary.keys.map((k) => ({ ...k, identityHasAccess: true }));
  return {
    alias: ALIAS,
    primary,
    secondary,
    ...(opts.primaryAlias ? { primaryAlias: opts.primaryAlias } : {}),
    ...(opts.secondaryAlias ? { secondaryAlias: opts.secondaryAlias } : {}),
  };
}

const kinds = (p: { steps: { kind: string }[] }) => p.steps.map((s) => s.kind);
const blocking = (p: { findings: { ruleId: string; blocks: boolean }[] }) =>
  p.findings
    .filter((f) => f.blocks)
    .map((f) => f.ruleId)
    .sort();

describe('the two orders', () => {
  it('already paired, system-assigned: break → wait → grant secondary → encrypt primary → re-pair → wait', () => {
    const plan = buildGeoDrPlan(facts(paired()), NOW);
    expect(plan.outcome).toBe('apply');
    expect(plan.order).toBe('breakEncryptRepair');
    expect(plan.pairing).toBe('paired');
    expect(kinds(plan)).toEqual([
      'breakPairing',
      'waitForBreak',
      'grantSecondary',
      'encryptPrimary',
      'pair',
      'waitForReplication',
    ]);
  });

  it('a pairing already broken (by a run that stopped, or a break still completing) continues without breaking again', () => {
    for (const secondaryAlias of [undefined, alias('Secondary', NS_ID, { provisioningState: 'Accepted' })]) {
      const plan = buildGeoDrPlan(
        facts({
          primaryAlias: alias('PrimaryNotReplicating', undefined, {
            provisioningState: secondaryAlias ? 'Accepted' : 'Succeeded',
          }),
          ...(secondaryAlias ? { secondaryAlias } : {}),
        }),
        NOW,
      );
      expect(plan.outcome).toBe('apply');
      expect(plan.pairing).toBe('broken');
      expect(kinds(plan)).toEqual([
        'waitForBreak',
        'grantSecondary',
        'encryptPrimary',
        'pair',
        'waitForReplication',
      ]);
    }
  });

  it('CMK first, system-assigned: encrypt the primary, grant the secondary, pair, wait', () => {
    const plan = buildGeoDrPlan(facts(), NOW);
    expect(plan.order).toBe('cmkFirstThenPair');
    expect(kinds(plan)).toEqual(['encryptPrimary', 'grantSecondary', 'pair', 'waitForReplication']);
  });

  it('CMK first, user-assigned: the secondary is encrypted first with the same identity, then the primary', () => {
    const plan = buildGeoDrPlan(
      facts({ request: { keys: [{ keyId: KEY }], identity: { type: 'UserAssigned', resourceId: UAI_ID } } }),
      NOW,
    );
    expect(plan.outcome).toBe('apply');
    expect(kinds(plan)).toEqual(['encryptSecondary', 'encryptPrimary', 'pair', 'waitForReplication']);
  });

  it('primary encrypted with these keys, paired, secondary able to use them: no-op', () => {
    const f = facts({ ...paired(), secondaryAccess: true });
    const key = f.primary.request.keys[0]!;
    f.primary.namespace.cmk = {
      encrypted: true,
      keys: [{ ...key, pinned: false, identity: { type: 'SystemAssigned' } }],
      requireInfrastructureEncryption: false,
      identity: { type: 'SystemAssigned' },
    };
    const plan = buildGeoDrPlan(f, NOW);
    expect(plan.outcome).toBe('noOp');
    expect(plan.steps).toEqual([]);
  });
});

describe('preflight: refusals plan nothing', () => {
  it('a primary with entities, a Standard secondary and a vault without purge protection: all at once', () => {
    const plan = buildGeoDrPlan(
      facts({
        ...paired(),
        primary: { queueCount: 2 },
        secondary: { skuTier: 'Standard' },
        vaults: [vaultFacts('kv-prod', { purgeProtectionEnabled: false })],
      }),
      NOW,
    );
    expect(plan.outcome).toBe('blocked');
    expect(plan.steps).toEqual([]);
    expect(blocking(plan)).toEqual(['CMK-007', 'GEO-002', 'GEO-003']);
    expect(plan.summary).toMatch(/Nothing was changed/);
  });

  it('a partner other than the requested secondary, or roles reversed: GEO-004', () => {
    const other = SEC_ID.replace('sb-prod-02', 'sb-other');
    expect(blocking(buildGeoDrPlan(facts({ primaryAlias: alias('Primary', other) }), NOW))).toEqual([
      'GEO-004',
    ]);
    expect(
      blocking(
        buildGeoDrPlan(
          facts({ primaryAlias: alias('Secondary', SEC_ID), secondaryAlias: alias('Primary', NS_ID) }),
          NOW,
        ),
      ),
    ).toContain('GEO-004');
    expect(pairingState({ alias: 'another-alias', ...paired(), secondaryId: SEC_ID })).toBe('mismatch');
  });

  it('a pairing or failover in progress, or replication pending: GEO-005 (wait)', () => {
    const accepted = facts({
      primaryAlias: alias('Primary', SEC_ID, {
        provisioningState: 'Accepted',
        pendingReplicationOperationsCount: 12,
      }),
      secondaryAlias: alias('Secondary', NS_ID, { provisioningState: 'Accepted' }),
    });
    const plan = buildGeoDrPlan(accepted, NOW);
    expect(blocking(plan)).toEqual(['GEO-005']);
    expect(plan.findings.find((f) => f.ruleId === 'GEO-005')?.message).toMatch(/12 replication operation/);
  });

  it('user-assigned on an already paired primary: GEO-006 with the documented order and the command', () => {
    const plan = buildGeoDrPlan(
      facts({
        ...paired(),
        request: { keys: [{ keyId: KEY }], identity: { type: 'UserAssigned', resourceId: UAI_ID } },
      }),
      NOW,
    );
    expect(blocking(plan)).toEqual(['GEO-006']);
    const f = plan.findings.find((x) => x.ruleId === 'GEO-006')!;
    expect(f.fix).toMatch(/BOTH namespaces, then pair/);
    expect(f.command).toBe(
      `az servicebus georecovery-alias break-pair --resource-group ${RG} --namespace-name sb-prod-01 --alias ${ALIAS}`,
    );
  });

  it('an unpaired secondary with entities cannot join a pairing: GEO-007', () => {
    expect(blocking(buildGeoDrPlan(facts({ secondary: { topicCount: 1 } }), NOW))).toEqual(['GEO-007']);
  });
});

describe('the secondary access plan', () => {
  it('a secondary without a system identity: enable it, then grant it on each vault', () => {
    const secondary = facts().secondary;
    const access = secondaryAccessPlan(secondary, NOW);
    expect(access.findings).toEqual([]);
    expect(access.steps.map((s) => `${s.kind}:${s.action}`)).toEqual([
      'ensureIdentity:enableSystemAssigned',
      'grantKeyAccess:addAccessPolicy',
    ]);
  });

  it('a secondary that already has access: nothing to write', () => {
    const f = facts({
      secondaryAccess: true,
      secondary: { identity: { systemAssigned: { principalId: 'p-2', tenantId: 't' }, userAssigned: [] } },
    });
    expect(secondaryAccessPlan(f.secondary, NOW).steps.filter((s) => s.action !== 'none')).toEqual([]);
  });
});

describe('request and command', () => {
  it('parses a valid body; keys and identity validated as for enable', () => {
    const r = parseEnableCmkGeoDrRequest(
      {
        primaryNamespaceId: NS_ID,
        secondaryNamespaceId: SEC_ID,
        alias: ALIAS,
        keys: [{ keyId: KEY }],
        dryRun: true,
      },
      SUFFIX,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.primary.name).toBe('sb-prod-01');
    expect(r.value.secondary.name).toBe('sb-prod-02');
    expect(r.value.identity).toEqual({ type: 'SystemAssigned' });
    expect(r.value.dryRun).toBe(true);
  });

  it.each([
    ['system-assigned: the primary only', { type: 'SystemAssigned' }, [NS_ID]],
    [
      'user-assigned: the primary and the secondary it encrypts too',
      { type: 'UserAssigned', resourceId: UAI_ID },
      [NS_ID, SEC_ID],
    ],
  ])(
    "request findings (%s) are the plan's PRE-005/006/007 findings, known before any read",
    (_label, identity, subjects) => {
      const keys = [1, 2, 3].map((i) => ({ keyId: keyUrl('kv-prod', `cmk-${i}`) }));
      const f = facts({
        request: { keys: [...keys, { keyId: 'https://kv-prod.vault.azure.net:443/keys/x' }], identity },
      });
      const early = geoDrRequestFindings(
        { ...f.primary.request, primaryId: f.primary.namespace.id, secondaryId: f.secondary.namespace.id },
        f.primary.settings,
        NOW,
      );
      const plan = buildGeoDrPlan(f, NOW);
      expect(early).toEqual(
        plan.findings.filter((x) => ['PRE-005', 'PRE-006', 'PRE-007'].includes(x.ruleId)),
      );
      expect(early.filter((x) => x.ruleId === 'PRE-005').map((x) => x.subject.id)).toEqual(subjects);
      expect(early.filter((x) => x.ruleId === 'PRE-007')).toHaveLength(1);
    },
  );

  it('reports every problem at once', () => {
    const r = parseEnableCmkGeoDrRequest(
      { primaryNamespaceId: NS_ID, secondaryNamespaceId: NS_ID, alias: '1x', keys: [], extra: 1 },
      SUFFIX,
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.field).sort()).toEqual(['alias', 'extra', 'keys', 'secondaryNamespaceId']);
  });

  it('the re-pair command names the alias, the primary and the partner', () => {
    expect(
      repairCommand({ id: NS_ID, subscriptionId: SUB, resourceGroup: RG, name: 'sb-prod-01' }, SEC_ID, ALIAS),
    ).toBe(
      `az servicebus georecovery-alias set --resource-group ${RG} --namespace-name sb-prod-01 --alias ${ALIAS} --partner-namespace ${SEC_ID}`,
    );
  });
});

describe('CMK-012 repair', () => {
  it("paired, primary encrypted, the secondary's identity lost access: grant it without breaking the pairing", () => {
    const f = facts({
      ...paired(),
      secondary: { identity: { systemAssigned: { principalId: 'p-2', tenantId: 't' }, userAssigned: [] } },
    });
    const key = f.primary.request.keys[0]!;
    f.primary.namespace.cmk = {
      encrypted: true,
      keys: [{ ...key, pinned: false, identity: { type: 'SystemAssigned' } }],
      requireInfrastructureEncryption: false,
      identity: { type: 'SystemAssigned' },
    };
    const plan = buildGeoDrPlan(f, NOW);
    expect(plan.outcome).toBe('apply');
    expect(plan.order).toBe('grantSecondaryOnly');
    expect(kinds(plan)).toEqual(['grantSecondary', 'waitForReplication']);
  });
});
