import {
  KeyVaultUrlError,
  ResourceIdError,
  hostOf,
  UNTRUSTED_HOST_REASONS,
  isKeyVaultUrl,
  isUnderKeyVaultDnsSuffix,
  keyReferenceKey,
  keyVaultKeyIdFromParts,
  keyVaultKeyScope,
  normalizeResourceId,
  parseKeyVaultKeyId,
  parseKeyVaultKeyIdShape,
  parseKeyVaultResourceId,
  parseKeyVaultUri,
  parseResourceId,
  parseServiceBusNamespaceId,
  parseUserAssignedIdentityId,
  resourceIdKey,
  sameResourceId,
} from '../../src/domain/resourceIds';
import { NS_ID, SUB, SUFFIX, UAI_ID, V1 } from './domain-fixtures';

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('parseResourceId', () => {
  it('normalises keyword, provider and type casing, keeps names, lower-cases the subscription', () => {
    const parsed = parseResourceId(
      `/SUBSCRIPTIONS/${SUB.toUpperCase()}/resourcegroups/RG-Cmk/providers/microsoft.servicebus/NAMESPACES/Sb-Prod-01/`,
    );
    expect(parsed).toEqual({
      id: `/subscriptions/${SUB}/resourceGroups/RG-Cmk/providers/Microsoft.ServiceBus/namespaces/Sb-Prod-01`,
      subscriptionId: SUB,
      resourceGroup: 'RG-Cmk',
      provider: 'Microsoft.ServiceBus',
      types: ['namespaces'],
      names: ['Sb-Prod-01'],
      type: 'Microsoft.ServiceBus/namespaces',
      name: 'Sb-Prod-01',
      parentId: `/subscriptions/${SUB}/resourceGroups/RG-Cmk`,
    });
  });

  it('parses child resources with canonical child types and the parent id', () => {
    const parsed = parseResourceId(
      `${NS_ID}/DISASTERRECOVERYCONFIGS/alias-1`.replace('Microsoft.ServiceBus', 'MICROSOFT.SERVICEBUS'),
    );
    expect(parsed.type).toBe('Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs');
    expect(parsed.types).toEqual(['namespaces', 'disasterRecoveryConfigs']);
    expect(parsed.names).toEqual(['sb-prod-01', 'alias-1']);
    expect(parsed.name).toBe('alias-1');
    expect(parsed.parentId).toBe(NS_ID);
  });

  it('keeps unknown providers and types as given', () => {
    const parsed = parseResourceId(
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Contoso.Widgets/gadgets/g1`,
    );
    expect(parsed.type).toBe('Contoso.Widgets/gadgets');
  });

  it('parses subscription and resource group scopes', () => {
    expect(parseResourceId(`/subscriptions/${SUB}`)).toMatchObject({ type: 'subscriptions', name: SUB });
    expect(parseResourceId(`/subscriptions/${SUB}/resourceGroups/rg-1`)).toMatchObject({
      type: 'resourceGroups',
      name: 'rg-1',
      resourceGroup: 'rg-1',
      parentId: `/subscriptions/${SUB}`,
    });
  });

  it('parses an extension resource (role assignment at key scope) with its scope', () => {
    const keyScope = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod/keys/cmk-1`;
    const parsed = parseResourceId(
      `${keyScope.toLowerCase()}/providers/microsoft.authorization/roleassignments/11111111-2222-3333-4444-555555555555`,
    );
    expect(parsed.type).toBe('Microsoft.Authorization/roleAssignments');
    expect(parsed.scopeId).toBe(keyScope);
    expect(parsed.parentId).toBe(parsed.scopeId);
    expect(parsed.name).toBe('11111111-2222-3333-4444-555555555555');
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['subscriptions/x', 'notAResourceId'],
    ['https://management.azure.com/subscriptions/x', 'notAResourceId'],
    ['/resourceGroups/rg', 'notAResourceId'],
    ['/subscriptions/not-a-guid/resourceGroups/rg', 'invalidSubscription'],
    [`/subscriptions/${SUB}//resourceGroups/rg`, 'malformed'],
    [`/subscriptions/${SUB}/resourceGroups`, 'malformed'],
    [`/subscriptions/${SUB}/resourceGroups/rg/namespaces/x`, 'malformed'],
    [`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces`, 'malformed'],
    [`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus`, 'malformed'],
    [`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/a b`, 'malformed'],
    [
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/x?api-version=1`,
      'malformed',
    ],
    [
      `/subscriptions/${SUB}/resourceGroups/../providers/Microsoft.ServiceBus/namespaces/sb-prod-01`,
      'malformed',
    ],
    [
      `/subscriptions/${SUB}/resourceGroups/./providers/Microsoft.ServiceBus/namespaces/sb-prod-01`,
      'malformed',
    ],
    [`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/..`, 'malformed'],
    [`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb/..`, 'malformed'],
    [
      `/subscriptions/${SUB}/resourceGroups/%2e%2e/providers/Microsoft.ServiceBus/namespaces/sb-prod-01`,
      'malformed',
    ],
    [
      `/subscriptions/${SUB}/resourceGroups/%2E/providers/Microsoft.ServiceBus/namespaces/sb-prod-01`,
      'malformed',
    ],
    [
      `/subscriptions/${SUB}/resourceGroups/rg%zz/providers/Microsoft.ServiceBus/namespaces/sb-prod-01`,
      'malformed',
    ],
  ])('rejects %j as %s with a message', (input, reason) => {
    const e = errorOf(() => parseResourceId(input));
    expect(e).toBeInstanceOf(ResourceIdError);
    expect((e as ResourceIdError).reason).toBe(reason);
    expect((e as ResourceIdError).message.length).toBeGreaterThan(10);
  });

  it('names the dot segment or the encoding in the message', () => {
    expect(() =>
      parseServiceBusNamespaceId(
        `/subscriptions/${SUB}/resourceGroups/../providers/Microsoft.ServiceBus/namespaces/sb-prod-01`,
      ),
    ).toThrow("has a '..' segment (segment 4)");
    expect(() =>
      parseUserAssignedIdentityId(
        `/subscriptions/${SUB}/resourceGroups/%2e%2e/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1`,
      ),
    ).toThrow('percent-encoded character in segment 4');
    // A name that merely contains dots is still a name.
    expect(parseResourceId(`/subscriptions/${SUB}/resourceGroups/rg.with.dots`).name).toBe('rg.with.dots');
  });

  it('compares ids case-insensitively and ignores trailing slashes', () => {
    expect(sameResourceId(NS_ID, `${NS_ID.toUpperCase().replace(SUB.toUpperCase(), SUB)}//`)).toBe(true);
    expect(sameResourceId(NS_ID, NS_ID.replace('sb-prod-01', 'sb-prod-02'))).toBe(false);
    expect(sameResourceId(NS_ID, 'garbage')).toBe(false);
    expect(resourceIdKey(NS_ID.toUpperCase().replace(SUB.toUpperCase(), SUB))).toBe(NS_ID.toLowerCase());
    expect(normalizeResourceId(` ${NS_ID}/ `)).toBe(NS_ID);
  });
});

describe('typed resource id parsers', () => {
  it('parses a Service Bus namespace id in any casing', () => {
    expect(parseServiceBusNamespaceId(NS_ID.toLowerCase())).toEqual({
      id: `/subscriptions/${SUB}/resourceGroups/rg-cmk/providers/Microsoft.ServiceBus/namespaces/sb-prod-01`,
      subscriptionId: SUB,
      resourceGroup: 'rg-cmk',
      name: 'sb-prod-01',
    });
  });

  it('says what an id of another type is', () => {
    const e = errorOf(() => parseServiceBusNamespaceId(`${NS_ID}/queues/orders`)) as ResourceIdError;
    expect(e.reason).toBe('wrongType');
    expect(e.message).toContain('Microsoft.ServiceBus/namespaces/queues');
    expect(e.message).toContain('not a Service Bus namespace id');
    const rg = errorOf(() =>
      parseServiceBusNamespaceId(`/subscriptions/${SUB}/resourceGroups/rg`),
    ) as ResourceIdError;
    expect(rg.message).toContain('a resource group id');
  });

  it('checks namespace names against the Service Bus naming rule', () => {
    const e = errorOf(() =>
      parseServiceBusNamespaceId(NS_ID.replace('sb-prod-01', 'sb1')),
    ) as ResourceIdError;
    expect(e.reason).toBe('invalidName');
    expect(e.message).toContain('6-50');
  });

  it('parses user-assigned identity and key vault ids', () => {
    expect(
      parseUserAssignedIdentityId(UAI_ID.replace('Microsoft.ManagedIdentity', 'microsoft.managedidentity'))
        .id,
    ).toBe(UAI_ID);
    const kv = parseKeyVaultResourceId(
      `/subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.keyvault/VAULTS/kv-prod`,
    );
    expect(kv).toMatchObject({ name: 'kv-prod', resourceGroup: 'rg' });
    expect(kv.id).toBe(`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod`);
    expect(() => parseKeyVaultResourceId(UAI_ID)).toThrow(/not a Key Vault id/);
    expect(() =>
      parseKeyVaultResourceId(
        `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv--x`,
      ),
    ).toThrow(/not a valid Key Vault name/);
  });

  it('builds the RBAC key scope under the normalised vault id', () => {
    expect(
      keyVaultKeyScope(
        `/subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv-prod/`,
        'cmk-1',
      ),
    ).toBe(`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod/keys/cmk-1`);
  });
});

describe('Key Vault URLs', () => {
  it('parses a versionless key id, tolerating case and a trailing slash', () => {
    expect(parseKeyVaultKeyId('https://KV-Prod.Vault.Azure.NET/Keys/cmk-1/', SUFFIX)).toEqual({
      vaultUri: 'https://kv-prod.vault.azure.net/',
      vaultName: 'kv-prod',
      host: 'kv-prod.vault.azure.net',
      keyName: 'cmk-1',
      keyId: 'https://kv-prod.vault.azure.net/keys/cmk-1',
      versionlessKeyId: 'https://kv-prod.vault.azure.net/keys/cmk-1',
    });
  });

  it('parses a versioned key id and lower-cases the version', () => {
    const parsed = parseKeyVaultKeyId(
      `https://kv-prod.vault.azure.net/keys/cmk-1/${V1.toUpperCase()}`,
      SUFFIX,
    );
    expect(parsed.keyVersion).toBe(V1);
    expect(parsed.keyId).toBe(`https://kv-prod.vault.azure.net/keys/cmk-1/${V1}`);
    expect(parsed.versionlessKeyId).toBe('https://kv-prod.vault.azure.net/keys/cmk-1');
  });

  it.each([
    'https://kv-prod.vault.sandbox.localhost:8443/keys/cmk-1',
    'https://kv-prod.vault.sandbox.localhost:1/keys/cmk-1',
    'https://kv-prod.vault.sandbox.localhost:65535/keys/cmk-1',
    'https://kv-prod.vault.sandbox.localhost:443/keys/cmk-1',
    'https://kv-prod.vault.sandbox.localhost:/keys/cmk-1',
  ])('refuses %s: a vault URI of the cloud has no port (not even the default one)', (input) => {
    const e = errorOf(() => parseKeyVaultKeyId(input, 'vault.sandbox.localhost'));
    expect((e as KeyVaultUrlError).reason).toBe('port');
    expect(isKeyVaultUrl(input, 'vault.sandbox.localhost')).toBe(false);
    expect(UNTRUSTED_HOST_REASONS.has('port')).toBe(true);
  });

  it('accepts exactly the port-less form the cloud gives its vaults', () => {
    expect(
      parseKeyVaultKeyId('https://kv-prod.vault.sandbox.localhost/keys/cmk-1', 'vault.sandbox.localhost'),
    ).toMatchObject({
      vaultUri: 'https://kv-prod.vault.sandbox.localhost/',
      keyId: 'https://kv-prod.vault.sandbox.localhost/keys/cmk-1',
    });
    expect(isKeyVaultUrl('https://kv-prod.vault.azure.net/', SUFFIX)).toBe(true);
    expect(isKeyVaultUrl('https://kv-prod.vault.azure.net', SUFFIX)).toBe(true);
  });

  it.each([
    ['https://kv-prod.vault.azure.net/keys/../keys/cmk-1', 'malformed'],
    ['https://kv-prod.vault.azure.net/keys/./cmk-1', 'malformed'],
    ['https://kv-prod.vault.azure.net/keys/%2e%2e/cmk-1', 'malformed'],
    ['https://kv-prod.vault.azure.net/keys/.%2E/cmk-1', 'malformed'],
    ['https://kv-prod.vault.azure.net/keys/cmk%2D1', 'malformed'],
    ['https://kv-prod.vault.azure.net/keys/cmk-1%zz', 'malformed'],
    ['https://kv-prod.vault.azure.net/keys/cmk-1%E0%A4', 'malformed'],
    ['https://kv-prod.vault.azure.net\\keys\\cmk-1', 'malformed'],
    ['https://kv-prod.vault.azure.net/keys/cm\tk-1', 'malformed'],
    ['https://kv-prod.vault.azure.net/keys/cmk-1#frag', 'unexpectedParts'],
    ['https://kv-prod.vault.azure.net/keys/cmk-1?', 'unexpectedParts'],
    ['https://evil.example#@kv-prod.vault.azure.net/keys/cmk-1', 'unexpectedParts'],
    ['https://kv-prod.vault.azure.net@evil.example/keys/cmk-1', 'userInfo'],
    ['https://k%76-prod.vault.azure.net/keys/cmk-1', 'foreignHost'],
    ['https://kv-prod.vault.azure.net./keys/cmk-1', 'foreignHost'],
  ])('refuses %j as %s: nothing a URL parser would rewrite or that points elsewhere', (input, reason) => {
    const e = errorOf(() => parseKeyVaultKeyId(input, SUFFIX));
    expect(e).toBeInstanceOf(KeyVaultUrlError);
    expect((e as KeyVaultUrlError).reason).toBe(reason);
  });

  it('refuses a vault URI that only looks bare once a URL parser has resolved it', () => {
    expect(
      (errorOf(() => parseKeyVaultUri('https://kv-prod.vault.azure.net/..', SUFFIX)) as KeyVaultUrlError)
        .reason,
    ).toBe('malformed');
    expect(
      (errorOf(() => parseKeyVaultUri('https://kv-prod.vault.azure.net/%2e', SUFFIX)) as KeyVaultUrlError)
        .reason,
    ).toBe('malformed');
  });

  it.each([
    ['https://kv-prod.evil.example/keys/cmk-1', 'foreignHost'],
    ['https://kv-prod.vault.azure.net.evil.example/keys/cmk-1', 'foreignHost'],
    ['https://a.b.vault.azure.net/keys/cmk-1', 'foreignHost'],
    ['https://vault.azure.net/keys/cmk-1', 'foreignHost'],
    ['https://kv-prod.managedhsm.azure.net/keys/cmk-1', 'foreignHost'],
    ['http://kv-prod.vault.azure.net/keys/cmk-1', 'notHttps'],
    ['kv-prod/keys/cmk-1', 'notAUrl'],
    ['', 'empty'],
    ['https://user@kv-prod.vault.azure.net/keys/cmk-1', 'userInfo'],
    ['https://kv-prod.vault.azure.net/keys/cmk-1?x=1', 'unexpectedParts'],
    ['https://kv-prod.vault.azure.net/secrets/cmk-1', 'notAKeyUrl'],
    ['https://kv-prod.vault.azure.net/keys', 'notAKeyUrl'],
    [`https://kv-prod.vault.azure.net/keys/cmk-1/${V1}/extra`, 'notAKeyUrl'],
    ['https://kv-prod.vault.azure.net/keys//cmk-1', 'notAKeyUrl'],
    ['https://kv-prod.vault.azure.net/keys/cmk_1', 'invalidKeyName'],
    ['https://kv-prod.vault.azure.net/keys/cmk-1/latest', 'invalidKeyVersion'],
    ['https://k.vault.azure.net/keys/cmk-1', 'invalidVaultName'],
  ])('rejects %j as %s', (input, reason) => {
    const e = errorOf(() => parseKeyVaultKeyId(input, SUFFIX));
    expect(e).toBeInstanceOf(KeyVaultUrlError);
    expect((e as KeyVaultUrlError).reason).toBe(reason);
  });

  it('names the foreign host and the expected suffix in the message', () => {
    expect(() => parseKeyVaultKeyId('https://kv.attacker.test/keys/k', SUFFIX)).toThrow(
      "The host 'kv.attacker.test' is not a Key Vault of this cloud (*.vault.azure.net); the app does not call it.",
    );
  });

  it('parses vault URIs with or without the trailing slash and refuses paths', () => {
    expect(parseKeyVaultUri('https://KV-PROD.vault.azure.net', SUFFIX)).toEqual({
      vaultUri: 'https://kv-prod.vault.azure.net/',
      vaultName: 'kv-prod',
      host: 'kv-prod.vault.azure.net',
    });
    expect(parseKeyVaultUri('https://kv-prod.vault.azure.net/', SUFFIX).vaultUri).toBe(
      'https://kv-prod.vault.azure.net/',
    );
    expect(() => parseKeyVaultUri('https://kv-prod.vault.azure.net/keys/x', SUFFIX)).toThrow(/has a path/);
  });

  it('builds the same key id from the parts form', () => {
    expect(
      keyVaultKeyIdFromParts(
        { vaultUri: 'https://kv-prod.vault.azure.net', keyName: 'cmk-1', keyVersion: V1 },
        SUFFIX,
      ),
    ).toEqual(parseKeyVaultKeyId(`https://kv-prod.vault.azure.net/keys/cmk-1/${V1}`, SUFFIX));
    expect(
      keyVaultKeyIdFromParts(
        { vaultUri: 'https://kv-prod.vault.azure.net/', keyName: 'cmk-1', keyVersion: '' },
        SUFFIX,
      ).keyVersion,
    ).toBeUndefined();
  });

  it('describes a foreign key id without trusting it', () => {
    const shape = parseKeyVaultKeyIdShape('https://kv-prod.evil.example/keys/cmk-1');
    expect(shape).toMatchObject({ host: 'kv-prod.evil.example', keyName: 'cmk-1' });
    expect(isUnderKeyVaultDnsSuffix(shape.host, SUFFIX)).toBe(false);
  });

  it('checks hosts against the suffix by whole labels', () => {
    expect(isUnderKeyVaultDnsSuffix('kv.vault.azure.net', 'vault.azure.net')).toBe(true);
    expect(isUnderKeyVaultDnsSuffix('KV.VAULT.AZURE.NET', 'vault.azure.net')).toBe(true);
    expect(isUnderKeyVaultDnsSuffix('kvvault.azure.net', 'vault.azure.net')).toBe(false);
    expect(isUnderKeyVaultDnsSuffix('x.kv.vault.azure.net', 'vault.azure.net')).toBe(false);
    expect(hostOf('not a url')).toBeUndefined();
  });

  it('keys references case-insensitively by host, name and version', () => {
    expect(keyReferenceKey({ vaultUri: 'https://KV.vault.azure.net/', keyName: 'CMK' })).toBe(
      keyReferenceKey({ vaultUri: 'https://kv.vault.azure.net', keyName: 'cmk' }),
    );
    expect(
      keyReferenceKey({ vaultUri: 'https://kv.vault.azure.net/', keyName: 'cmk', keyVersion: V1 }),
    ).not.toBe(keyReferenceKey({ vaultUri: 'https://kv.vault.azure.net/', keyName: 'cmk' }));
  });
});
