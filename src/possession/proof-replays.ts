// DPoP replay detection as the request path sees it (docs/dpop.md): a
// verified proof's jti is claimed at its DpopReplay object, and the answer becomes an Outcome.
//
//   const replays = createProofReplays({ now });          // once per isolate
//   const claim = { tenantId, jkt: proof.jkt, jti: proof.jti, expiresAt: proof.expiresAt };
//   replays.known(claim);         // at verification: a replay this isolate already knows of, no call
//   const used = await replays.claim(claim, { dpopReplay: env.DPOP_REPLAY });   // last, once every step admitted
//   if (!used.ok) return used;    // invalid_dpop_proof dpop_replayed, or 503 revocation_unavailable
//
// Two moments. `claim` records the proof as used, so the pipeline calls it last, for a request
// every other step admitted (a refused request never writes a row: contract, "Request
// outcomes"). `known` answers from memory alone, so verification can refuse a replay it has seen
// before the later steps spend anything on it.
//
// Fail closed. A proof whose jti cannot be recorded (the object unreachable, past the deadline,
// or full) is refused: accepting it would let the same proof through again in another isolate.
// The answer is 503 `revocation_unavailable` with Retry-After, not a 401: the proof is fine and a
// client should retry with a new one, not drop its key; and the replay record is the tenant's
// revocation state for proofs (a jti spent is a jti revoked), which that error already names.
//
// The isolate remembers the proofs the object refused as replays (bounded, until each proof's
// expiry), so a replay flood into one isolate costs one call per proof, not one per request. It
// never remembers "unused": only the object can say that; and it does not write down every fresh
// proof, which honest traffic would pay for on every request and an attacker replays at most
// once more before it is remembered. Each request makes its own call; no promise is shared between requests.
//
// The memory is per isolate and keyed by (tenant, key, jti), whatever object decides: changing
// how keys map to objects (dpopReplayName) leaves it as it is. Such a change does move keys to new
// objects, and a proof recorded on the old one could be used once more on the new one within its
// window (at most dpop.maxAgeSeconds plus the clock tolerance; docs/dpop.md).
import { BoundedCache } from '../base/cache';
import type { Clock } from '../base/clock';
import { deny, invalidProof, noteOf, ok, type Outcome } from '../base/denial';
import { OBJECT_DEADLINE_MS, withDeadline } from '../base/deadline';
import { dpopReplayStub, type DpopReplay, type ProofClaim } from './dpop-replay';

/** What a failed-closed answer tells the client to wait when the object did not say. */
export const REPLAY_UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

export interface ProofReplaysIo {
  readonly dpopReplay: DurableObjectNamespace<DpopReplay>;
}

export interface ProofReplays {
  /** Refuses a replay this isolate already knows of (the object refused it before); never calls. */
  known(proof: ProofClaim): Outcome<void>;
  /** Records the proof as used at its object: fresh, or why not. */
  claim(proof: ProofClaim, io: ProofReplaysIo): Promise<Outcome<void>>;
  readonly counters: Readonly<ProofReplayCounters>;
}

export interface ProofReplayCounters {
  /** Replays refused from this isolate's memory, without a call. */
  local: number;
  objectCalls: number;
  replayed: number;
  /** Calls that failed, timed out, or found the object full: refused (fail closed). */
  unavailable: number;
}

const PASSED: Outcome<void> = ok(undefined);

export function createProofReplays(options: { now: Clock; maxEntries?: number; objectDeadlineMs?: number }): ProofReplays {
  const now = options.now;
  const deadlineMs = options.objectDeadlineMs ?? OBJECT_DEADLINE_MS;
  // A key is at most 63 + 128 + 256 characters: 10,000 of them stay under 10 MiB.
  const seen = new BoundedCache<string, true>({ now, maxEntries: options.maxEntries ?? 10_000, maxBytes: 10 * 1024 * 1024 });
  const counters: ProofReplayCounters = { local: 0, objectCalls: 0, replayed: 0, unavailable: 0 };

  function remember(name: string, proof: ProofClaim): void {
    const ttlMs = proof.expiresAt * 1000 - now();
    if (ttlMs > 0) seen.set(name, true, { ttlMs, bytes: name.length * 2 });
  }

  const nameOf = (proof: ProofClaim) => `${proof.tenantId}\n${proof.jkt}\n${proof.jti}`;

  function known(proof: ProofClaim): Outcome<void> {
    if (seen.get(nameOf(proof)) === undefined) return PASSED;
    counters.local++;
    counters.replayed++;
    return invalidProof('dpop_replayed', 'seen in this isolate');
  }

  async function claim(proof: ProofClaim, io: ProofReplaysIo): Promise<Outcome<void>> {
    const name = nameOf(proof);
    const memory = known(proof);
    if (!memory.ok) return memory;
    counters.objectCalls++;
    let answer;
    try {
      answer = await withDeadline(dpopReplayStub(io.dpopReplay, proof).claim(proof), deadlineMs, 'DpopReplay');
    } catch (error) {
      counters.unavailable++;
      const note = `DPoP replay check: ${noteOf(error)}`;
      return deny({ error: 'revocation_unavailable', retryAfterSeconds: REPLAY_UNAVAILABLE_RETRY_AFTER_SECONDS, note });
    }
    switch (answer.verdict) {
      case 'fresh':
        return PASSED;
      case 'replayed':
        remember(name, proof);
        counters.replayed++;
        return invalidProof('dpop_replayed');
      case 'full':
        counters.unavailable++;
        const note = 'DPoP replay check: object full';
        return deny({ error: 'revocation_unavailable', retryAfterSeconds: answer.retryAfterSeconds, note });
    }
  }

  return { known, claim, counters };
}
