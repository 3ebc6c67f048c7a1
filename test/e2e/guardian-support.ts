/**
 * Helpers for the guardian end-to-end tests (key impact, key watch): what an operator does to keys,
 * vaults and role assignments in the sandbox — over the sandbox's own HTTPS APIs as the administrator
 * (Key Vault data plane for keys, ARM for vaults, access policies and role assignments) — plus a
 * seeded estate shaped like the `npm start` demo. The app is driven only through its HTTP functions.
 */
import { randomUUID } from 'node:crypto';
import { Estate } from './enable-cmk-support';

const KV_ARM = '2023-07-01';
const SB = '2021-11-01';
const AUTHZ = '2022-04-01';
const CRYPTO_SERVICE_ENCRYPTION_USER = 'e147488a-f6f5-4113-8e2d-b22465e65bf6';

export interface NamespaceHealthView {
  namespaceId: string;
  verdict: string;
  ruleIds: string[];
  usableKeyIds: string[];
}

export class GuardianEstate extends Estate {
  /** A vault the administrator can manage keys in (access policy `all`, or Crypto Officer on RBAC). */
  async adminVault(name: string, rbac = false): Promise<void> {
    const admin = await this.adminObjectId();
    await this.arm('PUT', `${this.vaultId(name)}?api-version=${KV_ARM}`, {
      location: 'westeurope',
      properties: {
        tenantId: this.estate.azure.tenantId,
        sku: { family: 'A', name: 'standard' },
        enableRbacAuthorization: rbac,
        enablePurgeProtection: true,
        accessPolicies: rbac
          ? []
          : [{ tenantId: this.estate.azure.tenantId, objectId: admin, permissions: { keys: ['all'] } }],
      },
    });
    if (rbac) {
      await this.estate.azure.control('POST', '/role-assignments', {
        principalId: admin,
        role: 'Key Vault Crypto Officer',
        scope: this.vaultId(name),
        immediate: true,
      });
    }
  }

  /** An RSA key through the data plane; returns its current version. */
  async createKey(vault: string, name: string, exp?: string): Promise<string> {
    const created = await this.kv<{ key: { kid: string } }>('POST', vault, `keys/${name}/create`, {
      kty: 'RSA',
      key_size: 2048,
      ...(exp ? { attributes: { exp: Math.floor(Date.parse(exp) / 1000) } } : {}),
    });
    return created.key.kid.split('/').pop()!;
  }

  async rotateKey(vault: string, name: string): Promise<string> {
    const rotated = await this.kv<{ key: { kid: string } }>('POST', vault, `keys/${name}/rotate`);
    return rotated.key.kid.split('/').pop()!;
  }

  /** `az keyvault key set-attributes`: the current version unless one is named. */
  async setKeyAttributes(
    vault: string,
    name: string,
    attributes: { enabled?: boolean; exp?: string },
    version?: string,
  ) {
    await this.kv('PATCH', vault, `keys/${name}${version ? `/${version}` : ''}`, {
      attributes: {
        ...(attributes.enabled !== undefined ? { enabled: attributes.enabled } : {}),
        ...(attributes.exp ? { exp: Math.floor(Date.parse(attributes.exp) / 1000) } : {}),
      },
    });
  }

  async deleteKey(vault: string, name: string): Promise<void> {
    await this.kv('DELETE', vault, `keys/${name}`);
  }

  async recoverKey(vault: string, name: string): Promise<void> {
    await this.kv('POST', vault, `deletedkeys/${name}/recover`);
  }

  /** `az keyvault set-policy` / `delete-policy` for the CMK permissions. */
  async accessPolicy(vault: string, objectId: string, op: 'add' | 'remove'): Promise<void> {
    await this.arm('PUT', `${this.vaultId(vault)}/accessPolicies/${op}?api-version=${KV_ARM}`, {
      properties: {
        accessPolicies: [
          {
            tenantId: this.estate.azure.tenantId,
            objectId,
            permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
          },
        ],
      },
    });
  }

  /** Key Vault Crypto Service Encryption User for the principal at the scope (a vault or a key); returns the assignment id. */
  async assignCryptoUser(principalId: string, scope: string): Promise<string> {
    const id = `${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}`;
    await this.arm('PUT', `${id}?api-version=${AUTHZ}`, {
      properties: {
        roleDefinitionId: `/subscriptions/${this.sub}/providers/Microsoft.Authorization/roleDefinitions/${CRYPTO_SERVICE_ENCRYPTION_USER}`,
        principalId,
        principalType: 'ServicePrincipal',
      },
    });
    return id;
  }

  async removeRoleAssignment(id: string): Promise<void> {
    await this.arm('DELETE', `${id}?api-version=${AUTHZ}`);
  }

  /** A Premium namespace with a system-assigned identity or a user-assigned one; returns its encryption principal. */
  async identityNamespace(name: string, uaiId?: string): Promise<string> {
    const body = await this.arm<{ identity?: { principalId?: string } }>(
      'PUT',
      `${this.nsId(name)}?api-version=${SB}`,
      {
        location: 'westeurope',
        sku: { name: 'Premium', tier: 'Premium', capacity: 1 },
        identity: uaiId
          ? { type: 'UserAssigned', userAssignedIdentities: { [uaiId]: {} } }
          : { type: 'SystemAssigned' },
      },
    );
    return body.identity?.principalId ?? '';
  }

  /** Encrypts a namespace as the administrator (the app's enable flow has its own e2e). */
  async encrypt(
    name: string,
    keys: Array<{ vault: string; key: string; version?: string }>,
    uaiId?: string,
  ): Promise<void> {
    await this.arm('PATCH', `${this.nsId(name)}?api-version=${SB}`, {
      properties: {
        encryption: {
          keySource: 'Microsoft.KeyVault',
          keyVaultProperties: keys.map((k) => ({
            keyName: k.key,
            keyVaultUri: this.vaultUri(k.vault),
            ...(k.version ? { keyVersion: k.version } : {}),
            ...(uaiId ? { identity: { userAssignedIdentity: uaiId } } : {}),
          })),
        },
      },
    });
  }

  /** Whether Service Bus serves the namespace's entities (the truth the service acts on, not ARM's view). */
  async serves(name: string): Promise<boolean> {
    const res = await this.raw('GET', `${this.nsId(name)}/queues?api-version=${SB}`);
    if (res.status === 200) return true;
    if (res.status === 409) return false;
    throw new Error(`queues of ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  }

  async advance(ms: number): Promise<void> {
    const r = await this.estate.azure.control('POST', '/clock/advance', { ms });
    if (r.status !== 200) throw new Error(`clock advance: ${r.status}`);
  }

  /** The app's own verdict now (POST /api/cmk/diagnose). */
  async verdict(name: string): Promise<{ verdict: string; ruleIds: string[]; usableKeyIds: string[] }> {
    const r = await this.post<{ health: { verdict: string; ruleIds: string[]; usableKeyIds: string[] } }>(
      '/api/cmk/diagnose',
      { namespaceId: this.nsId(name) },
    );
    if (r.status !== 200) throw new Error(`diagnose ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.health;
  }
}
