import { STATUS_CODES } from 'node:http';
import type { RequestOutcome, SandboxCore } from '../core';
import type { KeyVaultProvider } from '../keyvault';
import type { Row } from './kql';
import type { MetricStore } from './metrics';

/**
 * The Key Vault audit log: every data-plane and management operation on a vault, with Azure's
 * operation names (ObjectVerb: KeyGet, KeyWrap, VaultPatch …), the caller's object id, the result and
 * the key URI — written to the Log Analytics workspace of each diagnostic setting on the vault that
 * enables the `AuditEvent` category (or the `audit` / `allLogs` category group). Rows have the
 * AzureDiagnostics columns Log Analytics shows (`OperationName`, `ResultType`, `httpStatusCode_d`,
 * `id_s`, `identity_claim_oid_g` …). Fed by the pipeline's request observer and by Service Bus's own
 * key calls (which do not pass the pipeline). The same feed gives the vault's platform metrics
 * (ServiceApiHit, ServiceApiResult, Availability, ServiceApiLatency), which need no diagnostic setting.
 */
export const DIAGNOSTIC_SETTINGS = 'monitorDiagnosticSettings';
const AUDIT_ROWS = 'monitorAuditRows';
const AUDIT_SEQ = 'monitorAuditSeq';

export interface DiagnosticSettingRecord {
  id: string;
  name: string;
  resourceId: string;
  properties: {
    workspaceId?: string;
    storageAccountId?: string;
    eventHubAuthorizationRuleId?: string;
    eventHubName?: string;
    logAnalyticsDestinationType?: string | null;
    logs: Array<{ category?: string; categoryGroup?: string; enabled: boolean; retentionPolicy?: unknown }>;
    metrics: Array<{ category?: string; enabled: boolean; timeGrain?: string; retentionPolicy?: unknown }>;
  };
}

/** Data-plane routes (method + path template) → AuditEvent operation name (Key Vault logging docs). */
const DATA_PLANE_OPERATIONS: Record<string, string> = {
  'POST /keys/:name/create': 'KeyCreate',
  'PUT /keys/:name': 'KeyImport',
  'POST /keys/:name/backup': 'KeyBackup',
  'POST /keys/restore': 'KeyRestore',
  'GET /keys': 'KeyList',
  'GET /keys/:name/versions': 'KeyListVersions',
  'GET /keys/:name/rotationpolicy': 'KeyRotationPolicyGet',
  'PUT /keys/:name/rotationpolicy': 'KeyRotationPolicySet',
  'POST /keys/:name/rotate': 'KeyRotate',
  'GET /keys/:name': 'KeyGet',
  'GET /keys/:name/:version': 'KeyGet',
  'PATCH /keys/:name': 'KeyUpdate',
  'PATCH /keys/:name/:version': 'KeyUpdate',
  'DELETE /keys/:name': 'KeyDelete',
  'GET /deletedkeys': 'KeyListDeleted',
  'GET /deletedkeys/:name': 'KeyGetDeleted',
  'DELETE /deletedkeys/:name': 'KeyPurge',
  'POST /deletedkeys/:name/recover': 'KeyRecover',
  'POST /keys/:name/:version/encrypt': 'KeyEncrypt',
  'POST /keys/:name/:version/decrypt': 'KeyDecrypt',
  'POST /keys/:name/:version/wrapkey': 'KeyWrap',
  'POST /keys/:name/:version/unwrapkey': 'KeyUnwrap',
  'POST /keys/:name/:version/sign': 'KeySign',
  'POST /keys/:name/:version/verify': 'KeyVerify',
  // Versionless crypto calls (the current version).
  'POST /keys/:name/encrypt': 'KeyEncrypt',
  'POST /keys/:name/decrypt': 'KeyDecrypt',
  'POST /keys/:name/wrapkey': 'KeyWrap',
  'POST /keys/:name/unwrapkey': 'KeyUnwrap',
  'POST /keys/:name/sign': 'KeySign',
  'POST /keys/:name/verify': 'KeyVerify',
};

