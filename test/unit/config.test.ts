import { ConfigError, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('uses Azure public cloud defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.cloud).toBe('AzurePublicCloud');
    expect(config.endpoints).toMatchObject({
      resourceManager: 'https://management.azure.com',
      keyVaultDnsSuffix: 'vault.azure.net',
    });
    expect(config).toMatchObject({
      keyExpiryWarningDays: 30,
      keyPollMinutes: 5,
      uptakeDeadlineMinutes: 60,
      reportsContainer: 'cmk-reports',
    });
    expect(config.sweep).toEqual({ subscriptions: '*', schedule: '0 0 */6 * * *' });
  });

  it('treats empty strings as unset, as App Service settings do', () => {
    expect(loadConfig({ ARM_ENDPOINT: '', KEY_POLL_MINUTES: '  ' }).keyPollMinutes).toBe(5);
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
        ALERT_RULES: 'managed',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/KEY_EXPIRY_WARNING_DAYS .*\(got "0"\)/);
    expect(problems).toMatch(/SWEEP_SUBSCRIPTIONS must be \* or a comma-separated list of subscription ids/);
    // Cross-field rules run once the fields themselves are valid.
    const second = () => loadConfig({ AZURE_CLOUD: 'Custom', ALERT_RULES: 'managed' });
    expect(second).toThrow(/ARM_ENDPOINT is required when AZURE_CLOUD=Custom/);
    expect(second).toThrow(/KEYVAULT_DNS_SUFFIX is required when AZURE_CLOUD=Custom/);
    expect(second).toThrow(/ALERT_ACTION_GROUP_ID is required when ALERT_RULES=managed/);
  });

  it('refuses http endpoints (bearer tokens only travel over https)', () => {
    expect(() => loadConfig({ ARM_ENDPOINT: 'http://localhost:8080' })).toThrow(
      /ARM_ENDPOINT must be an https:\/\/ URL/,
    );
  });

  it('parses subscription lists and NCRONTAB schedules', () => {
    const a = '00000000-0000-0000-0000-000000000001';
    const b = '00000000-0000-0000-0000-000000000002';
    expect(loadConfig({ SWEEP_SUBSCRIPTIONS: `${a}, ${b}` }).sweep.subscriptions).toEqual([a, b]);
    expect(() => loadConfig({ SWEEP_SCHEDULE: '0 */6 * * *' })).toThrow(
      /SWEEP_SCHEDULE must be an NCRONTAB expression with 6 fields/,
    );
  });
});
