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
    expect(config.sweep).toEqual({ subscriptions: '*' });
    expect(config).toMatchObject({
      keyPollMinutes: 5,
      uptakeDeadlineMinutes: 60,
      pinnedVersionPolicy: 'report',
    });
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

  it('parses subscription lists', () => {
    const a = '00000000-0000-0000-0000-000000000001';
    const b = '00000000-0000-0000-0000-000000000002';
    expect(loadConfig({ SWEEP_SUBSCRIPTIONS: `${a}, ${b}` }).sweep.subscriptions).toEqual([a, b]);
  });

  it('reads only the settings of built features (a feature adds its settings when it lands)', () => {
    const config = loadConfig({ ALERT_RULES: 'nonsense', REPORTS_CONTAINER: '!' });
    expect(Object.keys(config).sort()).toEqual([
      'cloud',
      'endpoints',
      'keyExpiryWarningDays',
      'keyPollMinutes',
      'pinnedVersionPolicy',
      'sweep',
      'uptakeDeadlineMinutes',
      'version',
    ]);
  });
});
