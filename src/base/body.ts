// Reading a body under a byte cap and, when given, a deadline: the one reader for the bodies
// clients send (the admin API, revocation events) and the bodies the edge fetches (issuer
// documents, DoH answers). A declared Content-Length over the cap is refused before anything is
// read, and the bytes actually read are counted again (a length can lie); past the cap the rest
// is never read.
//
//   const read = await readBody(request, { maxBytes: 64 * 1024 });
//   if (!read.ok) return read.failure;          // 'too_large' | 'timeout' | 'network'
//   const text = utf8(read.bytes);              // null when not UTF-8

export type BodyRead =
  | { ok: true; bytes: Uint8Array }
  | { ok: false; failure: 'too_large' | 'timeout' | 'network' };

export async function readBody(message: Request | Response, options: { maxBytes: number; signal?: AbortSignal }): Promise<BodyRead> {
  const { maxBytes, signal } = options;
  const declared = Number(message.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await discard(message.body);
    return { ok: false, failure: 'too_large' };
  }
  if (message.body === null) return { ok: true, bytes: new Uint8Array() };
  const reader = message.body.getReader();
  // An abort may not reach a pending read: the deadline races every read instead.
  let onAbort = () => {};
  const deadline = new Promise<'timeout'>((resolve) => {
    onAbort = () => resolve('timeout');
    if (signal?.aborted) resolve('timeout');
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const next = await (signal === undefined ? reader.read() : Promise.race([reader.read(), deadline]));
      if (next === 'timeout') {
        void reader.cancel().catch(() => {});
        return { ok: false, failure: 'timeout' };
      }
      if (next.done) break;
      total += next.value.byteLength;
      if (total > maxBytes) {
        void reader.cancel().catch(() => {});
        return { ok: false, failure: 'too_large' };
      }
      chunks.push(next.value);
    }
  } catch {
    return { ok: false, failure: signal?.aborted ? 'timeout' : 'network' };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { ok: true, bytes };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** The text of UTF-8 bytes, or null when they are not UTF-8. */
export function utf8(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/** A body that is not wanted is cancelled, so its connection is not kept busy. */
export async function discard(body: ReadableStream | null): Promise<void> {
  try {
    await body?.cancel();
  } catch {
    // Nothing to do: the body is not wanted either way.
  }
}
