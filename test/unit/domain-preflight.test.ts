import { cmkStateFromEncryption, evaluateKeyHealth } from '../../src/domain/cmkState';
import {
  PREFLIGHT_RULES,
  VERDICT_RULES,
  cmkVerdict,
  evaluateDiagnosis,
  evaluatePreflight,
  evaluateRequestFindings,
  hasBlockingFindings,
  type DiagnoseFacts,
  type Finding,
} from '../../src/domain/preflight';
import {
  NOW,
  NS_ID,
  SUB,
  SUFFIX,
  UAI_ID,
  V1,
  enableFacts,
  keyFacts,
  keyUrl,
  namespaceFacts,
  vaultFacts,
  vaultId,
} from './domain-fixtures';

// Every rule id seen in a finding by any test below; the last test checks the catalogue is covered.
const fired = new Set<string>();
const ids = (findings: Finding[]): string[] => {
  findings.forEach((f) => fired.add(f.ruleId));
  return findings.map((f) => f.ruleId);
};
const only = (findings: Finding[], ruleId: string): Finding => {
  const matching = findings.filter((f) => f.ruleId === ruleId);
  expect(matching).toHaveLength(1);
  fired.add(ruleId);
  return matching[0] as Finding;
};

describe('the rule catalogue', () => {
  it('has unique ids, CMK-0xx/PRE-0xx, and a template for every rule', () => {
    const all = PREFLIGHT_RULES.map((r) => r.id);
    expect(new Set(all).size).toBe(all.length);
    for (const rule of PREFLIGHT_RULES) {
      expect(rule.id).toMatch(/^(CMK|PRE)-0\d\d$/);
      expect(Object.keys(rule.templates).length).toBeGreaterThan(0);
      expect(rule.title).not.toBe('');
    }
  });
});

