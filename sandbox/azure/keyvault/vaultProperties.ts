/**
 * Vault properties as Key Vault's resource provider reads them from a PUT or PATCH body: validation
 * (soft delete cannot be off, retention 7–90 and fixed once set, purge protection irreversible, access
 * policies ≤ 1024, network ACLs) and the merge of a body into the current properties. Pure; the write
 * itself is management.ts.
 */
import { armErrors } from './errors';
import { ipRuleMatches, KEY_PERMISSIONS, type AccessPolicyEntry } from './permissions';
import { lower, type NetworkRuleSet, type Vault, type VaultProperties } from './records';

export const VAULT_NAME = /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;

export function validateCommonProperties(props: Record<string, unknown>, existing: Vault | undefined): void {
  if (props.enableSoftDelete === false) {
    throw armErrors.badRequest(
      existing
        ? 'The property "enableSoftDelete" can be set to false only for creating new vault. Enabling the \'soft delete\' functionality is an irreversible action.'
        : 'The property "enableSoftDelete" cannot be set to false. Soft delete is always enabled for new vaults.',
    );
  }
  const retention = props.softDeleteRetentionInDays;
  if (retention !== undefined) {
    if (typeof retention !== 'number' || !Number.isInteger(retention) || retention < 7 || retention > 90) {
      throw armErrors.badRequest(
        'The property "softDeleteRetentionInDays" must be an integer between 7 and 90.',
      );
    }
    if (existing && retention !== existing.properties.softDeleteRetentionInDays) {
      throw armErrors.badRequest(
        'The property "softDeleteRetentionInDays" has been set already and it can\'t be modified.',
      );
    }
  }
  // The service refuses an explicit false outright — on a new vault too (deployments that state
  // `enablePurgeProtection: false` fail even on first creation); only omitting it means "off".
  if (props.enablePurgeProtection === false) {
    throw armErrors.badRequest(
      'The property "enablePurgeProtection" cannot be set to false. Enabling the purge protection for a vault is an irreversible action.',
    );
  }
  if (props.sku !== undefined) {
    const sku = props.sku as { family?: unknown; name?: unknown };
    if (!sku || (lower(String(sku.name)) !== 'standard' && lower(String(sku.name)) !== 'premium')) {
      throw armErrors.badRequest("The sku name must be 'standard' or 'premium'.");
    }
  }
  if (props.tenantId !== undefined && (typeof props.tenantId !== 'string' || !isGuid(props.tenantId))) {
    throw armErrors.badRequest('The parameter tenantId must be a valid GUID.');
  }
  if (props.accessPolicies !== undefined) {
    const entries = parseAccessPolicies(props.accessPolicies);
    if (!entries) throw armErrors.badRequest('The parameter accessPolicies is not valid.');
    if (entries.length > 1024) throw armErrors.badRequest('A vault can hold at most 1024 access policies.');
  }
  if (props.networkAcls !== undefined) parseNetworkAcls(props.networkAcls);
  if (
    props.publicNetworkAccess !== undefined &&
    props.publicNetworkAccess !== 'Enabled' &&
    props.publicNetworkAccess !== 'Disabled'
  ) {
    throw armErrors.badRequest("The property publicNetworkAccess must be 'Enabled' or 'Disabled'.");
  }
}

export function mergeProperties(
  base: VaultProperties,
  props: Record<string, unknown>,
  mode: 'create' | 'put' | 'patch',
): VaultProperties {
  const flag = (key: string, current: boolean): boolean =>
    typeof props[key] === 'boolean' ? props[key] : mode === 'put' ? false : current;
  const next: VaultProperties = {
    ...base,
    tenantId: typeof props.tenantId === 'string' ? props.tenantId : base.tenantId,
    sku: props.sku
      ? {
          family: 'A',
          name: lower(String((props.sku as { name?: unknown }).name)) as 'standard' | 'premium',
        }
      : base.sku,
    accessPolicies: parseAccessPolicies(props.accessPolicies) ?? base.accessPolicies,
    enabledForDeployment: flag('enabledForDeployment', base.enabledForDeployment),
    enabledForDiskEncryption: flag('enabledForDiskEncryption', base.enabledForDiskEncryption),
    enabledForTemplateDeployment: flag('enabledForTemplateDeployment', base.enabledForTemplateDeployment),
    enableRbacAuthorization: flag('enableRbacAuthorization', base.enableRbacAuthorization),
    softDeleteRetentionInDays:
      mode === 'create' && typeof props.softDeleteRetentionInDays === 'number'
        ? props.softDeleteRetentionInDays
        : base.softDeleteRetentionInDays,
    publicNetworkAccess:
      props.publicNetworkAccess === 'Disabled' || props.publicNetworkAccess === 'Enabled'
        ? props.publicNetworkAccess
        : mode === 'put'
          ? 'Enabled'
          : base.publicNetworkAccess,
  };
  // Purge protection: true turns it on for good; false/absent never turns it off.
  if (props.enablePurgeProtection === true || base.enablePurgeProtection) next.enablePurgeProtection = true;
  else delete next.enablePurgeProtection;
  if (props.networkAcls !== undefined) {
    const acls = parseNetworkAcls(props.networkAcls);
    if (acls) next.networkAcls = acls;
    else delete next.networkAcls;
  } else if (mode === 'put') {
    delete next.networkAcls;
  }
  return next;
}

