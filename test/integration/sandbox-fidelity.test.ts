/**
 * What other clients than ours need from the sandbox, on the wire (test/clients/ drives the real Azure
 * CLI and Python SDK over the same endpoints): cloud discovery served anonymously, every published
 * api-version (old ones included), the App Service identity endpoint in both protocols, the Microsoft
 * Graph reads Azure CLI makes, and seeded identities that survive a reset.
 */
import http from 'node:http';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { httpsJson } from '../../sandbox/azure/testing';

let sb: AzureSandbox;
let graph: string;

beforeAll(async () => {
  sb = await startAzureSandbox({ clock: new VirtualClock(Date.UTC(2026, 0, 1, 12, 0, 0)) });
  graph = `${sb.url}/graph`;
});
afterAll(() => sb.close());

const adminArm = async () => (await sb.control.token(sb.admin.objectId, 'arm')).access_token;
const body = (r: { body: unknown }) => r.body as Record<string, unknown>;

/** Plain-http GET/POST against the identity endpoint (it is http on loopback, as on App Service). */
function identity(
  method: string,
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          json: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('cloud discovery: GET /metadata/endpoints', () => {
  it('answers 2015-01-01 anonymously in its legacy shape, with the sandbox endpoints', async () => {
    const res = await httpsJson(sb, 'GET', `${sb.url}/metadata/endpoints?api-version=2015-01-01`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      galleryEndpoint: `${sb.url}/`,
      graphEndpoint: `${graph}/`,
      portalEndpoint: `${sb.url}/`,
      authentication: { loginEndpoint: 'https://login.microsoftonline.com/', audiences: [`${sb.url}/`] },
    });
  });

  it('answers 2019-05-01 with the list of clouds and 2022-09-01 with this cloud', async () => {
    const list = await httpsJson(sb, 'GET', `${sb.url}/metadata/endpoints?api-version=2019-05-01`);
    expect(list.status).toBe(200);
    const cloud = await httpsJson(sb, 'GET', `${sb.url}/metadata/endpoints?api-version=2022-09-01`);
    expect(list.body).toEqual([cloud.body]);
    expect(cloud.body).toMatchObject({
      name: 'AzureSandbox',
      resourceManager: `${sb.url}/`,
      microsoftGraphResourceId: `${graph}/`,
      suffixes: { keyVaultDns: 'vault.sandbox.localhost' },
      authentication: { audiences: [`${sb.url}/`] },
    });
  });

  it('refuses a missing or unknown api-version', async () => {
    const missing = await httpsJson(sb, 'GET', `${sb.url}/metadata/endpoints`);
    expect([missing.status, (body(missing).error as { code: string }).code]).toEqual([
      400,
      'MissingApiVersionParameter',
    ]);
    const unknown = await httpsJson(sb, 'GET', `${sb.url}/metadata/endpoints?api-version=2014-01-01`);
    expect([unknown.status, (body(unknown).error as { code: string }).code]).toEqual([
      400,
      'InvalidApiVersionParameter',
    ]);
  });
});

describe('published api-versions, old ones included', () => {
  const sub = () => `/subscriptions/${sb.subscriptionId}`;
  it.each([
    ['subscriptions (az login of CLI 2.45)', '2019-11-01', () => '/subscriptions'],
    ['subscriptions', '2016-06-01', () => '/subscriptions'],
    ['resource groups', '2019-10-01', () => `${sub()}/resourcegroups`],
    [
      'user-assigned identities (Python SDK default)',
      '2018-11-30',
      () => `${sub()}/providers/Microsoft.ManagedIdentity/userAssignedIdentities`,
    ],
    ['vaults', '2019-09-01', () => `${sub()}/providers/Microsoft.KeyVault/vaults`],
    ['Service Bus namespaces', '2017-04-01', () => `${sub()}/providers/Microsoft.ServiceBus/namespaces`],
    ['role assignments', '2015-07-01', () => `${sub()}/providers/Microsoft.Authorization/roleAssignments`],
  ])('%s with api-version %s', async (_what, version, path) => {
    const res = await httpsJson(sb, 'GET', `${sb.url}${path()}?api-version=${version}`, {
      token: await adminArm(),
    });
    expect(res.status).toBe(200);
    expect(Array.isArray(body(res).value)).toBe(true);
  });

  it('still refuses versions nobody published', async () => {
    const res = await httpsJson(sb, 'GET', `${sb.url}/subscriptions?api-version=2019-11-02`, {
      token: await adminArm(),
    });
    expect([res.status, (body(res).error as { code: string }).code]).toEqual([
      400,
      'InvalidApiVersionParameter',
    ]);
  });
});