describe('evaluatePreflight (enable)', () => {
  it('finds nothing for an empty Premium namespace and a healthy key in a healthy vault', () => {
    expect(evaluatePreflight(enableFacts(), NOW)).toEqual([]);
  });

  it('PRE-001: Standard tier', () => {
    const f = only(evaluatePreflight(enableFacts({ namespace: { skuTier: 'Standard' } }), NOW), 'PRE-001');
    expect(f).toMatchObject({ severity: 'error', blocks: true, subject: { kind: 'namespace', id: NS_ID } });
    expect(f.message).toBe(
      'Namespace sb-prod-01 is on the Standard tier; customer-managed keys need the Premium tier.',
    );
    expect(f.command).toBe(
      'az servicebus namespace create --resource-group rg-cmk --name <new-namespace> --location westeurope --sku Premium',
    );
  });

  it('PRE-002: namespace with queues or topics', () => {
    const f = only(
      evaluatePreflight(enableFacts({ namespace: { queueCount: 2, topicCount: 1 } }), NOW),
      'PRE-002',
    );
    expect(f.message).toContain('has 2 queue(s) and 1 topic(s)');
    expect(f.command).toContain(
      'az servicebus queue list --resource-group rg-cmk --namespace-name sb-prod-01',
    );
  });

  it('PRE-003: Geo-DR primary or secondary, pointing to the Geo-DR operation', () => {
    for (const role of ['Primary', 'Secondary'] as const) {
      const f = only(
        evaluatePreflight(
          enableFacts({ namespace: { geoDr: { alias: 'sb-alias', role, partnerNamespaceId: 'x' } } }),
          NOW,
        ),
        'PRE-003',
      );
      expect(f.message).toContain(`Geo-DR ${role.toLowerCase()} of alias sb-alias`);
      expect(f.fix).toContain('POST /api/cmk/geo-dr');
    }
    const unpaired = enableFacts({
      namespace: { geoDr: { alias: 'sb-alias', role: 'PrimaryNotReplicating' } },
    });
    expect(evaluatePreflight(unpaired, NOW)).toEqual([]);
  });

  it('PRE-004: namespace busy', () => {
    const f = only(
      evaluatePreflight(enableFacts({ namespace: { provisioningState: 'Updating' } }), NOW),
      'PRE-004',
    );
    expect(f.message).toContain('provisioning state Updating');
  });

  it('PRE-005: four keys', () => {
    const keys = [1, 2, 3, 4].map((i) => ({ keyId: keyUrl('kv-prod', `cmk-${i}`) }));
    const f = only(evaluatePreflight(enableFacts({ request: { keys } }), NOW), 'PRE-005');
    expect(f.message).toBe('4 keys were given; a namespace takes 1 to 3 customer-managed keys.');
  });

  it('PRE-006: the same key twice (even once pinned)', () => {
    const keys = [{ keyId: keyUrl('kv-prod', 'cmk-1') }, { keyId: keyUrl('kv-prod', 'CMK-1', V1) }];
    const findings = evaluatePreflight(enableFacts({ request: { keys } }), NOW);
    const f = only(findings, 'PRE-006');
    expect(f.subject).toMatchObject({ kind: 'key', keyIndex: 1 });
  });

  it('PRE-007: key vault host outside the cloud suffix, and nothing else is checked for that key', () => {
    const findings = evaluatePreflight(
      enableFacts({ request: { keys: [{ keyId: 'https://kv-prod.attacker.example/keys/cmk-1' }] } }),
      NOW,
    );
    expect(ids(findings)).toEqual(['PRE-007']);
    expect(findings[0]?.message).toBe(
      'Key https://kv-prod.attacker.example/keys/cmk-1 is on host kv-prod.attacker.example, which is not a Key Vault of this cloud (https://<vault>.vault.azure.net/, no port); the app does not call it.',
    );
  });

  it('the request-only rules give, before any read, exactly the findings the full preflight gives for them', () => {
    const keys = [
      { keyId: keyUrl('kv-prod', 'cmk-1') },
      { keyId: keyUrl('kv-prod', 'cmk-1') },
      { keyId: 'https://kv-prod.vault.azure.net:8443/keys/cmk-2' },
      { keyId: keyUrl('kv-dr', 'cmk-3') },
    ];
    const facts = enableFacts({ request: { keys } });
    const full = evaluatePreflight(facts, NOW);
    const early = evaluateRequestFindings(facts.namespace.id, facts.request, facts.settings, NOW);
    expect(ids(early)).toEqual(['PRE-005', 'PRE-006', 'PRE-007']);
    expect(early).toEqual(full.filter((f) => ['PRE-005', 'PRE-006', 'PRE-007'].includes(f.ruleId)));
    expect(early[2]?.message).toContain('is on host kv-prod.vault.azure.net:8443');
    expect(PREFLIGHT_RULES.filter((r) => r.reads === 'request').map((r) => r.id)).toEqual([
      'PRE-005',
      'PRE-006',
      'PRE-007',
    ]);
    // A clean request has none.
    const clean = enableFacts({ request: { keys: [{ keyId: keyUrl('kv-prod', 'cmk-1') }] } });
    expect(evaluateRequestFindings(clean.namespace.id, clean.request, clean.settings, NOW)).toEqual([]);
  });

  it('PRE-008: already encrypted with other keys (refused: CMK cannot be replaced by enable)', () => {
    const cmk = cmkStateFromEncryption(
      { keyVaultProperties: [{ keyName: 'old-key', keyVaultUri: 'https://kv-old.vault.azure.net/' }] },
      SUFFIX,
    );
    const f = only(evaluatePreflight(enableFacts({ namespace: { cmk } }), NOW), 'PRE-008');
    expect(f.message).toContain('already encrypted with https://kv-old.vault.azure.net/keys/old-key');
    expect(f.message).toContain('CMK cannot be removed');
    expect(f.command).toBe(
      'az servicebus namespace encryption add --resource-group rg-cmk --namespace-name sb-prod-01 --encryption-config key-name=cmk-1 key-vault-uri=https://kv-prod.vault.azure.net/',
    );
  });

  it('PRE-008: same keys through another identity is refused too', () => {
    const cmk = cmkStateFromEncryption(
      { keyVaultProperties: [{ keyName: 'cmk-1', keyVaultUri: 'https://kv-prod.vault.azure.net/' }] },
      SUFFIX,
    );
    const facts = enableFacts({
      namespace: { cmk },
      request: {
        keys: [{ keyId: keyUrl('kv-prod', 'cmk-1') }],
        identity: { type: 'UserAssigned', resourceId: UAI_ID },
      },
      userAssignedIdentity: { resourceId: UAI_ID, status: 'found', principalId: 'p-uai' },
    });
    const f = only(evaluatePreflight(facts, NOW), 'PRE-008');
    expect(f.message).toContain('through the system-assigned identity, not user-assigned identity');
  });

  it('PRE-009: infrastructure encryption requested on an already encrypted namespace without it', () => {
    const cmk = cmkStateFromEncryption(
      { keyVaultProperties: [{ keyName: 'cmk-1', keyVaultUri: 'https://kv-prod.vault.azure.net/' }] },
      SUFFIX,
    );
    const facts = enableFacts({
      namespace: { cmk },
      request: { keys: [{ keyId: keyUrl('kv-prod', 'cmk-1') }], requireInfrastructureEncryption: true },
    });
    expect(ids(evaluatePreflight(facts, NOW))).toEqual(['PRE-009']);
  });

  it('PRE-010: user-assigned identity missing, unreadable, or one too many', () => {
    const request = {
      keys: [{ keyId: keyUrl('kv-prod', 'cmk-1') }],
      identity: { type: 'UserAssigned', resourceId: UAI_ID },
    };
    const missing = only(
      evaluatePreflight(
        enableFacts({ request, userAssignedIdentity: { resourceId: UAI_ID, status: 'notFound' } }),
        NOW,
      ),
      'PRE-010',
    );
    expect(missing.message).toBe(`Managed identity id-cmk (${UAI_ID}) was not found.`);
    expect(missing.command).toBe('az identity create --resource-group rg-cmk --name id-cmk');
    const forbidden = only(
      evaluatePreflight(
        enableFacts({ request, userAssignedIdentity: { resourceId: UAI_ID, status: 'forbidden' } }),
        NOW,
      ),
      'PRE-010',
    );
    expect(forbidden.fix).toContain('Managed Identity Operator');
    const four = [1, 2, 3, 4].map((i) => ({ resourceId: UAI_ID.replace('id-cmk', `id-${i}`) }));
    const tooMany = only(
      evaluatePreflight(
        enableFacts({
          request,
          namespace: { identity: { userAssigned: four } },
          userAssignedIdentity: { resourceId: UAI_ID, status: 'found', principalId: 'p' },
        }),
        NOW,
      ),
      'PRE-010',
    );
    expect(tooMany.message).toContain('already has 4 user-assigned identities');
  });

  it('PRE-011: vault not found, not readable, not answering', () => {
    for (const status of ['notFound', 'forbidden', 'unreachable'] as const) {
      const findings = evaluatePreflight(
        enableFacts({ vaults: [vaultFacts('kv-prod', { status, detail: 'HTTP 503' })], keys: [{}] }),
        NOW,
      );
      expect(ids(findings)).toEqual(['PRE-011']);
      expect(findings[0]?.subject).toEqual({ kind: 'vault', id: 'https://kv-prod.vault.azure.net/' });
    }
  });

  it('CMK-007: purge protection off, with the exact fix', () => {
    const findings = evaluatePreflight(
      enableFacts({ vaults: [vaultFacts('kv-prod', { purgeProtectionEnabled: false })] }),
      NOW,
    );
    const f = only(findings, 'CMK-007');
    expect(`${f.message} ${f.fix}`).toBe(
      'Key vault kv-prod has purge protection off. Turn it on with: az keyvault update --name kv-prod --enable-purge-protection true',
    );
    expect(f.command).toBe('az keyvault update --name kv-prod --enable-purge-protection true');
  });

  it('CMK-007: soft delete off, and both off', () => {
    const soft = only(
      evaluatePreflight(enableFacts({ vaults: [vaultFacts('kv-prod', { softDeleteEnabled: false })] }), NOW),
      'CMK-007',
    );
    expect(soft.command).toBe('az keyvault update --name kv-prod --enable-soft-delete true');
    const both = only(
      evaluatePreflight(
        enableFacts({
          vaults: [vaultFacts('kv-prod', { softDeleteEnabled: false, purgeProtectionEnabled: false })],
        }),
        NOW,
      ),
      'CMK-007',
    );
    expect(both.message).toBe('Key vault kv-prod has soft delete and purge protection off.');
  });

  it('CMK-009: vault with a virtual network rule, or denying without trusted-service bypass', () => {
    const subnet = `/subscriptions/${SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/s1`;
    const vnet = only(
      evaluatePreflight(
        enableFacts({
          vaults: [
            vaultFacts('kv-prod', {
              networkAcls: {
                defaultAction: 'Deny',
                bypass: 'AzureServices',
                virtualNetworkRuleIds: [subnet],
              },
            }),
          ],
        }),
        NOW,
      ),
      'CMK-009',
    );
    expect(vnet.message).toContain('has 1 virtual network rule(s)');
    expect(vnet.command).toBe(`az keyvault network-rule remove --name kv-prod --subnet ${subnet}`);
    const noBypass = only(
      evaluatePreflight(
        enableFacts({
          vaults: [
            vaultFacts('kv-prod', {
              networkAcls: { defaultAction: 'Deny', bypass: 'None', virtualNetworkRuleIds: [] },
            }),
          ],
        }),
        NOW,
      ),
      'CMK-009',
    );
    expect(noBypass.command).toBe('az keyvault update --name kv-prod --bypass AzureServices');
    const allowAll = enableFacts({
      vaults: [
        vaultFacts('kv-prod', {
          networkAcls: { defaultAction: 'Allow', bypass: 'None', virtualNetworkRuleIds: [] },
        }),
      ],
    });
    expect(evaluatePreflight(allowAll, NOW)).toEqual([]);
  });

  it('PRE-016: a key whose vault or key facts are missing never passes silently', () => {
    const noVault = only(evaluatePreflight(enableFacts({ vaults: [] }), NOW), 'PRE-016');
    expect(noVault.message).toContain('nothing about key vault kv-prod');
    expect(noVault.blocks).toBe(true);
    const noKey = only(evaluatePreflight(enableFacts({ keys: [{}] }), NOW), 'PRE-016');
    expect(noKey.message).toContain('nothing about the key itself');
  });

  it('CMK-002: key missing (create) or soft-deleted (recover)', () => {
    const missing = only(
      evaluatePreflight(enableFacts({ keys: [{ key: { status: 'notFound' } }] }), NOW),
      'CMK-002',
    );
    expect(missing.message).toBe('Key cmk-1 was not found in key vault kv-prod.');
    expect(missing.command).toBe(
      'az keyvault key create --vault-name kv-prod --name cmk-1 --kty RSA --size 3072',
    );
    const deleted = only(
      evaluatePreflight(enableFacts({ keys: [{ key: { status: 'deleted' } }] }), NOW),
      'CMK-002',
    );
    expect(deleted.command).toBe('az keyvault key recover --vault-name kv-prod --name cmk-1');
  });

  it('PRE-012: key not readable by the app', () => {
    const f = only(
      evaluatePreflight(enableFacts({ keys: [{ key: { status: 'forbidden' } }] }), NOW),
      'PRE-012',
    );
    expect(f.message).toContain("the app's identity is not allowed to");
  });

  it('CMK-003: key disabled', () => {
    const f = only(
      evaluatePreflight(enableFacts({ keys: [{ key: keyFacts({ enabled: false }) }] }), NOW),
      'CMK-003',
    );
    expect(f.command).toBe('az keyvault key set-attributes --vault-name kv-prod --name cmk-1 --enabled true');
  });

  it('CMK-004: key expired', () => {
    const f = only(
      evaluatePreflight(
        enableFacts({ keys: [{ key: keyFacts({ expiresOn: '2026-05-01T00:00:00.000Z' }) }] }),
        NOW,
      ),
      'CMK-004',
    );
    expect(f.message).toBe('Key cmk-1 in key vault kv-prod expired on 2026-05-01T00:00:00Z.');
    expect(f.command).toBe('az keyvault key rotate --vault-name kv-prod --name cmk-1');
  });

  it('PRE-013: key not yet valid', () => {
    const f = only(
      evaluatePreflight(
        enableFacts({ keys: [{ key: keyFacts({ notBefore: '2026-07-01T00:00:00Z' }) }] }),
        NOW,
      ),
      'PRE-013',
    );
    expect(f.command).toBe(
      'az keyvault key set-attributes --vault-name kv-prod --name cmk-1 --not-before 2026-06-01T00:00:00Z',
    );
  });

  it('PRE-014: EC key', () => {
    const f = only(
      evaluatePreflight(enableFacts({ keys: [{ key: keyFacts({ kty: 'EC' }) }] }), NOW),
      'PRE-014',
    );
    expect(f.message).toContain('is an EC key');
    expect(evaluatePreflight(enableFacts({ keys: [{ key: keyFacts({ kty: 'RSA-HSM' }) }] }), NOW)).toEqual(
      [],
    );
  });

  it('PRE-015: key operations without wrap/unwrap', () => {
    const f = only(
      evaluatePreflight(enableFacts({ keys: [{ key: keyFacts({ keyOps: ['sign', 'verify'] }) }] }), NOW),
      'PRE-015',
    );
    expect(f.message).toContain('does not allow wrapKey and unwrapKey');
    expect(f.command).toBe(
      'az keyvault key set-attributes --vault-name kv-prod --name cmk-1 --ops sign verify wrapKey unwrapKey',
    );
  });

  it('CMK-005 warning: key expiring within the warning window, does not block', () => {
    const findings = evaluatePreflight(
      enableFacts({ keys: [{ key: keyFacts({ expiresOn: '2026-06-11T00:00:00.000Z' }) }] }),
      NOW,
    );
    const f = only(findings, 'CMK-005');
    expect(f).toMatchObject({ severity: 'warning', blocks: false });
    expect(f.message).toBe('Key cmk-1 in key vault kv-prod expires on 2026-06-11T00:00:00Z (in 10 day(s)).');
    expect(hasBlockingFindings(findings)).toBe(false);
    expect(
      evaluatePreflight(
        enableFacts({
          keys: [{ key: keyFacts({ expiresOn: '2026-06-11T00:00:00.000Z' }) }],
          keyExpiryWarningDays: 7,
        }),
        NOW,
      ),
    ).toEqual([]);
  });

  it('CMK-006 warning: pinned key version, with the versionless id as the fix', () => {
    const f = only(
      evaluatePreflight(enableFacts({ request: { keys: [{ keyId: keyUrl('kv-prod', 'cmk-1', V1) }] } }), NOW),
      'CMK-006',
    );
    expect(f.blocks).toBe(false);
    expect(f.fix).toBe('Pass the versionless key id instead: https://kv-prod.vault.azure.net/keys/cmk-1');
  });

  it('CMK-014 warning: no rotation policy, or no expiry', () => {
    const noPolicy = only(
      evaluatePreflight(enableFacts({ keys: [{ key: keyFacts({ rotationPolicy: null }) }] }), NOW),
      'CMK-014',
    );
    expect(noPolicy.command).toContain(
      'az keyvault key rotation-policy update --vault-name kv-prod --name cmk-1',
    );
    expect(noPolicy.command).toContain('"timeBeforeExpiry":"P30D"');
    const noExpiry = only(
      evaluatePreflight(enableFacts({ keys: [{ key: keyFacts({ expiresOn: undefined }) }] }), NOW),
      'CMK-014',
    );
    expect(noExpiry.message).toBe('Key cmk-1 in key vault kv-prod has no expiry date.');
    // A policy that could not be read is not reported as missing.
    expect(
      evaluatePreflight(enableFacts({ keys: [{ key: keyFacts({ rotationPolicy: undefined }) }] }), NOW),
    ).toEqual([]);
  });

  it('reports every failure at once, namespace then vaults then keys, each with its fix', () => {
    const keys = [
      { keyId: keyUrl('kv-prod', 'cmk-1') },
      { keyId: keyUrl('kv-dr', 'cmk-2', V1) },
      { keyId: 'https://kv-x.example.com/keys/cmk-3' },
      { keyId: keyUrl('kv-dr', 'cmk-4') },
    ];
    const facts = enableFacts({
      request: { keys },
      namespace: {
        skuTier: 'Standard',
        queueCount: 1,
        geoDr: { alias: 'sb-alias', role: 'Primary', partnerNamespaceId: 'p' },
      },
      vaults: [
        vaultFacts('kv-prod', { purgeProtectionEnabled: false }),
        vaultFacts('kv-dr', {
          networkAcls: { defaultAction: 'Deny', bypass: 'None', virtualNetworkRuleIds: [] },
        }),
      ],
      keys: [
        { key: keyFacts({ enabled: false }) },
        { key: keyFacts({ expiresOn: '2026-01-01T00:00:00Z' }) },
        {},
        { key: { status: 'notFound' } },
      ],
    });
    const findings = evaluatePreflight(facts, NOW);
    expect(ids(findings)).toEqual([
      'PRE-001',
      'PRE-002',
      'PRE-003',
      'PRE-005',
      'PRE-007',
      'CMK-007',
      'CMK-009',
      'CMK-002',
      'CMK-003',
      'CMK-004',
      'CMK-006',
    ]);
    expect(findings.every((f) => f.fix.length > 0)).toBe(true);
    expect(hasBlockingFindings(findings)).toBe(true);
  });

  it('skips the encrypt-time namespace checks on a re-run with the same keys (no-op)', () => {
    const cmk = cmkStateFromEncryption(
      { keyVaultProperties: [{ keyName: 'cmk-1', keyVaultUri: 'https://kv-prod.vault.azure.net/' }] },
      SUFFIX,
    );
    const facts = enableFacts({
      namespace: { cmk, queueCount: 5, geoDr: { alias: 'a', role: 'Primary' } },
      keys: [{ key: keyFacts({ expiresOn: '2026-06-11T00:00:00.000Z' }), identityHasAccess: true }],
    });
    expect(ids(evaluatePreflight(facts, NOW))).toEqual(['CMK-005']);
  });
});

