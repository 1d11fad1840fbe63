// One introspection call (RFC 7662 §2.1): POST to the endpoint, a form body of `token` and
// `token_type_hint=access_token` plus the client authentication (client-auth.ts), `Accept:
// application/json`; under the issuer fetch's rules (keys/issuer-fetch.ts: https, or loopback http
// with ALLOW_INSECURE_ISSUERS; no redirect followed; 200 only; a deadline covering the body; a
// body cap), here 2 s and 64 KiB. The answer must be a JSON object with a boolean `active`
// (answer.ts). Anything else is 503 issuer_unavailable: fail closed, and nothing is kept.
//
//   const called = await callIntrospection(token, { endpoint, policy, edgeKey, now, allowInsecure, timeoutMs });
//   if (!called.ok) return called;        // issuer_unavailable (the note says why: 'status 302', 'timeout', ...)
//   called.value.active;
import { deny, ok, type Outcome } from '../base/denial';
import { fetchIssuerJson } from '../keys/issuer-fetch';
import type { EdgeKey } from '../tenants/edge-key';
import type { IntrospectionPolicy } from '../tenants/tenant';
import { MAX_ANSWER_BYTES, readAnswer, type Answer } from './answer';
import { clientAuthentication } from './client-auth';

/** The contract's deadline for the whole call, the answer's body included. */
export const INTROSPECTION_TIMEOUT_MS = 2_000;
/** Retry-After of an issuer_unavailable from introspection (nothing is held: a retry calls again). */
export const INTROSPECTION_RETRY_AFTER_SECONDS = 5;

export interface IntrospectionCall {
  /** Where the call goes, and the audience of a private_key_jwt assertion. */
  readonly endpoint: string;
  readonly policy: IntrospectionPolicy;
  readonly edgeKey: EdgeKey | null;
  /** The clock's reading, for the assertion's iat and exp. */
  readonly now: number;
  readonly allowInsecure: boolean;
  readonly timeoutMs: number;
  readonly fetch?: typeof fetch;
}

export async function callIntrospection(token: string, call: IntrospectionCall): Promise<Outcome<Answer>> {
  const auth = await clientAuthentication(call.policy, call.endpoint, call.edgeKey, call.now);
  if (!auth.ok) return auth;
  const form = new URLSearchParams({ token, token_type_hint: 'access_token', ...auth.value.form }).toString();
  const fetched = await fetchIssuerJson(call.endpoint,
    { allowInsecure: call.allowInsecure, timeoutMs: call.timeoutMs, maxBytes: MAX_ANSWER_BYTES, fetch: call.fetch },
    { headers: auth.value.headers, form });
  if (!fetched.ok) return unavailable(`introspection: ${fetched.note}`);
  const answer = readAnswer(fetched.body);
  if (answer === null) return unavailable('introspection: not a JSON object with a boolean active');
  return ok(answer);
}

const unavailable = (note: string) => deny({ error: 'issuer_unavailable', retryAfterSeconds: INTROSPECTION_RETRY_AFTER_SECONDS, note });
