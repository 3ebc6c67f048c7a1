/**
 * Function keys, enforced as the Functions host does: `authLevel: 'function'` accepts the function's
 * own key, the default host key or the master key (`code` query or `x-functions-key` header);
 * `admin` accepts only the master key; `anonymous` accepts anyone. Extension webhooks (Event Grid,
 * Durable) take their system key, as in Azure.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface HostKeys {
  master: string;
  /** The host-wide default function key. */
  function: string;
  /** Per-function keys (function name, case-insensitive → key). */
  functions?: Record<string, string>;
  /** System keys of the extensions' webhooks. */
  eventGridExtension: string;
  durableTaskExtension: string;
}

export type AuthLevel = 'anonymous' | 'function' | 'admin';

export function generateKeys(partial: Partial<HostKeys> = {}): HostKeys {
  const key = (): string => randomBytes(30).toString('base64url');
  return {
    master: partial.master ?? key(),
    function: partial.function ?? key(),
    functions: partial.functions ?? {},
    eventGridExtension: partial.eventGridExtension ?? key(),
    durableTaskExtension: partial.durableTaskExtension ?? key(),
  };
}

/** The key a request presents, if any: `x-functions-key` header first, then `code` query. */
export function presentedKey(
  headers: Record<string, string | string[] | undefined>,
  url: URL,
): string | undefined {
  const header = headers['x-functions-key'];
  const value = Array.isArray(header) ? header[0] : header;
  return value ?? url.searchParams.get('code') ?? undefined;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function authorizeFunction(
  keys: HostKeys,
  level: AuthLevel,
  functionName: string,
  key: string | undefined,
): boolean {
  if (level === 'anonymous') return true;
  if (!key) return false;
  if (same(key, keys.master)) return true;
  if (level === 'admin') return false;
  if (same(key, keys.function)) return true;
  const own = Object.entries(keys.functions ?? {}).find(
    ([name]) => name.toLowerCase() === functionName.toLowerCase(),
  );
  return own !== undefined && same(key, own[1]);
}

export function authorizeSystem(
  keys: HostKeys,
  which: 'eventgrid' | 'durabletask',
  key: string | undefined,
): boolean {
  if (!key) return false;
  return (
    same(key, keys.master) ||
    same(key, which === 'eventgrid' ? keys.eventGridExtension : keys.durableTaskExtension)
  );
}
