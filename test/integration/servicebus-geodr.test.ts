/**
 * Geo-DR aliases (disasterRecoveryConfigs) with the real @azure/arm-servicebus client: pair → break →
 * re-pair → failover with provisioning Accepted → Succeeded on the virtual clock, replication of
 * entities, the read-only secondary, and pairing an encrypted (CMK) primary.
 */
import { errorCode, restError, SbHarness } from './servicebus-support';

let h: SbHarness;

beforeAll(async () => {
  h = await SbHarness.start();
});
afterAll(async () => {
  await h.close();
});

const dr = () => h.sb.disasterRecoveryConfigs;

it('pair → break → re-pair → failover, with provisioning on the clock', async () => {
  await h.namespace('sb-dr-primary');
  await h.namespace('sb-dr-second');
  await h.namespace('sb-dr-third');
  await h.sb.queues.createOrUpdate(h.rg, 'sb-dr-primary', 'orders', {});
  await h.sb.topics.createOrUpdate(h.rg, 'sb-dr-primary', 'events', {});
  expect(
    (await dr().checkNameAvailability(h.rg, 'sb-dr-primary', { name: 'sb-dr-alias' })).nameAvailable,
  ).toBe(true);

  // Pair: Accepted while the two entities replicate.
  const created = await dr().createOrUpdate(h.rg, 'sb-dr-primary', 'sb-dr-alias', {
    partnerNamespace: h.nsId('sb-dr-second'),
  });
  expect(created).toMatchObject({
    provisioningState: 'Accepted',
    role: 'Primary',
    pendingReplicationOperationsCount: 2,
    partnerNamespace: h.nsId('sb-dr-second'),
  });
  const secondary = await dr().get(h.rg, 'sb-dr-second', 'sb-dr-alias');
  expect(secondary).toMatchObject({ role: 'Secondary', partnerNamespace: h.nsId('sb-dr-primary') });
  // Failing over before replication finished is refused.
  const early = await restError(dr().failOver(h.rg, 'sb-dr-second', 'sb-dr-alias'));
  expect(early.statusCode).toBe(409);
  expect(early.message).toMatch(/Namespace Replication is still in progress/);

  await h.minutes(1);
  expect(await dr().get(h.rg, 'sb-dr-primary', 'sb-dr-alias')).toMatchObject({
    provisioningState: 'Succeeded',
    pendingReplicationOperationsCount: 0,
  });
  const replicated: string[] = [];
  for await (const q of h.sb.queues.listByNamespace(h.rg, 'sb-dr-second')) replicated.push(q.name ?? '');
  for await (const t of h.sb.topics.listByNamespace(h.rg, 'sb-dr-second')) replicated.push(t.name ?? '');
  expect(replicated).toEqual(['orders', 'events']);
  // New entities on the primary replicate as they are created.
  await h.sb.queues.createOrUpdate(h.rg, 'sb-dr-primary', 'invoices', {});
  expect((await h.sb.queues.get(h.rg, 'sb-dr-second', 'invoices')).name).toBe('invoices');
  expect((await dr().checkNameAvailability(h.rg, 'sb-dr-third', { name: 'sb-dr-alias' })).reason).toBe(
    'NameInUse',
  );

  // Break (on the primary only).
  const onSecondary = await restError(dr().breakPairing(h.rg, 'sb-dr-second', 'sb-dr-alias'));
  expect(onSecondary.message).toMatch(/only be started on the primary/);
  await dr().breakPairing(h.rg, 'sb-dr-primary', 'sb-dr-alias');
  expect((await dr().get(h.rg, 'sb-dr-primary', 'sb-dr-alias')).provisioningState).toBe('Accepted');
  await h.minutes(1);
  expect(await dr().get(h.rg, 'sb-dr-primary', 'sb-dr-alias')).toMatchObject({
    provisioningState: 'Succeeded',
    role: 'PrimaryNotReplicating',
    partnerNamespace: '',
  });
  const left = [];
  for await (const c of dr().list(h.rg, 'sb-dr-second')) left.push(c);
  expect(left).toEqual([]);
  // The former secondary is writable again, but it holds the replicated entities: it cannot pair again.
  await h.sb.namespaces.update(h.rg, 'sb-dr-second', { tags: { was: 'secondary' } });
  const notEmpty = await restError(
    dr().createOrUpdate(h.rg, 'sb-dr-primary', 'sb-dr-alias', { partnerNamespace: h.nsId('sb-dr-second') }),
  );
  expect(notEmpty.message).toMatch(/Only a new namespace without queues or topics can be added/);

  // Re-pair with a new, empty namespace.
  await dr().createOrUpdate(h.rg, 'sb-dr-primary', 'sb-dr-alias', {
    partnerNamespace: h.nsId('sb-dr-third'),
  });
  await h.minutes(1);
  expect(await dr().get(h.rg, 'sb-dr-third', 'sb-dr-alias')).toMatchObject({
    provisioningState: 'Succeeded',
    role: 'Secondary',
  });

  // Failover runs on the secondary; fail-forward leaves it a primary without partner.
  const onPrimary = await restError(dr().failOver(h.rg, 'sb-dr-primary', 'sb-dr-alias'));
  expect(onPrimary.message).toMatch(/only be started on the secondary/);
  await dr().failOver(h.rg, 'sb-dr-third', 'sb-dr-alias', { parameters: { isSafeFailover: true } });
  await h.minutes(1);
  expect(await dr().get(h.rg, 'sb-dr-third', 'sb-dr-alias')).toMatchObject({
    provisioningState: 'Succeeded',
    role: 'PrimaryNotReplicating',
  });
  expect(errorCode(await restError(dr().get(h.rg, 'sb-dr-primary', 'sb-dr-alias')))).toBe('ResourceNotFound');
  await h.sb.queues.createOrUpdate(h.rg, 'sb-dr-third', 'after-failover', {});

  await dr().delete(h.rg, 'sb-dr-third', 'sb-dr-alias');
  expect((await dr().checkNameAvailability(h.rg, 'sb-dr-third', { name: 'sb-dr-alias' })).nameAvailable).toBe(
    true,
  );
});

