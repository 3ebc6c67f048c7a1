/**
 * Request bodies of `POST /api/cmk/enable` and `POST /api/cmk/diagnose`: structure checked with zod,
 * ids parsed and normalised here, every problem reported at once with its field path.
 *
 * Two deliberate choices:
 * - A well-formed key id whose host is not a Key Vault of this cloud is NOT a 400: it is kept with
 *   `hostTrusted: false` so the preflight reports it (PRE-007) next to every other finding, and the
 *   gateways never call it.
 * - The key count is bounded here only against oversized bodies (MAX_KEYS_IN_REQUEST); the 1..3 rule
 *   is the preflight's PRE-005, so a dry run with four keys still shows every other finding too.
 */
import { z } from 'zod';
import type { EncryptionIdentity, KeyRef } from './cmkState';
import {
  KeyVaultUrlError,
  ResourceIdError,
  parseKeyVaultKeyId,
  parseKeyVaultKeyIdShape,
  parseServiceBusNamespaceId,
  parseUserAssignedIdentityId,
  type GroupedResourceId,
  type KeyVaultKeyId,
} from './resourceIds';

/** Hard cap on `keys` (the service takes 3; more than this is a malformed body, not a finding). */
export const MAX_KEYS_IN_REQUEST = 10;
const MAX_STRING = 2048;

/** One problem with the input, RFC 7807-friendly: `field` is a JSON path like `keys[1].keyId`. */
export interface RequestProblem {
  field: string;
  message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; problems: RequestProblem[] };

export interface RequestedKey extends KeyRef {
  /** Position in the request's `keys`. */
  index: number;
}

export interface EnableCmkRequest {
  namespace: GroupedResourceId;
  keys: RequestedKey[];
  identity: EncryptionIdentity;
  requireInfrastructureEncryption: boolean;
  dryRun: boolean;
}

export interface DiagnoseCmkRequest {
  namespace: GroupedResourceId;
}

const str = z.string().max(MAX_STRING, `must be at most ${MAX_STRING} characters`);

const keyInputSchema = z.union([
  z.strictObject({ keyId: str }),
  z.strictObject({ vaultUri: str, keyName: str, keyVersion: str.optional() }),
]);

const identitySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('SystemAssigned') }),
  z.strictObject({ type: z.literal('UserAssigned'), resourceId: str }),
]);

const enableSchema = z.strictObject({
  namespaceId: str,
  keys: z
    .array(keyInputSchema)
    .min(1, 'must list at least one key')
    .max(MAX_KEYS_IN_REQUEST, `must list at most ${MAX_KEYS_IN_REQUEST} keys (a namespace takes 1 to 3)`),
  identity: identitySchema.optional(),
  requireInfrastructureEncryption: z.boolean().optional(),
  dryRun: z.boolean().optional(),
});

const diagnoseSchema = z.strictObject({ namespaceId: str });

function pathOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out || '(body)';
}

function zodProblems(error: z.ZodError): RequestProblem[] {
  return error.issues.flatMap((issue): RequestProblem[] => {
    const field = pathOf(issue.path);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({
        field: field === '(body)' ? k : `${field}.${k}`,
        message: 'is not a recognised field',
      }));
    }
    if (issue.code === 'invalid_union' && field.startsWith('keys[')) {
      return [{ field, message: 'must be { keyId } or { vaultUri, keyName, keyVersion? }' }];
    }
    if (issue.code === 'invalid_union' && field === 'identity') {
      return [
        {
          field,
          message: "must be { type: 'SystemAssigned' } or { type: 'UserAssigned', resourceId }",
        },
      ];
    }
    if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
      return [{ field, message: 'is required' }];
    }
    return [{ field, message: issue.message.replace(/^Invalid input: /, '') }];
  });
}

function namespaceFrom(input: string, problems: RequestProblem[]): GroupedResourceId | undefined {
  try {
    return parseServiceBusNamespaceId(input);
  } catch (e) {
    if (e instanceof ResourceIdError) {
      problems.push({ field: 'namespaceId', message: e.message });
      return undefined;
    }
    throw e;
  }
}

function toRequestedKey(parsed: KeyVaultKeyId, index: number, hostTrusted: boolean): RequestedKey {
  const { vaultUri, host, keyName, keyVersion, keyId, versionlessKeyId, vaultName } = parsed;
  return {
    index,
    vaultUri,
    host,
    ...(hostTrusted ? { vaultName } : {}),
    keyName,
    ...(keyVersion !== undefined ? { keyVersion } : {}),
    keyId,
    versionlessKeyId,
    hostTrusted,
  };
}

