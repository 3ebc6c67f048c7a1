/**
 * Reads the facts the domain's preflight, plan and diagnosis evaluate — read-only, through the
 * gateways. Shared by the enable orchestration's first activity, the enable dry run and diagnose, so
 * all three judge the same snapshot of Azure the same way.
 */
import { AuthorizationGateway } from './authorization';
import type { AzureClients } from './clients';
import { GeoDrGateway } from './geoDr';
import { KeyVaultGateway, type VaultRecord } from './keyVault';
import { ManagedIdentityGateway } from './managedIdentities';
import type { Refusal, Result } from './results';
import { readKeyMaterial } from './estate';
import { ServiceBusGateway } from './serviceBus';
import {
  assembleDiagnoseFacts,
  keyMaterialRequest,
  plainKeyRef,
  type KeyObservations,
  accessPolicyMissingPermissions,
  roleAssignmentsGrantCmkAccess,
  type DiagnoseFacts,
  type EnableCmkRequest,
  type EnablePreflightFacts,
  type EncryptionIdentity,
  type GeoDrFacts,
  type GroupedResourceId,
  type KeyRef,
  type KeySubjectFacts,
  type NamespaceFacts,
  type RoleAssignmentFacts,
  type RuleSettings,
  type UserAssignedIdentityFacts,
} from '../domain';

export interface CmkGateways {
  serviceBus: ServiceBusGateway;
  geoDr: GeoDrGateway;
  keyVault: KeyVaultGateway;
  authorization: AuthorizationGateway;
  identities: ManagedIdentityGateway;
}

export function cmkGateways(clients: AzureClients): CmkGateways {
  const geoDr = new GeoDrGateway(clients);
  return {
    serviceBus: new ServiceBusGateway(clients, clients.config.endpoints.keyVaultDnsSuffix, geoDr),
    geoDr,
    keyVault: new KeyVaultGateway(clients),
    authorization: new AuthorizationGateway(clients),
    identities: new ManagedIdentityGateway(clients),
  };
}

/** The namespace could not be read at all (nothing to evaluate). */
export type NamespaceRefusal = Refusal & { namespaceId: string };

/** Vault and key facts for a list of key references, with the principal's access when known. */
async function readKeys(
  gw: CmkGateways,
  refs: readonly KeyRef[],
  preferredSubscriptionId: string,
  principalId: string | undefined,
): Promise<{ vaults: VaultRecord[]; keys: KeySubjectFacts[] }> {
  const trusted = refs.filter((r) => r.hostTrusted && r.vaultName);
  const wanted = new Map<string, { vaultName: string; vaultUri: string }>();
  for (const r of trusted) {
    const name = (r.vaultName as string).toLowerCase();
    if (!wanted.has(name)) wanted.set(name, { vaultName: name, vaultUri: r.vaultUri });
  }
  const found = wanted.size
    ? await gw.keyVault.findVaults([...wanted.values()], preferredSubscriptionId)
    : new Map<string, VaultRecord>();

  // RBAC vaults: one assignment list per vault for the principal covers every key in it.
  const assignments = new Map<string, RoleAssignmentFacts[] | undefined>();
  if (principalId) {
    await Promise.all(
      [...found.entries()]
        .filter(
          ([, v]) => v.facts.status === 'found' && v.facts.permissionModel === 'rbac' && v.facts.resourceId,
        )
        .map(async ([name, v]) => {
          const listed = await gw.authorization.listForPrincipal(v.facts.resourceId as string, principalId);
          assignments.set(name, listed.ok ? listed.value : undefined);
        }),
    );
  }

  const keys = await Promise.all(
    refs.map(async (ref): Promise<KeySubjectFacts> => {
      const vault = ref.hostTrusted && ref.vaultName ? found.get(ref.vaultName.toLowerCase()) : undefined;
      if (!vault || vault.facts.status !== 'found' || !vault.facts.resourceId) return {};
      const key = await gw.keyVault.getKey(vault.facts.resourceId, ref.keyName, ref.keyVersion);
      let identityHasAccess: boolean | undefined;
      if (principalId) {
        if (vault.facts.permissionModel === 'rbac') {
          const list = assignments.get(ref.vaultName!.toLowerCase());
          identityHasAccess = list
            ? roleAssignmentsGrantCmkAccess(
                list,
                principalId,
                `${vault.facts.resourceId}/keys/${ref.keyName}`,
              )
            : undefined;
        } else {
          identityHasAccess = accessPolicyMissingPermissions(vault.accessPolicies, principalId).length === 0;
        }
      }
      return { key, ...(identityHasAccess !== undefined ? { identityHasAccess } : {}) };
    }),
  );
  return { vaults: [...found.values()], keys };
}

