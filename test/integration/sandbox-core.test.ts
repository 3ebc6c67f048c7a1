/**
 * The sandbox core through the REAL Azure SDK clients (@azure/identity, @azure/arm-authorization,
 * @azure/arm-msi, @azure/arm-resources) over HTTPS: managed identity, RBAC refusals and grants,
 * inheritance, propagation delay, paging, api-version refusal, LROs on the virtual clock, faults.
 * The CA reaches the clients through `tlsOptions` (NODE_EXTRA_CA_CERTS is read at process start only).
 */
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { ResourceManagementClient } from '@azure/arm-resources';
import { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import { ManagedIdentityCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/identity';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { ROLE_IDS } from '../../sandbox/azure/rbac/roles';
import { armClientOptions, SandboxCredential } from '../../sandbox/azure/testing';

const noRetry = { retryOptions: { maxRetries: 0 } };

let sb: AzureSandbox;
let clock: VirtualClock;
let sub: string;

const resources = (credential: TokenCredential, extra: object = noRetry) =>
  new ResourceManagementClient(credential, sub, { ...armClientOptions(sb), ...extra });
const authorization = (credential: TokenCredential) =>
  new AuthorizationManagementClient(credential, sub, { ...armClientOptions(sb), ...noRetry });
const msi = (credential: TokenCredential) =>
  new ManagedServiceIdentityClient(credential, sub, { ...armClientOptions(sb), ...noRetry });
const as = (objectId: string) => new SandboxCredential(sb, objectId);
const roleId = (guid: string) =>
  `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
const newGuid = () => crypto.randomUUID();

/** Awaits a promise expected to fail with an Azure RestError; returns its status and code. */
async function failure(
  p: Promise<unknown>,
): Promise<{ statusCode?: number; code?: string; message: string }> {
  try {
    await p;
  } catch (error) {
    const e = error as { statusCode?: number; code?: string; message: string };
    return { statusCode: e.statusCode, code: e.code, message: e.message };
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  clock = new VirtualClock(Date.UTC(2026, 0, 1));
  sb = await startAzureSandbox({ clock, pageSize: 2 });
  sub = sb.subscriptionId;
  const admin = resources(as(sb.admin.objectId));
  for (const rg of ['rg-a', 'rg-b'])
    await admin.resourceGroups.createOrUpdate(rg, { location: 'westeurope' });
});

afterAll(async () => {
  await sb.close();
});

afterEach(() => {
  sb.control.clearFaults();
  sb.control.updateSettings({ propagationDelayMs: 0, lroDurationMs: 0, tokenExpiry: 'client' });
});

describe('managed identity endpoint (App Service style) with the real ManagedIdentityCredential', () => {
  const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
  beforeEach(() => {
    process.env.IDENTITY_ENDPOINT = sb.app.identityEndpoint;
    process.env.IDENTITY_HEADER = sb.app.identityHeader;
  });
  afterEach(() => {
    for (const [k, v] of [
      ['IDENTITY_ENDPOINT', saved.endpoint],
      ['IDENTITY_HEADER', saved.header],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  test('issues a token for the app identity that ARM refuses until a role is assigned', async () => {
    const credential = new ManagedIdentityCredential();
    const token = await credential.getToken(`${sb.url}/.default`);
    const claims = JSON.parse(
      Buffer.from(token.token.split('.')[1]!, 'base64url').toString('utf8'),
    ) as Record<string, unknown>;
    expect(claims).toMatchObject({
      oid: sb.app.objectId,
      tid: sb.tenantId,
      appid: sb.app.clientId,
      xms_mirid: sb.app.resourceId,
    });
    expect(claims.aud).toBe(sb.url);

    const app = resources(credential);
    const refused = await failure(app.resourceGroups.get('rg-a'));
    expect(refused.statusCode).toBe(403);
    expect(refused.code).toBe('AuthorizationFailed');
    expect(refused.message).toBe(
      `The client '${sb.app.objectId}' with object id '${sb.app.objectId}' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/read' over scope '/subscriptions/${sub}/resourcegroups/rg-a' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );

    await authorization(as(sb.admin.objectId)).roleAssignments.create(
      `/subscriptions/${sub}/resourceGroups/rg-a`,
      newGuid(),
      {
        roleDefinitionId: roleId(ROLE_IDS.reader),
        principalId: sb.app.objectId,
      },
    );
    const rg = await app.resourceGroups.get('rg-a');
    expect(rg).toMatchObject({
      name: 'rg-a',
      location: 'westeurope',
      properties: { provisioningState: 'Succeeded' },
    });
    // Inherited nowhere else: the sibling group stays out of reach.
    expect((await failure(app.resourceGroups.get('rg-b'))).code).toBe('AuthorizationFailed');
  });

  test('a user-assigned identity attached to the site gets its own token (client_id)', async () => {
    const identity = await msi(as(sb.admin.objectId)).userAssignedIdentities.createOrUpdate(
      'rg-a',
      'uai-guardian',
      {
        location: 'westeurope',
      },
    );
    expect(identity.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(identity.tenantId).toBe(sb.tenantId);
    sb.control.identitySite({
      header: sb.app.identityHeader,
      systemAssigned: sb.app.objectId,
      userAssigned: [identity.id!],
    });

    const token = await new ManagedIdentityCredential({ clientId: identity.clientId! }).getToken(
      `${sb.url}/.default`,
    );
    const claims = JSON.parse(
      Buffer.from(token.token.split('.')[1]!, 'base64url').toString('utf8'),
    ) as Record<string, unknown>;
    expect(claims.oid).toBe(identity.principalId);
    expect(claims.xms_mirid).toBe(identity.id);

    // An identity not attached to the site is refused, as App Service does.
    await expect(
      new ManagedIdentityCredential({ clientId: crypto.randomUUID() }).getToken(`${sb.url}/.default`),
    ).rejects.toThrow();
  });
});

