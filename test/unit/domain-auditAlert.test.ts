/**
 * The audit-alert body (src/domain/auditAlert.ts) and what a key event means for the namespaces
 * (src/domain/keyEventImpact.ts): the common alert schema validated, the vaults and keys it names
 * extracted, foreign hosts dropped; the impact of each verdict worded with the key that keeps a
 * namespace alive.
 */
import {
  MAX_ALERT_TARGETS,
  describeKeyEventImpact,
  isKeyOf,
  parseAuditAlert,
  type NamespaceHealth,
} from '../../src/domain';
import { NS_ID, SUFFIX, V1, vaultId } from './domain-fixtures';

const KV = vaultId('kv-prod');
const key = (vault: string, name: string, version?: string) =>
  `https://${vault}.${SUFFIX}/keys/${name}${version ? `/${version}` : ''}`;

function alert(
  over: { essentials?: Record<string, unknown>; alertContext?: unknown; schemaId?: string } = {},
) {
  return {
    schemaId: over.schemaId ?? 'azureMonitorCommonAlertSchema',
    data: {
      essentials: {
        alertId: '/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/a-1',
        alertRule: 'kv-key-deleted',
        severity: 'Sev1',
        signalType: 'Log',
        monitorCondition: 'Fired',
        monitoringService: 'Log Analytics',
        alertTargetIDs: [KV.toLowerCase()],
        firedDateTime: '2026-06-01T00:05:00.000Z',
        ...over.essentials,
      },
      alertContext:
        over.alertContext === undefined
          ? {
              SearchQuery: 'AzureDiagnostics | where OperationName == "KeyDelete"',
              SearchResults: {
                tables: [
                  {
                    name: 'PrimaryResult',
                    columns: [{ name: 'OperationName' }, { name: 'id_s' }],
                    rows: [
                      ['KeyDelete', key('kv-prod', 'cmk-1', V1)],
                      ['KeyDelete', key('kv-prod', 'CMK-1')],
                      ['VaultGet', `https://kv-prod.${SUFFIX}/`],
                      ['KeyDelete', key('kv-other', 'cmk-9')],
                      ['KeyDelete', 'https://kv-prod.attacker.example/keys/cmk-1'],
                    ],
                  },
                ],
              },
            }
          : over.alertContext,
    },
  };
}

describe('parseAuditAlert', () => {
  it('takes the target vaults and the key ids of the search results, once each, dropping foreign hosts and other vaults', () => {
    expect(parseAuditAlert(alert(), SUFFIX)).toEqual({
      ok: true,
      value: {
        alertId: '/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/a-1',
        alertRule: 'kv-key-deleted',
        monitorCondition: 'Fired',
        firedDateTime: '2026-06-01T00:05:00.000Z',
        vaults: [{ name: 'kv-prod', resourceId: KV }],
        keys: [{ vaultName: 'kv-prod', keyName: 'cmk-1', versionlessKeyId: key('kv-prod', 'cmk-1') }],
        ignored: { targets: 0, foreignKeyIds: 1, keysOutsideTargets: 1 },
      },
    });
  });

  it('a Log Alerts V2 payload (no search results): the vaults only', () => {
    const r = parseAuditAlert(
      alert({ alertContext: { conditionType: 'LogQueryCriteria', condition: {} } }),
      SUFFIX,
    );
    expect(r).toMatchObject({ ok: true, value: { vaults: [{ name: 'kv-prod' }], keys: [] } });
  });

  it('refuses what is not a common-schema alert about a vault, naming the field', () => {
    const problems = (body: unknown) => {
      const r = parseAuditAlert(body, SUFFIX);
      return r.ok ? [] : r.problems.map((p) => p.field);
    };
    expect(problems(alert({ schemaId: 'AzureMonitorMetricAlert' }))).toEqual(['schemaId']);
    expect(problems({})).toEqual(['schemaId', 'data']);
    expect(problems(alert({ essentials: { monitorCondition: 'Maybe' } }))).toEqual([
      'data.essentials.monitorCondition',
    ]);
    expect(problems(alert({ essentials: { alertTargetIDs: 'kv' } }))).toEqual([
      'data.essentials.alertTargetIDs',
    ]);
    expect(problems(alert({ essentials: { alertTargetIDs: [] } }))).toEqual([
      'data.essentials.alertTargetIDs',
    ]);
    expect(
      problems(alert({ essentials: { alertTargetIDs: Array<string>(MAX_ALERT_TARGETS + 1).fill(KV) } })),
    ).toEqual(['data.essentials.alertTargetIDs']);
    // Well-formed, but about a storage account: nothing a CMK guardian can look at.
    expect(
      problems(
        alert({
          essentials: {
            alertTargetIDs: [
              '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st',
            ],
          },
          alertContext: null,
        }),
      ),
    ).toEqual(['data.essentials.alertTargetIDs']);
    expect(problems(alert({ alertContext: { SearchResults: { tables: 'x' } } }))).toEqual([
      'data.alertContext.SearchResults.tables',
    ]);
  });
});

