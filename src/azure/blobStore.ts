/**
 * The one module that reads and writes the app's own state in its storage account (AzureWebJobsStorage,
 * Blob service): the key index, the alert path's remembered verdicts, the compliance reports. JSON
 * documents with optimistic concurrency — every read returns the blob's ETag, every write can be
 * conditional on it (`ifMatch`) or on the blob not existing yet (`ifNoneMatch: '*'`); a lost race is a
 * typed `BlobConflictError`, decided by HTTP status and Azure's error code, never by the message.
 * The container is created on the first write that finds it missing.
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { AzureClients } from './clients';

/** The app's container for its own state (key index, verdicts). */
export const APP_CONTAINER = 'cmk-guardian';

export interface JsonBlob<T> {
  value: T;
  etag: string;
}

export interface BlobProperties {
  etag: string;
  metadata: Record<string, string>;
}

export type WriteCondition = { ifMatch: string } | { ifNoneMatch: '*' };

/** A conditional write lost a race: someone else wrote the blob since it was read. */
export class BlobConflictError extends Error {
  readonly code = 'BlobConflict';
  constructor(
    readonly container: string,
    readonly blob: string,
  ) {
    super(`The blob ${container}/${blob} was changed by another writer since it was read.`);
    this.name = 'BlobConflictError';
  }
}

interface StorageErrorLike {
  statusCode?: unknown;
  code?: unknown;
}
const statusOf = (e: unknown): number | undefined => {
  const s = (e as StorageErrorLike | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
};
const codeOf = (e: unknown): string | undefined => {
  const c = (e as StorageErrorLike | null)?.code;
  return typeof c === 'string' ? c : undefined;
};

export class BlobContainer {
  private ensured = false;

  constructor(
    readonly client: ContainerClient,
    readonly name: string,
  ) {}

  /** The document and its ETag; undefined when the blob (or the container) does not exist. */
  async readJson<T>(blob: string): Promise<JsonBlob<T> | undefined> {
    try {
      // One download: the body and the ETag of that same version (no second read to race with).
      const res = await this.client.getBlockBlobClient(blob).download();
      const chunks: Buffer[] = [];
      for await (const chunk of (res.readableStreamBody ?? []) as AsyncIterable<Buffer | string>)
        chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      return { value: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T, etag: res.etag ?? '' };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Writes the document; returns the new ETag. Throws BlobConflictError when the condition fails. */
  async writeJson(
    blob: string,
    value: unknown,
    condition?: WriteCondition,
    metadata?: Record<string, string>,
  ): Promise<string> {
    return this.writeText(blob, JSON.stringify(value), condition, metadata);
  }

  /**
   * Writes an already serialised JSON document (a large one serialised once for several blobs),
   * with optional metadata (lower-case names: Azure keeps them as given, Azurite too).
   */
  async writeText(
    blob: string,
    body: string,
    condition?: WriteCondition,
    metadata?: Record<string, string>,
  ): Promise<string> {
    const conditions =
      condition === undefined
        ? {}
        : 'ifMatch' in condition
          ? { ifMatch: condition.ifMatch }
          : { ifNoneMatch: condition.ifNoneMatch };
    const upload = () =>
      this.client.getBlockBlobClient(blob).upload(body, Buffer.byteLength(body), {
        conditions,
        blobHTTPHeaders: { blobContentType: 'application/json' },
        ...(metadata ? { metadata } : {}),
      });
    try {
      return (await upload()).etag ?? '';
    } catch (error) {
      if (statusOf(error) === 404 && codeOf(error) === 'ContainerNotFound' && !this.ensured) {
        await this.client.createIfNotExists();
        this.ensured = true;
        return this.writeJsonAfterCreate(upload, blob);
      }
      throw this.conflictOr(error, blob);
    }
  }

  /**
   * The blob's ETag and metadata without its body (one HEAD); undefined when the blob or the
   * container does not exist. How a large document is judged by a field kept in its metadata.
   */
  async properties(blob: string): Promise<BlobProperties | undefined> {
    try {
      const props = await this.client.getBlockBlobClient(blob).getProperties();
      return { etag: props.etag ?? '', metadata: props.metadata ?? {} };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Blob names under a prefix (flat listing, every page). Empty when the container does not exist. */
  async listBlobs(prefix = ''): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const item of this.client.listBlobsFlat({ prefix })) names.push(item.name);
    } catch (error) {
      if (statusOf(error) === 404) return [];
      throw error;
    }
    return names;
  }

  private async writeJsonAfterCreate(
    upload: () => Promise<{ etag?: string }>,
    blob: string,
  ): Promise<string> {
    try {
      return (await upload()).etag ?? '';
    } catch (error) {
      throw this.conflictOr(error, blob);
    }
  }

  private conflictOr(error: unknown, blob: string): unknown {
    const status = statusOf(error);
    const code = codeOf(error);
    if (status === 412 || (status === 409 && code === 'BlobAlreadyExists'))
      return new BlobConflictError(this.name, blob);
    return error;
  }
}

/** A container of the app's storage account (default: the app's own, `cmk-guardian`). */
export function blobContainer(clients: AzureClients, containerName: string = APP_CONTAINER): BlobContainer {
  return new BlobContainer(clients.blobService().getContainerClient(containerName), containerName);
}
