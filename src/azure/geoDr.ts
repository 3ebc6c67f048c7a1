/**
 * The Geo-DR gateway: Service Bus `disasterRecoveryConfigs` (aliases) on the primary and the secondary —
 * read, break, pair; the only code that reads aliases (the namespace gateway asks it too), mapped by
 * transformations.ts `geoDrAliasFromSdk`. None of these calls is an
 * LRO in the SDK, but the service completes them asynchronously: callers poll `provisioningState` and
 * `pendingReplicationOperationsCount` (docs/ARCHITECTURE.md "Geo-DR").
 *
 * Refusals come back as Results; platform faults (429, 5xx, network) are thrown for the caller's retry.
 */
import type { AzureClients } from './clients';
import { refusalOrThrow, type Result } from './results';
import { geoDrAliasFromSdk } from './transformations';
import type { GeoDrAliasFacts, GroupedResourceId } from '../domain';

export class GeoDrGateway {
  constructor(private readonly clients: AzureClients) {}

  private dr(ns: GroupedResourceId) {
    return this.clients.serviceBus(ns.subscriptionId).disasterRecoveryConfigs;
  }

  /** The alias this namespace is part of (a namespace has at most one), or undefined. */
  async aliasOf(ns: GroupedResourceId): Promise<Result<GeoDrAliasFacts | undefined>> {
    try {
      for await (const a of this.dr(ns).list(ns.resourceGroup, ns.name)) {
        const facts = geoDrAliasFromSdk(a);
        if (facts) return { ok: true, value: facts };
      }
      return { ok: true, value: undefined };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }

  /** One alias by name on one namespace; undefined when it does not exist there (404). */
  async getAlias(ns: GroupedResourceId, alias: string): Promise<Result<GeoDrAliasFacts | undefined>> {
    try {
      return { ok: true, value: geoDrAliasFromSdk(await this.dr(ns).get(ns.resourceGroup, ns.name, alias)) };
    } catch (error) {
      const r = refusalOrThrow(error);
      return r.status === 404 ? { ok: true, value: undefined } : r;
    }
  }

  /** POST breakPairing on the primary. Completes asynchronously (poll getAlias). */
  async breakPairing(primary: GroupedResourceId, alias: string): Promise<Result<void>> {
    try {
      await this.dr(primary).breakPairing(primary.resourceGroup, primary.name, alias);
      return { ok: true, value: undefined };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }

  /** PUT the alias on the primary with the partner. Completes asynchronously (poll getAlias). */
  async pair(
    primary: GroupedResourceId,
    alias: string,
    partnerNamespaceId: string,
  ): Promise<Result<GeoDrAliasFacts | undefined>> {
    try {
      const body = await this.dr(primary).createOrUpdate(primary.resourceGroup, primary.name, alias, {
        partnerNamespace: partnerNamespaceId,
      });
      // 201 may come with an empty body.
      return { ok: true, value: body ? geoDrAliasFromSdk(body) : undefined };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }
}
