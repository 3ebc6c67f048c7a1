/**
 * The sandbox driven with plain HTTP requests written from the Azure REST API reference (no SDK, none
 * of our client code): the managed identity endpoint, ARM role assignments, error shapes and headers,
 * the control API, and the CONNECT proxy that gives vault host names a route without DNS.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { VirtualClock } from '../../sandbox/clock';
import { reply, startAzureSandbox, type AzureSandbox, type ResourceProvider } from '../../sandbox/azure';

let sb: AzureSandbox;
let sub: string;

/** A provider defined by the test: one Key Vault-host route, to reach through the proxy. */
const probe: ResourceProvider = {
  name: 'Test.Probe',
  register(core) {
    core.routes.keyVault({
      method: 'GET',
      path: '/probe',
      operation: 'Microsoft.KeyVault/vaults/keys/read',
      authorize: () => undefined,
      handler: (ctx) => reply.ok({ vault: ctx.vaultName, caller: ctx.principal?.objectId }),
    });
  },
};

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: Record<string, unknown>;
}

function request(
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const u = new URL(url);
  const send = u.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      {
        method,
        ...(u.protocol === 'https:' ? { ca: sb.caPem } : {}),
        headers: {
          ...headers,
          ...(payload
            ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            json: /^[[{]/.test(text) ? (JSON.parse(text) as Record<string, unknown>) : {},
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

beforeAll(async () => {
  sb = await startAzureSandbox({ clock: new VirtualClock(Date.UTC(2026, 0, 1)), providers: [probe] });
  sub = sb.subscriptionId;
});
afterAll(() => sb.close());

test('managed identity endpoint: GET ?resource=&api-version=2019-08-01 with X-IDENTITY-HEADER', async () => {
  const url = `${sb.app.identityEndpoint}?resource=${encodeURIComponent(sb.url)}&api-version=2019-08-01`;
  const ok = await request('GET', url, { 'X-IDENTITY-HEADER': sb.app.identityHeader });
  expect(ok.status).toBe(200);
  expect(ok.json).toEqual({
    access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) as string,
    expires_on: expect.stringMatching(/^\d+$/) as string,
    resource: sb.url,
    token_type: 'Bearer',
    client_id: sb.app.clientId,
  });
  const header = JSON.parse(
    Buffer.from(String(ok.json.access_token).split('.')[0]!, 'base64url').toString(),
  ) as Record<string, unknown>;
  expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
  expect((await request('GET', url, { 'X-IDENTITY-HEADER': 'wrong-secret-wrong-secret' })).status).toBe(401);
  expect(
    (
      await request('GET', url.replace('2019-08-01', '2018-02-01'), {
        'X-IDENTITY-HEADER': sb.app.identityHeader,
      })
    ).status,
  ).toBe(400);
});

test('ARM: 401 without a token, ARM error shape, request and correlation ids', async () => {
  const res = await request('GET', `${sb.url}/subscriptions/${sub}/resourcegroups?api-version=2021-04-01`, {
    'x-ms-client-request-id': 'c0ffee00-0000-4000-8000-000000000000',
  });
  expect(res.status).toBe(401);
  expect(res.json).toEqual({
    error: {
      code: 'AuthenticationFailed',
      message: "Authentication failed. The 'Authorization' header is missing.",
    },
  });
  expect(res.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  expect(res.headers['x-ms-correlation-request-id']).toBe('c0ffee00-0000-4000-8000-000000000000');

  const forged = await request(
    'GET',
    `${sb.url}/subscriptions/${sub}/resourcegroups?api-version=2021-04-01`,
    { Authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' },
  );
  expect(forged.status).toBe(401);
  expect((forged.json.error as { code: string }).code).toBe('InvalidAuthenticationToken');

  const kvToken = (await sb.control.token(sb.admin.objectId, 'keyvault')).access_token;
  const wrongAudience = await request(
    'GET',
    `${sb.url}/subscriptions/${sub}/resourcegroups?api-version=2021-04-01`,
    { Authorization: `Bearer ${kvToken}` },
  );
  expect((wrongAudience.json.error as { code: string }).code).toBe('InvalidAuthenticationTokenAudience');

  const admin = (await sb.control.token(sb.admin.objectId)).access_token;
  const missing = await request('GET', `${sb.url}/subscriptions/${sub}/resourcegroups`, {
    Authorization: `Bearer ${admin}`,
  });
  expect(missing.status).toBe(400);
  expect(missing.json).toEqual({
    error: {
      code: 'MissingApiVersionParameter',
      message: 'The api-version query parameter (?api-version=) is required for all requests.',
    },
  });
});

test('ARM authenticates before routing; unknown namespaces and types are Azure 404s', async () => {
  const url = `${sb.url}/subscriptions/${sub}/providers/Microsoft.Nope/things?api-version=2021-01-01`;
  expect((await request('GET', url)).status).toBe(401);
  const admin = { Authorization: `Bearer ${(await sb.control.token(sb.admin.objectId)).access_token}` };
  const unknownNs = await request('GET', url, admin);
  expect(unknownNs.status).toBe(404);
  expect(unknownNs.json.error).toEqual({
    code: 'InvalidResourceNamespace',
    message: "The resource namespace 'Microsoft.Nope' is invalid.",
  });
  const unknownType = await request(
    'GET',
    `${sb.url}/subscriptions/${sub}/providers/Microsoft.ManagedIdentity/gadgets?api-version=2023-01-31`,
    admin,
  );
  expect(unknownType.status).toBe(404);
  expect((unknownType.json.error as { code: string }).code).toBe('InvalidResourceType');
});

test('Role Assignments - Create / List For Scope / Delete (2022-04-01), as in the REST reference', async () => {
  const admin = { Authorization: `Bearer ${(await sb.control.token(sb.admin.objectId)).access_token}` };
  const rg = await request(
    'PUT',
    `${sb.url}/subscriptions/${sub}/resourcegroups/rg-wire?api-version=2021-04-01`,
    admin,
    { location: 'westeurope' },
  );
  expect(rg.status).toBe(201);
  const user = sb.control.createPrincipal({ displayName: 'wire-user', principalType: 'User' });
  const scope = `/subscriptions/${sub}/resourceGroups/rg-wire`;
  const name = '05c5a614-a7d6-4502-b150-c2fb455033ff';
  const put = await request(
    'PUT',
    `${sb.url}${scope}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=2022-04-01`,
    admin,
    {
      properties: {
        roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/21090545-7ca7-4776-b22c-e363652d74d2`,
        principalId: user.objectId,
      },
    },
  );
  expect(put.status).toBe(201);
  expect(put.json).toMatchObject({
    id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
    name,
    type: 'Microsoft.Authorization/roleAssignments',
    properties: {
      principalId: user.objectId,
      principalType: 'User',
      scope,
      roleDefinitionId: expect.stringContaining('21090545-7ca7-4776-b22c-e363652d74d2') as string,
    },
  });

  const list = await request(
    'GET',
    `${sb.url}${scope}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=${encodeURIComponent(`principalId eq '${user.objectId}'`)}`,
    admin,
  );
  expect(list.status).toBe(200);
  expect((list.json.value as unknown[]).length).toBe(1);

  // The assignee can now read the group, not write it.
  const userToken = { Authorization: `Bearer ${(await sb.control.token(user.objectId)).access_token}` };
  expect((await request('GET', `${sb.url}${scope}?api-version=2021-04-01`, userToken)).status).toBe(200);
  const refused = await request('PATCH', `${sb.url}${scope}?api-version=2021-04-01`, userToken, {
    tags: { a: 'b' },
  });
  expect(refused.status).toBe(403);
  expect(refused.json.error).toEqual({
    code: 'AuthorizationFailed',
    message: `The client '${user.objectId}' with object id '${user.objectId}' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/write' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  });

  const del = await request(
    'DELETE',
    `${sb.url}${scope}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=2022-04-01`,
    admin,
  );
  expect(del.status).toBe(200);
  expect(
    (
      await request(
        'DELETE',
        `${sb.url}${scope}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=2022-04-01`,
        admin,
      )
    ).status,
  ).toBe(204);
  expect((await request('GET', `${sb.url}${scope}?api-version=2021-04-01`, userToken)).status).toBe(403);
});

test('control API: admin secret required; clock, faults and the request log over HTTP', async () => {
  expect((await request('GET', `${sb.url}/_sandbox/clock`)).status).toBe(401);
  const admin = { Authorization: `Bearer ${sb.adminSecret}` };
  const before = await request('GET', `${sb.url}/_sandbox/clock`, admin);
  expect(before.json).toMatchObject({ kind: 'virtual', now: '2026-01-01T00:00:00.000Z' });
  const after = await request('POST', `${sb.url}/_sandbox/clock/advance`, admin, { duration: 'PT1H30M' });
  expect(after.json.now).toBe('2026-01-01T01:30:00.000Z');

  const fault = await request('POST', `${sb.url}/_sandbox/faults`, admin, {
    match: { service: 'arm', path: '^/subscriptions$' },
    effect: { type: 'throttle', retryAfterSeconds: 7 },
    count: 1,
  });
  expect(fault.status).toBe(200);
  const token = { Authorization: `Bearer ${(await sb.control.token(sb.admin.objectId)).access_token}` };
  const throttled = await request('GET', `${sb.url}/subscriptions?api-version=2022-12-01`, token);
  expect(throttled.status).toBe(429);
  expect(throttled.headers['retry-after']).toBe('7');
  expect((await request('GET', `${sb.url}/subscriptions?api-version=2022-12-01`, token)).status).toBe(200);

  const log = await request(
    'GET',
    `${sb.url}/_sandbox/requests?service=arm&principal=${sb.admin.objectId}`,
    admin,
  );
  const entries = log.json as unknown as Array<Record<string, unknown>>;
  expect(Array.isArray(entries)).toBe(true);
  expect(entries.slice(-2)).toEqual([
    expect.objectContaining({
      method: 'GET',
      path: '/subscriptions',
      status: 429,
      errorCode: 'TooManyRequests',
      operation: 'Microsoft.Resources/subscriptions/read',
      time: '2026-01-01T01:30:00.000Z',
    }),
    expect.objectContaining({ method: 'GET', path: '/subscriptions', status: 200 }),
  ]);
});

test('async operation protocol: 202 + Azure-AsyncOperation/Location, status on the clock', async () => {
  const admin = { Authorization: `Bearer ${(await sb.control.token(sb.admin.objectId)).access_token}` };
  sb.control.updateSettings({ lroDurationMs: 120_000 });
  try {
    const rgUrl = `${sb.url}/subscriptions/${sub}/resourcegroups/rg-lro?api-version=2021-04-01`;
    expect((await request('PUT', rgUrl, admin, { location: 'westeurope' })).status).toBe(201);
    const accepted = await request('DELETE', rgUrl, admin);
    expect(accepted.status).toBe(202);
    const statusUrl = String(accepted.headers['azure-asyncoperation']);
    const resultUrl = String(accepted.headers.location);
    expect(statusUrl).toMatch(
      new RegExp(
        `^${sb.url}/subscriptions/${sub}/providers/Microsoft\\.Resources/locations/westeurope/operationStatuses/[0-9a-f-]{36}\\?api-version=2021-04-01$`,
      ),
    );
    expect(accepted.headers['retry-after']).toMatch(/^\d+$/);

    const t0 = sb.clock.now();
    const running = await request('GET', statusUrl, admin);
    expect(running.json).toMatchObject({ status: 'InProgress', startTime: new Date(t0).toISOString() });
    expect((await request('GET', resultUrl, admin)).status).toBe(202);
    expect((await request('GET', rgUrl, admin)).status).toBe(200);

    await sb.control.advance({ duration: 'PT2M' });
    const done = await request('GET', statusUrl, admin);
    expect(done.json).toMatchObject({ status: 'Succeeded', endTime: new Date(t0 + 120_000).toISOString() });
    expect((await request('GET', resultUrl, admin)).status).toBe(204);
    expect((await request('GET', rgUrl, admin)).json.error).toMatchObject({ code: 'ResourceGroupNotFound' });
  } finally {
    sb.control.updateSettings({ lroDurationMs: 0 });
  }
});

test('CONNECT proxy: a vault host under the suffix is tunnelled to the sandbox, other hosts are not', async () => {
  const host = `contoso-kv.${sb.keyVaultDnsSuffix}`;
  const tunnel = (target: string) =>
    new Promise<{ status: number; socket: import('node:net').Socket }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: sb.httpPort, method: 'CONNECT', path: target });
      req.on('connect', (res, socket) => resolve({ status: res.statusCode ?? 0, socket }));
      req.on('error', reject);
      req.end();
    });
  expect((await tunnel('example.com:443')).status).toBe(502);

  const { status, socket } = await tunnel(`${host}:443`);
  expect(status).toBe(200);
  const token = (await sb.control.token(sb.admin.objectId, 'keyvault')).access_token;
  const body = await new Promise<string>((resolve, reject) => {
    // TLS inside the tunnel, checked against the vault host name (wildcard certificate) and our CA.
    const secure = tls.connect({ socket, servername: host, ca: sb.caPem }, () => {
      secure.write(
        `GET /probe HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
      );
    });
    let text = '';
    secure.on('data', (c: Buffer) => (text += c.toString('utf8')));
    secure.on('end', () => resolve(text));
    secure.on('error', reject);
  });
  expect(body).toMatch(/^HTTP\/1\.1 200/);
  expect(JSON.parse(body.slice(body.indexOf('\r\n\r\n') + 4))).toEqual({
    vault: 'contoso-kv',
    caller: sb.admin.objectId,
  });
});

test('plain-http requests sent through the proxy (absolute-form, no NO_PROXY) still reach the identity endpoint', async () => {
  const target = `${sb.app.identityEndpoint}?resource=${encodeURIComponent(sb.url)}&api-version=2019-08-01`;
  const res = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: sb.httpPort,
        method: 'GET',
        path: target,
        headers: { 'X-IDENTITY-HEADER': sb.app.identityHeader },
      },
      (r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c.toString('utf8')));
        r.on('end', () =>
          resolve({ status: r.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
  expect(res.status).toBe(200);
  expect(res.body.client_id).toBe(sb.app.clientId);
});

test('Key Vault hosts answer an unauthenticated request with the 401 challenge', async () => {
  const res = await new Promise<Answer>((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: sb.port,
        path: '/probe',
        method: 'GET',
        servername: `probe.${sb.keyVaultDnsSuffix}`,
        ca: sb.caPem,
        headers: { Host: `probe.${sb.keyVaultDnsSuffix}` },
      },
      (r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c.toString('utf8')));
        r.on('end', () =>
          resolve({
            status: r.statusCode ?? 0,
            headers: r.headers,
            json: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toBe(
    `Bearer authorization="https://login.microsoftonline.com/${sb.tenantId}", resource="https://${sb.keyVaultDnsSuffix}"`,
  );
  expect((res.json.error as { code: string }).code).toBe('Unauthorized');
});
