// One structured JSON line per decision (README.md "Observability"): request id, tenant, host,
// route, outcome, reason, issuer, kid, cache tiers hit and timings. Denials always, allowed
// decisions sampled at LOG_SAMPLE_RATE. Never a token, never a full claim set.
//
//   const decided = await decide(isolate, request, io);      // decide() alone writes decided.record
//   finishDecision(decided.record, { outcome: 'allowed', status: 200 },   // the door, with one call
//     { sampleRate, random, startedAt: decided.startedAt, now: now() });
import type { Denial } from '../base/denial';
import type { IntrospectionTier } from '../introspection/cache';
import type { KeyTier } from '../keys/key-source';

export type DecisionOutcome = 'allowed' | 'public' | 'preflight' | 'metadata' | 'event' | 'denied';

export interface DecisionRecord {
  requestId: string;
  host: string;
  tenant?: string;
  route?: string;
  outcome: DecisionOutcome;
  status?: number;
  error?: string;
  reason?: string;
  /** A short, token-free note from the step that decided (e.g. which fetch failed). */
  note?: string;
  issuer?: string;
  kid?: string;
  tiers: {
    tenant?: 'memory' | 'kv'; state?: 'memory' | 'object' | 'grace' | 'none'; keys?: KeyTier; token?: 'hit';
    introspection?: IntrospectionTier;
  };
  ms: Record<string, number>;
}

/** The end of a decision, whichever door: its outcome, status and (when refused) the denial. */
export interface DecisionEnd {
  readonly outcome: DecisionOutcome;
  readonly status: number;
  readonly denial?: Denial;
}

/** The one place a decision's line is finished and written. Sampling comes before the line is
 *  built, so an unlogged decision costs one random number. */
export function finishDecision(record: DecisionRecord, end: DecisionEnd,
  options: { sampleRate: number; random: () => number; startedAt: number; now: number }): void {
  record.outcome = end.outcome;
  record.status = end.status;
  const denial = end.denial;
  if (denial !== undefined) {
    record.outcome = 'denied';
    record.error = denial.error;
    if (denial.error === 'invalid_token' || denial.error === 'invalid_dpop_proof') record.reason = denial.reason;
    if ('note' in denial && denial.note !== undefined) record.note = denial.note;
  }
  if (record.outcome !== 'denied' && !(options.random() < options.sampleRate)) return;
  record.ms.total = options.now - options.startedAt;
  console.log(JSON.stringify({ event: 'decision', ...record }));
}
