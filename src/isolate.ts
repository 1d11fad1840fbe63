// The isolate's one pipeline: every door this Worker exports (the gateway's fetch and the
// Verifier RPC entrypoint) shares its caches of tenants, keys, states and rate-limit leases.
import { systemClock } from './base/clock';
import { createPipeline } from './gateway/pipeline';

export const isolatePipeline = createPipeline({ now: systemClock });
