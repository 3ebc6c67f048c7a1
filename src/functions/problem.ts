import type { HttpResponseInit } from '@azure/functions';

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
