/**
 * The request target as the host serves it. Two rules, as behind Azure's front end:
 *
 * - The URL a function sees (and every URL the host builds — `Location`, `statusQueryGetUri`) is the
 *   host's own configured base URL plus the path and query. An absolute-form target
 *   (`POST http://evil.example.com/api/…`, what a client sends to a proxy) contributes only its path and
 *   query; its scheme and authority are never echoed.
 * - A path with malformed percent-encoding (`%ZZ`, a truncated `%E0%A4%A`) is a bad request (400), not a
 *   crash: nothing downstream may call decodeURIComponent on it and throw.
 */
export type RequestTarget = { ok: true; url: URL } | { ok: false; path: string; detail: string };

export function requestTarget(raw: string | undefined, origin: string): RequestTarget {
  const target = raw ?? '/';
  let pathAndQuery: string;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    let absolute: URL;
    try {
      absolute = new URL(target);
    } catch {
      return { ok: false, path: '/', detail: 'The request target is not a valid URL.' };
    }
    pathAndQuery = `${absolute.pathname}${absolute.search}`;
  } else if (target.startsWith('/')) {
    pathAndQuery = target;
  } else {
    return { ok: false, path: '/', detail: 'The request target must be a path.' };
  }
  const rawPath = pathAndQuery.split('?')[0] ?? '/';
  let url: URL;
  try {
    // Concatenate (not resolve): `//x` must stay a path, not become a protocol-relative host.
    url = new URL(`${origin}${pathAndQuery}`);
  } catch {
    return { ok: false, path: rawPath, detail: 'The request target is not a valid URL.' };
  }
  if (decodeSegment(url.pathname) === undefined)
    return { ok: false, path: rawPath, detail: 'The request path contains malformed percent-encoding.' };
  return { ok: true, url };
}

/** decodeURIComponent that reports malformed input as undefined instead of throwing. */
export function decodeSegment(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