describe('RBAC', () => {
  test('inheritance down the scope tree: Contributor on a group covers resources in it, not beside it', async () => {
    const dev = sb.control.createPrincipal({ displayName: 'dev' }).objectId;
    const admin = authorization(as(sb.admin.objectId));
    await admin.roleAssignments.create(`/subscriptions/${sub}/resourceGroups/rg-a`, newGuid(), {
      roleDefinitionId: roleId(ROLE_IDS.contributor),
      principalId: dev,
      principalType: 'ServicePrincipal',
    });
    const client = msi(as(dev));
    const created = await client.userAssignedIdentities.createOrUpdate('rg-a', 'uai-dev', {
      location: 'westeurope',
    });
    expect(created.name).toBe('uai-dev');
    const refused = await failure(
      client.userAssignedIdentities.createOrUpdate('rg-b', 'uai-dev', { location: 'westeurope' }),
    );
    expect(refused).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(refused.message).toContain(
      "perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/write'",
    );

    // Contributor's notActions: it cannot hand out roles.
    const grant = await failure(
      authorization(as(dev)).roleAssignments.create(`/subscriptions/${sub}/resourceGroups/rg-a`, newGuid(), {
        roleDefinitionId: roleId(ROLE_IDS.reader),
        principalId: dev,
      }),
    );
    expect(grant).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(grant.message).toContain("'Microsoft.Authorization/roleAssignments/write'");
  });

  test('a subscription-level Reader reads every group but writes none', async () => {
    const reader = sb.control.createPrincipal({ displayName: 'auditor' }).objectId;
    sb.control.assignRole({ principalId: reader, role: 'Reader', scope: `/subscriptions/${sub}` });
    const client = resources(as(reader));
    expect((await client.resourceGroups.get('rg-b')).name).toBe('rg-b');
    expect(
      (await failure(client.resourceGroups.createOrUpdate('rg-new', { location: 'westeurope' }))).code,
    ).toBe('AuthorizationFailed');
  });

  test('a new assignment is honoured only after the propagation delay, on the clock', async () => {
    sb.control.updateSettings({ propagationDelayMs: 5 * 60_000 });
    const late = sb.control.createPrincipal({ displayName: 'late' }).objectId;
    await authorization(as(sb.admin.objectId)).roleAssignments.create(`/subscriptions/${sub}`, newGuid(), {
      roleDefinitionId: roleId(ROLE_IDS.reader),
      principalId: late,
    });
    const client = resources(as(late));
    expect((await failure(client.resourceGroups.get('rg-a'))).code).toBe('AuthorizationFailed');
    await clock.advanceBy(4 * 60_000);
    expect((await failure(client.resourceGroups.get('rg-a'))).code).toBe('AuthorizationFailed');
    await clock.advanceBy(60_000);
    expect((await client.resourceGroups.get('rg-a')).name).toBe('rg-a');
  });

  test('role assignments: create, get, list with filters, duplicates and unknown principals refused, delete', async () => {
    const admin = authorization(as(sb.admin.objectId));
    const p = sb.control.createPrincipal({ displayName: 'kv-user' }).objectId;
    const scope = `/subscriptions/${sub}/resourceGroups/rg-b`;
    const name = newGuid();
    const created = await admin.roleAssignments.create(scope, name, {
      roleDefinitionId: roleId(ROLE_IDS.keyVaultCryptoServiceEncryptionUser),
      principalId: p,
    });
    expect(created).toMatchObject({
      id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
      name,
      type: 'Microsoft.Authorization/roleAssignments',
      scope,
      principalId: p,
      principalType: 'ServicePrincipal',
      roleDefinitionId: roleId(ROLE_IDS.keyVaultCryptoServiceEncryptionUser),
    });
    expect((await admin.roleAssignments.get(scope, name)).principalId).toBe(p);

    const forPrincipal = [];
    for await (const a of admin.roleAssignments.listForSubscription({ filter: `principalId eq '${p}'` }))
      forPrincipal.push(a);
    expect(forPrincipal.map((a) => a.name)).toEqual([name]);
    const atScope = [];
    for await (const a of admin.roleAssignments.listForScope(scope, { filter: 'atScope()' })) atScope.push(a);
    expect(atScope.map((a) => a.scope)).toEqual(expect.arrayContaining(['/', scope]));

    expect(
      await failure(
        admin.roleAssignments.create(scope, newGuid(), {
          roleDefinitionId: roleId(ROLE_IDS.keyVaultCryptoServiceEncryptionUser),
          principalId: p,
        }),
      ),
    ).toMatchObject({
      statusCode: 409,
      code: 'RoleAssignmentExists',
    });
    expect(
      await failure(
        admin.roleAssignments.create(scope, newGuid(), {
          roleDefinitionId: roleId(ROLE_IDS.reader),
          principalId: newGuid(),
        }),
      ),
    ).toMatchObject({
      statusCode: 400,
      code: 'PrincipalNotFound',
    });
    expect(
      await failure(
        admin.roleAssignments.create(scope, newGuid(), {
          roleDefinitionId: roleId(newGuid()),
          principalId: p,
        }),
      ),
    ).toMatchObject({
      statusCode: 400,
      code: 'RoleDefinitionDoesNotExist',
    });
    expect(
      await failure(
        admin.roleAssignments.create(scope, newGuid(), {
          roleDefinitionId: roleId(ROLE_IDS.reader),
          principalId: p,
          principalType: 'User',
        }),
      ),
    ).toMatchObject({ statusCode: 400, code: 'UnmatchedPrincipalType' });
    await admin.roleAssignments.delete(scope, name);
    expect(await failure(admin.roleAssignments.get(scope, name))).toMatchObject({
      statusCode: 404,
      code: 'RoleAssignmentNotFound',
    });
  });

  test('built-in role definitions carry their real ids and permissions', async () => {
    const admin = authorization(as(sb.admin.objectId));
    const role = await admin.roleDefinitions.get(
      `/subscriptions/${sub}`,
      ROLE_IDS.keyVaultCryptoServiceEncryptionUser,
    );
    expect(role.roleName).toBe('Key Vault Crypto Service Encryption User');
    expect(role.permissions?.[0]?.dataActions).toEqual([
      'Microsoft.KeyVault/vaults/keys/read',
      'Microsoft.KeyVault/vaults/keys/wrap/action',
      'Microsoft.KeyVault/vaults/keys/unwrap/action',
    ]);
    const found = [];
    for await (const r of admin.roleDefinitions.list(`/subscriptions/${sub}`, {
      filter: "roleName eq 'Key Vault Crypto Officer'",
    }))
      found.push(r);
    expect(found.map((r) => r.name)).toEqual([ROLE_IDS.keyVaultCryptoOfficer]);
  });
});

