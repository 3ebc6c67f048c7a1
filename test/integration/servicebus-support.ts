/**
 * Shared setup for the Service Bus integration tests: an in-process sandbox on a virtual clock, the REAL
 * @azure/arm-servicebus, @azure/arm-keyvault and @azure/keyvault-keys clients over HTTPS, and helpers to
 * build the estate a CMK scenario needs (vaults, keys, grants, user-assigned identities, namespaces).
 */
import type { Agent } from 'node:https';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { isRestError, type RestError } from '@azure/core-rest-pipeline';
import { KeyVaultManagementClient, type VaultCreateOrUpdateParameters } from '@azure/arm-keyvault';
import { ServiceBusManagementClient, type SBNamespace } from '@azure/arm-servicebus';
import { KeyClient } from '@azure/keyvault-keys';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox, type AzureSandboxOptions } from '../../sandbox/azure';
import { httpsJson, sandboxAgent } from '../../sandbox/azure/testing';
import { ServiceBusProvider } from '../../sandbox/azure/servicebus';

export const MINUTE = 60_000;
export const ENCRYPTION_USER = 'Key Vault Crypto Service Encryption User';

export interface VaultSpec {
  purgeProtection?: boolean;
  rbac?: boolean;
  networkAcls?: NonNullable<VaultCreateOrUpdateParameters['properties']['networkAcls']>;
  subscriptionId?: string;
}

export class SbHarness {
  readonly admin: string;
  readonly rg = 'rg-sb';
  readonly sb: ServiceBusManagementClient;
  readonly kv: KeyVaultManagementClient;

  private constructor(
    readonly sandbox: AzureSandbox,
    readonly clock: VirtualClock,
    readonly provider: ServiceBusProvider,
    readonly agent: Agent,
  ) {
    this.admin = sandbox.admin.objectId;
    this.sb = this.serviceBus(this.admin);
    this.kv = new KeyVaultManagementClient(this.credential(this.admin), sandbox.subscriptionId, {
      endpoint: sandbox.url,
      agent,
      retryOptions: { maxRetries: 0 },
    });
  }

  static async start(options: AzureSandboxOptions = {}): Promise<SbHarness> {
    const clock = new VirtualClock(Date.UTC(2026, 0, 1));
    const sandbox = await startAzureSandbox({ clock, lroRetryAfterSeconds: 0, ...options });
    const provider = sandbox.core.providers.find(
      (p): p is ServiceBusProvider => p instanceof ServiceBusProvider,
    );
    if (!provider) throw new Error('the sandbox runs without the Service Bus provider');
    const agent = sandboxAgent(sandbox, { keepAlive: false });
    const h = new SbHarness(sandbox, clock, provider, agent);
    await h.arm(
      'PUT',
      `/subscriptions/${sandbox.subscriptionId}/resourcegroups/${h.rg}?api-version=2021-04-01`,
      {
        location: 'westeurope',
      },
    );
    return h;
  }

  credential(objectId: string): TokenCredential {
    return {
      getToken: async (scopes: string | string[]): Promise<AccessToken> => {
        const scope = Array.isArray(scopes) ? (scopes[0] ?? '') : scopes;
        const t = await this.sandbox.control.token(objectId, scope);
        return { token: t.access_token, expiresOnTimestamp: t.expires_on * 1000 };
      },
    };
  }

  serviceBus(objectId: string, subscriptionId = this.sandbox.subscriptionId): ServiceBusManagementClient {
    return new ServiceBusManagementClient(this.credential(objectId), subscriptionId, {
      endpoint: this.sandbox.url,
      tlsOptions: { ca: this.sandbox.caPem },
      retryOptions: { maxRetries: 0 },
    });
  }

  keys(vaultName: string): KeyClient {
    return new KeyClient(this.sandbox.vaultUri(vaultName), this.credential(this.admin), {
      agent: this.agent,
      retryOptions: { maxRetries: 0 },
    });
  }

  /** A raw ARM request as the admin (resource groups, user-assigned identities). */
  async arm(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const token = (await this.sandbox.control.token(this.admin, 'arm')).access_token;
    const res = await httpsJson(this.sandbox, method, new URL(path, this.sandbox.url).toString(), {
      token,
      ...(body === undefined ? {} : { body }),
    });
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return res;
  }

  async resourceGroup(name: string, subscriptionId = this.sandbox.subscriptionId): Promise<void> {
    await this.arm('PUT', `/subscriptions/${subscriptionId}/resourcegroups/${name}?api-version=2021-04-01`, {
      location: 'westeurope',
    });
  }

