/**
 * Preflight and diagnosis: the CMK rules as data, evaluated over a plain snapshot of facts.
 *
 * Every rule has a stable id (CMK-0xx from the compliance catalogue, PRE-0xx for enable-only checks),
 * a severity, and message/fix templates with the exact command to run. The evaluator runs every rule
 * over every subject and returns ALL findings — an operator fixes everything in one pass instead of
 * discovering problems one failed deployment at a time. Reading the facts is the gateways' job; this
 * module never does I/O, so a dry run and the real run see the same verdict.
 */
import {
  evaluateKeyHealth,
  sameEncryptionIdentity,
  sameKeySet,
  type CmkState,
  type EncryptionIdentity,
  type KeyFacts,
  type KeyHealth,
  type KeyRef,
  type NamespaceIdentity,
} from './cmkState';
import { CMK_KEY_PERMISSIONS, CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_NAME } from './keyAccess';
import { parseUserAssignedIdentityId } from './resourceIds';

// ---------------------------------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------------------------------

export type GeoDrRole = 'Primary' | 'PrimaryNotReplicating' | 'Secondary';

export interface NamespaceFacts {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location?: string;
  /** `Basic` | `Standard` | `Premium` (ARM sku.tier, falling back to sku.name). */
  skuTier: string;
  provisioningState?: string;
  queueCount: number;
  topicCount: number;
  /** Set when the namespace is part of a Geo-DR alias. */
  geoDr?: { alias: string; role: GeoDrRole; partnerNamespaceId?: string };
  identity: NamespaceIdentity;
  cmk: CmkState;
}

export type VaultReadStatus = 'found' | 'notFound' | 'forbidden' | 'unreachable';

export interface VaultFacts {
  /** Lower-case vault name (joins KeyRef.vaultName). */
  vaultName: string;
  vaultUri: string;
  status: VaultReadStatus;
  /** ARM id, when found. */
  resourceId?: string;
  softDeleteEnabled?: boolean;
  purgeProtectionEnabled?: boolean;
  permissionModel?: 'rbac' | 'accessPolicy';
  networkAcls?: {
    defaultAction: 'Allow' | 'Deny';
    bypass: 'AzureServices' | 'None';
    virtualNetworkRuleIds: string[];
  };
  /** What went wrong when the vault could not be read (for the message). */
  detail?: string;
}

/** Per key: what Key Vault said and whether the encryption identity can already use it. */
export interface KeySubjectFacts {
  /** Undefined when the key was not read (foreign host, vault unavailable). */
  key?: KeyFacts;
  /** Undefined = unknown (e.g. the system-assigned identity does not exist yet). */
  identityHasAccess?: boolean;
}

export interface UserAssignedIdentityFacts {
  resourceId: string;
  status: 'found' | 'notFound' | 'forbidden';
  principalId?: string;
  tenantId?: string;
}

export interface RuleSettings {
  keyVaultDnsSuffix: string;
  keyExpiryWarningDays: number;
  /** Diagnose only: the estate requires infrastructure (double) encryption (CMK-013). */
  requireInfrastructureEncryption?: boolean;
}

/** What the enable preflight reads before anything is written. */
export interface EnablePreflightFacts {
  namespace: NamespaceFacts;
  request: { keys: KeyRef[]; identity: EncryptionIdentity; requireInfrastructureEncryption: boolean };
  /** One per distinct trusted vault of the requested keys. */
  vaults: VaultFacts[];
  /** Aligned with request.keys. */
  keys: KeySubjectFacts[];
  /** When the request names a user-assigned identity. */
  userAssignedIdentity?: UserAssignedIdentityFacts;
  settings: RuleSettings;
}

/** What diagnose reads: the namespace and the keys it is configured with. */
export interface DiagnoseFacts {
  namespace: NamespaceFacts;
  vaults: VaultFacts[];
  /** Aligned with namespace.cmk.keys (empty when not encrypted). */
  keys: KeySubjectFacts[];
  /** Principal id of the encryption identity, when known (for grant commands). */
  principalId?: string;
  settings: RuleSettings;
}

// ---------------------------------------------------------------------------------------------------
// Findings and rules
// ---------------------------------------------------------------------------------------------------

export type Severity = 'critical' | 'error' | 'warning';
export type EvaluationMode = 'enable' | 'diagnose';