it('a paired secondary is read-only', async () => {
  await h.namespace('sb-ro-primary');
  await h.namespace('sb-ro-second');
  await dr().createOrUpdate(h.rg, 'sb-ro-primary', 'sb-ro-alias', {
    partnerNamespace: h.nsId('sb-ro-second'),
  });
  await h.minutes(1);

  const patch = await restError(h.sb.namespaces.update(h.rg, 'sb-ro-second', { tags: { a: 'b' } }));
  expect(patch.statusCode).toBe(400);
  expect(errorCode(patch)).toBe('BadRequest');
  expect(patch.message).toMatch(/^Cannot update a namespace which is secondary/);
  const put = await restError(
    h.sb.namespaces.beginCreateOrUpdateAndWait(h.rg, 'sb-ro-second', {
      location: 'westeurope',
      sku: { name: 'Premium', tier: 'Premium' },
    }),
  );
  expect(put.message).toMatch(/Cannot update a namespace which is secondary/);
  const queue = await restError(h.sb.queues.createOrUpdate(h.rg, 'sb-ro-second', 'q', {}));
  expect(queue.message).toMatch(/cannot be created, updated or deleted on a secondary namespace/);
  const alias = await restError(
    dr().createOrUpdate(h.rg, 'sb-ro-second', 'other-alias', { partnerNamespace: h.nsId('sb-ro-primary') }),
  );
  expect(alias.message).toMatch(/Cannot update a namespace which is secondary/);
  // Reads still work, and neither side of a pairing can be deleted.
  expect((await h.sb.namespaces.get(h.rg, 'sb-ro-second')).name).toBe('sb-ro-second');
  const del = await restError(
    h.sb.namespaces.beginDeleteAndWait(h.rg, 'sb-ro-primary', { updateIntervalInMs: 0 }),
  );
  expect(del.message).toMatch(/break the pairing/);
  const delAlias = await restError(dr().delete(h.rg, 'sb-ro-primary', 'sb-ro-alias'));
  expect(delAlias.message).toMatch(/break the pairing before deleting/);
});

