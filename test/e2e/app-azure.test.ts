/**
 * The app's Azure wiring end to end: `npm start`'s composition (emulated Azure + local host on one
 * clock), the app's real credential (managed identity endpoint) and SDK clients over HTTPS — observed
 * only through the app's HTTP API and the sandbox's control API.
 */
import { startLocalEstate, type LocalEstate } from '../support/localEstate';

let estate: LocalEstate;

beforeAll(async () => {
  estate = await startLocalEstate();
});

afterAll(async () => estate?.stop());

const withKey = () => ({ headers: { 'x-functions-key': estate.app.keys.function } });

interface AzureHealth {
  status: string;
  subscriptions: Array<{ subscriptionId: string }>;
  findings: string[];
}

it('reports that the app identity sees no subscription before it holds a role', async () => {
  const response = await estate.app.json<AzureHealth>('/api/health/azure', withKey());
  expect(response.status).toBe(200);
  expect(response.body.status).toBe('degraded');
  expect(response.body.subscriptions).toEqual([]);
  expect(response.body.findings.join(' ')).toMatch(/holds no role anywhere/);
});

it('sees the subscription once the app identity is granted Reader — through its managed identity token', async () => {
  const scope = `/subscriptions/${estate.azure.subscriptionId}`;
  const granted = await estate.azure.control('POST', '/role-assignments', {
    principalId: estate.azure.app.objectId,
    role: 'Reader',
    scope,
  });
  expect(granted.status).toBeLessThan(300);
  const response = await estate.app.json<AzureHealth>('/api/health/azure', withKey());
  expect(response.status).toBe(200);
  expect(response.body.status).toBe('ok');
  expect(response.body.subscriptions.map((s) => s.subscriptionId)).toEqual([estate.azure.subscriptionId]);

  // The sandbox saw the app's own identity (not an admin) make the call.
  const log = await estate.azure.control<
    | Array<{ principal?: string; path: string; status: number }>
    | { requests: Array<{ principal?: string; path: string; status: number }> }
  >('GET', `/requests?principal=${estate.azure.app.objectId}`);
  const entries = Array.isArray(log.body) ? log.body : log.body.requests;
  expect(entries.some((e) => e.path.startsWith('/subscriptions') && e.status === 200)).toBe(true);
});

it('rides through a transient 429 with the SDK retry, and reports a persistent fault as 503 problem+json', async () => {
  const once = await estate.azure.control('POST', '/faults', {
    match: { service: 'arm', path: '^/subscriptions$' },
    effect: { type: 'throttle', retryAfterSeconds: 0 },
    count: 1,
  });
  expect(once.status).toBeLessThan(300);
  expect((await estate.app.json<AzureHealth>('/api/health/azure', withKey())).status).toBe(200);

  await estate.azure.control('POST', '/faults', {
    match: { service: 'arm', path: '^/subscriptions$' },
    effect: { type: 'error', status: 403, code: 'AuthorizationFailed', message: 'no' },
  });
  const refused = await estate.app.json<{ status: number; code: string; detail: string }>(
    '/api/health/azure',
    withKey(),
  );
  expect(refused.status).toBe(503);
  expect(refused.body.code).toBe('AuthorizationFailed');
  expect(refused.body.detail).toContain('403 AuthorizationFailed');
  await estate.azure.control('DELETE', '/faults');
});