/** Management operations on one vault (the docs: "other key vault operations" are VaultPatch). */
function managementOperation(method: string, routePath: string): string | undefined {
  const p = routePath.toLowerCase();
  if (p.endsWith('/microsoft.keyvault/vaults/:vaultname')) {
    return { PUT: 'VaultPut', PATCH: 'VaultPatch', GET: 'VaultGet', DELETE: 'VaultDelete' }[method];
  }
  // [U] Access policy add/replace/remove are logged as VaultPatch ("other key vault operations").
  if (p.endsWith('/microsoft.keyvault/vaults/:vaultname/accesspolicies/:operationkind') && method === 'PUT')
    return 'VaultPatch';
  return undefined;
}

/** Path segments after the object that name the action rather than the object (for `id_s`). */
const ACTION_SEGMENT =
  /\/(create|backup|rotate|recover|encrypt|decrypt|wrapkey|unwrapkey|sign|verify|rotationpolicy)$/i;

export interface AuditEvent {
  vaultId: string;
  vaultUri: string;
  operationName: string;
  activityType: 'key' | 'vault';
  outcome: RequestOutcome;
}

export class AuditLog {
  /** Turned off by the benchmark's baseline (no observer work at all). */
  enabled = true;

  constructor(
    private readonly core: SandboxCore,
    private readonly metrics: MetricStore,
  ) {}

  private get keyVault(): KeyVaultProvider | undefined {
    return this.core.providers.find((p) => p.name === 'Microsoft.KeyVault') as KeyVaultProvider | undefined;
  }

  /** The pipeline observer: Key Vault data plane and vault management requests. */
  observe(outcome: RequestOutcome): void {
    if (!this.enabled || !outcome.routePath) return;
    const event = this.classify(outcome);
    if (!event) return;
    // [U] Vault metrics count data-plane requests; management operations reach the vault through ARM.
    if (event.activityType === 'key') this.recordMetrics(event);
    this.write(event);
  }

