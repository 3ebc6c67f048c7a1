/**
 * Request bodies of `POST /api/cmk/enable`, `POST /api/cmk/geo-dr` and `POST /api/cmk/diagnose`: one
 * zod schema per body (enable and Geo-DR share the key, identity and flag fields), structure and ids checked there,
 * ids parsed and normalised here, every problem reported at once with its field path.
 *
 * Two deliberate choices:
 * - A well-formed key id whose host is not a Key Vault of this cloud is NOT a 400: it is kept with
 *   `hostTrusted: false` so the preflight reports it (PRE-007) next to every other finding, and the
 *   gateways never call it.
 * - The key count is bounded here only against oversized bodies (MAX_KEYS_IN_REQUEST); the 1..3 rule
 *   is the preflight's PRE-005, so a dry run with four keys still shows every other finding too.
 */
import type { z } from 'zod';
import type { EncryptionIdentity, KeyRef } from './cmkState';
import {
  KeyVaultUrlError,
  ResourceIdError,
  parseKeyVaultKeyId,
  parseKeyVaultKeyIdShape,
  parseKeyVaultUri,
  UNTRUSTED_HOST_REASONS,
  parseServiceBusNamespaceId,
  parseUserAssignedIdentityId,
  sameResourceId,
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

/** Service Bus alias names: 6–50 letters, digits and hyphens, starting with a letter, not ending with a hyphen. */
export const ALIAS_NAME = /^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$/;

/**
 * The schemas, built on first use: zod is loaded when the first request body is parsed, not when the
 * app registers its functions (docs/ARCHITECTURE.md "Cold start").
 */
function buildSchemas(z: typeof import('zod')) {
  const str = z.string().max(MAX_STRING, `must be at most ${MAX_STRING} characters`);

  const keyInputSchema = z.union([
    z.strictObject({ keyId: str }),
    z.strictObject({ vaultUri: str, keyName: str, keyVersion: str.optional() }),
  ]);

  const identitySchema = z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('SystemAssigned') }),
    z.strictObject({ type: z.literal('UserAssigned'), resourceId: str }),
  ]);

  /** What enable and Geo-DR share: the keys, the identity and the flags. */
  const cmkFields = {
    keys: z
      .array(keyInputSchema)
      .min(1, 'must list at least one key')
      .max(MAX_KEYS_IN_REQUEST, `must list at most ${MAX_KEYS_IN_REQUEST} keys (a namespace takes 1 to 3)`),
    identity: identitySchema.optional(),
    requireInfrastructureEncryption: z.boolean().optional(),
    dryRun: z.boolean().optional(),
  };

  const enableSchema = z.strictObject({ namespaceId: str, ...cmkFields });

  const geoDrSchema = z.strictObject({
    primaryNamespaceId: str,
    secondaryNamespaceId: str,
    alias: str.regex(
      ALIAS_NAME,
      'must be the Geo-DR alias name (6–50 letters, digits and hyphens, starting with a letter)',
    ),
    ...cmkFields,
  });

  const diagnoseSchema = z.strictObject({ namespaceId: str });

  return {
    keyInput: keyInputSchema,
    identity: identitySchema,
    enable: enableSchema,
    geoDr: geoDrSchema,
    diagnose: diagnoseSchema,
  };
}

type Schemas = ReturnType<typeof buildSchemas>;
type KeyInput = z.infer<Schemas['keyInput']>;
type IdentityInput = z.infer<Schemas['identity']>;
type CmkFieldsInput = Pick<
  z.infer<Schemas['enable']>,
  'keys' | 'identity' | 'requireInfrastructureEncryption' | 'dryRun'
>;

let built: Schemas | undefined;
function schemas(): Schemas {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred loading is the point
  built ??= buildSchemas(require('zod') as typeof import('zod'));
  return built;
}

function pathOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out || '(body)';
}

