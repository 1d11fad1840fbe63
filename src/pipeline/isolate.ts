// The isolate's state (README.md "Observability"): every cache a decision reads, as one plain
// object made once per isolate: verified tokens, tenants, key tiers, introspection answers, tenant
// states, rate-limit leases, DPoP proof replays and nonces. decide() reads and writes it; nothing here decides.
// The Worker's doors (the gateway's fetch, the Verifier RPC entrypoint) share one (workerIsolate);
// each edgeAuth() in a user's Worker makes its own.
//
//   const isolate = createIsolate({ now: systemClock });           // once per isolate
//   const decided = await decide(isolate, request, ioOf(env, settings, waitUntil));
//   isolate.tokenCache?.counters; isolate.states.counters;          // for logs, tests and the bench
import { systemClock, type Clock } from '../base/clock';
import { createIntrospections, type Introspections } from '../introspection/cache';
import { createKeyTiers, type KeyTiers } from '../keys/tiers';
import { createRateLimits, type RateLimits } from '../limits/rate-limits';
import { createDpopNonces, type DpopNonces } from '../possession/dpop-nonce';
import { createProofReplays, type ProofReplays } from '../possession/proof-replays';
import { createTenantStates, type TenantStates } from '../revocation/tenant-states';
import { createTenantStore, type TenantStore } from '../tenants/store';
import { createTokenCache, type TokenCache } from '../verify/token-cache';

export interface Isolate {
  readonly now: Clock;
  /** The verified-token cache, null when off (its counters are for logs and the bench). */
  readonly tokenCache: TokenCache | null;
  /** Tenants by host (its counters and byte sizes are for tests and the bench). */
  readonly tenants: TenantStore;
  readonly keyTiers: KeyTiers;
  /** Introspection answers and the calls under way (10,000 answers or 8 MiB). */
  readonly introspections: Introspections;
  /** The copies of tenant states (their object-call counters are for tests and the bench). */
  readonly states: TenantStates;
  readonly limits: RateLimits;
  readonly replays: ProofReplays;
  readonly nonces: DpopNonces;
}

export interface IsolateOptions {
  now: Clock;
  /** The verified-token cache: this isolate's default (10,000 tokens or 8 MiB), one given (to
   *  read its counters), or false for none (every token verified every time). */
  tokenCache?: TokenCache | false;
}

export function createIsolate(options: IsolateOptions): Isolate {
  const { now } = options;
  return {
    now,
    tokenCache: options.tokenCache === false ? null : options.tokenCache ?? createTokenCache({ now }),
    tenants: createTenantStore({ now }),
    keyTiers: createKeyTiers({ now }),
    introspections: createIntrospections({ now }),
    states: createTenantStates({ now }),
    limits: createRateLimits({ now }),
    replays: createProofReplays({ now }),
    nonces: createDpopNonces({ now }),
  };
}

let shared: Isolate | undefined;

/** The Worker's one isolate state, shared by its doors (the gateway's fetch and the Verifier RPC
 *  entrypoint), made on first use. */
export function workerIsolate(): Isolate {
  shared ??= createIsolate({ now: systemClock });
  return shared;
}
