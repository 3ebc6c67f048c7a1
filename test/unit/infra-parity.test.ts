/**
 * The Bicep and the app agree, read from the files (no Bicep compiler offline): every setting
 * src/config.ts reads is an app setting in infra/modules/app.bicep; the shared JSON is what the Bicep
 * loads and spreads; api-versions are ones the sandbox accepts (and stable where a stable one exists);
 * the roles the app names in its refusals are the roles infra/roles.json grants.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PUBLISHED_API_VERSIONS } from '../../sandbox/azure/arm/apiVersions';
import { EVENTGRID_API_VERSIONS } from '../../sandbox/azure/eventgrid';
import { API_VERSIONS as MONITOR_API_VERSIONS } from '../../sandbox/azure/monitor/routes';
import { AUTHORIZATION_API_VERSIONS } from '../../sandbox/azure/rbac/provider';
import { INFRA_DIR, INFRA_FILES, loadInfraData, type InfraData } from '../../sandbox/infra/data';
import { alertRulesFor } from '../../src/domain/alerting';
import { APP_ROLES } from '../../src/domain/appRoles';

const ROOT = path.resolve(INFRA_DIR, '..');
const bicepFiles = (dir = INFRA_DIR): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory()
      ? bicepFiles(path.join(dir, d.name))
      : d.name.endsWith('.bicep')
        ? [path.join(dir, d.name)]
        : [],
  );
const bicep = new Map(bicepFiles().map((f) => [path.relative(INFRA_DIR, f), readFileSync(f, 'utf8')]));
const allBicep = [...bicep.values()].join('\n');
const data = loadInfraData();

/** Setting names src/config.ts reads: `read('X')` / `check('X', …)`. */
export function settingsRead(source: string): string[] {
  return [
    ...new Set([...source.matchAll(/\b(?:read|check)\(\s*'([A-Za-z_][A-Za-z0-9_]*)'/g)].map((m) => m[1]!)),
  ].sort();
}

/** App setting names of a Bicep `appSettings: [ { name: 'X', value: … } ]` block. */
export function bicepAppSettings(source: string): string[] {
  const block = /appSettings:\s*\[([\s\S]*?)\n\s*\]/.exec(source)?.[1] ?? '';
  return [...block.matchAll(/name:\s*'([^']+)'/g)].map((m) => m[1]!).sort();
}

/** Settings the app reads for which the deployment sets the identity-based alternative instead. */
const IDENTITY_ALTERNATIVES: Record<string, string> = {
  // A connection string carries the account key; Azure gets AzureWebJobsStorage__* (no keys).
  AzureWebJobsStorage: 'AzureWebJobsStorage__blobServiceUri',
};

describe('settings parity', () => {
  const config = settingsRead(readFileSync(path.join(ROOT, 'src', 'config.ts'), 'utf8'));
  const set = bicepAppSettings(bicep.get(path.join('modules', 'app.bicep'))!);

  it('reads the names out of both files', () => {
    expect(config).toEqual(
      expect.arrayContaining(['AZURE_CLOUD', 'KEY_EXPIRY_WARNING_DAYS', 'SWEEP_SUBSCRIPTIONS']),
    );
    expect(set).toEqual(expect.arrayContaining(['AzureWebJobsStorage__accountName', 'KEYVAULT_DNS_SUFFIX']));
  });

  it('every setting src/config.ts reads is set by infra/modules/app.bicep', () => {
    const missing = config.filter((name) => !set.includes(IDENTITY_ALTERNATIVES[name] ?? name));
    expect(missing).toEqual([]);
  });

  it('the Bicep sets no app setting that neither the app nor the Functions runtime reads', () => {
    const runtime = (n: string) =>
      n.startsWith('AzureWebJobsStorage__') || n.startsWith('APPLICATIONINSIGHTS_');
    expect(set.filter((n) => !runtime(n) && !config.includes(n))).toEqual([]);
  });

  it('the storage account is used through the identity only', () => {
    expect(set).not.toContain('AzureWebJobsStorage');
    expect(bicep.get(path.join('modules', 'app.bicep'))).toMatch(/allowSharedKeyAccess:\s*false/);
  });
});

describe('shared data: the Bicep loads the JSON the sandbox applies', () => {
  const loaded = [...allBicep.matchAll(/loadJsonContent\('([^']+)'\)/g)].map((m) =>
    path.normalize(m[1]!.replace(/^(\.\.\/)+/, '')),
  );

  it('every shared file is loaded by the Bicep, and nothing else is', () => {
    expect([...new Set(loaded)].sort()).toEqual(
      Object.values(INFRA_FILES)
        .map((f) => path.normalize(f))
        .sort(),
    );
  });

  it('each wiring resource spreads the JSON properties (union) at the api-version the JSON names', () => {
    const specs: Array<[keyof InfraData, { type: string; apiVersion: string }]> = [
      ['eventSubscription', data.eventSubscription],
      ['diagnosticSetting', data.diagnosticSetting],
      ['auditAlert', data.auditAlert],
      ['metricAlertRules', data.metricAlertRules],
    ];
    for (const [key, spec] of specs) {
      // The module that loads the file and declares the resource type at the JSON's api-version.
      const file = [...bicep.entries()].find(
        ([, text]) =>
          text.includes(`'../${INFRA_FILES[key]}'`) && text.includes(`'${spec.type}@${spec.apiVersion}'`),
      );
      expect({ key, found: file !== undefined }).toEqual({ key, found: true });
      const text = file![1];
      expect({ key, spreads: /union\(\w+(\.\w+)?\.properties,/.test(text) }).toEqual({ key, spreads: true });
    }
    expect(allBicep).toContain(
      `'${data.auditAlert.actionGroup.type}@${data.auditAlert.actionGroup.apiVersion}'`,
    );
    expect(allBicep).toContain(
      `'${data.eventSubscription.systemTopic.type}@${data.eventSubscription.apiVersion}'`,
    );
  });

  it('the vault module grants both vault kinds, with the ABAC condition from roles.json', () => {
    const vault = bicep.get('modules/keyVaultWiring.bicep')!;
    expect(vault).toContain('roles.scopes.rbacVault.roles');
    expect(vault).toContain('roles.scopes.accessPolicyVault.roles');
    expect(vault).toMatch(
      /condition: contains\(r, 'condition'\) \? roles\.conditions\[r\.condition\]\.expression/,
    );
    for (const kind of Object.keys(data.roles.scopes))
      if (kind !== 'rbacVault' && kind !== 'accessPolicyVault')
        expect({ kind, granted: allBicep.includes(`roles.scopes.${kind}.roles`) }).toEqual({
          kind,
          granted: true,
        });
    expect(allBicep).toContain('roles.appStorage.roles');
    expect(allBicep).toContain('roles.appInsights.roles');
  });
});

describe('api-versions', () => {
  /** What the sandbox accepts per type (it emulates these providers). */
  const sandbox: Record<string, readonly string[]> = {
    'Microsoft.Resources': PUBLISHED_API_VERSIONS['Microsoft.Resources']!,
    'Microsoft.KeyVault': PUBLISHED_API_VERSIONS['Microsoft.KeyVault']!,
    'Microsoft.ServiceBus': PUBLISHED_API_VERSIONS['Microsoft.ServiceBus']!,
    'Microsoft.ManagedIdentity': PUBLISHED_API_VERSIONS['Microsoft.ManagedIdentity']!,
    'Microsoft.Authorization': [
      ...AUTHORIZATION_API_VERSIONS,
      ...PUBLISHED_API_VERSIONS['Microsoft.Authorization']!,
    ],
    'Microsoft.EventGrid': EVENTGRID_API_VERSIONS,
    'Microsoft.Insights/actionGroups': MONITOR_API_VERSIONS.actionGroups!,
    'Microsoft.Insights/metricAlerts': MONITOR_API_VERSIONS.metricAlerts!,
    'Microsoft.Insights/scheduledQueryRules': MONITOR_API_VERSIONS.scheduledQueryRules!,
    'Microsoft.Insights/diagnosticSettings': MONITOR_API_VERSIONS.diagnosticSettings!,
  };
  /**
   * Types the sandbox does not emulate (the app's own hosting): the stable versions used, [U] not
   * checked against a service here — azure-rest-api-specs stable folders as read for issue 14.
   */
  const hosting: Record<string, string> = {
    'Microsoft.Web/serverfarms': '2024-04-01',
    'Microsoft.Web/sites': '2024-04-01',
    'Microsoft.Web/sites/host/functionKeys': '2024-04-01',
    'Microsoft.Storage/storageAccounts': '2023-05-01',
    'Microsoft.OperationalInsights/workspaces': '2023-09-01',
    'Microsoft.Insights/components': '2020-02-02',
  };
  /** Types with no stable version newer than a preview (Azure publishes diagnosticSettings only as previews since 2017). */
  const previewOnly = ['Microsoft.Insights/diagnosticSettings'];
  const declared = [...allBicep.matchAll(/resource \w+ '([^'@]+)@([^']+)'/g)].map((m) => ({
    type: m[1]!,
    version: m[2]!,
  }));

  it('declares resources', () => expect(declared.length).toBeGreaterThan(15));

  /**
   * Types whose current versions were verified at the source: @azure/arm-keyvault 5.0.0's
   * KnownVersions, the event subscriptions Azure's own IaC deploys, metricAlerts' only stable version,
   * the newest stable LogAlert version. The rest are checked against the sandbox's lists only (above
   * and below) [U].
   */
  const verified: Record<string, readonly string[]> = {
    'Microsoft.KeyVault/vaults': ['2025-05-01', '2026-02-01'],
    'Microsoft.EventGrid/systemTopics': ['2025-02-15'],
    'Microsoft.EventGrid/systemTopics/eventSubscriptions': ['2025-02-15'],
    'Microsoft.Insights/metricAlerts': ['2018-03-01'],
    'Microsoft.Insights/scheduledQueryRules': ['2023-12-01'],
  };
  it.each(Object.entries(verified))('%s uses a verified current version', (type, versions) => {
    const used = declared.filter((d) => d.type === type).map((d) => d.version);
    expect(used.length).toBeGreaterThan(0);
    for (const version of used) expect(versions).toContain(version);
  });

  it.each(declared.map((d) => [d.type, d.version] as const))('%s@%s is current', (type, version) => {
    const key = Object.keys(sandbox).find(
      (k) => type === k || type.startsWith(`${k}/`) || (k.includes('/') && type === k),
    );
    if (key) {
      expect(sandbox[key]).toContain(version);
      const stable = sandbox[key]!.filter((v) => !v.includes('preview')).sort();
      if (!previewOnly.includes(type)) {
        expect(version).not.toContain('preview');
        // Current: no more than three years older than the newest stable one published (metricAlerts
        // has one stable version only, 2018-03-01). The newest entries of the sandbox's lists are [U].
        const newest = stable[stable.length - 1]!;
        expect(Date.parse(newest) - Date.parse(version.slice(0, 10))).toBeLessThanOrEqual(
          3 * 365 * 86_400_000,
        );
      }
    } else {
      expect({ type, version }).toEqual({ type, version: hosting[type] });
    }
  });
});

describe('roles the app names are the roles infra grants', () => {
  it.each(Object.entries(APP_ROLES))('%s', (kind, appRole) => {
    const scope = data.roles.scopes[kind as keyof InfraData['roles']['scopes']];
    const role = scope?.roles.find((r) => r.roleName === appRole.roleName);
    expect(role?.roleDefinitionId).toBe(appRole.roleDefinitionId);
    const condition = role?.condition ? data.roles.conditions[role.condition] : undefined;
    expect(condition ? { version: condition.version, expression: condition.expression } : undefined).toEqual(
      appRole.condition,
    );
  });

  it('every feature a role lists exists, and every feature needs some role or is health-azure', () => {
    const features = Object.keys(data.roles.features);
    const listed = Object.values(data.roles.scopes).flatMap((s) => s.roles.flatMap((r) => r.features ?? []));
    expect(listed.filter((f) => !features.includes(f))).toEqual([]);
    expect(features.filter((f) => !listed.includes(f))).toEqual(['health-azure']);
  });

  it("every role the app holds has its row in README's role table", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const table = readme.slice(
      readme.indexOf("## The app's Azure roles"),
      readme.indexOf('## The alert path'),
    );
    const rows = [...table.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1]);
    const held = [
      ...new Set(Object.values(data.roles.scopes).flatMap((s) => s.roles.map((r) => r.roleName))),
    ];
    expect(rows.sort()).toEqual(held.sort());
  });
});

describe('ALERT_RULES=external deploys the rules ALERT_RULES=managed would make', () => {
  it('same name prefix, severity, metric, aggregation, operator, threshold and timing (KEY_POLL_MINUTES 5)', () => {
    const id =
      '/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sb-guarded';
    const managed = alertRulesFor(id, { actionGroupId: 'ag', heartbeatMinutes: 5 }).map((r) => ({
      name: r.name,
      severity: r.severity,
      evaluationFrequency: r.evaluationFrequency,
      windowSize: r.windowSize,
      criterion: [r.metricName, r.metricNamespace, r.timeAggregation, r.operator, r.threshold],
    }));
    const external = data.metricAlertRules.rules.map((r) => {
      const p = r.properties as {
        severity: number;
        evaluationFrequency: string;
        windowSize: string;
        criteria: { allOf: Array<Record<string, unknown>> };
      };
      const c = p.criteria.allOf[0]!;
      return {
        name: `${r.namePrefix}sb-guarded`,
        severity: p.severity,
        evaluationFrequency: p.evaluationFrequency,
        windowSize: p.windowSize,
        criterion: [c.metricName, c.metricNamespace, c.timeAggregation, c.operator, c.threshold],
      };
    });
    expect(external).toEqual(managed);
  });
});
