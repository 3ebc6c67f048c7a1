/**
 * The one-enable-per-namespace guard holds during Geo-DR: the encryption sub-orchestration runs under
 * the same instance id `POST /api/cmk/enable` derives from the namespace, so an enable of the primary
 * requested while the pairing is broken (and the primary is being encrypted) is answered 409 and starts
 * nothing — and the Geo-DR run still ends with CMK on and the pairing restored.
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, grantDocumentedRoles } from './enable-cmk-support';
import { aliasesOf, geoBody, isPaired, pairAndSettle, type GeoDrOutput } from './geo-dr-support';

let e: Estate;

beforeAll(async () => {
  e = await startLocalEstate().then((s) => new Estate(s).init());
  await grantDocumentedRoles(e);
  await e.vault('kv-gg');
  await e.key('kv-gg', 'k1');
}, 120_000);

afterAll(async () => e?.estate.stop());

interface GeoStatus {
  step?: string;
  pairing: { state: string; intact: boolean };
}

it('POST /api/cmk/enable on the primary while the Geo-DR run encrypts it: 409, pointing at the running enable', async () => {
  await e.namespace('sb-gg-p');
  await e.namespace('sb-gg-s');
  await pairAndSettle(e, 'sb-gg-p', 'sb-gg-s', 'gg-alias');
  const body = geoBody(e, 'sb-gg-p', 'sb-gg-s', 'gg-alias', [e.keyId('kv-gg', 'k1')]);
  const start = await e.post<{ id: string }>('/api/cmk/geo-dr', body);
  expect(start.status).toBe(202);

  // Move the clock in small steps until the Geo-DR run is in its encryption step (pairing broken).
  let status: GeoStatus | null = null;
  for (let i = 0; i < 200 && status?.step !== 'encryptPrimary'; i++) {
    status = (await e.operation<GeoDrOutput>(start.body.id)).customStatus as unknown as GeoStatus | null;
    if (status?.step !== 'encryptPrimary')
      await e.estate.azure.control('POST', '/clock/advance', { ms: 5_000 });
  }
  expect(status?.step).toBe('encryptPrimary');
  expect(status?.pairing).toMatchObject({ state: 'broken', intact: false });
  // Azure agrees the pairing is broken right now.
  expect((await aliasesOf(e, 'sb-gg-p'))[0]?.properties.role).toBe('PrimaryNotReplicating');

  const second = await e.post<{ status: number; title: string; operationId: string }>('/api/cmk/enable', {
    namespaceId: e.nsId('sb-gg-p'),
    keys: [{ keyId: e.keyId('kv-gg', 'k1') }],
  });
  expect(second.status).toBe(409);
  expect(second.body.title).toBe('An enable operation is already running for this namespace');
  // The running enable is the Geo-DR run's sub-orchestration.
  const running = await e.operation(second.body.operationId);
  expect(running).toMatchObject({ name: 'enableCmk', done: false });

  const op = await e.settle<GeoDrOutput>(start.body.id);
  expect(op.output?.outcome).toBe('enabled');
  expect(op.output?.pairing).toMatchObject({ intact: true, state: 'paired' });
  expect(await isPaired(e, 'sb-gg-p', 'sb-gg-s', 'gg-alias')).toBe(true);
});
