/**
 * POST /api/cmk/enable and /api/cmk/diagnose end to end: `npm start`'s composition (emulated Azure +
 * local Functions host on one virtual clock), the app's own managed identity holding exactly the
 * roles the README documents, observed only over HTTP (the app's API, the sandbox's control API and
 * ARM as the administrator). Writes are counted from the sandbox's request log.
 */
import { createHash } from 'node:crypto';
import { startLocalEstate } from '../support/localEstate';
import { Estate, type EnableOutput, type RequestLogEntry } from './enable-cmk-support';

let e: Estate;

beforeAll(async () => {
  e = await new Estate(await startLocalEstate()).init();
  // The documented roles (README "The app's Azure roles").
  await e.grantApp('Reader', `/subscriptions/${e.sub}`);
  await e.grantApp('Contributor', e.rgId());
  await e.grantApp('Key Vault Contributor', e.rgId());
  await e.grantApp('User Access Administrator', e.rgId());

  await e.vault('kv-ap');
  await e.vault('kv-rbac', { rbac: true });
  for (const k of ['k-sys', 'k-infra-1', 'k-infra-2', 'k-dry']) await e.key('kv-ap', k);
  for (const k of ['k-uai', 'k-infra-3']) await e.key('kv-rbac', k);
}, 120_000);

afterAll(async () => e?.estate.stop());

const writesOf = (entries: Array<{ method: string; path: string }>) =>
  entries.map((w) => `${w.method} ${w.path}`);