/** Parses one key (either form); a foreign host yields an untrusted key, anything else malformed a problem. */
function keyFrom(
  input: z.infer<typeof keyInputSchema>,
  index: number,
  keyVaultDnsSuffix: string,
  problems: RequestProblem[],
): RequestedKey | undefined {
  let keyIdText: string;
  let field: string;
  if ('keyId' in input) {
    keyIdText = input.keyId;
    field = `keys[${index}].keyId`;
  } else {
    // Compose the id so both forms share one parser; a vault URI with a path is refused first.
    const uri = input.vaultUri.trim();
    field = `keys[${index}].vaultUri`;
    let url: URL | undefined;
    try {
      url = new URL(uri);
    } catch {
      problems.push({
        field,
        message: `'${uri}' is not a URL; expected https://{vault}.${keyVaultDnsSuffix}/.`,
      });
      return undefined;
    }
    if (url.pathname.replace(/\/+$/, '') !== '' || url.search || url.hash) {
      problems.push({
        field,
        message: `'${uri}' must be just the vault URI (https://{vault}.${keyVaultDnsSuffix}/), without a path or query.`,
      });
      return undefined;
    }
    const version = input.keyVersion?.trim();
    keyIdText = `${uri.replace(/\/+$/, '')}/keys/${input.keyName.trim()}${version ? `/${version}` : ''}`;
    if (!/^[0-9A-Za-z-]{1,127}$/.test(input.keyName.trim())) {
      problems.push({
        field: `keys[${index}].keyName`,
        message: `'${input.keyName}' is not a valid key name: 1-127 letters, digits and hyphens.`,
      });
      return undefined;
    }
    if (version && !/^[0-9a-f]{32}$/i.test(version)) {
      problems.push({
        field: `keys[${index}].keyVersion`,
        message: `'${version}' is not a key version (32 hexadecimal characters); omit it to follow rotation.`,
      });
      return undefined;
    }
  }
  try {
    return toRequestedKey(parseKeyVaultKeyId(keyIdText, keyVaultDnsSuffix), index, true);
  } catch (e) {
    if (!(e instanceof KeyVaultUrlError)) throw e;
    if (e.reason === 'foreignHost') {
      try {
        return toRequestedKey(parseKeyVaultKeyIdShape(keyIdText), index, false);
      } catch {
        // Not even shaped like a key id: the foreign-host message is still the most useful one.
      }
    }
    problems.push({ field, message: e.message });
    return undefined;
  }
}

function identityFrom(
  input: z.infer<typeof identitySchema> | undefined,
  problems: RequestProblem[],
): EncryptionIdentity | undefined {
  if (!input || input.type === 'SystemAssigned') return { type: 'SystemAssigned' };
  try {
    return { type: 'UserAssigned', resourceId: parseUserAssignedIdentityId(input.resourceId).id };
  } catch (e) {
    if (e instanceof ResourceIdError) {
      problems.push({ field: 'identity.resourceId', message: e.message });
      return undefined;
    }
    throw e;
  }
}

/**
 * Validates and normalises an enable request body. Identity defaults to system-assigned,
 * infrastructure encryption and dry run to false.
 */
export function parseEnableCmkRequest(
  body: unknown,
  keyVaultDnsSuffix: string,
): ParseResult<EnableCmkRequest> {
  const shaped = enableSchema.safeParse(body);
  if (!shaped.success) return { ok: false, problems: zodProblems(shaped.error) };
  const input = shaped.data;
  const problems: RequestProblem[] = [];
  const namespace = namespaceFrom(input.namespaceId, problems);
  const keys = input.keys.map((k, i) => keyFrom(k, i, keyVaultDnsSuffix, problems));
  const identity = identityFrom(input.identity, problems);
  if (problems.length > 0 || !namespace || !identity) return { ok: false, problems };
  return {
    ok: true,
    value: {
      namespace,
      keys: keys.filter((k): k is RequestedKey => k !== undefined),
      identity,
      requireInfrastructureEncryption: input.requireInfrastructureEncryption ?? false,
      dryRun: input.dryRun ?? false,
    },
  };
}

/** Validates and normalises a diagnose request body. */
export function parseDiagnoseCmkRequest(body: unknown): ParseResult<DiagnoseCmkRequest> {
  const shaped = diagnoseSchema.safeParse(body);
  if (!shaped.success) return { ok: false, problems: zodProblems(shaped.error) };
  const problems: RequestProblem[] = [];
  const namespace = namespaceFrom(shaped.data.namespaceId, problems);
  if (!namespace) return { ok: false, problems };
  return { ok: true, value: { namespace } };
}
