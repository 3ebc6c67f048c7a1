/**
 * The local Functions host, driven only over HTTP like a user would, against the fixture app
 * (plain @azure/functions + durable-functions code). Time is the host's virtual clock.
 */
import { TEST_KEYS, eventually, startHostProcess, type HostProcess } from '../support/hostProcess';

interface CheckStatus {
  id: string;
  statusQueryGetUri: string;
  sendEventPostUri: string;
  terminatePostUri: string;
}

interface Status {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  historyEvents?: Array<Record<string, unknown>>;
}

let host: HostProcess;

beforeAll(async () => {
  host = await startHostProcess({ env: { FIXTURE_SCHEDULE: '0 */5 * * * *' } });
});

afterAll(async () => {
  await host?.stop();
});

const json = { 'content-type': 'application/json' };

async function start(name: string, input: unknown, instanceId?: string): Promise<CheckStatus> {
  const response = await host.json<CheckStatus>(
    `/api/fixture/orchestrators/${name}${instanceId ? `/${instanceId}` : ''}`,
    {
      method: 'POST',
      headers: json,
      body: JSON.stringify(input),
    },
  );
  expect(response.status).toBe(202);
  return response.body;
}

async function status(id: string): Promise<Status> {
  const response = await host.json<Status>(`/api/fixture/instances/${id}`);
  expect(response.status).toBe(200);
  return response.body;
}

async function settled(id: string): Promise<Status> {
  return eventually(async () => {
    const s = await status(id);
    return ['Completed', 'Failed', 'Terminated'].includes(s.runtimeStatus) ? s : undefined;
  }, `instance ${id} to finish`);
}

/** The public status endpoint with the extension's history view. */
async function history(id: string): Promise<Array<Record<string, unknown>>> {
  const response = await host.json<Status>(
    `/runtime/webhooks/durabletask/instances/${id}?showHistory=true&showHistoryOutput=true&code=${TEST_KEYS.durableTaskExtension}`,
  );
  expect(response.status).toBe(200);
  return response.body.historyEvents ?? [];
}