/**
 * When the body fails the schema, the ids that are at least strings are still checked, so a body
 * with a bad id and a structural problem gets both at once (keys are checked once the shape is right).
 */
function structuralProblems(
  error: z.ZodError,
  body: unknown,
  namespaceFields: readonly string[],
): RequestProblem[] {
  const problems = zodProblems(error, body);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return problems;
  const obj = body as Record<string, unknown>;
  const flagged = new Set(problems.map((p) => p.field));
  for (const field of namespaceFields) {
    const value = obj[field];
    if (typeof value === 'string' && !flagged.has(field)) namespaceFrom(value, problems, field);
  }
  const identity = obj.identity as Record<string, unknown> | undefined;
  if (
    identity?.type === 'UserAssigned' &&
    typeof identity.resourceId === 'string' &&
    !flagged.has('identity.resourceId')
  ) {
    identityFrom({ type: 'UserAssigned', resourceId: identity.resourceId }, problems);
  }
  return problems;
}

/** The value at a zod issue's path in the body, `undefined` when the path is absent. */
function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let value = body;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/**
 * zod issues as request problems (shared by every request parser). A missing field is told from a
 * wrongly typed one by looking at the body itself, never by reading zod's wording.
 */
export function zodProblems(error: z.ZodError, body: unknown): RequestProblem[] {
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
    if (issue.code === 'invalid_type' && valueAt(body, issue.path) === undefined) {
      return [{ field, message: 'is required' }];
    }
    return [{ field, message: issue.message.replace(/^Invalid input: /, '') }];
  });
}

