/**
 * The alert path as deployed code runs it: the compiled app (dist/) in a separate process configured
 * only by the sandbox's environment (managed identity endpoint, NODE_EXTRA_CA_CERTS, HTTPS_PROXY /
 * NO_PROXY, MONITORING_ENDPOINT, AzureWebJobsStorage). No test hooks: the regional ingestion host is
 * reached through the proxy with a https://monitoring.azure.com/ token, the state through Azurite.
 * Needs `npm run build` (npm test builds first).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox, type AzureSandbox } from '../../sandbox/azure';
import { httpsJson } from '../../sandbox/azure/testing';

const DIST = path.resolve(__dirname, '..', '..', 'dist');
let sb: AzureSandbox;

beforeAll(async () => {
  sb = await startAzureSandbox({
    clock: new VirtualClock(Date.UTC(2026, 0, 1)),
    storage: true,
    lroRetryAfterSeconds: 0,
  });
});
afterAll(() => sb.close());

const script = `
const { loadConfig } = require(${JSON.stringify(path.join(DIST, 'src', 'config.js'))});
const { AzureClients } = require(${JSON.stringify(path.join(DIST, 'src', 'azure', 'clients.js'))});
const { publishHealth } = require(${JSON.stringify(path.join(DIST, 'src', 'azure', 'healthPublisher.js'))});
const [namespaceId, at] = process.argv.slice(2);
(async () => {
  const clients = new AzureClients(loadConfig(process.env));
  const health = { namespaceId, location: 'westeurope', verdict: 'inoperable', ruleIds: ['CMK-010'], usableKeyIds: [], keyIds: [], findings: [] };
  const first = await publishHealth(clients, [health], new Date(at), { log: (r) => console.log(JSON.stringify(r)) });
  const second = await publishHealth(clients, [health], new Date(at), { log: (r) => console.log(JSON.stringify(r)) });
  console.log(JSON.stringify({ first, second }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

test('the compiled app publishes through the proxy as its managed identity, remembers it in Azurite, skips the duplicate', async () => {
  const sub = sb.subscriptionId;
  const token = (await sb.control.token(sb.admin.objectId, 'arm')).access_token;
  const put = (p: string, body: unknown) =>
    httpsJson(sb, 'PUT', `${sb.url}${p}`, { token, body }).then((r) => expect(r.status).toBeLessThan(300));
  await put(`/subscriptions/${sub}/resourcegroups/rg-wire?api-version=2021-04-01`, {
    location: 'westeurope',
  });
  const nsId = `/subscriptions/${sub}/resourceGroups/rg-wire/providers/Microsoft.ServiceBus/namespaces/sb-wire-01`;
  await put(`${nsId}?api-version=2021-11-01`, {
    location: 'westeurope',
    sku: { name: 'Premium', tier: 'Premium', capacity: 1 },
  });
  sb.control.assignRole({
    principalId: sb.app.objectId,
    role: 'Monitoring Metrics Publisher',
    scope: `/subscriptions/${sub}/resourceGroups/rg-wire`,
    immediate: true,
  });

  const dir = mkdtempSync(path.join(tmpdir(), 'alert-wiring-'));
  writeFileSync(path.join(dir, 'run.js'), script);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...sb.env };
  const mark = sb.control.mark();
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      [path.join(dir, 'run.js'), nsId, new Date(sb.clock.now()).toISOString()],
      { env, timeout: 30_000 },
      (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
    ),
  );
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.filter((l) => l.event === 'CmkVerdictChanged').map((l) => [l.namespaceId, l.verdict])).toEqual(
    [[nsId, 'inoperable']],
  );
  const { first, second } = lines.pop() as {
    first: Record<string, unknown>;
    second: Record<string, unknown>;
  };
  expect([first.published, first.duplicates, second.published, second.duplicates]).toEqual([1, 0, 0, 1]);

  const calls = sb.control.requests({ sinceSeq: mark });
  const posts = calls.filter((c) => c.service === 'monitoring' && c.method === 'POST');
  expect(posts.map((c) => [c.host.split(':')[0], c.status, c.principal])).toEqual([
    ['westeurope.monitoring.sandbox.localhost', 200, sb.app.objectId],
    ['westeurope.monitoring.sandbox.localhost', 200, sb.app.objectId],
  ]);
  // The token the identity endpoint minted was for Azure Monitor's audience.
  expect(
    calls.filter((c) => c.service === 'identity').map((c) => new URLSearchParams(c.query).get('resource')),
  ).toEqual(['https://monitoring.azure.com/']);
});
