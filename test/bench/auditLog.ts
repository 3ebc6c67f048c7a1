/**
 * Benchmark: the added cost of the Key Vault audit log per Key Vault call. The same client makes the
 * same calls (getKey, wrapKey) against one vault, alternating blocks without and with a diagnostic
 * setting (AuditEvent → a workspace) in the same run, so both conditions share warm-up, GC and machine
 * load. Prints the median time per call of each condition and their ratio, and proves the setting was
 * in force: exactly one audit row per call made with it, none without.
 * Run: npm run build && node dist/test/bench/auditLog.js
 */
import { MonitorClient } from '@azure/arm-monitor';
import { KeyClient } from '@azure/keyvault-keys';
import { VirtualClock } from '../../sandbox/clock';
import { startAzureSandbox } from '../../sandbox/azure';
import { MonitorProvider } from '../../sandbox/azure/monitor';
import { armClientOptions, httpsJson, sandboxAgent, SandboxCredential } from '../../sandbox/azure/testing';

const BLOCKS = 30;
const CALLS_PER_BLOCK = 100;
const WARM_UP_BLOCKS = 20;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const sb = await startAzureSandbox({
    clock: new VirtualClock(Date.UTC(2026, 0, 1)),
    lroRetryAfterSeconds: 0,
  });
  const agent = sandboxAgent(sb);
  try {
    const admin = sb.admin.objectId;
    const token = (await sb.control.token(admin)).access_token;
    const rg = `/subscriptions/${sb.subscriptionId}/resourceGroups/rg-bench`;
    const vaultId = `${rg}/providers/Microsoft.KeyVault/vaults/kv-bench`;
    const put = async (path: string, body: unknown) => {
      const res = await httpsJson(sb, 'PUT', `${sb.url}${path}`, { token, body });
      if (res.status >= 300) throw new Error(`PUT ${path}: ${res.status} ${res.text}`);
    };
    await put(`${rg}?api-version=2021-04-01`, { location: 'westeurope' });
    await put(`${vaultId}?api-version=2023-07-01`, {
      location: 'westeurope',
      properties: {
        tenantId: sb.tenantId,
        sku: { family: 'A', name: 'standard' },
        accessPolicies: [{ tenantId: sb.tenantId, objectId: admin, permissions: { keys: ['all'] } }],
      },
    });
    const credential = new SandboxCredential(sb, admin);
    const keys = new KeyClient(sb.vaultUri('kv-bench'), credential, {
      agent,
      retryOptions: { maxRetries: 0 },
    });
    const key = await keys.createRsaKey('bench');
    const version = key.properties.version!;
    const monitor = new MonitorClient(credential, sb.subscriptionId, armClientOptions(sb));
    const workspace = `${rg}/providers/Microsoft.OperationalInsights/workspaces/law-bench`;
    const audit = sb.core.providers.find((p): p is MonitorProvider => p instanceof MonitorProvider)!.parts
      .audit;
    const rowsNow = () => audit.rows({ workspaceId: workspace }).length;
    const payload = Buffer.alloc(32, 7);

    const block = async (): Promise<number> => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < CALLS_PER_BLOCK; i++) {
        if (i % 2 === 0) await keys.getKey('bench', { version });
        else await keys.getCryptographyClient('bench', { keyVersion: version }).wrapKey('RSA-OAEP', payload);
      }
      return Number(process.hrtime.bigint() - t0) / 1e6 / CALLS_PER_BLOCK;
    };
    // Warm-up (JIT, connection, token cache) without the setting.
    for (let i = 0; i < WARM_UP_BLOCKS; i++) await block();

    const without: number[] = [];
    const withSetting: number[] = [];
    let rowsWithout = 0;
    let rowsWith = 0;
    const runWithout = async () => {
      const before = rowsNow();
      without.push(await block());
      rowsWithout += rowsNow() - before;
    };
    const runWith = async () => {
      await monitor.diagnosticSettings.createOrUpdate(vaultId, 'bench', {
        workspaceId: workspace,
        logs: [{ category: 'AuditEvent', enabled: true }],
      });
      const before = rowsNow();
      withSetting.push(await block());
      rowsWith += rowsNow() - before;
      await monitor.diagnosticSettings.delete(vaultId, 'bench');
    };
    // ABBA order, so drift (a growing store, GC, other load) falls on both conditions alike.
    for (let b = 0; b < BLOCKS; b++) {
      if (b % 2 === 0) {
        await runWithout();
        await runWith();
      } else {
        await runWith();
        await runWithout();
      }
    }

    // The observer alone (what the audit log adds to each call, without HTTP noise): replay one real
    // wrapKey outcome through it, without and with the setting.
    let captured: Parameters<typeof audit.observe>[0] | undefined;
    sb.core.observers.push((o) => {
      if (o.service === 'keyvault') captured = o;
    });
    await keys.getCryptographyClient('bench', { keyVersion: version }).wrapKey('RSA-OAEP', payload);
    const replay = (n: number): number => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) audit.observe(captured!);
      return Number(process.hrtime.bigint() - t0) / 1e3 / n;
    };
    replay(2000);
    const observerWithout = median([replay(5000), replay(5000), replay(5000)]);
    await monitor.diagnosticSettings.createOrUpdate(vaultId, 'bench', {
      workspaceId: workspace,
      logs: [{ category: 'AuditEvent', enabled: true }],
    });
    const observerWith = median([replay(5000), replay(5000), replay(5000)]);

    const calls = BLOCKS * CALLS_PER_BLOCK;
    const base = median(without);
    const audited = median(withSetting);
    const proven = rowsWithout === 0 && rowsWith === calls;
    process.stdout.write(
      [
        'Key Vault audit log: added cost per Key Vault call (getKey + wrapKey, in-process sandbox over HTTPS)',
        `  without a diagnostic setting  ${base.toFixed(3)} ms/call (median of ${BLOCKS} blocks × ${CALLS_PER_BLOCK} calls)`,
        `  with AuditEvent → workspace   ${audited.toFixed(3)} ms/call`,
        `  ratio                         ×${(audited / base).toFixed(3)}  (added ${(audited - base).toFixed(3)} ms/call)`,
        `  the observer alone            ${observerWithout.toFixed(1)} µs/call without (platform metrics), ${observerWith.toFixed(1)} µs/call with (+ audit row)`,
        `  audit rows written            ${rowsWith} with the setting (${calls} data-plane calls made), ${rowsWithout} without  ${proven ? 'ok' : 'NOT PROVEN'}`,
        '',
      ].join('\n'),
    );
    if (!proven) process.exitCode = 1;
  } finally {
    agent.destroy();
    await sb.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
