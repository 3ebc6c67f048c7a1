/**
 * ARM resource ids: `/subscriptions/{sub}/resourceGroups/{rg}/providers/{Ns}/{type}/{name}[/{type}/{name}…]`.
 * Parsing is case-insensitive on the keywords and keeps the casing of names.
 */
export interface ResourceId {
  id: string;
  subscriptionId?: string;
  resourceGroup?: string;
  namespace?: string;
  /** Types below the namespace, e.g. ['vaults', 'keys']. */
  types: string[];
  names: string[];
  /** Full type, e.g. 'Microsoft.KeyVault/vaults/keys'. */
  fullType?: string;
  /** Last name segment. */
  name?: string;
}

export function parseResourceId(id: string): ResourceId {
  const parts = id.split('/').filter(Boolean);
  const out: ResourceId = { id, types: [], names: [] };
  let i = 0;
  if (parts[i]?.toLowerCase() === 'subscriptions') {
    out.subscriptionId = parts[i + 1];
    i += 2;
  }
  if (parts[i]?.toLowerCase() === 'resourcegroups') {
    out.resourceGroup = parts[i + 1];
    i += 2;
  }
  if (parts[i]?.toLowerCase() === 'providers') {
    out.namespace = parts[i + 1];
    i += 2;
    for (; i < parts.length; i += 2) {
      out.types.push(parts[i]!);
      if (parts[i + 1] !== undefined) out.names.push(parts[i + 1]!);
    }
    out.fullType = [out.namespace, ...out.types].join('/');
    out.name = out.names[out.names.length - 1];
  }
  return out;
}

export const subscriptionId = (sub: string): string => `/subscriptions/${sub}`;
export const resourceGroupId = (sub: string, rg: string): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}`;
export const resourceId = (sub: string, rg: string, namespace: string, ...typeNamePairs: string[]): string =>
  `${resourceGroupId(sub, rg)}/providers/${namespace}/${typeNamePairs.join('/')}`;
