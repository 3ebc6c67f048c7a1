/**
 * src/azure/keyIndexStore.ts through the real @azure/storage-blob client against Azurite: the index
 * round-trips, concurrent refreshes never tear it and an older build never overwrites a newer one,
 * concurrent observation updates both land (ETag read-modify-write).
 */
import { AzureClients } from '../../src/azure/clients';
import { blobContainer } from '../../src/azure/blobStore';
import { KEY_INDEX_BLOB, KeyIndexStore } from '../../src/azure/keyIndexStore';
import { loadConfig } from '../../src/config';
import { buildKeyIndex, cmkStateFromEncryption, type KeyIndex } from '../../src/domain';
import { startBlobStorage, type BlobStorage } from '../../sandbox/azure/storage/azurite';

let storage: BlobStorage;
let clients: AzureClients;

beforeAll(async () => {
  storage = await startBlobStorage();
  clients = new AzureClients(loadConfig({ AzureWebJobsStorage: storage.connectionString }), {
    getToken: () => Promise.reject(new Error('no token expected: storage is reached by connection string')),
  });
});
afterAll(() => storage.close());

const SUB = '00000000-0000-0000-0000-0000000000aa';
function index(builtAt: string, names: string[]): KeyIndex {
  return buildKeyIndex(
    [
      {
        subscriptionId: SUB,
        status: 'listed',
        namespaces: names.map((name) => ({
          id: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/${name}`,
          name,
          subscriptionId: SUB,
          resourceGroup: 'rg',
          skuTier: 'Premium',
          identity: { systemAssigned: { principalId: `p-${name}` }, userAssigned: [] },
          cmk: cmkStateFromEncryption(
            {
              keySource: 'Microsoft.KeyVault',
              keyVaultProperties: [{ keyName: 'k', keyVaultUri: 'https://kv.vault.azure.net/' }],
            },
            'vault.azure.net',
          ),
        })),
      },
    ],
    builtAt,
  );
}

test('load before any build is undefined; save + load round-trips the index exactly', async () => {
  const store = new KeyIndexStore(clients);
  expect(await store.load()).toBeUndefined();
  const first = index('2026-01-01T00:00:00.000Z', ['sb-a', 'sb-b']);
  const saved = await store.save(first);
  expect(saved.saved).toBe(true);
  expect(saved.etag).toMatch(/\S/);
  expect(await store.load()).toEqual(first);
});

test('concurrent refreshes: the newest build wins, an older one is dropped, the blob is never torn', async () => {
  const store = new KeyIndexStore(clients);
  const older = index('2026-01-01T01:00:00.000Z', ['sb-old']);
  const newer = index('2026-01-01T02:00:00.000Z', ['sb-new-1', 'sb-new-2']);
  const [a] = await Promise.all([new KeyIndexStore(clients).save(newer), store.save(older)]);
  // Whatever the interleaving, the newer build is stored, whole.
  expect(a.saved).toBe(true);
  expect(await store.load()).toEqual(newer);
  // Once the newer one is stored, the older one is refused.
  const refused = await store.save(older);
  expect(refused).toEqual({ saved: false, etag: refused.etag, storedBuiltAt: newer.builtAt });
  expect(await store.load()).toEqual(newer);
});

test('a blob that is not an index of this version reads as never built', async () => {
  await blobContainer(clients).writeJson(KEY_INDEX_BLOB, { version: 2, hello: 'world' });
  expect(await new KeyIndexStore(clients).load()).toBeUndefined();
});

test('a lost observation race is re-read and retried: both updates land', async () => {
  const store = new KeyIndexStore(clients);
  expect(await store.loadObservations()).toEqual({});
  let calls = 0;
  await store.updateObservations(async (stored) => {
    calls++;
    // Forces the race on the first attempt: another writer lands between our read and our write.
    if (calls === 1)
      await new KeyIndexStore(clients).updateObservations((s) => ({
        ...s,
        'kv/keys/b/': { goneSince: '2026-01-01T00:05:00.000Z' },
      }));
    return { ...stored, 'kv/keys/a/': { lastPresentAt: '2026-01-01T00:00:00.000Z' } };
  });
  expect(calls).toBe(2);
  expect(await store.loadObservations()).toEqual({
    'kv/keys/a/': { lastPresentAt: '2026-01-01T00:00:00.000Z' },
    'kv/keys/b/': { goneSince: '2026-01-01T00:05:00.000Z' },
  });
});
