// A JSON request body read under the admin API's limits: the size is refused before anything
// is parsed, by Content-Length and again by the bytes actually read (a length can lie).
//
//   const body = await readJsonBody(request);
//   if (!body.ok) return adminError(body.error, body.description);  // 413 | 415 | 400
//   body.value                                                      // unknown JSON

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
  const bytes = await readAtMost(request.body, maxBytes);
  if (bytes === null) return tooLarge;
  try {
    return { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)) };
  } catch {
    return { ok: false, error: 'invalid_json', description: 'the body is not valid JSON' };
  }
}

/** application/json or any application/<x>+json (RFC 6839), parameters ignored. */
function isJsonMediaType(contentType: string | null): boolean {
  const essence = contentType?.split(';', 1)[0]!.trim().toLowerCase() ?? '';
  return essence === 'application/json' || /^application\/[^/\s]+\+json$/.test(essence);
}

/** The body's bytes, or null as soon as they pass the limit (the rest is never read). */
async function readAtMost(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array | null> {
  if (body === null) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}
