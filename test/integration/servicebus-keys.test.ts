/**
 * Customer-managed keys over time: every CMK namespace polls its keys every 5 minutes (on the virtual
 * clock) with its own identity. ARM never says a key was lost (as in Azure); the namespace shows it by
 * refusing its entities, which is what these tests observe through the real SDK.
 */
import { errorCode, restError, SbHarness } from './servicebus-support';

let h: SbHarness;

beforeAll(async () => {
  h = await SbHarness.start();
});
afterAll(async () => {
  await h.close();
});

/** A Premium namespace with a system identity, granted on the vault, encrypted with the given keys. */
async function cmkNamespace(
  name: string,
  vault: string,
  keys: Array<{ keyName: string; keyVersion?: string }>,
): Promise<string> {
  const ns = await h.namespace(name, { identity: { type: 'SystemAssigned' } });
  const principal = ns.identity!.principalId!;
  await h.grant(vault, principal);
  await h.sb.namespaces.update(h.rg, name, {
    encryption: {
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: keys.map((k) => ({ ...k, keyVaultUri: h.sandbox.vaultUri(vault) })),
    },
  });
  return principal;
}

/** The key versions the namespace's identity wrapped with since `mark` (from the request log). */
function wrappedVersions(principal: string, mark: number): string[] {
  return h.sandbox.control
    .requests({ sinceSeq: mark, service: 'keyvault', principal })
    .filter((r) => r.path.endsWith('/wrapkey') && r.status === 200)
    .map((r) => r.path.split('/')[3] ?? '');
}

it('a disabled only key makes the namespace inoperable at the next poll, re-enabling restores it', async () => {
  await h.vault('kv-t-disable');
  await h.keys('kv-t-disable').createRsaKey('cmk');
  await cmkNamespace('sb-t-disable', 'kv-t-disable', [{ keyName: 'cmk' }]);
  const before = await h.sb.namespaces.get(h.rg, 'sb-t-disable');

  await h.keys('kv-t-disable').updateKeyProperties('cmk', { enabled: false });
  await h.minutes(4);
  expect(await h.operable('sb-t-disable')).toBe(true); // cached until the next poll
  await h.minutes(1);
  expect(await h.operable('sb-t-disable')).toBe(false);
  // Entity writes fail too, with the reason; ARM's view of the namespace is unchanged.
  const e = await restError(h.sb.queues.createOrUpdate(h.rg, 'sb-t-disable', 'q1', {}));
  expect(e.statusCode).toBe(409);
  expect(errorCode(e)).toBe('Conflict');
  expect(e.message).toMatch(/is disabled because its customer-managed encryption key is no longer valid/);
  const after = await h.sb.namespaces.get(h.rg, 'sb-t-disable');
  expect({ ...after, updatedAt: undefined }).toEqual({ ...before, updatedAt: undefined });
  expect(after.status).toBe('Active');

  await h.keys('kv-t-disable').updateKeyProperties('cmk', { enabled: true });
  expect(await h.operable('sb-t-disable')).toBe(false);
  await h.minutes(5);
  expect(await h.operable('sb-t-disable')).toBe(true);
  await h.sb.queues.createOrUpdate(h.rg, 'sb-t-disable', 'q1', {});
});

it('a deleted key stays usable from cache for the cache window, then the namespace stops; recovery restores it', async () => {
  await h.vault('kv-t-delete');
  await h.keys('kv-t-delete').createRsaKey('cmk');
  await cmkNamespace('sb-t-delete', 'kv-t-delete', [{ keyName: 'cmk' }]);
  const deleting = await h.keys('kv-t-delete').beginDeleteKey('cmk', { intervalInMs: 0 });
  await deleting.pollUntilDone();

  await h.minutes(55);
  expect(await h.operable('sb-t-delete')).toBe(true);
  await h.minutes(5);
  expect(await h.operable('sb-t-delete')).toBe(false);

  const recovering = await h.keys('kv-t-delete').beginRecoverDeletedKey('cmk', { intervalInMs: 0 });
  await recovering.pollUntilDone();
  await h.minutes(5);
  expect(await h.operable('sb-t-delete')).toBe(true);
});

it('an expired key stops the namespace; extending the expiry restores it', async () => {
  await h.vault('kv-t-expire');
  await h.keys('kv-t-expire').createRsaKey('cmk', { expiresOn: new Date(h.clock.now() + 8 * 60_000) });
  await cmkNamespace('sb-t-expire', 'kv-t-expire', [{ keyName: 'cmk' }]);
  await h.minutes(5);
  expect(await h.operable('sb-t-expire')).toBe(true);
  await h.minutes(5);
  expect(await h.operable('sb-t-expire')).toBe(false);

  await h
    .keys('kv-t-expire')
    .updateKeyProperties('cmk', { expiresOn: new Date(h.clock.now() + 365 * 86_400_000) });
  await h.minutes(5);
  expect(await h.operable('sb-t-expire')).toBe(true);
});

