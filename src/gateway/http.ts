// What an HTTP door answers for a decision (docs/errors.md, "CORS", "Rate limits"):
// the edge's own answers (refusals, the metadata document, a CORS preflight), and the headers
// every answer to a decided request carries, forwarded ones included: CORS for an allowed origin,
// the draft-ietf-httpapi-ratelimit-headers-09 pair on limited routes, Server-Timing when asked.
//
//   if (decided.verdict.kind !== 'passed') return edgeAnswer(decided, host);   // else forward, or run the handler
//   return passThrough(await next(), decided, settings.debugTiming);
import type { LimitDecision } from '../limits/rate-limits';
import { preflightResponse } from './cors';
import { edgeJwksResponse, metadataResponse } from './metadata';
import type { Decided, Verdict } from './pipeline';
import { denialResponse } from './respond';

/** A decision the edge answers itself: refused, the metadata document, or a preflight. */
export type Answered = Decided & { readonly verdict: Exclude<Verdict, { kind: 'passed' }> };

/** The edge's own answer to a decision that did not pass, with the decision's headers. */
export function edgeAnswer(decided: Answered, host: string): Response {
  const { verdict, log } = decided;
  switch (verdict.kind) {
    case 'refused': return denialResponse(verdict.denial, { host, requestId: log.requestId, headers: decisionHeaders(decided), challenge: decided.challenge });
    case 'metadata': return verdict.document === 'jwks' ? edgeJwksResponse(verdict.tenant, log.requestId)
      : metadataResponse(verdict.tenant, verdict.resource, log.requestId);
    // The endpoint's own answer (RFC 8935, OIDC Back-Channel Logout), with the request id.
    case 'event': {
      const response = new Response(verdict.response.body, verdict.response);
      response.headers.set('x-request-id', log.requestId);
      return response;
    }
    // The pipeline refused an origin cors does not allow, so there is an answer.
    case 'preflight': return preflightResponse(verdict.tenant.cors!, decided.cors, log.requestId);
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
    headers.append('server-timing', Object.entries(decided.log.ms).map(([step, ms]) => `${step};dur=${ms}`).join(', '));
  }
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** CORS for an allowed origin, RateLimit on limited routes and DPoP-Nonce on a tenant that
 *  issues nonces: on every HTTP answer to the request. */
export function decisionHeaders(decided: Pick<Decided, 'cors' | 'limits' | 'dpopNonce'>): Headers | null {
  const limits = rateLimitHeaders(decided.limits);
  if (limits.length === 0 && decided.dpopNonce === null) return decided.cors?.headers ?? null;
  const headers = new Headers(decided.cors?.headers ?? undefined);
  for (const [name, value] of limits) headers.set(name, value);
  if (decided.dpopNonce !== null) headers.set('dpop-nonce', decided.dpopNonce);
  return headers;
}

/** RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-09) for the limits
 *  evaluated on this request. RateLimit names the policy with the lowest remaining share r/q.
 *  Decisions made without the limiter (unavailable) know nothing to report and are left out. */
export function rateLimitHeaders(decisions: readonly LimitDecision[]): [string, string][] {
  const known = decisions.filter((d) => !d.unavailable);
  if (known.length === 0) return [];
  const policy = known.map((d) => `"${d.policy}";q=${d.limit};w=${d.windowSeconds}`).join(', ');
  let tightest = known[0]!;
  for (const d of known) if (d.remaining / d.limit < tightest.remaining / tightest.limit) tightest = d;
  return [
    ['RateLimit-Policy', policy],
    ['RateLimit', `"${tightest.policy}";r=${tightest.remaining};t=${tightest.resetSeconds}`],
  ];
}
