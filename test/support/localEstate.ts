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
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import type { ArmTarget } from '../../sandbox/infra/apply';
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
  /** The sandbox as a deployment target for the real ARM SDK clients, as its administrator. */
  adminTarget(): Promise<ArmTarget>;
  stop(): Promise<void>;
}

/** A TokenCredential for `objectId` backed by the control API's token endpoint. */
export function controlCredential(estate: Pick<LocalEstate, 'azure'>, objectId: string): TokenCredential {
  return {
    async getToken(scopes: string | string[]): Promise<AccessToken> {
      const resource = (Array.isArray(scopes) ? scopes[0] : scopes) ?? '';
      const r = await estate.azure.control<{ access_token: string; expires_in?: number }>('POST', '/tokens', {
        objectId,
        resource,
      });
      if (r.status !== 200) throw new Error(`token for ${objectId}: ${r.status}`);
      // The SDK caches by the real clock; a short real lifetime keeps it from outliving a clock jump.
      return { token: r.body.access_token, expiresOnTimestamp: Date.now() + 5 * 60_000, tokenType: 'Bearer' };
    },
  };
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
    async adminTarget() {
      const principals = await control<Array<{ objectId: string; kind: string }>>('GET', '/principals');
      const admin = principals.body.find((p) => p.kind === 'admin');
      if (!admin) throw new Error('no admin principal in the sandbox');
      return {
        armUrl: ready.azure.url,
        ca,
        credential: controlCredential({ azure: { ...ready.azure, control } }, admin.objectId),
        subscriptionId: ready.azure.subscriptionId,
      };
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
