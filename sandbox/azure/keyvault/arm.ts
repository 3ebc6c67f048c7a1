/**
 * Microsoft.KeyVault management routes (ARM): vaults CRUD, access-policy updates, deleted vaults and
 * name availability. Authorisation is the core's RBAC over the route's action (`vaults/write`,
 * `vaults/read`, `vaults/accessPolicies/write`, …) — management operations are always RBAC, whatever
 * permission model the vault uses for its data plane.
 */
import { reply, type RequestContext } from '../context';
import type { SandboxCore } from '../core';
import { requireResourceGroup, requireSubscription } from '../arm/resources';
import { PUBLISHED_API_VERSIONS } from '../arm/apiVersions';
import { page } from '../arm/paging';
import { toSandboxError } from './dataplane';
import { armErrors } from './errors';
import { KeyVaultError } from './errors';
import {
  KeyVaultModel,
  normaliseLocation,
  type CreateKeyParams,
  type DeletedVault,
  type KeyRecord,
  type KeyVersion,
  type PolicyInput,
  type Vault,
} from './model';
import { keyAttributes, keyId } from './wire';

const VAULT =
  '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.KeyVault/vaults/:vaultName';

export function vaultBody(vault: Vault): Record<string, unknown> {
  const p = vault.properties;
  return {
    id: vault.id,
    name: vault.name,
    type: 'Microsoft.KeyVault/vaults',
    location: normaliseLocation(vault.location),
    tags: { ...vault.tags },
    systemData: {
      createdBy: vault.createdBy,
      createdByType: 'Application',
      createdAt: new Date(vault.createdAt).toISOString(),
      lastModifiedBy: vault.lastModifiedBy,
      lastModifiedByType: 'Application',
      lastModifiedAt: new Date(vault.lastModifiedAt).toISOString(),
    },
    properties: {
      sku: { ...p.sku },
      tenantId: p.tenantId,
      ...(p.networkAcls ? { networkAcls: JSON.parse(JSON.stringify(p.networkAcls)) as unknown } : {}),
      accessPolicies: JSON.parse(JSON.stringify(p.accessPolicies)) as unknown,
      enabledForDeployment: p.enabledForDeployment,
      enabledForDiskEncryption: p.enabledForDiskEncryption,
      enabledForTemplateDeployment: p.enabledForTemplateDeployment,
      enableSoftDelete: p.enableSoftDelete,
      softDeleteRetentionInDays: p.softDeleteRetentionInDays,
      enableRbacAuthorization: p.enableRbacAuthorization,
      ...(p.enablePurgeProtection ? { enablePurgeProtection: true } : {}),
      vaultUri: p.vaultUri,
      provisioningState: p.provisioningState,
      publicNetworkAccess: p.publicNetworkAccess,
    },
  };
}

export function deletedVaultBody(d: DeletedVault): Record<string, unknown> {
  const location = normaliseLocation(d.vault.location);
  return {
    id: `/subscriptions/${d.vault.subscriptionId}/providers/Microsoft.KeyVault/locations/${location}/deletedVaults/${d.vault.name}`,
    name: d.vault.name,
    type: 'Microsoft.KeyVault/deletedVaults',
    properties: {
      vaultId: d.vault.id,
      location,
      deletionDate: new Date(d.deletionDate).toISOString(),
      scheduledPurgeDate: new Date(d.scheduledPurgeDate).toISOString(),
      tags: { ...d.vault.tags },
      purgeProtectionEnabled: d.vault.properties.enablePurgeProtection === true,
    },
  };
}

/** The ARM (management-plane) view of a key or one of its versions: `Microsoft.KeyVault/vaults/keys[/versions]`. */
export function armKeyBody(
  vault: Vault,
  record: KeyRecord,
  version: KeyVersion,
  asVersion: boolean,
): Record<string, unknown> {
  const policy = record.rotationPolicy;
  const attributes = keyAttributes(vault, version);
  delete attributes.recoverableDays;
  return {
    id: `${vault.id}/keys/${record.name}${asVersion ? `/versions/${version.version}` : ''}`,
    name: asVersion ? version.version : record.name,
    type: asVersion ? 'Microsoft.KeyVault/vaults/keys/versions' : 'Microsoft.KeyVault/vaults/keys',
    location: normaliseLocation(vault.location),
    tags: { ...version.tags },
    properties: {
      attributes,
      kty: version.material.kty,
      keyOps: [...version.keyOps],
      ...(version.material.keySize !== undefined ? { keySize: version.material.keySize } : {}),
      ...(version.material.curve !== undefined ? { curveName: version.material.curve } : {}),
      keyUri: keyId(vault, record.name),
      keyUriWithVersion: keyId(vault, record.name, version.version),
      ...(policy && !asVersion
        ? {
            rotationPolicy: {
              lifetimeActions: policy.lifetimeActions.map((a) => ({
                trigger: { ...a.trigger },
                action: { ...a.action },
              })),
              attributes: {
                created: Math.floor(policy.created / 1000),
                updated: Math.floor(policy.updated / 1000),
                ...(policy.expiryTime ? { expiryTime: policy.expiryTime } : {}),
              },
            },
          }
        : {}),
    },
  };
}