describe('evaluateDiagnosis', () => {
  const twoKeys = cmkStateFromEncryption(
    {
      keyVaultProperties: [
        { keyName: 'cmk-1', keyVaultUri: 'https://kv-prod.vault.azure.net/' },
        { keyName: 'cmk-2', keyVaultUri: 'https://kv-dr.vault.azure.net/', keyVersion: V1 },
      ],
    },
    SUFFIX,
  );
  const diagnoseFacts = (overrides: Partial<DiagnoseFacts> = {}): DiagnoseFacts => ({
    namespace: namespaceFacts({ cmk: twoKeys, queueCount: 3 }),
    vaults: [vaultFacts('kv-prod'), vaultFacts('kv-dr', { permissionModel: 'rbac' })],
    keys: [
      { key: keyFacts(), identityHasAccess: true },
      { key: keyFacts(), identityHasAccess: true },
    ],
    principalId: 'p-ns',
    settings: { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 },
    ...overrides,
  });

  it('a healthy encrypted namespace with a pinned key: only the CMK-006 warning, not the enable checks', () => {
    const diagnosis = evaluateDiagnosis(diagnoseFacts(), NOW);
    expect(ids(diagnosis.findings)).toEqual(['CMK-006']);
    expect(diagnosis.findings[0]?.command).toBe(
      'az servicebus namespace encryption add --resource-group rg-cmk --namespace-name sb-prod-01 --encryption-config key-name=cmk-2 key-vault-uri=https://kv-dr.vault.azure.net/',
    );
    expect(diagnosis.usableKeys).toBe(2);
    expect(diagnosis.keys.map((k) => [k.vaultName, k.pinned, k.health?.status])).toEqual([
      ['kv-prod', false, 'healthy'],
      ['kv-dr', true, 'healthy'],
    ]);
  });

  it('CMK-001: Premium without CMK', () => {
    const diagnosis = evaluateDiagnosis(
      diagnoseFacts({ namespace: namespaceFacts(), vaults: [], keys: [] }),
      NOW,
    );
    expect(ids(diagnosis.findings)).toEqual(['CMK-001']);
    expect(diagnosis.findings[0]?.fix).toContain(NS_ID);
  });

  it('CMK-008 + CMK-011: one key lost its access (degraded), with the grant command per model', () => {
    const diagnosis = evaluateDiagnosis(
      diagnoseFacts({
        keys: [
          { key: keyFacts(), identityHasAccess: true },
          { key: keyFacts(), identityHasAccess: false },
        ],
      }),
      NOW,
    );
    expect(ids(diagnosis.findings)).toEqual(['CMK-011', 'CMK-008', 'CMK-006']);
    const access = only(diagnosis.findings, 'CMK-008');
    expect(access.command).toBe(
      `az role assignment create --assignee-object-id p-ns --assignee-principal-type ServicePrincipal --role "Key Vault Crypto Service Encryption User" --scope ${vaultId('kv-dr')}/keys/cmk-2`,
    );
    expect(only(diagnosis.findings, 'CMK-011').message).toContain('can use 1 of its 2 keys');
    expect(diagnosis.usableKeys).toBe(1);
  });

  it('CMK-010 critical: no usable key at all (deleted + expired)', () => {
    const diagnosis = evaluateDiagnosis(
      diagnoseFacts({
        keys: [{ key: { status: 'deleted' } }, { key: keyFacts({ expiresOn: '2026-05-01T00:00:00Z' }) }],
      }),
      NOW,
    );
    const critical = only(diagnosis.findings, 'CMK-010');
    expect(critical.severity).toBe('critical');
    expect(critical.message).toContain('cmk-1: deleted; cmk-2: expired');
    expect(ids(diagnosis.findings)).toEqual(['CMK-010', 'CMK-002', 'CMK-004', 'CMK-006']);
  });

  it('does not call a namespace inoperable when a key could not be read (unknown is not unusable)', () => {
    const diagnosis = evaluateDiagnosis(
      diagnoseFacts({ keys: [{ key: { status: 'unreachable' } }, { key: { status: 'deleted' } }] }),
      NOW,
    );
    expect(ids(diagnosis.findings)).not.toContain('CMK-010');
    expect(ids(diagnosis.findings)).toContain('PRE-012');
  });

  describe('guardian additions: deleted-key cache window, firewall, Geo-DR partner', () => {
    const oneKey = cmkStateFromEncryption(
      { keyVaultProperties: [{ keyName: 'cmk-1', keyVaultUri: 'https://kv-prod.vault.azure.net/' }] },
      SUFFIX,
    );
    const minutesAgo = (m: number): string => new Date(NOW.getTime() - m * 60_000).toISOString();
    const gone = (seen: { lastPresentAt?: string; goneSince?: string }) => ({
      key: { status: 'notFound' as const },
      seen,
    });
    const single = (keys: DiagnoseFacts['keys'], settings: Partial<DiagnoseFacts['settings']> = {}) =>
      evaluateDiagnosis(
        diagnoseFacts({
          namespace: namespaceFacts({ cmk: oneKey }),
          keys,
          settings: { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30, ...settings },
        }),
        NOW,
      );

    it('a key seen present and missing since 20 min: inoperable within 40 min of the default 60 (CMK-010 cached)', () => {
      const d = single([gone({ lastPresentAt: minutesAgo(25), goneSince: minutesAgo(20) })]);
      expect(d.health.verdict).toBe('inoperable');
      expect(d.cacheWindow).toEqual({
        until: new Date(NOW.getTime() + 40 * 60_000).toISOString(),
        inoperableWithinMinutes: 40,
        keyIds: ['https://kv-prod.vault.azure.net/keys/cmk-1'],
      });
      const f = only(d.findings, 'CMK-010');
      expect(f.message).toContain('inoperable within 40 min or less (cache window 60 min');
      expect(f.command).toBe('az keyvault key recover --vault-name kv-prod --name cmk-1');
    });

    it('first seen missing now: the whole window; DELETED_KEY_CACHE_MINUTES shortens it', () => {
      expect(single([gone({ lastPresentAt: minutesAgo(5) })]).cacheWindow?.inoperableWithinMinutes).toBe(60);
      expect(
        single([gone({ lastPresentAt: minutesAgo(5) })], { deletedKeyCacheMinutes: 15 }).cacheWindow
          ?.inoperableWithinMinutes,
      ).toBe(15);
    });

    it('no window when the key was never seen present, or the window is over', () => {
      const never = single([gone({ goneSince: minutesAgo(1) })]);
      expect(never.cacheWindow).toBeUndefined();
      expect(only(never.findings, 'CMK-010').command).toBeUndefined();
      expect(
        single([gone({ lastPresentAt: minutesAgo(90), goneSince: minutesAgo(61) })]).cacheWindow,
      ).toBeUndefined();
    });

    it('a deleted key while another usable key remains is degraded, with no cache window', () => {
      const d = evaluateDiagnosis(
        diagnoseFacts({
          keys: [gone({ lastPresentAt: minutesAgo(2) }), { key: keyFacts(), identityHasAccess: true }],
        }),
        NOW,
      );
      expect(d.health.verdict).toBe('degraded');
      expect(d.cacheWindow).toBeUndefined();
    });

    it('a vault firewall that denies without trusted-service bypass makes its key unusable: inoperable', () => {
      const d = evaluateDiagnosis(
        diagnoseFacts({
          namespace: namespaceFacts({ cmk: oneKey }),
          vaults: [
            vaultFacts('kv-prod', {
              networkAcls: { defaultAction: 'Deny', bypass: 'None', virtualNetworkRuleIds: [] },
            }),
          ],
          keys: [{ key: keyFacts(), identityHasAccess: true }],
        }),
        NOW,
      );
      expect(d.health).toEqual({ verdict: 'inoperable', ruleIds: ['CMK-010'], usableKeyIds: [] });
      expect(only(d.findings, 'CMK-010').message).toContain('cmk-1: vault firewall blocks Service Bus');
      expect(ids(d.findings)).toEqual(['CMK-010', 'CMK-009']);
    });

    it('CMK-012: the Geo-DR partner of a primary cannot use one of its keys (per permission model)', () => {
      const partnerId = NS_ID.replace('sb-prod-01', 'sb-prod-02');
      const d = evaluateDiagnosis(
        diagnoseFacts({
          namespace: namespaceFacts({
            cmk: twoKeys,
            geoDr: { alias: 'alias-1', role: 'Primary', partnerNamespaceId: partnerId },
          }),
          geoDrPartner: {
            namespaceId: partnerId,
            principalId: 'p-partner',
            keys: [{ identityHasAccess: false }, { identityHasAccess: false }],
          },
        }),
        NOW,
      );
      expect(d.health.verdict).toBe('healthy');
      const partner = d.findings.filter((f) => f.ruleId === 'CMK-012');
      ids(partner);
      expect(partner.map((f) => f.command)).toEqual([
        'az keyvault set-policy --name kv-prod --object-id p-partner --key-permissions get wrapKey unwrapKey',
        `az role assignment create --assignee-object-id p-partner --assignee-principal-type ServicePrincipal --role "Key Vault Crypto Service Encryption User" --scope ${vaultId('kv-dr')}/keys/cmk-2`,
      ]);
      expect(partner[0]?.message).toContain('Geo-DR partner sb-prod-02 cannot use key cmk-1');
      // Unknown access (partner unreadable) is not reported as missing.
      const unknown = evaluateDiagnosis(
        diagnoseFacts({ geoDrPartner: { namespaceId: partnerId, keys: [{}, {}] } }),
        NOW,
      );
      expect(ids(unknown.findings)).not.toContain('CMK-012');
    });
  });

  it('CMK-013: infrastructure encryption required by config', () => {
    const diagnosis = evaluateDiagnosis(
      diagnoseFacts({
        settings: {
          keyVaultDnsSuffix: SUFFIX,
          keyExpiryWarningDays: 30,
          requireInfrastructureEncryption: true,
        },
      }),
      NOW,
    );
    expect(ids(diagnosis.findings)).toContain('CMK-013');
  });

  it('CMK-013 by scope: a namespace in or below a configured scope, whole segments only', () => {
    const facts = diagnoseFacts();
    const id = facts.namespace.id.toLowerCase();
    const group = id.replace(/\/providers\/.*$/, '');
    const fires = (scopes: string[]) =>
      ids(
        evaluateDiagnosis(
          { ...facts, settings: { ...facts.settings, infrastructureEncryptionScopes: scopes } },
          NOW,
        ).findings,
      ).includes('CMK-013');
    expect([fires([group]), fires([id]), fires([group.replace(/\/resourcegroups\/.*$/, '')])]).toEqual([
      true,
      true,
      true,
    ]);
    expect([fires([]), fires([`${group}x`]), fires([`${id}-other`])]).toEqual([false, false, false]);
  });

  it('CMK-008 on an access-policy vault gives the set-policy command', () => {
    const diagnosis = evaluateDiagnosis(
      diagnoseFacts({
        keys: [
          { key: keyFacts(), identityHasAccess: false },
          { key: keyFacts(), identityHasAccess: true },
        ],
      }),
      NOW,
    );
    expect(only(diagnosis.findings, 'CMK-008').command).toBe(
      'az keyvault set-policy --name kv-prod --object-id p-ns --key-permissions get wrapKey unwrapKey',
    );
  });
});

