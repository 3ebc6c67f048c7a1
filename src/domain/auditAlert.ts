/**
 * The body of `POST /api/alerts/keyvault-audit`: an Azure Monitor alert in the common alert schema
 * (`schemaId: azureMonitorCommonAlertSchema`), typically the log alert on the vaults' audit log that
 * fires on key deletion, disable or a failed unwrap (docs/ARCHITECTURE.md "Reactions"). What the app
 * takes from it is only where to look: the vaults among `essentials.alertTargetIDs`, and — when the
 * alert carries its search results (legacy log alerts) — the key ids in the rows' `id_s` column.
 * Every key id goes through the one Key Vault host validator: a host outside the cloud's suffix is
 * dropped (and counted), never followed. Validated with zod, loaded on first use (cold start).
 */
import { zodProblems, type ParseResult, type RequestProblem } from './requests';
import {
  KeyVaultUrlError,
  ResourceIdError,
  parseKeyVaultKeyId,
  parseKeyVaultResourceId,
} from './resourceIds';

/** Bounds on what one alert may ask the app to look at. */
export const MAX_ALERT_TARGETS = 100;
export const MAX_ALERT_ROWS = 1000;
export const MAX_ALERT_KEYS = 100;
/** A log alert payload is at most 256 KB (Azure Monitor's own limit). */
export const MAX_ALERT_BYTES = 256 * 1024;

export interface AuditAlert {
  alertId: string;
  alertRule?: string;
  monitorCondition: 'Fired' | 'Resolved';
  firedDateTime?: string;
  /** Vaults the alert targets (ARM ids, lower-case names). */
  vaults: Array<{ name: string; resourceId: string }>;
  /** Keys named by the search results, under the cloud's Key Vault suffix. */
  keys: Array<{ vaultName: string; keyName: string; versionlessKeyId: string }>;
  /** Targets that are not vaults (ignored) and key ids on foreign hosts (dropped). */
  ignored: { targets: number; foreignKeyIds: number; keysOutsideTargets: number };
}

function buildSchema(z: typeof import('zod')) {
  const str = z.string().max(2048);
  const row = z.array(z.unknown()).max(200);
  const table = z.looseObject({
    name: str.optional(),
    columns: z.array(z.looseObject({ name: str })).max(500),
    rows: z.array(row).max(MAX_ALERT_ROWS),
  });
  return z.looseObject({
    schemaId: z.literal('azureMonitorCommonAlertSchema'),
    data: z.looseObject({
      essentials: z.looseObject({
        alertId: str.min(1),
        alertRule: str.optional(),
        monitorCondition: z.enum(['Fired', 'Resolved']),
        firedDateTime: str.optional(),
        alertTargetIDs: z.array(str).min(1).max(MAX_ALERT_TARGETS),
      }),
      alertContext: z
        .looseObject({
          SearchResults: z.looseObject({ tables: z.array(table).max(10) }).nullish(),
        })
        .nullish(),
    }),
  });
}

let schema: ReturnType<typeof buildSchema> | undefined;

/** Validates a common-schema alert and extracts the vaults and keys it names. */
export function parseAuditAlert(body: unknown, keyVaultDnsSuffix: string): ParseResult<AuditAlert> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred loading is the point
  schema ??= buildSchema(require('zod') as typeof import('zod'));
  const shaped = schema.safeParse(body);
  if (!shaped.success) return { ok: false, problems: zodProblems(shaped.error, body) };
  const e = shaped.data.data.essentials;
  const vaults = new Map<string, { name: string; resourceId: string }>();
  let otherTargets = 0;
  for (const target of e.alertTargetIDs) {
    try {
      const v = parseKeyVaultResourceId(target);
      vaults.set(v.name.toLowerCase(), { name: v.name.toLowerCase(), resourceId: v.id });
    } catch (error) {
      if (!(error instanceof ResourceIdError)) throw error;
      otherTargets++;
    }
  }
  const keys = new Map<string, AuditAlert['keys'][number]>();
  let foreign = 0;
  let outside = 0;
  for (const t of shaped.data.data.alertContext?.SearchResults?.tables ?? []) {
    const column = t.columns.findIndex((c) => c.name.toLowerCase() === 'id_s');
    if (column < 0) continue;
    for (const r of t.rows) {
      const value = r[column];
      if (typeof value !== 'string' || !value) continue;
      try {
        const k = parseKeyVaultKeyId(value, keyVaultDnsSuffix);
        // A key of a vault the alert does not target is not what the alert is about.
        if (vaults.size > 0 && !vaults.has(k.vaultName)) outside++;
        else if (keys.size < MAX_ALERT_KEYS && !keys.has(k.versionlessKeyId.toLowerCase()))
          keys.set(k.versionlessKeyId.toLowerCase(), {
            vaultName: k.vaultName,
            keyName: k.keyName,
            versionlessKeyId: k.versionlessKeyId,
          });
      } catch (error) {
        if (!(error instanceof KeyVaultUrlError)) throw error;
        // The audit log's id_s also holds vault and secret URLs: only key ids of this cloud count.
        if (error.reason === 'foreignHost' || error.reason === 'port' || error.reason === 'userInfo')
          foreign++;
      }
    }
  }
  if (vaults.size === 0 && keys.size === 0) {
    const problems: RequestProblem[] = [
      {
        field: 'data.essentials.alertTargetIDs',
        message:
          'names no Key Vault (…/providers/Microsoft.KeyVault/vaults/{name}) and the search results no key of this cloud',
      },
    ];
    return { ok: false, problems };
  }
  return {
    ok: true,
    value: {
      alertId: e.alertId,
      ...(e.alertRule ? { alertRule: e.alertRule } : {}),
      monitorCondition: e.monitorCondition,
      ...(e.firedDateTime ? { firedDateTime: e.firedDateTime } : {}),
      vaults: [...vaults.values()],
      keys: [...keys.values()],
      ignored: { targets: otherTargets, foreignKeyIds: foreign, keysOutsideTargets: outside },
    },
  };
}