describe('happy paths', () => {
  it('system-assigned identity + access-policy vault: identity, grant, encrypt, verify — minimum writes', async () => {
    const ns = await e.namespace('sb-sys-ap');
    const mark = await e.mark();
    const { start, op } = await e.enable({ namespaceId: ns, keys: [{ keyId: e.keyId('kv-ap', 'k-sys') }] });
    expect(start.body.statusQueryGetUri).toMatch(new RegExp(`/api/operations/${start.body.id}$`));

    const out = op.output as EnableOutput;
    expect(out.outcome).toBe('enabled');
    expect(op.customStatus?.state).toBe('succeeded');
    expect(out.steps.map((s) => `${s.kind}:${s.status}`)).toEqual([
      'preflight:done',
      'ensureIdentity:done',
      'grantKeyAccess:done',
      'waitForAccessPropagation:done',
      'setEncryption:done',
      'waitForProvisioning:done',
      'verifyEncryption:done',
    ]);
    const principal = (await e.getNamespace('sb-sys-ap')).identity?.principalId;
    expect(out.grants).toEqual([
      expect.objectContaining({ kind: 'accessPolicy', vaultName: 'kv-ap', principalId: principal }),
    ]);
    expect(op.customStatus?.grants).toEqual(out.grants);
    expect(out.encryption?.keys.map((k) => k.keyId)).toEqual([e.keyId('kv-ap', 'k-sys')]);
    // The last activity put the namespace in the key index (the guardian watches it from now on).
    expect((out as { keyIndex?: { refreshed: boolean } }).keyIndex?.refreshed).toBe(true);

    // Exactly the plan's minimum: identity PATCH, access policy, encryption PATCH.
    const writes = await e.appRequests(mark, 'attempted');
    expect(writes).toHaveLength(out.minimumWrites?.total ?? -1);
    expect(writesOf(writes)).toEqual([
      expect.stringMatching(/^PATCH .*namespaces\/sb-sys-ap$/i),
      expect.stringMatching(/^PUT .*vaults\/kv-ap\/accessPolicies\/add$/i),
      expect.stringMatching(/^PATCH .*namespaces\/sb-sys-ap$/i),
    ]);
    const encryption = (await e.getNamespace('sb-sys-ap')).properties.encryption as {
      keyVaultProperties: Array<{ keyName: string }>;
    };
    expect(encryption.keyVaultProperties.map((k) => k.keyName)).toEqual(['k-sys']);
  });

  it('a second enable for the same namespace while one runs gets 409 pointing at the running operation', async () => {
    const ns = await e.namespace('sb-twice');
    const body = { namespaceId: ns, keys: [{ keyId: e.keyId('kv-ap', 'k-dry') }] };
    const first = await e.post<{ id: string }>('/api/cmk/enable', body);
    expect(first.status).toBe(202);
    // The first one now waits on a durable timer (the virtual clock has not moved).
    const second = await e.post<{ title: string; operationId: string }>('/api/cmk/enable', body);
    expect(second.status).toBe(409);
    expect(second.body.operationId).toBe(first.body.id);
    // Meanwhile the step log shows where it is and what it has done so far: once its activities have
    // run, it waits on the propagation timer, which only moves with the virtual clock.
    let running = await e.operation(first.body.id);
    for (let i = 0; i < 200 && running.customStatus?.steps[3]?.status !== 'running'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      running = await e.operation(first.body.id);
    }
    expect(running.done).toBe(false);
    expect(running.customStatus?.state).toBe('running');
    expect(running.customStatus?.steps.map((st) => `${st.kind}:${st.status}`)).toEqual([
      'preflight:done',
      'ensureIdentity:done',
      'grantKeyAccess:done',
      'waitForAccessPropagation:running',
      'setEncryption:pending',
      'waitForProvisioning:pending',
      'verifyEncryption:pending',
    ]);
    expect(running.customStatus?.grants).toHaveLength(1);
    expect((await e.settle(first.body.id)).output?.outcome).toBe('enabled');
  });

  it('running it again with the same keys is a no-op success with zero writes', async () => {
    const mark = await e.mark();
    const { op } = await e.enable({
      namespaceId: e.nsId('sb-sys-ap'),
      keys: [{ keyId: e.keyId('kv-ap', 'k-sys') }],
    });
    expect(op.output?.outcome).toBe('noOp');
    expect(op.customStatus?.state).toBe('noOp');
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  });

  it('with other keys on an encrypted namespace it is refused clearly (PRE-008), zero writes', async () => {
    const mark = await e.mark();
    const { op } = await e.enable({
      namespaceId: e.nsId('sb-sys-ap'),
      keys: [{ keyId: e.keyId('kv-ap', 'k-dry') }],
    });
    expect(op.output?.outcome).toBe('blocked');
    expect(op.output?.findings.map((f) => f.ruleId)).toContain('PRE-008');
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  });

  it('user-assigned identity + RBAC vault: attach, role at key scope, encrypt', async () => {
    const uai = await e.uai('id-cmk');
    const ns = await e.namespace('sb-uai-rbac');
    const mark = await e.mark();
    const { op } = await e.enable({
      namespaceId: ns,
      keys: [{ vaultUri: e.vaultUri('kv-rbac'), keyName: 'k-uai' }],
      identity: { type: 'UserAssigned', resourceId: uai.id },
    });
    const out = op.output as EnableOutput;
    expect(out.outcome).toBe('enabled');
    expect(out.grants).toEqual([
      expect.objectContaining({
        kind: 'roleAssignment',
        principalId: uai.principalId,
        scope: `${e.vaultId('kv-rbac')}/keys/k-uai`,
      }),
    ]);
    const writes = await e.appRequests(mark, 'attempted');
    expect(writesOf(writes)).toEqual([
      expect.stringMatching(/^PATCH .*namespaces\/sb-uai-rbac$/i),
      expect.stringMatching(
        /^PUT .*vaults\/kv-rbac\/keys\/k-uai\/providers\/Microsoft\.Authorization\/roleAssignments\/[0-9a-f-]{36}$/i,
      ),
      expect.stringMatching(/^PATCH .*namespaces\/sb-uai-rbac$/i),
    ]);
    expect(writes).toHaveLength(out.minimumWrites?.total ?? -1);
  });

  it('three keys in two vaults with infrastructure encryption: one grant per vault, one encryption PATCH', async () => {
    const ns = await e.namespace('sb-three-keys');
    const mark = await e.mark();
    const { op } = await e.enable({
      namespaceId: ns,
      keys: [
        { keyId: e.keyId('kv-ap', 'k-infra-1') },
        { keyId: e.keyId('kv-ap', 'k-infra-2') },
        { keyId: e.keyId('kv-rbac', 'k-infra-3') },
      ],
      requireInfrastructureEncryption: true,
    });
    const out = op.output as EnableOutput;
    expect(out.outcome).toBe('enabled');
    expect(out.encryption?.requireInfrastructureEncryption).toBe(true);
    expect(out.encryption?.keys).toHaveLength(3);
    expect(out.grants.map((g) => `${g.vaultName}:${g.kind}`)).toEqual([
      'kv-ap:accessPolicy',
      'kv-rbac:roleAssignment',
    ]);
    expect(out.minimumWrites).toMatchObject({ identity: 1, encryption: 1, total: 4 });
    expect(await e.appRequests(mark, 'attempted')).toHaveLength(4);
  });

  it('waits for a role assignment that takes minutes to propagate, then encrypts (no extra writes)', async () => {
    await e.estate.azure.control('PUT', '/settings', { propagationDelayMs: 150_000 });
    try {
      const uai = await e.uai('id-slow');
      await e.key('kv-rbac', 'k-slow');
      const ns = await e.namespace('sb-slow-rbac');
      const mark = await e.mark();
      const { op } = await e.enable({
        namespaceId: ns,
        keys: [{ keyId: e.keyId('kv-rbac', 'k-slow') }],
        identity: { type: 'UserAssigned', resourceId: uai.id },
      });
      const out = op.output as EnableOutput;
      expect(out.outcome).toBe('enabled');
      const calls = await e.appRequests(mark);
      // Service Bus refused the encryption exactly while the new role was not yet effective: every
      // refused PATCH is before the assignment's effective time (its creation + the delay), the one
      // accepted PATCH after it. How many retries fit in that window is the flow's choice; when
      // each one happened is not.
      const assignment = calls.filter(
        (c) => c.method === 'PUT' && /roleAssignments/i.test(c.path) && c.status < 300,
      );
      expect(assignment).toHaveLength(1);
      const effectiveAt = Date.parse(assignment[0]!.time) + 150_000;
      // The encryption PATCHes: those after the grant (the identity PATCH comes before it).
      const patches = calls.filter(
        (c) =>
          c.method === 'PATCH' && /namespaces\/sb-slow-rbac$/i.test(c.path) && c.seq > assignment[0]!.seq,
      );
      const refused = patches.filter((c) => c.status === 400);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.filter((c) => Date.parse(c.time) >= effectiveAt)).toEqual([]);
      const accepted = patches.filter((c) => c.status < 300);
      expect(accepted.map((c) => Date.parse(c.time) >= effectiveAt)).toEqual([true]);
      // … and the flow waited and tried again, writing nothing more than the minimum.
      expect(calls.filter((c) => c.method !== 'GET' && c.status < 400)).toHaveLength(
        out.minimumWrites?.total ?? -1,
      );
    } finally {
      await e.estate.azure.control('PUT', '/settings', { propagationDelayMs: 0 });
    }
  });

  it('polls provisioningState on durable timers until the namespace update has finished', async () => {
    const ns = await e.namespace('sb-slow-update');
    await e.key('kv-ap', 'k-slow-update');
    await e.estate.azure.control('PUT', '/settings', { lroDurationMs: 120_000 });
    try {
      const mark = await e.mark();
      const { op } = await e.enable({
        namespaceId: ns,
        keys: [{ keyId: e.keyId('kv-ap', 'k-slow-update') }],
      });
      const out = op.output as EnableOutput;
      expect(out.outcome).toBe('enabled');
      expect(out.steps.find((s) => s.kind === 'waitForProvisioning')).toMatchObject({
        status: 'done',
        detail: 'provisioningState Succeeded',
      });
      // The encryption PATCH answered Updating, so the namespace was read again until it was not.
      const reads = (await e.appRequests(mark)).filter(
        (r) => r.method === 'GET' && /sb-slow-update$/.test(r.path),
      );
      expect(reads.length).toBeGreaterThan(2);
      expect(await e.appRequests(mark, 'attempted')).toHaveLength(out.minimumWrites?.total ?? -1);
    } finally {
      await e.estate.azure.control('PUT', '/settings', { lroDurationMs: 0 });
    }
  });

  it('diagnose reports the encrypted namespace healthy, with no writes', async () => {
    const mark = await e.mark();
    const r = await e.post<{
      usableKeys: number;
      health: { verdict: string; ruleIds: string[]; usableKeyIds: string[] };
      cmk: { encrypted: boolean };
      findings: Array<{ ruleId: string; blocks: boolean }>;
    }>('/api/cmk/diagnose', { namespaceId: e.nsId('sb-three-keys') });
    expect(r.status).toBe(200);
    expect(r.body.cmk.encrypted).toBe(true);
    expect(r.body.usableKeys).toBe(3);
    expect(r.body.health.verdict).toBe('healthy');
    expect(r.body.health.usableKeyIds).toHaveLength(3);
    expect(r.body.findings.filter((f) => f.blocks)).toEqual([]);
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  });
});

