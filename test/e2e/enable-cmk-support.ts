/**
 * Helpers for the enable-CMK end-to-end tests: seed Azure through the sandbox's own HTTPS APIs as the
 * administrator (ARM for resource groups, vaults, keys, namespaces, identities; the control API for
 * roles, faults, the clock and the request log), and drive the app only through its HTTP functions.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { httpsJson } from '../../sandbox/azure/testing';
import { grantAppRoles } from '../../sandbox/infra/apply';
import { loadInfraData } from '../../sandbox/infra/data';
import type { LocalEstate } from '../support/localEstate';

export interface RequestLogEntry {
  seq: number;
  /** ISO time on the sandbox clock. */
  time: string;
  method: string;
  host: string;
  path: string;
  principal?: string;
  operation?: string;
  status: number;
  service: string;
  query?: string;
  requestId?: string;
  faults?: string[];
  handlerStatus?: number;
  dropped?: true;
  errorCode?: string;
}

export interface Operation<O = Record<string, unknown>> {
  id: string;
  runtimeStatus: string;
  done: boolean;
  customStatus: {
    state: string;
    steps: Array<{ kind: string; status: string; detail?: string }>;
    grants: unknown[];
  } | null;
  output: O | null;
}

export interface EnableOutput {
  outcome: 'enabled' | 'noOp' | 'blocked' | 'failed';
  summary: string;
  findings: Array<{ ruleId: string; severity: string; blocks: boolean; message: string; fix: string }>;
  steps: Array<{ kind: string; status: string; detail?: string }>;
  changes: string[];
  grants: Array<{ vaultName: string; kind: string; principalId: string; scope: string }>;
  minimumWrites?: {
    identity: number;
    grants: Array<{ vaultName: string; writes: number }>;
    encryption: number;
    total: number;
  };
  encryption?: { keys: Array<{ keyId: string }>; requireInfrastructureEncryption: boolean };
  error?: { step: string; code: string; detail: string; fix?: string };
}

const API = {
  rg: '2021-04-01',
  kv: '2023-07-01',
  sb: '2021-11-01',
  msi: '2023-01-31',
};

export class Estate {
  readonly sub: string;
  readonly rg = 'rg-cmk';
  private adminId = '';
  private adminToken = '';
  private readonly agent: https.Agent;

  constructor(readonly estate: LocalEstate) {
    this.sub = estate.azure.subscriptionId;
    this.agent = new https.Agent({ ca: readFileSync(estate.azure.caPath, 'utf8'), keepAlive: false });
  }

  get app(): string {
    return this.estate.azure.app.objectId;
  }

  /** The sandbox administrator's object id (known after init). */
  async adminObjectId(): Promise<string> {
    return Promise.resolve(this.adminId);
  }

  private adminKvToken = '';

  /**
   * A Key Vault data-plane call as the administrator (`path` relative to the vault URI, e.g.
   * `keys/k1/rotate`); throws on an error status.
   */
  async kv<T = Record<string, unknown>>(
    method: string,
    vault: string,
    path: string,
    body?: unknown,
  ): Promise<T> {
    if (!this.adminKvToken) {
      this.adminKvToken = (
        await this.estate.azure.control<{ access_token: string }>('POST', '/tokens', {
          objectId: this.adminId,
          resource: 'keyvault',
        })
      ).body.access_token;
    }
    const sandbox = {
      caPem: readFileSync(this.estate.azure.caPath, 'utf8'),
      keyVaultDnsSuffix: 'vault.sandbox.localhost',
      port: Number(new URL(this.estate.azure.url).port),
    };
    const res = await httpsJson(sandbox, method, `${this.vaultUri(vault)}${path}?api-version=7.4`, {
      token: this.adminKvToken,
      ...(body === undefined ? {} : { body }),
    });
    if (res.status >= 400) throw new Error(`${method} ${vault} ${path}: ${res.status} ${res.text}`);
    return res.body as T;
  }