export interface Finding {
  ruleId: string;
  severity: Severity;
  /** Errors and criticals block enable; warnings are reported and do not. */
  blocks: boolean;
  title: string;
  /** What is wrong, e.g. "Key vault kv-prod has purge protection off." */
  message: string;
  /** How to fix it, including the command when there is one. */
  fix: string;
  /** The exact command alone (for copy buttons and scripts), when the fix has one. */
  command?: string;
  /** What the finding is about. */
  subject: { kind: 'namespace' | 'vault' | 'key'; id: string; keyIndex?: number };
}

interface Template {
  message: string;
  /** Text before the command, or the whole fix when there is no command. */
  fix: string;
  command?: string;
}

type Params = Record<string, string | number>;
interface Violation {
  variant?: string;
  params: Params;
}

interface KeySubject {
  index: number;
  ref: KeyRef;
  facts: KeySubjectFacts;
  vault?: VaultFacts;
  health?: KeyHealth;
}

interface RuleContext {
  mode: EvaluationMode;
  now: Date;
  namespace: NamespaceFacts;
  subjects: KeySubject[];
  vaults: VaultFacts[];
  settings: RuleSettings;
  request?: EnablePreflightFacts['request'];
  userAssignedIdentity?: UserAssignedIdentityFacts;
  principalId?: string;
  /** Enable only: CMK is already set exactly as requested (a re-run). */
  alreadyConfigured: boolean;
}

interface RuleBase {
  id: string;
  severity: Severity;
  title: string;
  modes: readonly EvaluationMode[];
  /** Enable rules about the act of encrypting, moot on a re-run that will write nothing. */
  skipWhenAlreadyConfigured?: boolean;
  templates: Record<string, Template>;
}

export type PreflightRule = RuleBase &
  (
    | { subject: 'namespace'; check: (ctx: RuleContext) => Violation | undefined }
    | { subject: 'vault'; check: (vault: VaultFacts, ctx: RuleContext) => Violation | undefined }
    | { subject: 'key'; check: (key: KeySubject, ctx: RuleContext) => Violation | undefined }
  );

const BOTH: readonly EvaluationMode[] = ['enable', 'diagnose'];
const ENABLE: readonly EvaluationMode[] = ['enable'];
const DIAGNOSE: readonly EvaluationMode[] = ['diagnose'];

const ns = (ctx: RuleContext): Params => ({
  namespace: ctx.namespace.name,
  namespaceId: ctx.namespace.id,
  resourceGroup: ctx.namespace.resourceGroup,
  location: ctx.namespace.location ?? '<location>',
});

const keyParams = (k: KeySubject): Params => ({
  keyName: k.ref.keyName,
  keyId: k.ref.keyId,
  versionlessKeyId: k.ref.versionlessKeyId,
  vaultName: k.ref.vaultName ?? k.ref.host,
  vaultUri: k.ref.vaultUri,
  host: k.ref.host,
  position: k.index + 1,
});

/** Only keys whose vault was read and whose key facts came back. */
const readKey = (k: KeySubject): k is KeySubject & { vault: VaultFacts; facts: { key: KeyFacts } } =>
  k.ref.hostTrusted && k.vault?.status === 'found' && k.facts.key !== undefined;

const foundKey = (k: KeySubject): boolean => readKey(k) && k.facts.key?.status === 'found';

const isoDate = (iso: string): string => iso.replace(/\.\d{3}Z$/, 'Z');

const ROTATION_POLICY_JSON =
  '{"lifetimeActions":[{"trigger":{"timeBeforeExpiry":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P1Y"}}';

/**
 * The rule catalogue. Order is the order findings are reported in: namespace, then vaults, then keys.
 * Templates use `{param}` placeholders filled from the violation's params.
 */