describe('orchestrations', () => {
  it('runs an orchestration with an activity and reports it through the check-status links', async () => {
    const links = await start('hello', 'Tokyo');
    expect(links.statusQueryGetUri).toContain(`/runtime/webhooks/durabletask/instances/${links.id}`);
    expect(links.statusQueryGetUri).toContain(`code=${TEST_KEYS.durableTaskExtension}`);
    const done = await settled(links.id);
    expect(done).toMatchObject({
      name: 'hello',
      runtimeStatus: 'Completed',
      input: 'Tokyo',
      output: 'Hello Tokyo!',
      customStatus: { step: 'done' },
    });

    // The link the client handed out works as a plain URL, as in Azure.
    const viaLink = await host.json<Status>(links.statusQueryGetUri);
    expect(viaLink.status).toBe(200);
    expect(viaLink.body.output).toBe('Hello Tokyo!');
  });

  it("the product's GET /api/operations/{id} reports a running and a finished orchestration", async () => {
    const links = await start('approval', null);
    const key = { headers: { 'x-functions-key': TEST_KEYS.function } };
    const running = await eventually(async () => {
      const r = await host.json<Record<string, unknown>>(`/api/operations/${links.id}`, key);
      return r.body?.customStatus === 'waiting' ? r : undefined;
    }, 'the operation to wait');
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({
      id: links.id,
      name: 'approval',
      runtimeStatus: 'Running',
      done: false,
      output: null,
    });
    await host.fetch(`/api/fixture/instances/${links.id}/events/approve`, {
      method: 'POST',
      headers: json,
      body: '"bob"',
    });
    await settled(links.id);
    const finished = await host.json<Record<string, unknown>>(`/api/operations/${links.id}`, key);
    expect(finished.body).toMatchObject({
      runtimeStatus: 'Completed',
      done: true,
      output: { outcome: 'approved', by: 'bob' },
    });
  });

  it('waits for completion through waitForCompletionOrCreateCheckStatusResponse', async () => {
    const response = await host.json<string>('/api/fixture/run/hello', {
      method: 'POST',
      headers: json,
      body: '"Oslo"',
    });
    expect(response.status).toBe(200);
    expect(response.body).toBe('Hello Oslo!');
  });

  it('retries a failing activity host-side with backoff timers recorded in history', async () => {
    const links = await start('retrying', { key: 'r1', failTimes: 2, attempts: 3 });
    await eventually(
      async () => ((await host.clock()).pending.some((p) => p.label.includes(links.id)) ? true : undefined),
      'first retry timer',
    );
    // Two retry timers (1 s, then 2 s with backoff coefficient 2): move the clock to each in turn.
    const done = await eventually(async () => {
      const s = await status(links.id);
      if (s.runtimeStatus === 'Completed') return s;
      await host.advanceToNextDue();
      return undefined;
    }, 'the retried activity to succeed');
    expect(done.output).toEqual({ key: 'r1', attempts: 3 });

    const events = await history(links.id);
    const failed = events.filter((e) => e.EventType === 'TaskFailed');
    const created = events.filter((e) => e.EventType === 'TimerCreated');
    const fired = events.filter((e) => e.EventType === 'TimerFired');
    expect(failed).toHaveLength(2);
    expect(String(failed[0]!.Reason)).toContain("Activity function 'flaky' failed: flaky failure 1 for r1");
    expect(created).toHaveLength(2);
    expect(fired).toHaveLength(2);
    const delays = created.map((c) => Date.parse(String(c.FireAt)) - Date.parse(String(c.Timestamp)));
    expect(delays).toEqual([1000, 2000]);
    expect(events.filter((e) => e.EventType === 'TaskCompleted')).toHaveLength(1);
  });

  it('fails the orchestration when retries are exhausted', async () => {
    const links = await start('retrying', { key: 'r2', failTimes: 5, attempts: 2 });
    const done = await eventually(async () => {
      const s = await status(links.id);
      if (s.runtimeStatus === 'Failed') return s;
      await host.advanceToNextDue();
      return undefined;
    }, 'the retries to be exhausted');
    expect(String(done.output)).toContain("Orchestrator function 'retrying' failed");
    expect(String(done.output)).toContain('flaky failure 2 for r2');
  });

  it('fans out 20 activities with Task.all', async () => {
    const links = await start('fanOut', 20);
    const done = await settled(links.id);
    expect(done.output).toBe(190);
    const events = await history(links.id);
    expect(events.filter((e) => e.EventType === 'TaskCompleted')).toHaveLength(20);
  });

  it('Task.any: the external event wins over the timer', async () => {
    const links = await start('approval', null);
    await eventually(
      async () => ((await status(links.id)).customStatus === 'waiting' ? true : undefined),
      'the orchestration to wait',
    );
    const raised = await host.fetch(`/api/fixture/instances/${links.id}/events/approve`, {
      method: 'POST',
      headers: json,
      body: '{"by":"alice"}',
    });
    expect(raised.status).toBe(202);
    const done = await settled(links.id);
    expect(done.output).toEqual({ outcome: 'approved', by: { by: 'alice' } });
    // The losing timer was cancelled: nothing of this instance is left on the clock.
    expect((await host.clock()).pending.filter((p) => p.label.includes(links.id))).toHaveLength(0);
  });

  it('Task.any: the timer wins when nobody answers', async () => {
    const links = await start('approval', null);
    await eventually(
      async () => ((await status(links.id)).customStatus === 'waiting' ? true : undefined),
      'the orchestration to wait',
    );
    const before = Date.parse((await host.clock()).now);
    await host.advanceClock(60 * 60 * 1000);
    const done = await settled(links.id);
    expect(done.output).toMatchObject({ outcome: 'timedOut' });
    expect(Date.parse((done.output as { at: string }).at)).toBe(before + 60 * 60 * 1000);
  });

  it('runs sub-orchestrations (plain and with retry)', async () => {
    const links = await start('parent', 'Lima');
    const done = await settled(links.id);
    expect(done.output).toEqual({ child: 'Hello Lima!', retried: { key: `${links.id}-sub`, attempts: 1 } });
    const child = await status(`${links.id}-child`);
    expect(child).toMatchObject({ name: 'hello', runtimeStatus: 'Completed', output: 'Hello Lima!' });
  });

  it('continues as new until done', async () => {
    const links = await start('counter', 0);
    const done = await settled(links.id);
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.output).toBe(3);
    expect(done.input).toBe(3);
  });

  it('terminates a running orchestration', async () => {
    const links = await start('sleeper', null);
    await eventually(
      async () => ((await status(links.id)).runtimeStatus === 'Running' ? true : undefined),
      'running',
    );
    const response = await host.fetch(
      `/api/fixture/instances/${links.id}/terminate?reason=operator%20said%20stop`,
      { method: 'POST' },
    );
    expect(response.status).toBe(202);
    const done = await settled(links.id);
    expect(done.runtimeStatus).toBe('Terminated');
    expect(done.output).toBe('operator said stop');
    // An event to a terminated instance is accepted and dropped (410 from the API; the client resolves).
    const late = await host.fetch(`/api/fixture/instances/${links.id}/events/approve`, {
      method: 'POST',
      headers: json,
      body: '{}',
    });
    expect(late.status).toBe(202);
  });

  it('a durable timer fires when the clock reaches it and currentUtcDateTime follows the clock', async () => {
    const links = await start('sleeper', null);
    await eventually(
      async () => ((await host.clock()).pending.some((p) => p.label.includes(links.id)) ? true : undefined),
      'the timer',
    );
    const before = Date.parse((await host.clock()).now);
    await host.advanceClock(24 * 60 * 60 * 1000);
    const done = await settled(links.id);
    expect(Date.parse(String(done.output))).toBe(before + 24 * 60 * 60 * 1000);
  });

  it('a failing orchestration reports its failure details through getStatus', async () => {
    const links = await start('failing', null);
    const done = await settled(links.id);
    expect(done.runtimeStatus).toBe('Failed');
    expect(String(done.output)).toContain("Orchestrator function 'failing' failed");
    expect(String(done.output)).toContain("Activity function 'boom' failed: the key vault said no");
  });

  it('detects a non-deterministic orchestrator on replay', async () => {
    const links = await start('nonDeterministic', null);
    const done = await settled(links.id);
    expect(done.runtimeStatus).toBe('Failed');
    expect(String(done.output)).toContain('Non-Deterministic workflow detected');
    expect(String(done.output)).toContain('CallActivity(echo)');
  });
});

