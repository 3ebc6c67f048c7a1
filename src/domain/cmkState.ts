/**
 * The CMK state of a namespace and the health of the keys it uses, as plain domain values.
 *
 * The gateway maps the Service Bus namespace (SDK shape) to `NamespaceEncryptionSettings` and
 * `NamespaceIdentity`; everything else here is computed from those and a `now` the caller supplies
 * (an orchestration's replay-safe clock), never from the wall clock.
 */
import {
  KeyVaultUrlError,
  hostOf,
  keyReferenceKey,
  normalizeResourceId,
  parseKeyVaultUri,
  type KeyVaultUri,
} from './resourceIds';

/** The namespace's `identity` block, SDK-neutral. */
export interface NamespaceIdentity {
  /** Present when the system-assigned identity is on; principalId once Entra has created it. */
  systemAssigned?: { principalId?: string; tenantId?: string };
  /** Attached user-assigned identities (normalised resource ids). */
  userAssigned: { resourceId: string; principalId?: string; clientId?: string }[];
}

/** The namespace's `encryption` block, SDK-neutral (what ARM returns under `properties.encryption`). */
export interface NamespaceEncryptionSettings {
  keySource?: string;
  keyVaultProperties?: {
    keyName?: string;
    keyVaultUri?: string;
    keyVersion?: string;
    /** ARM id of the user-assigned identity used for this key; absent = system-assigned. */
    userAssignedIdentity?: string;
  }[];
  requireInfrastructureEncryption?: boolean;
}

/** Which identity the namespace uses to reach its keys (one for all keys, as Service Bus requires). */
export type EncryptionIdentity = { type: 'SystemAssigned' } | { type: 'UserAssigned'; resourceId: string };

/** A reference to a Key Vault key, from a request or from a namespace's encryption settings. */
export interface KeyRef {
  /** `https://{host}[:port]/` (lower-case host, trailing slash). */
  vaultUri: string;
  /** Lower-case host without port. */
  host: string;
  /** Vault name, only when the host is under the cloud's Key Vault suffix. */
  vaultName?: string;
  keyName: string;
  /** Set when the reference is pinned to one version (no automatic rotation). */
  keyVersion?: string;
  versionlessKeyId: string;
  /** Versioned when pinned, versionless otherwise. */
  keyId: string;
  /** False when the host is not under the cloud's Key Vault suffix: the app must not call it. */
  hostTrusted: boolean;
}

/** Just the KeyRef fields (request-only fields such as a position dropped), as facts and inputs carry it. */
export function plainKeyRef(k: KeyRef): KeyRef {
  return {
    vaultUri: k.vaultUri,
    host: k.host,
    ...(k.vaultName ? { vaultName: k.vaultName } : {}),
    keyName: k.keyName,
    ...(k.keyVersion ? { keyVersion: k.keyVersion } : {}),
    versionlessKeyId: k.versionlessKeyId,
    keyId: k.keyId,
    hostTrusted: k.hostTrusted,
  };
}

export interface CmkKeyReference extends KeyRef {
  pinned: boolean;
  identity: EncryptionIdentity;
}

export type CmkState =
  | { encrypted: false }
  | {
      encrypted: true;
      keys: CmkKeyReference[];
      requireInfrastructureEncryption: boolean;
      /** The identity of the first key (Service Bus allows only one encryption identity). */
      identity: EncryptionIdentity;
    };

/** Builds the CMK state from the namespace's encryption block. No keys or no Key Vault source = not encrypted. */
export function cmkStateFromEncryption(
  encryption: NamespaceEncryptionSettings | undefined,
  keyVaultDnsSuffix: string,
): CmkState {
  const entries = (encryption?.keyVaultProperties ?? []).filter((k) => k.keyName && k.keyVaultUri);
  if (!encryption || entries.length === 0) return { encrypted: false };
  const keys = entries.map((k): CmkKeyReference => {
    // The one Key Vault host validator decides what is trusted; anything else is kept as given
    // (host and port) only to be reported, never called.
    const uri = k.keyVaultUri as string;
    const vault = trustedVault(uri, keyVaultDnsSuffix);
    const host = vault?.host ?? hostOf(uri);
    const vaultUri = vault?.vaultUri ?? (host ? `https://${host}${portOf(uri)}/` : uri);
    const hostTrusted = vault !== undefined;
    const keyName = k.keyName as string;
    const keyVersion = k.keyVersion?.trim() ? k.keyVersion.trim().toLowerCase() : undefined;
    const versionlessKeyId = `${vaultUri}keys/${keyName}`;
    const identity: EncryptionIdentity = k.userAssignedIdentity
      ? { type: 'UserAssigned', resourceId: safeNormalize(k.userAssignedIdentity) }
      : { type: 'SystemAssigned' };
    return {
      vaultUri,
      host: host ?? '',
      ...(vault ? { vaultName: vault.vaultName } : {}),
      keyName,
      ...(keyVersion ? { keyVersion } : {}),
      pinned: keyVersion !== undefined,
      versionlessKeyId,
      keyId: keyVersion ? `${versionlessKeyId}/${keyVersion}` : versionlessKeyId,
      hostTrusted,
      identity,
    };
  });
  return {
    encrypted: true,
    keys,
    requireInfrastructureEncryption: encryption.requireInfrastructureEncryption === true,
    identity: (keys[0] as CmkKeyReference).identity,
  };
}

