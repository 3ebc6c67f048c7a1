/**
 * Benchmark: Azure calls of ONE key-watch cycle against the minimum, on a generated estate.
 *
 * The estate: V vaults (R of them RBAC) with K_PER_VAULT keys each, N namespaces each on one or two of
 * those keys (system-assigned identities, granted by access policy or role assignment). The minimum is
 * derived here from those generator parameters only — never from the app's code or output:
 *   one read per distinct key in use (K) + one per vault (V) + one role-assignment list per RBAC vault (R).
 * The app may do better on vaults (one vault list per subscription finds them all); the run prints
 * both the issue's minimum and the calls it made, by operation, from the sandbox's request log.
 *
 * Time: the cycle (timer → orchestration → the shared assess activity → done) as a ratio to a baseline
 * measured in the same run: the sum of the latencies of the minimum calls, made one by one by the
 * benchmark itself against the same sandbox.
 * Run: npm run build && node dist/test/bench/keyWatch.js
 */
import { startLocalEstate } from '../support/localEstate';
import { grantDocumentedRoles } from '../e2e/enable-cmk-support';
import { GuardianEstate } from '../e2e/guardian-support';
import { refreshIndex, runKeyWatchCycle } from '../e2e/guardian-index';

const VAULTS = 6;
const RBAC_VAULTS = 2;
const KEYS_PER_VAULT = 3;
const NAMESPACES = 36;
const KEY_POLL_MINUTES = 5;

async function main(): Promise<void> {
  const estate = await startLocalEstate({ env: { KEY_POLL_MINUTES: String(KEY_POLL_MINUTES) } });
  try {
    const e = await new GuardianEstate(estate).init();
    await grantDocumentedRoles(e);
    await e.grantApp('Monitoring Metrics Publisher', e.rgId());
    const vaults = Array.from({ length: VAULTS }, (_, i) => ({
      name: `kv-bench-${i}`,
      rbac: i < RBAC_VAULTS,
    }));
    const keys: Array<{ vault: string; key: string; rbac: boolean }> = [];
    for (const v of vaults) {
      await e.adminVault(v.name, v.rbac);
      for (let k = 0; k < KEYS_PER_VAULT; k++) {
        await e.createKey(v.name, `k${k}`);
        keys.push({ vault: v.name, key: `k${k}`, rbac: v.rbac });
      }
    }
    // Namespace i uses key i mod K, and every third one also key (i + 1) mod K: every key is in use.
    const used = new Set<string>();
    for (let i = 0; i < NAMESPACES; i++) {
      const name = `sb-bench-${i}`;
      const principal = await e.identityNamespace(name);
      const mine = [keys[i % keys.length]!, ...(i % 3 === 0 ? [keys[(i + 1) % keys.length]!] : [])];
      const granted = new Set<string>();
      for (const k of mine) {
        used.add(`${k.vault}/${k.key}`);
        // Access is per vault (policy, or the role at vault scope): once per vault is enough.
        if (granted.has(k.vault)) continue;
        granted.add(k.vault);
        if (k.rbac) await e.assignCryptoUser(principal, e.vaultId(k.vault));
        else await e.accessPolicy(k.vault, principal, 'add');
      }
      await e.encrypt(
        name,
        mine.map((k) => ({ vault: k.vault, key: k.key })),
      );
    }
    await refreshIndex(e);

    const minimum = used.size + VAULTS + RBAC_VAULTS;
    // Warm-up cycle (token, JIT), then the measured one.
    await runKeyWatchCycle(e, KEY_POLL_MINUTES);
    const cycle = await runKeyWatchCycle(e, KEY_POLL_MINUTES);

    // Baseline: the minimum calls themselves, one at a time, as the administrator.
    const t0 = process.hrtime.bigint();
    for (const v of vaults) {
      await e.arm('GET', `${e.vaultId(v.name)}?api-version=2023-07-01`);
      if (v.rbac)
        await e.arm(
          'GET',
          `${e.vaultId(v.name)}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`,
        );
    }
    for (const k of used) {
      const [vault, key] = k.split('/') as [string, string];
      await e.arm('GET', `${e.vaultId(vault)}/keys/${key}?api-version=2023-07-01`);
    }
    const baselineMs = Number(process.hrtime.bigint() - t0) / 1e6;

    // The key reads only: the alert path's own calls (custom metrics) go to the monitoring host.
    const keyOps = Object.entries(cycle.byOperation).filter(([op]) =>
      /^Microsoft\.(KeyVault|Authorization)\//.test(op),
    );
    const calls = keyOps.reduce((n, [, c]) => n + c, 0);
    if (calls !== cycle.calls)
      throw new Error(`unexpected ARM calls in the cycle: ${JSON.stringify(cycle.byOperation)}`);
    const lines = [
      `key watch, one cycle: ${NAMESPACES} namespaces, ${VAULTS} vaults (${RBAC_VAULTS} RBAC), ${used.size} keys in use`,
      `  calls made        ${cycle.calls} (${Object.entries(cycle.byOperation)
        .map(([op, n]) => `${op} ${n}`)
        .join(', ')})`,
      `  issue's minimum   ${minimum} = ${used.size} keys + ${VAULTS} vaults + ${RBAC_VAULTS} RBAC lists   ratio ${(cycle.calls / minimum).toFixed(2)}`,
      `  per namespace     ${(cycle.calls / NAMESPACES).toFixed(2)} calls (one call per namespace would be ≥ ${NAMESPACES})`,
      `  time              ${cycle.ms.toFixed(0)} ms vs ${baselineMs.toFixed(0)} ms for the minimum calls one by one   ratio ${(cycle.ms / baselineMs).toFixed(2)}`,
      `  verdicts          ${JSON.stringify(cycle.byVerdict)}`,
    ];
    console.log(lines.join('\n'));
    if (cycle.byVerdict.healthy !== NAMESPACES) throw new Error(`expected ${NAMESPACES} healthy namespaces`);
    if (cycle.calls > minimum)
      throw new Error(`the cycle made ${cycle.calls} calls, more than the minimum ${minimum}`);
  } finally {
    await estate.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
