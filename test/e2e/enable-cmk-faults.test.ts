/**
 * enableCmk (system-assigned identity, access-policy vault) under platform faults, end to end over
 * HTTP: throttling (429) and server errors (503) injected on every ARM call site the flow uses, in
 * turn. The user-assigned + RBAC flow, exhausted retries and a failure after a grant are in
 * enable-cmk-faults-uai.test.ts, the chaos mode in enable-cmk-chaos.test.ts (split to run in parallel).
 */
import { startLocalEstate } from '../support/localEstate';
import { Estate, fault } from './enable-cmk-support';
import {
  IN_A_ROW,
  MINIMUM_WRITES,
  SYSTEM_AP_SITES,
  faultCases,
  hitsOf,
  runSystemAp,
  seed,
} from './enable-cmk-faults-support';

describe('platform faults: system-assigned + access policy', () => {
  let e: Estate;
  beforeAll(async () => {
    e = await new Estate(await startLocalEstate()).init();
    await seed(e);
  }, 120_000);
  afterAll(async () => e?.estate.stop());
  afterEach(async () => {
    await e.estate.azure.control('DELETE', '/faults');
  });

  it.each(faultCases(SYSTEM_AP_SITES))(
    'system-assigned + access policy: %s on %s — still enabled with the minimum writes',
    async (_label, _name, site, effect) => {
      const mark = await e.mark();
      const rule = await fault(e, site, effect, IN_A_ROW);
      const run = await runSystemAp(e);
      expect(run.out.outcome).toBe('enabled');
      expect(run.succeeded).toBe(MINIMUM_WRITES.systemAp);
      // A faulted write site was attempted once per fault, then once more successfully.
      expect(run.attempted).toBe(MINIMUM_WRITES.systemAp + (site.method === 'GET' ? 0 : IN_A_ROW));
      const failed = (await e.appRequests(mark)).filter((r) => r.status === 429 || r.status === 503);
      expect(failed.length).toBe(IN_A_ROW); // every injected fault was met (and ridden through)
      expect(await hitsOf(e, rule)).toBe(IN_A_ROW);
    },
  );
});
