/**
 * `local.settings.json`, as Core Tools reads it: `Values` become environment variables (a variable
 * already set in the environment wins), `Host.LocalHttpPort` is the default port. The host's function
 * keys may be pinned under `Host.Keys` (otherwise they are generated at start and printed).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { HostKeys } from './keys';

export interface LocalSettings {
  values: Record<string, string>;
  port?: number;
  keys: Partial<HostKeys>;
  file?: string;
}

interface LocalSettingsFile {
  IsEncrypted?: boolean;
  Values?: Record<string, unknown>;
  Host?: { LocalHttpPort?: unknown; Keys?: Record<string, unknown> };
}

export function readLocalSettings(root: string, file?: string): LocalSettings {
  const candidates = file
    ? [path.resolve(file)]
    : [path.join(root, 'local.settings.json'), path.join(root, 'local.settings.sample.json')];
  const found = candidates.find((f) => existsSync(f));
  if (!found) return { values: {}, keys: {} };
  let parsed: LocalSettingsFile;
  try {
    parsed = JSON.parse(readFileSync(found, 'utf8')) as LocalSettingsFile;
  } catch (error) {
    throw new Error(`${found} is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed.IsEncrypted) throw new Error(`${found} is encrypted; the local host reads only plain settings.`);
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed.Values ?? {})) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') values[k] = String(v);
  }
  const keys: Partial<HostKeys> = {};
  const k = parsed.Host?.Keys ?? {};
  if (typeof k.master === 'string') keys.master = k.master;
  if (typeof k.function === 'string') keys.function = k.function;
  if (typeof k.eventGridExtension === 'string') keys.eventGridExtension = k.eventGridExtension;
  if (typeof k.durableTaskExtension === 'string') keys.durableTaskExtension = k.durableTaskExtension;
  const port = Number(parsed.Host?.LocalHttpPort);
  return { values, keys, file: found, ...(Number.isInteger(port) && port > 0 ? { port } : {}) };
}

/** Copies settings into the environment without overriding what the environment already says. */
export function applySettings(values: Record<string, string>, env: NodeJS.ProcessEnv = process.env): void {
  for (const [k, v] of Object.entries(values)) if (env[k] === undefined) env[k] = v;
}
