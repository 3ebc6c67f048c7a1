/**
 * Helpers for the Geo-DR end-to-end tests, on top of the enable-CMK support module: pairs and aliases
 * through ARM as the administrator, and the app's `POST /api/cmk/geo-dr` followed to the end.
 */
import { Estate, type Operation } from './enable-cmk-support';

export interface GeoDrOutput {
  outcome: 'enabled' | 'noOp' | 'blocked' | 'restored' | 'failed' | 'critical';
  summary: string;
  order?: string;
  pairing: { alias: string; intact: boolean; state: string; detail: string };
  findings: Array<{
    ruleId: string;
    severity: string;
    blocks: boolean;
    message: string;
    fix: string;
    command?: string;
  }>;
  steps: Array<{ kind: string; status: string; detail?: string }>;
  grants: Array<{ vaultName: string; kind: string; principalId: string; scope: string }>;
  subOperations: Array<{ kind: string; namespaceId: string; outcome: string; summary: string }>;
  error?: { step: string; code: string; detail: string };
  critical?: { alias: string; primaryNamespaceId: string; secondaryNamespaceId: string; command: string };
}

export interface AliasBody {
  name: string;
  properties: {
    provisioningState: string;
    pendingReplicationOperationsCount: number;
    partnerNamespace: string;
    role: string;
  };
}

const SB = '2021-11-01';

/** The aliases of a namespace, as the administrator sees them. */
export async function aliasesOf(e: Estate, ns: string): Promise<AliasBody[]> {
  const body = await e.arm<{ value: AliasBody[] }>(
    'GET',
    `${e.nsId(ns)}/disasterRecoveryConfigs?api-version=${SB}`,
  );
  return body.value;
}

/** Pairs two namespaces as the administrator and lets the pairing complete on the clock. */
export async function pairAndSettle(
  e: Estate,
  primary: string,
  secondary: string,
  alias: string,
): Promise<void> {
  await e.pair(primary, secondary, alias);
  await e.estate.azure.control('POST', '/clock/advance', { duration: 'PT2M' });
  const [a] = await aliasesOf(e, primary);
  if (a?.properties.provisioningState !== 'Succeeded') throw new Error(`pairing ${alias} did not settle`);
}

/** Is the pairing intact (primary Primary with that partner and the partner Secondary)? */
export async function isPaired(
  e: Estate,
  primary: string,
  secondary: string,
  alias: string,
): Promise<boolean> {
  const [p] = await aliasesOf(e, primary);
  const [s] = await aliasesOf(e, secondary);
  return (
    p?.name === alias &&
    p.properties.role === 'Primary' &&
    p.properties.partnerNamespace.toLowerCase() === e.nsId(secondary).toLowerCase() &&
    s?.properties.role === 'Secondary'
  );
}

export function geoBody(
  e: Estate,
  primary: string,
  secondary: string,
  alias: string,
  keys: string[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    primaryNamespaceId: e.nsId(primary),
    secondaryNamespaceId: e.nsId(secondary),
    alias,
    keys: keys.map((keyId) => ({ keyId })),
    ...extra,
  };
}

/** Starts a Geo-DR operation and follows it to the end. */
export async function geoDr(
  e: Estate,
  body: Record<string, unknown>,
): Promise<{ id: string; op: Operation<GeoDrOutput> }> {
  const start = await e.post<{ id: string }>('/api/cmk/geo-dr', body);
  if (start.status !== 202) throw new Error(`geo-dr answered ${start.status}: ${JSON.stringify(start.body)}`);
  return { id: start.body.id, op: await e.settle<GeoDrOutput>(start.body.id) };
}

/** `METHOD path` of writes, for order assertions. */
export const writesOf = (entries: Array<{ method: string; path: string }>): string[] =>
  entries.map((w) => `${w.method} ${w.path}`);
