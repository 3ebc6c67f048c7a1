/**
 * Customer-managed-key encryption of a namespace: the CMK rules a PUT/PATCH must pass (tier, key
 * source, no removal, 1–3 keys, infrastructure encryption, emptiness, one identity, Geo-DR, each
 * vault's purge protection and VNet rules, and the identity's access to each key right now) and the
 * `encryption` section of the namespace's wire shape. The key probe itself is keys.ts; the polls
 * that keep checking the keys afterwards are `ServiceBusModel.startPolling` / `pollKeys` (model.ts).
 */
import { messages } from './errors';
import type { KeyRef } from './keys';
import type { EncryptionRecord, KeyState, NamespaceRecord } from './model';
import { asObject, lower, same, text, type Json, type ServiceBusRouting } from './routing';

export interface EncryptionRules {
  validateEncryption: (
    existing: NamespaceRecord | undefined,
    draft: NamespaceRecord,
    input: Json,
  ) => Promise<EncryptionRecord>;
}

/** The `properties.encryption` of a CMK namespace as ARM shows it. */
export function encryptionBody(encryption: EncryptionRecord): Json {
  return {
    keySource: encryption.keySource,
    keyVaultProperties: encryption.keys.map((k) => ({
      keyName: k.keyName,
      keyVaultUri: k.keyVaultUri,
      // A versionless key reads back with an empty version (Terraform relies on this).
      keyVersion: k.keyVersion ?? '',
      ...(k.userAssignedIdentity ? { identity: { userAssignedIdentity: k.userAssignedIdentity } } : {}),
    })),
    requireInfrastructureEncryption: encryption.requireInfrastructureEncryption,
  };
}

export function encryptionRules({ core, model, err400 }: ServiceBusRouting): EncryptionRules {
  const parseKeys = (input: unknown, ns: string): KeyRef[] => {
    if (input === undefined || input === null) return [];
    if (!Array.isArray(input)) throw err400('keyVaultProperties must be an array.', ns);
    return input.map((raw, i) => {
      const k = asObject(raw) ?? {};
      const keyName = typeof k.keyName === 'string' ? k.keyName : '';
      const keyVaultUri = typeof k.keyVaultUri === 'string' ? k.keyVaultUri : '';
      if (!keyName || !keyVaultUri) throw err400(messages.keyIncomplete(i), ns);
      const version = typeof k.keyVersion === 'string' && k.keyVersion ? k.keyVersion : undefined;
      const uai = asObject(k.identity)?.userAssignedIdentity;
      return {
        keyName,
        keyVaultUri,
        ...(version ? { keyVersion: version } : {}),
        ...(typeof uai === 'string' && uai ? { userAssignedIdentity: uai } : {}),
      };
    });
  };

  /**
   * The CMK rules, in the order the checks are cheapest: tier, key source, removal, key count, infra
   * encryption, emptiness, identity, Geo-DR, then each vault (purge protection, VNet rules) and the
   * identity's access to each key right now. Returns the new encryption record (keys probed).
   */
  const validateEncryption = async (
    existing: NamespaceRecord | undefined,
    draft: NamespaceRecord,
    input: Json,
  ): Promise<EncryptionRecord> => {
    const name = draft.name;
    const before = existing?.encryption;
    const keySource = input.keySource;
    if (keySource !== undefined && keySource !== null && !same(text(keySource), 'Microsoft.KeyVault')) {
      throw err400(before ? messages.cannotRemove : messages.keySource(text(keySource)), name);
    }
    const keys = parseKeys(input.keyVaultProperties, name);
    if (before && keys.length === 0) throw err400(messages.cannotRemove, name);
    if (draft.sku.tier !== 'Premium') throw err400(messages.notPremium(draft.sku.name), name);
    if (keys.length < 1 || keys.length > 3) throw err400(messages.keyCount(keys.length), name);
    const infra = input.requireInfrastructureEncryption === true;
    if (
      before &&
      input.requireInfrastructureEncryption !== undefined &&
      infra !== before.requireInfrastructureEncryption
    ) {
      throw err400(messages.infraEncryption, name);
    }
    if (!before && existing) {
      const queues = model.entities(existing.id, 'queues').length;
      const topics = model.entities(existing.id, 'topics').length;
      if (queues + topics > 0) throw err400(messages.notEmpty(queues, topics), name);
    }
    const identities = new Set(keys.map((k) => lower(k.userAssignedIdentity ?? 'system')));
    if (identities.size > 1) throw err400(messages.oneIdentity, name);
    const uai = keys[0]?.userAssignedIdentity;
    if (uai) {
      if (!draft.userAssignedIdentities.some((u) => same(u, uai)))
        throw err400(messages.uaiNotAssigned(uai), name);
      const alias = existing ? model.aliasOf(existing.id) : undefined;
      if (!before && alias?.role === 'Primary') throw err400(messages.pairedPrimaryUai, name);
    } else if (!draft.identityType.includes('SystemAssigned')) {
      throw err400(messages.noSystemIdentity, name);
    }
    const now = core.clock.now();
    const state: KeyState[] = [];
    for (const key of keys) {
      const vault = model.keys.vault(key.keyVaultUri);
      if (!vault) throw err400(messages.vaultNotFound(key.keyVaultUri), name);
      if (!vault.properties.enableSoftDelete || !vault.properties.enablePurgeProtection) {
        throw err400(messages.purgeProtection(vault.name), name);
      }
      if ((vault.properties.networkAcls?.virtualNetworkRules ?? []).length > 0) {
        throw err400(messages.vnetRules(vault.name), name);
      }
      const principal = model.encryptionPrincipal(draft, key);
      const result = await model.keys.probe(principal, key);
      if (!result.ok) {
        throw err400(
          messages.keyAccess(
            `${key.keyVaultUri.replace(/\/+$/, '')}/keys/${key.keyName}`,
            principal ?? 'none',
            result.detail,
          ),
          name,
        );
      }
      state.push({ usable: true, version: result.version, lastSuccessAt: now, checkedAt: now });
    }
    return {
      keySource: 'Microsoft.KeyVault',
      keys,
      requireInfrastructureEncryption: before ? before.requireInfrastructureEncryption : infra,
      enabledAt: before?.enabledAt ?? now,
      keyState: state,
    };
  };

  return { validateEncryption };
}
