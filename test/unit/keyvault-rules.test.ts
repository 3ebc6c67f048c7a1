import { addDuration, approxMs, parseDuration } from '../../sandbox/azure/keyvault/duration';
import { KeyVaultError } from '../../sandbox/azure/keyvault/errors';
import { transactionWeight, VaultLimits } from '../../sandbox/azure/keyvault/limits';
import {
  accessPolicyAllows,
  ipRuleMatches,
  KEY_OPERATIONS,
  type Caller,
} from '../../sandbox/azure/keyvault/permissions';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const caller: Caller = { objectId: 'OID-1', tenantId: TENANT, appId: 'app-1', clientAddress: '10.1.2.3' };

describe('ISO-8601 durations (rotation policies)', () => {
  it('parses the forms Key Vault uses and rejects the rest', () => {
    expect(parseDuration('P90D')).toMatchObject({ days: 90 });
    expect(parseDuration('P1Y2M10D')).toMatchObject({ years: 1, months: 2, days: 10 });
    expect(parseDuration('PT12H')).toMatchObject({ hours: 12 });
    for (const bad of ['P', '90D', 'PT', 'P1.5D', 'P-1D', '']) expect(parseDuration(bad)).toBeUndefined();
  });

  it('adds months on the calendar (clamped to the month end) and days exactly', () => {
    const jan31 = Date.UTC(2026, 0, 31, 8);
    expect(new Date(addDuration(jan31, parseDuration('P1M')!)).toISOString()).toBe(
      '2026-02-28T08:00:00.000Z',
    );
    expect(new Date(addDuration(jan31, parseDuration('P1Y')!)).toISOString()).toBe(
      '2027-01-31T08:00:00.000Z',
    );
    expect(addDuration(jan31, parseDuration('P30D')!, -1)).toBe(jan31 - 30 * 86_400_000);
    expect(approxMs(parseDuration('P1M')!)).toBe(30 * 86_400_000);
  });
});

describe('access policies and network rules', () => {
  it('matches object id and tenant case-insensitively, honours all and compound entries', () => {
    const entries = [{ tenantId: TENANT, objectId: 'oid-1', permissions: { keys: ['Get', 'WrapKey'] } }];
    expect(accessPolicyAllows(entries, caller, 'get')).toBe(true);
    expect(accessPolicyAllows(entries, caller, 'wrapKey')).toBe(true);
    expect(accessPolicyAllows(entries, caller, 'unwrapKey')).toBe(false);
    expect(
      accessPolicyAllows(
        [{ ...entries[0]!, tenantId: '11111111-1111-1111-1111-111111111111' }],
        caller,
        'get',
      ),
    ).toBe(false);
    expect(
      accessPolicyAllows(
        [{ tenantId: TENANT, objectId: 'oid-1', permissions: { keys: ['all'] } }],
        caller,
        'purge',
      ),
    ).toBe(true);
    const compound = [
      { tenantId: TENANT, objectId: 'oid-1', applicationId: 'other-app', permissions: { keys: ['get'] } },
    ];
    expect(accessPolicyAllows(compound, caller, 'get')).toBe(false);
    expect(accessPolicyAllows(compound, { ...caller, appId: 'other-app' }, 'get')).toBe(true);
    // Secrets permissions do not grant key operations.
    expect(
      accessPolicyAllows(
        [{ tenantId: TENANT, objectId: 'oid-1', permissions: { secrets: ['get'] } }],
        caller,
        'get',
      ),
    ).toBe(false);
  });

  it('matches IPv4 addresses and CIDR ranges, including v4-mapped addresses', () => {
    expect(ipRuleMatches('10.1.2.3', '10.1.2.3')).toBe(true);
    expect(ipRuleMatches('10.1.2.0/24', '10.1.2.200')).toBe(true);
    expect(ipRuleMatches('10.1.2.0/24', '10.1.3.1')).toBe(false);
    expect(ipRuleMatches('0.0.0.0/0', '8.8.8.8')).toBe(true);
    expect(ipRuleMatches('127.0.0.1', '::ffff:127.0.0.1')).toBe(true);
    expect(ipRuleMatches('10.1.2.0/33', '10.1.2.1')).toBe(false);
    expect(ipRuleMatches('10.1.2.1', '::1')).toBe(false);
  });

  it('maps each operation to its access-policy permission and RBAC data action', () => {
    expect(KEY_OPERATIONS.wrapKey).toEqual({
      permission: 'wrapKey',
      dataAction: 'Microsoft.KeyVault/vaults/keys/wrap/action',
    });
    expect(KEY_OPERATIONS.getrotationpolicy.dataAction).toBe(
      'Microsoft.KeyVault/vaults/keyrotationpolicies/read',
    );
    expect(KEY_OPERATIONS.list.dataAction).toBe('Microsoft.KeyVault/vaults/keys/read');
  });
});

describe('Key Vault service limits', () => {
  const version = (kty: string, keySize?: number) =>
    ({ material: { kty, ...(keySize ? { keySize } : {}) } }) as unknown as Parameters<
      typeof transactionWeight
    >[0];

  it('weighs transactions by key size and protection', () => {
    expect(transactionWeight(version('RSA', 2048))).toBe(1);
    expect(transactionWeight(version('RSA', 3072))).toBe(4);
    expect(transactionWeight(version('RSA', 4096))).toBe(8);
    expect(transactionWeight(version('RSA-HSM', 4096))).toBe(16);
    expect(transactionWeight(version('EC'))).toBe(1);
  });

  it('refills per 10-second window on the clock and answers 429 with Retry-After', () => {
    const limits = new VaultLimits();
    const t0 = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 10; i++) limits.take('kv', 'create', true, 1, t0);
    let error: unknown;
    try {
      limits.take('kv', 'create', true, 1, t0);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KeyVaultError);
    expect((error as KeyVaultError).status).toBe(429);
    expect((error as KeyVaultError).headers['Retry-After']).toBe('1');
    // Software creates have their own budget; one second later an HSM create fits again.
    limits.take('kv', 'create', false, 1, t0);
    limits.take('kv', 'create', true, 1, t0 + 1000);
    // 500 RSA-4096 GETs (weight 8) exhaust the 4,000 budget.
    for (let i = 0; i < 500; i++) limits.take('kv', 'other', false, 8, t0);
    expect(() => limits.take('kv', 'other', false, 8, t0)).toThrow(KeyVaultError);
    expect(() => limits.take('other-vault', 'other', false, 8, t0)).not.toThrow();
  });
});
