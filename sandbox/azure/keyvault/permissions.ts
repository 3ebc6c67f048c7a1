/**
 * Key Vault's two permission models for keys. An access-policy vault checks the caller's object id
 * against `accessPolicies[].permissions.keys`; an RBAC vault checks a dataAction at the key's scope
 * through role assignments (the core's RBAC). The table maps each data-plane operation to both, as in
 * Azure's access-policy ↔ RBAC mapping (docs/ARCHITECTURE.md "Sandbox principles").
 */

export type KeyOperation =
  | 'get'
  | 'list'
  | 'create'
  | 'import'
  | 'update'
  | 'delete'
  | 'getDeleted'
  | 'listDeleted'
  | 'recover'
  | 'purge'
  | 'backup'
  | 'restore'
  | 'rotate'
  | 'getrotationpolicy'
  | 'setrotationpolicy'
  | 'encrypt'
  | 'decrypt'
  | 'wrapKey'
  | 'unwrapKey'
  | 'sign'
  | 'verify';

const KEYS = 'Microsoft.KeyVault/vaults/keys';
const POLICIES = 'Microsoft.KeyVault/vaults/keyrotationpolicies';

/** permission: the access-policy key permission name; dataAction: the RBAC data action. */
export const KEY_OPERATIONS: Record<KeyOperation, { permission: string; dataAction: string }> = {
  get: { permission: 'get', dataAction: `${KEYS}/read` },
  list: { permission: 'list', dataAction: `${KEYS}/read` },
  create: { permission: 'create', dataAction: `${KEYS}/create/action` },
  import: { permission: 'import', dataAction: `${KEYS}/import/action` },
  update: { permission: 'update', dataAction: `${KEYS}/update/action` },
  delete: { permission: 'delete', dataAction: `${KEYS}/delete` },
  // Reading soft-deleted keys needs get/list on access-policy vaults and the read action under RBAC.
  getDeleted: { permission: 'get', dataAction: `${KEYS}/read` },
  listDeleted: { permission: 'list', dataAction: `${KEYS}/read` },
  recover: { permission: 'recover', dataAction: `${KEYS}/recover/action` },
  purge: { permission: 'purge', dataAction: `${KEYS}/purge/action` },
  backup: { permission: 'backup', dataAction: `${KEYS}/backup/action` },
  restore: { permission: 'restore', dataAction: `${KEYS}/restore/action` },
  rotate: { permission: 'rotate', dataAction: `${KEYS}/rotate/action` },
  getrotationpolicy: { permission: 'getrotationpolicy', dataAction: `${POLICIES}/read` },
  setrotationpolicy: { permission: 'setrotationpolicy', dataAction: `${POLICIES}/write` },
  encrypt: { permission: 'encrypt', dataAction: `${KEYS}/encrypt/action` },
  decrypt: { permission: 'decrypt', dataAction: `${KEYS}/decrypt/action` },
  wrapKey: { permission: 'wrapKey', dataAction: `${KEYS}/wrap/action` },
  unwrapKey: { permission: 'unwrapKey', dataAction: `${KEYS}/unwrap/action` },
  sign: { permission: 'sign', dataAction: `${KEYS}/sign/action` },
  verify: { permission: 'verify', dataAction: `${KEYS}/verify/action` },
};

/** Every key permission an access policy may hold (arm-keyvault KnownKeyPermissions). */
export const KEY_PERMISSIONS = [
  'all',
  'encrypt',
  'decrypt',
  'wrapKey',
  'unwrapKey',
  'sign',
  'verify',
  'get',
  'list',
  'create',
  'update',
  'import',
  'delete',
  'backup',
  'restore',
  'recover',
  'purge',
  'release',
  'rotate',
  'getrotationpolicy',
  'setrotationpolicy',
];

export interface Permissions {
  keys?: string[];
  secrets?: string[];
  certificates?: string[];
  storage?: string[];
}

export interface AccessPolicyEntry {
  tenantId: string;
  objectId: string;
  applicationId?: string;
  permissions: Permissions;
}

export interface Caller {
  /** Object id (`oid`) of the token's principal. */
  objectId: string;
  /** Tenant (`tid`) the token was issued in. */
  tenantId: string;
  /** Client application id (`appid`), when the token names one. */
  appId?: string;
  /** Source address of the request, as the firewall sees it. */
  clientAddress: string;
  /**
   * Set when the caller is an Azure service on Key Vault's trusted-services list acting for a resource
   * (the value names its resource type, e.g. `Microsoft.ServiceBus/namespaces`). The HTTP layer sets it
   * when the token's principal is the managed identity (system- or user-assigned) of such a resource —
   * that is how a Service Bus namespace reaches its CMK vault in Azure: the service calls with the
   * namespace's identity and Key Vault recognises the first-party service. Nothing else sets it.
   */
  trustedService?: string;
}

