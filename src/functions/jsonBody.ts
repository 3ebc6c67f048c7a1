import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { problem } from './problem';

/** Request bodies are small JSON documents; anything bigger is refused before it is parsed. */
export const MAX_BODY_BYTES = 64 * 1024;

export type ParsedJsonBody = { ok: true; body: unknown } | { ok: false; response: HttpResponseInit };

/** Reads a JSON body with a size cap: 413 when too big, 415/400 when not JSON. Never throws. */
export async function readJsonBody(
  request: HttpRequest,
  maxBytes: number = MAX_BODY_BYTES,
): Promise<ParsedJsonBody> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > maxBytes) return { ok: false, response: tooLarge(maxBytes) };
  const type = request.headers.get('content-type') ?? '';
  if (type && !/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type.trim())) {
    return {
      ok: false,
      response: problem({
        status: 415,
        title: 'Unsupported media type',
        detail: `Send the body as application/json (got ${type}).`,
      }),
    };
  }
  let text: string;
  try {
    text = await request.text();
  } catch {
    return {
      ok: false,
      response: problem({
        status: 400,
        title: 'Unreadable body',
        detail: 'The request body could not be read.',
      }),
    };
  }
  if (Buffer.byteLength(text, 'utf8') > maxBytes) return { ok: false, response: tooLarge(maxBytes) };
  try {
    return { ok: true, body: JSON.parse(text) as unknown };
  } catch (error) {
    return {
      ok: false,
      response: problem({
        status: 400,
        title: 'Malformed JSON',
        detail: `The request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
      }),
    };
  }
}

function tooLarge(maxBytes: number): HttpResponseInit {
  return problem({
    status: 413,
    title: 'Request body too large',
    detail: `The request body must be at most ${maxBytes} bytes.`,
  });
}
