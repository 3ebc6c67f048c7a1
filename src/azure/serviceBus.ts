import type { SBNamespace } from '@azure/arm-servicebus';
import type { AzureClients } from './clients';
import { GeoDrGateway } from './geoDr';
import { refusalOrThrow, type Result } from './results';
import {
  encryptionPatchBody,
  identityPatchBody,
  namespaceFactsFromSdk,
  namespaceGeoDrFromAlias,
} from './transformations';
import {
  parseServiceBusNamespaceId,
  ResourceIdError,
  type EnsureIdentityStep,
  type GroupedResourceId,
  type NamespaceFacts,
  type SetEncryptionStep,
} from '../domain';

/**
 * Service Bus namespaces: what the enable flow and diagnose read about a namespace and write to it.
 * Its Geo-DR alias is read through the one alias gateway (geoDr.ts), not a second reader.
 */
export class ServiceBusGateway {
  private readonly aliases: GeoDrGateway;

  constructor(
    private readonly clients: AzureClients,
    private readonly keyVaultDnsSuffix: string,
    aliases?: GeoDrGateway,
  ) {
    this.aliases = aliases ?? new GeoDrGateway(clients);
  }

  private client(ns: GroupedResourceId) {
    return this.clients.serviceBus(ns.subscriptionId);
  }

  /** GET the namespace: SKU, status, identity, encryption (no entity counts, no Geo-DR). */
  async getNamespace(
    ns: GroupedResourceId,
  ): Promise<Result<Omit<NamespaceFacts, 'queueCount' | 'topicCount'>>> {
    try {
      const body = await this.client(ns).namespaces.get(ns.resourceGroup, ns.name);
      return { ok: true, value: namespaceFactsFromSdk(body, ns, this.keyVaultDnsSuffix) };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }

  /**
   * Every namespace of a subscription: ONE ARM list and its pages (docs/ARCHITECTURE.md "Batch reads"),
   * each item mapped like a GET (no entity counts, no Geo-DR). Items whose id is not a namespace id are
   * skipped (counted in `skipped`). Refusals (403, 404 subscription) are a Result; faults are thrown.
   */
  async listBySubscription(subscriptionId: string): Promise<
    Result<{
      namespaces: Omit<NamespaceFacts, 'queueCount' | 'topicCount'>[];
      pages: number;
      skipped: number;
    }>
  > {
    const namespaces: Omit<NamespaceFacts, 'queueCount' | 'topicCount'>[] = [];
    let pages = 0;
    let skipped = 0;
    try {
      for await (const page of this.clients.serviceBus(subscriptionId).namespaces.list().byPage()) {
        pages++;
        for (const body of page) {
          let id: GroupedResourceId;
          try {
            id = parseServiceBusNamespaceId(body.id ?? '');
          } catch (e) {
            if (!(e instanceof ResourceIdError)) throw e;
            skipped++;
            continue;
          }
          namespaces.push(namespaceFactsFromSdk(body, id, this.keyVaultDnsSuffix));
        }
      }
      return { ok: true, value: { namespaces, pages, skipped } };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }

  /** Number of queues and topics (the service refuses CMK on a namespace that has any). */
  async countEntities(ns: GroupedResourceId): Promise<{ queueCount: number; topicCount: number }> {
    const client = this.client(ns);
    let queueCount = 0;
    let topicCount = 0;
    for await (const q of client.queues.listByNamespace(ns.resourceGroup, ns.name)) if (q) queueCount++;
    for await (const t of client.topics.listByNamespace(ns.resourceGroup, ns.name)) if (t) topicCount++;
    return { queueCount, topicCount };
  }

  /** Everything the preflight needs about the namespace, in parallel. */
  async namespaceFacts(ns: GroupedResourceId): Promise<Result<NamespaceFacts>> {
    const base = await this.getNamespace(ns);
    if (!base.ok) return base;
    try {
      // Entities only matter before CMK is first enabled (Service Bus checks emptiness then, and only
      // then). An encrypted namespace whose keys are unusable refuses entity lists (409), so it is not
      // asked — diagnose must work precisely on such a namespace.
      const counts = base.value.cmk.encrypted
        ? Promise.resolve({ queueCount: 0, topicCount: 0 })
        : this.countEntities(ns);
      const [entityCounts, alias] = await Promise.all([counts, this.aliases.aliasOf(ns)]);
      if (!alias.ok) return alias;
      const geoDr = namespaceGeoDrFromAlias(alias.value);
      return { ok: true, value: { ...base.value, ...entityCounts, ...(geoDr ? { geoDr } : {}) } };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }

  /** PATCH `identity` only. Idempotent: the same target twice is the same namespace. */
  async patchIdentity(
    ns: GroupedResourceId,
    target: EnsureIdentityStep['target'],
  ): Promise<Result<Omit<NamespaceFacts, 'queueCount' | 'topicCount'>>> {
    try {
      const body: SBNamespace = await this.client(ns).namespaces.update(
        ns.resourceGroup,
        ns.name,
        identityPatchBody(target),
      );
      return { ok: true, value: namespaceFactsFromSdk(body, ns, this.keyVaultDnsSuffix) };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }

  /**
   * PATCH `encryption` only — never a read-modify-PUT (the SDK's 2021-11-01 models would drop newer
   * namespace properties). A 202 answers with an empty body: the caller polls getNamespace.
   */
  async patchEncryption(
    ns: GroupedResourceId,
    encryption: SetEncryptionStep['encryption'],
  ): Promise<Result<Omit<NamespaceFacts, 'queueCount' | 'topicCount'> | undefined>> {
    try {
      const body: SBNamespace = await this.client(ns).namespaces.update(
        ns.resourceGroup,
        ns.name,
        encryptionPatchBody(encryption),
      );
      return {
        ok: true,
        value: body?.id ? namespaceFactsFromSdk(body, ns, this.keyVaultDnsSuffix) : undefined,
      };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }
}
