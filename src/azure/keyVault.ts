import type { Vault } from '@azure/arm-keyvault';
import type { AzureClients } from './clients';
import { refusalOrThrow, type Result } from './results';
import { SubscriptionsGateway } from './subscriptions';
import { accessPoliciesFromSdk, keyFactsFromSdk, vaultFactsFromSdk } from './transformations';
import {
  CMK_KEY_PERMISSIONS,
  parseKeyVaultResourceId,
  type AccessPolicyFacts,
  type KeyFacts,
  type VaultFacts,
} from '../domain';

/** A vault as the gateway found it: the domain facts plus what grants and access checks need. */
export interface VaultRecord {
  facts: VaultFacts;
  accessPolicies: AccessPolicyFacts[];
  tenantId?: string;
}

/**
 * Key Vault through Azure Resource Manager only: the vault (properties, access policies) and the ARM
 * view of its keys (attributes, type, operations, rotation policy). ARM is authorised by RBAC alone —
 * the app needs no access policy or data-plane role in the customer's vaults and no network path
 * through their firewalls to read key metadata.
 */
export class KeyVaultGateway {
  constructor(private readonly clients: AzureClients) {}

  /**
   * Finds vaults by name (vault names are global): first in `preferredSubscriptionId` (one list call
   * covers every vault there), then in the other subscriptions the app can see.
   */
  async findVaults(
    wanted: readonly { vaultName: string; vaultUri: string }[],
    preferredSubscriptionId: string,
  ): Promise<Map<string, VaultRecord>> {
    const out = new Map<string, VaultRecord>();
    const remaining = new Map(wanted.map((w) => [w.vaultName.toLowerCase(), w]));
    const refusals: string[] = [];
    const search = async (subscriptionId: string): Promise<void> => {
      try {
        for await (const vault of this.clients
          .keyVaultManagement(subscriptionId)
          .vaults.listBySubscription()) {
          const name = vault.name?.toLowerCase();
          const want = name ? remaining.get(name) : undefined;
          if (!name || !want) continue;
          out.set(name, this.record(vault, want.vaultName, want.vaultUri));
          remaining.delete(name);
        }
      } catch (error) {
        refusals.push(refusalOrThrow(error).detail);
      }
    };
    if (remaining.size) await search(preferredSubscriptionId);
    if (remaining.size) {
      const others: string[] = [];
      try {
        for (const s of await new SubscriptionsGateway(this.clients).listVisible()) {
          if (s.subscriptionId.toLowerCase() !== preferredSubscriptionId.toLowerCase())
            others.push(s.subscriptionId);
        }
      } catch (error) {
        refusals.push(refusalOrThrow(error).detail);
      }
      for (const sub of others) {
        if (!remaining.size) break;
        await search(sub);
      }
    }
    for (const [name, w] of remaining) {
      out.set(name, {
        facts: {
          vaultName: name,
          vaultUri: w.vaultUri,
          status: refusals.length ? 'forbidden' : 'notFound',
          ...(refusals.length ? { detail: refusals[0] } : {}),
        },
        accessPolicies: [],
      });
    }
    return out;
  }

  private record(vault: Vault, vaultName: string, vaultUri: string): VaultRecord {
    return {
      facts: vaultFactsFromSdk(vault, vaultName, vaultUri),
      accessPolicies: accessPoliciesFromSdk(vault),
      ...(vault.properties.tenantId ? { tenantId: vault.properties.tenantId } : {}),
    };
  }

  /** The key (current version, or the pinned one) as domain facts; 404/403 become facts. */
  async getKey(vaultResourceId: string, keyName: string, keyVersion?: string): Promise<KeyFacts> {
    const vault = parseKeyVaultResourceId(vaultResourceId);
    const keys = this.clients.keyVaultManagement(vault.subscriptionId).keys;
    try {
      const key = keyVersion
        ? await keys.getVersion(vault.resourceGroup, vault.name, keyName, keyVersion)
        : await keys.get(vault.resourceGroup, vault.name, keyName);
      const facts = keyFactsFromSdk(key);
      // A version's own view carries no rotation policy: read it from the key when pinned.
      if (keyVersion) {
        try {
          const current = await keys.get(vault.resourceGroup, vault.name, keyName);
          facts.rotationPolicy = keyFactsFromSdk(current).rotationPolicy ?? null;
        } catch (error) {
          refusalOrThrow(error);
          delete facts.rotationPolicy;
        }
      }
      return facts;
    } catch (error) {
      const refusal = refusalOrThrow(error);
      if (refusal.status === 404) return { status: 'notFound' };
      if (refusal.status === 403 || refusal.status === 401) return { status: 'forbidden' };
      return { status: 'unreachable' };
    }
  }

  /**
   * Access policy `add` for the principal: get, wrapKey, unwrapKey. `add` merges with what the
   * principal already has, so running it twice changes nothing.
   */
  async addCmkAccessPolicy(
    vaultResourceId: string,
    tenantId: string,
    objectId: string,
  ): Promise<Result<void>> {
    const vault = parseKeyVaultResourceId(vaultResourceId);
    try {
      await this.clients
        .keyVaultManagement(vault.subscriptionId)
        .vaults.updateAccessPolicy(vault.resourceGroup, vault.name, 'add', {
          properties: {
            accessPolicies: [{ tenantId, objectId, permissions: { keys: [...CMK_KEY_PERMISSIONS] } }],
          },
        });
      return { ok: true, value: undefined };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }

  /** Re-reads one vault (its access policies and tenant), by resource id. */
  async getVault(vaultResourceId: string, vaultUri: string): Promise<Result<VaultRecord>> {
    const vault = parseKeyVaultResourceId(vaultResourceId);
    try {
      const body = await this.clients
        .keyVaultManagement(vault.subscriptionId)
        .vaults.get(vault.resourceGroup, vault.name);
      return { ok: true, value: this.record(body, vault.name, vaultUri) };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }
}
