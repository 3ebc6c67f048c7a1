/** Key rules: present, enabled, valid, RSA, wrap/unwrap, access, expiry, pinning, hygiene. */
import type { KeyFacts } from '../cmkState';
import { CMK_KEY_PERMISSIONS, CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_NAME } from '../keyAccess';
import {
  BOTH,
  DIAGNOSE,
  foundKey,
  isoDate,
  keyParams,
  ns,
  readKey,
  versionArg,
  type AzureRule,
  type Params,
} from './rule';

const ROTATION_POLICY_JSON =
  '{"lifetimeActions":[{"trigger":{"timeBeforeExpiry":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P1Y"}}';

export const KEY_RULES: readonly AzureRule[] = [
  {
    id: 'PRE-016',
    severity: 'error',
    title: 'Key not checked',
    modes: BOTH,
    reads: 'azure',
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
    reads: 'azure',
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
    reads: 'azure',
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
    reads: 'azure',
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
    reads: 'azure',
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
    reads: 'azure',
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
    reads: 'azure',
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
    reads: 'azure',
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
    reads: 'azure',
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
    id: 'CMK-012',
    severity: 'error',
    title: 'Geo-DR partner identity lacks key access',
    modes: DIAGNOSE,
    reads: 'azure',
    subject: 'key',
    templates: {
      accessPolicy: {
        message:
          "The Geo-DR partner {partner} cannot use key {keyName} in key vault {vaultName}: the vault's access policies do not give its identity {permissions}. After a failover it could not unwrap the data key.",
        fix: 'Grant it with:',
        command:
          'az keyvault set-policy --name {vaultName} --object-id {principalId} --key-permissions {permissions}',
      },
      rbac: {
        message:
          'The Geo-DR partner {partner} cannot use key {keyName} in key vault {vaultName}: its identity has no role that allows key read, wrap and unwrap there. After a failover it could not unwrap the data key.',
        fix: 'Grant it with:',
        command: `az role assignment create --assignee-object-id {principalId} --assignee-principal-type ServicePrincipal --role "${CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_NAME}" --scope {keyScope}`,
      },
    },
    // Only a definite "no": an unreadable partner or unknown principal is not reported as missing access.
    check: (k, ctx) => {
      const partner = ctx.geoDrPartner;
      if (!partner || !readKey(k) || partner.keys[k.index]?.identityHasAccess !== false) return undefined;
      return {
        variant: k.vault.permissionModel === 'rbac' ? 'rbac' : 'accessPolicy',
        params: {
          ...keyParams(k),
          partner: partner.namespaceId.split('/').pop() ?? partner.namespaceId,
          principalId: partner.principalId ?? '<partner-principal-id>',
          permissions: CMK_KEY_PERMISSIONS.join(' '),
          keyScope: `${k.vault.resourceId ?? '<vault-resource-id>'}/keys/${k.ref.keyName}`,
        },
      };
    },
  },
  {
    id: 'CMK-005',
    severity: 'warning',
    title: 'Key expires soon',
    modes: BOTH,
    reads: 'azure',
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
    reads: 'azure',
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
    reads: 'azure',
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