export const PREFLIGHT_RULES: readonly PreflightRule[] = [
  {
    id: 'PRE-001',
    severity: 'error',
    title: 'Namespace is not Premium',
    modes: ENABLE,
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
    id: 'PRE-005',
    severity: 'error',
    title: 'Wrong number of keys',
    modes: ENABLE,
    subject: 'namespace',
    templates: {
      default: {
        message: '{count} keys were given; a namespace takes 1 to 3 customer-managed keys.',
        fix: 'Pass between one and three keys (more than one only for redundancy, ideally in different vaults).',
      },
    },
    check: (ctx) => {
      const count = ctx.request?.keys.length ?? 0;
      return count >= 1 && count <= 3 ? undefined : { params: { count } };
    },
  },
  {
    id: 'PRE-006',
    severity: 'error',
    title: 'Key is listed more than once',
    modes: ENABLE,
    subject: 'key',
    templates: {
      default: {
        message: 'Key {keyName} in key vault {vaultName} is listed more than once (key {position}).',
        fix: 'List each key once.',
      },
    },
    check: (k, ctx) => {
      const first = ctx.subjects.find(
        (o) => o.ref.versionlessKeyId.toLowerCase() === k.ref.versionlessKeyId.toLowerCase(),
      );
      return first && first.index < k.index ? { params: keyParams(k) } : undefined;
    },
  },
  {
    id: 'PRE-007',
    severity: 'error',
    title: 'Key vault host outside the cloud',
    modes: BOTH,
    subject: 'key',
    templates: {
      default: {
        message:
          'Key {keyId} is on host {host}, which is not a Key Vault of this cloud (*.{suffix}); the app does not call it.',
        fix: 'Use a key in a vault of this cloud, e.g. https://<vault>.{suffix}/keys/<key>.',
      },
    },
    check: (k, ctx) =>
      k.ref.hostTrusted ? undefined : { params: { ...keyParams(k), suffix: ctx.settings.keyVaultDnsSuffix } },
  },
  {
    id: 'PRE-008',
    severity: 'error',
    title: 'Already encrypted with other keys',
    modes: ENABLE,
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
    subject: 'namespace',
    templates: {
      default: {
        message:
          'Namespace {namespace} has no usable customer-managed key ({summary}); its queues and topics are unavailable until one key is usable again.',
        fix: 'Make at least one key usable again: recover, enable or renew it, or restore the namespace identity access (see the other findings).',
      },
    },
    check: (ctx) => {
      if (!ctx.namespace.cmk.encrypted || ctx.subjects.length === 0) return undefined;
      const judged = ctx.subjects.filter((k) => usability(k) !== 'unknown');
      if (judged.length !== ctx.subjects.length) return undefined;
      if (judged.some((k) => usability(k) === 'usable')) return undefined;
      return { params: { ...ns(ctx), summary: ctx.subjects.map(describeUnusable).join('; ') } };
    },
  },
  {
    id: 'CMK-011',
    severity: 'warning',
    title: 'Fewer usable keys than configured',
    modes: DIAGNOSE,
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
      ctx.settings.requireInfrastructureEncryption === true &&
      ctx.namespace.skuTier.toLowerCase() === 'premium' &&
      !(ctx.namespace.cmk.encrypted && ctx.namespace.cmk.requireInfrastructureEncryption)
        ? { params: ns(ctx) }
        : undefined,
  },
  {
    id: 'PRE-011',
    severity: 'error',
    title: 'Key vault not available',
    modes: BOTH,
    subject: 'vault',
    templates: {
      notFound: {
        message: 'Key vault {vaultName} ({vaultUri}) was not found in the subscriptions the app can see.',
        fix: 'Check the vault name (or give the app Reader on its subscription); list the vaults with:',
        command: 'az keyvault list --query "[].{name:name, uri:properties.vaultUri}" --output table',
      },
      forbidden: {
        message:
          "Key vault {vaultName} could not be read: the app's identity is not allowed to read it ({detail}).",
        fix: "Give the app's identity Reader on the vault or its subscription (the app reads vaults and key metadata through Resource Manager):",
        command: 'az role assignment create --assignee <app-principal-id> --role Reader --scope {scope}',
      },
      unreachable: {
        message: 'Key vault {vaultName} did not answer ({detail}).',
        fix: 'Retry later; if it persists, check the vault and its network settings.',
      },
    },
    check: (vault) =>
      vault.status === 'found'
        ? undefined
        : {
            variant: vault.status,
            params: {
              vaultName: vault.vaultName,
              vaultUri: vault.vaultUri,
              detail: vault.detail ?? vault.status,
              scope: vault.resourceId ?? '<vault-resource-id>',
            },
          },
  },
  {
    id: 'CMK-007',
    severity: 'error',
    title: 'Vault soft delete or purge protection off',
    modes: BOTH,
    subject: 'vault',
    templates: {
      purgeProtection: {
        message: 'Key vault {vaultName} has purge protection off.',
        fix: 'Turn it on with:',
        command: 'az keyvault update --name {vaultName} --enable-purge-protection true',
      },
      softDelete: {
        message: 'Key vault {vaultName} has soft delete off.',
        fix: 'Turn it on with:',
        command: 'az keyvault update --name {vaultName} --enable-soft-delete true',
      },
      both: {
        message: 'Key vault {vaultName} has soft delete and purge protection off.',
        fix: 'Turn them on with:',
        command:
          'az keyvault update --name {vaultName} --enable-soft-delete true --enable-purge-protection true',
      },
    },
    check: (vault) => {
      if (vault.status !== 'found') return undefined;
      const soft = vault.softDeleteEnabled !== false;
      const purge = vault.purgeProtectionEnabled === true;
      if (soft && purge) return undefined;
      const variant = !soft && !purge ? 'both' : !soft ? 'softDelete' : 'purgeProtection';
      return { variant, params: { vaultName: vault.vaultName } };
    },
  },
  {
    id: 'CMK-009',
    severity: 'error',
    title: 'Vault firewall blocks Service Bus',
    modes: BOTH,
    subject: 'vault',
    templates: {
      virtualNetworkRules: {
        message:
          'Key vault {vaultName} has {count} virtual network rule(s); Service Bus customer-managed keys are not supported on a vault with virtual network rules.',
        fix: 'Remove the rule(s) and rely on "Allow trusted Microsoft services" instead, e.g.:',
        command: 'az keyvault network-rule remove --name {vaultName} --subnet {subnetId}',
      },
      noBypass: {
        message:
          'Key vault {vaultName} denies network access by default and does not let trusted Microsoft services (Service Bus) bypass its firewall.',
        fix: 'Let trusted services through with:',
        command: 'az keyvault update --name {vaultName} --bypass AzureServices',
      },
    },
    check: (vault): Violation | undefined => {
      const acls = vault.networkAcls;
      if (vault.status !== 'found' || !acls) return undefined;
      const first = acls.virtualNetworkRuleIds[0];
      if (first !== undefined) {
        return {
          variant: 'virtualNetworkRules',
          params: { vaultName: vault.vaultName, count: acls.virtualNetworkRuleIds.length, subnetId: first },
        };
      }
      if (acls.defaultAction === 'Deny' && acls.bypass !== 'AzureServices') {
        return { variant: 'noBypass', params: { vaultName: vault.vaultName } };
      }
      return undefined;
    },
  },
  {
    id: 'PRE-016',
    severity: 'error',
    title: 'Key not checked',
    modes: BOTH,
    subject: 'key',
    templates: {
      default: {
        message:
          'Key {keyId} was not checked: the facts hold nothing about {missing}, so nothing will be written for it.',
        fix: 'Retry the operation; if it happens again, report it (the preflight did not read this key).',
      },
    },
    // Guards against incomplete facts (a gateway bug): a key nobody looked at must never pass.
    check: (k) => {
      if (!k.ref.hostTrusted) return undefined;
      if (!k.vault)
        return { params: { ...keyParams(k), missing: `key vault ${k.ref.vaultName ?? k.ref.host}` } };
      if (k.vault.status === 'found' && !k.facts.key) {
        return { params: { ...keyParams(k), missing: 'the key itself' } };
      }
      return undefined;
    },
  },
  {
    id: 'CMK-002',
    severity: 'error',
    title: 'Key missing or deleted',
    modes: BOTH,
    subject: 'key',
    templates: {
      missing: {
        message: 'Key {keyName} was not found in key vault {vaultName}{versionNote}.',
        fix: 'Check the key name, or create an RSA key with:',
        command: 'az keyvault key create --vault-name {vaultName} --name {keyName} --kty RSA --size 3072',
      },
      deleted: {
        message: 'Key {keyName} in key vault {vaultName} is deleted (soft-deleted, still recoverable).',
        fix: 'Recover it with:',
        command: 'az keyvault key recover --vault-name {vaultName} --name {keyName}',
      },
    },
    check: (k) => {
      if (!readKey(k)) return undefined;
      const status = k.facts.key.status;
      if (status === 'notFound') {
        return {
          variant: 'missing',
          params: { ...keyParams(k), versionNote: k.ref.keyVersion ? ` (version ${k.ref.keyVersion})` : '' },
        };
      }
      if (status === 'deleted') return { variant: 'deleted', params: keyParams(k) };
      return undefined;
    },
  },
  {
    id: 'PRE-012',
    severity: 'error',
    title: 'Key could not be read',
    modes: BOTH,
    subject: 'key',
    templates: {
      forbidden: {
        message:
          "Key {keyName} in key vault {vaultName} could not be read: the app's identity is not allowed to.",
        fix: "Give the app's identity Reader on the vault (key metadata is read through Resource Manager, so no access policy or data-plane role is needed):",
        command:
          'az role assignment create --assignee <app-principal-id> --role Reader --scope $(az keyvault show --name {vaultName} --query id --output tsv)',
      },
      unreachable: {
        message: 'Key {keyName} in key vault {vaultName} could not be read (Key Vault did not answer).',
        fix: 'Retry later; if it persists, check the vault and its network settings.',
      },
    },
    check: (k) =>
      readKey(k) && (k.facts.key.status === 'forbidden' || k.facts.key.status === 'unreachable')
        ? { variant: k.facts.key.status, params: keyParams(k) }
        : undefined,
  },
  {
    id: 'CMK-003',
    severity: 'error',
    title: 'Key disabled',
    modes: BOTH,
    subject: 'key',
    templates: {
      default: {
        message: 'Key {keyName} in key vault {vaultName} is disabled.',
        fix: 'Enable it with:',
        command:
          'az keyvault key set-attributes --vault-name {vaultName} --name {keyName}{versionArg} --enabled true',
      },
    },
    check: (k) =>
      foundKey(k) && k.health?.issues.includes('disabled')
        ? { params: { ...keyParams(k), versionArg: versionArg(k) } }
        : undefined,
  },
  {
    id: 'CMK-004',
    severity: 'error',
    title: 'Key expired',
    modes: BOTH,
    subject: 'key',
    templates: {
      default: {
        message: 'Key {keyName} in key vault {vaultName} expired on {expiresOn}.',
        fix: 'Create a new version with a new expiry (then reference the key without a version) with:',
        command: 'az keyvault key rotate --vault-name {vaultName} --name {keyName}',
      },
    },
    check: (k) =>
      foundKey(k) && k.health?.issues.includes('expired')
        ? { params: { ...keyParams(k), expiresOn: isoDate(k.facts.key?.expiresOn ?? '') } }
        : undefined,
  },
  {
    id: 'PRE-013',
    severity: 'error',
    title: 'Key not yet valid',
    modes: BOTH,
    subject: 'key',
    templates: {
      default: {
        message: 'Key {keyName} in key vault {vaultName} is not valid before {notBefore}.',
        fix: 'Wait until then, or move its activation date with:',
        command:
          'az keyvault key set-attributes --vault-name {vaultName} --name {keyName}{versionArg} --not-before {now}',
      },
    },
    check: (k, ctx) =>
      foundKey(k) && k.health?.issues.includes('notYetValid')
        ? {
            params: {
              ...keyParams(k),
              notBefore: isoDate(k.facts.key?.notBefore ?? ''),
              now: isoDate(ctx.now.toISOString()),
              versionArg: versionArg(k),
            },
          }
        : undefined,
  },
  {
    id: 'PRE-014',
    severity: 'error',
    title: 'Key type not supported',
    modes: BOTH,
    subject: 'key',
    templates: {
      default: {
        message:
          'Key {keyName} in key vault {vaultName} is an {kty} key; Service Bus wraps its data key with an RSA key (RSA or RSA-HSM).',
        fix: 'Create an RSA key and use it instead:',
        command: 'az keyvault key create --vault-name {vaultName} --name <new-key> --kty RSA --size 3072',
      },
    },
    check: (k) => {
      const kty = k.facts.key?.kty;
      return foundKey(k) && kty !== undefined && kty !== 'RSA' && kty !== 'RSA-HSM'
        ? { params: { ...keyParams(k), kty } }
        : undefined;
    },
  },
  {
    id: 'PRE-015',
    severity: 'error',
    title: 'Key does not allow wrap/unwrap',
    modes: BOTH,
    subject: 'key',
    templates: {
      default: {
        message: 'Key {keyName} in key vault {vaultName} does not allow {missingOps}.',
        fix: 'Allow them with:',
        command:
          'az keyvault key set-attributes --vault-name {vaultName} --name {keyName}{versionArg} --ops {allOps}',
      },
    },
    check: (k) => {
      const ops = k.facts.key?.keyOps;
      if (!foundKey(k) || ops === undefined) return undefined;
      const missing = ['wrapKey', 'unwrapKey'].filter((op) => !ops.includes(op));
      if (missing.length === 0) return undefined;
      return {
        params: {
          ...keyParams(k),
          missingOps: missing.join(' and '),
          allOps: [...ops, ...missing].join(' '),
          versionArg: versionArg(k),
        },
      };
    },
  },
  {
    id: 'CMK-008',
    severity: 'error',
    title: 'Namespace identity lacks key access',
    modes: DIAGNOSE,
    subject: 'key',
    templates: {
      accessPolicy: {
        message:
          "The namespace identity cannot use key {keyName} in key vault {vaultName}: the vault's access policies do not give it {permissions}.",
        fix: 'Grant it with:',
        command:
          'az keyvault set-policy --name {vaultName} --object-id {principalId} --key-permissions {permissions}',
      },
      rbac: {
        message:
          'The namespace identity cannot use key {keyName} in key vault {vaultName}: it has no role that allows key read, wrap and unwrap there.',
        fix: 'Grant it with:',
        command: `az role assignment create --assignee-object-id {principalId} --assignee-principal-type ServicePrincipal --role "${CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_NAME}" --scope {keyScope}`,
      },
    },
    check: (k, ctx) => {
      if (!readKey(k) || k.facts.identityHasAccess !== false) return undefined;
      const params: Params = {
        ...keyParams(k),
        principalId: ctx.principalId ?? '<namespace-principal-id>',
        permissions: CMK_KEY_PERMISSIONS.join(' '),
        keyScope: `${k.vault.resourceId ?? '<vault-resource-id>'}/keys/${k.ref.keyName}`,
      };
      return { variant: k.vault.permissionModel === 'rbac' ? 'rbac' : 'accessPolicy', params };
    },
  },
  {
    id: 'CMK-005',
    severity: 'warning',
    title: 'Key expires soon',
    modes: BOTH,
    subject: 'key',
    templates: {
      default: {
        message: 'Key {keyName} in key vault {vaultName} expires on {expiresOn} (in {days} day(s)).',
        fix: 'Rotate it before then (and let a rotation policy do it from now on) with:',
        command: 'az keyvault key rotate --vault-name {vaultName} --name {keyName}',
      },
    },
    check: (k) =>
      foundKey(k) && k.health?.status === 'expiringSoon'
        ? {
            params: {
              ...keyParams(k),
              expiresOn: isoDate(k.facts.key?.expiresOn ?? ''),
              days: Math.max(0, k.health.daysToExpiry ?? 0),
            },
          }
        : undefined,
  },
  {
    id: 'CMK-006',
    severity: 'warning',
    title: 'Pinned key version',
    modes: BOTH,
    subject: 'key',
    templates: {
      enable: {
        message:
          'Key {keyName} is pinned to version {keyVersion}; the namespace will keep using that version after a rotation and stop working when it expires.',
        fix: 'Pass the versionless key id instead: {versionlessKeyId}',
      },
      diagnose: {
        message:
          'Key {keyName} is pinned to version {keyVersion}; the namespace keeps using that version after a rotation and stops working when it expires.',
        fix: 'Move the namespace to the versionless key (auto-rotation) with:',
        command:
          'az servicebus namespace encryption add --resource-group {resourceGroup} --namespace-name {namespace} --encryption-config key-name={keyName} key-vault-uri={vaultUri}',
      },
    },
    check: (k, ctx) =>
      k.ref.keyVersion && k.ref.hostTrusted
        ? { variant: ctx.mode, params: { ...ns(ctx), ...keyParams(k), keyVersion: k.ref.keyVersion } }
        : undefined,
  },
  {
    id: 'CMK-014',
    severity: 'warning',
    title: 'Key without expiry or rotation policy',
    modes: BOTH,
    subject: 'key',
    templates: {
      noRotationPolicy: {
        message:
          'Key {keyName} in key vault {vaultName} has no rotation policy that rotates it automatically.',
        fix: 'Set one (rotate 30 days before expiry, new versions valid one year) with:',
        command: `az keyvault key rotation-policy update --vault-name {vaultName} --name {keyName} --value '${ROTATION_POLICY_JSON}'`,
      },
      noExpiry: {
        message: 'Key {keyName} in key vault {vaultName} has no expiry date.',
        fix: 'Give it one (and a rotation policy that renews it) with:',
        command:
          'az keyvault key set-attributes --vault-name {vaultName} --name {keyName}{versionArg} --expires <yyyy-mm-ddThh:mm:ssZ>',
      },
    },
    check: (k) => {
      if (!foundKey(k) || !k.health?.usable) return undefined;
      const key = k.facts.key as KeyFacts;
      if (key.rotationPolicy === null || key.rotationPolicy?.autoRotate === false) {
        return { variant: 'noRotationPolicy', params: keyParams(k) };
      }
      if (key.expiresOn === undefined) {
        return { variant: 'noExpiry', params: { ...keyParams(k), versionArg: versionArg(k) } };
      }
      return undefined;
    },
  },
];

