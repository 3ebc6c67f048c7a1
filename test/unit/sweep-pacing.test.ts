/**
 * Pacing decisions (src/domain/pacing.ts) and the pipeline policy that applies them
 * (src/azure/armPacing.ts): which budget a request spends, when a call is held and for how long, what
 * a 429's Retry-After does to every call of that budget, and that each activity counts its own calls.
 */
import type { PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { ArmPacer, pacingPolicy, withCallCount } from '../../src/azure/armPacing';
import {
  admit,
  ARM_READ_PACING,
  budgetOf,
  initialPacing,
  observe,
  retryAfterMs,
  type PacingState,
} from '../../src/domain/pacing';

const ENDPOINTS = { resourceManager: 'https://management.azure.com', keyVaultDnsSuffix: 'vault.azure.net' };
const SUB = '00000000-0000-4000-8000-000000000001';

describe('budgetOf', () => {
  it('keys ARM calls by subscription and operation type, and names the header ARM reports it in', () => {
    const read = budgetOf(
      `https://management.azure.com/subscriptions/${SUB.toUpperCase()}/providers/Microsoft.ServiceBus/namespaces`,
      'GET',
      ENDPOINTS,
    );
    expect(read).toMatchObject({
      key: `arm|${SUB}|reads`,
      kind: 'arm',
      remainingHeader: 'x-ms-ratelimit-remaining-subscription-reads',
      settings: ARM_READ_PACING,
    });
    expect(budgetOf(`https://management.azure.com/subscriptions/${SUB}/x`, 'PATCH', ENDPOINTS)).toMatchObject(
      {
        key: `arm|${SUB}|writes`,
        remainingHeader: 'x-ms-ratelimit-remaining-subscription-writes',
      },
    );
    expect(
      budgetOf('https://management.azure.com/subscriptions?api-version=2022-12-01', 'GET', ENDPOINTS),
    ).toMatchObject({
      key: 'arm|tenant|reads',
      remainingHeader: 'x-ms-ratelimit-remaining-tenant-reads',
    });
  });

  it('keys Key Vault calls by vault host, anything else by host, without an ARM header', () => {
    const kv = budgetOf('https://kv-a.vault.azure.net/keys/k?api-version=7.4', 'GET', ENDPOINTS);
    expect(kv.key).toBe('kv|kv-a.vault.azure.net');
    expect(kv.kind).toBe('keyVault');
    expect(kv.remainingHeader).toBeUndefined();
    expect(budgetOf('https://westeurope.monitoring.azure.com/x', 'POST', ENDPOINTS).kind).toBe('other');
  });
});

describe('admit / observe', () => {
  const s = ARM_READ_PACING; // 250 / 25 per s, reserve 10

  it('lets calls go while the budget is unknown (no answer yet) and counts them', () => {
    let state = initialPacing(0);
    for (let i = 0; i < 300; i++) {
      const d = admit(state, 0, s);
      expect(d.go).toBe(true);
      state = d.state;
    }
    expect(state.admitted).toBe(300);
    expect(state.tokens).toBeUndefined();
  });

  it('holds a call once the estimate falls to the reserve, for exactly the refill time of one token', () => {
    let state: PacingState = observe(initialPacing(0), 0, { status: 200, remaining: 12 }, s);
    // 12 → 11 → 10: two calls go; the third would leave less than the reserve.
    for (const expected of [11, 10]) {
      const d = admit(state, 0, s);
      expect(d.go).toBe(true);
      state = d.state;
      expect(state.tokens).toBe(expected);
    }
    const held = admit(state, 0, s);
    expect(held).toEqual({ go: false, waitMs: 40, state: { ...state, held: 1 } }); // 1 token / 25 per s
    // After the wait one token has come back: it goes.
    expect(admit(held.state, 40, s, false).go).toBe(true);
  });

  it('after a 429 holds every call of the budget until Retry-After has passed', () => {
    const state = observe(initialPacing(0), 1_000, { status: 429, retryAfterMs: 5_000 }, s);
    expect(state).toMatchObject({ tokens: 0, blockedUntil: 6_000, throttled: 1 });
    expect(admit(state, 1_000, s)).toMatchObject({ go: false, waitMs: 5_000 });
    expect(admit(state, 5_999, s)).toMatchObject({ go: false, waitMs: 1 });
    // At 6 s: blocked no more, but the estimate (0 + 5 s × 25) = 125 tokens → go.
    expect(admit(state, 6_000, s).go).toBe(true);
  });

  it('keeps the lower of the reported remaining and its own estimate (calls still in flight)', () => {
    let state = observe(initialPacing(0), 0, { status: 200, remaining: 100 }, s);
    for (let i = 0; i < 50; i++) state = (admit(state, 0, s) as { state: PacingState }).state;
    expect(state.tokens).toBe(50);
    // An older answer arrives saying 90 remain: 50 are still counted as spent.
    expect(observe(state, 0, { status: 200, remaining: 90 }, s).tokens).toBe(50);
    // A newer one saying 20: believed.
    expect(observe(state, 0, { status: 200, remaining: 20 }, s).tokens).toBe(20);
    // Never above the bucket size, however long it was quiet.
    expect(observe(state, 3_600_000, { status: 200 }, s).tokens).toBe(50);
    expect((admit(state, 3_600_000, s) as { state: PacingState }).state.tokens).toBe(249);
  });
});

describe('retryAfterMs', () => {
  const h = (headers: Record<string, string>) => (name: string) => headers[name];
  it.each([
    [{ 'retry-after': '7' }, 7_000],
    [{ 'retry-after-ms': '250' }, 250],
    [{ 'x-ms-retry-after-ms': '40', 'retry-after': '9' }, 40],
    [{ 'retry-after': new Date(10_000).toUTCString() }, 9_000],
    [{ 'retry-after': 'soon' }, undefined],
    [{}, undefined],
  ])('%j → %s ms', (headers, expected) => {
    expect(retryAfterMs(h(headers), 1_000)).toBe(expected);
  });
});

describe('pacingPolicy', () => {
  function response(status: number, headers: Record<string, string>): PipelineResponse {
    return {
      status,
      headers: { get: (n: string) => headers[n.toLowerCase()] } as PipelineResponse['headers'],
      request: {} as PipelineRequest,
    };
  }
  const request = (url: string, method = 'GET') => ({ url, method }) as PipelineRequest;
  const armUrl = `https://management.azure.com/subscriptions/${SUB}/providers/Microsoft.ServiceBus/namespaces`;

  it('holds the calls after a 429 for its Retry-After, counts each attempt in the activity that made it', async () => {
    let now = 0;
    const waits: number[] = [];
    const pacer = new ArmPacer(
      () => now,
      async (ms) => {
        waits.push(ms);
        now += ms;
      },
    );
    const policy = pacingPolicy(pacer, ENDPOINTS);
    const answers = [
      response(429, { 'retry-after': '3', 'x-ms-ratelimit-remaining-subscription-reads': '0' }),
      response(200, { 'x-ms-ratelimit-remaining-subscription-reads': '200' }),
      response(200, {}),
    ];
    const next = jest.fn(async () => answers.shift()!);
    const a = await withCallCount(async () => {
      await policy.sendRequest(request(armUrl), next);
      await policy.sendRequest(request(armUrl), next); // held 3 s
    });
    const b = await withCallCount(async () => {
      await policy.sendRequest(request('https://kv-a.vault.azure.net/keys/k'), next);
    });
    expect(waits).toEqual([3_000]);
    expect(a.calls).toEqual({ arm: 2, keyVault: 0, other: 0, throttled: 1, paced: 1 });
    expect(b.calls).toEqual({ arm: 0, keyVault: 1, other: 0, throttled: 0, paced: 0 });
    // 0 tokens at the 429, 3 s × 25 refilled = 75, one spent = 74: lower than the 200 reported, so kept.
    expect(pacer.snapshot()[`arm|${SUB}|reads`]).toMatchObject({
      tokens: 74,
      admitted: 2,
      held: 1,
      throttled: 1,
    });
  });

  it('learns from an answer carried by a thrown RestError, then rethrows it', async () => {
    const pacer = new ArmPacer(
      () => 0,
      async () => undefined,
    );
    const policy = pacingPolicy(pacer, ENDPOINTS);
    const error = Object.assign(new Error('throttled'), {
      response: response(429, { 'retry-after': '2' }),
    });
    await expect(policy.sendRequest(request(armUrl), () => Promise.reject(error))).rejects.toBe(error);
    expect(pacer.snapshot()[`arm|${SUB}|reads`]).toMatchObject({ blockedUntil: 2_000, throttled: 1 });
  });
});
