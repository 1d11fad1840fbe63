// What an HTTP door answers for a decision (docs/errors.md, "CORS", "Rate limits"):
// the edge's own answers (refusals, the metadata document, a CORS preflight), and the headers
// every answer to a decided request carries, forwarded ones included: CORS for an allowed origin,
// the draft-ietf-httpapi-ratelimit-headers-09 pair on limited routes, Server-Timing when asked.
//
//   if (verdict.kind !== 'passed') return edgeAnswer(decided, verdict, host);   // else forward, or run the handler
//   return passThrough(await next(), decided, settings.debugTiming);
import type { LimitDecision } from '../limits/rate-limits';
import type { Decided, Verdict } from '../pipeline/verdict';
import { corsHeaders, preflightResponse } from './cors';
import { edgeJwksResponse, metadataResponse } from './metadata';
import { denialResponse } from './respond';

/** A verdict the edge answers itself: refused, a public document, or a preflight (the event
 *  endpoints answer for themselves: events.ts). */
export type Answered = Exclude<Verdict, { kind: 'passed' | 'event' }>;

/** The edge's own answer to a decision that did not pass, with the decision's headers. */
export function edgeAnswer(decided: Decided, verdict: Answered, host: string): Response {
  const { record } = decided;
  switch (verdict.kind) {
    case 'refused':
      return denialResponse(verdict.denial,
        { host, requestId: record.requestId, headers: decisionHeaders(decided), challenge: decided.challenge });
    case 'metadata': return verdict.document === 'jwks' ? edgeJwksResponse(verdict.tenant, record.requestId)
      : metadataResponse(verdict.tenant, verdict.resource, record.requestId);
    // The pipeline refused an origin cors does not allow, so there is an answer.
    case 'preflight': return preflightResponse(verdict.tenant.cors!, decided.cors, record.requestId);
  }
}

/** Passes a response through, adding only the decision's headers; the same response when there
 *  is nothing to add (a copy costs a header table). */
export function passThrough(response: Response, decided: Decided, serverTiming: boolean): Response {
  const extra = decisionHeaders(decided);
  if ((extra === null && !serverTiming) || response.webSocket) return response;
  const headers = new Headers(response.headers);
  // A wildcard must not carry credentials (docs/headers.md).
  if (decided.cors?.wildcard) headers.delete('access-control-allow-credentials');
  for (const [name, value] of extra ?? []) {
    // Lists the origin may have started: ours go beside its own values.
    if (name === 'vary' || name === 'access-control-expose-headers') headers.append(name, value);
    else headers.set(name, value);
  }
  if (serverTiming) {
    headers.append('server-timing', Object.entries(decided.record.ms).map(([step, ms]) => `${step};dur=${ms}`).join(', '));
  }
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** CORS for an allowed origin, RateLimit on limited routes and DPoP-Nonce on a tenant that
 *  issues nonces: on every HTTP answer to the request. */
export function decisionHeaders(decided: Pick<Decided, 'cors' | 'limits' | 'dpopNonce'>): Headers | null {
  const limits = rateLimitHeaders(decided.limits);
  const cors = decided.cors;
  if (limits.length === 0 && decided.dpopNonce === null) return cors === null ? null : corsHeaders(cors);
  const headers = cors === null ? new Headers() : corsHeaders(cors);
  for (const [name, value] of limits) headers.set(name, value);
  if (decided.dpopNonce !== null) headers.set('dpop-nonce', decided.dpopNonce);
  return headers;
}

const NO_HEADERS: readonly (readonly [string, string])[] = Object.freeze([]);

/** RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-09) for the limits
 *  evaluated on this request. RateLimit names the policy with the lowest remaining share r/q.
 *  Decisions made without the limiter (unavailable) know nothing to report and are left out. */
export function rateLimitHeaders(decisions: readonly LimitDecision[]): readonly (readonly [string, string])[] {
  // Most requests are counted against no limit: no list made for them.
  if (decisions.length === 0) return NO_HEADERS;
  const known = decisions.filter((d) => !d.unavailable);
  if (known.length === 0) return NO_HEADERS;
  const policy = known.map((d) => `"${d.policy}";q=${d.limit};w=${d.windowSeconds}`).join(', ');
  let tightest = known[0]!;
  for (const d of known) if (d.remaining / d.limit < tightest.remaining / tightest.limit) tightest = d;
  return [
    ['RateLimit-Policy', policy],
    ['RateLimit', `"${tightest.policy}";r=${tightest.remaining};t=${tightest.resetSeconds}`],
  ];
}
