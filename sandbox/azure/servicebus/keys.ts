import { randomBytes, randomUUID } from 'node:crypto';
import type { SandboxCore } from '../core';
import { KeyVaultProvider, type Caller, type KeyVaultModel } from '../keyvault';
import { KeyVaultError } from '../keyvault/errors';
import type { Vault } from '../keyvault/model';
import { KEY_OPERATIONS } from '../keyvault/permissions';

/**
 * How a Service Bus namespace reaches its customer-managed keys: as Azure's Service Bus service does,
 * with the namespace's own managed identity, as a trusted Microsoft service (so a vault firewall with
 * `bypass: AzureServices` admits it), calling Key Vault's get, wrapKey and unwrapKey on the key.
 *
 * Decision: the calls go to the Key Vault provider's model in-process (`KeyVaultModel.getKey` /
 * `cryptoOperation` with a `Caller`), not over HTTPS. The model is what the data-plane routes run, so
 * every check is identical (tenant, firewall, access policy or RBAC data action with propagation delay,
 * enabled/nbf/exp, key_ops). An HTTPS call could not carry the trusted-service status for a
 * user-assigned identity (the data plane recognises only system-assigned identities of trusted resource
 * types from a token), which would wrongly lock such namespaces out of firewalled vaults. Each call is
 * still written to the sandbox request log (service `keyvault`, the vault host, the REST path, the
 * identity's object id, the data action and the status Key Vault answered), as the issue asks.
 */

/** A Service Bus front end's address as Key Vault sees it; it matches no customer IP rule. */
const SERVICE_BUS_ADDRESS = '20.50.64.10';
const KV_API_VERSION = '7.4';

export interface KeyRef {
  keyName: string;
  keyVaultUri: string;
  /** Pinned version; absent = versionless (Service Bus follows rotations). */
  keyVersion?: string;
  /** ARM id of the user-assigned identity; absent = the namespace's system-assigned identity. */
  userAssignedIdentity?: string;
}

export type ProbeResult =
  | { ok: true; version: string }
  | {
      ok: false;
      /** The key (or its vault) is deleted: Service Bus may keep using its cached copy for a while. */
      deleted: boolean;
      detail: string;
    };

