/**
 * Starts what `npm start` starts — the emulated Azure and the local Functions host on one virtual
 * clock, in one child process that trusts the sandbox CA — and talks to both over HTTP(S) only: the
 * app through its functions, Azure through the sandbox's control API (as an operator or a test would).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DIST, ROOT, TEST_KEYS } from './hostProcess';

export interface LocalEstateReady {
  url: string;
  keys: typeof TEST_KEYS;
  azure: {
    url: string;
    adminSecret: string;
    subscriptionId: string;
    tenantId: string;
    app: { objectId: string };
    caPath: string;
    /** The settings the app got from the sandbox (ARM_ENDPOINT, AzureWebJobsStorage, …). */
    env: Record<string, string>;
  };
}

export interface LocalEstate {
  app: {
    url: string;
    keys: typeof TEST_KEYS;
    json<T = unknown>(p: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  };
  azure: LocalEstateReady['azure'] & {
    control<T = unknown>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }>;
  };
  logs: string[];
  stop(): Promise<void>;
}

export async function startLocalEstate(
  options: { args?: string[]; env?: Record<string, string>; seed?: boolean } = {},
): Promise<LocalEstate> {
  const child = spawn(
    process.execPath,
    [
      path.join(DIST, 'sandbox', 'start.js'),
      '--clock',
      'virtual',
      '--clock-start',
      '2026-01-01T00:00:00Z',
      '--port',
      '0',
      '--azure-port',
      '0',
      ...(options.seed ? [] : ['--no-seed']),
      '--ready-json',
      '--log-level',
      'warning',
      ...(options.args ?? []),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, SANDBOX_ADMIN_SECRET: 'test-sandbox-admin', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: string[] = [];
  const ready = await new Promise<LocalEstateReady>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{"event":"ready"')) resolve(JSON.parse(line) as LocalEstateReady);
      else logs.push(line);
    });
    createInterface({ input: child.stderr }).on('line', (line) => logs.push(line));
    child.once('exit', (code) =>
      reject(new Error(`npm start exited with ${code} before it was ready:\n${logs.join('\n')}`)),
    );
  });
  const appUrl = ready.url.replace('localhost', '127.0.0.1');
  const ca = readFileSync(ready.azure.caPath, 'utf8');
  const agent = new https.Agent({ ca, keepAlive: false });
  const control = <T>(method: string, p: string, body?: unknown) =>
    new Promise<{ status: number; body: T }>((resolve, reject) => {
      const req = https.request(
        `${ready.azure.url}/_sandbox${p}`,
        {
          method,
          agent,
          headers: { authorization: `Bearer ${ready.azure.adminSecret}`, 'content-type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : undefined) as T }),
          );
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  return {
    app: {
      url: appUrl,
      keys: ready.keys,
      async json<T>(p: string, init?: RequestInit) {
        const response = await fetch(`${appUrl}${p}`, init);
        const text = await response.text();
        return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
      },
    },
    azure: { ...ready.azure, control },
    logs,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
