/**
 * The sandbox's storage account: Azurite's Blob service (the npm package), in memory, on loopback, on a
 * free port. It is the account `AzureWebJobsStorage` names, where Event Grid writes dead-lettered events
 * and where the app keeps its reports — a real Blob endpoint that @azure/storage-blob talks to, not a mock.
 *
 * Azurite runs as a child process rather than in-process: its telemetry library (applicationinsights)
 * patches `require` and Node's http module process-wide as soon as it is loaded, and the sandbox process
 * also hosts the app under `npm start`. `--disableTelemetry` keeps it from ever starting (no network).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';

/** Azurite's well-known development account (the same for every Azurite; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface BlobStorage {
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  blobEndpoint: string;
  accountName: string;
  accountKey: string;
  /** An `AzureWebJobsStorage`-style connection string for this account. */
  connectionString: string;
  /** A Blob client for the account (shared key), for the sandbox's own writes (dead-letter). */
  client(): BlobServiceClient;
  close(): Promise<void>;
}

const LISTENING = /successfully listens on (http:\/\/[^\s]+)/;

/** Azurite children still running; killed if this process exits without closing them. */
const running = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const c of running) c.kill('SIGTERM');
  });
}

export async function startBlobStorage(
  options: { host?: string; port?: number; memoryLimitMb?: number; startTimeoutMs?: number } = {},
): Promise<BlobStorage> {
  const bin = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist/src/blob/main.js');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      bin,
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--extentMemoryLimit',
      String(options.memoryLimitMb ?? 256),
      '--blobHost',
      options.host ?? '127.0.0.1',
      '--blobPort',
      String(options.port ?? 0),
    ],
    // Its own cwd-independent process: nothing is written to disk in memory mode.
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } },
  );
  track(child);
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`Azurite did not start within ${options.startTimeoutMs ?? 30_000} ms: ${out}`)),
      options.startTimeoutMs ?? 30_000,
    );
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      const m = LISTENING.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/+$/, ''));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited (${code}) before listening: ${out}`));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  // Keep draining its output so the pipe never fills; nothing of it is needed.
  child.stdout?.resume();
  child.stderr?.resume();
  child.unref();
  const blobEndpoint = `${base}/${AZURITE_ACCOUNT}`;
  const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
  let client: BlobServiceClient | undefined;
  return {
    blobEndpoint,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
    client: () => (client ??= new BlobServiceClient(blobEndpoint, credential)),
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
