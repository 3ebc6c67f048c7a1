import { randomUUID } from 'node:crypto';
import { SandboxError } from '../errors';

/**
 * Service Bus resource-provider errors. The RP answers most refusals with `BadRequest` (or `Conflict`)
 * and puts what is wrong in the message, followed by its tracking suffix
 * (`TrackingId:…, SystemTracker:…, Timestamp:…`) — e.g. "Cannot update a namespace which is secondary"
 * (reported in public issue trackers). Only that string and "Namespace Replication is still in progress"
 * are verbatim from the wild; for the CMK refusals no service text was found [U], so the messages here
 * state the documented rule that was broken, naming the namespace, key or vault concerned.
 */
export function sbError(
  status: number,
  code: string,
  message: string,
  tracker: string,
  now: number,
): SandboxError {
  const stamp = new Date(now)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '');
  return new SandboxError(
    status,
    code,
    `${message} TrackingId:${randomUUID()}_G1, SystemTracker:${tracker}, Timestamp:${stamp}`,
  );
}

/** The messages, in one place; `sbError` adds code, status and the tracking suffix. */
export const messages = {
  secondary: 'Cannot update a namespace which is secondary.',
  notPremium: (sku: string) =>
    `Customer-managed key encryption is supported only on the Premium tier; the namespace's SKU is '${sku}'.`,
  keySource: (value: string) =>
    `The encryption keySource '${value}' is not supported; the only key source is 'Microsoft.KeyVault'.`,
  notEmpty: (queues: number, topics: number) =>
    `Encryption can only be enabled on a new or empty namespace; this namespace contains ${queues} queue(s) and ${topics} topic(s).`,
  keyCount: (n: number) =>
    `Encryption needs between 1 and 3 keys in keyVaultProperties; the request has ${n}.`,
  keyIncomplete: (i: number) => `keyVaultProperties[${i}] needs both keyName and keyVaultUri.`,
  cannotRemove:
    'Customer-managed key encryption cannot be removed or replaced by Microsoft-managed keys once it is enabled. Delete and recreate the namespace to stop using customer-managed keys.',
  infraEncryption:
    'requireInfrastructureEncryption can only be set when customer-managed key encryption is enabled; it cannot be changed afterwards.',
  noSystemIdentity:
    "A key in keyVaultProperties has no identity.userAssignedIdentity, so the namespace's system-assigned identity is used; enable identity type 'SystemAssigned' on the namespace.",
  uaiNotAssigned: (id: string) =>
    `The user-assigned identity '${id}' used for encryption is not assigned to the namespace (identity.userAssignedIdentities).`,
  oneIdentity:
    'All keys must use the same identity for encryption; only a single encryption identity is supported.',
  pairedPrimaryUai:
    'Encryption with a user-assigned identity cannot be enabled on a namespace that is the primary of a Geo-DR pairing. Break the pairing, enable encryption on both namespaces, then pair again.',
  vaultNotFound: (uri: string) => `The key vault '${uri}' could not be found.`,
  purgeProtection: (vault: string) =>
    `The key vault '${vault}' must have soft delete and purge protection enabled to be used for customer-managed keys.`,
  vnetRules: (vault: string) =>
    `The key vault '${vault}' has virtual network rules; customer-managed keys are not supported with a key vault that uses virtual network service endpoints.`,
  keyAccess: (key: string, principal: string, detail: string) =>
    `The namespace identity '${principal}' cannot use the key '${key}' (it needs get, wrapKey and unwrapKey): ${detail}`,
  tooManyIdentities: (n: number) =>
    `A namespace can have at most 4 user-assigned identities; the request has ${n}.`,
  uaiNotFound: (id: string) => `The user-assigned identity '${id}' was not found.`,
  identityInUse:
    'The identity used for customer-managed key encryption cannot be removed from the namespace.',
  inoperable: (ns: string) =>
    `The namespace '${ns}' is disabled because its customer-managed encryption key is no longer valid or accessible. Restore access to a key listed in the namespace's encryption settings; the namespace resumes at its next key poll.`,
  activating: (ns: string) => `The namespace '${ns}' is still being activated; retry the operation later.`,
  nameInUse: (name: string) => `The namespace name '${name}' is already in use.`,
  invalidName: (name: string) =>
    `The namespace name '${name}' is invalid. It can contain only letters, numbers and hyphens, must start with a letter, end with a letter or number, and be 6 to 50 characters long.`,
  locationChange: 'The location of an existing namespace cannot be changed.',
  invalidSku: (name: string) => `The SKU '${name}' is not valid; use Basic, Standard or Premium.`,
  // Geo-DR
  partnerNotFound: (id: string) => `The partner namespace '${id}' could not be found.`,
  partnerSelf: 'A namespace cannot be paired with itself.',
  partnerNotEmpty: (name: string) =>
    `Only a new namespace without queues or topics can be added to a Geo-DR pairing as secondary; '${name}' has entities.`,
  partnerPaired: (name: string) => `The namespace '${name}' is already part of a Geo-DR configuration.`,
  partnerSku: (primary: string, secondary: string) =>
    `Geo-DR needs namespaces of the same tier (Standard or Premium); the primary is '${primary}' and the partner '${secondary}'.`,
  alreadyPaired: (alias: string) =>
    `The namespace is already paired through alias '${alias}'; break the pairing before changing it.`,
  aliasNameInUse: (alias: string) => `Alias '${alias}' is not availble, please use a different name.`,
  replicationInProgress: 'Namespace Replication is still in progress, retry the operation after some time.',
  breakOnSecondary: 'Break pairing can only be started on the primary namespace of the pairing.',
  failoverOnPrimary: 'Failover can only be started on the secondary namespace of the pairing.',
  notPaired: (alias: string) => `The alias '${alias}' is not paired.`,
  deletePaired: (alias: string) =>
    `The alias '${alias}' is paired; break the pairing before deleting the Geo-DR configuration.`,
  deleteNamespacePaired: (alias: string) =>
    `The namespace has the Geo-DR configuration '${alias}'; break the pairing and delete it before deleting the namespace.`,
  safeFailoverSubscription:
    'Safe failover needs the primary and secondary namespaces in the same Azure subscription.',
  secondaryCmkUai: (name: string) =>
    `The secondary namespace '${name}' must already have encryption enabled with the user-assigned identity of the primary's keys before it can be paired with an encrypted primary.`,
  secondaryNoIdentity: (name: string) =>
    `The secondary namespace '${name}' has no system-assigned identity to use the primary's customer-managed keys with.`,
  secondaryKeyAccess: (name: string, key: string, detail: string) =>
    `The secondary namespace '${name}' cannot use the primary's key '${key}' with its identity (it needs get, wrapKey and unwrapKey): ${detail}`,
  entityOnSecondary: 'Entities cannot be created, updated or deleted on a secondary namespace.',
  entityNotFound: (kind: string, name: string, ns: string) =>
    `The ${kind} '${name}' could not be found in namespace '${ns}'.`,
};
