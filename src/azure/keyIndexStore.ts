/**
 * The key index and the key observations, persisted as JSON blobs in the app's storage account
 * (AzureWebJobsStorage: a connection string locally / Azurite, `AzureWebJobsStorage__blobServiceUri`
 * + the app's identity in Azure — configuration only, see blobStore.ts). Container `cmk-guardian`,
 * blobs `key-index.json` and `key-observations.json` (docs/ARCHITECTURE.md "Key index").
 *
 * Writes are ETag-conditional: two refreshes (a timer and an enable finishing together) cannot tear
 * the blob, and the one holding the OLDER lists never overwrites a newer index.
 */
import { BlobConflictError, blobContainer, type BlobContainer } from './blobStore';
import type { AzureClients } from './clients';
import type { KeyIndex, KeyObservations } from '../domain';

export const KEY_INDEX_BLOB = 'key-index.json';
export const KEY_OBSERVATIONS_BLOB = 'key-observations.json';

/** How many times a lost race is re-read and retried before giving up (then: a platform fault). */
const MAX_ATTEMPTS = 5;

export type SaveOutcome =
  /** Our index is now stored. */
  | { saved: true; etag: string }
  /** A newer index (built from later lists) was already stored: ours was dropped, nothing torn. */
  | { saved: false; etag: string; storedBuiltAt: string };

interface ObservationsDoc {
  version: 1;
  keys: KeyObservations;
}

export class KeyIndexStore {
  private readonly container: BlobContainer;

  constructor(clients: AzureClients) {
    this.container = blobContainer(clients);
  }

  /** The stored index; undefined when it was never built (or the blob is not an index of this version). */
  async load(): Promise<KeyIndex | undefined> {
    return (await this.loadWithEtag())?.index;
  }

  async loadWithEtag(): Promise<{ index: KeyIndex; etag: string } | undefined> {
    const read = await this.container.readJson<KeyIndex>(KEY_INDEX_BLOB);
    if (!read || !isKeyIndex(read.value)) return undefined;
    return { index: read.value, etag: read.etag };
  }

  /**
   * Stores the index unless a NEWER one (later `builtAt`) is already there. Conditional on the ETag
   * read just before (or on the blob not existing), re-read on a lost race.
   */
  async save(index: KeyIndex): Promise<SaveOutcome> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.container.readJson<KeyIndex>(KEY_INDEX_BLOB);
      if (
        current &&
        isKeyIndex(current.value) &&
        Date.parse(current.value.builtAt) > Date.parse(index.builtAt)
      ) {
        return { saved: false, etag: current.etag, storedBuiltAt: current.value.builtAt };
      }
      try {
        const etag = await this.container.writeJson(
          KEY_INDEX_BLOB,
          index,
          current ? { ifMatch: current.etag } : { ifNoneMatch: '*' },
        );
        return { saved: true, etag };
      } catch (error) {
        if (!(error instanceof BlobConflictError) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  /** What the app has seen of each key (last present, gone since); empty when never written. */
  async loadObservations(): Promise<KeyObservations> {
    const read = await this.container.readJson<ObservationsDoc>(KEY_OBSERVATIONS_BLOB);
    return read && read.value.version === 1 && typeof read.value.keys === 'object' ? read.value.keys : {};
  }

  /**
   * Merges observations into the stored ones (read-modify-write on the ETag, retried on a lost race):
   * `update` gets the CURRENT stored observations, so two assessments of different keys both land.
   */
  async updateObservations(
    update: (stored: KeyObservations) => KeyObservations | Promise<KeyObservations>,
  ): Promise<KeyObservations> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.container.readJson<ObservationsDoc>(KEY_OBSERVATIONS_BLOB);
      const stored = current && current.value.version === 1 ? current.value.keys : {};
      const next = await update(stored);
      try {
        await this.container.writeJson(
          KEY_OBSERVATIONS_BLOB,
          { version: 1, keys: next } satisfies ObservationsDoc,
          current ? { ifMatch: current.etag } : { ifNoneMatch: '*' },
        );
        return next;
      } catch (error) {
        if (!(error instanceof BlobConflictError) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }
}

function isKeyIndex(v: unknown): v is KeyIndex {
  const x = v as Partial<KeyIndex> | null;
  return (
    !!x &&
    x.version === 1 &&
    typeof x.builtAt === 'string' &&
    Array.isArray(x.namespaces) &&
    Array.isArray(x.subscriptions)
  );
}
