/**
 * ARM throttling with the real SDK: token buckets per subscription + principal + operation type, 429
 * with Retry-After and x-ms-ratelimit-remaining-subscription-* headers, and the SDK's throttling retry
 * policy waiting it out. The sandbox runs on a virtual clock nobody advances: the SDK sleeps Retry-After
 * in real time and buckets refill by the real time that passed too (see throttle.ts). Nothing asserts
 * elapsed time.
 */
import { ResourceManagementClient } from '@azure/arm-resources';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { armClientOptions, httpsJson, SandboxCredential } from '../../sandbox/azure/testing';

let sb: AzureSandbox;

beforeAll(async () => {
  sb = await startAzureSandbox({
    clock: new VirtualClock(Date.UTC(2026, 0, 1)),
    // Small buckets so a handful of requests exhausts them; 1 token/s refills within one Retry-After.
    throttling: {
      reads: { capacity: 3, refillPerSecond: 1 },
      writes: { capacity: 2, refillPerSecond: 1 },
      deletes: { capacity: 2, refillPerSecond: 1 },
    },
  });
});
afterAll(() => sb.close());

test('reads beyond the bucket get 429 + Retry-After and the SDK retries through it', async () => {
  const principal = sb.control.createPrincipal({ displayName: 'busy-reader' }).objectId;
  sb.control.assignRole({
    principalId: principal,
    role: 'Reader',
    scope: `/subscriptions/${sb.subscriptionId}`,
  });
  const admin = new ResourceManagementClient(
    new SandboxCredential(sb, sb.admin.objectId),
    sb.subscriptionId,
    armClientOptions(sb),
  );
  await admin.resourceGroups.createOrUpdate('rg-busy', { location: 'westeurope' });

  // Raw requests: the headers and the refusal as ARM sends them.
  const token = (await sb.control.token(principal)).access_token;
  const url = `${sb.url}/subscriptions/${sb.subscriptionId}/resourcegroups/rg-busy?api-version=2021-04-01`;
  const remaining: string[] = [];
  for (let i = 0; i < 3; i++) {
    const ok = await httpsJson(sb, 'GET', url, { token });
    expect(ok.status).toBe(200);
    remaining.push(String(ok.headers['x-ms-ratelimit-remaining-subscription-reads']));
  }
  expect(remaining[0]).toBe('2');
  const refused = await httpsJson(sb, 'GET', url, { token });
  expect(refused.status).toBe(429);
  expect(refused.headers['retry-after']).toBe('1');
  expect(refused.body).toEqual({
    error: {
      code: 'TooManyRequests',
      message:
        "The request is being throttled as the limit has been reached for operation type - 'Read'. For more information, see - https://aka.ms/armthrottling",
    },
  });

  // Another principal has its own bucket.
  const otherToken = (await sb.control.token(sb.admin.objectId)).access_token;
  expect((await httpsJson(sb, 'GET', url, { token: otherToken })).status).toBe(200);

  // The SDK: throttled, waits Retry-After, succeeds — the log shows the 429 then the 200.
  const mark = sb.control.mark();
  const client = new ResourceManagementClient(
    new SandboxCredential(sb, principal),
    sb.subscriptionId,
    armClientOptions(sb),
  );
  const rg = await client.resourceGroups.get('rg-busy');
  expect(rg.name).toBe('rg-busy');
  const statuses = sb.control.requests({ sinceSeq: mark, principal }).map((r) => r.status);
  expect(statuses[0]).toBe(429);
  expect(statuses[statuses.length - 1]).toBe(200);
});