describe('ARM conventions', () => {
  test('subscriptions and tenants: a principal sees the subscriptions it holds a role in', async () => {
    const nobody = sb.control.createPrincipal({ displayName: 'nobody' }).objectId;
    const scoped = sb.control.createPrincipal({ displayName: 'scoped' }).objectId;
    sb.control.assignRole({
      principalId: scoped,
      role: 'Reader',
      scope: `/subscriptions/${sub}/resourceGroups/rg-b`,
    });
    const list = async (objectId: string) => {
      const ids: string[] = [];
      for await (const s of new SubscriptionClient(as(objectId), {
        ...armClientOptions(sb),
        ...noRetry,
      }).subscriptions.list())
        ids.push(s.subscriptionId!);
      return ids;
    };
    expect(await list(nobody)).toEqual([]);
    expect(await list(scoped)).toEqual([sub]);
    const client = new SubscriptionClient(as(scoped), { ...armClientOptions(sb), ...noRetry });
    expect(await client.subscriptions.get(sub)).toMatchObject({
      subscriptionId: sub,
      tenantId: sb.tenantId,
      state: 'Enabled',
    });
    const tenants = [];
    for await (const t of client.tenants.list()) tenants.push(t.tenantId);
    expect(tenants).toEqual([sb.tenantId]);
    const missing = await failure(
      new SubscriptionClient(as(nobody), { ...armClientOptions(sb), ...noRetry }).subscriptions.get(sub),
    );
    expect(missing).toMatchObject({ statusCode: 404, code: 'SubscriptionNotFound' });
  });

  test('lists page with nextLink and the SDK follows every page', async () => {
    const admin = resources(as(sb.admin.objectId));
    for (const n of [1, 2, 3])
      await admin.resourceGroups.createOrUpdate(`rg-page-${n}`, {
        location: 'northeurope',
        tags: { n: String(n) },
      });
    const mark = sb.control.mark();
    const names: string[] = [];
    for await (const rg of admin.resourceGroups.list()) names.push(rg.name!);
    expect(names).toEqual(expect.arrayContaining(['rg-a', 'rg-b', 'rg-page-1', 'rg-page-2', 'rg-page-3']));
    const calls = sb.control
      .requests({ sinceSeq: mark })
      .filter((r) => r.path.toLowerCase().endsWith('/resourcegroups'));
    expect(calls.length).toBe(Math.ceil(names.length / 2));
    expect(
      calls.slice(1).every((c) => c.query.includes('%24skiptoken') || c.query.includes('$skiptoken')),
    ).toBe(true);
  });

  test('an unknown api-version is refused with Azure’s error for the provider', async () => {
    const admin = as(sb.admin.objectId);
    const rg = await failure(
      resources(admin, { ...noRetry, apiVersion: '2099-01-01' }).resourceGroups.get('rg-a'),
    );
    expect(rg).toMatchObject({ statusCode: 400, code: 'InvalidApiVersionParameter' });
    expect(rg.message).toMatch(
      /^The api-version '2099-01-01' is invalid\. The supported versions are '.*2025-04-01/,
    );

    const uai = await failure(
      new ManagedServiceIdentityClient(admin, sub, {
        ...armClientOptions(sb),
        ...noRetry,
        apiVersion: '2019-01-01',
      }).userAssignedIdentities.get('rg-a', 'x'),
    );
    expect(uai).toMatchObject({ statusCode: 400, code: 'NoRegisteredProviderFound' });
    expect(uai.message).toContain("API version '2019-01-01' for type 'userAssignedIdentities'");
  });

  test('resource group deletion is an LRO that completes on the clock', async () => {
    sb.control.updateSettings({ lroDurationMs: 90_000 });
    const admin = resources(as(sb.admin.objectId));
    await admin.resourceGroups.createOrUpdate('rg-doomed', { location: 'westeurope' });
    await msi(as(sb.admin.objectId)).userAssignedIdentities.createOrUpdate('rg-doomed', 'uai-doomed', {
      location: 'westeurope',
    });
    const poller = admin.resourceGroups.delete('rg-doomed', { updateIntervalInMs: 1 });
    await poller.submitted();
    await poller.poll();
    expect(poller.isDone).toBe(false);
    expect((await admin.resourceGroups.get('rg-doomed')).name).toBe('rg-doomed');

    await clock.advanceBy(90_000);
    await poller.pollUntilDone();
    expect(poller.isDone).toBe(true);
    expect(await failure(admin.resourceGroups.get('rg-doomed'))).toMatchObject({
      statusCode: 404,
      code: 'ResourceGroupNotFound',
    });
    // The identity inside went with the group.
    expect(
      await failure(msi(as(sb.admin.objectId)).userAssignedIdentities.get('rg-doomed', 'uai-doomed')),
    ).toMatchObject({
      statusCode: 404,
    });
  });

  test('token expiry: judged by the client’s clock by default, by the sandbox clock on request', async () => {
    const p = sb.control.createPrincipal({ displayName: 'sleepy' }).objectId;
    sb.control.assignRole({ principalId: p, role: 'Reader', scope: `/subscriptions/${sub}` });
    const token = (await sb.control.token(p, 'arm', 3600)).access_token;
    const fixed: TokenCredential = {
      getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    expect((await resources(fixed).resourceGroups.get('rg-a')).name).toBe('rg-a');
    await clock.advanceBy(3601_000);
    // The client would not have refreshed yet (its hour has not passed): Azure would accept it too.
    expect((await resources(fixed).resourceGroups.get('rg-a')).name).toBe('rg-a');
    sb.control.updateSettings({ tokenExpiry: 'clock' });
    expect(await failure(resources(fixed).resourceGroups.get('rg-a'))).toMatchObject({
      statusCode: 401,
      code: 'ExpiredAuthenticationToken',
    });
  });
});

describe('fault injection', () => {
  test('a count of 503s is retried through by the SDK; the log shows them', async () => {
    const admin = resources(as(sb.admin.objectId), {
      retryOptions: { maxRetries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 10 },
    });
    sb.control.addFault({
      match: { service: 'arm', method: 'GET', path: '/resourcegroups/rg-a$' },
      effect: { type: 'error', status: 503, code: 'ServiceUnavailable', message: 'Injected outage.' },
      count: 2,
    });
    const mark = sb.control.mark();
    expect((await admin.resourceGroups.get('rg-a')).name).toBe('rg-a');
    const statuses = sb.control.requests({ sinceSeq: mark, service: 'arm' }).map((r) => r.status);
    expect(statuses).toEqual([503, 503, 200]);
  });

  test('rules target one principal and surface Azure-shaped errors', async () => {
    const victim = sb.control.createPrincipal({ displayName: 'victim' }).objectId;
    sb.control.assignRole({ principalId: victim, role: 'Reader', scope: `/subscriptions/${sub}` });
    sb.control.addFault({
      match: { principal: victim },
      effect: { type: 'error', status: 409, code: 'Conflict', message: 'Injected conflict.' },
    });
    sb.control.addFault({
      match: { service: 'arm' },
      effect: { type: 'error', status: 500, code: 'Never' },
      probability: 0,
    });
    expect(await failure(resources(as(victim)).resourceGroups.get('rg-a'))).toMatchObject({
      statusCode: 409,
      code: 'Conflict',
      message: 'Injected conflict.',
    });
    expect((await resources(as(sb.admin.objectId)).resourceGroups.get('rg-a')).name).toBe('rg-a');
  });

  test('after the effect: the write happens, its answer is lost; the log and the rule say so', async () => {
    sb.control.clearFaults();
    const admin = resources(as(sb.admin.objectId));
    const rule = sb.control.addFault({
      match: { service: 'arm', method: 'PUT', path: '/resourcegroups/rg-after$', bodyContains: 'westeurope' },
      effect: { type: 'error', status: 503, code: 'ServiceUnavailable', message: 'Injected: answer lost.' },
      phase: 'after',
      occurrence: 1,
    });
    const mark = sb.control.mark();
    expect(
      await failure(admin.resourceGroups.createOrUpdate('rg-after', { location: 'westeurope' })),
    ).toMatchObject({ statusCode: 503, code: 'ServiceUnavailable' });
    // The group exists although the client was told 503.
    expect((await admin.resourceGroups.get('rg-after')).location).toBe('westeurope');
    const [put] = sb.control.requests({ sinceSeq: mark, writes: 'attempted' });
    expect(put).toMatchObject({ method: 'PUT', status: 503, handlerStatus: 201, faults: [rule.id] });
    expect(sb.control.requests({ sinceSeq: mark, writes: 'succeeded' })).toEqual([]);
    expect(sb.control.faults().find((r) => r.id === rule.id)).toMatchObject({
      hits: 1,
      hitRequestIds: [put!.requestId],
    });
  });

  test('a dropped connection (before the handler) is a network error the SDK retries; nothing happened', async () => {
    sb.control.clearFaults();
    const admin = resources(as(sb.admin.objectId), {
      retryOptions: { maxRetries: 2, retryDelayInMs: 5, maxRetryDelayInMs: 10 },
    });
    const rule = sb.control.addFault({
      match: { service: 'arm', method: 'PUT', path: '/resourcegroups/rg-drop$' },
      effect: { type: 'drop' },
      occurrence: 1,
    });
    const mark = sb.control.mark();
    await admin.resourceGroups.createOrUpdate('rg-drop', { location: 'westeurope' });
    const puts = sb.control.requests({ sinceSeq: mark, writes: 'attempted' });
    expect(puts.map((r) => [r.status, r.dropped ?? false])).toEqual([
      [0, true],
      [201, false],
    ]);
    expect(sb.control.requests({ sinceSeq: mark, writes: 'succeeded' })).toHaveLength(1);
    expect(sb.control.faults().find((r) => r.id === rule.id)).toMatchObject({
      matched: 2,
      hits: 1,
      hitRequestIds: [puts[0]!.requestId],
    });
  });

  test('omitField (after the handler): the 2xx answer arrives without a field the spec requires', async () => {
    sb.control.clearFaults();
    const admin = resources(as(sb.admin.objectId));
    const rule = sb.control.addFault({
      match: { service: 'arm', method: 'GET', path: '/resourcegroups/rg-a$' },
      effect: { type: 'omitField', path: 'location' },
      phase: 'after',
      occurrence: 1,
    });
    const group = await admin.resourceGroups.get('rg-a');
    expect(group.name).toBe('rg-a');
    expect(group.location).toBeUndefined();
    expect((await admin.resourceGroups.get('rg-a')).location).toBe('westeurope');
    expect(sb.control.faults().find((r) => r.id === rule.id)).toMatchObject({ matched: 2, hits: 1 });
    expect(() => sb.control.addFault({ effect: { type: 'omitField', path: 'x' } })).toThrow(/phase 'after'/);
  });

  test('the managed-identity endpoint can be faulted, chosen by query (resource)', async () => {
    sb.control.clearFaults();
    const rule = sb.control.addFault({
      match: { service: 'identity', query: { resource: sb.url } },
      effect: { type: 'error', status: 503, code: 'ServiceUnavailable', message: 'Injected outage.' },
      occurrence: 1,
    });
    const mark = sb.control.mark();
    const direct = await fetch(
      `${sb.env.IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=${encodeURIComponent(sb.url)}`,
      { headers: { 'X-IDENTITY-HEADER': sb.env.IDENTITY_HEADER! } },
    );
    expect(direct.status).toBe(503);
    const again = await fetch(
      `${sb.env.IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=${encodeURIComponent(sb.url)}`,
      { headers: { 'X-IDENTITY-HEADER': sb.env.IDENTITY_HEADER! } },
    );
    expect(again.status).toBe(200);
    expect(sb.control.requests({ sinceSeq: mark, service: 'identity' }).map((r) => r.status)).toEqual([
      503, 200,
    ]);
    expect(sb.control.faults().find((r) => r.id === rule.id)).toMatchObject({ matched: 2, hits: 1 });
  });
});
