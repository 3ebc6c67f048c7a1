/**
 * src/azure/reportStore.ts through the real @azure/storage-blob client against the sandbox's storage
 * account (Azurite): nothing before the first sweep, latest + history copy + trend per save, `at`
 * lookups as of an instant, latest never moving back to an older sweep, and the blobs as Azure holds them.
 */
import { blobContainer } from '../../src/azure/blobStore';
import { AzureClients } from '../../src/azure/clients';
import {
  GENERATED_AT_METADATA,
  HISTORY_PREFIX,
  LATEST_BLOB,
  ReportStore,
  TREND_BLOB,
  reportStore,
} from '../../src/azure/reportStore';
import { loadConfig } from '../../src/config';
import { startBlobStorage, type BlobStorage } from '../../sandbox/azure/storage/azurite';
import { NOW } from '../unit/domain-fixtures';
import { reportFrom } from '../unit/report-fixtures';

let storage: BlobStorage;
let clients: AzureClients;

beforeAll(async () => {
  storage = await startBlobStorage();
  const config = loadConfig({
    AzureWebJobsStorage: storage.connectionString,
    REPORTS_CONTAINER: 'reports-it',
  });
  // Storage only: a credential that must never be asked for a token.
  clients = new AzureClients(config, { getToken: () => Promise.reject(new Error('no token expected')) });
});
afterAll(() => storage.close());

const DAY = 86_400_000;

test('before any sweep: no latest, no history, no trend (container not even created)', async () => {
  const store = reportStore(clients);
  expect(await store.latest()).toBeUndefined();
  expect(await store.at(NOW)).toBeUndefined();
  expect(await store.history()).toEqual([]);
  expect(await store.trend()).toEqual([]);
});

test('saves, history, as-of reads, trend; latest never moves back to an older sweep', async () => {
  const store = reportStore(clients);
  const day1 = reportFrom({ now: new Date(NOW.getTime() - 2 * DAY), sweepId: 'day1', specs: [] });
  const day2 = reportFrom({ now: new Date(NOW.getTime() - DAY), sweepId: 'day2' });
  const day3 = reportFrom({ now: NOW, sweepId: 'day3' });

  expect(await store.save(day1)).toEqual({
    historyBlob: `${HISTORY_PREFIX}${day1.generatedAt}.json`,
    latest: true,
  });
  expect(await store.save(day3)).toEqual({
    historyBlob: `${HISTORY_PREFIX}${day3.generatedAt}.json`,
    latest: true,
  });
  // A late save of an older sweep joins the history but does not replace the newer latest.
  expect(await store.save(day2)).toEqual({
    historyBlob: `${HISTORY_PREFIX}${day2.generatedAt}.json`,
    latest: false,
  });
  // A replayed save (same report again) changes nothing visible.
  await store.save(day3);

  expect((await store.latest())?.sweep.sweepId).toBe('day3');
  expect(await store.history()).toEqual([day1.generatedAt, day2.generatedAt, day3.generatedAt]);
  expect((await store.at(new Date(day2.generatedAt)))?.sweep.sweepId).toBe('day2');
  expect((await store.at(new Date(Date.parse(day3.generatedAt) - 1)))?.sweep.sweepId).toBe('day2');
  expect(await store.at(new Date(Date.parse(day1.generatedAt) - 1))).toBeUndefined();
  expect((await store.at(new Date(NOW.getTime() + 365 * DAY)))?.sweep.sweepId).toBe('day3');
  expect((await store.trend()).map((p) => [p.generatedAt, p.namespaces, p.compliant])).toEqual([
    [day1.generatedAt, 0, 0],
    [day2.generatedAt, 7, 2],
    [day3.generatedAt, 7, 2],
  ]);

  // Read Azure back through a plain container client: exactly these blobs, the report as stored.
  const raw = blobContainer(clients, 'reports-it');
  expect((await raw.listBlobs()).sort()).toEqual(
    [
      LATEST_BLOB,
      TREND_BLOB,
      ...[day1, day2, day3].map((r) => `${HISTORY_PREFIX}${r.generatedAt}.json`),
    ].sort(),
  );
  expect((await raw.readJson(`${HISTORY_PREFIX}${day2.generatedAt}.json`))?.value).toEqual(day2);
  expect((await raw.readJson(LATEST_BLOB))?.value).toEqual(day3);
});

test('latest.json is judged by its metadata, never by downloading the previous report; a latest.json without metadata is read once', async () => {
  const raw = blobContainer(clients, 'reports-meta-it');
  const downloads: string[] = [];
  // The real container, with every download recorded: saving must not read latest.json back.
  const store = new ReportStore({
    readJson: <T>(blob: string) => {
      downloads.push(blob);
      return raw.readJson<T>(blob);
    },
    writeJson: raw.writeJson.bind(raw),
    writeText: raw.writeText.bind(raw),
    properties: raw.properties.bind(raw),
    listBlobs: raw.listBlobs.bind(raw),
  });
  const older = reportFrom({ now: new Date(NOW.getTime() - DAY), sweepId: 'older' });
  const newer = reportFrom({ now: NOW, sweepId: 'newer' });

  expect(await store.save(newer)).toEqual({
    historyBlob: `${HISTORY_PREFIX}${newer.generatedAt}.json`,
    latest: true,
  });
  expect(await store.save(older)).toEqual({
    historyBlob: `${HISTORY_PREFIX}${older.generatedAt}.json`,
    latest: false,
  });
  expect(downloads.filter((b) => b !== TREND_BLOB)).toEqual([]);
  expect((await raw.properties(LATEST_BLOB))?.metadata).toEqual({
    [GENERATED_AT_METADATA]: newer.generatedAt,
  });
  expect((await raw.properties(`${HISTORY_PREFIX}${older.generatedAt}.json`))?.metadata).toEqual({
    [GENERATED_AT_METADATA]: older.generatedAt,
  });
  expect((await raw.readJson(LATEST_BLOB))?.value).toEqual(newer);

  // A latest.json stored before the metadata existed (no metadata): read once, still never moved back.
  await raw.writeJson(LATEST_BLOB, newer);
  downloads.length = 0;
  expect((await store.save(older)).latest).toBe(false);
  expect(downloads.filter((b) => b !== TREND_BLOB)).toEqual([LATEST_BLOB]);
  expect((await raw.readJson(LATEST_BLOB))?.value).toEqual(newer);
  // … and replaced by a newer report, which brings the metadata.
  const newest = reportFrom({ now: new Date(NOW.getTime() + DAY), sweepId: 'newest' });
  expect((await store.save(newest)).latest).toBe(true);
  expect((await raw.properties(LATEST_BLOB))?.metadata).toEqual({
    [GENERATED_AT_METADATA]: newest.generatedAt,
  });
});
