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
    const config = loadConfig({ ALERT_RULES: 'nonsense', KEY_POLL_MINUTES: 'soon' });
    expect(Object.keys(config).sort()).toEqual([
      'cloud',
      'endpoints',
      'keyExpiryWarningDays',
      'reportsContainer',
      'sweep',
      'version',
    ]);
  });
});
