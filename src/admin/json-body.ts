// A JSON request body read under the admin API's limits: the size is refused before anything
// is parsed, by Content-Length and again by the bytes actually read (a length can lie).
//
//   const body = await readJsonBody(request);
//   if (!body.ok) return adminError(body.error, body.description);  // 413 | 415 | 400
//   body.value                                                      // unknown JSON

import { readBody, utf8 } from '../base/body';

export const MAX_BODY_BYTES = 64 * 1024;

export type JsonBody =
  | { ok: true; value: unknown }
  | { ok: false; error: 'body_too_large' | 'unsupported_media_type' | 'invalid_json'; description: string };

const tooLarge = { ok: false, error: 'body_too_large', description: `the body exceeds ${MAX_BODY_BYTES} bytes` } as const;

export async function readJsonBody(request: Request, maxBytes = MAX_BODY_BYTES): Promise<JsonBody> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) return tooLarge;
  if (!isJsonMediaType(request.headers.get('content-type'))) {
    return { ok: false, error: 'unsupported_media_type', description: 'the body must be application/json' };
  }
  const read = await readBody(request, { maxBytes });
  if (!read.ok) {
    return read.failure === 'too_large' ? tooLarge : { ok: false, error: 'invalid_json', description: 'the body could not be read' };
  }
  const text = utf8(read.bytes);
  try {
    if (text === null) throw new SyntaxError('not UTF-8');
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, error: 'invalid_json', description: 'the body is not valid JSON' };
  }
}

/** application/json or any application/<x>+json (RFC 6839), parameters ignored. */
function isJsonMediaType(contentType: string | null): boolean {
  const essence = contentType?.split(';', 1)[0]!.trim().toLowerCase() ?? '';
  return essence === 'application/json' || /^application\/[^/\s]+\+json$/.test(essence);
}
