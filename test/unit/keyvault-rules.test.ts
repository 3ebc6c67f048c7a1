import { addDuration, approxMs, parseDuration } from '../../sandbox/azure/keyvault/duration';
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
