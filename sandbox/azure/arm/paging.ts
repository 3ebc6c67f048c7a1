import type { RequestContext } from '../context';

/**
 * ARM list paging: `{ value: [...], nextLink }` where nextLink is the same URL plus `$skiptoken`.
 * The page size is the sandbox's (options.pageSize), so tests can force several pages and prove the
 * client follows nextLink.
 */
export function page<T>(
  ctx: RequestContext,
  items: readonly T[],
  pageSize = ctx.sandbox.options.pageSize,
): {
  value: T[];
  nextLink?: string;
} {
  const token = ctx.query.get('$skiptoken') ?? ctx.query.get('$skipToken');
  const start = token
    ? Math.max(0, Number.parseInt(Buffer.from(token, 'base64url').toString('utf8'), 10) || 0)
    : 0;
  const size = Math.max(1, pageSize);
  const value = items.slice(start, start + size);
  if (start + size >= items.length) return { value };
  const next = new URL(ctx.url.toString());
  next.searchParams.delete('$skipToken');
  next.searchParams.set('$skiptoken', Buffer.from(String(start + size), 'utf8').toString('base64url'));
  return { value, nextLink: next.toString() };
}
