/** Namespace rules (tier, entities, Geo-DR, state, current encryption, identity; CMK-001/010/011/013). */
import { sameEncryptionIdentity, sameKeySet } from '../cmkState';
import {
  DEFAULT_DELETED_KEY_CACHE_MINUTES,
  DIAGNOSE,
  ENABLE,
  deletedKeyCacheUntil,
  isoDate,
  describeIdentity,
  describeUnusable,
  infrastructureEncryptionRequired,
  ns,
  safeParseIdentity,
  usability,
  type AzureRule,
  type Params,
} from './rule';

export const NAMESPACE_RULES: readonly AzureRule[] = [
  {
    id: 'PRE-001',
    severity: 'error',
    title: 'Namespace is not Premium',
    modes: ENABLE,
    reads: 'azure',
    skipWhenAlreadyConfigured: true,
    subject: 'namespace',
    templates: {
      default: {
        message: 'Namespace {namespace} is on the {tier} tier; customer-managed keys need the Premium tier.',
        fix: 'Create a Premium namespace and enable CMK on it before adding queues or topics:',
        command:
          'az servicebus namespace create --resource-group {resourceGroup} --name <new-namespace> --location {location} --sku Premium',
      },
    },
    check: (ctx) =>
      ctx.namespace.skuTier.toLowerCase() === 'premium'
        ? undefined
        : { params: { ...ns(ctx), tier: ctx.namespace.skuTier || 'unknown' } },
  },
  {
    id: 'PRE-002',
    severity: 'error',
    title: 'Namespace has queues or topics',
    modes: ENABLE,
    reads: 'azure',
    skipWhenAlreadyConfigured: true,
    subject: 'namespace',
    templates: {
      default: {
        message:
          'Namespace {namespace} has {queueCount} queue(s) and {topicCount} topic(s); Service Bus turns on customer-managed keys only on an empty namespace.',
        fix: 'Enable CMK on a new, empty Premium namespace and recreate the entities there; list them with:',
        command:
          'az servicebus queue list --resource-group {resourceGroup} --namespace-name {namespace} --output table && az servicebus topic list --resource-group {resourceGroup} --namespace-name {namespace} --output table',
      },
    },
    check: (ctx) =>
      ctx.namespace.queueCount + ctx.namespace.topicCount === 0
        ? undefined
        : {
            params: {
              ...ns(ctx),
              queueCount: ctx.namespace.queueCount,
              topicCount: ctx.namespace.topicCount,
            },
          },
  },
  {
    id: 'PRE-003',
    severity: 'error',
    title: 'Namespace is in a Geo-DR pairing',
    modes: ENABLE,
    reads: 'azure',
    skipWhenAlreadyConfigured: true,
    subject: 'namespace',
    templates: {
      default: {
        message:
          'Namespace {namespace} is the Geo-DR {role} of alias {alias} (partner {partner}); a paired namespace cannot be encrypted on its own.',
        fix: 'Use the Geo-DR operation, which breaks the pairing, grants both identities, encrypts and re-pairs: POST /api/cmk/geo-dr with alias "{alias}".',
      },
    },
    check: (ctx) => {
      const geo = ctx.namespace.geoDr;
      if (!geo || geo.role === 'PrimaryNotReplicating') return undefined;
      return {
        params: {
          ...ns(ctx),
          role: geo.role.toLowerCase(),
          alias: geo.alias,
          partner: geo.partnerNamespaceId ?? 'unknown',
        },
      };
    },
  },
  {
    id: 'PRE-004',
    severity: 'error',
    title: 'Namespace is busy',
    modes: ENABLE,
    reads: 'azure',
    skipWhenAlreadyConfigured: true,
    subject: 'namespace',
    templates: {
      default: {
        message:
          'Namespace {namespace} is in provisioning state {state}; its encryption can change only once it is Succeeded.',
        fix: 'Wait for the running operation to finish and retry; check it with:',
        command:
          'az servicebus namespace show --resource-group {resourceGroup} --name {namespace} --query provisioningState',
      },
    },
    check: (ctx) => {
      const state = ctx.namespace.provisioningState;
      return state === undefined || state.toLowerCase() === 'succeeded'
        ? undefined
        : { params: { ...ns(ctx), state } };
    },
  },
  {
    id: 'PRE-008',
    severity: 'error',
    title: 'Already encrypted with other keys',
    modes: ENABLE,
    reads: 'azure',
    subject: 'namespace',
    templates: {
      keys: {
        message:
          'Namespace {namespace} is already encrypted with {currentKeys}; enable does not replace or remove customer-managed keys (CMK cannot be removed from a namespace).',
        fix: 'Pass exactly the current keys to confirm them, or change the key list explicitly, e.g.:',
        command:
          'az servicebus namespace encryption add --resource-group {resourceGroup} --namespace-name {namespace} --encryption-config key-name={newKeyName} key-vault-uri={newVaultUri}',
      },
      identity: {
        message:
          'Namespace {namespace} already uses these keys through {currentIdentity}, not {requestedIdentity}; enable does not switch the encryption identity.',
        fix: 'Pass the identity the namespace already uses ({currentIdentity}), or omit it.',
      },
    },
    check: (ctx) => {
      const cmk = ctx.namespace.cmk;
      const req = ctx.request;
      if (!cmk.encrypted || !req) return undefined;
      if (!sameKeySet(cmk.keys, req.keys)) {
        const current = cmk.keys.map((k) => k.keyId).join(', ');
        const currentSet = new Set(cmk.keys.map((k) => k.versionlessKeyId.toLowerCase()));
        const next = req.keys.find((k) => !currentSet.has(k.versionlessKeyId.toLowerCase())) ?? req.keys[0];
        return {
          variant: 'keys',
          params: {
            ...ns(ctx),
            currentKeys: current,
            newKeyName: next?.keyName ?? '<key>',
            newVaultUri: next?.vaultUri ?? '<vault-uri>',
          },
        };
      }
      if (!sameEncryptionIdentity(cmk.identity, req.identity)) {
        return {
          variant: 'identity',
          params: {
            ...ns(ctx),
            currentIdentity: describeIdentity(cmk.identity),
            requestedIdentity: describeIdentity(req.identity),
          },
        };
      }
      return undefined;
    },
  },
  {
    id: 'PRE-009',
    severity: 'error',
    title: 'Infrastructure encryption cannot be added later',
    modes: ENABLE,
    reads: 'azure',
    subject: 'namespace',
    templates: {
      default: {
        message:
          'Namespace {namespace} is already encrypted without infrastructure encryption; it can only be turned on when customer-managed keys are first enabled.',
        fix: 'Keep the namespace as it is (omit requireInfrastructureEncryption), or create a new namespace with it on:',
        command:
          'az servicebus namespace create --resource-group {resourceGroup} --name <new-namespace> --location {location} --sku Premium --mi-system-assigned --infra-encryption true',
      },
    },
    check: (ctx) =>
      ctx.namespace.cmk.encrypted &&
      ctx.request?.requireInfrastructureEncryption === true &&
      !ctx.namespace.cmk.requireInfrastructureEncryption
        ? { params: ns(ctx) }
        : undefined,
  },
  {
    id: 'PRE-010',
    severity: 'error',
    title: 'User-assigned identity not usable',
    modes: ENABLE,
    reads: 'azure',
    skipWhenAlreadyConfigured: true,
    subject: 'namespace',
    templates: {
      notFound: {
        message: 'Managed identity {identityName} ({identityId}) was not found.',
        fix: 'Check the id, or create the identity with:',
        command: 'az identity create --resource-group {identityResourceGroup} --name {identityName}',
      },
      forbidden: {
        message: 'Managed identity {identityName} ({identityId}) could not be read by the app.',
        fix: "Give the app's identity the Managed Identity Operator role on it (it needs to read and assign it):",
        command:
          'az role assignment create --assignee <app-principal-id> --role "Managed Identity Operator" --scope {identityId}',
      },
      tooMany: {
        message:
          'Namespace {namespace} already has {count} user-assigned identities; Service Bus allows at most 4, so {identityName} cannot be attached.',
        fix: 'Use one of the identities already attached, or detach one you no longer need:',
        command:
          'az servicebus namespace identity remove --resource-group {resourceGroup} --namespace-name {namespace} --user-assigned <identity-id>',
      },
    },
    check: (ctx) => {
      const req = ctx.request;
      if (!req || req.identity.type !== 'UserAssigned') return undefined;
      const id = req.identity.resourceId;
      const parsed = safeParseIdentity(id);
      const params: Params = {
        ...ns(ctx),
        identityId: id,
        identityName: parsed?.name ?? id,
        identityResourceGroup: parsed?.resourceGroup ?? '<resource-group>',
      };
      const uai = ctx.userAssignedIdentity;
      if (uai?.status === 'notFound') return { variant: 'notFound', params };
      if (uai?.status === 'forbidden') return { variant: 'forbidden', params };
      const attached = ctx.namespace.identity.userAssigned;
      const already = attached.some((a) => a.resourceId.toLowerCase() === id.toLowerCase());
      if (!already && attached.length >= 4) {
        return { variant: 'tooMany', params: { ...params, count: attached.length } };
      }
      return undefined;
    },
  },
  {
    id: 'CMK-001',
    severity: 'warning',
    title: 'Premium namespace without CMK',
    modes: DIAGNOSE,
    reads: 'azure',
    subject: 'namespace',
    templates: {
      default: {
        message:
          'Premium namespace {namespace} is encrypted with Microsoft-managed keys, not a customer-managed key.',
        fix: 'Enable customer-managed keys with POST /api/cmk/enable {"namespaceId": "{namespaceId}", "keys": [...]} (the namespace must be empty).',
      },
    },
    check: (ctx) =>
      ctx.namespace.skuTier.toLowerCase() === 'premium' && !ctx.namespace.cmk.encrypted
        ? { params: ns(ctx) }
        : undefined,
  },
  {
    id: 'CMK-010',
    severity: 'critical',
    title: 'No usable key: namespace inoperable',
    modes: DIAGNOSE,
    reads: 'azure',
    subject: 'namespace',
    templates: {
      default: {
        message:
          'Namespace {namespace} has no usable customer-managed key ({summary}); its queues and topics are unavailable until one key is usable again.',
        fix: 'Make at least one key usable again: recover, enable or renew it, or restore the namespace identity access (see the other findings).',
      },
      cached: {
        message:
          'Namespace {namespace} has no usable customer-managed key ({summary}). Service Bus may still serve from its cached copy of {cachedKeys}, at the latest until {until}: the namespace becomes inoperable within {minutes} min or less (cache window {cacheMinutes} min, DELETED_KEY_CACHE_MINUTES; the service may already have dropped it).',
        fix: 'Recover the deleted key now, before the cache runs out:',
        command: 'az keyvault key recover --vault-name {vaultName} --name {keyName}',
      },
    },
    check: (ctx) => {
      if (!ctx.namespace.cmk.encrypted || ctx.subjects.length === 0) return undefined;
      const judged = ctx.subjects.filter((k) => usability(k) !== 'unknown');
      if (judged.length !== ctx.subjects.length) return undefined;
      if (judged.some((k) => usability(k) === 'usable')) return undefined;
      const params = { ...ns(ctx), summary: ctx.subjects.map(describeUnusable).join('; ') };
      const cached = ctx.subjects
        .map((k) => ({ k, until: deletedKeyCacheUntil(k, ctx) }))
        .filter((c): c is { k: (typeof ctx.subjects)[number]; until: number } => c.until !== undefined);
      const first = cached[0];
      if (!first) return { params };
      const until = Math.max(...cached.map((c) => c.until));
      return {
        variant: 'cached',
        params: {
          ...params,
          cachedKeys: cached.map((c) => c.k.ref.keyName).join(', '),
          until: isoDate(new Date(until).toISOString()),
          minutes: Math.ceil((until - ctx.now.getTime()) / 60_000),
          cacheMinutes: ctx.settings.deletedKeyCacheMinutes ?? DEFAULT_DELETED_KEY_CACHE_MINUTES,
          vaultName: first.k.ref.vaultName ?? first.k.ref.host,
          keyName: first.k.ref.keyName,
        },
      };
    },
  },
  {
    id: 'CMK-011',
    severity: 'warning',
    title: 'Fewer usable keys than configured',
    modes: DIAGNOSE,
    reads: 'azure',
    subject: 'namespace',
    templates: {
      default: {
        message:
          'Namespace {namespace} can use {usable} of its {total} keys ({summary}); it runs without the redundancy it was configured with.',
        fix: 'Fix the unusable keys (see the other findings).',
      },
    },
    check: (ctx) => {
      if (!ctx.namespace.cmk.encrypted) return undefined;
      const usable = ctx.subjects.filter((k) => usability(k) === 'usable').length;
      const unusable = ctx.subjects.filter((k) => usability(k) === 'unusable');
      if (usable === 0 || unusable.length === 0) return undefined;
      return {
        params: {
          ...ns(ctx),
          usable,
          total: ctx.subjects.length,
          summary: unusable.map(describeUnusable).join('; '),
        },
      };
    },
  },
  {
    id: 'CMK-013',
    severity: 'error',
    title: 'Infrastructure encryption off where required',
    modes: DIAGNOSE,
    reads: 'azure',
    subject: 'namespace',
    templates: {
      default: {
        message:
          'Namespace {namespace} does not have infrastructure (double) encryption, which this estate requires.',
        fix: 'It can only be set when CMK is first enabled: create a replacement namespace with it on:',
        command:
          'az servicebus namespace create --resource-group {resourceGroup} --name <new-namespace> --location {location} --sku Premium --mi-system-assigned --infra-encryption true',
      },
    },
    check: (ctx) =>
      infrastructureEncryptionRequired(ctx.settings, ctx.namespace.id) &&
      ctx.namespace.skuTier.toLowerCase() === 'premium' &&
      !(ctx.namespace.cmk.encrypted && ctx.namespace.cmk.requireInfrastructureEncryption)
        ? { params: ns(ctx) }
        : undefined,
  },
];