/** ARM reports a missing key as a missing resource, not with the data plane's KeyNotFound text. */
function armKeyNotFound(error: unknown, vault: Vault, keyName: string): unknown {
  if (error instanceof KeyVaultError && error.code === 'KeyNotFound') {
    return new KeyVaultError(
      404,
      'ResourceNotFound',
      `The Resource 'Microsoft.KeyVault/vaults/${vault.name}/keys/${keyName}' under resource group '${vault.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  }
  return error;
}

function armCreateParams(body: unknown): {
  params: CreateKeyParams;
  policy?: PolicyInput;
  tags: Record<string, string>;
} {
  const input = (body && typeof body === 'object' ? body : {}) as {
    tags?: Record<string, string>;
    properties?: {
      kty?: unknown;
      keySize?: unknown;
      curveName?: unknown;
      keyOps?: unknown;
      attributes?: { enabled?: unknown; nbf?: unknown; exp?: unknown };
      rotationPolicy?: PolicyInput;
    };
  };
  const p = input.properties;
  if (!p || typeof p.kty !== 'string') {
    throw armErrors.badRequest("The property 'properties.kty' is required to create a key.");
  }
  const a = p.attributes ?? {};
  const params: CreateKeyParams = {
    kty: p.kty,
    ...(typeof p.keySize === 'number' ? { key_size: p.keySize } : {}),
    ...(typeof p.curveName === 'string' ? { crv: p.curveName } : {}),
    ...(Array.isArray(p.keyOps) ? { key_ops: p.keyOps.map(String) } : {}),
    attributes: {
      ...(typeof a.enabled === 'boolean' ? { enabled: a.enabled } : {}),
      ...(typeof a.nbf === 'number' ? { nbf: a.nbf } : {}),
      ...(typeof a.exp === 'number' ? { exp: a.exp } : {}),
    },
    ...(input.tags ? { tags: input.tags } : {}),
  };
  return { params, ...(p.rotationPolicy ? { policy: p.rotationPolicy } : {}), tags: input.tags ?? {} };
}

/** `$top` on the vault lists caps the page size, as the Key Vault RP does. */
function top(ctx: RequestContext): number | undefined {
  const t = ctx.query.get('$top');
  if (t === null) return undefined;
  const n = Number(t);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function registerArm(core: SandboxCore, model: KeyVaultModel): void {
  core.apiVersions.register('Microsoft.KeyVault', PUBLISHED_API_VERSIONS['Microsoft.KeyVault'] ?? []);
  const guard =
    <T>(fn: (ctx: RequestContext) => T | Promise<T>) =>
    async (ctx: RequestContext): Promise<T> => {
      try {
        return await fn(ctx);
      } catch (error) {
        throw toSandboxError(error);
      }
    };
  const p = (ctx: RequestContext, key: string): string => ctx.params[key] ?? '';

  core.routes.arm({
    method: 'PUT',
    path: VAULT,
    operation: 'Microsoft.KeyVault/vaults/write',
    handler: guard((ctx) => {
      requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'));
      const principal = ctx.principal?.objectId ?? '';
      const { vault, created } = model.putVault(
        p(ctx, 'subscriptionId'),
        p(ctx, 'resourceGroupName'),
        p(ctx, 'vaultName'),
        ctx.json(),
        principal,
      );
      if (!created) return reply.ok(vaultBody(vault));
      // A new vault registers its DNS name before it is ready: the PUT is a long-running operation
      // that completes on the clock (Azure-AsyncOperation), and GET shows RegisteringDns until then.
      model.setProvisioningState(vault, 'RegisteringDns');
      const { headers } = core.operations.begin(ctx, {
        resourceId: vault.id,
        namespace: 'Microsoft.KeyVault',
        location: vault.location,
        complete: () => {
          model.setProvisioningState(vault, 'Succeeded');
        },
        result: () => vaultBody(vault),
      });
      return reply.created(vaultBody(vault), headers);
    }),
  });

  core.routes.arm({
    method: 'PATCH',
    path: VAULT,
    operation: 'Microsoft.KeyVault/vaults/write',
    handler: guard((ctx) => {
      requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'));
      return reply.ok(
        vaultBody(
          model.patchVault(
            p(ctx, 'subscriptionId'),
            p(ctx, 'resourceGroupName'),
            p(ctx, 'vaultName'),
            ctx.json(),
            ctx.principal?.objectId ?? '',
          ),
        ),
      );
    }),
  });

  core.routes.arm({
    method: 'GET',
    path: VAULT,
    operation: 'Microsoft.KeyVault/vaults/read',
    handler: guard((ctx) =>
      reply.ok(
        vaultBody(model.getVault(p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'), p(ctx, 'vaultName'))),
      ),
    ),
  });

  core.routes.arm({
    method: 'DELETE',
    path: VAULT,
    operation: 'Microsoft.KeyVault/vaults/delete',
    handler: guard((ctx) => {
      requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'));
      const deleted = model.deleteVault(
        p(ctx, 'subscriptionId'),
        p(ctx, 'resourceGroupName'),
        p(ctx, 'vaultName'),
      );
      return deleted ? { status: 200 } : reply.noContent();
    }),
  });

  core.routes.arm({
    method: 'PUT',
    path: `${VAULT}/accessPolicies/:operationKind`,
    operation: 'Microsoft.KeyVault/vaults/accessPolicies/write',
    handler: guard((ctx) => {
      requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'));
      const kind = p(ctx, 'operationKind');
      const { vault, accessPolicies } = model.updateAccessPolicy(
        p(ctx, 'subscriptionId'),
        p(ctx, 'resourceGroupName'),
        p(ctx, 'vaultName'),
        kind,
        ctx.json(),
        ctx.principal?.objectId ?? '',
      );
      return reply.ok({
        id: `${vault.id}/accessPolicies/${kind}`,
        name: kind,
        type: 'Microsoft.KeyVault/vaults/accessPolicies',
        location: normaliseLocation(vault.location),
        properties: { accessPolicies },
      });
    }),
  });

  core.routes.arm({
    method: 'GET',
    path: '/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.KeyVault/vaults',
    operation: 'Microsoft.KeyVault/vaults/read',
    handler: guard((ctx) => {
      requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'));
      const vaults = model.listVaults(p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName')).map(vaultBody);
      return reply.ok(page(ctx, vaults, top(ctx)));
    }),
  });

  core.routes.arm({
    method: 'GET',
    path: '/subscriptions/:subscriptionId/providers/Microsoft.KeyVault/vaults',
    operation: 'Microsoft.KeyVault/vaults/read',
    handler: guard((ctx) => {
      requireSubscription(core, p(ctx, 'subscriptionId'));
      const vaults = model.listVaults(p(ctx, 'subscriptionId')).map(vaultBody);
      return reply.ok(page(ctx, vaults, top(ctx)));
    }),
  });

  core.routes.arm({
    method: 'POST',
    path: '/subscriptions/:subscriptionId/providers/Microsoft.KeyVault/checkNameAvailability',
    operation: 'Microsoft.KeyVault/checkNameAvailability/read',
    handler: guard((ctx) => {
      const body = ctx.json() as { name?: unknown; type?: unknown } | undefined;
      if (!body || typeof body.name !== 'string' || body.type !== 'Microsoft.KeyVault/vaults') {
        throw armErrors.badRequest("The request needs 'name' and 'type': 'Microsoft.KeyVault/vaults'.");
      }
      return reply.ok(model.checkNameAvailability(body.name));
    }),
  });

  core.routes.arm({
    method: 'GET',
    path: '/subscriptions/:subscriptionId/providers/Microsoft.KeyVault/deletedVaults',
    operation: 'Microsoft.KeyVault/deletedVaults/read',
    handler: guard((ctx) =>
      reply.ok(page(ctx, model.listDeletedVaults(p(ctx, 'subscriptionId')).map(deletedVaultBody))),
    ),
  });

  core.routes.arm({
    method: 'GET',
    path: '/subscriptions/:subscriptionId/providers/Microsoft.KeyVault/locations/:location/deletedVaults/:vaultName',
    operation: 'Microsoft.KeyVault/locations/deletedVaults/read',
    handler: guard((ctx) =>
      reply.ok(
        deletedVaultBody(
          model.getDeletedVault(p(ctx, 'subscriptionId'), p(ctx, 'location'), p(ctx, 'vaultName')),
        ),
      ),
    ),
  });

  core.routes.arm({
    method: 'POST',
    path: '/subscriptions/:subscriptionId/providers/Microsoft.KeyVault/locations/:location/deletedVaults/:vaultName/purge',
    operation: 'Microsoft.KeyVault/locations/deletedVaults/purge/action',
    handler: guard((ctx) => {
      const sub = p(ctx, 'subscriptionId');
      const location = p(ctx, 'location');
      const name = p(ctx, 'vaultName');
      // Validate now (404, purge protection) so the refusal is synchronous; the purge itself is an LRO.
      const d = model.getDeletedVault(sub, location, name);
      if (d.vault.properties.enablePurgeProtection) model.purgeDeletedVault(sub, location, name);
      const { headers } = core.operations.begin(ctx, {
        resourceId: `/subscriptions/${sub}/providers/Microsoft.KeyVault/locations/${location}/deletedVaults/${name}`,
        namespace: 'Microsoft.KeyVault',
        location,
        complete: () => model.purgeDeletedVault(sub, location, name),
        // The Location poll answers 200 when done (arm-keyvault accepts 200/201/202 there, not 204).
        result: () => ({}),
      });
      return reply.accepted(headers);
    }),
  });

  // ARM view of keys (Microsoft.KeyVault/vaults/keys): management-plane RBAC only — no access policy and
  // no vault firewall, as in Azure, where ARM reaches the vault from inside the service.
  const KEYS = `${VAULT}/keys`;
  const vaultFor = (ctx: RequestContext): Vault => {
    requireResourceGroup(core, p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'));
    return model.getVault(p(ctx, 'subscriptionId'), p(ctx, 'resourceGroupName'), p(ctx, 'vaultName'));
  };
  core.routes.arm({
    method: 'GET',
    path: KEYS,
    operation: 'Microsoft.KeyVault/vaults/keys/read',
    handler: guard((ctx) => {
      const vault = vaultFor(ctx);
      const items = model
        .armKeys(vault)
        .map((r) => armKeyBody(vault, r, model.armKey(vault, r.name).version, false));
      return reply.ok(page(ctx, items));
    }),
  });
  core.routes.arm({
    method: 'GET',
    path: `${KEYS}/:keyName`,
    operation: 'Microsoft.KeyVault/vaults/keys/read',
    handler: guard((ctx) => {
      const vault = vaultFor(ctx);
      try {
        const { record, version } = model.armKey(vault, p(ctx, 'keyName'));
        return reply.ok(armKeyBody(vault, record, version, false));
      } catch (error) {
        throw armKeyNotFound(error, vault, p(ctx, 'keyName'));
      }
    }),
  });
  core.routes.arm({
    method: 'GET',
    path: `${KEYS}/:keyName/versions`,
    operation: 'Microsoft.KeyVault/vaults/keys/versions/read',
    handler: guard((ctx) => {
      const vault = vaultFor(ctx);
      try {
        const { record } = model.armKey(vault, p(ctx, 'keyName'));
        return reply.ok(
          page(
            ctx,
            record.versions.map((v) => armKeyBody(vault, record, v, true)),
          ),
        );
      } catch (error) {
        throw armKeyNotFound(error, vault, p(ctx, 'keyName'));
      }
    }),
  });
  core.routes.arm({
    method: 'GET',
    path: `${KEYS}/:keyName/versions/:keyVersion`,
    operation: 'Microsoft.KeyVault/vaults/keys/versions/read',
    handler: guard((ctx) => {
      const vault = vaultFor(ctx);
      try {
        const { record, version } = model.armKey(vault, p(ctx, 'keyName'), p(ctx, 'keyVersion'));
        return reply.ok(armKeyBody(vault, record, version, true));
      } catch (error) {
        throw armKeyNotFound(error, vault, p(ctx, 'keyName'));
      }
    }),
  });
  core.routes.arm({
    method: 'PUT',
    path: `${KEYS}/:keyName`,
    operation: 'Microsoft.KeyVault/vaults/keys/write',
    handler: guard(async (ctx) => {
      const vault = vaultFor(ctx);
      const { params, policy } = armCreateParams(ctx.json());
      // The service answers 200 whether it created the key or found it (the swagger lists only 200).
      const { record } = await model.armCreateKeyIfNotExist(vault, p(ctx, 'keyName'), params, policy);
      return reply.ok(armKeyBody(vault, record, model.armKey(vault, record.name).version, false));
    }),
  });
}