export function vaultNameOf(keyVaultUri: string): string | undefined {
  try {
    return new URL(keyVaultUri).hostname.split('.')[0]?.toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

export class KeyAccess {
  constructor(private readonly core: SandboxCore) {}

  get keyVault(): KeyVaultModel | undefined {
    return this.core.providers.find((p): p is KeyVaultProvider => p instanceof KeyVaultProvider)?.model;
  }

  vault(keyVaultUri: string): Vault | undefined {
    const name = vaultNameOf(keyVaultUri);
    return name ? this.keyVault?.vaultByName(name) : undefined;
  }

  /** A soft-deleted vault: its keys are "deleted" for Service Bus (cached for a while). */
  isVaultDeleted(keyVaultUri: string): boolean {
    const name = vaultNameOf(keyVaultUri);
    const kv = this.keyVault;
    if (!name || !kv) return false;
    return this.core.options.subscriptions.some((s) =>
      kv.listDeletedVaults(s.subscriptionId).some((d) => d.vault.name.toLowerCase() === name),
    );
  }

  /** The Key Vault caller for a namespace identity (object id). */
  caller(objectId: string): Caller | undefined {
    const principal = this.core.principals.get(objectId);
    if (!principal) return undefined;
    return {
      objectId: principal.objectId,
      tenantId: principal.tenantId,
      appId: principal.clientId,
      clientAddress: SERVICE_BUS_ADDRESS,
      trustedService: 'Microsoft.ServiceBus/namespaces',
    };
  }

  /**
   * Can `objectId` get, wrap and unwrap the key now? Versionless: the current version, or — if that one
   * cannot be used — the version in use so far (`previousVersion`); pinned: exactly that version.
   */
  async probe(objectId: string | undefined, key: KeyRef, previousVersion?: string): Promise<ProbeResult> {
    const kv = this.keyVault;
    if (!kv) return { ok: false, deleted: false, detail: 'Key Vault is not available.' };
    const vault = this.vault(key.keyVaultUri);
    if (!vault) {
      const deleted = this.isVaultDeleted(key.keyVaultUri);
      return { ok: false, deleted, detail: `The key vault '${key.keyVaultUri}' was not found.` };
    }
    const caller = objectId ? this.caller(objectId) : undefined;
    if (!caller) return { ok: false, deleted: false, detail: 'The namespace identity does not exist.' };

    const got = await this.call(vault, caller, 'GET', 'get', key.keyName, key.keyVersion, () =>
      kv.getKey(vault, caller, key.keyName, key.keyVersion),
    );
    if (!got.ok) {
      const deleted = vault.deletedKeys.has(key.keyName.toLowerCase());
      return { ok: false, deleted, detail: got.detail };
    }
    const candidates = [got.value.version.version];
    if (!key.keyVersion && previousVersion && previousVersion !== got.value.version.version) {
      candidates.push(previousVersion);
    }
    let detail = '';
    for (const version of candidates) {
      const result = await this.wrapUnwrap(kv, vault, caller, key.keyName, version);
      if (result.ok) return { ok: true, version };
      detail ||= result.detail;
    }
    return { ok: false, deleted: false, detail };
  }

  private async wrapUnwrap(
    kv: KeyVaultModel,
    vault: Vault,
    caller: Caller,
    keyName: string,
    version: string,
  ): Promise<{ ok: true } | { ok: false; detail: string }> {
    // Service Bus protects its data-encryption key with the customer's key: wrap, then unwrap it back.
    const dek = randomBytes(32);
    const wrapped = await this.call(vault, caller, 'POST', 'wrapKey', keyName, version, () =>
      kv.cryptoOperation(vault, caller, 'wrapKey', keyName, version, 'RSA-OAEP', dek),
    );
    if (!wrapped.ok) return wrapped;
    const unwrapped = await this.call(vault, caller, 'POST', 'unwrapKey', keyName, version, () =>
      kv.cryptoOperation(vault, caller, 'unwrapKey', keyName, version, 'RSA-OAEP', wrapped.value.result),
    );
    if (!unwrapped.ok) return unwrapped;
    return unwrapped.value.result.equals(dek)
      ? { ok: true }
      : { ok: false, detail: 'unwrapKey returned other bytes.' };
  }

  /** Runs one Key Vault operation and writes it to the request log as the data plane would. */
  private async call<T>(
    vault: Vault,
    caller: Caller,
    method: 'GET' | 'POST',
    operation: 'get' | 'wrapKey' | 'unwrapKey',
    keyName: string,
    version: string | undefined,
    run: () => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false; detail: string }> {
    let status = 200;
    let errorCode: string | undefined;
    const started = performance.now();
    try {
      const value = await run();
      return { ok: true, value };
    } catch (error) {
      const kvError = error instanceof KeyVaultError ? error : undefined;
      status = kvError?.status ?? 500;
      errorCode = kvError?.code ?? 'InternalServerError';
      const inner = kvError?.innerCode ? ` (${kvError.innerCode})` : '';
      return {
        ok: false,
        detail: `${errorCode}${inner}: ${error instanceof Error ? error.message : String(error)}`,
      };
    } finally {
      const suffix = operation === 'get' ? '' : `/${operation.toLowerCase()}`;
      const requestId = randomUUID();
      const host = new URL(vault.properties.vaultUri).host;
      const path = `/keys/${keyName}${version ? `/${version}` : ''}${suffix}`;
      const query = `?api-version=${KV_API_VERSION}`;
      this.core.log.add({
        time: new Date(this.core.clock.now()).toISOString(),
        requestId,
        service: 'keyvault',
        method,
        host,
        path,
        query,
        principal: caller.objectId,
        operation: KEY_OPERATIONS[operation].dataAction,
        status,
        ...(errorCode ? { errorCode } : {}),
      });
      // Observers (the Key Vault audit log) see the call as the data plane would have answered it.
      this.core.notifyObservers({
        service: 'keyvault',
        method,
        host,
        path,
        query,
        routePath: `/keys/:name${version ? '/:version' : ''}${suffix}`,
        params: { name: keyName, ...(version ? { version } : {}) },
        vaultName: vault.name.toLowerCase(),
        principal: { objectId: caller.objectId, ...(caller.appId ? { clientId: caller.appId } : {}) },
        clientIp: caller.clientAddress,
        trustedService: caller.trustedService ?? 'Microsoft.ServiceBus/namespaces',
        apiVersion: KV_API_VERSION,
        requestId,
        correlationId: requestId,
        time: this.core.clock.now(),
        status,
        ...(errorCode ? { errorCode } : {}),
        durationMs: performance.now() - started,
      });
    }
  }
}
