/**
 * Benchmark: Event Grid delivery throughput of the sandbox — 10,000 Key Vault events published to a
 * system topic and pushed to a local HTTP receiver (one event per request, as Event Grid delivers by
 * default), in events/s, next to a baseline measured in the same run: raw HTTP POSTs of the same
 * payloads and headers to the same receiver, through a keep-alive agent with the same socket limit.
 * Every event must arrive exactly once (no faults are injected); the run fails otherwise.
 * Run: npm run build && node dist/test/bench/eventGrid.js   (BENCH_EVENTS=n to change the count)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WallClock } from '../../sandbox/clock';
import { startAzureSandbox } from '../../sandbox/azure';
import { EventGridProvider } from '../../sandbox/azure/eventgrid';
import { fromKeyVault, toEventGridSchema } from '../../sandbox/azure/eventgrid/events';
import { httpsJson } from '../../sandbox/azure/testing';

const N = Number(process.env.BENCH_EVENTS ?? 10_000);
const WARMUP = 500;

async function main(): Promise<void> {
  const sb = await startAzureSandbox({ clock: new WallClock() });
  let count = 0;
  let target = 0;
  let reached: () => void = () => undefined;
  const ids = new Set<string>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
        const code = (
          JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ data: { validationCode: string } }>
        )[0]!.data.validationCode;
        res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ validationResponse: code }));
        return;
      }
      const [event] = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ id: string }>;
      ids.add(event!.id);
      res.writeHead(200).end();
      if (++count === target) reached();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const receiver = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  try {
    const token = (await sb.control.token(sb.admin.objectId)).access_token;
    const arm = async (path: string, api: string, body: unknown) => {
      const r = await httpsJson(sb, 'PUT', `${sb.url}${path}?api-version=${api}`, { token, body });
      if (r.status >= 300) throw new Error(`${path}: ${r.status} ${r.text}`);
    };
    const rg = `/subscriptions/${sb.subscriptionId}/resourceGroups/rg-bench`;
    const vaultId = `${rg}/providers/Microsoft.KeyVault/vaults/kv-bench`;
    await arm(rg, '2021-04-01', { location: 'westeurope' });
    await arm(vaultId, '2023-07-01', {
      location: 'westeurope',
      properties: { tenantId: sb.tenantId, sku: { family: 'A', name: 'standard' }, accessPolicies: [] },
    });
    const topic = `${rg}/providers/Microsoft.EventGrid/systemTopics/bench`;
    await arm(topic, '2022-06-15', {
      location: 'westeurope',
      properties: { source: vaultId, topicType: 'Microsoft.KeyVault.vaults' },
    });
    await arm(`${topic}/eventSubscriptions/bench`, '2022-06-15', {
      properties: { destination: { endpointType: 'WebHook', properties: { endpointUrl: receiver } } },
    });
    const provider = sb.core.providers.find((p): p is EventGridProvider => p instanceof EventGridProvider)!;
    const event = (i: number) =>
      fromKeyVault({
        type: 'Microsoft.KeyVault.KeyNewVersionCreated',
        vaultId,
        vaultName: 'kv-bench',
        objectName: `key-${i}`,
        version: `v${i}`,
        id: `${sb.vaultUri('kv-bench')}keys/key-${i}/v${i}`,
        at: Date.now(),
      });

    const viaEventGrid = async (n: number): Promise<number> => {
      count = 0;
      ids.clear();
      target = n;
      const done = new Promise<void>((resolve) => (reached = resolve));
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) provider.publish(event(i));
      await done;
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (ids.size !== n) throw new Error(`Event Grid delivered ${ids.size} distinct events of ${n}`);
      return ms;
    };

    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const rawPosts = async (n: number): Promise<number> => {
      count = 0;
      ids.clear();
      target = n;
      const done = new Promise<void>((resolve) => (reached = resolve));
      const bodies = Array.from({ length: n }, (_, i) => JSON.stringify([toEventGridSchema(event(i))]));
      const t0 = process.hrtime.bigint();
      for (const body of bodies) {
        const req = http.request(receiver, {
          method: 'POST',
          agent,
          headers: {
            'Content-Type': 'application/json; charset=utf-8',
            'Content-Length': String(Buffer.byteLength(body)),
            'aeg-event-type': 'Notification',
            'aeg-subscription-name': 'BENCH',
            'aeg-delivery-count': '0',
            'aeg-data-version': '1',
            'aeg-metadata-version': '1',
          },
        });
        req.on('response', (res) => res.resume());
        req.on('error', () => undefined); // counted at the receiver; a late reset is not a lost event
        req.end(body);
      }
      await done;
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (ids.size !== n) throw new Error(`raw POSTs delivered ${ids.size} distinct events of ${n}`);
      return ms;
    };

    await viaEventGrid(WARMUP);
    await rawPosts(WARMUP);
    const egMs = await viaEventGrid(N);
    const rawMs = await rawPosts(N);
    agent.destroy();
    const attempts = provider.delivery.attempts().length;
    const rate = (ms: number) => (N / (ms / 1000)).toFixed(0);
    console.log(`Event Grid delivery, ${N} events (one per request) to a local receiver:`);
    console.log(
      `  via the sandbox's Event Grid   ${egMs.toFixed(0).padStart(7)} ms  ${rate(egMs).padStart(7)} events/s`,
    );
    console.log(
      `  baseline: raw HTTP POSTs       ${rawMs.toFixed(0).padStart(7)} ms  ${rate(rawMs).padStart(7)} events/s`,
    );
    console.log(`  ratio (Event Grid / baseline throughput)  ×${(rawMs / egMs).toFixed(2)}`);
    console.log(`  delivery attempts logged: ${attempts} (expected ${N + WARMUP}: every event exactly once)`);
    if (attempts !== N + WARMUP) throw new Error('unexpected number of delivery attempts');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await sb.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