/** Resource types whose services Key Vault lets through `bypass: AzureServices` (the documented allowlist, abridged). */
export const TRUSTED_SERVICE_TYPES = [
  'Microsoft.ServiceBus/namespaces',
  'Microsoft.EventHub/namespaces',
  'Microsoft.Storage/storageAccounts',
  'Microsoft.Sql/servers',
  'Microsoft.DocumentDB/databaseAccounts',
  'Microsoft.EventGrid/topics',
];

/** Does an access-policy list grant `permission` on keys to this caller? */
export function accessPolicyAllows(
  entries: AccessPolicyEntry[],
  caller: Caller,
  permission: string,
): boolean {
  const wanted = permission.toLowerCase();
  return entries.some(
    (e) =>
      e.objectId.toLowerCase() === caller.objectId.toLowerCase() &&
      e.tenantId.toLowerCase() === caller.tenantId.toLowerCase() &&
      // A compound entry (objectId + applicationId) only applies when the user calls through that app.
      (!e.applicationId || e.applicationId.toLowerCase() === caller.appId?.toLowerCase()) &&
      (e.permissions.keys ?? []).some((p) => p.toLowerCase() === wanted || p.toLowerCase() === 'all'),
  );
}

/** Matches an IPv4 address against a Key Vault ipRule (`a.b.c.d` or `a.b.c.d/n`). */
export function ipRuleMatches(rule: string, address: string): boolean {
  const toInt = (ip: string): number | undefined => {
    const parts = ip.split('.');
    if (parts.length !== 4) return undefined;
    let n = 0;
    for (const p of parts) {
      if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
      n = n * 256 + Number(p);
    }
    return n;
  };
  const [base, bitsText] = rule.split('/');
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const a = toInt(address.replace(/^::ffff:/i, ''));
  const b = toInt(base ?? '');
  if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) return false;
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

/** Merges/replaces/removes access policies as `vaults/{name}/accessPolicies/{add|replace|remove}` does. */
export function applyAccessPolicyChange(
  current: AccessPolicyEntry[],
  kind: 'add' | 'replace' | 'remove',
  changes: AccessPolicyEntry[],
): AccessPolicyEntry[] {
  const same = (a: AccessPolicyEntry, b: AccessPolicyEntry): boolean =>
    a.objectId.toLowerCase() === b.objectId.toLowerCase() &&
    a.tenantId.toLowerCase() === b.tenantId.toLowerCase() &&
    (a.applicationId ?? '').toLowerCase() === (b.applicationId ?? '').toLowerCase();
  const categories = ['keys', 'secrets', 'certificates', 'storage'] as const;
  const result = current.map((e) => ({ ...e, permissions: { ...e.permissions } }));
  for (const change of changes) {
    const i = result.findIndex((e) => same(e, change));
    const existing = i >= 0 ? result[i] : undefined;
    if (kind === 'add') {
      // add: union per category with an existing entry for the same identity, else a new entry.
      if (!existing) {
        result.push(clonePolicy(change));
        continue;
      }
      for (const c of categories) {
        const merged = [...(existing.permissions[c] ?? [])];
        for (const p of change.permissions[c] ?? []) {
          if (!merged.some((m) => m.toLowerCase() === p.toLowerCase())) merged.push(p);
        }
        if (merged.length || existing.permissions[c]) existing.permissions[c] = merged;
      }
    } else if (kind === 'replace') {
      // replace: the identity's permissions become exactly the given ones.
      if (existing) result[i] = clonePolicy(change);
      else result.push(clonePolicy(change));
    } else if (existing) {
      // remove: take the listed permissions away; an entry left with none (or a change listing none)
      // disappears. The exact per-permission semantics are not documented [U].
      const listsAny = categories.some((c) => (change.permissions[c] ?? []).length > 0);
      if (!listsAny) {
        result.splice(i, 1);
        continue;
      }
      for (const c of categories) {
        const drop = (change.permissions[c] ?? []).map((p) => p.toLowerCase());
        if (existing.permissions[c]) {
          existing.permissions[c] = existing.permissions[c].filter((p) => !drop.includes(p.toLowerCase()));
        }
      }
      if (categories.every((c) => (existing.permissions[c] ?? []).length === 0)) result.splice(i, 1);
    }
  }
  return result;
}

function clonePolicy(e: AccessPolicyEntry): AccessPolicyEntry {
  return {
    tenantId: e.tenantId,
    objectId: e.objectId,
    ...(e.applicationId ? { applicationId: e.applicationId } : {}),
    permissions: Object.fromEntries(
      Object.entries(e.permissions ?? {}).map(([k, v]) => [k, [...((v as string[] | undefined) ?? [])]]),
    ),
  };
}
