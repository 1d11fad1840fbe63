// SECRETS_KEY (and, while rotating, SECRETS_KEY_PREVIOUS): the keys that seal the write-only
// values of tenant configs at rest (docs/configuration.md "Write-only secrets"). AES-256-GCM, a
// fresh random 96-bit IV per seal, and additional data naming the value's place, so a sealed
// value opens only where it was sealed for. Each sealed text names its key by an id derived from
// the key, so opening picks the key without trying both. Keys are imported once per keyring
// (one per isolate and bindings object: config/settings.ts), non-extractable.
//
//   const keyring = createKeyring(env);                 // { SECRETS_KEY, SECRETS_KEY_PREVIOUS }
//   keyring.problem;                                    // null, or 'SECRETS_KEY is not set' / '… not 32 bytes …'
//   const sealed = await keyring.seal(secret, aad);     // { sealed: 'v1.<id>.<iv>.<ciphertext>' }
//   await keyring.open(sealed, aad);                    // { ok: true, value, current } | { ok: false, reason }
import { base64url } from 'jose';
import { sealedKeyId, SEALED_TEXT, type Sealed } from './sealed';

export interface SecretsVars {
  SECRETS_KEY?: string;
  SECRETS_KEY_PREVIOUS?: string;
}

export type OpenedSecret =
  | { ok: true; value: string; /** false: sealed with SECRETS_KEY_PREVIOUS, so a write re-seals it. */ current: boolean }
  /** unknown_key: sealed with a key that is neither; not_authentic: changed, or sealed for another place. */
  | { ok: false; reason: 'unknown_key' | 'not_authentic' };

export interface SecretsKeyring {
  /** Why nothing can be sealed (SECRETS_KEY absent or not 32 bytes of base64url), or null. */
  readonly problem: string | null;
  /** Why SECRETS_KEY_PREVIOUS is ignored, or null when it is absent or usable. */
  readonly previousProblem: string | null;
  /** The id sealed texts carry for SECRETS_KEY; null without a usable one. */
  currentKeyId(): Promise<string | null>;
  /** Throws when `problem` is set: callers check it first and refuse the write. */
  seal(plaintext: string, aad: string): Promise<Sealed>;
  open(sealed: Sealed, aad: string): Promise<OpenedSecret>;
}

interface Key { readonly id: string; readonly key: CryptoKey }

const KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function createKeyring(vars: SecretsVars): SecretsKeyring {
  const current = keyBytes(vars.SECRETS_KEY);
  const previous = keyBytes(vars.SECRETS_KEY_PREVIOUS);
  const problem = current === null ? 'SECRETS_KEY is not set' : current === 'invalid' ? 'SECRETS_KEY is not 32 bytes of base64url' : null;
  const previousProblem = previous === 'invalid' ? 'SECRETS_KEY_PREVIOUS is not 32 bytes of base64url' : null;
  // Resolved keys, not a shared promise: concurrent first uses each import, the first kept.
  let imported: { current: Key | null; previous: Key | null } | undefined;

  async function keys() {
    if (imported !== undefined) return imported;
    const [c, p] = await Promise.all([importKey(current), importKey(previous)]);
    imported ??= { current: c, previous: p };
    return imported;
  }

  return {
    problem,
    previousProblem,
    async currentKeyId() {
      return (await keys()).current?.id ?? null;
    },
    async seal(plaintext, aad) {
      const key = (await keys()).current;
      if (key === null) throw new Error(problem ?? 'SECRETS_KEY is not set');
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: encoder.encode(aad) }, key.key,
        encoder.encode(plaintext));
      return { sealed: `v1.${key.id}.${base64url.encode(iv)}.${base64url.encode(new Uint8Array(data))}` };
    },
    async open(sealed, aad) {
      if (!SEALED_TEXT.test(sealed.sealed)) return { ok: false, reason: 'not_authentic' };
      const { current: c, previous: p } = await keys();
      const id = sealedKeyId(sealed.sealed);
      const key = c?.id === id ? c : p?.id === id ? p : null;
      if (key === null) return { ok: false, reason: 'unknown_key' };
      const [, , iv, data] = sealed.sealed.split('.') as [string, string, string, string];
      try {
        const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: base64url.decode(iv), additionalData: encoder.encode(aad) },
          key.key, base64url.decode(data));
        return { ok: true, value: decoder.decode(plain), current: key === c };
      } catch {
        return { ok: false, reason: 'not_authentic' };
      }
    },
  };
}

/** 32 bytes from 43 base64url characters (surrounding whitespace ignored); null when unset. */
function keyBytes(text: string | undefined): Uint8Array | 'invalid' | null {
  const trimmed = text?.trim() ?? '';
  if (trimmed === '') return null;
  if (!KEY_TEXT.test(trimmed)) return 'invalid';
  const bytes = base64url.decode(trimmed);
  return bytes.length === 32 ? bytes : 'invalid';
}

async function importKey(bytes: Uint8Array | 'invalid' | null): Promise<Key | null> {
  if (bytes === null || bytes === 'invalid') return null;
  const [key, digest] = await Promise.all([
    crypto.subtle.importKey('raw', bytes, 'AES-GCM', false, ['encrypt', 'decrypt']),
    // The id reveals nothing usable of a 256-bit random key, and tells the keys apart.
    crypto.subtle.digest('SHA-256', new Uint8Array([...encoder.encode('edge-token-verifier secrets key id\n'), ...bytes])),
  ]);
  return { id: base64url.encode(new Uint8Array(digest)).slice(0, 8), key };
}
