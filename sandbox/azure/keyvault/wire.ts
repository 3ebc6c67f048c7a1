/**
 * Wire shapes of the Key Vault keys API (data-plane swagger `keys.json` / TypeSpec, 7.x and 2025-07-01):
 * KeyBundle, KeyItem, DeletedKeyBundle/Item, KeyRotationPolicy, KeyOperationResult. Times are Unix
 * seconds; key material is the public JWK only, base64url-encoded.
 */
import { publicJwk } from './keycrypto';
import {
  KeyVaultModel,
  type DeletedKeyRecord,
  type KeyRecord,
  type KeyVersion,
  type RotationPolicy,
  type Vault,
} from './model';

const seconds = (ms: number): number => Math.floor(ms / 1000);

export function keyAttributes(vault: Vault, version: KeyVersion): Record<string, unknown> {
  return {
    enabled: version.enabled,
    ...(version.nbf !== undefined ? { nbf: seconds(version.nbf) } : {}),
    ...(version.exp !== undefined ? { exp: seconds(version.exp) } : {}),
    created: seconds(version.created),
    updated: seconds(version.updated),
    recoveryLevel: KeyVaultModel.recoveryLevel(vault),
    recoverableDays: vault.properties.softDeleteRetentionInDays,
    exportable: false,
  };
}

const tagsOf = (version: KeyVersion): Record<string, unknown> =>
  Object.keys(version.tags).length ? { tags: { ...version.tags } } : {};

export const keyId = (vault: Vault, name: string, version?: string): string =>
  `${vault.properties.vaultUri}keys/${name}${version ? `/${version}` : ''}`;

export function keyBundle(vault: Vault, record: KeyRecord, version: KeyVersion): Record<string, unknown> {
  return {
    key: {
      kid: keyId(vault, record.name, version.version),
      kty: version.material.kty,
      key_ops: [...version.keyOps],
      ...publicJwk(version.material),
    },
    attributes: keyAttributes(vault, version),
    ...tagsOf(version),
  };
}

/** List entries: `kid` is versionless for "list keys" and versioned for "list versions". */
export function keyItem(
  vault: Vault,
  record: KeyRecord,
  version: KeyVersion,
  versioned: boolean,
): Record<string, unknown> {
  return {
    kid: keyId(vault, record.name, versioned ? version.version : undefined),
    attributes: keyAttributes(vault, version),
    ...tagsOf(version),
  };
}

function deletedParts(vault: Vault, d: DeletedKeyRecord): Record<string, unknown> {
  return {
    recoveryId: `${vault.properties.vaultUri}deletedkeys/${d.key.name}`,
    deletedDate: seconds(d.deletedDate),
    scheduledPurgeDate: seconds(d.scheduledPurgeDate),
  };
}

export function deletedKeyBundle(vault: Vault, d: DeletedKeyRecord): Record<string, unknown> {
  const latest = d.key.versions[d.key.versions.length - 1];
  if (!latest) return deletedParts(vault, d);
  return { ...keyBundle(vault, d.key, latest), ...deletedParts(vault, d) };
}

export function deletedKeyItem(vault: Vault, d: DeletedKeyRecord): Record<string, unknown> {
  const latest = d.key.versions[d.key.versions.length - 1];
  if (!latest) return deletedParts(vault, d);
  return { ...keyItem(vault, d.key, latest, false), ...deletedParts(vault, d) };
}

export function rotationPolicy(
  vault: Vault,
  record: KeyRecord,
  policy?: RotationPolicy,
): Record<string, unknown> {
  const id = `${keyId(vault, record.name)}/rotationpolicy`;
  if (!policy) {
    // A key that never had a policy reports Key Vault's default: notify 30 days before expiry.
    return {
      id,
      lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } }],
      attributes: {},
    };
  }
  return {
    id,
    lifetimeActions: policy.lifetimeActions.map((a) => ({
      trigger: { ...a.trigger },
      action: { ...a.action },
    })),
    attributes: {
      ...(policy.expiryTime ? { expiryTime: policy.expiryTime } : {}),
      created: seconds(policy.created),
      updated: seconds(policy.updated),
    },
  };
}
