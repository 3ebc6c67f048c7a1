import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { classifyError } from '../azure/errors';

/** RFC 7807 problem details — the one error shape every HTTP function returns. */
export interface Problem {
  status: number;
  title: string;
  detail?: string;
  type?: string;
  instance?: string;
  [extension: string]: unknown;
}

export function problem(p: Problem): HttpResponseInit {
  return {
    status: p.status,
    headers: { 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type: 'about:blank', ...p }),
  };
}

/**
 * A thrown error as the HTTP answer its class calls for (src/azure/errors.ts): a platform fault is
 * 503 (retry later), a refusal keeps Azure's meaning (403 for the app's missing rights, 404, else 502 —
 * Azure, not the caller, refused), a bug is 500 and is logged with its stack.
 */
export function errorProblem(
  error: unknown,
  context: InvocationContext,
  titles: { refusal?: string; platform?: string } = {},
): HttpResponseInit {
  const c = classifyError(error);
  const extras = { code: c.code, errorClass: c.class, ...(c.fix ? { fix: c.fix } : {}) };
  switch (c.class) {
    case 'platform':
      context.warn(`Azure call failed (platform fault): ${c.detail}`);
      return {
        ...problem({
          status: 503,
          title: titles.platform ?? 'Azure is busy or unavailable; retry later',
          detail: c.detail,
          ...extras,
        }),
        headers: { 'content-type': 'application/problem+json', 'retry-after': '30' },
      };
    case 'refusal': {
      context.warn(`Azure refused the call: ${c.detail}`);
      const status = c.status === 401 || c.status === 403 ? 403 : c.status === 404 ? 404 : 502;
      return problem({
        status,
        title: titles.refusal ?? 'Azure refused the call',
        detail: c.detail,
        ...extras,
      });
    }
    default:
      context.error(`BUG: ${c.detail}\n${c.stack ?? '(no stack)'}`);
      return problem({
        status: 500,
        title: 'Internal error',
        detail: `${c.detail} — an internal error of the app; report it with the time of the request.`,
        ...extras,
      });
  }
}
