/**
 * POST /api/cmk/geo-dr: dry run (plan + findings, zero writes), preflight refusals with zero writes and
 * the pairing untouched, and bad input — over HTTP only.
 */
import { createHash } from 'node:crypto';
import { startLocalEstate } from '../support/localEstate';
import { Estate, grantDocumentedRoles, type RequestLogEntry } from './enable-cmk-support';
import { geoBody, geoDr, isPaired, pairAndSettle, type GeoDrOutput } from './geo-dr-support';

let e: Estate;

beforeAll(async () => {
  e = await new Estate(await startLocalEstate()).init();
  await grantDocumentedRoles(e);
  await e.vault('kv-gp');
  await e.vault('kv-gp-nopurge', { purgeProtection: false });
  await e.key('kv-gp', 'k1');
  await e.key('kv-gp-nopurge', 'k1');
  await e.namespace('sb-gp-p');
  await e.namespace('sb-gp-s');
  await pairAndSettle(e, 'sb-gp-p', 'sb-gp-s', 'gp-alias');
}, 120_000);

afterAll(async () => e?.estate.stop());

const ruleIds = (out: { findings: Array<{ ruleId: string; blocks: boolean }> }) =>
  out.findings
    .filter((f) => f.blocks)
    .map((f) => f.ruleId)
    .sort();

it('dry run: the plan in the documented order and no write at all', async () => {
  const mark = await e.mark();
  const r = await e.post<GeoDrOutput & { dryRun: boolean; steps: Array<{ kind: string }> }>(
    '/api/cmk/geo-dr',
    geoBody(e, 'sb-gp-p', 'sb-gp-s', 'gp-alias', [e.keyId('kv-gp', 'k1')], { dryRun: true }),
  );
  expect(r.status).toBe(200);
  expect(r.body).toEqual(
    expect.objectContaining({
      dryRun: true,
      outcome: 'apply',
      order: 'breakEncryptRepair',
      pairing: 'paired',
    }),
  );
  expect(r.body.steps.map((s) => s.kind)).toEqual([
    'breakPairing',
    'waitForBreak',
    'grantSecondary',
    'encryptPrimary',
    'pair',
    'waitForReplication',
  ]);
  expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  expect(await isPaired(e, 'sb-gp-p', 'sb-gp-s', 'gp-alias')).toBe(true);
});

it('a primary with queues, a vault without purge protection: all findings, zero writes, pairing intact', async () => {
  await e.namespace('sb-gp2-p');
  await e.namespace('sb-gp2-s');
  await e.queue('sb-gp2-p', 'orders');
  await pairAndSettle(e, 'sb-gp2-p', 'sb-gp2-s', 'gp2-alias');
  const mark = await e.mark();
  const { op } = await geoDr(
    e,
    geoBody(e, 'sb-gp2-p', 'sb-gp2-s', 'gp2-alias', [e.keyId('kv-gp-nopurge', 'k1')]),
  );
  const out = op.output!;
  expect(out.outcome).toBe('blocked');
  expect(ruleIds(out)).toEqual(['CMK-007', 'GEO-003']);
  expect(out.pairing).toEqual(expect.objectContaining({ intact: true, state: 'paired' }));
  expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  expect(await isPaired(e, 'sb-gp2-p', 'sb-gp2-s', 'gp2-alias')).toBe(true);
});

it('alias or partner that do not match, roles reversed: GEO-004, zero writes', async () => {
  await e.namespace('sb-gp-other');
  const mark = await e.mark();
  const wrongPartner = await e.post<GeoDrOutput>(
    '/api/cmk/geo-dr',
    geoBody(e, 'sb-gp-p', 'sb-gp-other', 'gp-alias', [e.keyId('kv-gp', 'k1')], { dryRun: true }),
  );
  expect(wrongPartner.status).toBe(200);
  expect(ruleIds(wrongPartner.body)).toEqual(['GEO-004']);
  const reversed = await e.post<GeoDrOutput>(
    '/api/cmk/geo-dr',
    geoBody(e, 'sb-gp-s', 'sb-gp-p', 'gp-alias', [e.keyId('kv-gp', 'k1')], { dryRun: true }),
  );
  expect(ruleIds(reversed.body)).toContain('GEO-004');
  const wrongAlias = await geoDr(e, geoBody(e, 'sb-gp-p', 'sb-gp-s', 'gp-other', [e.keyId('kv-gp', 'k1')]));
  expect(wrongAlias.op.output?.outcome).toBe('blocked');
  expect(ruleIds(wrongAlias.op.output!)).toEqual(['GEO-004']);
  expect(await e.appRequests(mark, 'attempted')).toEqual([]);
});

