// A deadline for the Durable Object calls on the request path: a hung object must not hold a
// request for as long as the platform would wait. Past the deadline the call counts as an
// unreachable object (TenantState: the grace period, then 503; RateLimiter: admit and log).
//
//   const snapshot = await withDeadline(stub.snapshot(), OBJECT_DEADLINE_MS, 'TenantState');

/** An object in another region answers within a few hundred ms; this is far past that. */
export const OBJECT_DEADLINE_MS = 2_000;

export function withDeadline<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
  let cancel = () => {};
  const expired = new Promise<never>((_, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    cancel = () => clearTimeout(timer);
  });
  // The timer is cleared either way: a pending one would keep the request (or object) busy.
  return Promise.race([call, expired]).finally(() => cancel());
}
