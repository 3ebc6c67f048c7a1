/** The activity wrapper of src/orchestrations/plumbing.ts: each error class ends where it must. */
import { RestError } from '@azure/core-rest-pipeline';
import {
  activity,
  isUnpropagatedGrantRefusal,
  operationError,
  StepFailed,
} from '../../src/orchestrations/plumbing';

const context = () => {
  const errors: string[] = [];
  return {
    errors,
    ctx: { functionName: 'act', invocationId: 'i', error: (m: string) => errors.push(m) } as never,
  };
};

describe('activity()', () => {
  it('passes values through', async () => {
    expect(await activity(async (n: number) => ({ ok: true, n }))(2)).toEqual({ ok: true, n: 2 });
  });

  it('rethrows a platform fault, so Durable retries it', async () => {
    const fault = new RestError('busy', { statusCode: 503, code: 'ServiceUnavailable' });
    await expect(activity(async () => Promise.reject(fault))(0)).rejects.toBe(fault);
  });

  it('returns a thrown refusal as a refusal failure', async () => {
    const e = new RestError('no', { statusCode: 403, code: 'AuthorizationFailed' });
    expect(await activity(async () => Promise.reject(e))(0)).toEqual({
      ok: false,
      class: 'refusal',
      code: 'AuthorizationFailed',
      status: 403,
      detail: '403 AuthorizationFailed: no',
    });
  });

  it('returns a bug as a bug failure and logs it with the stack', async () => {
    const { errors, ctx } = context();
    const r = await activity(async () => {
      throw new RangeError('index out of range');
    })(0, ctx);
    expect(r).toEqual({
      ok: false,
      class: 'bug',
      code: 'RangeError',
      detail: 'RangeError: index out of range',
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^BUG in act \(i\): RangeError: index out of range\n.*RangeError/s);
  });
});

describe('operationError / isUnpropagatedGrantRefusal', () => {
  it('maps each class to its status', () => {
    const f = (c: 'bug' | 'platform' | 'refusal', status?: number) =>
      operationError(new StepFailed('s', { class: c, code: 'X', detail: 'd', ...(status ? { status } : {}) }))
        .status;
    expect([f('bug'), f('platform'), f('refusal', 409), f('refusal')]).toEqual([500, 503, 409, 422]);
  });

  it('retries only 400 BadRequest refusals, and only after a grant of this run', () => {
    const refusal = {
      ok: false as const,
      class: 'refusal' as const,
      code: 'BadRequest',
      status: 400,
      detail: 'd',
    };
    expect(isUnpropagatedGrantRefusal(refusal, { grantedThisRun: true })).toBe(true);
    expect(isUnpropagatedGrantRefusal(refusal, { grantedThisRun: false })).toBe(false);
    expect(
      isUnpropagatedGrantRefusal({ ...refusal, status: 409, code: 'Conflict' }, { grantedThisRun: true }),
    ).toBe(false);
    expect(isUnpropagatedGrantRefusal({ ...refusal, class: 'bug' }, { grantedThisRun: true })).toBe(false);
  });
});