it('removing the identity’s access (access policy, RBAC, firewall) stops the namespace until access returns', async () => {
  await h.vault('kv-t-access');
  await h.keys('kv-t-access').createRsaKey('cmk');
  const principal = await cmkNamespace('sb-t-access', 'kv-t-access', [{ keyName: 'cmk' }]);
  await h.revoke('kv-t-access', principal);
  await h.minutes(5);
  expect(await h.operable('sb-t-access')).toBe(false);
  await h.grant('kv-t-access', principal);
  await h.minutes(5);
  expect(await h.operable('sb-t-access')).toBe(true);

  // A firewall that does not let trusted services through cuts the namespace off as well.
  await h.kv.vaults.update(h.rg, 'kv-t-access', {
    properties: { networkAcls: { defaultAction: 'Deny', bypass: 'None' } },
  });
  await h.minutes(5);
  expect(await h.operable('sb-t-access')).toBe(false);
  await h.kv.vaults.update(h.rg, 'kv-t-access', {
    properties: { networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices' } },
  });
  await h.minutes(5);
  expect(await h.operable('sb-t-access')).toBe(true);
});

it('RBAC vault: deleting the role assignment stops the namespace', async () => {
  await h.vault('kv-t-rbac', { rbac: true });
  await h.keys('kv-t-rbac').createRsaKey('cmk');
  const principal = await cmkNamespace('sb-t-rbac', 'kv-t-rbac', [{ keyName: 'cmk' }]);
  const assignment = h.sandbox.core.rbac.allAssignments().find((a) => a.principalId === principal);
  expect(assignment).toMatchObject({
    principalId: principal,
    scope: expect.stringMatching(/\/vaults\/kv-t-rbac$/i) as string,
    roleDefinitionId: expect.stringMatching(/\/e147488a-f6f5-4113-8e2d-b22465e65bf6$/) as string,
  });
  h.sandbox.core.rbac.deleteAssignment(assignment!.id);
  await h.minutes(5);
  expect(await h.operable('sb-t-rbac')).toBe(false);
});

it('with two keys, losing one leaves the namespace operable; losing both stops it', async () => {
  await h.vault('kv-t-two');
  await h.keys('kv-t-two').createRsaKey('k1');
  await h.keys('kv-t-two').createRsaKey('k2');
  await cmkNamespace('sb-t-two', 'kv-t-two', [{ keyName: 'k1' }, { keyName: 'k2' }]);
  await h.keys('kv-t-two').updateKeyProperties('k1', { enabled: false });
  await h.minutes(5);
  expect(await h.operable('sb-t-two')).toBe(true);
  await h.keys('kv-t-two').updateKeyProperties('k2', { enabled: false });
  await h.minutes(5);
  expect(await h.operable('sb-t-two')).toBe(false);
});

it('a versionless key follows a rotation at the next poll; a pinned version does not', async () => {
  await h.vault('kv-t-rotate');
  const keys = h.keys('kv-t-rotate');
  const v1 = (await keys.createRsaKey('cmk')).properties.version!;
  const floating = await cmkNamespace('sb-t-float', 'kv-t-rotate', [{ keyName: 'cmk' }]);
  const pinned = await cmkNamespace('sb-t-pinned', 'kv-t-rotate', [{ keyName: 'cmk', keyVersion: v1 }]);
  expect(
    (await h.sb.namespaces.get(h.rg, 'sb-t-pinned')).encryption?.keyVaultProperties?.[0]?.keyVersion,
  ).toBe(v1);

  const v2 = (await keys.rotateKey('cmk')).properties.version!;
  let mark = h.sandbox.control.mark();
  await h.minutes(5);
  expect(wrappedVersions(floating, mark)).toEqual([v2]);
  expect(wrappedVersions(pinned, mark)).toEqual([v1]);

  // Disabling the old version stops only the namespace pinned to it.
  await keys.updateKeyProperties('cmk', v1, { enabled: false });
  mark = h.sandbox.control.mark();
  await h.minutes(5);
  expect(await h.operable('sb-t-float')).toBe(true);
  expect(await h.operable('sb-t-pinned')).toBe(false);
  expect(wrappedVersions(floating, mark)).toEqual([v2]);
});

it('polls every KEY_POLL_MINUTES and stops polling when the namespace is deleted', async () => {
  await h.vault('kv-t-poll');
  await h.keys('kv-t-poll').createRsaKey('cmk');
  const principal = await cmkNamespace('sb-t-poll', 'kv-t-poll', [{ keyName: 'cmk' }]);
  const mark = h.sandbox.control.mark();
  await h.minutes(15);
  expect(wrappedVersions(principal, mark)).toHaveLength(3);
  await h.sb.namespaces.beginDeleteAndWait(h.rg, 'sb-t-poll', { updateIntervalInMs: 0 });
  const after = h.sandbox.control.mark();
  await h.minutes(15);
  expect(wrappedVersions(principal, after)).toHaveLength(0);
});
