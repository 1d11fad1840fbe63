// One structured JSON line per decision (SPEC.md "Observability"). Denials always, allowed
// decisions sampled at LOG_SAMPLE_RATE. Never a token, never a full claim set.
import type { KeyTier } from '../keys/key-source';

export interface DecisionRecord {
  requestId: string;
  host: string;
  tenant?: string;
  route?: string;
  outcome: 'allowed' | 'public' | 'preflight' | 'metadata' | 'denied';
  status?: number;
  error?: string;
  reason?: string;
  /** A short, token-free note from the step that decided (e.g. which fetch failed). */
  note?: string;
  issuer?: string;
  kid?: string;
  tiers: { tenant?: 'memory' | 'kv'; state?: 'memory' | 'object' | 'grace' | 'none'; keys?: KeyTier; token?: 'hit' };
  ms: Record<string, number>;
}

/** Whether this decision's line is written: the sampling comes before the line is built. */
export function isLogged(record: DecisionRecord, sampleRate: number, random: () => number): boolean {
  return record.outcome === 'denied' || random() < sampleRate;
}

export function logDecision(record: DecisionRecord, options: { sampleRate: number; random: () => number }): void {
  if (!isLogged(record, options.sampleRate, options.random)) return;
  writeDecision(record);
}

export function writeDecision(record: DecisionRecord): void {
  console.log(JSON.stringify({ event: 'decision', ...record }));
}

/** LOG_SAMPLE_RATE as a number in [0, 1]; anything unparsable logs everything. */
export function sampleRateOf(value: string | undefined): number {
  const rate = Number(value);
  return Number.isFinite(rate) ? Math.min(1, Math.max(0, rate)) : 1;
}
