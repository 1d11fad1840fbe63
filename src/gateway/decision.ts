// One request's decision, whichever door it came through: its identifiers, the log record the
// steps fill in, the rate limits it was counted against, and the ways it ends (an HTTP answer
// or denial, or a plain refusal for RPC). Logged exactly once.
//
//   const d = new Decision({ host, requestId, now });
//   const tenant = await d.timed('tenant', store.resolve(...));
//   return d.deny(denial);                 // HTTP doors: the SPEC.md error response
//   d.log(sampleRate, random);
import type { Clock } from '../clock';
import type { Denial } from '../denial';
import type { CorsAnswer } from './cors';
import { rateLimitHeaders, type LimitDecision } from '../state/rate-limits';
import { isLogged, writeDecision, type DecisionRecord } from './log';
import { denialResponse, statusOf } from './respond';

export class Decision {
  readonly host: string;
  readonly requestId: string;
  readonly record: DecisionRecord;
  /** CORS for an allowed origin, set once the tenant is known. */
  cors: CorsAnswer | null = null;
  /** The rate limits this request was counted against, for the RateLimit headers. */
  readonly limits: LimitDecision[] = [];
  readonly #now: Clock;
  readonly #started: number;

  constructor(options: { host: string; requestId: string; now: Clock }) {
    this.host = options.host;
    this.requestId = options.requestId;
    this.record = { requestId: this.requestId, host: this.host, outcome: 'denied', tiers: {}, ms: {} };
    this.#now = options.now;
    this.#started = options.now();
  }

  async timed<T>(step: string, work: Promise<T>): Promise<T> {
    const start = this.#now();
    try {
      return await work;
    } finally {
      this.record.ms[step] = this.#now() - start;
    }
  }

  /** Records a refusal for the log; the door decides how to say it. */
  refuse(denial: Denial): Denial {
    this.record.outcome = 'denied';
    this.record.status = statusOf(denial);
    this.record.error = denial.error;
    if (denial.error === 'invalid_token') this.record.reason = denial.reason;
    if ('note' in denial && denial.note !== undefined) this.record.note = denial.note;
    return denial;
  }

  /** The SPEC.md error response for a refusal, with CORS and RateLimit headers. */
  deny(denial: Denial): Response {
    return denialResponse(this.refuse(denial), { host: this.host, requestId: this.requestId, headers: this.extraHeaders() });
  }

  /** Passes a response through, adding only CORS for an allowed origin, the RateLimit headers
   *  on limited routes and, when asked, Server-Timing. */
  answer(outcome: DecisionRecord['outcome'], response: Response, serverTiming = false): Response {
    this.record.outcome = outcome;
    this.record.status = response.status;
    const extra = this.extraHeaders();
    if ((extra === null && !serverTiming) || response.webSocket) return response;
    const headers = new Headers(response.headers);
    if (this.cors?.wildcard) headers.delete('access-control-allow-credentials');
    for (const [name, value] of extra ?? []) {
      if (name === 'vary') headers.append(name, value);
      else headers.set(name, value);
    }
    if (serverTiming) {
      headers.append('server-timing', Object.entries(this.record.ms).map(([step, ms]) => `${step};dur=${ms}`).join(', '));
    }
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }

  /** CORS for an allowed origin and RateLimit headers on limited routes: on every HTTP answer. */
  extraHeaders(): Headers | null {
    if (this.limits.length === 0) return this.cors?.headers ?? null;
    const headers = new Headers(this.cors?.headers ?? undefined);
    for (const [name, value] of rateLimitHeaders(this.limits)) headers.set(name, value);
    return headers;
  }

  log(sampleRate: number, random: () => number): void {
    if (!isLogged(this.record, sampleRate, random)) return;
    this.record.ms.total = this.#now() - this.#started;
    writeDecision(this.record);
  }
}