function namespaceFrom(
  input: string,
  problems: RequestProblem[],
  field = 'namespaceId',
): GroupedResourceId | undefined {
  try {
    return parseServiceBusNamespaceId(input);
  } catch (e) {
    if (e instanceof ResourceIdError) {
      problems.push({ field, message: e.message });
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

/**
 * Parses one key (either form). A URL the one Key Vault host validator refuses for its host (foreign
 * host, a port, user info, a bad vault name) yields an untrusted key — reported as PRE-007, never
 * called; anything else malformed is a problem with its field.
 */
function keyFrom(
  input: KeyInput,
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
    try {
      parseKeyVaultUri(uri, keyVaultDnsSuffix);
    } catch (e) {
      if (!(e instanceof KeyVaultUrlError)) throw e;
      if (!UNTRUSTED_HOST_REASONS.has(e.reason)) {
        problems.push({ field, message: e.message });
        return undefined;
      }
    }
    const keyName = input.keyName.trim();
    const version = input.keyVersion?.trim();
    if (!/^[0-9A-Za-z-]{1,127}$/.test(keyName)) {
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
    keyIdText = `${uri.replace(/\/+$/, '')}/keys/${keyName}${version ? `/${version}` : ''}`;
  }
  try {
    return toRequestedKey(parseKeyVaultKeyId(keyIdText, keyVaultDnsSuffix), index, true);
  } catch (e) {
    if (!(e instanceof KeyVaultUrlError)) throw e;
    if (UNTRUSTED_HOST_REASONS.has(e.reason)) {
      try {
        return toRequestedKey(parseKeyVaultKeyIdShape(keyIdText), index, false);
      } catch (shapeError) {
        if (!(shapeError instanceof KeyVaultUrlError)) throw shapeError;
        // Not even shaped like a key id: the host message is still the most useful one.
      }
    }
    problems.push({ field, message: e.message });
    return undefined;
  }
}

function identityFrom(
  input: IdentityInput | undefined,
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

type CmkFields = Omit<EnableCmkRequest, 'namespace'>;

/** Keys, identity and flags of an enable or Geo-DR body that passed the schema. */
function cmkFieldsFrom(
  input: CmkFieldsInput,
  keyVaultDnsSuffix: string,
  problems: RequestProblem[],
): CmkFields | undefined {
  const keys = input.keys.map((k, i) => keyFrom(k, i, keyVaultDnsSuffix, problems));
  const identity = identityFrom(input.identity, problems);
  if (!identity) return undefined;
  return {
    keys: keys.filter((k): k is RequestedKey => k !== undefined),
    identity,
    requireInfrastructureEncryption: input.requireInfrastructureEncryption ?? false,
    dryRun: input.dryRun ?? false,
  };
}

/**
 * Validates and normalises an enable request body. Identity defaults to system-assigned,
 * infrastructure encryption and dry run to false.
 */
export function parseEnableCmkRequest(
  body: unknown,
  keyVaultDnsSuffix: string,
): ParseResult<EnableCmkRequest> {
  const shaped = schemas().enable.safeParse(body);
  if (!shaped.success) {
    return { ok: false, problems: structuralProblems(shaped.error, body, ['namespaceId']) };
  }
  const problems: RequestProblem[] = [];
  const namespace = namespaceFrom(shaped.data.namespaceId, problems);
  const fields = cmkFieldsFrom(shaped.data, keyVaultDnsSuffix, problems);
  if (problems.length > 0 || !namespace || !fields) return { ok: false, problems };
  return { ok: true, value: { namespace, ...fields } };
}

export interface EnableCmkGeoDrRequest extends CmkFields {
  primary: GroupedResourceId;
  secondary: GroupedResourceId;
  alias: string;
}

/** Both ids name one namespace (only judged when both are ids). */
function sameNamespaceProblem(body: unknown): RequestProblem | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { primaryNamespaceId: p, secondaryNamespaceId: s } = body as Record<string, unknown>;
  if (typeof p !== 'string' || typeof s !== 'string') return undefined;
  const problems: RequestProblem[] = [];
  const a = namespaceFrom(p, problems);
  const b = namespaceFrom(s, problems);
  return a && b && sameResourceId(a.id, b.id)
    ? { field: 'secondaryNamespaceId', message: 'must differ from primaryNamespaceId' }
    : undefined;
}

/**
 * Validates `{ primaryNamespaceId, secondaryNamespaceId, alias, keys, identity?, requireInfrastructureEncryption?, dryRun? }`:
 * the same schema fields and the same key/identity parsing as `POST /api/cmk/enable`, every problem at once.
 */
export function parseEnableCmkGeoDrRequest(
  body: unknown,
  keyVaultDnsSuffix: string,
): ParseResult<EnableCmkGeoDrRequest> {
  const shaped = schemas().geoDr.safeParse(body);
  const same = sameNamespaceProblem(body);
  if (!shaped.success) {
    const problems = structuralProblems(shaped.error, body, ['primaryNamespaceId', 'secondaryNamespaceId']);
    return { ok: false, problems: [...problems, ...(same ? [same] : [])] };
  }
  const problems: RequestProblem[] = same ? [same] : [];
  const primary = namespaceFrom(shaped.data.primaryNamespaceId, problems, 'primaryNamespaceId');
  const secondary = namespaceFrom(shaped.data.secondaryNamespaceId, problems, 'secondaryNamespaceId');
  const fields = cmkFieldsFrom(shaped.data, keyVaultDnsSuffix, problems);
  if (problems.length > 0 || !primary || !secondary || !fields) return { ok: false, problems };
  return { ok: true, value: { ...fields, primary, secondary, alias: shaped.data.alias } };
}

/** Validates and normalises a diagnose request body. */
export function parseDiagnoseCmkRequest(body: unknown): ParseResult<DiagnoseCmkRequest> {
  const shaped = schemas().diagnose.safeParse(body);
  if (!shaped.success) {
    return { ok: false, problems: structuralProblems(shaped.error, body, ['namespaceId']) };
  }
  const problems: RequestProblem[] = [];
  const namespace = namespaceFrom(shaped.data.namespaceId, problems);
  if (!namespace) return { ok: false, problems };
  return { ok: true, value: { namespace } };
}
