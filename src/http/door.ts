// The HTTP door without a framework: what edgeAuth (a Hono middleware) and the gateway (a plain
// fetch handler, app.ts) both do with a request. `openDoor` runs the pipeline and answers
// everything the edge answers itself (refusals, public documents, preflights, revocation events);
// what it admits comes back as an Admitted, whose handler's response (the origin's, or the user's
// handler's) goes back through `answer`. Both doors are this code: only how a handler runs differs.
//
//   const door = createDoor(isolate, { random, handlerStep: 'origin' });
//   const opened = await openDoor(door, request, requestUrl(request.url), tenants, env, settings, waitUntil);
//   if (opened instanceof Response) return opened;            // the edge answered
//   return opened.answer(await handler(opened), undefined);   // passed: the decision's headers, the log line
import { noteOf, type Denial } from '../base/denial';
import type { Settings, SettingsVars } from '../config/settings';
import type { SsfStream } from '../events/ssf-stream';
import { decide } from '../pipeline/decide';
import type { Identity } from '../pipeline/identity';
import { ioOf, type PipelineBindings } from '../pipeline/io';
import type { Isolate } from '../pipeline/isolate';
import { finishDecision, type DecisionEnd } from '../pipeline/record';
import type { TenantLookup } from '../pipeline/request';
import type { Decided } from '../pipeline/verdict';
import type { Tenant } from '../tenants/tenant';
import { decisionHeaders, edgeAnswer, passThrough } from './answers';
import { eventResponse } from './events';
import { pipelineRequestOf } from './request';
import type { RequestUrl } from './request-url';
import { denialResponse } from './respond';

/** ISSUER_KEYS is required; TENANT_STATE adds status and revocation, RATE_LIMITER limits. */
export interface EdgeAuthBindings extends PipelineBindings, SettingsVars {
  /** Only for `tenant: 'kv'`. */
  TENANTS?: KVNamespace;
  /** The gateway's SSF stream objects: a push from a transmitter the edge manages a push stream
   *  at must then carry the stream's authorization_header. */
  SSF_STREAMS?: DurableObjectNamespace<SsfStream>;
}

/** What a door keeps for its life: the isolate's state, log sampling, and the name of the time
 *  spent in the handler (the log's and Server-Timing's `origin` or `handler`). */
export interface Door {
  readonly isolate: Isolate;
  readonly random: () => number;
  readonly handlerStep: string;
}

export function createDoor(isolate: Isolate, options: { random?: () => number; handlerStep?: string } = {}): Door {
  return { isolate, random: options.random ?? Math.random, handlerStep: options.handlerStep ?? 'handler' };
}

/** One request through the pipeline: the edge's own answer, or the request admitted. */
export async function openDoor(door: Door, request: Request, target: RequestUrl, tenants: TenantLookup,
  bindings: EdgeAuthBindings, settings: Settings, waitUntil: (promise: Promise<unknown>) => void): Promise<Response | Admitted> {
  const { isolate } = door;
  const io = ioOf(bindings, settings, waitUntil);
  const decided = await decide(isolate, pipelineRequestOf(request, target, tenants), io);
  const { verdict } = decided;
  if (verdict.kind === 'passed') return new Admitted(door, decided, settings, verdict.tenant, target, verdict.preflight, verdict.identity);

  const end = (outcome: DecisionEnd['outcome'], answer: Response, denial?: Denial): Response => {
    finishDecision(decided.record, { outcome, status: answer.status, denial },
      { sampleRate: settings.logSampleRate, random: door.random, startedAt: decided.startedAt, now: isolate.now() });
    return answer;
  };
  if (verdict.kind === 'event') {
    const started = isolate.now();
    let answer: Response;
    let failed: Denial | undefined;
    try {
      answer = await eventResponse(verdict, request, decided.record.requestId, isolate, io, bindings.SSF_STREAMS ?? null);
    } catch (error) {
      // A bug or a broken binding in a receiver: the contract's 500 as any refusal of this request.
      failed = { error: 'internal_error', note: noteOf(error) };
      answer = edgeAnswer(decided, { kind: 'refused', denial: failed }, target.host);
    }
    decided.record.ms.event = isolate.now() - started;
    return failed === undefined ? end('event', answer) : end('denied', answer, failed);
  }
  const answer = edgeAnswer(decided, verdict, target.host);
  return verdict.kind === 'refused' ? end('denied', answer, verdict.denial) : end(verdict.kind, answer);
}

/** A request the door admitted: what its handler needs (the identity; the gateway's forwarder
 *  also the compiled tenant and the URL as read once), and the way its answer goes back. */
export class Admitted {
  readonly decided: Decided;
  readonly tenant: Tenant;
  /** The verified identity; null on an `auth: none` route and for a preflight sent on. */
  readonly identity: Identity | null;
  /** The request's URL as read once (the forwarder builds the origin's from it). */
  readonly target: RequestUrl;
  /** A CORS preflight of a tenant without `cors`: sent on to the origin without a token. */
  readonly preflight: boolean;
  /** A token this isolate verified before (a token cache hit): what follows from it alone may be
   *  kept for its next request. */
  readonly repeated: boolean;
  /** Set by refuse(): the door logs the answer as this refusal. */
  refusal: Denial | null = null;
  readonly #door: Door;
  readonly #settings: Settings;

  constructor(door: Door, decided: Decided, settings: Settings, tenant: Tenant, target: RequestUrl, preflight: boolean,
    identity: Identity | null) {
    this.#door = door;
    this.#settings = settings;
    this.decided = decided;
    this.tenant = tenant;
    this.identity = identity;
    this.target = target;
    this.preflight = preflight;
    this.repeated = decided.record.tiers.token === 'hit';
  }

  get requestId(): string { return this.decided.record.requestId; }

  /** A refusal after admission (the origin cannot be reached: 502), through the one funnel with
   *  the decision's headers. */
  refuse(denial: Denial): Response {
    this.refusal = denial;
    const { decided } = this;
    return denialResponse(denial,
      { host: this.target.host, requestId: this.requestId, headers: decisionHeaders(decided), challenge: decided.challenge });
  }

  /** The handler's response with the decision's headers, and the decision's log line. `error`: the
   *  handler threw, and `response` is its error answer. */
  answer(response: Response, error?: unknown): Response {
    const { decided } = this;
    const { isolate } = this.#door;
    const now = isolate.now();
    decided.record.ms[this.#door.handlerStep] = now - decided.decidedAt;
    const outcome = this.preflight ? 'preflight' : this.identity === null ? 'public' : 'allowed';
    const options = { sampleRate: this.#settings.logSampleRate, random: this.#door.random, startedAt: decided.startedAt, now };
    // Answered through the funnel after the door admitted it (the forwarder's 502): as it is.
    if (this.refusal !== null) {
      finishDecision(decided.record, { outcome, status: response.status, denial: this.refusal }, options);
      return response;
    }
    // Throws for a status no Response can be made with (an origin's 999): before the log line, so
    // the refusal the caller then answers with (refuse, then answer) is the one logged.
    const answered = passThrough(response, decided, this.#settings.debugTiming);
    // A handler's throw is the handler's (its error answer went out); the log says so.
    const failed: Denial | undefined = error === undefined ? undefined : { error: 'internal_error', note: noteOf(error) };
    finishDecision(decided.record, { outcome, status: answered.status, denial: failed }, options);
    return answered;
  }
}