it('a pairing still replicating: GEO-005 (wait), zero writes', async () => {
  await e.namespace('sb-gp3-p');
  await e.namespace('sb-gp3-s');
  await e.pair('sb-gp3-p', 'sb-gp3-s', 'gp3-alias'); // Accepted for 30 s on the clock
  const mark = await e.mark();
  const r = await e.post<GeoDrOutput>(
    '/api/cmk/geo-dr',
    geoBody(e, 'sb-gp3-p', 'sb-gp3-s', 'gp3-alias', [e.keyId('kv-gp', 'k1')], { dryRun: true }),
  );
  expect(ruleIds(r.body)).toEqual(['GEO-005']);
  expect(await e.appRequests(mark, 'attempted')).toEqual([]);
});

it('user-assigned identity on an already paired primary: refused with the documented order', async () => {
  const uai = await e.uai('id-gp');
  const mark = await e.mark();
  const { op } = await geoDr(
    e,
    geoBody(e, 'sb-gp-p', 'sb-gp-s', 'gp-alias', [e.keyId('kv-gp', 'k1')], {
      identity: { type: 'UserAssigned', resourceId: uai.id },
    }),
  );
  const out = op.output!;
  expect(out.outcome).toBe('blocked');
  const f = out.findings.find((x) => x.ruleId === 'GEO-006');
  expect(f?.fix).toMatch(/enable encryption with it on BOTH namespaces, then pair/);
  expect(f?.command).toContain('az servicebus georecovery-alias break-pair');
  expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  expect(await isPaired(e, 'sb-gp-p', 'sb-gp-s', 'gp-alias')).toBe(true);
});

it('bad input: every problem at once, 400', async () => {
  const r = await e.post<{ errors: Array<{ field: string }> }>('/api/cmk/geo-dr', {
    primaryNamespaceId: 'not-an-id',
    secondaryNamespaceId: e.nsId('sb-gp-s'),
    alias: 'x',
    keys: [],
  });
  expect(r.status).toBe(400);
  expect(r.body.errors.map((p) => p.field).sort()).toEqual(['alias', 'keys', 'primaryNamespaceId']);
});

it("a real run with four keys or a foreign key host: 422 at once with the dry run's findings; nothing started, no Azure call", async () => {
  const keys = [
    e.keyId('kv-gp', 'k1'),
    e.keyId('kv-gp', 'k2'),
    e.keyId('kv-gp', 'k3'),
    'https://kv-gp.vault.evil.example/keys/k1',
  ];
  // Namespaces no other test has started an operation for (the 404 below must mean "never started").
  await e.namespace('sb-gp4-p');
  await e.namespace('sb-gp4-s');
  const body = geoBody(e, 'sb-gp4-p', 'sb-gp4-s', 'gp4-alias', keys);
  const seqOf = async () =>
    (await e.estate.azure.control<RequestLogEntry[]>('GET', '/requests')).body.reduce(
      (m, r) => Math.max(m, r.seq),
      0,
    );
  const mark = await seqOf();
  const r = await e.post<{ status: number; findings: Array<{ ruleId: string; subject: { id: string } }> }>(
    '/api/cmk/geo-dr',
    body,
  );
  expect(r.status).toBe(422);
  expect(r.body.findings.map((f) => `${f.ruleId} ${f.subject.id}`)).toEqual([
    `PRE-005 ${e.nsId('sb-gp4-p')}`,
    'PRE-007 https://kv-gp.vault.evil.example/keys/k1',
  ]);
  expect(
    (await e.estate.azure.control<RequestLogEntry[]>('GET', `/requests?since=${mark}`)).body.filter(
      (x) => !x.path.startsWith('/_sandbox/'),
    ),
  ).toEqual([]);
  const instanceId = `enableCmkGeoDr-${createHash('sha256').update(e.nsId('sb-gp4-p').toLowerCase()).digest('hex').slice(0, 32)}`;
  const op = await e.estate.app.json(`/api/operations/${instanceId}`, {
    headers: { 'x-functions-key': e.estate.app.keys.function },
  });
  expect(op.status).toBe(404);

  const dry = await e.post<{ findings: Array<{ ruleId: string }> }>('/api/cmk/geo-dr', {
    ...body,
    dryRun: true,
  });
  expect(r.body.findings).toEqual(
    dry.body.findings.filter((f) => ['PRE-005', 'PRE-006', 'PRE-007'].includes(f.ruleId)),
  );
});