describe('preflight and dry run', () => {
  const EXPECTED = [
    'PRE-001',
    'PRE-002',
    'PRE-005',
    'PRE-007',
    'CMK-007',
    'CMK-009',
    'CMK-003',
    'CMK-004',
    'CMK-002',
  ];
  let body: Record<string, unknown>;

  beforeAll(async () => {
    const ns = await e.namespace('sb-all-wrong', 'Standard');
    await e.queue('sb-all-wrong', 'orders');
    await e.vault('kv-nopp', { purgeProtection: false });
    await e.vault('kv-vnet', {
      networkAcls: {
        defaultAction: 'Deny',
        bypass: 'AzureServices',
        virtualNetworkRules: [
          { id: `${e.rgId()}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/s1` },
        ],
      },
    });
    await e.key('kv-ap', 'k-off', { enabled: false });
    await e.key('kv-ap', 'k-expired', { expires: '2025-06-01T00:00:00Z' });
    await e.key('kv-nopp', 'k1');
    await e.key('kv-vnet', 'k1');
    body = {
      namespaceId: ns,
      keys: [
        { keyId: e.keyId('kv-ap', 'k-off') },
        { keyId: e.keyId('kv-ap', 'k-expired') },
        { keyId: e.keyId('kv-ap', 'k-missing') },
        { keyId: e.keyId('kv-nopp', 'k1') },
        { keyId: e.keyId('kv-vnet', 'k1') },
        { keyId: 'https://kv-prod.vault.evil.example.com/keys/k1' },
      ],
    };
  });

  it("a real run with findings known from the request alone (PRE-005, PRE-007) is a 422 at once: the dry run's finding objects, nothing started, no Azure call", async () => {
    const seqOf = async () =>
      (await e.estate.azure.control<RequestLogEntry[]>('GET', '/requests')).body.reduce(
        (m, r) => Math.max(m, r.seq),
        0,
      );
    const mark = await seqOf();
    const r = await e.post<{
      status: number;
      outcome: string;
      findings: Array<{ ruleId: string }>;
    }>('/api/cmk/enable', body);
    expect(r.status).toBe(422);
    expect(r.body.status).toBe(422);
    expect(r.body.outcome).toBe('blocked');
    expect(r.body.findings.map((f) => f.ruleId)).toEqual(['PRE-005', 'PRE-007']);
    // Zero requests from anyone reached the sandbox, and no operation exists for the namespace.
    expect(
      (await e.estate.azure.control<RequestLogEntry[]>('GET', `/requests?since=${mark}`)).body.filter(
        (x) => !x.path.startsWith('/_sandbox/'),
      ),
    ).toEqual([]);
    const instanceId = `enableCmk-${createHash('sha256').update(String(body.namespaceId).toLowerCase()).digest('hex').slice(0, 32)}`;
    const op = await e.estate.app.json(`/api/operations/${instanceId}`, {
      headers: { 'x-functions-key': e.estate.app.keys.function },
    });
    expect(op.status).toBe(404);

    // The same finding objects (ids, messages, fixes, subjects) as the dry run reports for them.
    const dry = await e.post<{ findings: Array<{ ruleId: string }> }>('/api/cmk/enable', {
      ...body,
      dryRun: true,
    });
    expect(r.body.findings).toEqual(
      dry.body.findings.filter((f) => ['PRE-005', 'PRE-006', 'PRE-007'].includes(f.ruleId)),
    );

    // That id is the one the app uses for this namespace: a request it can start gets exactly it.
    const keys = (body.keys as unknown[]).slice(0, 3);
    const started = await e.enable({ ...body, keys });
    expect(started.start.body.id).toBe(instanceId);
    expect(started.op.output?.outcome).toBe('blocked');
  });

  it('a real run that needs the reads reports every preflight failure at once, with rule ids and fixes, and writes nothing', async () => {
    const mark = await e.mark();
    // Three keys on Azure's side problems (the request-only ones are the 422 above).
    const keys = [
      { keyId: e.keyId('kv-ap', 'k-off') },
      { keyId: e.keyId('kv-nopp', 'k1') },
      { keyId: e.keyId('kv-vnet', 'k1') },
    ];
    const { op } = await e.enable({ ...body, keys });
    const out = op.output as EnableOutput;
    expect(out.outcome).toBe('blocked');
    expect(op.customStatus?.state).toBe('blocked');
    expect(new Set(out.findings.filter((f) => f.blocks).map((f) => f.ruleId))).toEqual(
      new Set(['PRE-001', 'PRE-002', 'CMK-007', 'CMK-009', 'CMK-003']),
    );
    // Warnings ride along (keys without a rotation policy).
    expect(out.findings.filter((f) => !f.blocks).map((f) => f.ruleId)).toContain('CMK-014');
    const purge = out.findings.find((f) => f.ruleId === 'CMK-007');
    expect(purge?.message).toBe('Key vault kv-nopp has purge protection off.');
    expect(purge?.fix).toContain('az keyvault update --name kv-nopp --enable-purge-protection true');
    expect(out.findings.every((f) => f.fix.length > 0)).toBe(true);
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  });

  it('the dry run never calls the foreign host it was given', async () => {
    const mark = await e.mark();
    await e.post('/api/cmk/enable', { ...body, dryRun: true });
    expect((await e.appRequests(mark)).some((r) => /evil/.test(r.host))).toBe(false);
  });

  it('dry run answers 200 with the same findings and no plan steps, and writes nothing', async () => {
    const mark = await e.mark();
    const r = await e.post<{
      dryRun: boolean;
      outcome: string;
      findings: Array<{ ruleId: string; blocks: boolean }>;
      steps: unknown[];
    }>('/api/cmk/enable', { ...body, dryRun: true });
    expect(r.status).toBe(200);
    expect(r.body.outcome).toBe('blocked');
    expect(new Set(r.body.findings.filter((f) => f.blocks).map((f) => f.ruleId))).toEqual(new Set(EXPECTED));
    expect(r.body.steps).toEqual([]);
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  });

  it('a Geo-DR paired namespace is refused with a pointer to the Geo-DR operation', async () => {
    await e.namespace('sb-geo-primary');
    await e.namespace('sb-geo-secondary');
    await e.pair('sb-geo-primary', 'sb-geo-secondary', 'sb-geo-alias');
    const mark = await e.mark();
    const { op } = await e.enable({
      namespaceId: e.nsId('sb-geo-primary'),
      keys: [{ keyId: e.keyId('kv-ap', 'k-dry') }],
    });
    const geo = op.output?.findings.find((f) => f.ruleId === 'PRE-003');
    expect(op.output?.outcome).toBe('blocked');
    expect(geo?.fix).toContain('/api/cmk/geo-dr');
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  });

  it('dry run of a valid request returns the plan with its minimum writes, and writes nothing', async () => {
    const ns = await e.namespace('sb-dry');
    const mark = await e.mark();
    const r = await e.post<{
      outcome: string;
      steps: Array<{ kind: string }>;
      minimumWrites: { total: number };
    }>('/api/cmk/enable', { namespaceId: ns, keys: [{ keyId: e.keyId('kv-ap', 'k-dry') }], dryRun: true });
    expect(r.status).toBe(200);
    expect(r.body.outcome).toBe('apply');
    expect(r.body.steps.map((s) => s.kind)).toEqual([
      'ensureIdentity',
      'grantKeyAccess',
      'waitForAccessPropagation',
      'setEncryption',
      'waitForProvisioning',
      'verifyEncryption',
    ]);
    expect(r.body.minimumWrites.total).toBe(3);
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
    expect((await e.getNamespace('sb-dry')).identity).toBeUndefined();
  });
});