// ---------------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------------

function describeIdentity(identity: EncryptionIdentity): string {
  return identity.type === 'SystemAssigned'
    ? 'the system-assigned identity'
    : `user-assigned identity ${identity.resourceId}`;
}

function safeParseIdentity(id: string): { name: string; resourceGroup: string } | undefined {
  try {
    return parseUserAssignedIdentityId(id);
  } catch {
    return undefined;
  }
}

function versionArg(k: KeySubject): string {
  return k.ref.keyVersion ? ` --version ${k.ref.keyVersion}` : '';
}

function usability(k: KeySubject): 'usable' | 'unusable' | 'unknown' {
  if (!readKey(k) || !k.health) return 'unknown';
  if (k.health.issues.includes('unreadable')) return 'unknown';
  if (!k.health.usable) return 'unusable';
  if (k.facts.identityHasAccess === false) return 'unusable';
  if (k.facts.key.kty !== undefined && k.facts.key.kty !== 'RSA' && k.facts.key.kty !== 'RSA-HSM') {
    return 'unusable';
  }
  return 'usable';
}

function describeUnusable(k: KeySubject): string {
  const problems: string[] = [...(k.health?.issues ?? [])];
  if (k.facts.identityHasAccess === false) problems.push('no access');
  return `${k.ref.keyName}: ${problems.length ? problems.join(', ') : 'not checked'}`;
}

