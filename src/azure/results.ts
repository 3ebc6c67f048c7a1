import { classifyError } from './errors';

/** A call that Azure refused or could not find: a fact for the caller, not an exception. */
export type Refusal = {
  ok: false;
  status: number | undefined;
  code: string;
  detail: string;
  fix?: string;
};
export type Result<T> = { ok: true; value: T } | Refusal;

/**
 * Turns a refusal (errors.ts class `refusal`) into a Refusal value. Platform faults are rethrown so the
 * caller's retry policy (SDK, then Durable) handles them; bugs are rethrown so they fail loudly instead
 * of passing for something Azure said.
 */
export function refusalOrThrow(error: unknown): Refusal {
  const c = classifyError(error);
  if (c.class !== 'refusal') throw error;
  return { ok: false, status: c.status, code: c.code, detail: c.detail, ...(c.fix ? { fix: c.fix } : {}) };
}