describe('bad input never crashes and never writes', () => {
  it('malformed JSON, oversized bodies, wrong fields and ids get 4xx problem+json', async () => {
    const mark = await e.mark();
    const malformed = await e.post<{ title: string }>('/api/cmk/enable', '{"namespaceId": ', true);
    expect(malformed.status).toBe(400);
    expect(malformed.body.title).toBe('Malformed JSON');

    const huge = await e.post<{ status: number }>('/api/cmk/enable', {
      namespaceId: 'x'.repeat(70_000),
      keys: [],
    });
    expect(huge.status).toBe(413);

    const wrong = await e.post<{ errors: Array<{ field: string }> }>('/api/cmk/enable', {
      namespaceId:
        '/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/ns1',
      keys: [{ keyId: 'not a url' }],
      identity: { type: 'Whatever' },
      extra: true,
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors.map((p) => p.field)).toEqual(expect.arrayContaining(['extra']));

    const diag = await e.post<{ errors: Array<{ field: string }> }>('/api/cmk/diagnose', {
      namespaceId: 'nope',
    });
    expect(diag.status).toBe(400);
    expect(diag.body.errors[0]?.field).toBe('namespaceId');

    const missing = await e.post<{ title: string }>('/api/cmk/diagnose', {
      namespaceId: e.nsId('sb-does-not-exist'),
    });
    expect(missing.status).toBe(404);
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  });
});

describe('diagnose after the key access is revoked', () => {
  it('reports the namespace inoperable (CMK-010) and the missing access (CMK-008) with the grant command', async () => {
    const principal = (await e.getNamespace('sb-sys-ap')).identity?.principalId as string;
    await e.arm('PUT', `${e.vaultId('kv-ap')}/accessPolicies/remove?api-version=2023-07-01`, {
      properties: {
        accessPolicies: [
          {
            tenantId: e.estate.azure.tenantId,
            objectId: principal,
            permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] },
          },
        ],
      },
    });
    // Service Bus notices at its next key poll (every 5 minutes).
    await e.estate.azure.control('POST', '/clock/advance', { duration: 'PT6M' });
    const mark = await e.mark();
    const r = await e.post<{
      usableKeys: number;
      health: { verdict: string; ruleIds: string[]; usableKeyIds: string[] };
      findings: Array<{ ruleId: string; severity: string; command?: string }>;
    }>('/api/cmk/diagnose', { namespaceId: e.nsId('sb-sys-ap') });
    expect(r.status).toBe(200);
    expect(r.body.usableKeys).toBe(0);
    expect(r.body.health).toEqual({ verdict: 'inoperable', ruleIds: ['CMK-010'], usableKeyIds: [] });
    expect(r.body.findings.find((f) => f.ruleId === 'CMK-010')?.severity).toBe('critical');
    expect(r.body.findings.find((f) => f.ruleId === 'CMK-008')?.command).toBe(
      `az keyvault set-policy --name kv-ap --object-id ${principal} --key-permissions get wrapKey unwrapKey`,
    );
    expect(await e.appRequests(mark, 'attempted')).toEqual([]);
  });
});
