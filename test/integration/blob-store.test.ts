/**
 * src/azure/blobStore.ts through the real @azure/storage-blob client against the sandbox's storage
 * account (Azurite): missing blob and container, conditional create, optimistic concurrency by ETag,
 * flat listing by prefix.
 */
import { AzureClients } from '../../src/azure/clients';
import { BlobConflictError, blobContainer } from '../../src/azure/blobStore';
import { loadConfig } from '../../src/config';
import { startBlobStorage, type BlobStorage } from '../../sandbox/azure/storage/azurite';

let storage: BlobStorage;
let clients: AzureClients;

beforeAll(async () => {
  storage = await startBlobStorage();
  const config = loadConfig({ AzureWebJobsStorage: storage.connectionString });
  // No ARM call is made here: a credential that must never be asked for a token.
  clients = new AzureClients(config, {
    getToken: () => Promise.reject(new Error('no token expected')),
  });
});
afterAll(() => storage.close());

test('read-missing, create-once, ETag-conditioned update, listing', async () => {
  const c = blobContainer(clients, 'state-test');
  expect(await c.readJson('a/one.json')).toBeUndefined(); // container missing → undefined
  const first = await c.writeJson('a/one.json', { n: 1 }, { ifNoneMatch: '*' });
  await expect(c.writeJson('a/one.json', { n: 99 }, { ifNoneMatch: '*' })).rejects.toBeInstanceOf(
    BlobConflictError,
  );
  const read = await c.readJson<{ n: number }>('a/one.json');
  expect(read).toEqual({ value: { n: 1 }, etag: first });

  const second = await c.writeJson('a/one.json', { n: 2 }, { ifMatch: first });
  expect(second).not.toBe(first);
  // A writer holding the old ETag lost the race.
  await expect(c.writeJson('a/one.json', { n: 3 }, { ifMatch: first })).rejects.toBeInstanceOf(
    BlobConflictError,
  );
  expect((await c.readJson<{ n: number }>('a/one.json'))?.value).toEqual({ n: 2 });

  await c.writeJson('a/two.json', { n: 1 });
  await c.writeJson('b/three.json', { n: 1 });
  expect(await c.listBlobs('a/')).toEqual(['a/one.json', 'a/two.json']);
  expect(await blobContainer(clients, 'never-made').listBlobs()).toEqual([]);
});

test('no storage setting: a refusal naming the settings, before any call', () => {
  const bare = new AzureClients(loadConfig({}), { getToken: () => Promise.reject(new Error('no')) });
  expect(() => blobContainer(bare)).toThrow(/AzureWebJobsStorage/);
});
