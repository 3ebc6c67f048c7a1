/**
 * `npm start`: the whole product offline on one machine. A composition of the pieces of `sandbox/`:
 *   1. one clock everything shares (wall clock, optionally faster; or virtual for tests);
 *   2. the emulated Azure (`sandbox/azure`), optionally seeded with a demo estate;
 *   3. the local Functions host running the compiled app (package.json "main"), configured against the
 *      emulator purely through settings (AZURE_CLOUD=Custom, endpoints, managed identity, CA, proxy).
 *
 *   node dist/sandbox/start.js [--port 7071] [--azure-port 8443] [--clock wall|virtual] [--clock-speed 1]
 *     [--clock-start ISO] [--no-seed] [--chaos duplicate-activities] [--state-dir .sandbox]
 *     [--ready-json] [--quiet] [--no-first-sweep]
 *
 * With the demo estate on the wall clock (plain `npm start`), a first compliance sweep runs at start-up
 * (POST /api/compliance/sweeps, as a user would) and its report URL is printed when it is stored. On a
 * virtual clock (tests) nothing starts by itself: a test decides when a sweep runs.
 *
 * Node reads NODE_EXTRA_CA_CERTS only at process start, so the launcher makes sure the sandbox CA
 * exists, then runs the composition in a child process that trusts it — exactly how the app would run
 * next to any other custom cloud. Nothing in the app knows it is not in Azure.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { VirtualClock, WallClock, type Clock } from './clock';
import { startAzureSandbox, DEFAULT_KEYVAULT_DNS_SUFFIX, sandboxHostNames } from './azure';
import { loadTls } from './azure/certs';
import {
  DEMO_SUBSCRIPTIONS,
  demoRegulatedScope,
  seedDemoEstate,
  type DemoEstateSummary,
} from './azure/demoEstate';
import { seedDemoMonitoring } from './azure/monitor/demo';
import { EventGridProvider } from './azure/eventgrid';
import { grantDemoAppRoles, wireDemoAlerts, wireDemoVaults } from './infra/demo';
import { loadInfraData } from './infra/data';
import { startFunctionsHost } from './host/host';
import { consoleLogger, type HostLogLevel } from './host/log';
import { applySettings, readLocalSettings } from './host/settings';

const ROOT = path.resolve(__dirname, '..', '..');
const CHILD_FLAG = 'CMK_GUARDIAN_COMPOSED';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'azure-port': { type: 'string', default: '8443' },
    clock: { type: 'string', default: 'wall' },
    'clock-speed': { type: 'string' },
    'clock-start': { type: 'string' },
    'no-seed': { type: 'boolean', default: false },
    chaos: { type: 'string' },
    'state-dir': { type: 'string' },
    'ready-json': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'information' },
    'no-first-sweep': { type: 'boolean', default: false },
  },
});

const stateDir = path.resolve(args['state-dir'] ?? path.join(ROOT, '.sandbox'));
const suffix = (process.env.SANDBOX_KEYVAULT_DNS_SUFFIX ?? DEFAULT_KEYVAULT_DNS_SUFFIX).toLowerCase();

function launch(): void {
  // Create (or reuse) the CA, then run the composition in a process that trusts it.
  const { caPath } = loadTls(path.join(stateDir, 'tls'), sandboxHostNames(suffix));
  const child = spawn(process.execPath, [__filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caPath, [CHILD_FLAG]: '1' },
  });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

async function compose(): Promise<void> {
  const port = Number(args.port ?? process.env.PORT ?? 7071);
  const speed = Number(args['clock-speed'] ?? process.env.CLOCK_SPEED ?? 1);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`the port must be a TCP port number (got "${args.port ?? process.env.PORT}")`);
  if (!(speed > 0))
    throw new Error(
      `the clock speed must be a positive number (got "${args['clock-speed'] ?? process.env.CLOCK_SPEED}")`,
    );
  const start = args['clock-start'] ? Date.parse(args['clock-start']) : Date.now();
  if (Number.isNaN(start)) throw new Error('--clock-start must be an ISO date-time');
  const clock: Clock = args.clock === 'virtual' ? new VirtualClock(start) : new WallClock(speed);
  const log = consoleLogger(args['log-level'] as HostLogLevel, () => clock.now());

  // 1–2. The emulated Azure, on the shared clock.
  const azure = await startAzureSandbox({
    clock,
    stateDir,
    port: Number(args['azure-port']),
    keyVaultDnsSuffix: suffix,
    ...(args['no-seed'] ? {} : { subscriptions: DEMO_SUBSCRIPTIONS }),
    ...(process.env.SANDBOX_ADMIN_SECRET ? { adminSecret: process.env.SANDBOX_ADMIN_SECRET } : {}),
    // The storage account (Azurite in memory): AzureWebJobsStorage, Event Grid dead-letter containers.
    storage: true,
  });
  // The sandbox's settings before anything builds an SDK client — the seed's storage client included:
  // core-rest-pipeline reads NO_PROXY once, at the first client of the process, so a client built
  // earlier would leave every later one (the app's Blob clients) sending 127.0.0.1 through the proxy.
  // A scope the caller set (SWEEP_SUBSCRIPTIONS in the environment) is kept.
  const explicitScope = process.env.SWEEP_SUBSCRIPTIONS;
  for (const [key, value] of Object.entries(azure.env)) process.env[key] = value;
  if (explicitScope) process.env.SWEEP_SUBSCRIPTIONS = explicitScope;
  let demo: DemoEstateSummary | undefined;
  const infra = loadInfraData();
  if (!args['no-seed']) {
    demo = await seedDemoEstate(azure);
    // Azure Monitor: traffic, audit logs, the action group → sink, the alert rules; printed with the estate.
    demo.text += `\n${(await seedDemoMonitoring(azure)).text}`;
    // The app's identity gets the roles of infra/roles.json at the demo's scopes, as infra would.
    await grantDemoAppRoles(azure, infra);
    // Infra's Event Grid subscriptions and diagnostic settings on the demo vaults.
    demo.text += `\n${(await wireDemoVaults(azure, infra)).join('\n')}`;
  }

  // 3. The app's settings: local settings for everything else, the sandbox's for the cloud it talks to.
  const settings = readLocalSettings(ROOT);
  // Cloud overrides in local settings describe a real cloud; offline, the sandbox's endpoints rule.
  for (const key of ['ARM_AUDIENCE', 'MONITORING_ENDPOINT'])
    if (!(key in azure.env)) delete settings.values[key];
  applySettings(settings.values);
  // The demo's CMK-013 case: its regulated resource group requires infrastructure encryption.
  if (demo && process.env.REQUIRE_INFRASTRUCTURE_ENCRYPTION === undefined)
    process.env.REQUIRE_INFRASTRUCTURE_ENCRYPTION = demoRegulatedScope(azure.subscriptionId);

  const host = await startFunctionsHost({
    app: ROOT,
    port,
    clock,
    keys: settings.keys,
    log,
    duplicateActivities: args.chaos === 'duplicate-activities',
  });
  // Event Grid's AzureFunction destinations naming the app's function app reach this host's Event Grid
  // webhook with its system key, as the Functions extension receives them in Azure.
  azure.core.providers
    .find((p): p is EventGridProvider => p instanceof EventGridProvider)
    ?.registerFunctionApp({
      resourceId: azure.app.resourceId,
      baseUrl: host.url,
      systemKey: host.keys.eventGridExtension,
    });

  // Infra's audit alert names the running host (its URL and function key).
  if (demo) {
    const lines = await wireDemoAlerts(
      azure,
      {
        baseUrl: host.url,
        functionKey: host.keys.function,
        ...(process.env.ALERT_RULES ? { alertRules: process.env.ALERT_RULES } : {}),
      },
      infra,
    );
    demo.text += `\n${lines.join('\n')}`;
  }

  if (args['ready-json']) {
    process.stdout.write(
      JSON.stringify({
        event: 'ready',
        url: host.url,
        keys: host.keys,
        functions: host.functions,
        azure: {
          url: azure.url,
          adminSecret: azure.adminSecret,
          subscriptionId: azure.subscriptionId,
          tenantId: azure.tenantId,
          app: azure.app,
          keyVaultDnsSuffix: azure.keyVaultDnsSuffix,
          caPath: azure.caPath,
          env: azure.env,
          ...(azure.storage ? { storage: { blobEndpoint: azure.storage.blobEndpoint } } : {}),
        },
      }) + '\n',
    );
  } else {
    printBanner(host, azure, clock, speed, settings.file, demo, infra);
  }

  if (demo && clock.kind !== 'virtual' && !args['no-first-sweep'])
    void firstSweep(host.url, host.keys.function, !args['ready-json']);

  const stop = (): void => {
    void Promise.allSettled([host.close(), azure.close()]).then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/**
 * The first sweep over the demo estate: started through the app's own API, followed through its
 * operation URL, and the report URL printed once the report is stored (or why it is not).
 */
