/**
 * Geo-DR aliases (`disasterRecoveryConfigs`): PUT (pair), GET, list, DELETE, `breakPairing` (primary
 * only), `failover` (secondary only), CheckNameAvailability. The timing (Accepted, replication count,
 * settling on the clock) is the model's (model.ts `pairingDuration`, `settleAliases`); the rules are here.
 */
import { page } from '../arm/paging';
import { reply, type RequestContext } from '../context';
import { ArmErrors } from '../errors';
import { messages } from './errors';
import type { AliasRecord, NamespaceRecord } from './model';
import { asObject, NS_PATH, NS_TYPE, same, text, type Json, type ServiceBusRouting } from './routing';

const ALIAS_NAME = /^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$/;

/** The state of an alias while a break or failover runs: Accepted until `dueAt`, nothing to replicate. */
const running = (
  operation: 'break' | 'failover',
  startedAt: number,
  dueAt: number,
): Pick<AliasRecord, 'operation' | 'startedAt' | 'dueAt' | 'toReplicate' | 'settled'> => ({
  operation,
  startedAt,
  dueAt,
  toReplicate: 0,
  settled: false,
});

export function registerGeoDr({ core, model, route, requireNamespace, err400 }: ServiceBusRouting): void {
  const aliasBody = (a: AliasRecord): Json => ({
    id: a.id,
    name: a.name,
    type: `${NS_TYPE}/disasterrecoveryconfigs`,
    properties: {
      provisioningState: model.provisioningStateOf(a),
      pendingReplicationOperationsCount: model.pendingReplication(a),
      partnerNamespace: a.partnerNamespace,
      role: a.role,
      ...(a.alternateName ? { alternateName: a.alternateName } : {}),
    },
  });

  const DR = `${NS_PATH}/disasterRecoveryConfigs`;
  const requireAlias = (ctx: RequestContext, ns: NamespaceRecord): AliasRecord => {
    const alias = model.aliasesOf(ns.id).find((a) => same(a.name, ctx.params.alias));
    if (!alias) {
      throw ArmErrors.resourceNotFound(
        `${NS_TYPE}/disasterRecoveryConfigs`,
        `${ns.name}/${ctx.params.alias}`,
        ns.resourceGroup,
      );
    }
    return alias;
  };

  /** A CMK primary pairs only when the secondary's identity can use the primary's keys (docs/ARCHITECTURE.md "Geo-DR"). */
  const checkSecondaryKeys = async (primary: NamespaceRecord, secondary: NamespaceRecord): Promise<void> => {
    const enc = primary.encryption;
    if (!enc) return;
    for (const key of enc.keys) {
      let principal: string | undefined;
      if (key.userAssignedIdentity) {
        const uai = key.userAssignedIdentity;
        const encrypted = secondary.encryption?.keys.every((k) => same(k.userAssignedIdentity, uai));
        if (!encrypted || !secondary.userAssignedIdentities.some((u) => same(u, uai))) {
          throw err400(messages.secondaryCmkUai(secondary.name), primary.name);
        }
        principal = core.principals.findByResourceId(uai, 'userAssigned')?.objectId;
      } else {
        principal = core.principals.findByResourceId(secondary.id, 'systemAssigned')?.objectId;
        if (!principal) throw err400(messages.secondaryNoIdentity(secondary.name), primary.name);
      }
      const result = await model.keys.probe(principal, key);
      if (!result.ok)
        throw err400(messages.secondaryKeyAccess(secondary.name, key.keyName, result.detail), primary.name);
    }
  };

  route({
    method: 'GET',
    path: DR,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/read',
    handler: (ctx) => reply.ok(page(ctx, model.aliasesOf(requireNamespace(ctx).id).map(aliasBody))),
  });
  route({
    method: 'GET',
    path: `${DR}/:alias`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/read',
    handler: (ctx) => reply.ok(aliasBody(requireAlias(ctx, requireNamespace(ctx)))),
  });
  route({
    method: 'PUT',
    path: `${DR}/:alias`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/write',
    handler: async (ctx) => {
      const ns = requireNamespace(ctx);
      const aliasName = ctx.params.alias!;
      if (model.isSecondary(ns.id)) throw err400(messages.secondary, ns.name);
      if (!ALIAS_NAME.test(aliasName)) throw err400(`The alias name '${aliasName}' is invalid.`, ns.name);
      const props = asObject(asObject(ctx.json() ?? {})?.properties) ?? {};
      const partnerId = typeof props.partnerNamespace === 'string' ? props.partnerNamespace : '';
      const alternateName =
        typeof props.alternateName === 'string' && props.alternateName ? props.alternateName : undefined;
      const current = model.aliasOf(ns.id);
      if (current && !same(current.name, aliasName))
        throw err400(messages.alreadyPaired(current.name), ns.name);
      if (current?.role === 'Primary') {
        if (same(current.partnerNamespace, partnerId)) return reply.ok(aliasBody(current));
        throw err400(messages.alreadyPaired(current.name), ns.name);
      }
      const elsewhere = model
        .allAliases()
        .some((a) => same(a.name, aliasName) && !same(a.namespaceId, ns.id));
      const namespaceNamed = model.namespaceByName(aliasName);
      if (elsewhere || (namespaceNamed && !same(namespaceNamed.id, ns.id) && !alternateName)) {
        throw err400(messages.aliasNameInUse(aliasName), ns.name);
      }
      if (!partnerId) throw err400('The partnerNamespace property is required.', ns.name);
      const partner = model.getNamespace(partnerId);
      if (!partner) throw err400(messages.partnerNotFound(partnerId), ns.name);
      if (same(partner.id, ns.id)) throw err400(messages.partnerSelf, ns.name);
      // The caller must be allowed to write the partner too (it becomes read-only under the pairing).
      core.rbac.authorize(ctx.principal!.objectId, 'Microsoft.ServiceBus/namespaces/write', partner.id);
      if (partner.sku.tier !== ns.sku.tier || ns.sku.tier === 'Basic') {
        throw err400(messages.partnerSku(ns.sku.tier, partner.sku.tier), ns.name);
      }
      if (model.aliasOf(partner.id)) throw err400(messages.partnerPaired(partner.name), ns.name);
      if (model.entities(partner.id).length > 0)
        throw err400(messages.partnerNotEmpty(partner.name), ns.name);
      await checkSecondaryKeys(ns, partner);

      const now = core.clock.now();
      const toReplicate = model.entities(ns.id).length;
      const dueAt = now + model.pairingDuration(toReplicate);
      const base = {
        name: current?.name ?? aliasName,
        operation: 'pair' as const,
        startedAt: now,
        dueAt,
        toReplicate,
        settled: false,
      };
      const primary: AliasRecord = {
        ...base,
        id: `${ns.id}/disasterRecoveryConfigs/${base.name}`,
        namespaceId: ns.id,
        role: 'Primary',
        partnerNamespace: partner.id,
        ...(alternateName ? { alternateName } : {}),
      };
      model.putAlias(primary);
      model.putAlias({
        ...base,
        id: `${partner.id}/disasterRecoveryConfigs/${base.name}`,
        namespaceId: partner.id,
        role: 'Secondary',
        partnerNamespace: ns.id,
      });
      model.scheduleSettle(dueAt);
      return reply.ok(aliasBody(primary));
    },
  });
  route({
    method: 'DELETE',
    path: `${DR}/:alias`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/delete',
    handler: (ctx) => {
      const ns = requireNamespace(ctx);
      const alias = model.aliasesOf(ns.id).find((a) => same(a.name, ctx.params.alias));
      if (!alias) return reply.noContent();
      if (alias.role !== 'PrimaryNotReplicating' || !model.isSettled(alias)) {
        throw err400(messages.deletePaired(alias.name), ns.name);
      }
      model.deleteAlias(alias);
      return reply.ok(undefined);
    },
  });
  route({
    method: 'POST',
    path: `${DR}/:alias/breakPairing`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/breakPairing/action',
    handler: (ctx) => {
      const ns = requireNamespace(ctx);
      const alias = requireAlias(ctx, ns);
      if (alias.role === 'Secondary') throw err400(messages.breakOnSecondary, ns.name);
      if (alias.role === 'PrimaryNotReplicating') throw err400(messages.notPaired(alias.name), ns.name);
      const now = core.clock.now();
      const dueAt = now + model.options.pairingBaseMs;
      const secondary = model.aliasOf(alias.partnerNamespace);
      model.putAlias({
        ...alias,
        role: 'PrimaryNotReplicating',
        partnerNamespace: '',
        ...running('break', now, dueAt),
      });
      // The secondary becomes a standalone namespace (keeping what was replicated) when the break completes.
      if (secondary)
        model.putAlias({
          ...secondary,
          ...running('break', now, dueAt),
        });
      model.scheduleSettle(dueAt);
      return reply.ok(undefined);
    },
  });
  route({
    method: 'POST',
    path: `${DR}/:alias/failover`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/failover/action',
    handler: (ctx) => {
      const ns = requireNamespace(ctx);
      const alias = requireAlias(ctx, ns);
      if (alias.role !== 'Secondary') throw err400(messages.failoverOnPrimary, ns.name);
      if (!model.isSettled(alias))
        throw model.error(409, 'Conflict', messages.replicationInProgress, ns.name);
      const body = asObject(asObject(ctx.json() ?? {})?.properties) ?? {};
      const primaryId = alias.partnerNamespace;
      const safe = body.IsSafeFailover === true || body.isSafeFailover === true;
      if (safe && !same(primaryId.split('/')[2], ns.subscriptionId)) {
        throw err400(messages.safeFailoverSubscription, ns.name);
      }
      const now = core.clock.now();
      const dueAt = now + model.options.pairingBaseMs;
      // Fail-forward: the alias moves to the secondary, which becomes a primary without a partner.
      const oldPrimary = model.aliasOf(primaryId);
      if (oldPrimary) model.deleteAlias(oldPrimary);
      model.putAlias({
        ...alias,
        role: 'PrimaryNotReplicating',
        partnerNamespace: '',
        ...running('failover', now, dueAt),
      });
      model.scheduleSettle(dueAt);
      return reply.ok(undefined);
    },
  });
  route({
    method: 'POST',
    path: `${DR}/CheckNameAvailability`,
    operation: 'Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs/CheckNameAvailability/action',
    handler: (ctx) => {
      const ns = requireNamespace(ctx);
      const name = text(asObject(ctx.json())?.name ?? '');
      if (!ALIAS_NAME.test(name)) {
        return reply.ok({
          nameAvailable: false,
          reason: 'InvalidName',
          message: `The alias name '${name}' is invalid.`,
        });
      }
      const aliasTaken = model.allAliases().some((a) => same(a.name, name));
      const nsTaken = model.namespaceByName(name);
      return reply.ok(
        aliasTaken || (nsTaken && !same(nsTaken.id, ns.id))
          ? { nameAvailable: false, reason: 'NameInUse', message: messages.aliasNameInUse(name) }
          : { nameAvailable: true, reason: 'None', message: '' },
      );
    },
  });
}
