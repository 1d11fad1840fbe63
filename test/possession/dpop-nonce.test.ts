// Stateless DPoP nonces: the same in every isolate, accepted for at least 5 minutes after issue,
// one HMAC per (tenant, window) per isolate, and unknown once the secret changes.
import { beforeEach, describe, expect, it } from 'vitest';
import { createDpopNonces, NONCE_WINDOW_SECONDS } from '../../src/possession/dpop-nonce';

const WINDOW_MS = NONCE_WINDOW_SECONDS * 1000;
let t: number;
const now = () => t;
const secret = crypto.getRandomValues(new Uint8Array(32));

beforeEach(() => { t = 1_900_000_000_000; });

describe('DPoP nonces', () => {
  it('are the same in two isolates, with no shared state but the secret', async () => {
    const a = createDpopNonces({ now }).forTenant('acme', secret);
    const b = createDpopNonces({ now }).forTenant('acme', new Uint8Array(secret));
    const issued = await a.issue();
    expect(await b.issue()).toBe(issued);
    expect(await b.accepts(issued)).toBe(true);
  });

  it('are accepted for at least 300 s after issue, wherever in its window it was issued', async () => {
    const nonces = createDpopNonces({ now }).forTenant('acme', secret);
    for (const into of [0, 1, WINDOW_MS / 2, WINDOW_MS - 1]) {
      t = 6_333_333 * WINDOW_MS + into;
      const issued = await nonces.issue();
      const issuedAt = t;
      t = issuedAt + WINDOW_MS;
      expect(await nonces.accepts(issued), `issued ${into} ms into its window`).toBe(true);
      // Two windows on it is refused, and the current one differs.
      t = (Math.floor(issuedAt / WINDOW_MS) + 2) * WINDOW_MS;
      expect(await nonces.accepts(issued)).toBe(false);
      expect(await nonces.issue()).not.toBe(issued);
    }
  });

  it('compute one HMAC per window and tenant per isolate, however many requests', async () => {
    const nonces = createDpopNonces({ now });
    const acme = nonces.forTenant('acme', secret);
    const issued = await acme.issue();
    for (let i = 0; i < 100; i++) {
      expect(await acme.accepts(issued)).toBe(true);
      expect(await acme.issue()).toBe(issued);
    }
    expect(nonces.counters.computed).toBe(1);
    await acme.accepts('x'.repeat(32)); // a miss tries the window before and after once each
    await acme.accepts('y'.repeat(32));
    expect(nonces.counters.computed).toBe(3);
    await acme.accepts('not even the format'); // refused without an HMAC
    expect(nonces.counters.computed).toBe(3);
  });

  it('differ per tenant, and a new secret makes the old nonces unknown', async () => {
    const nonces = createDpopNonces({ now });
    const issued = await nonces.forTenant('acme', secret).issue();
    expect(await nonces.forTenant('globex', secret).issue()).not.toBe(issued);
    const renewed = nonces.forTenant('acme', crypto.getRandomValues(new Uint8Array(32)));
    expect(await renewed.accepts(issued)).toBe(false);
    expect(await renewed.issue()).not.toBe(issued);
  });

  it('refuse a secret too short to be one (a bug, thrown)', () => {
    expect(() => createDpopNonces({ now }).forTenant('acme', new Uint8Array(8))).toThrow(TypeError);
  });
});
