import { ArmErrors } from '../errors';

/**
 * Which api-versions each emulated resource provider accepts. DESIGN §6: accept every *published*
 * version of an emulated provider from 2021 on (Azure CLI, Terraform and Bicep send others than our
 * SDKs), plus any older one our SDKs send; reject the rest as Azure does — Microsoft.Resources with
 * InvalidApiVersionParameter, a resource provider with NoRegisteredProviderFound.
 */
export interface ProviderVersions {
  /** Versions accepted for every type of the namespace. */
  versions: readonly string[];
  /** Locations listed in NoRegisteredProviderFound. */
  locations?: readonly string[];
}

export const DEFAULT_LOCATIONS = ['westeurope', 'northeurope', 'eastus', 'eastus2', 'westus2', 'uksouth'];

export class ApiVersions {
  private readonly byNamespace = new Map<string, ProviderVersions>();

  register(
    namespace: string,
    versions: readonly string[],
    locations: readonly string[] = DEFAULT_LOCATIONS,
  ): void {
    const existing = this.byNamespace.get(namespace.toLowerCase());
    const merged = [...new Set([...(existing?.versions ?? []), ...versions])].sort().reverse();
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
