/**
 * Request body of `POST /api/keys/impact`: what would break if a key, a vault or an identity changed.
 * One zod schema (built on first use, like requests.ts — docs/ARCHITECTURE.md "Cold start"), ids
 * parsed and normalised here, every problem reported at once with its field path.
 *
 * Unlike enable, a key or vault host outside the cloud's Key Vault suffix is a 400 here: there is no
 * finding list to carry it, and the answer (nothing in the index can use it) would only mislead.
 */
import type { z } from 'zod';
import { KEY_CHANGES, type ImpactTarget, type KeyChange } from './keyImpact';
import type { ParseResult, RequestProblem } from './requests';
import { zodProblems } from './requests';
import {
  KeyVaultUrlError,
  ResourceIdError,
  keyVaultKeyIdFromParts,
  parseKeyVaultKeyId,
  parseKeyVaultUri,
  parseUserAssignedIdentityId,
} from './resourceIds';

const MAX_STRING = 2048;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Key Vault names: 3–24 letters, digits and hyphens, starting with a letter, no trailing hyphen. */
const VAULT_NAME = /^[a-zA-Z](?:[a-zA-Z0-9-]{1,22})[a-zA-Z0-9]$/;

export interface KeyImpactRequest {
  target: ImpactTarget;
  change: KeyChange;
}

function buildSchema(z: typeof import('zod')) {
  const str = z.string().max(MAX_STRING, `must be at most ${MAX_STRING} characters`);
  return z
    .strictObject({
      key: z
        .union([
          z.strictObject({ keyId: str }),
          z.strictObject({ vaultUri: str, keyName: str, keyVersion: str.optional() }),
        ])
        .optional(),
      vault: z.union([z.strictObject({ vaultName: str }), z.strictObject({ vaultUri: str })]).optional(),
      identity: z
        .union([z.strictObject({ principalId: str }), z.strictObject({ resourceId: str })])
        .optional(),
      change: z.enum(KEY_CHANGES),
    })
    .superRefine((body, ctx) => {
      if (!body.key && !body.vault && !body.identity) {
        ctx.addIssue({ code: 'custom', path: [], message: 'name a key, a vault or an identity' });
      }
      if (body.key && body.vault) {
        ctx.addIssue({
          code: 'custom',
          path: ['vault'],
          message: 'give a key or a vault, not both (the key already names its vault)',
        });
      }
    });
}

type Schema = ReturnType<typeof buildSchema>;
let built: Schema | undefined;
function schema(): Schema {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred loading is the point
  built ??= buildSchema(require('zod') as typeof import('zod'));
  return built;
}

const UNION_MESSAGES: Record<string, string> = {
  key: 'must be { keyId } or { vaultUri, keyName, keyVersion? }',
  vault: 'must be { vaultName } or { vaultUri }',
  identity: 'must be { principalId } or { resourceId } (a user-assigned identity)',
};

function problemsOf(error: z.ZodError, body: unknown): RequestProblem[] {
  const given = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  return zodProblems(error, body).map((p) => {
    const union = UNION_MESSAGES[p.field];
    if (union && error.issues.some((i) => i.code === 'invalid_union' && i.path.join('.') === p.field)) {
      return { field: p.field, message: union };
    }
    if (p.field === '(body)' && p.message === 'name a key, a vault or an identity') return p;
    if (p.field === 'change') {
      return {
        field: p.field,
        message: given.change === undefined ? 'is required' : `must be one of ${KEY_CHANGES.join(', ')}`,
      };
    }
    return p;
  });
}

function urlProblem(e: unknown, field: string, problems: RequestProblem[]): undefined {
  if (!(e instanceof KeyVaultUrlError)) throw e;
  problems.push({ field, message: e.message });
  return undefined;
}

/**
 * Validates `{ key | vault | identity (identity may be combined with key or vault), change }`.
 * An identity can only lose access (`revokeAccess`, or `delete`: a deleted identity loses it too).
 */
export function parseKeyImpactRequest(
  body: unknown,
  keyVaultDnsSuffix: string,
): ParseResult<KeyImpactRequest> {
  const shaped = schema().safeParse(body);
  if (!shaped.success) return { ok: false, problems: problemsOf(shaped.error, body) };
  const input = shaped.data;
  const problems: RequestProblem[] = [];
  const target: ImpactTarget = {};

  if (input.key) {
    const field = 'keyId' in input.key ? 'key.keyId' : 'key.vaultUri';
    try {
      const parsed =
        'keyId' in input.key
          ? parseKeyVaultKeyId(input.key.keyId, keyVaultDnsSuffix)
          : keyVaultKeyIdFromParts(input.key, keyVaultDnsSuffix);
      target.key = {
        vaultName: parsed.vaultName,
        keyName: parsed.keyName,
        versionlessKeyId: parsed.versionlessKeyId,
        ...(parsed.keyVersion !== undefined ? { keyVersion: parsed.keyVersion } : {}),
      };
    } catch (e) {
      urlProblem(e, field, problems);
    }
  }
  if (input.vault) {
    if ('vaultName' in input.vault) {
      if (VAULT_NAME.test(input.vault.vaultName) && !input.vault.vaultName.includes('--')) {
        target.vaultName = input.vault.vaultName.toLowerCase();
      } else {
        problems.push({
          field: 'vault.vaultName',
          message: `'${input.vault.vaultName}' is not a key vault name: 3-24 letters, digits and hyphens, starting with a letter.`,
        });
      }
    } else {
      try {
        target.vaultName = parseKeyVaultUri(input.vault.vaultUri, keyVaultDnsSuffix).vaultName;
      } catch (e) {
        urlProblem(e, 'vault.vaultUri', problems);
      }
    }
  }
  if (input.identity) {
    if ('principalId' in input.identity) {
      if (GUID.test(input.identity.principalId.trim())) {
        target.identity = { principalId: input.identity.principalId.trim().toLowerCase() };
      } else {
        problems.push({ field: 'identity.principalId', message: 'must be an object id (a GUID)' });
      }
    } else {
      try {
        target.identity = { resourceId: parseUserAssignedIdentityId(input.identity.resourceId).id };
      } catch (e) {
        if (!(e instanceof ResourceIdError)) throw e;
        problems.push({ field: 'identity.resourceId', message: e.message });
      }
    }
    if (input.change === 'disable' || input.change === 'expire') {
      problems.push({
        field: 'change',
        message: `an identity cannot be ${input.change}d on a key; it can only lose access: use revokeAccess (or delete for a deleted identity)`,
      });
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { target, change: input.change } };
}
