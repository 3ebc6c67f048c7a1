// Builders for domain facts: a healthy, empty Premium namespace and healthy vaults/keys by default,
// so each test states only the one fact it is about.
import type { KeyFacts, NamespaceIdentity } from '../../src/domain/cmkState';
import type {
  EnablePreflightFacts,
  KeySubjectFacts,
  NamespaceFacts,
  VaultFacts,
} from '../../src/domain/preflight';
import { parseEnableCmkRequest, type EnableCmkRequest } from '../../src/domain/requests';

export const SUFFIX = 'vault.azure.net';
export const SUB = '00000000-0000-0000-0000-0000000000aa';
export const RG = 'rg-cmk';
export const NS_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/sb-prod-01`;
export const UAI_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-cmk`;
export const NOW = new Date('2026-06-01T00:00:00Z');
export const V1 = '0123456789abcdef0123456789abcdef';

export const vaultId = (name: string): string =>
  `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/${name}`;
export const keyUrl = (vault: string, key: string, version?: string): string =>
  `https://${vault}.${SUFFIX}/keys/${key}${version ? `/${version}` : ''}`;

export function namespaceFacts(overrides: Partial<NamespaceFacts> = {}): NamespaceFacts {
  const identity: NamespaceIdentity = { userAssigned: [] };
  return {
    id: NS_ID,
    name: 'sb-prod-01',
    subscriptionId: SUB,
    resourceGroup: RG,
    location: 'westeurope',
    skuTier: 'Premium',
    provisioningState: 'Succeeded',
    queueCount: 0,
    topicCount: 0,
    identity,
    cmk: { encrypted: false },
    ...overrides,
  };
}

export function vaultFacts(name: string, overrides: Partial<VaultFacts> = {}): VaultFacts {
  return {
    vaultName: name,
    vaultUri: `https://${name}.${SUFFIX}/`,
    status: 'found',
    resourceId: vaultId(name),
    softDeleteEnabled: true,
    purgeProtectionEnabled: true,
    permissionModel: 'accessPolicy',
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices', virtualNetworkRuleIds: [] },
    ...overrides,
  };
}

export function keyFacts(overrides: Partial<KeyFacts> = {}): KeyFacts {
  return {
    status: 'found',
    enabled: true,
    expiresOn: '2027-06-01T00:00:00.000Z',
    kty: 'RSA',
    keySize: 3072,
    keyOps: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
    rotationPolicy: { autoRotate: true, expiresIn: 'P1Y' },
    ...overrides,
  };
}

/** A parsed enable request (through the real request parser), failing the test on bad input. */
export function enableRequest(body: Record<string, unknown>): EnableCmkRequest {
  const parsed = parseEnableCmkRequest({ namespaceId: NS_ID, ...body }, SUFFIX);
  if (!parsed.ok) throw new Error(`fixture request invalid: ${JSON.stringify(parsed.problems)}`);
  return parsed.value;
}

export interface EnableFactsOptions {
  request?: Record<string, unknown>;
  namespace?: Partial<NamespaceFacts>;
  vaults?: VaultFacts[];
  keys?: KeySubjectFacts[];
  userAssignedIdentity?: EnablePreflightFacts['userAssignedIdentity'];
  keyExpiryWarningDays?: number;
}

/** Enable facts: by default one healthy key in one healthy access-policy vault, no access yet. */
export function enableFacts(options: EnableFactsOptions = {}): EnablePreflightFacts {
  const request = enableRequest(options.request ?? { keys: [{ keyId: keyUrl('kv-prod', 'cmk-1') }] });
  const vaultNames = [...new Set(request.keys.flatMap((k) => (k.vaultName ? [k.vaultName] : [])))];
  return {
    namespace: namespaceFacts(options.namespace),
    request: {
      keys: request.keys,
      identity: request.identity,
      requireInfrastructureEncryption: request.requireInfrastructureEncryption,
    },
    vaults: options.vaults ?? vaultNames.map((n) => vaultFacts(n)),
    keys:
      options.keys ??
      request.keys.map((k) => (k.hostTrusted ? { key: keyFacts(), identityHasAccess: false } : {})),
    ...(options.userAssignedIdentity ? { userAssignedIdentity: options.userAssignedIdentity } : {}),
    settings: { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: options.keyExpiryWarningDays ?? 30 },
  };
}