async function firstSweep(baseUrl: string, functionKey: string, print: boolean): Promise<void> {
  const say = (line: string): void => {
    if (print) process.stdout.write(`${line}\n`);
  };
  const headers = { 'x-functions-key': functionKey };
  try {
    const started = await fetch(`${baseUrl}/api/compliance/sweeps`, { method: 'POST', headers });
    if (started.status !== 202 && started.status !== 409) {
      say(`First compliance sweep: not started (${started.status} ${await started.text()})`);
      return;
    }
    const { statusQueryGetUri } = (await started.json()) as { statusQueryGetUri?: string };
    const operation = statusQueryGetUri ?? `${baseUrl}/api/operations/complianceSweep`;
    say(`First compliance sweep: running — ${operation}`);
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const op = (await (await fetch(operation, { headers })).json()) as {
        done?: boolean;
        runtimeStatus?: string;
        output?: {
          summary?: { namespaces: number; compliant: number; couldNotAssess: number };
          report?: unknown;
          error?: { detail: string };
        } | null;
      };
      if (!op.done) continue;
      const out = op.output;
      if (op.runtimeStatus !== 'Completed' || !out?.summary) {
        say(`First compliance sweep: ${op.runtimeStatus ?? 'ended'} — see ${operation}`);
        return;
      }
      const s = out.summary;
      say(
        `First compliance sweep: ${s.namespaces} namespaces, ${s.compliant} compliant, ${s.couldNotAssess} could not be assessed`,
      );
      if (out.report)
        say(
          `  Compliance report  ${baseUrl}/api/compliance/report.html   (JSON: ${baseUrl}/api/compliance/report)`,
        );
      else say(`  The report was not stored: ${out.error?.detail ?? 'unknown reason'}`);
      return;
    }
    say(`First compliance sweep: still running — follow ${operation}`);
  } catch (error) {
    say(`First compliance sweep: failed to start (${(error as Error).message})`);
  }
}

