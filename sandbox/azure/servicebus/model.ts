import type { Cancel } from '../../clock';
import type { SandboxCore } from '../core';
import type { SandboxError } from '../errors';
import { messages, sbError } from './errors';
import { KeyAccess, type KeyRef } from './keys';

/**
 * The Service Bus model: namespaces (SKU, identity, encryption, status), queues and topics, Geo-DR
 * aliases, and the customer-managed-key behaviour over time. Records live in the store (JSON, ARM ids
 * as keys); what changes with time is computed from the clock where possible (provisioning states,
 * replication progress, the deleted-key cache window) and otherwise driven by `clock.schedule` (key
 * polls), so virtual time in tests and wall time in `npm start` behave alike.
 */
export const NAMESPACES = 'serviceBusNamespaces';
export const ENTITIES = 'serviceBusEntities';
export const ALIASES = 'serviceBusDisasterRecoveryConfigs';

export type SkuName = 'Basic' | 'Standard' | 'Premium';
export type IdentityType = 'SystemAssigned' | 'UserAssigned' | 'SystemAssigned, UserAssigned' | 'None';

export interface ServiceBusOptions {
  /** How often a CMK namespace polls its keys (the docs: every 5 minutes). */
  keyPollMinutes: number;
  /** How long a deleted key stays usable from Service Bus's cache (the 2019 article: up to an hour). */
  deletedKeyCacheMinutes: number;
  /** Fixed part of a Geo-DR pairing or break (handshake), on the clock. */
  pairingBaseMs: number;
  /** Entity replication rate during pairing (the Geo-DR article: about 50–100 entities per minute). */
  entitiesPerMinute: number;
}

export interface KeyState {
  /** Whether the last poll could use the key (get + wrapKey + unwrapKey with the namespace identity). */
  usable: boolean;
  /** The key version in use (versionless keys follow rotations at the poll). */
  version?: string;
  lastSuccessAt?: number;
  /** A deleted key stays usable from cache until this time. */
  cachedUntil?: number;
  /** Why the key is not usable (sandbox-internal; ARM never shows it). */
  reason?: string;
  checkedAt: number;
}

export interface EncryptionRecord {
  keySource: 'Microsoft.KeyVault';
  keys: KeyRef[];
  requireInfrastructureEncryption: boolean;
  enabledAt: number;
  keyState: KeyState[];
}

export interface NamespaceRecord {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  sku: { name: SkuName; tier: SkuName; capacity?: number };
  identityType: IdentityType;
  userAssignedIdentities: string[];
  encryption?: EncryptionRecord;
  zoneRedundant: boolean;
  disableLocalAuth: boolean;
  createdAt: number;
  /** Creation finishes (provisioningState Succeeded, status Active) at this clock time. */
  readyAt: number;
  updatedAt: number;
  /** An update is in progress until this clock time (provisioningState Updating). */
  updatingUntil: number;
}

export type EntityKind = 'queues' | 'topics';

export interface EntityRecord {
  id: string;
  name: string;
  kind: EntityKind;
  namespaceId: string;
  properties: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
  /** Copied from the primary by Geo-DR replication. */
  replicated?: boolean;
}

export type AliasRole = 'Primary' | 'PrimaryNotReplicating' | 'Secondary';

export interface AliasRecord {
  id: string;
  name: string;
  namespaceId: string;
  role: AliasRole;
  partnerNamespace: string;
  alternateName?: string;
  /** The running pairing/break operation: Accepted until `dueAt`, then Succeeded. */
  operation: 'pair' | 'break' | 'failover';
  startedAt: number;
  dueAt: number;
  /** Entities to replicate when the pairing started (pendingReplicationOperationsCount counts down). */
  toReplicate: number;
  settled: boolean;
}

const lower = (s: string): string => s.toLowerCase();

export class ServiceBusModel {
  readonly keys: KeyAccess;
  private readonly polls = new Map<string, Cancel>();
  /** Called after a key poll wrote a namespace's key state (the Monitor provider's synthetic traffic). */
  readonly keyStateListeners: Array<(namespaceId: string) => void> = [];

  constructor(
    private readonly core: SandboxCore,
    readonly options: ServiceBusOptions,
  ) {
    this.keys = new KeyAccess(core);
  }

  private now(): number {
    return this.core.clock.now();
  }

  error(status: number, code: string, message: string, ns?: string): SandboxError {
    return sbError(status, code, message, `${ns ?? 'servicebus'}.servicebus.windows.net`, this.now());
  }

  // ───────────────────────────── namespaces ─────────────────────────────

  getNamespace(id: string): NamespaceRecord | undefined {
    return this.core.store.get<NamespaceRecord>(NAMESPACES, id);
  }

  /** Namespace names are global (`<name>.servicebus.windows.net`). */
  namespaceByName(name: string): NamespaceRecord | undefined {
    return this.core.store.list<NamespaceRecord>(NAMESPACES).find((n) => lower(n.name) === lower(name));
  }