describe('event ids', () => {
  /** Ids the host wrote in history: scheduled tasks (from their completions) and created timers. */
  async function hostIds(id: string): Promise<Map<number, string>> {
    const ids = new Map<number, string>();
    for (const e of await history(id)) {
      if (e.EventType === 'TimerCreated') ids.set(Number(e.EventId), 'timer');
      if (['TaskCompleted', 'TaskFailed'].includes(String(e.EventType)))
        ids.set(Number(e.TaskScheduledId), 'activity');
      if (String(e.EventType).startsWith('SubOrchestrationInstance'))
        ids.set(Number(e.TaskScheduledId), 'subOrchestration');
    }
    return ids;
  }

  it.each([
    ['retrying', { key: 'ids-1', failTimes: 2, attempts: 3 }],
    ['parent', 'Ids'],
    ['fanOut', 5],
  ])('the host hands out the same event ids as the durable-functions executor (%s)', async (name, input) => {
    const links = await start(name, input);
    await eventually(async () => {
      const s = await status(links.id);
      if (s.runtimeStatus === 'Completed') return s;
      await host.advanceToNextDue();
      return undefined;
    }, `${name} to complete`);
    const js = (await host.json<Record<string, string>>(`/api/fixture/task-ids/${links.id}`)).body;
    const ours = await hostIds(links.id);
    expect([...ours.keys()].sort((a, b) => a - b)).toEqual(
      Object.keys(js)
        .map(Number)
        .sort((a, b) => a - b),
    );
    for (const [id, kind] of ours) {
      // Retry placeholders (timers and later attempts) are plain tasks on the JS side.
      expect([kind, 'retry']).toContain(js[String(id)]);
    }
  });
});