/** Everything the enable preflight and plan need, read-only. */
export async function readEnablePreflightFacts(
  gw: CmkGateways,
  request: Pick<EnableCmkRequest, 'namespace' | 'identity' | 'requireInfrastructureEncryption'> & {
    keys: readonly KeyRef[];
  },
  settings: RuleSettings,
): Promise<Result<EnablePreflightFacts> | NamespaceRefusal> {
  const [nsResult, uai] = await Promise.all([
    gw.serviceBus.namespaceFacts(request.namespace),
    request.identity.type === 'UserAssigned'
      ? gw.identities.getUserAssigned(request.identity.resourceId)
      : Promise.resolve<UserAssignedIdentityFacts | undefined>(undefined),
  ]);
  if (!nsResult.ok) return { ...nsResult, namespaceId: request.namespace.id };
  const namespace = nsResult.value;
  const principalId = encryptionPrincipalId(namespace, request.identity, uai);
  const refs = request.keys.map(plainKeyRef);
  const { vaults, keys } = await readKeys(gw, refs, namespace.subscriptionId, principalId);
  return {
    ok: true,
    value: {
      namespace,
      request: {
        keys: refs,
        identity: request.identity,
        requireInfrastructureEncryption: request.requireInfrastructureEncryption,
      },
      vaults: vaults.map((v) => v.facts),
      keys,
      ...(uai ? { userAssignedIdentity: uai } : {}),
      settings,
    },
  };
}

/** The principal that will use the keys, when it exists already. */
export function encryptionPrincipalId(
  namespace: Pick<NamespaceFacts, 'identity'>,
  identity: EnableCmkRequest['identity'],
  uai?: UserAssignedIdentityFacts,
): string | undefined {
  if (identity.type === 'SystemAssigned') return namespace.identity.systemAssigned?.principalId;
  return (
    uai?.principalId ??
    namespace.identity.userAssigned.find(
      (u) => u.resourceId.toLowerCase() === identity.resourceId.toLowerCase(),
    )?.principalId
  );
}

/**
 * Everything diagnose needs: the namespace (GET + alias) and the key material of its keys, assembled
 * by the same code as the guardian's batch reader (estate.ts), so both judge a namespace identically.
 */
export async function readDiagnoseFacts(
  gw: CmkGateways,
  namespaceId: GroupedResourceId,
  settings: RuleSettings,
  observations?: KeyObservations,
): Promise<Result<DiagnoseFacts> | NamespaceRefusal> {
  const nsResult = await gw.serviceBus.namespaceFacts(namespaceId);
  if (!nsResult.ok) return { ...nsResult, namespaceId: namespaceId.id };
  const namespace = nsResult.value;
  if (!namespace.cmk.encrypted) return { ok: true, value: { namespace, vaults: [], keys: [], settings } };
  const material = await readKeyMaterial(gw, keyMaterialRequest([namespace]), settings);
  return { ok: true, value: assembleDiagnoseFacts(namespace, material, settings, observations) };
}

/** What the Geo-DR preflight is asked about: both namespaces, the alias, the keys and identity. */
export interface GeoDrFactsRequest {
  primary: GroupedResourceId;
  secondary: GroupedResourceId;
  alias: string;
  keys: KeyRef[];
  identity: EncryptionIdentity;
  requireInfrastructureEncryption: boolean;
  settings: RuleSettings;
}

/**
 * Everything the Geo-DR preflight and plan need, read-only: both namespaces' enable facts and both
 * aliases (the orchestration's first activity and the HTTP dry run).
 */
export async function readGeoDrFacts(
  gw: CmkGateways,
  input: GeoDrFactsRequest,
): Promise<{ ok: true; value: GeoDrFacts } | NamespaceRefusal> {
  const request = {
    keys: input.keys,
    identity: input.identity,
    requireInfrastructureEncryption: input.requireInfrastructureEncryption,
  };
  const [primary, secondary, primaryAlias, secondaryAlias] = await Promise.all([
    readEnablePreflightFacts(gw, { ...request, namespace: input.primary }, input.settings),
    readEnablePreflightFacts(gw, { ...request, namespace: input.secondary }, input.settings),
    gw.geoDr.aliasOf(input.primary),
    gw.geoDr.aliasOf(input.secondary),
  ]);
  if (!primary.ok) return { ...primary, namespaceId: input.primary.id };
  if (!secondary.ok) return { ...secondary, namespaceId: input.secondary.id };
  if (!primaryAlias.ok) return { ...primaryAlias, namespaceId: input.primary.id };
  if (!secondaryAlias.ok) return { ...secondaryAlias, namespaceId: input.secondary.id };
  return {
    ok: true,
    value: {
      alias: input.alias,
      primary: primary.value,
      secondary: secondary.value,
      ...(primaryAlias.value ? { primaryAlias: primaryAlias.value } : {}),
      ...(secondaryAlias.value ? { secondaryAlias: secondaryAlias.value } : {}),
    },
  };
}
