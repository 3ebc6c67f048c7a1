import { ArmErrors } from '../errors';

/**
 * Which api-versions each emulated resource provider accepts. The rule is Azure's: every api-version
 * the service publishes, old ones included (Azure CLI 2.45 lists subscriptions with 2019-11-01, the
 * Python SDK's Microsoft.ManagedIdentity default is 2018-11-30); reject the rest as Azure does —
 * Microsoft.Resources with InvalidApiVersionParameter, a resource provider with NoRegisteredProviderFound.
 * `PUBLISHED_API_VERSIONS` is that list per namespace; a provider's own `register` call adds to it (never
 * removes). The models answer every version with the same (newest) shape — clients ignore extra fields.
 */
export interface ProviderVersions {
  /** Versions accepted for every type of the namespace. */
  versions: readonly string[];
  /** Locations listed in NoRegisteredProviderFound. */
  locations?: readonly string[];
}

/**
 * What each emulated namespace publishes (the api-version folders of azure-rest-api-specs,
 * resource-manager, stable and preview). [U] the newest entries past the specs snapshot we read are
 * the providers' own lists. One list per namespace: Azure keeps one per resource type, and the types
 * of one namespace share almost all of them (Microsoft.Resources: the subscriptions and resources
 * specs together).
 */
export const PUBLISHED_API_VERSIONS: Readonly<Record<string, readonly string[]>> = {
  'Microsoft.Resources': [
    // subscriptions, tenants, locations (specification/resources/…/subscriptions)
    '2014-04-01-preview',
    '2015-11-01',
    '2016-06-01',
    '2018-06-01',
    '2019-06-01',
    '2019-11-01',
    '2020-01-01',
    '2021-01-01',
    '2022-12-01',
    // resource groups, deployments, operation results (…/resources)
    '2016-02-01',
    '2016-07-01',
    '2016-09-01',
    '2017-05-10',
    '2018-02-01',
    '2018-05-01',
    '2019-03-01',
    '2019-05-01',
    '2019-05-10',
    '2019-07-01',
    '2019-08-01',
    '2019-10-01',
    '2020-06-01',
    '2020-08-01',
    '2020-10-01',
    '2021-04-01',
    '2022-09-01',
    '2023-07-01',
    '2024-03-01',
    '2024-07-01',
    '2024-11-01',
    '2025-04-01',
  ],
  'Microsoft.ManagedIdentity': [
    '2015-08-31-preview',
    '2018-11-30',
    '2021-09-30-preview',
    '2022-01-31-preview',
    '2023-01-31',
    '2023-07-31-preview',
    '2024-11-30',
    '2025-01-31-preview',
  ],
  'Microsoft.KeyVault': [
    '2015-06-01',
    '2016-10-01',
    '2018-02-14-preview',
    '2018-02-14',
    '2019-09-01',
    '2020-04-01-preview',
    '2021-04-01-preview',
    '2021-06-01-preview',
    '2021-10-01',
    '2021-11-01-preview',
    '2022-02-01-preview',
    '2022-07-01',
    '2022-11-01',
    '2023-02-01',
    '2023-07-01',
    '2023-08-01-preview',
    '2024-04-01-preview',
    '2024-11-01',
    '2024-12-01-preview',
    '2025-05-01',
    '2026-02-01',
  ],
  'Microsoft.ServiceBus': [
    '2014-09-01',
    '2015-08-01',
    '2017-04-01',
    '2018-01-01-preview',
    '2021-01-01-preview',
    '2021-06-01-preview',
    '2021-11-01',
    '2022-01-01-preview',
    '2022-10-01-preview',
    '2023-01-01-preview',
    '2024-01-01',
    '2025-05-01-preview',
    '2026-01-01',
  ],
  'Microsoft.Authorization': [
    // role assignments and role definitions
    '2015-06-01',
    '2015-07-01',
    '2017-10-01-preview',
    '2018-01-01-preview',
    '2018-07-01',
    '2018-09-01-preview',
    '2020-03-01-preview',
    '2020-04-01-preview',
    '2020-08-01-preview',
    '2020-10-01',
    '2020-10-01-preview',
    '2021-03-01-preview',
    '2022-04-01',
    '2022-05-01-preview',
  ],
};

export const DEFAULT_LOCATIONS = ['westeurope', 'northeurope', 'eastus', 'eastus2', 'westus2', 'uksouth'];

export class ApiVersions {
  private readonly byNamespace = new Map<string, ProviderVersions>();

  register(
    namespace: string,
    versions: readonly string[],
    locations: readonly string[] = DEFAULT_LOCATIONS,
  ): void {
    const existing = this.byNamespace.get(namespace.toLowerCase());
    const published =
      Object.entries(PUBLISHED_API_VERSIONS).find(
        ([ns]) => ns.toLowerCase() === namespace.toLowerCase(),
      )?.[1] ?? [];
    const merged = [...new Set([...(existing?.versions ?? []), ...published, ...versions])].sort().reverse();
    this.byNamespace.set(namespace.toLowerCase(), { versions: merged, locations });
  }

  supported(namespace: string): readonly string[] {
    return this.byNamespace.get(namespace.toLowerCase())?.versions ?? [];
  }

  /**
   * Throws Azure's error when `version` is missing or not accepted for `namespace`.
   * `location` is the resource's (or the default) and only shapes the message.
   */
  check(namespace: string, version: string | null, resourceType: string, location: string): void {
    if (!version) throw ArmErrors.missingApiVersion();
    const entry = this.byNamespace.get(namespace.toLowerCase());
    if (!entry) throw ArmErrors.invalidResourceNamespace(namespace);
    if (entry.versions.includes(version)) return;
    if (namespace.toLowerCase() === 'microsoft.resources')
      throw ArmErrors.invalidApiVersion(version, entry.versions);
    throw ArmErrors.noRegisteredProvider(
      location,
      version,
      resourceType,
      entry.versions,
      entry.locations ?? DEFAULT_LOCATIONS,
    );
  }
}
