// An RFC 7662 introspection endpoint of a test issuer, on the stand-in (test/fixtures/issuer-worker.js,
// behaviour 'introspect'): it answers by the posted token, counts its calls and keeps what the
// last calls sent. Opaque tokens are random strings, as providers make them.
//
//   const endpoint = await introspectionEndpoint(issuer, { [token]: active(issuer, host) });
//   await endpoint.answer(token, { active: false });        // what a later call gets for it
//   await endpoint.calls();                                  // calls made to it so far
//   (await endpoint.requests())[0].headers.authorization;    // what the last calls sent
import { hitsOn, register, type RouteSpec, type TestIssuer } from './issuer';

export interface TestIntrospectionEndpoint {
  readonly url: string;
  /** Replaces the answer for one token (others keep theirs). */
  answer(token: string, body: unknown): Promise<void>;
  /** Replaces the route with another behaviour (hostile answers). */
  serve(spec: RouteSpec): Promise<void>;
  calls(): Promise<number>;
  requests(): Promise<{ method: string; headers: Record<string, string>; body: string }[]>;
}

export async function introspectionEndpoint(
  issuer: TestIssuer, answers: Record<string, unknown> = {}, options: { path?: string; otherwise?: unknown } = {},
): Promise<TestIntrospectionEndpoint> {
  const url = `${issuer.origin}${options.path ?? '/introspect'}`;
  const held = { ...answers };
  const otherwise = options.otherwise ?? { active: false };
  const put = () => register(url, { behaviour: 'introspect', answers: held, body: otherwise });
  await put();
  return {
    url,
    async answer(token, body) {
      held[token] = body;
      await put();
    },
    serve: (spec) => register(url, spec),
    calls: () => hitsOn({ url }),
    async requests() {
      const response = await fetch(`https://control.test/requests?url=${encodeURIComponent(url)}`);
      return response.json();
    },
  };
}

/** An opaque access token: 32 random bytes, base64url (no dots: never a JWS). */
export function opaqueToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** An active answer for the tenant's API as providers give it (RFC 7662 §2.2), `now` in ms. */
export function active(issuer: TestIssuer, host: string, claims: Record<string, unknown> = {}, now = Date.now()) {
  const seconds = Math.floor(now / 1000);
  return {
    active: true, iss: issuer.issuer, sub: 'user-1', client_id: 'app-1', aud: `https://${host}`, scope: 'read write',
    token_type: 'Bearer', iat: seconds, exp: seconds + 3600, ...claims,
  };
}