describe('the CMK health verdict (one evaluator, reused by diagnose)', () => {
  const twoKeys = cmkStateFromEncryption(
    {
      keyVaultProperties: [
        { keyName: 'cmk-1', keyVaultUri: 'https://kv-prod.vault.azure.net/' },
        { keyName: 'cmk-2', keyVaultUri: 'https://kv-dr.vault.azure.net/' },
      ],
    },
    SUFFIX,
  );
  const K1 = 'https://kv-prod.vault.azure.net/keys/cmk-1';
  const K2 = 'https://kv-dr.vault.azure.net/keys/cmk-2';
  const facts = (keys: DiagnoseFacts['keys'], cmk = twoKeys): DiagnoseFacts => ({
    namespace: namespaceFacts({ cmk, queueCount: 1 }),
    vaults: [vaultFacts('kv-prod'), vaultFacts('kv-dr', { permissionModel: 'rbac' })],
    keys,
    principalId: 'p-ns',
    settings: { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 },
  });
  const ok = { key: keyFacts(), identityHasAccess: true };
  const verdictOf = (keys: DiagnoseFacts['keys'], cmk = twoKeys) =>
    evaluateDiagnosis(facts(keys, cmk), NOW).health;

  it('the verdict rules are catalogue rules, most severe first', () => {
    expect(VERDICT_RULES.map((r) => [r.ruleId, r.verdict])).toEqual([
      ['CMK-010', 'inoperable'],
      ['CMK-011', 'degraded'],
      ['CMK-005', 'atRisk'],
    ]);
    const catalogue = new Set(PREFLIGHT_RULES.map((r) => r.id));
    expect(VERDICT_RULES.every((r) => catalogue.has(r.ruleId))).toBe(true);
  });

  it('healthy: every key usable, none expiring', () => {
    expect(verdictOf([ok, ok])).toEqual({ verdict: 'healthy', ruleIds: [], usableKeyIds: [K1, K2] });
  });

  it('atRisk (CMK-005): a usable key expires within the warning window', () => {
    const soon = { key: keyFacts({ expiresOn: '2026-06-20T00:00:00Z' }), identityHasAccess: true };
    expect(evaluateKeyHealthDays(soon)).toBe(19);
    expect(verdictOf([ok, soon])).toEqual({
      verdict: 'atRisk',
      ruleIds: ['CMK-005'],
      usableKeyIds: [K1, K2],
    });
  });

  it('degraded (CMK-011): one key disabled, the other remains usable — names the remaining key', () => {
    const disabled = { key: keyFacts({ enabled: false }), identityHasAccess: true };
    expect(verdictOf([disabled, ok])).toEqual({
      verdict: 'degraded',
      ruleIds: ['CMK-011'],
      usableKeyIds: [K2],
    });
  });

  it.each([
    ['missing', { key: { status: 'notFound' as const } }],
    ['deleted', { key: { status: 'deleted' as const } }],
    ['disabled', { key: keyFacts({ enabled: false }), identityHasAccess: true }],
    ['expired', { key: keyFacts({ expiresOn: '2026-05-01T00:00:00Z' }), identityHasAccess: true }],
    ['access revoked (policy or RBAC)', { key: keyFacts(), identityHasAccess: false }],
  ])('inoperable (CMK-010): the only key is %s', (_label, subject) => {
    const oneKey = cmkStateFromEncryption(
      { keyVaultProperties: [{ keyName: 'cmk-1', keyVaultUri: 'https://kv-prod.vault.azure.net/' }] },
      SUFFIX,
    );
    expect(verdictOf([subject], oneKey)).toEqual({
      verdict: 'inoperable',
      ruleIds: ['CMK-010'],
      usableKeyIds: [],
    });
  });

  it('inoperable when both keys are gone (one deleted, one without access)', () => {
    expect(
      verdictOf([{ key: { status: 'deleted' } }, { key: keyFacts(), identityHasAccess: false }]).verdict,
    ).toBe('inoperable');
  });

  it('unknown: a key could not be read and none is known unusable — neither healthy nor inoperable', () => {
    expect(verdictOf([{ key: { status: 'unreachable' } }, ok])).toEqual({
      verdict: 'unknown',
      ruleIds: [],
      usableKeyIds: [K2],
    });
  });

  it('notEncrypted: a namespace without CMK', () => {
    expect(evaluateDiagnosis({ ...facts([]), namespace: namespaceFacts() }, NOW).health).toEqual({
      verdict: 'notEncrypted',
      ruleIds: [],
      usableKeyIds: [],
    });
  });

  it('cmkVerdict decides from the findings alone (no second copy of the rules)', () => {
    const finding = (ruleId: string): Finding => ({
      ruleId,
      severity: 'warning',
      blocks: false,
      title: '',
      message: '',
      fix: '',
      subject: { kind: 'namespace', id: NS_ID },
    });
    const keys = [{ keyId: K1, usability: 'usable' as const }];
    expect(cmkVerdict(true, [finding('CMK-005'), finding('CMK-011')], keys)).toEqual({
      verdict: 'degraded',
      ruleIds: ['CMK-011', 'CMK-005'],
      usableKeyIds: [K1],
    });
  });
});

const evaluateKeyHealthDays = (s: DiagnoseFacts['keys'][number]): number | undefined =>
  s.key ? evaluateKeyHealth(s.key, NOW, 30).daysToExpiry : undefined;

describe('coverage of the catalogue', () => {
  it('every rule fired with a complete message and fix in the tests above', () => {
    expect([...fired].sort()).toEqual(PREFLIGHT_RULES.map((r) => r.id).sort());
  });
});
