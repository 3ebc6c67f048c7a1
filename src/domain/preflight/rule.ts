/**
 * What a preflight rule is (data: id, severity, message/fix templates, one check) and the helpers the
 * rule catalogues share. See docs/ARCHITECTURE.md "Rules" for how to add one.
 */
import type { EncryptionIdentity, KeyFacts, KeyHealth, KeyRef } from '../cmkState';
import { parseUserAssignedIdentityId } from '../resourceIds';
import type {
  DiagnoseFacts,
  EnablePreflightFacts,
  KeySubjectFacts,
  NamespaceFacts,
  RuleSettings,
  UserAssignedIdentityFacts,
  VaultFacts,
} from './facts';

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

export interface Template {
  message: string;
  /** Text before the command, or the whole fix when there is no command. */
  fix: string;
  command?: string;
}

export type Params = Record<string, string | number>;
export interface Violation {
  variant?: string;
  params: Params;
}

/** A requested key as the request alone describes it (no Azure read). */
export interface RequestKeySubject {
  index: number;
  ref: KeyRef;
}

/** A key with what the gateways read about it and its vault. */
export interface KeySubject extends RequestKeySubject {
  facts: KeySubjectFacts;
  vault?: VaultFacts;
  health?: KeyHealth;
}

/** What a rule that needs no Azure read may look at: the request and the settings. */
export interface RequestRuleContext {
  mode: EvaluationMode;
  now: Date;
  namespaceId: string;
  subjects: RequestKeySubject[];
  settings: RuleSettings;
  request?: EnablePreflightFacts['request'];
}