describe('App Service identity endpoint, both protocols', () => {
  const resource = () => encodeURIComponent(`${sb.url}/`);

  it('2017-09-01 (MSI_ENDPOINT + secret): expires_on as the Linux App Service date', async () => {
    // msrestazure (Azure CLI 2.45) appends "/" to MSI_ENDPOINT.
    const url = `${sb.app.identityEndpoint}/?resource=${resource()}&api-version=2017-09-01`;
    const res = await identity('GET', url, { secret: sb.app.identityHeader });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) as string,
      expires_on: expect.stringMatching(/^\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2} \+00:00$/) as string,
      resource: `${sb.url}/`,
      token_type: 'Bearer',
      client_id: sb.app.clientId,
    });
    // The date is the token's real-time expiry: lifetime (24 h) after now, to the second.
    const m = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2})/.exec(String(res.json.expires_on))!;
    const at = Date.UTC(
      Number(m[3]),
      Number(m[1]) - 1,
      Number(m[2]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6]),
    );
    expect(Math.abs(at - (Date.now() + 24 * 3600_000))).toBeLessThan(5_000);
  });

  it('2017-09-01 picks a user-assigned identity by clientid; each protocol needs its own header', async () => {
    const token = await adminArm();
    const created = await httpsJson(
      sb,
      'PUT',
      `${sb.url}/subscriptions/${sb.subscriptionId}/resourcegroups/rg-id?api-version=2021-04-01`,
      { token, body: { location: 'westeurope' } },
    );
    expect(created.status).toBe(201);
    const uaiId = `/subscriptions/${sb.subscriptionId}/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai-ops`;
    const uai = await httpsJson(sb, 'PUT', `${sb.url}${uaiId}?api-version=2018-11-30`, {
      token,
      body: { location: 'westeurope' },
    });
    expect(uai.status).toBe(201);
    const clientId = String((body(uai).properties as { clientId: string }).clientId);
    const site = sb.control.identitySite({ userAssigned: [uaiId] });

    const url = `${sb.app.identityEndpoint}?resource=${resource()}&api-version=2017-09-01&clientid=${clientId}`;
    const res = await identity('GET', url, { secret: site.header });
    expect([res.status, res.json.client_id]).toEqual([200, clientId]);

    expect((await identity('GET', url, { 'X-IDENTITY-HEADER': site.header })).status).toBe(401);
    const v2019 = `${sb.app.identityEndpoint}?resource=${resource()}&api-version=2019-08-01&client_id=${clientId}`;
    expect((await identity('GET', v2019, { secret: site.header })).status).toBe(401);
    expect((await identity('GET', v2019, { 'X-IDENTITY-HEADER': site.header })).json.client_id).toBe(
      clientId,
    );
  });

  it('the older POST form is not part of App Service', async () => {
    const res = await identity('POST', `${sb.app.identityEndpoint}?resource=${resource()}`, {
      secret: sb.app.identityHeader,
    });
    expect(res.status).toBe(405);
  });
});