  listNamespaces(prefix: string): NamespaceRecord[] {
    return this.core.store.list<NamespaceRecord>(NAMESPACES, prefix);
  }

  putNamespace(record: NamespaceRecord): void {
    this.core.store.put(NAMESPACES, record.id, record);
  }

  provisioningState(ns: NamespaceRecord): string {
    const now = this.now();
    if (now < ns.readyAt) return 'Created';
    if (now < ns.updatingUntil) return 'Updating';
    return 'Succeeded';
  }

  status(ns: NamespaceRecord): string {
    return this.now() < ns.readyAt ? 'Activating' : 'Active';
  }

  /** The principal the namespace's encryption uses (system-assigned unless a key names a UAI). */
  encryptionPrincipal(ns: NamespaceRecord, key: KeyRef): string | undefined {
    if (key.userAssignedIdentity)
      return this.core.principals.findByResourceId(key.userAssignedIdentity, 'userAssigned')?.objectId;
    return this.core.principals.findByResourceId(ns.id, 'systemAssigned')?.objectId;
  }

  /**
   * Whether the namespace can serve its data: always without CMK; with CMK while at least one listed key
   * was usable at the last poll (a deleted key counts while it is cached). Nothing in ARM shows this.
   */
  isOperable(ns: NamespaceRecord): boolean {
    const enc = ns.encryption;
    if (!enc) return true;
    const now = this.now();
    return enc.keyState.some((k) => k.usable && (k.cachedUntil === undefined || now < k.cachedUntil));
  }

  /** Throws what Service Bus answers when a namespace cannot serve entities (activating, keys gone). */
  requireOperable(ns: NamespaceRecord): void {
    if (this.now() < ns.readyAt) throw this.error(409, 'Conflict', messages.activating(ns.name), ns.name);
    if (!this.isOperable(ns)) throw this.error(409, 'Conflict', messages.inoperable(ns.name), ns.name);
  }

  deleteNamespace(ns: NamespaceRecord): void {
    this.stopPolling(ns.id);
    this.core.store.deletePrefix(ENTITIES, `${ns.id}/`);
    this.core.store.deletePrefix(ALIASES, `${ns.id}/`);
    this.core.store.delete(NAMESPACES, ns.id);
    this.core.principals.removeSystemAssigned(ns.id);
  }

  // ───────────────────────────── key polls ─────────────────────────────

  /** Arms the poll of a CMK namespace: every keyPollMinutes from when encryption was enabled. */
  startPolling(ns: NamespaceRecord): void {
    if (!ns.encryption || this.polls.has(lower(ns.id))) return;
    const interval = Math.max(1, this.options.keyPollMinutes) * 60_000;
    const since = ns.encryption.enabledAt;
    const now = this.now();
    const next = since + Math.max(1, Math.ceil((now - since + 1) / interval)) * interval;
    const cancel = this.core.clock.schedule(
      next,
      async () => {
        this.polls.delete(lower(ns.id));
        const current = this.getNamespace(ns.id);
        if (!current?.encryption) return;
        await this.pollKeys(current);
        this.startPolling(current);
      },
      `servicebus key poll ${ns.name}`,
    );
    this.polls.set(lower(ns.id), cancel);
  }

  stopPolling(id: string): void {
    this.polls.get(lower(id))?.();
    this.polls.delete(lower(id));
  }

  stopAll(): void {
    for (const cancel of this.polls.values()) cancel();
    this.polls.clear();
  }

  /**
   * One poll, as the docs describe it: each listed key is fetched with the namespace identity; a rotated
   * versionless key moves to the new version, a pinned one stays; a key that cannot be used drops out —
   * except a deleted key, which Service Bus keeps using from cache for deletedKeyCacheMinutes.
   */
  async pollKeys(ns: NamespaceRecord): Promise<void> {
    const enc = ns.encryption;
    if (!enc) return;
    const now = this.now();
    const next: KeyState[] = [];
    for (const [i, key] of enc.keys.entries()) {
      const prev = enc.keyState[i];
      const result = await this.keys.probe(this.encryptionPrincipal(ns, key), key, prev?.version);
      if (result.ok) {
        next.push({ usable: true, version: result.version, lastSuccessAt: now, checkedAt: now });
      } else if (result.deleted && prev?.usable) {
        const cachedUntil =
          prev.cachedUntil ?? (prev.lastSuccessAt ?? now) + this.options.deletedKeyCacheMinutes * 60_000;
        next.push({ ...prev, cachedUntil, reason: result.detail, checkedAt: now });
      } else {
        next.push({
          usable: false,
          ...(prev?.version ? { version: prev.version } : {}),
          ...(prev?.lastSuccessAt !== undefined ? { lastSuccessAt: prev.lastSuccessAt } : {}),
          reason: result.detail,
          checkedAt: now,
        });
      }
    }
    // The record may have changed while Key Vault answered; only the key state is ours to write.
    const latest = this.getNamespace(ns.id);
    if (!latest?.encryption || JSON.stringify(latest.encryption.keys) !== JSON.stringify(enc.keys)) return;
    latest.encryption.keyState = next;
    this.putNamespace(latest);
    for (const listener of this.keyStateListeners) listener(latest.id);
  }

