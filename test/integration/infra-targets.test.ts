/**
 * Every function infra must reach is one the app registers, with the trigger infra assumes: the Event
 * Grid subscription's `function` is an Event Grid trigger, the audit alert's webhook route an HTTP POST
 * route. The compiled app (dist/, as deployed) is loaded in a child process through the local host's
 * @azure/functions-core shim and its registrations are read — not a list kept beside the code.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface Registered {
  name: string;
  bindings: { type: string; direction: string; route?: string; methods?: string[] }[];
}

const root = path.resolve(__dirname, '../..');
const readJson = <T>(file: string): T => JSON.parse(readFileSync(path.join(root, file), 'utf8')) as T;

function registeredFunctions(): Registered[] {
  const script = `
    const { Registry, installCoreModule } = require(${JSON.stringify(path.join(root, 'dist/sandbox/host/coreShim.js'))});
    const registry = new Registry(() => undefined);
    installCoreModule(registry);
    require(${JSON.stringify(path.join(root, 'dist/src/index.js'))});
    const out = [...registry.functions.values()].map(({ metadata }) => ({
      name: metadata.name,
      bindings: Object.values(metadata.bindings || {}).map((b) => ({ type: b.type, direction: b.direction, route: b.route, methods: b.methods })),
    }));
    process.stdout.write(JSON.stringify(out));`;
  return JSON.parse(
    execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' }),
  ) as Registered[];
}

const functions = registeredFunctions();
const trigger = (f: Registered) => f.bindings.find((b) => b.direction === 'in' && /Trigger$/.test(b.type));

it('the Key Vault event subscription targets an Event Grid trigger the app registers', () => {
  const subscription = readJson<{ function: string }>('infra/wiring/keyVaultEventSubscription.json');
  const target = functions.find((f) => f.name === subscription.function);
  expect(target && trigger(target)?.type).toBe('eventGridTrigger');
});

it("the audit alert's webhook route is an HTTP POST route the app registers", () => {
  const alert = readJson<{ webhookRoute: string }>('infra/wiring/keyVaultAuditAlert.json');
  const routes = functions
    .map((f) => trigger(f))
    .filter((b) => b?.type === 'httpTrigger' && b.route === alert.webhookRoute);
  expect(routes.map((b) => b?.methods?.map((m) => m.toUpperCase()))).toEqual([['POST']]);
});
