/**
 * What Key Vault checks before a data-plane operation touches an object, in its order: the token's
 * tenant is the vault's, the vault firewall admits the caller, then the vault's permission model (access
 * policies, or RBAC data actions through the core's role assignments) allows the operation. Every
 * data-plane method of the model (keys.ts, cryptoOperations.ts, backup.ts) starts with `authorize`.
 */
import { KeyVaultError, kvErrors } from './errors';
import {
  accessPolicyAllows,
  ipRuleMatches,
  KEY_OPERATIONS,
  type Caller,
  type KeyOperation,
} from './permissions';
import { lower, type KeyVaultModelOptions, type Vault } from './records';
import { normaliseLocation } from './vaultProperties';

/** Caller description as Key Vault prints it in 403 messages. */
export function callerTag(caller: Caller): string {
  return `appid=${caller.appId ?? caller.objectId};oid=${caller.objectId};iss=https://sts.windows.net/${caller.tenantId}/`;
}

export function vaultTag(vault: Vault): string {
  return `${vault.name};location=${normaliseLocation(vault.location)}`;
}

export class DataPlaneAuthorization {
  constructor(private readonly checkDataAction: KeyVaultModelOptions['checkDataAction']) {}

  /**
   * What Key Vault checks before touching an object, in its order: the token's tenant is the vault's,
   * the network rules admit the caller, then the permission model the vault uses allows the operation.
   */
  async authorize(vault: Vault, caller: Caller, operation: KeyOperation, keyName?: string): Promise<void> {
    if (lower(caller.tenantId) !== lower(vault.properties.tenantId)) {
      throw new KeyVaultError(
        401,
        'Unauthorized',
        `AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${vault.properties.tenantId}/, found https://sts.windows.net/${caller.tenantId}/.`,
        undefined,
        // A new challenge naming the vault's tenant, so a multi-tenant client can fetch the right token.
        {
          'WWW-Authenticate': `Bearer authorization="https://login.microsoftonline.com/${vault.properties.tenantId}", resource="https://${new URL(vault.properties.vaultUri).hostname.split('.').slice(1).join('.')}"`,
        },
      );
    }
    this.checkNetwork(vault, caller);
    const { permission, dataAction } = KEY_OPERATIONS[operation];
    if (vault.properties.enableRbacAuthorization) {
      const scope = keyName ? `${vault.id}/keys/${keyName}` : vault.id;
      const allowed = this.checkDataAction ? await this.checkDataAction(caller, dataAction, scope) : false;
      if (!allowed) {
        throw kvErrors.rbacDenied(callerTag(caller), dataAction, scope, vaultTag(vault));
      }
      return;
    }
    if (!accessPolicyAllows(vault.properties.accessPolicies, caller, permission)) {
      throw kvErrors.accessPolicyDenied(callerTag(caller), permission, vaultTag(vault));
    }
  }

  /**
   * The vault firewall. `publicNetworkAccess: Disabled` shuts every public caller out; `networkAcls`
   * with `defaultAction: Deny` admits trusted services (when `bypass` is AzureServices, the default)
   * and addresses matching an ipRule. Virtual network rules never match: sandbox callers do not come
   * from subnets (no service endpoints exist offline), so a vault relying on them denies everyone else.
   */
  checkNetwork(vault: Vault, caller: Caller): void {
    const acls = vault.properties.networkAcls;
    const bypass =
      (acls?.bypass ?? 'AzureServices') === 'AzureServices' && caller.trustedService !== undefined;
    if (vault.properties.publicNetworkAccess === 'Disabled') {
      if (bypass) return;
      throw kvErrors.publicAccessDisabled(caller.clientAddress, callerTag(caller), vaultTag(vault));
    }
    if (!acls || acls.defaultAction !== 'Deny') return;
    if (bypass) return;
    if ((acls.ipRules ?? []).some((r) => ipRuleMatches(r.value, caller.clientAddress))) return;
    throw kvErrors.firewall(caller.clientAddress, callerTag(caller), vaultTag(vault));
  }
}