  /** Creates a user-assigned identity; returns its ARM id and principal id. */
  async uai(name: string): Promise<{ id: string; principalId: string }> {
    const id = `/subscriptions/${this.sandbox.subscriptionId}/resourceGroups/${this.rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
    const res = await this.arm('PUT', `${id}?api-version=2023-01-31`, { location: 'westeurope' });
    const principalId = (res.body as { properties: { principalId: string } }).properties.principalId;
    return { id, principalId };
  }

  async vault(name: string, spec: VaultSpec = {}): Promise<string> {
    const rbac = spec.rbac ?? false;
    await this.kv.vaults.createOrUpdate(
      this.rg,
      name,
      {
        location: 'westeurope',
        properties: {
          tenantId: this.sandbox.tenantId,
          sku: { family: 'A', name: 'standard' },
          enableRbacAuthorization: rbac,
          ...(spec.purgeProtection === false ? {} : { enablePurgeProtection: true }),
          ...(spec.networkAcls ? { networkAcls: spec.networkAcls } : {}),
          accessPolicies: rbac
            ? []
            : [{ tenantId: this.sandbox.tenantId, objectId: this.admin, permissions: { keys: ['all'] } }],
        },
      },
      { updateIntervalInMs: 0 },
    );
    if (rbac) {
      this.sandbox.control.assignRole({
        principalId: this.admin,
        role: 'Key Vault Crypto Officer',
        scope: this.vaultId(name),
      });
    }
    return this.sandbox.vaultUri(name);
  }

  vaultId(name: string): string {
    return `/subscriptions/${this.sandbox.subscriptionId}/resourceGroups/${this.rg}/providers/Microsoft.KeyVault/vaults/${name}`;
  }

  /** Lets a namespace identity use the vault's keys: access policy get/wrap/unwrap, or the RBAC role. */
  async grant(vaultName: string, principalId: string): Promise<void> {
    const vault = await this.kv.vaults.get(this.rg, vaultName);
    if (vault.properties.enableRbacAuthorization) {
      this.sandbox.control.assignRole({ principalId, role: ENCRYPTION_USER, scope: this.vaultId(vaultName) });
      return;
    }
    await this.kv.vaults.updateAccessPolicy(this.rg, vaultName, 'add', {
      properties: {
        accessPolicies: [
          {
            tenantId: this.sandbox.tenantId,
            objectId: principalId,
            permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
          },
        ],
      },
    });
  }

  async revoke(vaultName: string, principalId: string): Promise<void> {
    await this.kv.vaults.updateAccessPolicy(this.rg, vaultName, 'remove', {
      properties: {
        accessPolicies: [
          {
            tenantId: this.sandbox.tenantId,
            objectId: principalId,
            permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
          },
        ],
      },
    });
  }

  async namespace(name: string, body: Partial<SBNamespace> = {}, rg = this.rg): Promise<SBNamespace> {
    return this.sb.namespaces.beginCreateOrUpdateAndWait(
      rg,
      name,
      { location: 'westeurope', sku: { name: 'Premium', tier: 'Premium', capacity: 1 }, ...body },
      { updateIntervalInMs: 0 },
    );
  }

  nsId(name: string, rg = this.rg, subscriptionId = this.sandbox.subscriptionId): string {
    return `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.ServiceBus/namespaces/${name}`;
  }

  /**
   * Whether the namespace serves its entities: ARM has no field for it (as in Azure), so this asks for
   * its queues, which a namespace without a usable key refuses.
   */
  async operable(name: string, rg = this.rg): Promise<boolean> {
    try {
      for await (const q of this.sb.queues.listByNamespace(rg, name)) void q;
      return true;
    } catch (error) {
      if (isRestError(error) && error.statusCode === 409 && /encryption key/.test(error.message))
        return false;
      throw error;
    }
  }

  async minutes(n: number): Promise<void> {
    await this.clock.advanceBy(n * MINUTE);
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await this.sandbox.close();
  }
}

export async function restError(promise: Promise<unknown>): Promise<RestError> {
  try {
    await promise;
  } catch (error) {
    if (isRestError(error)) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** The ARM error code the SDK parsed. */
export function errorCode(e: RestError): string | undefined {
  return e.code ?? (e.details as { error?: { code?: string } } | undefined)?.error?.code;
}