  // ───────────────────────────── entities ─────────────────────────────

  entities(namespaceId: string, kind?: EntityKind): EntityRecord[] {
    return this.core.store
      .list<EntityRecord>(ENTITIES, `${namespaceId}/`)
      .filter((e) => !kind || e.kind === kind);
  }

  entity(namespaceId: string, kind: EntityKind, name: string): EntityRecord | undefined {
    return this.core.store.get<EntityRecord>(ENTITIES, `${namespaceId}/${kind}/${name}`);
  }

  putEntity(e: EntityRecord): void {
    this.core.store.put(ENTITIES, e.id, e);
    // A paired, fully replicated primary forwards entity changes to its secondary as they happen.
    const alias = this.aliasOf(e.namespaceId);
    if (alias?.role === 'Primary' && this.isSettled(alias)) this.replicate(alias, [e]);
  }

  deleteEntity(e: EntityRecord): void {
    this.core.store.delete(ENTITIES, e.id);
    const alias = this.aliasOf(e.namespaceId);
    if (alias?.role === 'Primary' && this.isSettled(alias)) {
      this.core.store.delete(ENTITIES, `${alias.partnerNamespace}/${e.kind}/${e.name}`);
    }
  }

  // ───────────────────────────── Geo-DR ─────────────────────────────

  aliasesOf(namespaceId: string): AliasRecord[] {
    return this.core.store.list<AliasRecord>(ALIASES, `${namespaceId}/disasterRecoveryConfigs/`);
  }

  /** A namespace has at most one alias. */
  aliasOf(namespaceId: string): AliasRecord | undefined {
    return this.aliasesOf(namespaceId)[0];
  }

  allAliases(): AliasRecord[] {
    return this.core.store.list<AliasRecord>(ALIASES);
  }

  putAlias(a: AliasRecord): void {
    this.core.store.put(ALIASES, a.id, a);
  }

  deleteAlias(a: AliasRecord): void {
    this.core.store.delete(ALIASES, a.id);
  }

  isSecondary(namespaceId: string): boolean {
    return this.aliasOf(namespaceId)?.role === 'Secondary';
  }

  isSettled(a: AliasRecord): boolean {
    return this.now() >= a.dueAt;
  }

  provisioningStateOf(a: AliasRecord): 'Accepted' | 'Succeeded' {
    return this.isSettled(a) ? 'Succeeded' : 'Accepted';
  }

  pendingReplication(a: AliasRecord): number {
    if (a.operation !== 'pair' || this.isSettled(a)) return 0;
    const elapsed = Math.max(0, this.now() - a.startedAt - this.options.pairingBaseMs);
    const done = Math.floor((elapsed / 60_000) * this.options.entitiesPerMinute);
    return Math.max(0, a.toReplicate - done);
  }

  /** How long a pairing of `entities` entities takes on the clock. */
  pairingDuration(entities: number): number {
    return this.options.pairingBaseMs + Math.ceil((entities / this.options.entitiesPerMinute) * 60_000);
  }

  /**
   * Applies the effects of Geo-DR operations that fell due (entities land on the secondary when the
   * pairing succeeds). Idempotent; called at every Service Bus request and by a clock callback.
   */
  settleAliases(): void {
    for (const a of this.allAliases()) {
      if (a.settled || !this.isSettled(a)) continue;
      a.settled = true;
      // A broken pairing leaves the former secondary a standalone namespace (with what it replicated).
      if (a.operation === 'break' && a.role === 'Secondary') {
        this.deleteAlias(a);
        continue;
      }
      this.putAlias(a);
      if (a.operation === 'pair' && a.role === 'Primary') this.replicate(a, this.entities(a.namespaceId));
    }
  }

  scheduleSettle(at: number): void {
    this.core.clock.schedule(at, () => this.settleAliases(), 'servicebus geo-dr settle');
  }

  private replicate(alias: AliasRecord, entities: EntityRecord[]): void {
    const target = alias.partnerNamespace;
    if (!this.getNamespace(target)) return;
    for (const e of entities) {
      const id = `${target}/${e.kind}/${e.name}`;
      this.core.store.put(ENTITIES, id, { ...e, id, namespaceId: target, replicated: true });
    }
  }

  reset(): void {
    this.stopAll();
  }

  /** Re-arms polls for CMK namespaces in the store (a snapshot loaded at start). */
  resume(): void {
    for (const ns of this.core.store.list<NamespaceRecord>(NAMESPACES)) this.startPolling(ns);
  }
}