function printBanner(
  host: Awaited<ReturnType<typeof startFunctionsHost>>,
  azure: Awaited<ReturnType<typeof startAzureSandbox>>,
  clock: Clock,
  speed: number,
  settingsFile: string | undefined,
  demo: DemoEstateSummary | undefined,
  infra: ReturnType<typeof loadInfraData>,
): void {
  const demoNamespace = `/subscriptions/${azure.subscriptionId}/resourceGroups/rg-demo-messaging/providers/Microsoft.ServiceBus/namespaces/sb-demo-premium-empty`;
  const lines = [
    '',
    'Service Bus CMK Guardian — running offline',
    `  Functions host   ${host.url}  (settings: ${settingsFile ? path.relative(ROOT, settingsFile) : 'environment only'})`,
    `  Azure sandbox    ${azure.url}  (subscription ${azure.subscriptionId}, Key Vault hosts *.${azure.keyVaultDnsSuffix})`,
    `  Clock            ${clock.kind === 'virtual' ? 'virtual (advance it with the control API)' : speed === 1 ? 'wall clock' : `wall clock × ${speed}`}`,
    '',
    ...(demo
      ? ['Demo estate (emulated Azure):', ...demo.text.split('\n').map((l) => `  ${l}`), '']
      : ['Demo estate: not seeded (--no-seed)', '']),
    'Functions:',
    ...host.functions.map((f) => `  ${f.name.padEnd(22)} [${f.trigger}] ${f.detail}`),
    '',
    'Keys (generated for this run unless pinned in local.settings.json Host.Keys):',
    `  function key     ${host.keys.function}`,
    `  master key       ${host.keys.master}`,
    `  sandbox admin    ${azure.adminSecret}   (Authorization: Bearer … on ${azure.url}/_sandbox/*)`,
    '',
    'Try:',
    `  curl -s ${host.url}/api/health`,
    `  curl -s -H "x-functions-key: ${host.keys.function}" -H 'content-type: application/json' ${host.url}/api/cmk/enable \\`,
    `    -d '{"namespaceId":"${demoNamespace}","keys":[{"keyId":"${azure.vaultUri('kv-demo-ap')}keys/sb-cmk"}],"dryRun":true}'`,
    `  curl -s -H "x-functions-key: ${host.keys.function}" -H 'content-type: application/json' ${host.url}/api/cmk/diagnose \\`,
    `    -d '{"namespaceId":"${demoNamespace.replace('sb-demo-premium-empty', 'sb-demo-cmk-sai')}"}'`,
    `  curl -s -H "x-functions-key: ${host.keys.function}" ${host.url}/api/operations/<operation id>`,
    `  curl -s --cacert ${path.relative(process.cwd(), azure.caPath)} -H "Authorization: Bearer ${azure.adminSecret}" ${azure.url}/_sandbox/requests`,
    '',
    'Event Grid (Key Vault events → the app):',
    `  system topics ${infra.eventSubscription.systemTopic.namePrefix}<vault> → subscription ${infra.eventSubscription.name} → function ${infra.eventSubscription.function} (${host.url}/runtime/webhooks/eventgrid)`,
    `  deliveries, retries, dead-letters: curl -s --cacert ${path.relative(process.cwd(), azure.caPath)} -H "Authorization: Bearer ${azure.adminSecret}" ${azure.url}/_sandbox/eventgrid/deliveries`,
    ...(azure.storage
      ? [
          `  storage account  ${azure.storage.blobEndpoint}  (AzureWebJobsStorage; dead-letters in container ${infra.eventSubscription.deadLetterContainer})`,
        ]
      : []),
    '',
    'State is in memory: stopping loses Durable instances, timer schedule status and the emulated estate.',
    'Press Ctrl+C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

if (process.env[CHILD_FLAG] === '1') {
  compose().catch((error: unknown) => {
    process.stderr.write(`npm start failed: ${(error as Error).message}\n`);
    process.exit(1);
  });
} else {
  try {
    launch();
  } catch (error) {
    process.stderr.write(`npm start failed: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
