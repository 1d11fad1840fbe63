// Who is calling the admin API (docs/admin-api.md): the bearer token against ADMIN_TOKEN,
// compared in constant time, and the token's hash prefix that audit lines name it by.
//
//   const caller = await authenticateAdmin(request.headers.get('authorization'), env.ADMIN_TOKEN);
//   if (!caller.ok) return adminError(caller.error, ...);   // missing_token | invalid_token
//   audit({ who: caller.who, ... });                         // 12 hex digits, never the token

export type AdminCaller = { ok: true; who: string } | { ok: false; error: 'missing_token' | 'invalid_token' };

const BEARER = /^Bearer +([^\s]+) *$/i;

export async function authenticateAdmin(authorization: string | null, adminToken: string): Promise<AdminCaller> {
  const presented = authorization === null ? null : BEARER.exec(authorization)?.[1];
  if (presented === undefined || presented === null) return { ok: false, error: 'missing_token' };
  // Hashing both sides first gives equal lengths, so timingSafeEqual leaks neither content nor length.
  const [given, expected] = await Promise.all([sha256(presented), sha256(adminToken)]);
  if (!crypto.subtle.timingSafeEqual(given, expected)) return { ok: false, error: 'invalid_token' };
  return { ok: true, who: hex(new Uint8Array(expected)).slice(0, 12) };
}

const sha256 = (text: string): Promise<ArrayBuffer> => crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
const hex = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