describe('Microsoft Graph reads Azure CLI makes', () => {
  const graphToken = async (objectId: string) => (await sb.control.token(objectId, graph)).access_token;
  const get = async (path: string, objectId = sb.app.objectId) =>
    httpsJson(sb, 'GET', `${graph}/v1.0${path}`, { token: await graphToken(objectId) });
  const code = (r: { body: unknown }) => (body(r).error as { code: string }).code;

  it('/me: an app-only token is refused as Graph refuses it; a user gets itself', async () => {
    const app = await get('/me');
    expect([app.status, code(app)]).toEqual([400, 'BadRequest']);
    expect((body(app).error as { message: string }).message).toBe(
      '/me request is only valid with delegated authentication flow.',
    );
    const alice = sb.control.createPrincipal({ displayName: 'alice', principalType: 'User' });
    const me = await get('/me', alice.objectId);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: alice.objectId, userPrincipalName: 'alice@sandbox.onmicrosoft.com' });
    const byUpn = await get(
      `/users?$filter=${encodeURIComponent("userPrincipalName eq 'alice@sandbox.onmicrosoft.com'")}`,
    );
    expect((body(byUpn).value as Array<{ id: string }>).map((u) => u.id)).toEqual([alice.objectId]);
  });

  it('servicePrincipals: by servicePrincipalNames (what az keyvault create sends), appId and id', async () => {
    const byName = await get(
      `/servicePrincipals?$filter=${encodeURIComponent(`servicePrincipalNames/any(c:c eq '${sb.app.clientId}')`)}`,
    );
    expect(byName.status).toBe(200);
    expect(body(byName).value).toEqual([
      expect.objectContaining({
        id: sb.app.objectId,
        appId: sb.app.clientId,
        servicePrincipalType: 'ManagedIdentity',
        alternativeNames: ['isExplicit=False', sb.app.resourceId],
      }),
    ]);
    // Under `az login --identity` the account name is "systemAssignedIdentity": nothing matches, as in Azure.
    const msiName = await get(
      `/servicePrincipals?$filter=${encodeURIComponent("servicePrincipalNames/any(c:c eq 'systemAssignedIdentity')")}`,
    );
    expect(body(msiName).value).toEqual([]);
    const byAppId = await get(
      `/servicePrincipals?$filter=${encodeURIComponent(`appId eq '${sb.admin.clientId}'`)}`,
    );
    expect((body(byAppId).value as Array<{ id: string }>).map((s) => s.id)).toEqual([sb.admin.objectId]);
    const one = await get(`/servicePrincipals/${sb.admin.objectId}`);
    expect(one.body).toMatchObject({
      id: sb.admin.objectId,
      appId: sb.admin.clientId,
      servicePrincipalType: 'Application',
    });
    const none = await get('/servicePrincipals/00000000-0000-4000-8000-0000000000ff');
    expect([none.status, code(none)]).toEqual([404, 'Request_ResourceNotFound']);
    const bad = await get(`/servicePrincipals?$filter=${encodeURIComponent('foo gt 3')}`);
    expect([bad.status, code(bad)]).toEqual([400, 'BadRequest']);
  });

  it('directoryObjects/getByIds resolves principals with their type', async () => {
    const res = await httpsJson(sb, 'POST', `${graph}/v1.0/directoryObjects/getByIds`, {
      token: await graphToken(sb.app.objectId),
      body: { ids: [sb.admin.objectId, '00000000-0000-4000-8000-0000000000ff'] },
    });
    expect(res.status).toBe(200);
    expect(body(res).value).toEqual([
      expect.objectContaining({ '@odata.type': '#microsoft.graph.servicePrincipal', id: sb.admin.objectId }),
    ]);
  });

  it('authenticates with the Graph audience only', async () => {
    const anonymous = await httpsJson(sb, 'GET', `${graph}/v1.0/servicePrincipals`);
    expect([anonymous.status, code(anonymous)]).toEqual([401, 'InvalidAuthenticationToken']);
    const armToken = await httpsJson(sb, 'GET', `${graph}/v1.0/servicePrincipals`, {
      token: await adminArm(),
    });
    expect([armToken.status, code(armToken)]).toEqual([401, 'InvalidAuthenticationToken']);
    expect((body(armToken).error as { message: string }).message).toBe(
      'Access token validation failure. Invalid audience.',
    );
  });
});

it('a reset keeps the seeded identities: admin and app object and client ids', async () => {
  const before = sb.control.principals().filter((p) => p.kind === 'admin' || p.objectId === sb.app.objectId);
  sb.control.reset();
  const after = sb.control.principals().filter((p) => p.kind === 'admin' || p.objectId === sb.app.objectId);
  expect(after).toEqual(before);
  expect(after.find((p) => p.kind === 'admin')?.clientId).toBe(sb.admin.clientId);
  const claims = JSON.parse(Buffer.from((await adminArm()).split('.')[1]!, 'base64url').toString()) as {
    appid: string;
  };
  expect(claims.appid).toBe(sb.admin.clientId);
});
