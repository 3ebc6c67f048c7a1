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
 * A pinned version's facts with the rotation policy of the key (read from its current version): the
 * policy belongs to the key, not to a version. Unknown when the current version could not be read.
 */
export function withRotationPolicyOf(version: KeyFacts, current: KeyFacts): KeyFacts {
  const out: KeyFacts = { ...version };
  delete out.rotationPolicy;
  if (current.status === 'found') out.rotationPolicy = current.rotationPolicy ?? null;
  return out;
}

/**
 * A refused key read as a fact. Through ARM a deleted (soft-deleted) key is simply absent (404), like
 * one that never existed: ARM has no deleted-keys view, so `deleted` is never reported from here
 * (docs/ARCHITECTURE.md "Key index").
 */
function keyReadFailure(error: unknown): KeyFacts {
  const refusal = refusalOrThrow(error);
  if (refusal.status === 404) return { status: 'notFound' };
  if (refusal.status === 403 || refusal.status === 401) return { status: 'forbidden' };
  return { status: 'unreachable' };
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
   * Finds vaults by name (vault names are global): first in the preferred subscriptions (one list call
   * and its pages covers every vault there), then in the other subscriptions the app can see. `count`
   * is told of every ARM request made (each page), for the batch readers' call counts.
   */
  async findVaults(
    wanted: readonly { vaultName: string; vaultUri: string }[],
    preferredSubscriptionIds: string | readonly string[],
    count: (operation: string) => void = () => undefined,
  ): Promise<Map<string, VaultRecord>> {
    const out = new Map<string, VaultRecord>();
    const remaining = new Map(wanted.map((w) => [w.vaultName.toLowerCase(), w]));
    const refusals: string[] = [];
    const preferred = [
      ...new Map(
        (typeof preferredSubscriptionIds === 'string'
          ? [preferredSubscriptionIds]
          : preferredSubscriptionIds
        ).map((s) => [s.toLowerCase(), s] as const),
      ).values(),
    ];
    const search = async (subscriptionId: string): Promise<void> => {
      try {
        for await (const page of this.clients
          .keyVaultManagement(subscriptionId)
          .vaults.listBySubscription()
          .byPage()) {
          count('Microsoft.KeyVault/vaults/list');
          for (const vault of page) {
            const name = vault.name?.toLowerCase();
            const want = name ? remaining.get(name) : undefined;
            if (!name || !want) continue;
            out.set(name, this.record(vault, want.vaultName, want.vaultUri));
            remaining.delete(name);
          }
        }
      } catch (error) {
        refusals.push(refusalOrThrow(error).detail);
      }
    };
    for (const sub of preferred) {
      if (!remaining.size) break;
      await search(sub);
    }
    if (remaining.size) {
      const others: string[] = [];
      try {
        count('Microsoft.Resources/subscriptions/list');
        const seen = new Set(preferred.map((p) => p.toLowerCase()));
        for (const s of await new SubscriptionsGateway(this.clients).listVisible()) {
          if (!seen.has(s.subscriptionId.toLowerCase())) others.push(s.subscriptionId);
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
    if (!keyVersion) return this.getKeyCurrent(vaultResourceId, keyName);
    const facts = await this.getKeyVersion(vaultResourceId, keyName, keyVersion);
    if (facts.status !== 'found') return facts;
    return withRotationPolicyOf(facts, await this.getKeyCurrent(vaultResourceId, keyName));
  }

  /** The key's current version (ARM `keys.get`), with its rotation policy. */
  async getKeyCurrent(vaultResourceId: string, keyName: string): Promise<KeyFacts> {
    const vault = parseKeyVaultResourceId(vaultResourceId);
    try {
      return keyFactsFromSdk(
        await this.clients
          .keyVaultManagement(vault.subscriptionId)
          .keys.get(vault.resourceGroup, vault.name, keyName),
      );
    } catch (error) {
      return keyReadFailure(error);
    }
  }

  /** One version (ARM `keys.getVersion`); a version's own view carries no rotation policy. */
  async getKeyVersion(vaultResourceId: string, keyName: string, keyVersion: string): Promise<KeyFacts> {
    const vault = parseKeyVaultResourceId(vaultResourceId);
    try {
      const facts = keyFactsFromSdk(
        await this.clients
          .keyVaultManagement(vault.subscriptionId)
          .keys.getVersion(vault.resourceGroup, vault.name, keyName, keyVersion),
      );
      delete facts.rotationPolicy;
      return facts;
    } catch (error) {
      return keyReadFailure(error);
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