function trustedVault(uri: string, keyVaultDnsSuffix: string): KeyVaultUri | undefined {
  try {
    return parseKeyVaultUri(uri, keyVaultDnsSuffix);
  } catch (e) {
    if (e instanceof KeyVaultUrlError) return undefined;
    throw e;
  }
}

function portOf(url: string): string {
  try {
    const port = new URL(url.trim()).port;
    return port ? `:${port}` : '';
  } catch {
    return '';
  }
}

function safeNormalize(id: string): string {
  try {
    return normalizeResourceId(id);
  } catch {
    return id;
  }
}

/** Whether two encryption identities are the same (user-assigned ids compared case-insensitively). */
export function sameEncryptionIdentity(a: EncryptionIdentity, b: EncryptionIdentity): boolean {
  if (a.type === 'SystemAssigned' || b.type === 'SystemAssigned') return a.type === b.type;
  return a.resourceId.toLowerCase() === b.resourceId.toLowerCase();
}

/** Whether two key lists name the same keys and versions, in any order (case-insensitive). */
export function sameKeySet(
  a: readonly { vaultUri: string; keyName: string; keyVersion?: string }[],
  b: readonly { vaultUri: string; keyName: string; keyVersion?: string }[],
): boolean {
  const left = new Set(a.map(keyReferenceKey));
  const right = new Set(b.map(keyReferenceKey));
  return left.size === right.size && [...left].every((k) => right.has(k));
}

// ---------------------------------------------------------------------------------------------------
// Key health
// ---------------------------------------------------------------------------------------------------

/** What a Key Vault read told us about one key (the version the namespace uses). */
export interface KeyFacts {
  /** `found`; `notFound` (never existed or purged); `deleted` (soft-deleted, recoverable); the read failed. */
  status: 'found' | 'notFound' | 'deleted' | 'forbidden' | 'unreachable';
  enabled?: boolean;
  /** ISO 8601 instants. */
  expiresOn?: string;
  notBefore?: string;
  /** `RSA`, `RSA-HSM`, `EC`, … */
  kty?: string;
  keySize?: number;
  keyOps?: string[];
  /** Current version (for versionless references). */
  currentVersion?: string;
  /** Rotation policy: null = none set, undefined = could not be read (not reported). */
  rotationPolicy?: { autoRotate: boolean; expiresIn?: string } | null;
}

export type KeyHealthIssue = 'missing' | 'deleted' | 'unreadable' | 'disabled' | 'expired' | 'notYetValid';

export interface KeyHealth {
  /** The namespace can wrap/unwrap with this key right now (as far as its attributes go). */
  usable: boolean;
  /** Summary: the first blocking issue, else `expiringSoon` or `healthy`. */
  status: KeyHealthIssue | 'expiringSoon' | 'healthy';
  /** Every blocking issue found (a key can be disabled and expired at once). */
  issues: KeyHealthIssue[];
  /** Whole days until expiry (negative once expired); undefined without an expiry date. */
  daysToExpiry?: number;
  expiresOn?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Health of one key at `now`. `expiringSoon` means usable but expiring within `warningDays`.
 * A key Key Vault would not let us read is `unreadable`: unknown, so not counted as usable.
 */
export function evaluateKeyHealth(key: KeyFacts, now: Date, warningDays: number): KeyHealth {
  const issues: KeyHealthIssue[] = [];
  if (key.status === 'notFound') issues.push('missing');
  else if (key.status === 'deleted') issues.push('deleted');
  else if (key.status === 'forbidden' || key.status === 'unreachable') issues.push('unreadable');
  let daysToExpiry: number | undefined;
  if (key.status === 'found') {
    if (key.enabled === false) issues.push('disabled');
    const exp = key.expiresOn ? Date.parse(key.expiresOn) : NaN;
    if (!Number.isNaN(exp)) {
      daysToExpiry = Math.floor((exp - now.getTime()) / DAY_MS);
      if (exp <= now.getTime()) issues.push('expired');
    }
    const nbf = key.notBefore ? Date.parse(key.notBefore) : NaN;
    if (!Number.isNaN(nbf) && nbf > now.getTime()) issues.push('notYetValid');
  }
  const usable = issues.length === 0;
  const expiringSoon =
    usable && daysToExpiry !== undefined && key.expiresOn !== undefined
      ? Date.parse(key.expiresOn) - now.getTime() <= warningDays * DAY_MS
      : false;
  return {
    usable,
    status: issues[0] ?? (expiringSoon ? 'expiringSoon' : 'healthy'),
    issues,
    ...(daysToExpiry !== undefined ? { daysToExpiry } : {}),
    ...(key.expiresOn !== undefined ? { expiresOn: key.expiresOn } : {}),
  };
}
