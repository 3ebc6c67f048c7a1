import { VirtualClock } from '../../sandbox/clock';
import { Rbac } from '../../sandbox/azure/rbac/authorization';
import {
  actionMatches,
  ancestorScopes,
  normalizeScope,
  permissionGrants,
  scopeContains,
} from '../../sandbox/azure/rbac/match';
import { BUILT_IN_ROLES, ROLE_IDS } from '../../sandbox/azure/rbac/roles';
import { MemoryStore } from '../../sandbox/azure/store';

describe('action wildcards', () => {
  test.each([
    ['*', 'Microsoft.KeyVault/vaults/write', true],
    ['*/read', 'Microsoft.KeyVault/vaults/read', true],
    ['*/read', 'Microsoft.KeyVault/vaults/write', false],
    ['Microsoft.KeyVault/*', 'Microsoft.KeyVault/vaults/accessPolicy/write', true],
    ['Microsoft.KeyVault/*', 'Microsoft.KeyVaultX/vaults/read', false],
    ['microsoft.keyvault/VAULTS/read', 'Microsoft.KeyVault/vaults/read', true],
    ['Microsoft.KeyVault/vaults/*/read', 'Microsoft.KeyVault/vaults/keys/read', true],
    ['Microsoft.KeyVault/vaults/*/read', 'Microsoft.KeyVault/vaults/read', false],
    ['Microsoft.Authorization/*/Write', 'Microsoft.Authorization/roleAssignments/write', true],
    ['Microsoft.Insights/Metrics/Write', 'Microsoft.Insights/metrics/write', true],
    ['Microsoft.KeyVault/vaults/keys/read', 'Microsoft.KeyVault/vaults/keys/readX', false],
  ])('%s matches %s → %s', (pattern, action, expected) => {
    expect(actionMatches(pattern, action)).toBe(expected);
  });

  test('regex metacharacters in actions are literal', () => {
    expect(actionMatches('Microsoft.KeyVault/vaults/read', 'MicrosoftXKeyVault/vaults/read')).toBe(false);
  });
});

describe('permission blocks', () => {
  const contributor = BUILT_IN_ROLES.find((r) => r.name === ROLE_IDS.contributor)!.permissions[0]!;
  const kvReader = BUILT_IN_ROLES.find((r) => r.name === ROLE_IDS.keyVaultReader)!.permissions[0]!;
  const kvContributor = BUILT_IN_ROLES.find((r) => r.name === ROLE_IDS.keyVaultContributor)!.permissions[0]!;

  test('notActions subtract from actions', () => {
    expect(permissionGrants(contributor, 'Microsoft.KeyVault/vaults/write', 'action')).toBe(true);
    expect(permissionGrants(contributor, 'Microsoft.Authorization/roleAssignments/write', 'action')).toBe(
      false,
    );
    expect(permissionGrants(contributor, 'Microsoft.Authorization/roleAssignments/read', 'action')).toBe(
      true,
    );
    expect(
      permissionGrants(kvContributor, 'Microsoft.KeyVault/locations/deletedVaults/purge/action', 'action'),
    ).toBe(false);
    expect(permissionGrants(kvContributor, 'Microsoft.KeyVault/vaults/accessPolicy/write', 'action')).toBe(
      true,
    );
  });

  test('"*" in actions never grants a dataAction', () => {
    expect(permissionGrants(contributor, 'Microsoft.KeyVault/vaults/keys/read', 'dataAction')).toBe(false);
    expect(permissionGrants(kvReader, 'Microsoft.KeyVault/vaults/keys/read', 'dataAction')).toBe(true);
    expect(permissionGrants(kvReader, 'Microsoft.KeyVault/vaults/keys/unwrap/action', 'dataAction')).toBe(
      false,
    );
  });
});

describe('scopes', () => {
  test('an assignment applies at its scope and below, not beside', () => {
    const rg = '/subscriptions/s1/resourceGroups/rg';
    expect(scopeContains('/', `${rg}/providers/Microsoft.KeyVault/vaults/v`)).toBe(true);
    expect(scopeContains(rg, `${rg}/providers/Microsoft.KeyVault/vaults/v`)).toBe(true);
    expect(scopeContains(rg, '/subscriptions/S1/RESOURCEGROUPS/RG/')).toBe(true);
    expect(scopeContains(rg, '/subscriptions/s1/resourceGroups/rg2')).toBe(false);
    expect(scopeContains(`${rg}/providers/Microsoft.KeyVault/vaults/v`, rg)).toBe(false);
  });

  test('normalisation and ancestors', () => {
    expect(normalizeScope('')).toBe('/');
    expect(normalizeScope('/Subscriptions/A/')).toBe('/subscriptions/a');
    expect(ancestorScopes('/subscriptions/s/resourceGroups/rg')).toEqual([
      '/',
      '/subscriptions',
      '/subscriptions/s',
      '/subscriptions/s/resourceGroups',
      '/subscriptions/s/resourceGroups/rg',
    ]);
  });
});

describe('Rbac', () => {
  test('assignments take effect after the propagation delay, on the clock, and leave with their scope', async () => {
    const clock = new VirtualClock(0);
    const rbac = new Rbac(new MemoryStore(), clock, 60_000);
    const vault = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v';
    rbac.putAssignment({
      scope: '/subscriptions/s/resourceGroups/rg',
      name: 'a1',
      roleDefinitionId: `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.keyVaultCryptoServiceEncryptionUser}`,
      principalId: 'P',
      principalType: 'ServicePrincipal',
      createdBy: 'admin',
    });
    expect(rbac.isAllowed('p', 'Microsoft.KeyVault/vaults/keys/wrap/action', vault, 'dataAction')).toBe(
      false,
    );
    await clock.advanceBy(60_000);
    expect(rbac.isAllowed('p', 'Microsoft.KeyVault/vaults/keys/wrap/action', vault, 'dataAction')).toBe(true);
    expect(rbac.isAllowed('p', 'Microsoft.KeyVault/vaults/keys/delete', vault, 'dataAction')).toBe(false);
    expect(rbac.isAllowed('p', 'Microsoft.EventGrid/eventSubscriptions/write', vault, 'action')).toBe(true);
    expect(() => rbac.authorize('p', 'Microsoft.KeyVault/vaults/write', vault)).toThrow(
      /does not have authorization to perform action 'Microsoft\.KeyVault\/vaults\/write' over scope/,
    );
    expect(rbac.deleteAssignmentsUnder('/subscriptions/s/resourceGroups/rg')).toBe(1);
    expect(rbac.isAllowed('p', 'Microsoft.KeyVault/vaults/keys/wrap/action', vault, 'dataAction')).toBe(
      false,
    );
  });

  test('built-in roles have unique real GUIDs', () => {
    const ids = BUILT_IN_ROLES.map((r) => r.name);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(Object.values(ROLE_IDS)));
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});