  async init(): Promise<this> {
    const principals = await this.estate.azure.control<Array<{ objectId: string; kind: string }>>(
      'GET',
      '/principals',
    );
    const admin = principals.body.find((p) => p.kind === 'admin');
    if (!admin) throw new Error('no admin principal in the sandbox');
    this.adminId = admin.objectId;
    this.adminToken = (
      await this.estate.azure.control<{ access_token: string }>('POST', '/tokens', {
        objectId: admin.objectId,
      })
    ).body.access_token;
    await this.arm('PUT', `/subscriptions/${this.sub}/resourcegroups/${this.rg}?api-version=${API.rg}`, {
      location: 'westeurope',
    });
    return this;
  }

  /** An ARM request as the sandbox administrator; throws on an error status. */
  async arm<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body);
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as T;
  }

  raw(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = https.request(
        new URL(path, this.estate.azure.url),
        {
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.adminToken}`,
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
              : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : undefined }),
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  rgId(): string {
    return `/subscriptions/${this.sub}/resourceGroups/${this.rg}`;
  }
  vaultId(name: string): string {
    return `${this.rgId()}/providers/Microsoft.KeyVault/vaults/${name}`;
  }
  nsId(name: string): string {
    return `${this.rgId()}/providers/Microsoft.ServiceBus/namespaces/${name}`;
  }
  vaultUri(name: string): string {
    return `https://${name}.vault.sandbox.localhost/`;
  }
  keyId(vault: string, key: string): string {
    return `${this.vaultUri(vault)}keys/${key}`;
  }

  async vault(
    name: string,
    spec: { rbac?: boolean; purgeProtection?: boolean; networkAcls?: Record<string, unknown> } = {},
  ): Promise<void> {
    await this.arm('PUT', `${this.vaultId(name)}?api-version=${API.kv}`, {
      location: 'westeurope',
      properties: {
        tenantId: this.estate.azure.tenantId,
        sku: { family: 'A', name: 'standard' },
        enableRbacAuthorization: spec.rbac ?? false,
        ...(spec.purgeProtection === false ? {} : { enablePurgeProtection: true }),
        ...(spec.networkAcls ? { networkAcls: spec.networkAcls } : {}),
        accessPolicies: [],
      },
    });
    await this.arm('GET', `${this.vaultId(name)}?api-version=${API.kv}`);
  }

  /** A key through the ARM view (createIfNotExist): RSA 2048 unless told otherwise. */
  async key(
    vault: string,
    name: string,
    spec: { enabled?: boolean; expires?: string; kty?: string } = {},
  ): Promise<void> {
    await this.arm('PUT', `${this.vaultId(vault)}/keys/${name}?api-version=${API.kv}`, {
      properties: {
        kty: spec.kty ?? 'RSA',
        ...(spec.kty && spec.kty.startsWith('EC') ? {} : { keySize: 2048 }),
        attributes: {
          ...(spec.enabled === false ? { enabled: false } : {}),
          ...(spec.expires ? { exp: Math.floor(Date.parse(spec.expires) / 1000) } : {}),
        },
      },
    });
  }

  async namespace(name: string, sku: 'Premium' | 'Standard' = 'Premium'): Promise<string> {
    await this.arm('PUT', `${this.nsId(name)}?api-version=${API.sb}`, {
      location: 'westeurope',
      sku: { name: sku, tier: sku, ...(sku === 'Premium' ? { capacity: 1 } : {}) },
    });
    await this.arm('GET', `${this.nsId(name)}?api-version=${API.sb}`);
    return this.nsId(name);
  }

  async queue(ns: string, name: string): Promise<void> {
    await this.arm('PUT', `${this.nsId(ns)}/queues/${name}?api-version=${API.sb}`, { properties: {} });
  }

  async getNamespace(
    name: string,
  ): Promise<{ identity?: { principalId?: string }; properties: { encryption?: Record<string, unknown> } }> {
    return this.arm('GET', `${this.nsId(name)}?api-version=${API.sb}`);
  }

  async uai(name: string): Promise<{ id: string; principalId: string }> {
    const id = `${this.rgId()}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
    const body = await this.arm<{ properties: { principalId: string } }>(
      'PUT',
      `${id}?api-version=${API.msi}`,
      {
        location: 'westeurope',
      },
    );
    return { id, principalId: body.properties.principalId };
  }

  async pair(primary: string, secondary: string, alias: string): Promise<void> {
    await this.arm('PUT', `${this.nsId(primary)}/disasterRecoveryConfigs/${alias}?api-version=${API.sb}`, {
      properties: { partnerNamespace: this.nsId(secondary) },
    });
  }

  /** Assigns a role to the app identity as the administrator; returns the assignment id. */
  async grantApp(role: string, scope: string): Promise<string> {
    const r = await this.estate.azure.control<{ id: string }>('POST', '/role-assignments', {
      principalId: this.app,
      role,
      scope,
    });
    if (r.status >= 300) throw new Error(`role ${role} at ${scope}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.id;
  }

  // ---- the app ------------------------------------------------------------------------------------

  async post<T>(path: string, body: unknown, raw = false): Promise<{ status: number; body: T }> {
    return this.estate.app.json<T>(path, {
      method: 'POST',
      headers: { 'x-functions-key': this.estate.app.keys.function, 'content-type': 'application/json' },
      body: raw ? (body as string) : JSON.stringify(body),
    });
  }

  async operation<O = EnableOutput>(id: string): Promise<Operation<O>> {
    const r = await this.estate.app.json<Operation<O>>(`/api/operations/${id}`, {
      headers: { 'x-functions-key': this.estate.app.keys.function },
    });
    if (r.status !== 200) throw new Error(`GET operation ${id}: ${r.status}`);
    return r.body;
  }

  /** Follows an operation to the end, moving the virtual clock on while it waits (timers, retries). */
  async settle<O = EnableOutput>(id: string, stepMs = 15_000, maxSteps = 400): Promise<Operation<O>> {
    for (let i = 0; i < maxSteps; i++) {
      const op = await this.operation<O>(id);
      if (op.done) return op;
      await this.estate.azure.control('POST', '/clock/advance', { ms: stepMs });
    }
    throw new Error(`operation ${id} did not finish`);
  }

  /** Starts an enable and follows it to the end. */
  async enable(body: Record<string, unknown>): Promise<{
    start: { status: number; body: { id: string; statusQueryGetUri: string } };
    op: Operation<EnableOutput>;
  }> {
    const start = await this.post<{ id: string; statusQueryGetUri: string }>('/api/cmk/enable', body);
    if (start.status !== 202)
      throw new Error(`enable answered ${start.status}: ${JSON.stringify(start.body)}`);
    return { start, op: await this.settle(start.body.id) };
  }

  async mark(): Promise<number> {
    const all = await this.estate.azure.control<RequestLogEntry[]>('GET', `/requests?principal=${this.app}`);
    return all.body.reduce((m, e) => Math.max(m, e.seq), 0);
  }

  /**
   * The app identity's requests since a mark: all, or only writes — every write *attempt* (whatever
   * its status: "wrote nothing" means none was even tried) or only the successful ones.
   */
  async appRequests(since: number, writes?: 'attempted' | 'succeeded'): Promise<RequestLogEntry[]> {
    const q = `/requests?principal=${this.app}&since=${since}${writes ? `&writes=${writes}` : ''}`;
    return (await this.estate.azure.control<RequestLogEntry[]>('GET', q)).body;
  }
}

