/**
 * ARM resource ids and Key Vault URLs: parsing, validation and normalisation.
 *
 * ARM treats provider namespaces, resource types and names case-insensitively, and the ids it returns
 * mix casings (`microsoft.insights`, `resourcegroups`, upper-case group names). Everything the app
 * compares, stores or prints goes through here, so two spellings of one resource are one resource.
 *
 * Key Vault URLs arrive in request bodies and events; the only hosts this module accepts are vaults
 * under the cloud's Key Vault DNS suffix, so a URL can never make the app call an arbitrary host.
 */

export type ResourceIdErrorReason =
  'empty' | 'notAResourceId' | 'malformed' | 'invalidSubscription' | 'wrongType' | 'invalidName';

/** A resource id that cannot be used, with what is wrong in words an operator can act on. */
export class ResourceIdError extends Error {
  constructor(
    readonly reason: ResourceIdErrorReason,
    readonly input: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'ResourceIdError';
  }
}

export type KeyVaultUrlErrorReason =
  | 'empty'
  | 'notAUrl'
  | 'notHttps'
  | 'malformed'
  | 'foreignHost'
  | 'port'
  | 'userInfo'
  | 'invalidVaultName'
  | 'notAKeyUrl'
  | 'invalidKeyName'
  | 'invalidKeyVersion'
  | 'unexpectedParts';

/** A Key Vault URL that will not be followed, with the reason. `foreignHost` is the SSRF guard. */
export class KeyVaultUrlError extends Error {
  constructor(
    readonly reason: KeyVaultUrlErrorReason,
    readonly input: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'KeyVaultUrlError';
  }
}

// ---------------------------------------------------------------------------------------------------
// ARM resource ids
// ---------------------------------------------------------------------------------------------------

/** Canonical spellings of the provider namespaces and resource types this app deals with. */
const CANONICAL_PROVIDERS: Record<string, { name: string; types: Record<string, string> }> = {
  'microsoft.servicebus': {
    name: 'Microsoft.ServiceBus',
    types: {
      namespaces: 'namespaces',
      queues: 'queues',
      topics: 'topics',
      subscriptions: 'subscriptions',
      disasterrecoveryconfigs: 'disasterRecoveryConfigs',
      networkrulesets: 'networkRuleSets',
      authorizationrules: 'authorizationRules',
      privateendpointconnections: 'privateEndpointConnections',
    },
  },
  'microsoft.keyvault': {
    name: 'Microsoft.KeyVault',
    types: {
      vaults: 'vaults',
      keys: 'keys',
      versions: 'versions',
      accesspolicies: 'accessPolicies',
      secrets: 'secrets',
      managedhsms: 'managedHSMs',
    },
  },
  'microsoft.managedidentity': {
    name: 'Microsoft.ManagedIdentity',
    types: { userassignedidentities: 'userAssignedIdentities' },
  },
  'microsoft.authorization': {
    name: 'Microsoft.Authorization',
    types: { roleassignments: 'roleAssignments', roledefinitions: 'roleDefinitions' },
  },
  'microsoft.insights': {
    name: 'Microsoft.Insights',
    types: {
      actiongroups: 'actionGroups',
      metricalerts: 'metricAlerts',
      diagnosticsettings: 'diagnosticSettings',
    },
  },
  'microsoft.eventgrid': {
    name: 'Microsoft.EventGrid',
    types: { systemtopics: 'systemTopics', eventsubscriptions: 'eventSubscriptions' },
  },
};

export const SERVICE_BUS_NAMESPACE_TYPE = 'Microsoft.ServiceBus/namespaces';
export const KEY_VAULT_TYPE = 'Microsoft.KeyVault/vaults';
export const USER_ASSIGNED_IDENTITY_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';

/** One `providers/{namespace}/{type}/{name}[/{type}/{name}…]` block of an id. */
export interface ProviderSegment {
  /** Provider namespace, canonical casing when known (e.g. `Microsoft.ServiceBus`). */
  provider: string;
  /** Resource type chain, canonical casing when known (e.g. `['namespaces', 'queues']`). */
  types: string[];
  /** Names matching `types`, as given. */
  names: string[];
}

