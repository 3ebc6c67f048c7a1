/**
 * The app's Azure wiring end to end: `npm start`'s composition (emulated Azure + local host on one
 * clock), the app's real credential (managed identity endpoint) and SDK clients over HTTPS — observed
 * only through the app's HTTP API and the sandbox's control API. Every injected fault is proven hit
 * (the rule's `hits` from `GET /_sandbox/faults`), and each error class gets its own answer:
 * platform fault → retried, then 503; refusal → not retried, a 403-class readiness finding.
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

interface HealthProblem {
  status: number;
  title: string;
  code: string;
  errorClass: string;
  detail: string;
  findings?: string[];
}

interface LogEntry {
  seq: number;
  service: string;
  path: string;
  status: number;
}

/**
 * Adds a fault rule; `served()` then counts the responses the sandbox answered with that fault's status
 * since the rule was added — the proof the fault was hit, and how many times (a rule with `count` is
 * dropped once used up, so its `hits` cannot be read afterwards).
 */
async function addFault(rule: {
  match: { service: string; path?: string };
  effect: unknown;
  count?: number;
}) {
  const log = await estate.azure.control<LogEntry[]>('GET', '/requests');
  const since = log.body.reduce((m, e) => Math.max(m, e.seq), 0);
  const added = await estate.azure.control('POST', '/faults', rule);
  expect(added.status).toBeLessThan(300);
  return {
    served: async (status: number): Promise<number> => {
      const q = `/requests?since=${since}&service=${rule.match.service}`;
      const entries = (await estate.azure.control<LogEntry[]>('GET', q)).body;
      return entries.filter((e) => e.status === status).length;
    },
  };
}

afterEach(async () => {
  await estate.azure.control('DELETE', '/faults');
});

// The token tests come first: once the app holds a token it does not ask the identity endpoint again.
it('an identity endpoint that stays down is a platform fault: retried by the credential, then 503', async () => {
  const fault = await addFault({
    match: { service: 'identity' },
    effect: { type: 'error', status: 503, code: 'ServiceUnavailable', message: 'Injected: MSI down.' },
  });
  const response = await estate.app.json<HealthProblem>('/api/health/azure', withKey());
  expect(response.status).toBe(503);
  expect(response.body).toMatchObject({ errorClass: 'platform', code: 'CredentialUnavailableError' });
  expect(response.body.detail).toContain('HTTP 503');
  // MSAL's managed-identity retry policy: the first request and 3 retries on 503.
  expect(await fault.served(503)).toBe(4);
});

it('a short identity endpoint outage (503 three times) is retried and the check passes', async () => {
  const fault = await addFault({
    match: { service: 'identity' },
    effect: { type: 'error', status: 503, code: 'ServiceUnavailable', message: 'Injected: MSI blip.' },
    count: 3,
  });
  const response = await estate.app.json<AzureHealth>('/api/health/azure', withKey());
  expect(response.status).toBe(200);
  expect(await fault.served(503)).toBe(3);
  expect(await fault.served(200)).toBe(1);
});

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

it('rides through a transient 429 with the SDK retry — the 429 was served', async () => {
  const fault = await addFault({
    match: { service: 'arm', path: '^/subscriptions$' },
    effect: { type: 'throttle', retryAfterSeconds: 0 },
    count: 1,
  });
  const response = await estate.app.json<AzureHealth>('/api/health/azure', withKey());
  expect(response.status).toBe(200);
  expect(response.body.status).toBe('ok');
  expect(await fault.served(429)).toBe(1);
});

it('a persistent platform fault (503) is retried by the SDK, then answered 503 problem+json', async () => {
  const fault = await addFault({
    match: { service: 'arm', path: '^/subscriptions$' },
    effect: {
      type: 'error',
      status: 503,
      code: 'ServiceUnavailable',
      message: 'Injected: ARM unavailable.',
      headers: { 'retry-after': '0' },
    },
  });
  const response = await estate.app.json<HealthProblem>('/api/health/azure', withKey());
  expect(response.status).toBe(503);
  expect(response.body).toMatchObject({ errorClass: 'platform', code: 'ServiceUnavailable' });
  expect(response.body.detail).toContain('503 ServiceUnavailable');
  // core-rest-pipeline's default: the first request and 3 retries.
  expect(await fault.served(503)).toBe(4);
});

it('a 403 is a refusal: not retried, a 403 readiness finding with the fix (not a 503)', async () => {
  const fault = await addFault({
    match: { service: 'arm', path: '^/subscriptions$' },
    effect: { type: 'error', status: 403, code: 'AuthorizationFailed', message: 'Injected: no.' },
  });
  const response = await estate.app.json<HealthProblem>('/api/health/azure', withKey());
  expect(response.status).toBe(403);
  expect(response.body).toMatchObject({ errorClass: 'refusal', code: 'AuthorizationFailed' });
  expect(response.body.detail).toContain('403 AuthorizationFailed');
  expect(response.body.findings).toEqual([expect.stringContaining('--role Reader')]);
  expect(await fault.served(403)).toBe(1);
});
