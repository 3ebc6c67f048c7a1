import { randomUUID } from 'node:crypto';
import type { Store } from '../store';

/**
 * The directory (a tiny Entra ID): every principal a token can be issued for. Role assignments name
 * principals by object id, as in Azure; managed identities also carry the resource they belong to.
 */
export type PrincipalKind =
  /** A resource's system-assigned identity (e.g. the Function App's, a Service Bus namespace's). */
  | 'systemAssigned'
  /** A `Microsoft.ManagedIdentity/userAssignedIdentities` resource's service principal. */
  | 'userAssigned'
  /** A principal a test or the control API created (a "user" or an app registration). */
  | 'test'
  /** The sandbox's own administrator (Owner at the root scope), used to seed the estate. */
  | 'admin';

export interface Principal {
  objectId: string;
  /** appid claim / client id (for managed identities: the identity's client id). */
  clientId: string;
  tenantId: string;
  displayName: string;
  kind: PrincipalKind;
  /** What role assignments report as principalType. */
  principalType: 'ServicePrincipal' | 'User';
  /** For managed identities: the resource the identity belongs to (system) or is (user-assigned). */
  resourceId?: string;
}

export interface NewPrincipal {
  displayName: string;
  kind?: PrincipalKind;
  principalType?: 'ServicePrincipal' | 'User';
  objectId?: string;
  clientId?: string;
  resourceId?: string;
}

const COLLECTION = 'principals';

export class PrincipalDirectory {
  constructor(
    private readonly store: Store,
    readonly tenantId: string,
  ) {}

  create(input: NewPrincipal): Principal {
    const objectId = input.objectId ?? randomUUID();
    if (this.get(objectId)) throw new Error(`principal ${objectId} already exists`);
    const principal: Principal = {
      objectId,
      clientId: input.clientId ?? randomUUID(),
      tenantId: this.tenantId,
      displayName: input.displayName,
      kind: input.kind ?? 'test',
      principalType: input.principalType ?? 'ServicePrincipal',
      ...(input.resourceId ? { resourceId: input.resourceId } : {}),
    };
    this.store.put(COLLECTION, objectId, principal);
    return principal;
  }

  get(objectId: string): Principal | undefined {
    return this.store.get<Principal>(COLLECTION, objectId);
  }

  list(): Principal[] {
    return this.store.list<Principal>(COLLECTION);
  }

  findByClientId(clientId: string): Principal | undefined {
    return this.list().find((p) => p.clientId.toLowerCase() === clientId.toLowerCase());
  }

  /** The managed identity of a resource: its system-assigned identity, or the UAI resource itself. */
  findByResourceId(resourceId: string, kind?: PrincipalKind): Principal | undefined {
    const id = resourceId.toLowerCase();
    return this.list().find((p) => p.resourceId?.toLowerCase() === id && (!kind || p.kind === kind));
  }

  /**
   * Enables a resource's system-assigned identity (idempotent, as `identity.type: SystemAssigned` on a
   * PUT is). Resource providers call this and echo principalId/tenantId in the resource's `identity`.
   */
  ensureSystemAssigned(resourceId: string, displayName?: string): Principal {
    return (
      this.findByResourceId(resourceId, 'systemAssigned') ??
      this.create({
        displayName: displayName ?? resourceId.split('/').pop() ?? resourceId,
        kind: 'systemAssigned',
        resourceId,
      })
    );
  }

  /** Disables a resource's system-assigned identity (identity type None, or resource deleted). */
  removeSystemAssigned(resourceId: string): void {
    const p = this.findByResourceId(resourceId, 'systemAssigned');
    if (p) this.delete(p.objectId);
  }

  delete(objectId: string): boolean {
    return this.store.delete(COLLECTION, objectId);
  }
}