export interface ArmResourceId {
  /** The normalised id: canonical keywords/provider/types, lower-case subscription, no trailing slash. */
  id: string;
  subscriptionId: string;
  resourceGroup?: string;
  /** The last provider block (an extension resource such as a role assignment has several). */
  provider?: string;
  types: string[];
  names: string[];
  /** Full type, e.g. `Microsoft.ServiceBus/namespaces/queues`; `resourceGroups`/`subscriptions` for those scopes. */
  type: string;
  /** Last name in the id. */
  name: string;
  /** Id of the parent resource or scope (namespace of a queue, group of a namespace…); none for a subscription. */
  parentId?: string;
  /** For extension resources (role assignments…): the id of the resource they extend. */
  scopeId?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Characters that are never part of an ARM id segment and hint at a URL or a pasted query.
const FORBIDDEN_SEGMENT_CHARS = /[\s?#%\\<>"'`{}|^]/;

function canonicalProvider(provider: string): string {
  return CANONICAL_PROVIDERS[provider.toLowerCase()]?.name ?? provider;
}

function canonicalType(provider: string, type: string): string {
  return CANONICAL_PROVIDERS[provider.toLowerCase()]?.types[type.toLowerCase()] ?? type;
}

function formatProviderSegment(p: ProviderSegment): string {
  let out = `/providers/${p.provider}`;
  p.types.forEach((type, i) => {
    out += `/${type}/${p.names[i] ?? ''}`;
  });
  return out;
}

/**
 * Parses any ARM id: subscription, resource group, resource, child resource, or extension resource
 * (`{scope}/providers/Microsoft.Authorization/roleAssignments/{id}`). Case-insensitive keywords;
 * surrounding whitespace and trailing slashes are ignored.
 */
export function parseResourceId(input: string): ArmResourceId {
  const raw = typeof input === 'string' ? input.trim() : '';
  if (raw === '') throw new ResourceIdError('empty', String(input), 'The resource id is empty.');
  if (/^https?:\/\//i.test(raw)) {
    throw new ResourceIdError(
      'notAResourceId',
      raw,
      `'${raw}' is a URL, not an ARM resource id; pass the id that starts with /subscriptions/.`,
    );
  }
  const trimmed = raw.replace(/\/+$/, '');
  if (!trimmed.startsWith('/')) {
    throw new ResourceIdError(
      'notAResourceId',
      raw,
      `'${raw}' is not an ARM resource id; it must start with /subscriptions/{subscriptionId}.`,
    );
  }
  const segments = trimmed.slice(1).split('/');
  segments.forEach((s, i) => {
    if (s === '') {
      throw new ResourceIdError('malformed', raw, `'${raw}' has an empty segment (a double slash).`);
    }
    // A `.` or `..` segment would make the HTTP layer read another ARM path than the one validated
    // here (docs/ARCHITECTURE.md "Input"); ARM names are never just dots.
    if (s === '.' || s === '..') {
      throw new ResourceIdError(
        'malformed',
        raw,
        `'${raw}' has a '${s}' segment (segment ${i + 1}); an ARM id names each segment, it never navigates.`,
      );
    }
    if (s.includes('%')) {
      throw new ResourceIdError(
        'malformed',
        raw,
        `'${raw}' has a percent-encoded character in segment ${i + 1} ('${s}'); pass the id as ARM returns it, not URL-encoded.`,
      );
    }
    if (FORBIDDEN_SEGMENT_CHARS.test(s)) {
      throw new ResourceIdError(
        'malformed',
        raw,
        `'${raw}' has an invalid character in segment ${i + 1} ('${s}').`,
      );
    }
  });
  if (segments[0]?.toLowerCase() !== 'subscriptions') {
    throw new ResourceIdError(
      'notAResourceId',
      raw,
      `'${raw}' is not an ARM resource id; it must start with /subscriptions/{subscriptionId}.`,
    );
  }
  const subscriptionId = segments[1];
  if (subscriptionId === undefined) {
    throw new ResourceIdError('malformed', raw, `'${raw}' has no subscription id after /subscriptions/.`);
  }
  if (!GUID.test(subscriptionId)) {
    throw new ResourceIdError(
      'invalidSubscription',
      raw,
      `'${subscriptionId}' in '${raw}' is not a subscription id (a GUID).`,
    );
  }
  const sub = subscriptionId.toLowerCase();
  let i = 2;
  let resourceGroup: string | undefined;
  if (segments[i]?.toLowerCase() === 'resourcegroups') {
    resourceGroup = segments[i + 1];
    if (resourceGroup === undefined) {
      throw new ResourceIdError(
        'malformed',
        raw,
        `'${raw}' has no resource group name after /resourceGroups/.`,
      );
    }
    i += 2;
  }
  const blocks: ProviderSegment[] = [];
  while (i < segments.length) {
    const keyword = segments[i];
    if (keyword?.toLowerCase() !== 'providers') {
      throw new ResourceIdError(
        'malformed',
        raw,
        `'${raw}' has '${keyword ?? ''}' where 'providers' was expected (segment ${i + 1}).`,
      );
    }
    const provider = segments[i + 1];
    if (provider === undefined || !/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$/.test(provider)) {
      throw new ResourceIdError(
        'malformed',
        raw,
        `'${raw}' has no valid provider namespace after /providers/ (like Microsoft.ServiceBus).`,
      );
    }
    i += 2;
    const types: string[] = [];
    const names: string[] = [];
    while (i < segments.length && segments[i]?.toLowerCase() !== 'providers') {
      const type = segments[i] as string;
      const name = segments[i + 1];
      if (name === undefined) {
        throw new ResourceIdError(
          'malformed',
          raw,
          `'${raw}' ends with the type '${type}' but no name after it.`,
        );
      }
      types.push(canonicalType(provider, type));
      names.push(name);
      i += 2;
    }
    if (types.length === 0) {
      throw new ResourceIdError(
        'malformed',
        raw,
        `'${raw}' has a provider '${provider}' but no resource type.`,
      );
    }
    blocks.push({ provider: canonicalProvider(provider), types, names });
  }

  const base = `/subscriptions/${sub}${resourceGroup !== undefined ? `/resourceGroups/${resourceGroup}` : ''}`;
  const id = base + blocks.map(formatProviderSegment).join('');
  const last = blocks[blocks.length - 1];
  if (last === undefined) {
    return resourceGroup !== undefined
      ? {
          id,
          subscriptionId: sub,
          resourceGroup,
          types: [],
          names: [],
          type: 'resourceGroups',
          name: resourceGroup,
          parentId: `/subscriptions/${sub}`,
        }
      : { id, subscriptionId: sub, types: [], names: [], type: 'subscriptions', name: sub };
  }
  const scopeId = base + blocks.slice(0, -1).map(formatProviderSegment).join('');
  const parentId =
    last.types.length > 1
      ? scopeId +
        formatProviderSegment({
          provider: last.provider,
          types: last.types.slice(0, -1),
          names: last.names.slice(0, -1),
        })
      : scopeId;
  return {
    id,
    subscriptionId: sub,
    ...(resourceGroup !== undefined ? { resourceGroup } : {}),
    provider: last.provider,
    types: last.types,
    names: last.names,
    type: `${last.provider}/${last.types.join('/')}`,
    name: last.names[last.names.length - 1] as string,
    parentId,
    ...(blocks.length > 1 ? { scopeId } : {}),
  };
}

/** The normalised form of an id (throws ResourceIdError when it is not one). */
export function normalizeResourceId(input: string): string {
  return parseResourceId(input).id;
}

/** Key for maps and sets: ARM ids are case-insensitive end to end. */
export function resourceIdKey(id: string): string {
  return normalizeResourceId(id).toLowerCase();
}

/** Whether two ids name the same resource (false when either is not an id). */
export function sameResourceId(a: string, b: string): boolean {
  try {
    return resourceIdKey(a) === resourceIdKey(b);
  } catch {
    return false;
  }
}

/** A resource of one provider type that lives in a resource group (namespace, vault, identity). */
export interface GroupedResourceId {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

function parseTypedResourceId(
  input: string,
  expectedType: string,
  what: string,
  example: string,
  nameRule: { pattern: RegExp; description: string },
): GroupedResourceId {
  const parsed = parseResourceId(input);
  if (parsed.type.toLowerCase() !== expectedType.toLowerCase() || parsed.resourceGroup === undefined) {
    throw new ResourceIdError(
      'wrongType',
      parsed.id,
      `'${parsed.id}' is ${describeType(parsed)}, not a ${what} id (${example}).`,
    );
  }
  if (!nameRule.pattern.test(parsed.name)) {
    throw new ResourceIdError(
      'invalidName',
      parsed.id,
      `'${parsed.name}' is not a valid ${what} name: ${nameRule.description}.`,
    );
  }
  return {
    id: parsed.id,
    subscriptionId: parsed.subscriptionId,
    resourceGroup: parsed.resourceGroup,
    name: parsed.name,
  };
}

function describeType(parsed: ArmResourceId): string {
  if (parsed.type === 'subscriptions') return 'a subscription id';
  if (parsed.type === 'resourceGroups') return 'a resource group id';
  return `a ${parsed.type} id`;
}

/** `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ServiceBus/namespaces/{name}` */
export function parseServiceBusNamespaceId(input: string): GroupedResourceId {
  return parseTypedResourceId(
    input,
    SERVICE_BUS_NAMESPACE_TYPE,
    'Service Bus namespace',
    '/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.ServiceBus/namespaces/{name}',
    {
      pattern: /^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]$/,
      description:
        '6-50 letters, digits and hyphens, starting with a letter and ending with a letter or digit',
    },
  );
}

/** `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}` */
export function parseUserAssignedIdentityId(input: string): GroupedResourceId {
  return parseTypedResourceId(
    input,
    USER_ASSIGNED_IDENTITY_TYPE,
    'user-assigned managed identity',
    '/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}',
    {
      pattern: /^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$/,
      description: '3-128 letters, digits, hyphens and underscores, starting with a letter or digit',
    },
  );
}

const VAULT_NAME = /^[a-z](?!.*--)[a-z0-9-]{1,22}[a-z0-9]$/i;
const VAULT_NAME_RULE = '3-24 letters, digits and hyphens, starting with a letter, no double hyphen';

/** `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}` */
export function parseKeyVaultResourceId(input: string): GroupedResourceId {
  return parseTypedResourceId(
    input,
    KEY_VAULT_TYPE,
    'Key Vault',
    '/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{name}',
    { pattern: VAULT_NAME, description: VAULT_NAME_RULE },
  );
}

/** RBAC scope of one key (where the CMK role is assigned: least privilege, not the whole vault). */
export function keyVaultKeyScope(vaultResourceId: string, keyName: string): string {
  return `${parseKeyVaultResourceId(vaultResourceId).id}/keys/${keyName}`;
}

// ---------------------------------------------------------------------------------------------------
// Key Vault URLs
// ---------------------------------------------------------------------------------------------------

export interface KeyVaultUri {
  /** `https://{vault}.{suffix}/` — lower-case host, no port, trailing slash (as ARM's `vaultUri`). */
  vaultUri: string;
  /** Vault name, lower case (vault names are case-insensitive DNS labels). */
  vaultName: string;
  /** Lower-case host. */
  host: string;
}

export interface KeyVaultKeyId extends KeyVaultUri {
  keyName: string;
  /** Lower-case 32-hex version when the id is pinned; undefined for a versionless id. */
  keyVersion?: string;
  /** The id as given, normalised: versioned when pinned, versionless otherwise. */
  keyId: string;
  /** `https://{vault}.{suffix}/keys/{name}` — the reference that follows rotation. */
  versionlessKeyId: string;
}

const KEY_NAME = /^[0-9A-Za-z-]{1,127}$/;
const KEY_VERSION = /^[0-9a-f]{32}$/i;

/** Whether a host is a vault under the given Key Vault DNS suffix (one label: the vault name). */
export function isUnderKeyVaultDnsSuffix(host: string, keyVaultDnsSuffix: string): boolean {
  const suffix = `.${keyVaultDnsSuffix.toLowerCase().replace(/^\.+/, '')}`;
  const h = host.toLowerCase();
  return h.endsWith(suffix) && !h.slice(0, -suffix.length).includes('.');
}

/** The reasons that say the URL names a host that is not a vault of this cloud (PRE-007, never called). */
export const UNTRUSTED_HOST_REASONS: ReadonlySet<KeyVaultUrlErrorReason> = new Set([
  'foreignHost',
  'port',
  'userInfo',
  'invalidVaultName',
]);

interface RawKeyVaultUrl {
  raw: string;
  /** `host[:port]` as written. */
  authority: string;
  /** Path as written (starts with `/`, or empty). Never resolved: it is refused if it would need to be. */
  path: string;
}

/**
 * Splits a Key Vault URL as written, refusing everything a URL parser would silently rewrite
 * (dot segments, `%2e`, backslashes, tabs) or that smuggles a different target (user info, query,
 * fragment). Host checks are vaultFrom's.
 */
function splitKeyVaultUrl(input: string): RawKeyVaultUrl {
  const raw = typeof input === 'string' ? input.trim() : '';
  if (raw === '') throw new KeyVaultUrlError('empty', String(input), 'The Key Vault URL is empty.');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(raw)?.[1];
  if (scheme === undefined || !/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]/.test(raw)) {
    throw new KeyVaultUrlError(
      'notAUrl',
      raw,
      `'${raw}' is not a URL; expected https://{vault}.vault.azure.net/keys/{key}[/{version}].`,
    );
  }
  if (scheme.toLowerCase() !== 'https') {
    throw new KeyVaultUrlError('notHttps', raw, `'${raw}' must use https://.`);
  }
  if (/[^\x21-\x7e]|\\/.test(raw)) {
    throw new KeyVaultUrlError(
      'malformed',
      raw,
      `'${raw}' contains a space, a control character, a backslash or a non-ASCII character.`,
    );
  }
  const rest = raw.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest.replace(/[?#].*$/, '') : rest.slice(0, slash);
  if (/[?#]/.test(raw)) {
    throw new KeyVaultUrlError(
      'unexpectedParts',
      raw,
      `'${raw}' must not carry a query string or a fragment.`,
    );
  }
  if (authority.includes('@')) {
    throw new KeyVaultUrlError('userInfo', raw, `'${raw}' must not carry user info (a name before @).`);
  }
  const path = slash < 0 ? '' : rest.slice(slash);
  for (const segment of path.split('/')) {
    if (segment.includes('%')) {
      throw new KeyVaultUrlError(
        'malformed',
        raw,
        `'${raw}' has a percent-encoded path ('${segment}'); key names and versions never need encoding.`,
      );
    }
    if (segment === '.' || segment === '..') {
      throw new KeyVaultUrlError(
        'malformed',
        raw,
        `'${raw}' has a '${segment}' path segment; pass the key id itself, https://{vault}.{suffix}/keys/{key}[/{version}].`,
      );
    }
  }
  return { raw, authority, path };
}

/**
 * THE Key Vault host validator (the app has no other): the host must be exactly
 * `{vault-name}.{suffix}` for this cloud's suffix, with no port (Azure's vault URIs have none, and
 * neither does the sandbox's), no user info, and a valid vault name. Anything else is a host the app
 * does not call.
 */
function vaultFrom(u: RawKeyVaultUrl, keyVaultDnsSuffix: string): KeyVaultUri {
  const suffix = keyVaultDnsSuffix.toLowerCase().replace(/^\.+/, '');
  const authority = u.authority.toLowerCase();
  if (authority.includes(':')) {
    throw new KeyVaultUrlError(
      'port',
      u.raw,
      `'${u.raw}' names a port; Key Vault URIs of this cloud have none (https://{vault}.${suffix}/), so the app does not call it.`,
    );
  }
  if (!/^[a-z0-9.-]+$/.test(authority) || !isUnderKeyVaultDnsSuffix(authority, suffix)) {
    throw new KeyVaultUrlError(
      'foreignHost',
      u.raw,
      `The host '${authority}' is not a Key Vault of this cloud (*.${suffix}); the app does not call it.`,
    );
  }
  const vaultName = authority.slice(0, authority.length - suffix.length - 1);
  if (!VAULT_NAME.test(vaultName)) {
    throw new KeyVaultUrlError(
      'invalidVaultName',
      u.raw,
      `'${vaultName}' is not a valid key vault name: ${VAULT_NAME_RULE}.`,
    );
  }
  return { vaultUri: `https://${authority}/`, vaultName, host: authority };
}

/** Whether a URL is a vault (or something in one) of this cloud that the app may call. */
export function isKeyVaultUrl(input: string, keyVaultDnsSuffix: string): boolean {
  try {
    vaultFrom(splitKeyVaultUrl(input), keyVaultDnsSuffix);
    return true;
  } catch (e) {
    if (e instanceof KeyVaultUrlError) return false;
    throw e;
  }
}

/** A vault URI (`https://kv.vault.azure.net[/]`), host under the suffix; no path allowed. */
export function parseKeyVaultUri(input: string, keyVaultDnsSuffix: string): KeyVaultUri {
  const u = splitKeyVaultUrl(input);
  const vault = vaultFrom(u, keyVaultDnsSuffix);
  if (u.path.replace(/\/+$/, '') !== '') {
    throw new KeyVaultUrlError(
      'unexpectedParts',
      u.raw,
      `'${u.raw}' has a path; a vault URI is just https://{vault}.${keyVaultDnsSuffix}/.`,
    );
  }
  return vault;
}

/**
 * A key id, versioned or versionless: `https://{vault}.{suffix}/keys/{name}[/{version}]` (trailing
 * slash tolerated, keyword case-insensitive). Throws KeyVaultUrlError; a reason in
 * UNTRUSTED_HOST_REASONS for any host the caller must not follow.
 */
export function parseKeyVaultKeyId(input: string, keyVaultDnsSuffix: string): KeyVaultKeyId {
  if (!keyVaultDnsSuffix) throw new Error('parseKeyVaultKeyId needs the Key Vault DNS suffix');
  const u = splitKeyVaultUrl(input);
  return keyIdFromPath(u, vaultFrom(u, keyVaultDnsSuffix));
}

function keyIdFromPath(u: RawKeyVaultUrl, vault: KeyVaultUri): KeyVaultKeyId {
  const parts = u.path.split('/').filter((p, i, all) => p !== '' || (i > 0 && i < all.length - 1));
  if (parts.some((p) => p === '')) {
    throw new KeyVaultUrlError('notAKeyUrl', u.raw, `'${u.raw}' has an empty path segment (a double slash).`);
  }
  if (parts[0]?.toLowerCase() !== 'keys' || parts.length < 2 || parts.length > 3) {
    throw new KeyVaultUrlError(
      'notAKeyUrl',
      u.raw,
      `'${u.raw}' is not a key id; expected ${vault.vaultUri}keys/{key}[/{version}].`,
    );
  }
  return buildKeyId(vault, parts[1] as string, parts[2], u.raw);
}

/**
 * The shape of a key id (https, `/keys/{name}[/{version}]`) WITHOUT checking the host — only to
 * describe a rejected key in a finding. `host` keeps the port, if any, so the message shows what was
 * given; `vaultName` is just the host's first label. Never follow it.
 */
export function parseKeyVaultKeyIdShape(input: string): KeyVaultKeyId {
  const u = splitKeyVaultUrl(input);
  const host = u.authority.toLowerCase().replace(/^.*@/, '');
  const vault: KeyVaultUri = {
    vaultUri: `https://${host}/`,
    vaultName: host.split('.')[0] ?? host,
    host,
  };
  return keyIdFromPath(u, vault);
}

/** The same as parseKeyVaultKeyId, from the `{ vaultUri, keyName, keyVersion? }` form. */
export function keyVaultKeyIdFromParts(
  parts: { vaultUri: string; keyName: string; keyVersion?: string | undefined },
  keyVaultDnsSuffix: string,
): KeyVaultKeyId {
  const vault = parseKeyVaultUri(parts.vaultUri, keyVaultDnsSuffix);
  const version = parts.keyVersion?.trim() ? parts.keyVersion.trim() : undefined;
  return buildKeyId(vault, parts.keyName.trim(), version, `${vault.vaultUri}keys/${parts.keyName}`);
}

function buildKeyId(
  vault: KeyVaultUri,
  keyName: string,
  version: string | undefined,
  raw: string,
): KeyVaultKeyId {
  if (!KEY_NAME.test(keyName)) {
    throw new KeyVaultUrlError(
      'invalidKeyName',
      raw,
      `'${keyName}' is not a valid key name: 1-127 letters, digits and hyphens.`,
    );
  }
  if (version !== undefined && !KEY_VERSION.test(version)) {
    throw new KeyVaultUrlError(
      'invalidKeyVersion',
      raw,
      `'${version}' is not a key version (32 hexadecimal characters); omit it to follow rotation.`,
    );
  }
  const keyVersion = version?.toLowerCase();
  const versionlessKeyId = `${vault.vaultUri}keys/${keyName}`;
  return {
    ...vault,
    keyName,
    ...(keyVersion !== undefined ? { keyVersion } : {}),
    keyId: keyVersion !== undefined ? `${versionlessKeyId}/${keyVersion}` : versionlessKeyId,
    versionlessKeyId,
  };
}

/** Host of any URL-looking string, lower case, or undefined — for messages about foreign hosts. */
export function hostOf(input: string): string | undefined {
  try {
    return new URL(input.trim()).hostname.toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

/** Case-insensitive identity of a key reference: same vault, same key, same version (or both versionless). */
export function keyReferenceKey(ref: { vaultUri: string; keyName: string; keyVersion?: string }): string {
  const host = hostOf(ref.vaultUri) ?? ref.vaultUri.toLowerCase();
  return `${host}/keys/${ref.keyName.toLowerCase()}/${ref.keyVersion?.toLowerCase() ?? ''}`;
}
