/**
 * Key Vault's error shapes. The data plane answers `{ error: { code, message, innererror? } }` with the
 * codes and messages the service uses (taken from recorded service responses in the Azure SDK test
 * recordings and public issue threads); ARM answers `{ error: { code, message } }`. The model throws
 * `KeyVaultError` and the HTTP layer serialises it unchanged, so a message is written in one place.
 */
export class KeyVaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
    /** Response headers the error carries (e.g. Retry-After on 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'KeyVaultError';
  }

  toBody(): { error: { code: string; message: string; innererror?: { code: string } } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.innerCode ? { innererror: { code: this.innerCode } } : {}),
      },
    };
  }
}

const RECOVER_HINT =
  'If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

export const kvErrors = {
  keyNotFound: (nameOrId: string): KeyVaultError =>
    new KeyVaultError(
      404,
      'KeyNotFound',
      `A key with (name/id) ${nameOrId} was not found in this key vault. ${RECOVER_HINT}`,
    ),
  deletedKeyNotFound: (name: string): KeyVaultError =>
    new KeyVaultError(404, 'KeyNotFound', `Deleted Key not found: ${name}`),
  deletedButRecoverable: (name: string): KeyVaultError =>
    new KeyVaultError(
      409,
      'Conflict',
      `Key ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.`,
      'ObjectIsDeletedButRecoverable',
    ),
  badParameter: (message: string): KeyVaultError => new KeyVaultError(400, 'BadParameter', message),
  disabled: (operation: string): KeyVaultError =>
    new KeyVaultError(
      403,
      'Forbidden',
      `Operation ${operation} is not allowed on a disabled key.`,
      'KeyDisabled',
    ),
  // Not-yet-valid / expired keys refuse the "protect" operations only (about-keys-details: decrypt,
  // unwrap and verify keep working so data protected while the key was valid stays readable).
  expired: (operation: string): KeyVaultError =>
    new KeyVaultError(
      403,
      'Forbidden',
      `Operation ${operation} is not allowed on an expired key.`,
      'KeyExpired',
    ),
  notYetValid: (operation: string): KeyVaultError =>
    new KeyVaultError(
      403,
      'Forbidden',
      `Operation ${operation} is not allowed on a key that is not yet valid.`,
      'KeyNotYetValid',
    ),
  operationNotPermitted: (operation: string): KeyVaultError =>
    new KeyVaultError(
      403,
      'Forbidden',
      `Operation ${operation} is not permitted on this key.`,
      'KeyOperationForbidden',
    ),
  purgeProtected: (vaultTag: string): KeyVaultError =>
    new KeyVaultError(
      403,
      'Forbidden',
      `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed. Vault: ${vaultTag}`,
    ),
  accessPolicyDenied: (callerTag: string, permission: string, vaultTag: string): KeyVaultError =>
    new KeyVaultError(
      403,
      'Forbidden',
      `The user, group or application '${callerTag}' does not have keys ${permission} permission on key vault '${vaultTag}'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`,
      'ForbiddenByPolicy',
    ),
  rbacDenied: (callerTag: string, action: string, scope: string, vaultTag: string): KeyVaultError =>
    new KeyVaultError(
      403,
      'Forbidden',
      [
        'Caller is not authorized to perform action on resource.',
        'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.',
        `Caller: ${callerTag}`,
        `Action: '${action}'`,
        `Resource: '${scope.toLowerCase()}'`,
        'Assignment: (not found)',
        'DenyAssignmentId: null',
        'DecisionReason: null ',
        `Vault: ${vaultTag}`,
        '',
      ].join('\r\n'),
      'ForbiddenByRbac',
    ),
  firewall: (clientAddress: string, callerTag: string, vaultTag: string): KeyVaultError =>
    new KeyVaultError(
      403,
      'Forbidden',
      `Client address is not authorized and caller is not a trusted service.\r\nClient address: ${clientAddress}\r\nCaller: ${callerTag}\r\nVault: ${vaultTag}`,
      'ForbiddenByFirewall',
    ),
  publicAccessDisabled: (clientAddress: string, callerTag: string, vaultTag: string): KeyVaultError =>
    new KeyVaultError(
      403,
      'Forbidden',
      `Public network access is disabled and request is not from a trusted service nor via an approved private link.\r\nCaller: ${callerTag}\r\nVault: ${vaultTag}\r\nClient address: ${clientAddress}`,
      'ForbiddenByConnection',
    ),
  unauthorized: (message = 'Request is missing a Bearer or PoP token.'): KeyVaultError =>
    new KeyVaultError(401, 'Unauthorized', message),
};

/** ARM-side (Microsoft.KeyVault resource provider) errors: `{ error: { code, message } }`. */
export const armErrors = {
  vaultNotFound: (name: string, rg: string): KeyVaultError =>
    new KeyVaultError(
      404,
      'ResourceNotFound',
      `The Resource 'Microsoft.KeyVault/vaults/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    ),
  deletedVaultNotFound: (name: string): KeyVaultError =>
    new KeyVaultError(404, 'ResourceNotFound', `The deleted vault '${name}' was not found.`),
  invalidName: (name: string): KeyVaultError =>
    new KeyVaultError(
      400,
      'VaultNameNotValid',
      `The vault name '${name}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens. Follow this link for more information: https://go.microsoft.com/fwlink/?linkid=2147742`,
    ),
  nameTaken: (name: string): KeyVaultError =>
    new KeyVaultError(
      409,
      'VaultAlreadyExists',
      `The vault name '${name}' is already in use. Vault names are globally unique so it is possible that the name is already taken. If you are sure that the vault name was not taken then it is possible that a vault with the same name was recently deleted but not purged after being placed in a recoverable state. If the vault is in a recoverable state then the vault will need to be explicitly purged. Follow this link for more information: https://go.microsoft.com/fwlink/?linkid=2147740`,
    ),
  nameInDeletedState: (): KeyVaultError =>
    new KeyVaultError(
      409,
      'ConflictError',
      'A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault. Follow this link https://go.microsoft.com/fwlink/?linkid=2149745 for more information on soft delete.',
    ),
  badRequest: (message: string): KeyVaultError => new KeyVaultError(400, 'BadRequest', message),
  purgeProtected: (name: string): KeyVaultError =>
    new KeyVaultError(
      409,
      'ConflictError',
      `Vault '${name}' has purge protection enabled and cannot be purged before its scheduled purge date.`,
    ),
};
