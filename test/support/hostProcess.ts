/**
 * Starts the compiled local Functions host (`dist/sandbox/host/cli.js`) as a child process, the way a
 * user would, and talks to it over HTTP only. Tests get the URL, the keys, the log and a handle on the
 * host's virtual clock (through its admin API).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

// This file runs from test/support (ts-jest) or dist/test/support (compiled benchmarks).
const up = path.resolve(__dirname, '..', '..');
export const ROOT = path.basename(up) === 'dist' ? path.dirname(up) : up;
export const DIST = path.join(ROOT, 'dist');
export const FIXTURE_APP = path.join(DIST, 'test', 'fixtures', 'app', 'index.js');
export const HOST_CLI = path.join(DIST, 'sandbox', 'host', 'cli.js');

export const TEST_KEYS = {
  master: 'test-master-key',
  function: 'test-function-key',
  eventGridExtension: 'test-eventgrid-key',
  durableTaskExtension: 'test-durabletask-key',
};

export interface HostProcessOptions {
  app?: string;
  env?: Record<string, string>;
  args?: string[];
  clockStart?: string;
}

export interface HostProcess {
  url: string;
  logs: string[];
  fetch(pathOrUrl: string, init?: RequestInit): Promise<Response>;
  json<T = unknown>(
    pathOrUrl: string,
    init?: RequestInit,
  ): Promise<{ status: number; body: T; headers: Headers }>;
  advanceClock(ms: number): Promise<{ now: string }>;
  advanceToNextDue(): Promise<{ now: string; pending: Array<{ at: string; label: string }> }>;
  clock(): Promise<{ now: string; pending: Array<{ at: string; label: string }> }>;
  stop(): Promise<void>;
}

export async function startHostProcess(options: HostProcessOptions = {}): Promise<HostProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cmk-host-'));
  const settingsFile = path.join(dir, 'local.settings.json');
  writeFileSync(
    settingsFile,
    JSON.stringify({
      IsEncrypted: false,
      Values: { FUNCTIONS_WORKER_RUNTIME: 'node' },
      Host: { Keys: TEST_KEYS },
    }),
  );
  const args = [
    HOST_CLI,
    '--app',
    options.app ?? FIXTURE_APP,
    '--port',
    '0',
    '--clock',
    'virtual',
    '--clock-start',
    options.clockStart ?? '2026-01-01T00:00:00.000Z',
    '--settings',
    settingsFile,
    '--ready-json',
    ...(options.args ?? []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const ready = new Promise<{ url: string }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('{"event":"ready"')) resolve(JSON.parse(line) as { url: string });
      else logs.push(line);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => logs.push(line));
    child.once('exit', (code) =>
      reject(new Error(`host exited with ${code} before it was ready:\n${logs.join('\n')}`)),
    );
  });
  const { url: publicUrl } = await ready;
  const url = publicUrl.replace('localhost', '127.0.0.1');
  const resolveUrl = (p: string): string =>
    p.startsWith('http') ? p.replace('//localhost:', '//127.0.0.1:') : `${url}${p}`;
  const admin = { 'x-functions-key': TEST_KEYS.master, 'content-type': 'application/json' };
  const host: HostProcess = {
    url,
    logs,
    fetch: (p, init) => fetch(resolveUrl(p), init),
    async json<T>(p: string, init?: RequestInit) {
      const response = await fetch(resolveUrl(p), init);
      const text = await response.text();
      return {
        status: response.status,
        body: (text ? JSON.parse(text) : undefined) as T,
        headers: response.headers,
      };
    },
    async advanceClock(ms) {
      return (
        await host.json<{ now: string }>('/admin/host/clock', {
          method: 'POST',
          headers: admin,
          body: JSON.stringify({ advanceMs: ms }),
        })
      ).body;
    },
    async advanceToNextDue() {
      return (
        await host.json<{ now: string; pending: [] }>('/admin/host/clock', {
          method: 'POST',
          headers: admin,
          body: JSON.stringify({ toNextDue: true }),
        })
      ).body;
    },
    async clock() {
      return (await host.json<{ now: string; pending: [] }>('/admin/host/clock', { headers: admin })).body;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
  return host;
}

/** Polls `probe` until it returns a value (not undefined) or the attempts run out. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  attempts = 400,
): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}