function fill(template: string, params: Params, ruleId: string): string {
  return template.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`Rule ${ruleId}: no value for {${name}}`);
    return String(value);
  });
}

function toFinding(rule: PreflightRule, v: Violation, subject: Finding['subject']): Finding {
  const template = rule.templates[v.variant ?? 'default'];
  if (!template) throw new Error(`Rule ${rule.id}: no template for variant '${v.variant ?? 'default'}'`);
  const command = template.command !== undefined ? fill(template.command, v.params, rule.id) : undefined;
  const fixText = fill(template.fix, v.params, rule.id);
  return {
    ruleId: rule.id,
    severity: rule.severity,
    blocks: rule.severity !== 'warning',
    title: rule.title,
    message: fill(template.message, v.params, rule.id),
    fix: command !== undefined ? `${fixText} ${command}` : fixText,
    ...(command !== undefined ? { command } : {}),
    subject,
  };
}

function buildSubjects(
  refs: readonly KeyRef[],
  facts: readonly KeySubjectFacts[],
  vaults: readonly VaultFacts[],
  now: Date,
  warningDays: number,
): KeySubject[] {
  return refs.map((ref, index) => {
    const f = facts[index] ?? {};
    const vault = ref.vaultName
      ? vaults.find((v) => v.vaultName.toLowerCase() === ref.vaultName?.toLowerCase())
      : undefined;
    return {
      index,
      ref,
      facts: f,
      ...(vault ? { vault } : {}),
      ...(f.key ? { health: evaluateKeyHealth(f.key, now, warningDays) } : {}),
    };
  });
}