/** Everything: the request plus the facts read from Azure. */
export interface RuleContext extends RequestRuleContext {
  namespace: NamespaceFacts;
  subjects: KeySubject[];
  vaults: VaultFacts[];
  userAssignedIdentity?: UserAssignedIdentityFacts;
  principalId?: string;
  /** Diagnose of a Geo-DR primary: the partner identity's access to each key (CMK-012). */
  geoDrPartner?: DiagnoseFacts['geoDrPartner'];
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

/**
 * A rule judged on the request alone (`reads: 'request'`): its finding is known before any Azure
 * read, so a real enable answers it at once (422) instead of starting an operation.
 */
export type RequestRule = RuleBase & { reads: 'request' } & (
    | { subject: 'namespace'; check: (ctx: RequestRuleContext) => Violation | undefined }
    | {
        subject: 'key';
        check: (key: RequestKeySubject, ctx: RequestRuleContext) => Violation | undefined;
      }
  );

/** A rule that judges facts read from Azure. */
export type AzureRule = RuleBase & { reads: 'azure' } & (
    | { subject: 'namespace'; check: (ctx: RuleContext) => Violation | undefined }
    | { subject: 'vault'; check: (vault: VaultFacts, ctx: RuleContext) => Violation | undefined }
    | { subject: 'key'; check: (key: KeySubject, ctx: RuleContext) => Violation | undefined }
  );

export type PreflightRule = RequestRule | AzureRule;

export const BOTH: readonly EvaluationMode[] = ['enable', 'diagnose'];
export const ENABLE: readonly EvaluationMode[] = ['enable'];
export const DIAGNOSE: readonly EvaluationMode[] = ['diagnose'];

export const ns = (ctx: RuleContext): Params => ({
  namespace: ctx.namespace.name,
  namespaceId: ctx.namespace.id,
  resourceGroup: ctx.namespace.resourceGroup,
  location: ctx.namespace.location ?? '<location>',
});

export const keyParams = (k: RequestKeySubject): Params => ({
  keyName: k.ref.keyName,
  keyId: k.ref.keyId,
  versionlessKeyId: k.ref.versionlessKeyId,
  vaultName: k.ref.vaultName ?? k.ref.host,
  vaultUri: k.ref.vaultUri,
  host: k.ref.host,
  position: k.index + 1,
});

/** Only keys whose vault was read and whose key facts came back. */
export const readKey = (k: KeySubject): k is KeySubject & { vault: VaultFacts; facts: { key: KeyFacts } } =>
  k.ref.hostTrusted && k.vault?.status === 'found' && k.facts.key !== undefined;

export const foundKey = (k: KeySubject): boolean => readKey(k) && k.facts.key?.status === 'found';

export const isoDate = (iso: string): string => iso.replace(/\.\d{3}Z$/, 'Z');

export function describeIdentity(identity: EncryptionIdentity): string {
  return identity.type === 'SystemAssigned'
    ? 'the system-assigned identity'
    : `user-assigned identity ${identity.resourceId}`;
}

export function safeParseIdentity(id: string): { name: string; resourceGroup: string } | undefined {
  try {
    return parseUserAssignedIdentityId(id);
  } catch {
    return undefined;
  }
}

export function versionArg(k: KeySubject): string {
  return k.ref.keyVersion ? ` --version ${k.ref.keyVersion}` : '';
}

/**
 * Whether the vault's firewall keeps Service Bus out: it denies by default and does not let trusted
 * Microsoft services (Service Bus is on Key Vault's trusted-services list) bypass it. Virtual network
 * rules alone do not block a trusted service; the 2019 article calls them unsupported for BYOK, which
 * CMK-009 reports, but whether the service then fails is not verified [U].
 */
/**
 * Whether CMK-013 applies to the namespace: required everywhere, or the namespace id is one of the
 * configured scopes or below it (whole segments: `/resourceGroups/rg-a` does not cover `rg-ab`).
 */
export function infrastructureEncryptionRequired(
  settings: Pick<RuleSettings, 'requireInfrastructureEncryption' | 'infrastructureEncryptionScopes'>,
  namespaceId: string,
): boolean {
  if (settings.requireInfrastructureEncryption === true) return true;
  const id = namespaceId.toLowerCase();
  return (settings.infrastructureEncryptionScopes ?? []).some(
    (scope) => id === scope || id.startsWith(`${scope}/`),
  );
}

export function vaultBlocksServiceBus(vault: VaultFacts | undefined): boolean {
  const acls = vault?.status === 'found' ? vault.networkAcls : undefined;
  return !!acls && acls.defaultAction === 'Deny' && acls.bypass !== 'AzureServices';
}

export function usability(k: KeySubject): 'usable' | 'unusable' | 'unknown' {
  if (!readKey(k) || !k.health) return 'unknown';
  if (k.health.issues.includes('unreadable')) return 'unknown';
  if (!k.health.usable) return 'unusable';
  if (k.facts.identityHasAccess === false) return 'unusable';
  if (vaultBlocksServiceBus(k.vault)) return 'unusable';
  if (k.facts.key.kty !== undefined && k.facts.key.kty !== 'RSA' && k.facts.key.kty !== 'RSA-HSM') {
    return 'unusable';
  }
  return 'usable';
}

/** DELETED_KEY_CACHE_MINUTES when the settings do not say (the 2019 article's "up to an hour") [U]. */
export const DEFAULT_DELETED_KEY_CACHE_MINUTES = 60;

/**
 * Until when Service Bus may still hold a gone key in its cache (epoch ms), when that is still ahead.
 * Only for a key the app has SEEN present before (`seen.lastPresentAt`) and now reads as missing or
 * deleted: ARM cannot say when a key was deleted, so the deletion is placed at `seen.goneSince` (the
 * first read that missed it, or the audit log's deletion time), at the latest `now`. The service
 * caches a key from its last successful poll, which is no later than the deletion, so the cache ends
 * no later than goneSince + DELETED_KEY_CACHE_MINUTES — an upper bound: it may already have ended
 * (the current docs describe a 5-minute poll that drops a revoked key) [U].
 */
export function deletedKeyCacheUntil(
  k: KeySubject,
  ctx: Pick<RuleContext, 'now' | 'settings'>,
): number | undefined {
  const status = k.facts.key?.status;
  if (!readKey(k) || (status !== 'notFound' && status !== 'deleted')) return undefined;
  const seen = k.facts.seen;
  if (!seen?.lastPresentAt) return undefined;
  const gone = seen.goneSince ? Date.parse(seen.goneSince) : ctx.now.getTime();
  if (Number.isNaN(gone)) return undefined;
  const minutes = ctx.settings.deletedKeyCacheMinutes ?? DEFAULT_DELETED_KEY_CACHE_MINUTES;
  const until = Math.min(gone, ctx.now.getTime()) + minutes * 60_000;
  return until > ctx.now.getTime() ? until : undefined;
}

export function describeUnusable(k: KeySubject): string {
  const problems: string[] = [...(k.health?.issues ?? [])];
  if (k.facts.identityHasAccess === false) problems.push('no access');
  if (vaultBlocksServiceBus(k.vault)) problems.push('vault firewall blocks Service Bus');
  return `${k.ref.keyName}: ${problems.length ? problems.join(', ') : 'not checked'}`;
}