it('refuses partners that are paired already, of another tier, or missing', async () => {
  await h.namespace('sb-pp-a');
  await h.namespace('sb-pp-b');
  await h.namespace('sb-pp-c');
  await h.namespace('sb-pp-std', { sku: { name: 'Standard', tier: 'Standard' } });
  await dr().createOrUpdate(h.rg, 'sb-pp-a', 'sb-pp-alias', { partnerNamespace: h.nsId('sb-pp-b') });
  const paired = await restError(
    dr().createOrUpdate(h.rg, 'sb-pp-c', 'sb-pp-alias2', { partnerNamespace: h.nsId('sb-pp-b') }),
  );
  expect(paired.message).toMatch(/already part of a Geo-DR configuration/);
  const tier = await restError(
    dr().createOrUpdate(h.rg, 'sb-pp-c', 'sb-pp-alias3', { partnerNamespace: h.nsId('sb-pp-std') }),
  );
  expect(tier.message).toMatch(/same tier/);
  const missing = await restError(
    dr().createOrUpdate(h.rg, 'sb-pp-c', 'sb-pp-alias4', { partnerNamespace: h.nsId('sb-pp-none') }),
  );
  expect(missing.message).toMatch(/could not be found/);
  const taken = await restError(
    dr().createOrUpdate(h.rg, 'sb-pp-c', 'sb-pp-alias', { partnerNamespace: h.nsId('sb-pp-std') }),
  );
  expect(taken.message).toMatch(/Alias 'sb-pp-alias' is not availble/);
});

it('a CMK primary pairs only when the secondary identity can use its keys', async () => {
  const uri = await h.vault('kv-dr-cmk');
  await h.keys('kv-dr-cmk').createRsaKey('cmk');
  const primary = await h.namespace('sb-drc-primary', { identity: { type: 'SystemAssigned' } });
  await h.grant('kv-dr-cmk', primary.identity!.principalId!);
  await h.sb.namespaces.update(h.rg, 'sb-drc-primary', {
    encryption: {
      keySource: 'Microsoft.KeyVault',
      keyVaultProperties: [{ keyName: 'cmk', keyVaultUri: uri }],
    },
  });

  await h.namespace('sb-drc-noid');
  const noIdentity = await restError(
    dr().createOrUpdate(h.rg, 'sb-drc-primary', 'sb-drc-alias', { partnerNamespace: h.nsId('sb-drc-noid') }),
  );
  expect(noIdentity.message).toMatch(/has no system-assigned identity/);

  const secondary = await h.namespace('sb-drc-second', { identity: { type: 'SystemAssigned' } });
  const denied = await restError(
    dr().createOrUpdate(h.rg, 'sb-drc-primary', 'sb-drc-alias', {
      partnerNamespace: h.nsId('sb-drc-second'),
    }),
  );
  expect(denied.message).toMatch(
    /secondary namespace 'sb-drc-second' cannot use the primary's key 'cmk'.*ForbiddenByPolicy/,
  );

  await h.grant('kv-dr-cmk', secondary.identity!.principalId!);
  await dr().createOrUpdate(h.rg, 'sb-drc-primary', 'sb-drc-alias', {
    partnerNamespace: h.nsId('sb-drc-second'),
  });
  await h.minutes(1);
  expect((await dr().get(h.rg, 'sb-drc-second', 'sb-drc-alias')).role).toBe('Secondary');
});

it('a user-assigned CMK primary pairs only with a secondary already encrypted with that identity', async () => {
  const uri = await h.vault('kv-dr-uai');
  await h.keys('kv-dr-uai').createRsaKey('cmk');
  const uai = await h.uai('id-dr-uai');
  await h.grant('kv-dr-uai', uai.principalId);
  const identity = { type: 'UserAssigned' as const, userAssignedIdentities: { [uai.id]: {} } };
  const encryption = {
    keySource: 'Microsoft.KeyVault' as const,
    keyVaultProperties: [{ keyName: 'cmk', keyVaultUri: uri, identity: { userAssignedIdentity: uai.id } }],
  };
  await h.namespace('sb-dru-primary', { identity, encryption });
  await h.namespace('sb-dru-plain', { identity });
  const plain = await restError(
    dr().createOrUpdate(h.rg, 'sb-dru-primary', 'sb-dru-alias', { partnerNamespace: h.nsId('sb-dru-plain') }),
  );
  expect(plain.message).toMatch(/must already have encryption enabled with the user-assigned identity/);

  await h.namespace('sb-dru-second', { identity, encryption });
  await dr().createOrUpdate(h.rg, 'sb-dru-primary', 'sb-dru-alias', {
    partnerNamespace: h.nsId('sb-dru-second'),
  });
  await h.minutes(1);
  expect((await dr().get(h.rg, 'sb-dru-primary', 'sb-dru-alias')).provisioningState).toBe('Succeeded');
});