function runRules(ctx: RuleContext): Finding[] {
  const findings: Finding[] = [];
  for (const rule of PREFLIGHT_RULES) {
    if (!rule.modes.includes(ctx.mode)) continue;
    if (rule.skipWhenAlreadyConfigured && ctx.alreadyConfigured) continue;
    if (rule.subject === 'namespace') {
      const v = rule.check(ctx);
      if (v) findings.push(toFinding(rule, v, { kind: 'namespace', id: ctx.namespace.id }));
    } else if (rule.subject === 'vault') {
      for (const vault of ctx.vaults) {
        const v = rule.check(vault, ctx);
        if (v) findings.push(toFinding(rule, v, { kind: 'vault', id: vault.vaultUri }));
      }
    } else {
      for (const key of ctx.subjects) {
        const v = rule.check(key, ctx);
        if (v) findings.push(toFinding(rule, v, { kind: 'key', id: key.ref.keyId, keyIndex: key.index }));
      }
    }
  }
  return findings;
}

/** Vaults that the keys reference, in key order, each once (facts listed for other vaults are ignored). */
function referencedVaults(subjects: readonly KeySubject[]): VaultFacts[] {
  const seen = new Set<string>();
  const out: VaultFacts[] = [];
  for (const s of subjects) {
    if (s.vault && !seen.has(s.vault.vaultName.toLowerCase())) {
      seen.add(s.vault.vaultName.toLowerCase());
      out.push(s.vault);
    }
  }
  return out;
}

