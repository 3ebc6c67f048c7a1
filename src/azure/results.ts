import { describeAzureError } from './errors';

/** A call that Azure refused or could not find: a fact for the caller, not an exception. */
export type Refusal = { ok: false; status: number | undefined; code: string; detail: string };
export type Result<T> = { ok: true; value: T } | Refusal;

/**
 * Turns a failed call into a Refusal — except platform faults (throttling, 5xx, network), which are
 * rethrown so the caller's retry policy (SDK, then Durable) handles them.
 */
export function refusalOrThrow(error: unknown): Refusal {
  const d = describeAzureError(error);
  if (d.transient) throw error;
  return { ok: false, status: d.status, code: d.code, detail: d.detail };
}
