// The one size-capped body reader: a declared length over the cap is refused unread, the bytes
// read are counted whatever the length says, and a deadline ends a body that never finishes.
import { describe, expect, it } from 'vitest';
import { readBody, utf8 } from '../../src/base/body';

const stream = (chunks: number, size: number, options: { hang?: boolean } = {}) => {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === chunks) {
        if (options.hang) return new Promise<void>(() => {});
        return controller.close();
      }
      sent++;
      controller.enqueue(new Uint8Array(size).fill(120));
    },
  });
};

describe('readBody', () => {
  it('reads a body within the cap', async () => {
    const read = await readBody(new Request('https://x/', { method: 'POST', body: 'hello' }), { maxBytes: 5 });
    expect(read.ok && utf8(read.bytes)).toBe('hello');
  });

  it('refuses a declared length over the cap without reading', async () => {
    const request = new Request('https://x/', { method: 'POST', body: stream(1000, 1024), headers: { 'content-length': '1024000' } });
    expect(await readBody(request, { maxBytes: 1024 })).toEqual({ ok: false, failure: 'too_large' });
  });

  it('counts the bytes read when there is no length (or it lies)', async () => {
    const response = new Response(stream(100, 1024));
    expect(await readBody(response, { maxBytes: 10 * 1024 })).toEqual({ ok: false, failure: 'too_large' });
  });

  it('ends a body that never finishes at the deadline', async () => {
    const deadline = new AbortController();
    setTimeout(() => deadline.abort(), 50);
    expect(await readBody(new Response(stream(1, 10, { hang: true })), { maxBytes: 1024, signal: deadline.signal }))
      .toEqual({ ok: false, failure: 'timeout' });
  });

  it('utf8 is strict', () => {
    expect(utf8(new Uint8Array([0xff, 0xfe]))).toBeNull();
    expect(utf8(new TextEncoder().encode('zoë'))).toBe('zoë');
  });
});