/** Whether the namespace already has CMK exactly as requested (same keys and versions, same identity, infra satisfied). */
export function isAlreadyConfigured(cmk: CmkState, request: EnablePreflightFacts['request']): boolean {
  return (
    cmk.encrypted &&
    sameKeySet(cmk.keys, request.keys) &&
    sameEncryptionIdentity(cmk.identity, request.identity) &&
    (!request.requireInfrastructureEncryption || cmk.requireInfrastructureEncryption)
  );
}

/**
 * Every enable-preflight finding for the facts, at once. Blocking findings (errors) mean nothing
 * may be written; warnings are reported alongside the plan.
 */
export function evaluatePreflight(facts: EnablePreflightFacts, now: Date): Finding[] {
  const subjects = buildSubjects(
    facts.request.keys,
    facts.keys,
    facts.vaults,
    now,
    facts.settings.keyExpiryWarningDays,
  );
  return runRules({
    mode: 'enable',
    now,
    namespace: facts.namespace,
    subjects,
    vaults: referencedVaults(subjects),
    settings: facts.settings,
    request: facts.request,
    ...(facts.userAssignedIdentity ? { userAssignedIdentity: facts.userAssignedIdentity } : {}),
    alreadyConfigured: isAlreadyConfigured(facts.namespace.cmk, facts.request),
  });
}

