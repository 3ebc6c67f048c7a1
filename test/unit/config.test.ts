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
    const config = loadConfig({ ALERT_RULES: 'nonsense', KEY_POLL_MINUTES: 'soon', REPORTS_CONTAINER: '!' });
    expect(Object.keys(config).sort()).toEqual([
      'cloud',
      'endpoints',
      'keyExpiryWarningDays',
      'sweep',
      'version',
    ]);
  });
});