describe('bad input', () => {
  it('malformed JSON to an HTTP trigger gets a 400 problem, and the host keeps serving', async () => {
    const response = await host.fetch('/api/fixture/echo', {
      method: 'POST',
      headers: json,
      body: '{"oops":',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const ok = await host.json('/api/fixture/echo', { method: 'POST', headers: json, body: '{"fine":true}' });
    expect(ok).toMatchObject({ status: 200, body: { received: { fine: true } } });
  });

  it('starting an unknown orchestration is a 400, through the app and through the Durable API', async () => {
    const viaApp = await host.json<{ detail: string }>('/api/fixture/orchestrators/doesNotExist', {
      method: 'POST',
      headers: json,
      body: '{}',
    });
    expect(viaApp.status).toBe(400);
    expect(viaApp.body.detail).toContain('doesNotExist');
    const viaApi = await host.fetch(
      `/runtime/webhooks/durabletask/orchestrators/doesNotExist?code=${TEST_KEYS.durableTaskExtension}`,
      {
        method: 'POST',
        headers: json,
        body: '{}',
      },
    );
    expect(viaApi.status).toBe(400);
  });

  it('an unknown instance id is a 404', async () => {
    expect((await host.fetch('/api/fixture/instances/no-such-instance')).status).toBe(404);
    expect(
      (
        await host.fetch(
          `/runtime/webhooks/durabletask/instances/no-such-instance?code=${TEST_KEYS.durableTaskExtension}`,
        )
      ).status,
    ).toBe(404);
    expect(
      (
        await host.fetch('/api/fixture/instances/no-such-instance/events/x', {
          method: 'POST',
          headers: json,
          body: '{}',
        })
      ).status,
    ).toBe(404);
  });

  it('an unknown route is a 404 and a wrong method a 405', async () => {
    expect((await host.fetch('/api/nothing-here')).status).toBe(404);
    expect((await host.fetch('/api/fixture/echo', { method: 'GET' })).status).toBe(405);
  });
});

describe('function keys', () => {
  it('refuses a function-level route without a key or with a wrong one', async () => {
    expect((await host.fetch('/api/fixture/secure/7')).status).toBe(401);
    expect((await host.fetch('/api/fixture/secure/7?code=wrong')).status).toBe(401);
    expect(
      (await host.fetch('/api/fixture/secure/7', { headers: { 'x-functions-key': 'wrong' } })).status,
    ).toBe(401);
  });

  it('accepts the function key (header) and the master key (code)', async () => {
    const viaHeader = await host.json('/api/fixture/secure/7', {
      headers: { 'x-functions-key': TEST_KEYS.function },
    });
    expect(viaHeader).toMatchObject({ status: 200, body: { id: 7 } });
    const viaCode = await host.json(`/api/fixture/secure/8?code=${TEST_KEYS.master}`);
    expect(viaCode).toMatchObject({ status: 200, body: { id: 8 } });
  });

  it('applies route constraints ({id:int})', async () => {
    expect(
      (await host.fetch('/api/fixture/secure/abc', { headers: { 'x-functions-key': TEST_KEYS.function } }))
        .status,
    ).toBe(404);
  });

  it('protects the Durable webhook and the admin API with system / master keys', async () => {
    expect((await host.fetch('/runtime/webhooks/durabletask/instances/x')).status).toBe(401);
    expect(
      (await host.fetch('/admin/host/status', { headers: { 'x-functions-key': TEST_KEYS.function } })).status,
    ).toBe(401);
    expect(
      (await host.fetch('/admin/host/status', { headers: { 'x-functions-key': TEST_KEYS.master } })).status,
    ).toBe(200);
  });
});

describe('Event Grid trigger', () => {
  const webhook = `/runtime/webhooks/eventgrid?functionName=fixtureEvents&code=${TEST_KEYS.eventGridExtension}`;
  const event = (id: string, subject = '/keys/k1') => ({
    id,
    topic: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
    subject,
    eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
    eventTime: '2026-01-01T00:00:00Z',
    data: { Id: 'https://kv.vault.azure.net/keys/k1/abc' },
    dataVersion: '1',
    metadataVersion: '1',
  });

  it('answers the Event Grid schema validation handshake', async () => {
    const response = await host.json(webhook, {
      method: 'POST',
      headers: { ...json, 'aeg-event-type': 'SubscriptionValidation' },
      body: JSON.stringify([
        {
          id: 'v1',
          topic: '/subscriptions/s',
          subject: '',
          eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
          eventTime: '2026-01-01T00:00:00Z',
          data: { validationCode: 'ABC-123', validationUrl: 'https://example.invalid/validate' },
          dataVersion: '2',
          metadataVersion: '1',
        },
      ]),
    });
    expect(response).toMatchObject({ status: 200, body: { validationResponse: 'ABC-123' } });
  });

  it('answers the CloudEvents OPTIONS handshake', async () => {
    const response = await host.fetch(webhook, {
      method: 'OPTIONS',
      headers: { 'WebHook-Request-Origin': 'eventgrid.azure.net' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('webhook-allowed-origin')).toBe('eventgrid.azure.net');
  });

  it('invokes the function once per event of a batch, in both schemas', async () => {
    const response = await host.fetch(webhook, {
      method: 'POST',
      headers: { ...json, 'aeg-event-type': 'Notification' },
      body: JSON.stringify([event('e1'), event('e2')]),
    });
    expect(response.status).toBe(202);
    const cloudEvent = await host.fetch(webhook, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents+json; charset=utf-8',
        'aeg-event-type': 'Notification',
      },
      body: JSON.stringify({
        specversion: '1.0',
        id: 'c1',
        type: 'Microsoft.KeyVault.KeyNearExpiry',
        source: '/subscriptions/s/vaults/kv',
        subject: 'k1',
        data: {},
      }),
    });
    expect(cloudEvent.status).toBe(202);
    const seen = await host.json<{ events: Array<{ id: string }> }>('/api/fixture/observations');
    expect(seen.body.events.map((e) => e.id)).toEqual(expect.arrayContaining(['e1', 'e2', 'c1']));
  });

  it('fails the delivery with 500 when an invocation fails, so Event Grid retries', async () => {
    const response = await host.fetch(webhook, {
      method: 'POST',
      headers: { ...json, 'aeg-event-type': 'Notification' },
      body: JSON.stringify([event('ok-1'), event('bad-1', '/keys/fail')]),
    });
    expect(response.status).toBe(500);
  });

  it('refuses bad deliveries with a clear 4xx', async () => {
    expect(
      (
        await host.fetch(`/runtime/webhooks/eventgrid?functionName=fixtureEvents`, {
          method: 'POST',
          headers: json,
          body: '[]',
        })
      ).status,
    ).toBe(401);
    const unknown = await host.fetch(
      `/runtime/webhooks/eventgrid?functionName=nope&code=${TEST_KEYS.eventGridExtension}`,
      {
        method: 'POST',
        headers: { ...json, 'aeg-event-type': 'Notification' },
        body: JSON.stringify([event('x')]),
      },
    );
    expect(unknown.status).toBe(404);
    const malformed = await host.fetch(webhook, {
      method: 'POST',
      headers: { ...json, 'aeg-event-type': 'Notification' },
      body: '[{',
    });
    expect(malformed.status).toBe(400);
    const notAnEvent = await host.fetch(webhook, {
      method: 'POST',
      headers: { ...json, 'aeg-event-type': 'Notification' },
      body: '[{"hello":1}]',
    });
    expect(notAnEvent.status).toBe(400);
  });
});

describe('timer trigger', () => {
  it('fires on its NCRONTAB schedule (resolved from %FIXTURE_SCHEDULE%) when the clock gets there', async () => {
    const before = await host.json<{ ticks: unknown[] }>('/api/fixture/observations');
    const now = Date.parse((await host.clock()).now);
    const nextFive = Math.ceil((now + 1) / 300_000) * 300_000;
    await host.advanceClock(nextFive - now);
    const after = await host.json<{ ticks: Array<{ isPastDue: boolean }> }>('/api/fixture/observations');
    expect(after.body.ticks.length).toBe(before.body.ticks.length + 1);
    expect(after.body.ticks.at(-1)!.isPastDue).toBe(false);
    await host.advanceClock(300_000);
    const again = await host.json<{ ticks: unknown[] }>('/api/fixture/observations');
    expect(again.body.ticks.length).toBe(before.body.ticks.length + 2);
  });
});

describe('AzureWebJobs.<name>.Disabled', () => {
  it('a disabled timer never fires and a disabled HTTP route answers 404; the others keep working', async () => {
    const off = await startHostProcess({
      env: {
        FIXTURE_SCHEDULE: '0 */5 * * * *',
        'AzureWebJobs.fixtureTimer.Disabled': 'true',
        AzureWebJobs__echoJson__Disabled: '1',
      },
    });
    try {
      const now = Date.parse((await off.clock()).now);
      await off.advanceClock(Math.ceil((now + 1) / 300_000) * 300_000 - now + 600_000);
      const seen = await off.json<{ ticks: unknown[] }>('/api/fixture/observations');
      expect(seen.status).toBe(200);
      expect(seen.body.ticks).toEqual([]);
      const echo = await off.fetch('/api/fixture/echo', { method: 'POST', headers: json, body: '{}' });
      expect(echo.status).toBe(404);
    } finally {
      await off.stop();
    }
  });
});

describe('logging', () => {
  it('logs each invocation with function, id, outcome and duration as the Functions host does', async () => {
    await host.fetch('/api/fixture/echo', { method: 'POST', headers: json, body: '{}' });
    const executed = await eventually(
      async () =>
        host.logs.find((l) =>
          /Executed 'Functions\.echoJson' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)/.test(l),
        ),
      'log line',
    );
    expect(executed).toMatch(
      /Executed 'Functions\.echoJson' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)/,
    );
    expect(
      host.logs.some((l) => /Executing 'Functions\.echoJson' \(Reason='.*', Id=[0-9a-f-]{36}\)/.test(l)),
    ).toBe(true);
  });
});