export interface Diagnosis {
  namespaceId: string;
  cmk: CmkState;
  keys: {
    keyId: string;
    vaultName?: string;
    pinned: boolean;
    health?: KeyHealth;
    identityHasAccess?: boolean;
  }[];
  /** Usable keys / configured keys (0/0 when not encrypted). */
  usableKeys: number;
  findings: Finding[];
}

/** Diagnose one namespace now: its CMK state, each key's health and access, and every finding. */
export function evaluateDiagnosis(facts: DiagnoseFacts, now: Date): Diagnosis {
  const refs = facts.namespace.cmk.encrypted ? facts.namespace.cmk.keys : [];
  const subjects = buildSubjects(refs, facts.keys, facts.vaults, now, facts.settings.keyExpiryWarningDays);
  const findings = runRules({
    mode: 'diagnose',
    now,
    namespace: facts.namespace,
    subjects,
    vaults: referencedVaults(subjects),
    settings: facts.settings,
    ...(facts.principalId ? { principalId: facts.principalId } : {}),
    alreadyConfigured: false,
  });
  return {
    namespaceId: facts.namespace.id,
    cmk: facts.namespace.cmk,
    keys: subjects.map((s) => ({
      keyId: s.ref.keyId,
      ...(s.ref.vaultName ? { vaultName: s.ref.vaultName } : {}),
      pinned: s.ref.keyVersion !== undefined,
      ...(s.health ? { health: s.health } : {}),
      ...(s.facts.identityHasAccess !== undefined ? { identityHasAccess: s.facts.identityHasAccess } : {}),
    })),
    usableKeys: subjects.filter((s) => usability(s) === 'usable').length,
    findings,
  };
}

/** True when any finding blocks enable. */
export function hasBlockingFindings(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.blocks);
}
