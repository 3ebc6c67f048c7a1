import { ConfigError, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('uses Azure public cloud defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.cloud).toBe('AzurePublicCloud');
    expect(config.endpoints).toMatchObject({
      resourceManager: 'https://management.azure.com',
      keyVaultDnsSuffix: 'vault.azure.net',
    });
    expect(config.keyExpiryWarningDays).toBe(30);
    expect(config.sweep).toEqual({ subscriptions: '*', schedule: '0 0 */6 * * *', concurrency: 8 });
    expect(config).toMatchObject({
      keyPollMinutes: 5,
      uptakeDeadlineMinutes: 60,
      pinnedVersionPolicy: 'report',
    });
  });

  it('reads the key-index settings (deleted-key cache window, refresh schedule) and refuses bad ones', () => {
    expect(loadConfig({})).toMatchObject({
      deletedKeyCacheMinutes: 60,
      keyIndexRefreshSchedule: '0 0 * * * *',
    });
    expect(
      loadConfig({ DELETED_KEY_CACHE_MINUTES: '15', KEY_INDEX_REFRESH_SCHEDULE: '0  */5 * * * *' }),
    ).toMatchObject({ deletedKeyCacheMinutes: 15, keyIndexRefreshSchedule: '0 */5 * * * *' });
    expect(() => loadConfig({ DELETED_KEY_CACHE_MINUTES: '0' })).toThrow(
      /DELETED_KEY_CACHE_MINUTES must be between 1 and 1440/,
    );
    expect(() => loadConfig({ KEY_INDEX_REFRESH_SCHEDULE: '*/5 * * * *' })).toThrow(
      /KEY_INDEX_REFRESH_SCHEDULE must be an NCRONTAB expression with 6 fields/,
    );
  });

  it('reads REQUIRE_INFRASTRUCTURE_ENCRYPTION: nowhere by default, * everywhere, or ARM scopes', () => {
    const sub = '/subscriptions/00000000-0000-4000-8000-000000000001';
    expect(loadConfig({}).requireInfrastructureEncryption).toEqual([]);
    expect(loadConfig({ REQUIRE_INFRASTRUCTURE_ENCRYPTION: '*' }).requireInfrastructureEncryption).toBe('*');
    expect(
      loadConfig({ REQUIRE_INFRASTRUCTURE_ENCRYPTION: 'false' }).requireInfrastructureEncryption,
    ).toEqual([]);
    expect(
      loadConfig({
        REQUIRE_INFRASTRUCTURE_ENCRYPTION: `${sub}/resourceGroups/RG-Regulated/, ${sub}/resourceGroups/rg-b/providers/Microsoft.ServiceBus/namespaces/sb-one`,
      }).requireInfrastructureEncryption,
    ).toEqual([
      `${sub}/resourcegroups/rg-regulated`,
      `${sub}/resourcegroups/rg-b/providers/microsoft.servicebus/namespaces/sb-one`,
    ]);
    expect(() => loadConfig({ REQUIRE_INFRASTRUCTURE_ENCRYPTION: 'rg-regulated' })).toThrow(
      /REQUIRE_INFRASTRUCTURE_ENCRYPTION must be \*, false, or a comma-separated list/,
    );
  });

  it('reads SWEEP_SCHEDULE as NCRONTAB (six fields, names, ranges, lists, steps) and SWEEP_CONCURRENCY', () => {
    const config = loadConfig({ SWEEP_SCHEDULE: ' 30  15 2-4,22 * JAN-mar MON/2 ', SWEEP_CONCURRENCY: '3' });
    expect(config.sweep).toEqual({
      subscriptions: '*',
      schedule: '30 15 2-4,22 * JAN-mar MON/2',
      concurrency: 3,
    });
  });

  it.each([
    ['0 */5 * * *', /SWEEP_SCHEDULE must be an NCRONTAB expression with 6 fields .* got 5/],
    ['0 61 * * * *', /SWEEP_SCHEDULE has an invalid minute field "61"/],
    ['0 0 5-2 * * *', /SWEEP_SCHEDULE has an invalid hour field "5-2"/],
    ['0 0 0 0 * *', /SWEEP_SCHEDULE has an invalid day field "0"/],
    ['0 0 0 * FOO *', /SWEEP_SCHEDULE has an invalid month field "FOO"/],
    ['0 */0 * * * *', /SWEEP_SCHEDULE has an invalid minute field "\*\/0"/],
    ['00:05:00', /SWEEP_SCHEDULE must be an NCRONTAB expression with 6 fields .* got 1/],
  ])('refuses SWEEP_SCHEDULE %j with a message naming the field', (schedule, message) => {
    expect(() => loadConfig({ SWEEP_SCHEDULE: schedule })).toThrow(message);
  });

  it.each(['0', '33', 'eight'])('refuses SWEEP_CONCURRENCY %j', (value) => {
    expect(() => loadConfig({ SWEEP_CONCURRENCY: value })).toThrow(/SWEEP_CONCURRENCY must be/);
  });

  it('reads the reaction settings (key poll, uptake deadline, pinned-version policy)', () => {
    expect(
      loadConfig({ KEY_POLL_MINUTES: '2', UPTAKE_DEADLINE_MINUTES: '10', PINNED_VERSION_POLICY: 'Follow' }),
    ).toMatchObject({ keyPollMinutes: 2, uptakeDeadlineMinutes: 10, pinnedVersionPolicy: 'follow' });
  });

  it('refuses reaction settings that cannot work, naming each', () => {
    const problems = (env: NodeJS.ProcessEnv): string[] => {
      try {
        loadConfig(env);
      } catch (e) {
        return (e as ConfigError).problems;
      }
      return [];
    };
    expect(
      problems({ KEY_POLL_MINUTES: '0', UPTAKE_DEADLINE_MINUTES: '1.5', PINNED_VERSION_POLICY: 'move' }),
    ).toEqual([
      'KEY_POLL_MINUTES must be between 1 and 60 (got "0")',
      'UPTAKE_DEADLINE_MINUTES must be a whole number of minutes (got "1.5")',
      'PINNED_VERSION_POLICY must be one of report, follow (got "move")',
    ]);
    // A deadline shorter than the two key polls uptake is looked for after could never be met.
    expect(problems({ KEY_POLL_MINUTES: '10', UPTAKE_DEADLINE_MINUTES: '15' })).toEqual([
      'UPTAKE_DEADLINE_MINUTES (15) must be at least two key polls (2 × KEY_POLL_MINUTES = 20)',
    ]);
  });

  it('treats empty strings as unset, as App Service settings do', () => {
    expect(loadConfig({ ARM_ENDPOINT: '', KEY_EXPIRY_WARNING_DAYS: '  ' }).keyExpiryWarningDays).toBe(30);
  });

  it('builds a Custom cloud from its endpoints (how the sandbox is targeted)', () => {
    const config = loadConfig({
      AZURE_CLOUD: 'Custom',
      ARM_ENDPOINT: 'https://127.0.0.1:8443/',
      KEYVAULT_DNS_SUFFIX: 'Vault.Sandbox.Localhost',
    });
    expect(config.endpoints).toMatchObject({
      resourceManager: 'https://127.0.0.1:8443',
      resourceManagerAudience: 'https://127.0.0.1:8443',
      keyVaultDnsSuffix: 'vault.sandbox.localhost',
    });
  });

  it('names every bad setting at once', () => {
    let error: unknown;
    try {
      loadConfig({
        AZURE_CLOUD: 'Custom',
        KEY_EXPIRY_WARNING_DAYS: '0',
        SWEEP_SUBSCRIPTIONS: 'not-a-guid',
        KEYVAULT_DNS_SUFFIX: 'not a suffix',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/KEY_EXPIRY_WARNING_DAYS .*\(got "0"\)/);
    expect(problems).toMatch(/SWEEP_SUBSCRIPTIONS must be \* or a comma-separated list of subscription ids/);
    expect(problems).toMatch(
      /KEYVAULT_DNS_SUFFIX must be a DNS suffix like vault.azure.net \(got "not a suffix"\)/,
    );
    expect((error as ConfigError).problems).toHaveLength(3);
    // Cross-field rules run once the fields themselves are valid.
    const second = () => loadConfig({ AZURE_CLOUD: 'Custom' });
    expect(second).toThrow(/ARM_ENDPOINT is required when AZURE_CLOUD=Custom/);
    expect(second).toThrow(/KEYVAULT_DNS_SUFFIX is required when AZURE_CLOUD=Custom/);
    expect(() => loadConfig({ AZURE_CLOUD: 'Azure' })).toThrow(
      /AZURE_CLOUD must be one of AzurePublicCloud, AzureChinaCloud, AzureUSGovernment, Custom \(got "Azure"\)/,
    );
  });

  it('refuses http endpoints (bearer tokens only travel over https)', () => {
    expect(() => loadConfig({ ARM_ENDPOINT: 'http://localhost:8080' })).toThrow(
      /ARM_ENDPOINT must be an https:\/\/ URL/,
    );
  });

  it('REPORTS_CONTAINER: default cmk-reports, a valid container name, else refused by name', () => {
    expect(loadConfig({}).reportsContainer).toBe('cmk-reports');
    expect(loadConfig({ REPORTS_CONTAINER: 'audit-2026' }).reportsContainer).toBe('audit-2026');
    for (const bad of ['Reports', 'ab', 'a--b', '-ab', 'x'.repeat(64), 'a_b']) {
      expect(() => loadConfig({ REPORTS_CONTAINER: bad })).toThrow(
        `REPORTS_CONTAINER must be a blob container name (3-63 lower-case letters, digits and single hyphens) (got "${bad}")`,
      );
    }
  });

  it('parses subscription lists', () => {
    const a = '00000000-0000-0000-0000-000000000001';
    const b = '00000000-0000-0000-0000-000000000002';
    expect(loadConfig({ SWEEP_SUBSCRIPTIONS: `${a}, ${b}` }).sweep.subscriptions).toEqual([a, b]);
  });

  it('reads only the settings of built features (a feature adds its settings when it lands)', () => {
    const config = loadConfig({});
    expect(Object.keys(config).sort()).toEqual([
      'alerting',
      'cloud',
      'deletedKeyCacheMinutes',
      'endpoints',
      'keyExpiryWarningDays',
      'keyIndexRefreshSchedule',
      'keyPollMinutes',
      'pinnedVersionPolicy',
      'reportsContainer',
      'requireInfrastructureEncryption',
      'storage',
      'sweep',
      'uptakeDeadlineMinutes',
      'version',
    ]);
  });

  it('reads the alert path: rule mode, action group, rules group, ingestion endpoint, storage', () => {
    const ag =
      '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ops/providers/microsoft.insights/actionGroups/ag-ops';
    expect(loadConfig({}).alerting).toEqual({
      rules: 'external',
      monitoringEndpoint: 'https://{region}.monitoring.azure.com',
      monitoringAudience: 'https://monitoring.azure.com/',
    });
    expect(
      loadConfig({
        ALERT_RULES: 'Managed',
        ALERT_ACTION_GROUP_ID: ag,
        ALERT_RULES_RESOURCE_GROUP: 'rg-cmk-alerts',
        MONITORING_ENDPOINT: 'https://{region}.monitoring.sandbox.localhost/',
        AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      }),
    ).toMatchObject({
      alerting: {
        rules: 'managed',
        actionGroupId: ag,
        rulesResourceGroup: 'rg-cmk-alerts',
        monitoringEndpoint: 'https://{region}.monitoring.sandbox.localhost',
        monitoringAudience: 'https://monitoring.azure.com/',
      },
      storage: { connectionString: 'UseDevelopmentStorage=true' },
    });
    // A Custom cloud has no default ingestion host: publishing refuses until MONITORING_ENDPOINT is set.
    expect(
      loadConfig({
        AZURE_CLOUD: 'Custom',
        ARM_ENDPOINT: 'https://localhost:1',
        KEYVAULT_DNS_SUFFIX: 'vault.x.y',
      }).alerting.monitoringEndpoint,
    ).toBeUndefined();
  });

  it('refuses alert settings that cannot work, naming each', () => {
    const problems = (env: NodeJS.ProcessEnv): string[] => {
      try {
        loadConfig(env);
      } catch (e) {
        return (e as ConfigError).problems;
      }
      return [];
    };
    expect(problems({ ALERT_RULES: 'sometimes' })).toEqual([
      'ALERT_RULES must be one of managed, external (got "sometimes")',
    ]);
    expect(problems({ ALERT_RULES: 'managed' })).toEqual([
      'ALERT_ACTION_GROUP_ID is required when ALERT_RULES=managed (the action group the rules notify)',
    ]);
    expect(
      problems({
        ALERT_ACTION_GROUP_ID: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/a',
      }),
    ).toHaveLength(1);
    expect(problems({ MONITORING_ENDPOINT: 'https://westeurope.monitoring.azure.com' })).toEqual([
      'MONITORING_ENDPOINT must contain {region}, e.g. https://{region}.monitoring.azure.com (got "https://westeurope.monitoring.azure.com")',
    ]);
    expect(problems({ MONITORING_ENDPOINT: 'http://{region}.monitoring.azure.com' })).toHaveLength(1);
    expect(problems({ ALERT_RULES_RESOURCE_GROUP: 'rg/evil' })).toHaveLength(1);
  });
});
