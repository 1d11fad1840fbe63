// SECRETS_KEY and SECRETS_KEY_PREVIOUS: parsed once, AES-256-GCM with a fresh 96-bit IV each
// time, the additional data binding a sealed value to its place, the key id choosing the key,
// and nothing of the plaintext readable in what is stored.
import { base64url } from 'jose';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKeyring } from '../../src/secrets/keyring';
import { isSealed, sealedKeyId } from '../../src/secrets/sealed';

const KEY_A = base64url.encode(new Uint8Array(32).fill(7));
const KEY_B = base64url.encode(Uint8Array.from({ length: 32 }, (_, i) => i));

describe('reading SECRETS_KEY', () => {
  it('takes 32 bytes of base64url (as node\'s randomBytes(32).toString("base64url") or the openssl line print it)', async () => {
    const keyring = createKeyring({ SECRETS_KEY: KEY_A });
    expect(keyring.problem).toBeNull();
    expect(await keyring.currentKeyId()).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(createKeyring({ SECRETS_KEY: ` ${KEY_A}\n` }).problem).toBeNull();
  });

  it.each([
    ['absent', undefined, 'SECRETS_KEY is not set'],
    ['empty', '', 'SECRETS_KEY is not set'],
    ['16 bytes', base64url.encode(new Uint8Array(16)), 'SECRETS_KEY is not 32 bytes of base64url'],
    ['33 bytes', base64url.encode(new Uint8Array(33)), 'SECRETS_KEY is not 32 bytes of base64url'],
    ['padded base64 with + and /', btoa(String.fromCharCode(...new Uint8Array(32).fill(251))), 'SECRETS_KEY is not 32 bytes of base64url'],
    ['a passphrase', 'correct horse battery staple correct horse', 'SECRETS_KEY is not 32 bytes of base64url'],
  ])('names the problem when it is %s, and cannot seal', async (_, value, problem) => {
    const keyring = createKeyring({ SECRETS_KEY: value });
    expect(keyring.problem).toBe(problem);
    expect(await keyring.currentKeyId()).toBeNull();
    await expect(keyring.seal('x', 'aad')).rejects.toThrow(problem);
  });

  it('ignores a malformed SECRETS_KEY_PREVIOUS, and says so', () => {
    const keyring = createKeyring({ SECRETS_KEY: KEY_A, SECRETS_KEY_PREVIOUS: 'short' });
    expect(keyring.problem).toBeNull();
    expect(keyring.previousProblem).toBe('SECRETS_KEY_PREVIOUS is not 32 bytes of base64url');
    expect(createKeyring({ SECRETS_KEY: KEY_A }).previousProblem).toBeNull();
  });
});

describe('seal and open', () => {
  const keyring = createKeyring({ SECRETS_KEY: KEY_A });

  it('round-trips, with a fresh IV each time, in the stored shape', async () => {
    const one = await keyring.seal('Zq9-secret', 'tenant acme /x');
    const two = await keyring.seal('Zq9-secret', 'tenant acme /x');
    expect(isSealed(one)).toBe(true);
    expect(one.sealed).not.toBe(two.sealed);
    expect(one.sealed.split('.')[2]).not.toBe(two.sealed.split('.')[2]);
    expect(sealedKeyId(one.sealed)).toBe(await keyring.currentKeyId());
    expect(await keyring.open(one, 'tenant acme /x')).toEqual({ ok: true, value: 'Zq9-secret', current: true });
    expect(await keyring.open(two, 'tenant acme /x')).toEqual({ ok: true, value: 'Zq9-secret', current: true });
  });

  it('opens only at the place it was sealed for (the additional data)', async () => {
    const sealed = await keyring.seal('Zq9-secret', 'tenant acme /issuers/0/introspection/clientSecret');
    for (const aad of ['tenant beta /issuers/0/introspection/clientSecret', 'tenant acme /issuers/1/introspection/clientSecret', '']) {
      expect(await keyring.open(sealed, aad), aad).toEqual({ ok: false, reason: 'not_authentic' });
    }
  });

  it('refuses a changed ciphertext, IV or key id', async () => {
    const { sealed } = await keyring.seal('Zq9-secret', 'aad');
    const [version, id, iv, data] = sealed.split('.') as [string, string, string, string];
    const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
    expect(await keyring.open({ sealed: [version, id, iv, flip(data, 3)].join('.') }, 'aad')).toEqual({ ok: false, reason: 'not_authentic' });
    expect(await keyring.open({ sealed: [version, id, flip(iv, 0), data].join('.') }, 'aad')).toEqual({ ok: false, reason: 'not_authentic' });
    expect(await keyring.open({ sealed: [version, flip(id, 0), iv, data].join('.') }, 'aad')).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('needs the key that sealed it: SECRETS_KEY_PREVIOUS opens what the old key sealed, marked not current', async () => {
    const old = await createKeyring({ SECRETS_KEY: KEY_A }).seal('Zq9-secret', 'aad');
    expect(await createKeyring({ SECRETS_KEY: KEY_B }).open(old, 'aad')).toEqual({ ok: false, reason: 'unknown_key' });
    expect(await createKeyring({}).open(old, 'aad')).toEqual({ ok: false, reason: 'unknown_key' });
    const rotating = createKeyring({ SECRETS_KEY: KEY_B, SECRETS_KEY_PREVIOUS: KEY_A });
    expect(await rotating.open(old, 'aad')).toEqual({ ok: true, value: 'Zq9-secret', current: false });
    expect(sealedKeyId((await rotating.seal('x', 'aad')).sealed)).toBe(await createKeyring({ SECRETS_KEY: KEY_B }).currentKeyId());
  });

  it('holds nothing of the plaintext: not the text, nor its base64, base64url or hex (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_~'), minLength: 8, maxLength: 200 }),
      async (secret) => {
        const { sealed } = await keyring.seal(secret, 'aad');
        const bytes = new TextEncoder().encode(secret);
        const forms = [secret, btoa(secret), base64url.encode(bytes), [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')];
        for (const form of forms) expect(sealed).not.toContain(form.slice(0, 8));
        expect(await keyring.open({ sealed }, 'aad')).toEqual({ ok: true, value: secret, current: true });
      }), { numRuns: 100 });
  });

  it('seals every printable ASCII secret up to 4096 characters within the stored bound', async () => {
    const sealed = await keyring.seal('~'.repeat(4096), 'aad');
    expect(isSealed(sealed)).toBe(true);
  });
});

describe('settings', () => {
  it('read SECRETS_KEY and SECRETS_KEY_PREVIOUS into one keyring per bindings object', async () => {
    const { parseSettings, settingsOf } = await import('../../src/config/settings');
    const vars = { SECRETS_KEY: KEY_B, SECRETS_KEY_PREVIOUS: KEY_A };
    expect(settingsOf(vars).secrets).toBe(settingsOf(vars).secrets);
    const old = await createKeyring({ SECRETS_KEY: KEY_A }).seal('Zq9', 'aad');
    expect(await parseSettings(vars).secrets.open(old, 'aad')).toEqual({ ok: true, value: 'Zq9', current: false });
    expect(parseSettings({}).secrets.problem).toBe('SECRETS_KEY is not set');
  });
});
