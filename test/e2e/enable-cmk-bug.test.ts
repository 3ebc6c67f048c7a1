/**
 * A bug surfaces as a bug. The sandbox answers the vault list with a 2xx body that lacks a field Azure's
 * contract requires (`accessPolicies[].permissions`; the SDK does not validate it, our transformation
 * reads it) — the sandbox's `omitField` fault, after the handler ran. The TypeError that follows in the
 * preflight activity must end the operation `failed` with a 500-class `bug` error — not a refusal, not
 * a "vault forbidden" finding, not retried as a platform fault — and nothing is written.
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, grantDocumentedRoles, type EnableOutput } from './enable-cmk-support';

let e: Estate;

beforeAll(async () => {
  e = await startLocalEstate().then((s) => new Estate(s).init());
  await grantDocumentedRoles(e);
  await e.vault('kv-bug');
  await e.key('kv-bug', 'k1');
  // One access policy (for someone else), so the vault list has an entry to take `permissions` from.
  await e.arm('PUT', `${e.vaultId('kv-bug')}/accessPolicies/add?api-version=2023-07-01`, {
    properties: {
      accessPolicies: [
        {
          tenantId: e.estate.azure.tenantId,
          objectId: '00000000-0000-0000-0000-00000000b0b0',
          permissions: { keys: ['get'] },
        },
      ],
    },
  });
}, 120_000);

afterAll(async () => e?.estate.stop());

interface Rule {
  id: string;
  hits: number;
}

it('an unexpected TypeError in an activity: a failed operation with a 500-class bug error, not a refusal', async () => {
  const ns = await e.namespace('sb-bug');
  const added = await e.estate.azure.control<Rule>('POST', '/faults', {
    match: { method: 'GET', path: '/providers/Microsoft.KeyVault/vaults$', principal: e.app },
    phase: 'after',
    effect: { type: 'omitField', path: 'value.0.properties.accessPolicies.0.permissions' },
  });
  expect(added.status).toBeLessThan(300);
  const mark = await e.mark();

  const start = await e.post<{ id: string }>('/api/cmk/enable', {
    namespaceId: ns,
    keys: [{ keyId: e.keyId('kv-bug', 'k1') }],
  });
  expect(start.status).toBe(202);
  const op = await e.settle(start.body.id);
  const out = op.output as EnableOutput & { error?: { class: string; status: number } };

  expect(op.runtimeStatus).toBe('Completed');
  expect(out.outcome).toBe('failed');
  expect(out.error).toMatchObject({ step: 'preflight', class: 'bug', status: 500, code: 'TypeError' });
  expect(out.summary).toContain('an internal error of the app (a bug');
  expect(out.findings).toEqual([]);
  // Served exactly once: a bug is not retried (a platform fault would have been, six times).
  const rules = await e.estate.azure.control<Rule[]>('GET', '/faults');
  expect(rules.body.find((r) => r.id === added.body.id)?.hits).toBe(1);
  // Nothing was written.
  expect((await e.appRequests(mark)).filter((r) => r.method !== 'GET')).toEqual([]);
  await e.estate.azure.control('DELETE', '/faults');
});