/**
 * Grants the app identity every role of infra/roles.json (through the ARM SDK, as a deployment would):
 * subscription-scope roles on the subscription, the others on the test resource group that holds the
 * namespaces, vaults and identities. `except` leaves out one role by name.
 */
export async function grantDocumentedRoles(e: Estate, except?: string): Promise<void> {
  const rg = e.rgId();
  await grantAppRoles(
    await e.estate.adminTarget(),
    loadInfraData(),
    e.app,
    {
      subscription: [`/subscriptions/${e.sub}`],
      namespace: [rg],
      accessPolicyVault: [rg],
      rbacVault: [rg],
      userAssignedIdentity: [rg],
    },
    (_kind, role) => role.roleName === except,
  );
}

/** Adds a fault rule for the app identity's requests; returns its id. */
export async function fault(
  e: Estate,
  match: { method?: string; path: string },
  effect:
    | { type: 'throttle'; retryAfterSeconds: number }
    | { type: 'error'; status: number; code: string; message: string },
  count?: number,
): Promise<string> {
  const r = await e.estate.azure.control<{ id: string }>('POST', '/faults', {
    match: { ...match, principal: e.app },
    effect,
    ...(count !== undefined ? { count } : {}),
  });
  if (r.status >= 300) throw new Error(`fault: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}