const health = (over: Partial<NamespaceHealth>): NamespaceHealth => ({
  namespaceId: NS_ID,
  verdict: 'healthy',
  ruleIds: [],
  usableKeyIds: [key('kv-prod', 'cmk-1'), key('kv-prod', 'cmk-2')],
  keyIds: [key('kv-prod', 'cmk-1'), key('kv-prod', 'cmk-2')],
  findings: [],
  ...over,
});

describe('describeKeyEventImpact', () => {
  it('near expiry: a warning naming the namespace and the other usable key', () => {
    const r = describeKeyEventImpact(
      'KeyNearExpiry',
      { vaultName: 'kv-prod', versionlessKeyId: key('kv-prod', 'cmk-1') },
      [health({ verdict: 'atRisk', ruleIds: ['CMK-005'], daysToExpiry: 12 })],
    );
    expect(r.severity).toBe('warning');
    expect(r.namespaces[0]).toMatchObject({ otherUsableKeyIds: [key('kv-prod', 'cmk-2')], daysToExpiry: 12 });
    expect(r.namespaces[0]!.message).toBe(
      `sb-prod-01 is at risk: a key expires in 12 day(s); another usable key remains (${key('kv-prod', 'cmk-2')}).`,
    );
    expect(r.summary).toBe(
      `KeyNearExpiry on ${key('kv-prod', 'cmk-1')}: 1 namespace(s) re-assessed — 1 atRisk.`,
    );
  });

  it('expired: critical when no usable key remains, a pinned key id counts as the key', () => {
    const r = describeKeyEventImpact(
      'KeyExpired',
      { vaultName: 'kv-prod', versionlessKeyId: key('kv-prod', 'cmk-1') },
      [
        health({
          verdict: 'inoperable',
          ruleIds: ['CMK-010'],
          usableKeyIds: [],
          keyIds: [key('kv-prod', 'cmk-1', V1)],
        }),
        health({
          namespaceId: NS_ID.replace('sb-prod-01', 'sb-prod-02'),
          verdict: 'degraded',
          ruleIds: ['CMK-011'],
          usableKeyIds: [key('kv-prod', 'cmk-2')],
        }),
      ],
    );
    expect(r.severity).toBe('critical');
    expect(r.namespaces.map((n) => [n.verdict, n.otherUsableKeyIds])).toEqual([
      ['inoperable', []],
      ['degraded', [key('kv-prod', 'cmk-2')]],
    ]);
    expect(isKeyOf(key('kv-prod', 'cmk-1', V1), key('kv-prod', 'CMK-1'))).toBe(true);
    expect(isKeyOf(key('kv-prod', 'cmk-10'), key('kv-prod', 'cmk-1'))).toBe(false);
  });
});
