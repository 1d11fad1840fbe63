// Hand-made JWTs for the attack corpus: header and payload as raw JSON text (so a test can send
// duplicate keys or numbers JSON.stringify cannot write), signed with WebCrypto directly, and the
// checks every hostile-input test ends with (no token in any log line or error description).
//
//   const token = await forge('{"alg":"RS256","kid":"k1"}', '{"iss":"...","iss":"..."}', key);
//   await expectDenial(response, { status: 401, reason: 'malformed' }, { token, logs: edge.logs });
import { base64url } from 'jose';
import { expect } from 'vitest';
import type { TestKey } from '../support/issuer';

const encoder = new TextEncoder();

export const b64 = (text: string | Uint8Array): string => base64url.encode(text);

type SignParams = Parameters<SubtleCrypto['sign']>[0];
const SIGNING: Record<string, SignParams> = {
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
  PS256: { name: 'RSA-PSS', saltLength: 32 } as SignParams,
  ES256: { name: 'ECDSA', hash: 'SHA-256' } as SignParams,
};

/** The raw signature bytes of `signingInput` under the key (ECDSA in JOSE's raw r||s form). */
export async function signBytes(signingInput: string, key: TestKey): Promise<Uint8Array> {
  const params = SIGNING[key.alg];
  if (params === undefined) throw new Error(`forge: no WebCrypto params for ${key.alg}`);
  return new Uint8Array(await crypto.subtle.sign(params, key.privateKey, encoder.encode(signingInput)));
}

/** A compact JWS over exactly these header and payload texts. */
export async function forge(headerJson: string, payloadJson: string, key: TestKey): Promise<string> {
  const input = `${b64(headerJson)}.${b64(payloadJson)}`;
  return `${input}.${b64(await signBytes(input, key))}`;
}

/** An HMAC-SHA256 JWS whose secret is the given bytes (the algorithm-confusion attack). */
export async function forgeHmac(headerJson: string, payloadJson: string, secret: Uint8Array): Promise<string> {
  const input = `${b64(headerJson)}.${b64(payloadJson)}`;
  const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return `${input}.${b64(new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(input))))}`;
}

/** ECDSA raw r||s (64 bytes for P-256) as the DER SEQUENCE other libraries emit. */
export function derOfRaw(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const integer = (bytes: Uint8Array): number[] => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const body = [...bytes.slice(start)];
    if (body[0]! & 0x80) body.unshift(0);
    return [0x02, body.length, ...body];
  };
  const content = [...integer(raw.slice(0, half)), ...integer(raw.slice(half))];
  return new Uint8Array([0x30, content.length, ...content]);
}

/** The signature segment of a compact token, the part no log line may ever hold. */
export const signatureOf = (token: string): string => token.slice(token.lastIndexOf('.') + 1);

/** Asserts the exact status and code of a refusal, and that nothing echoes the credential. */
export async function expectDenial(
  response: Response,
  expected: { status: number; reason?: string; error?: string },
  context: { token?: string; logs?: readonly string[]; input?: readonly string[] } = {},
): Promise<Record<string, string>> {
  const text = await response.text();
  expect(response.status, text).toBe(expected.status);
  const body = JSON.parse(text) as Record<string, string>;
  if (expected.reason !== undefined) expect(body).toMatchObject({ error: 'invalid_token', reason: expected.reason });
  if (expected.error !== undefined) expect(body.error).toBe(expected.error);
  const secrets = [...(context.input ?? [])];
  if (context.token !== undefined) {
    const signature = signatureOf(context.token);
    secrets.push(signature.length >= 8 ? signature : context.token);
  }
  const challenge = response.headers.get('www-authenticate') ?? '';
  for (const secret of secrets.filter((s) => s.length >= 8)) {
    expect(body.error_description).not.toContain(secret);
    expect(challenge).not.toContain(secret);
    for (const line of context.logs ?? []) expect(line).not.toContain(secret);
  }
  return body;
}