/** Recovery level Key Vault reports for objects in this vault. */
export function recoveryLevel(vault: Vault): string {
  const custom = vault.properties.softDeleteRetentionInDays < 90 ? 'Customized' : '';
  return vault.properties.enablePurgeProtection ? `${custom}Recoverable` : `${custom}Recoverable+Purgeable`;
}

export function asObject(value: unknown, message: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw armErrors.badRequest(message);
  return value as Record<string, unknown>;
}

export function asTags(value: unknown): Record<string, string> {
  if (!value || typeof value !== 'object') return {};
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

export function isGuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}

export function normaliseLocation(location: string): string {
  return lower(location.replace(/\s+/g, ''));
}

export function structuredCloneProps(p: VaultProperties): VaultProperties {
  return JSON.parse(JSON.stringify(p)) as VaultProperties;
}

export function parseAccessPolicies(value: unknown): AccessPolicyEntry[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) return undefined;
  const out: AccessPolicyEntry[] = [];
  for (const raw of value as unknown[]) {
    const e = raw as Partial<AccessPolicyEntry> | null;
    if (!e || typeof e.objectId !== 'string' || typeof e.tenantId !== 'string' || !e.permissions) {
      throw armErrors.badRequest('Each access policy needs tenantId, objectId and permissions.');
    }
    if (!isGuid(e.tenantId)) throw armErrors.badRequest('The access policy tenantId must be a valid GUID.');
    const perms: AccessPolicyEntry['permissions'] = {};
    for (const c of ['keys', 'secrets', 'certificates', 'storage'] as const) {
      const list = e.permissions[c];
      if (list === undefined) continue;
      if (!Array.isArray(list) || list.some((p) => typeof p !== 'string')) {
        throw armErrors.badRequest(`The access policy permissions.${c} must be an array of strings.`);
      }
      if (c === 'keys') {
        const unknown = list.find((p) => !KEY_PERMISSIONS.some((k) => k.toLowerCase() === p.toLowerCase()));
        if (unknown !== undefined) {
          throw armErrors.badRequest(
            `The access policy key permission '${unknown}' is not valid. Valid values: ${KEY_PERMISSIONS.join(', ')}.`,
          );
        }
      }
      perms[c] = [...list];
    }
    out.push({
      tenantId: e.tenantId,
      objectId: e.objectId,
      ...(typeof e.applicationId === 'string' && e.applicationId ? { applicationId: e.applicationId } : {}),
      permissions: perms,
    });
  }
  return out;
}

function parseNetworkAcls(value: unknown): NetworkRuleSet | undefined {
  if (value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    throw armErrors.badRequest('networkAcls must be an object.');
  const v = value as Record<string, unknown>;
  const out: NetworkRuleSet = {
    bypass: 'AzureServices',
    defaultAction: 'Allow',
    ipRules: [],
    virtualNetworkRules: [],
  };
  if (v.bypass !== undefined) {
    if (v.bypass !== 'AzureServices' && v.bypass !== 'None') {
      throw armErrors.badRequest("networkAcls.bypass must be 'AzureServices' or 'None'.");
    }
    out.bypass = v.bypass;
  }
  if (v.defaultAction !== undefined) {
    if (v.defaultAction !== 'Allow' && v.defaultAction !== 'Deny') {
      throw armErrors.badRequest("networkAcls.defaultAction must be 'Allow' or 'Deny'.");
    }
    out.defaultAction = v.defaultAction;
  }
  if (v.ipRules !== undefined) {
    if (!Array.isArray(v.ipRules)) throw armErrors.badRequest('networkAcls.ipRules must be an array.');
    for (const r of v.ipRules as Array<{ value?: unknown }>) {
      const text = typeof r?.value === 'string' ? r.value : '';
      if (
        !/^(\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?$/.test(text) ||
        !ipRuleMatches(text, text.split('/')[0] ?? '')
      ) {
        throw armErrors.badRequest(`The IP rule '${text}' is not a valid IPv4 address or CIDR range.`);
      }
      out.ipRules?.push({ value: text });
    }
  }
  if (v.virtualNetworkRules !== undefined) {
    if (!Array.isArray(v.virtualNetworkRules)) {
      throw armErrors.badRequest('networkAcls.virtualNetworkRules must be an array.');
    }
    for (const r of v.virtualNetworkRules as Array<{
      id?: unknown;
      ignoreMissingVnetServiceEndpoint?: unknown;
    }>) {
      if (typeof r?.id !== 'string' || !/\/subnets\/[^/]+$/i.test(r.id)) {
        throw armErrors.badRequest('Each virtual network rule needs the resource id of a subnet.');
      }
      out.virtualNetworkRules?.push({
        id: r.id,
        ...(typeof r.ignoreMissingVnetServiceEndpoint === 'boolean'
          ? { ignoreMissingVnetServiceEndpoint: r.ignoreMissingVnetServiceEndpoint }
          : {}),
      });
    }
  }
  return out;
}