  private classify(o: RequestOutcome): AuditEvent | undefined {
    const kv = this.keyVault;
    if (!kv || !o.routePath) return undefined;
    if (o.service === 'keyvault' && o.vaultName) {
      const operationName = DATA_PLANE_OPERATIONS[`${o.method} ${o.routePath.toLowerCase()}`];
      const vault = kv.model.vaultByName(o.vaultName);
      if (!operationName || !vault) return undefined;
      return {
        vaultId: vault.id,
        vaultUri: vault.properties.vaultUri,
        operationName,
        activityType: 'key',
        outcome: o,
      };
    }
    if (o.service === 'arm' && /\/providers\/microsoft\.keyvault\/vaults\/:vaultname/i.test(o.routePath)) {
      const operationName = managementOperation(o.method, o.routePath);
      const { subscriptionId, resourceGroupName, vaultName } = o.params;
      if (!operationName || !subscriptionId || !resourceGroupName || !vaultName) return undefined;
      const vaultId = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/Microsoft.KeyVault/vaults/${vaultName}`;
      const vault = kv.model.vaultByName(vaultName);
      // A deleted vault's settings went with it; a vault being created has none yet.
      const vaultUri = vault?.properties.vaultUri ?? this.core.urls.vaultUri(vaultName);
      return { vaultId: vault?.id ?? vaultId, vaultUri, operationName, activityType: 'vault', outcome: o };
    }
    return undefined;
  }

  private recordMetrics(e: AuditEvent): void {
    const o = e.outcome;
    const ns = 'Microsoft.KeyVault/vaults';
    const dims = { ActivityType: e.activityType, ActivityName: e.operationName.toLowerCase() };
    const statusDims = {
      ...dims,
      StatusCode: String(o.status),
      StatusCodeClass: `${Math.floor(o.status / 100)}xx`,
    };
    const one = { total: 1, count: 1, min: 1, max: 1 };
    this.metrics.record(e.vaultId, ns, 'ServiceApiHit', dims, o.time, one);
    this.metrics.record(e.vaultId, ns, 'ServiceApiResult', statusDims, o.time, one);
    // [U] Availability counts service-side failures (5xx, throttling) against the vault, not refusals.
    const available = o.status < 500 && o.status !== 429 ? 100 : 0;
    this.metrics.record(e.vaultId, ns, 'Availability', statusDims, o.time, {
      total: available,
      count: 1,
      min: available,
      max: available,
    });
    const ms = Math.max(1, Math.round(o.durationMs));
    this.metrics.record(e.vaultId, ns, 'ServiceApiLatency', statusDims, o.time, {
      total: ms,
      count: 1,
      min: ms,
      max: ms,
    });
  }

  /** Workspaces receiving the vault's AuditEvent category. */
  destinations(vaultId: string): string[] {
    const out: string[] = [];
    for (const s of this.core.store.list<DiagnosticSettingRecord>(DIAGNOSTIC_SETTINGS, `${vaultId}/`)) {
      const audit = s.properties.logs.some(
        (l) =>
          l.enabled &&
          (l.category?.toLowerCase() === 'auditevent' ||
            l.categoryGroup?.toLowerCase() === 'audit' ||
            l.categoryGroup?.toLowerCase() === 'alllogs'),
      );
      if (audit && s.properties.workspaceId) out.push(s.properties.workspaceId);
    }
    return out;
  }

  private write(e: AuditEvent): void {
    const workspaces = this.destinations(e.vaultId);
    if (workspaces.length === 0) return;
    const row = this.row(e);
    for (const ws of workspaces) {
      const seq = (this.core.store.get<number>(AUDIT_SEQ, 'seq') ?? 0) + 1;
      this.core.store.put(AUDIT_SEQ, 'seq', seq);
      this.core.store.put(AUDIT_ROWS, `${ws}|${String(seq).padStart(12, '0')}`, { ...row, _seq: seq });
    }
  }

  /** One AzureDiagnostics row, as Log Analytics flattens a Key Vault AuditEvent record. */
  private row(e: AuditEvent): Row {
    const o = e.outcome;
    const [, sub = '', rg = '', name = ''] =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)$/i.exec(
        e.vaultId,
      ) ?? [];
    const base = e.vaultUri.replace(/\/+$/, '');
    const objectPath = e.activityType === 'key' ? o.path.replace(ACTION_SEGMENT, '') : '';
    const ok = o.status < 300;
    return {
      TimeGenerated: new Date(o.time).toISOString(),
      ResourceId: e.vaultId.toUpperCase(),
      SubscriptionId: sub,
      ResourceGroup: rg.toUpperCase(),
      ResourceProvider: 'MICROSOFT.KEYVAULT',
      Resource: name.toUpperCase(),
      ResourceType: 'VAULTS',
      Category: 'AuditEvent',
      OperationName: e.operationName,
      OperationVersion: o.apiVersion ?? null,
      // [U] Failures carry the status text as result type, as resultSignature does.
      ResultType: ok ? 'Success' : (STATUS_CODES[o.status]?.replace(/\s+/g, '') ?? String(o.status)),
      ResultSignature: STATUS_CODES[o.status] ?? String(o.status),
      ResultDescription: o.errorCode ?? '',
      DurationMs: Math.round(o.durationMs),
      CallerIPAddress: o.clientIp,
      CorrelationId: o.correlationId,
      identity_claim_oid_g: o.principal?.objectId ?? null,
      identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g:
        o.principal?.objectId ?? null,
      identity_claim_appid_g: o.principal?.clientId ?? null,
      requestUri_s: `https://${o.host}${o.path}${o.query}`,
      id_s: e.activityType === 'key' ? `${base}${objectPath}` : `${base}/`,
      httpStatusCode_d: o.status,
      clientInfo_s: o.userAgent ?? null,
      trustedService_s: o.trustedService ?? null,
      SourceSystem: 'Azure',
      Type: 'AzureDiagnostics',
    };
  }

  /** Rows of a workspace (or, resource-centric, of one vault across workspaces), oldest first. */
  rows(
    filter: { workspaceId?: string; resourceId?: string; sinceSeq?: number } = {},
  ): Array<Row & { _seq: number }> {
    const all = this.core.store.list<Row & { _seq: number }>(
      AUDIT_ROWS,
      filter.workspaceId ? `${filter.workspaceId}|` : undefined,
    );
    const seen = new Set<number>();
    return all
      .filter((r) => r._seq > (filter.sinceSeq ?? 0))
      .filter(
        (r) => !filter.resourceId || String(r.ResourceId).toLowerCase() === filter.resourceId.toLowerCase(),
      )
      .filter((r) => (filter.workspaceId ? true : !seen.has(r._seq) && (seen.add(r._seq), true)))
      .sort((a, b) => a._seq - b._seq);
  }
}
