/**
 * The local Functions host answers bad requests like a host: malformed percent-encoding is a 400
 * (problem+json under /api), rewind/restart of an unknown instance is 404 as for terminate, long route
 * parameters reach the function, and the URLs the host hands out come from its own base URL — never
 * from an absolute-form request target or a Host header. Raw HTTP (fetch would normalise the targets).
 */
import http from 'node:http';
import { TEST_KEYS, startHostProcess, type HostProcess } from '../support/hostProcess';

let host: HostProcess;
let port: number;
/** The host's configured base URL (what it prints as ready; the helper's `url` uses 127.0.0.1). */
let base: string;

beforeAll(async () => {
  host = await startHostProcess({ env: { FIXTURE_SCHEDULE: '0 */5 * * * *' } });
  port = Number(new URL(host.url).port);
  base = `http://localhost:${port}`;
});
afterAll(async () => {
  await host?.stop();
});

interface Raw {
  status: number;
  contentType: string;
  text: string;
  json: Record<string, unknown> | undefined;
  headers: http.IncomingHttpHeaders;
}

/** Sends `target` exactly as given on the request line. */
function raw(
  method: string,
  target: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: target, headers: options.headers ?? {} },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => {
          let json: Record<string, unknown> | undefined;
          try {
            json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
          } catch {
            json = undefined;
          }
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            text,
            json,
            headers: res.headers,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const hookCode = `code=${TEST_KEYS.durableTaskExtension}`;
const malformed = ['%E0%A4%A', '%ZZ'];

describe('malformed percent-encoding is a 400, never a 500', () => {
  it.each(malformed)('Durable webhook API: /runtime/webhooks/durabletask/instances/%s', async (bad) => {
    const res = await raw('GET', `/runtime/webhooks/durabletask/instances/${bad}?${hookCode}`);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ Message: 'The request path contains malformed percent-encoding.' });
  });

  it.each(malformed)('Durable rpc API: /durabletask/instances/%s', async (bad) => {
    const res = await raw('GET', `/durabletask/instances/${bad}`);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ Message: 'The request path contains malformed percent-encoding.' });
  });

  it.each(malformed)('Durable API operation: /runtime/webhooks/durabletask/instances/x/%s', async (bad) => {
    const res = await raw('POST', `/runtime/webhooks/durabletask/instances/x/raiseEvent/${bad}?${hookCode}`);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ Message: 'The request path contains malformed percent-encoding.' });
  });

  it.each(malformed)('admin API: POST /admin/functions/%s', async (bad) => {
    const res = await raw('POST', `/admin/functions/${bad}`, {
      headers: { 'x-functions-key': TEST_KEYS.master },
    });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'The request path contains malformed percent-encoding.' });
  });

  it.each(malformed)('HTTP trigger: /api/fixture/instances/%s answers problem+json', async (bad) => {
    const res = await raw('GET', `/api/fixture/instances/${bad}`);
    expect(res.status).toBe(400);
    expect(res.contentType).toBe('application/problem+json');
    expect(res.json).toEqual({
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      detail: 'The request path contains malformed percent-encoding.',
    });
  });
});

describe('Durable API of an unknown instance', () => {
  it.each(['rewind', 'restart', 'terminate'])('%s → 404', async (verb) => {
    const res = await raw(
      'POST',
      `/runtime/webhooks/durabletask/instances/no-such-instance/${verb}?${hookCode}`,
    );
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ Message: "No instance with ID 'no-such-instance' found." });
  });
});

describe('URLs the host builds', () => {
  const start = (target: string, headers: Record<string, string> = {}) =>
    raw('POST', target, { headers: { 'content-type': 'application/json', ...headers }, body: '"Tokyo"' });

  it('a 256-character route parameter reaches the function', async () => {
    const id = 'i'.repeat(256);
    const res = await start(`/api/fixture/orchestrators/hello/${id}`);
    expect(res.status).toBe(202);
    expect(res.json?.id).toBe(id);
  });

  it('an absolute-form target contributes its path only: Location and statusQueryGetUri name the host', async () => {
    const res = await start(`http://evil.example.com/api/fixture/orchestrators/hello/abs-form-1`);
    expect(res.status).toBe(202);
    const expected = `${base}/runtime/webhooks/durabletask/instances/abs-form-1?taskHub=`;
    expect(String(res.json?.statusQueryGetUri).startsWith(expected)).toBe(true);
    expect(String(res.headers.location).startsWith(expected)).toBe(true);
    expect(res.text).not.toContain('evil.example.com');
  });

  it('a foreign Host header is not echoed either', async () => {
    const res = await start('/api/fixture/orchestrators/hello/host-header-1', { host: 'evil.example.com' });
    expect(res.status).toBe(202);
    expect(String(res.json?.statusQueryGetUri).startsWith(`${base}/runtime/webhooks/`)).toBe(true);
    expect(res.text).not.toContain('evil.example.com');
  });
});
