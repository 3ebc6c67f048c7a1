/**
 * Key Vault events as Event Grid delivers them, in both delivery schemas (the shapes and casing are
 * Azure's: camelCase envelope, PascalCase `data`). One published event has one id in both schemas and
 * across every subscription that receives it — subscribers deduplicate on it.
 */
import { randomUUID } from 'node:crypto';
import type { KeyVaultEvent } from '../keyvault/model';

export type DeliverySchema = 'EventGridSchema' | 'CloudEventSchemaV1_0';

/** The event types a `Microsoft.KeyVault.vaults` system topic publishes (the whole list; no delete/disable). */
export const KEY_VAULT_EVENT_TYPES = [
  'Microsoft.KeyVault.CertificateNewVersionCreated',
  'Microsoft.KeyVault.CertificateNearExpiry',
  'Microsoft.KeyVault.CertificateExpired',
  'Microsoft.KeyVault.KeyNewVersionCreated',
  'Microsoft.KeyVault.KeyNearExpiry',
  'Microsoft.KeyVault.KeyExpired',
  'Microsoft.KeyVault.SecretNewVersionCreated',
  'Microsoft.KeyVault.SecretNearExpiry',
  'Microsoft.KeyVault.SecretExpired',
  'Microsoft.KeyVault.VaultAccessPolicyChanged',
] as const;

/** A published event, schema-neutral. */
export interface PublishedEvent {
  id: string;
  /** ARM id of the source (the vault). */
  source: string;
  subject: string;
  eventType: string;
  eventTime: number;
  data: Record<string, unknown>;
  dataVersion: string;
}

/** Key Vault event → published event: data is `Id, VaultName, ObjectType, ObjectName, Version, NBF, EXP`. */
export function fromKeyVault(event: KeyVaultEvent): PublishedEvent {
  const objectType = event.type.startsWith('Microsoft.KeyVault.Key')
    ? 'Key'
    : event.type.startsWith('Microsoft.KeyVault.Secret')
      ? 'Secret'
      : event.type.startsWith('Microsoft.KeyVault.Certificate')
        ? 'Certificate'
        : 'Vault'; // [U] the ObjectType Azure sends with VaultAccessPolicyChanged
  return {
    id: randomUUID(),
    source: event.vaultId,
    subject: event.objectName,
    eventType: event.type,
    eventTime: event.at,
    data: {
      Id: event.id,
      VaultName: event.vaultName,
      ObjectType: objectType,
      ObjectName: event.objectName,
      Version: event.version,
      // Unix seconds; absent for an object without nbf/exp [U: Azure may send null].
      ...(event.nbf !== undefined ? { NBF: event.nbf } : {}),
      ...(event.exp !== undefined ? { EXP: event.exp } : {}),
    },
    dataVersion: '1',
  };
}

/** Event Grid's timestamps carry 7 fractional digits ("2019-07-25T01:08:33.1036736Z"). */
export function eventGridTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

/** The event as one element of an Event Grid schema delivery. */
export function toEventGridSchema(e: PublishedEvent): Record<string, unknown> {
  return {
    id: e.id,
    topic: e.source,
    subject: e.subject,
    eventType: e.eventType,
    eventTime: eventGridTime(e.eventTime),
    data: e.data,
    dataVersion: e.dataVersion,
    metadataVersion: '1',
  };
}

/** The event as a CloudEvents 1.0 structured-mode body. */
export function toCloudEvent(e: PublishedEvent): Record<string, unknown> {
  return {
    id: e.id,
    source: e.source,
    specversion: '1.0',
    type: e.eventType,
    subject: e.subject,
    time: eventGridTime(e.eventTime),
    data: e.data,
  };
}

export function toWire(e: PublishedEvent, schema: DeliverySchema): Record<string, unknown> {
  return schema === 'CloudEventSchemaV1_0' ? toCloudEvent(e) : toEventGridSchema(e);
}
