// Route conditions after scopes (docs/configuration.md):
// claim conditions (403 access_denied) and step-up, the token's `acr` and the age of its
// `auth_time` (401 insufficient_user_authentication). Compiled once per route, combined for the
// routes a request reaches, and evaluated on every request from the verified payload and `now`:
// a verified-token cache hit brings the same payload back later, never a verdict.
//
//   const claimsHeld = checkClaims(route, token.claims);     // after scopes
//   if (!claimsHeld.ok) return claimsHeld;                   // 403 access_denied
//   const stepUp = checkStepUp(route, token.claims, now());
//   if (!stepUp.ok) return stepUp;                           // 401 insufficient_user_authentication
//
// Several routes apply to one request when the path's readings reach more than one (routes.ts);
// the request is held to each of them:
// - claims: every condition of every route holds (the same claim listed by two routes must hold
//   a value each of them accepts);
// - acr: the token's `acr` must be accepted by every route that lists acr values, so the
//   challenge names their intersection, in the order of the first such route (table order: the
//   order of preference RFC 9470 gives `acr_values`). An empty intersection can be met by no
//   login at all: that is 403 access_denied, not a step-up challenge the client would loop on;
// - maxAuthAgeSeconds: the smallest one, which meets every route's.
import { deny, ok, type Outcome } from '../base/denial';
import { compileClaimName, type ClaimReader } from '../config/claim-names';

/** An accepted claim value: JSON scalars, compared as JSON values (1 and "1" differ). */
export type ClaimValue = string | number | boolean;

export interface ClaimCondition {
  readonly claim: ClaimReader;
  readonly accepted: ReadonlySet<ClaimValue>;
}

/** What the applied routes require of the user's authentication (RFC 9470). */
export interface StepUp {
  /** The acr values every route that lists some accepts, in order of preference; null when no
   *  route lists acr values; empty when no value satisfies them all. */
  readonly acr: readonly string[] | null;
  /** The smallest maxAuthAgeSeconds of the routes; null when none sets one. */
  readonly maxAuthAgeSeconds: number | null;
}

/** What one route requires after its scopes, as configured (routes.ts Route). */
export interface RouteRequirements {
  readonly claims: readonly ClaimCondition[];
  readonly acr: readonly string[] | null;
  readonly maxAuthAgeSeconds: number | null;
}

/** The conditions of one match, built once per route and per combination of routes. */
export interface RouteConditions {
  readonly claims: readonly ClaimCondition[];
  readonly stepUp: StepUp | null;
}

export const NO_CONDITIONS: RouteConditions = Object.freeze({ claims: Object.freeze([]), stepUp: null });

/** A route's `claims` as conditions, in the order written. */
export function compileClaimConditions(claims: Readonly<Record<string, readonly ClaimValue[]>> | undefined): readonly ClaimCondition[] {
  if (claims === undefined) return Object.freeze([]);
  return Object.freeze(Object.entries(claims).map(([name, values]) =>
    Object.freeze({ claim: compileClaimName(name), accepted: new Set(values) })));
}

/** The conditions of several applied routes (see the header for how they combine). */
export function combineConditions(routes: readonly RouteRequirements[]): RouteConditions {
  const claims = routes.flatMap((route) => route.claims);
  let acr: string[] | null = null;
  let maxAuthAgeSeconds: number | null = null;
  for (const route of routes) {
    if (route.acr !== null) acr = acr === null ? [...new Set(route.acr)] : acr.filter((value) => route.acr!.includes(value));
    if (route.maxAuthAgeSeconds !== null) maxAuthAgeSeconds = Math.min(maxAuthAgeSeconds ?? Infinity, route.maxAuthAgeSeconds);
  }
  if (claims.length === 0 && acr === null && maxAuthAgeSeconds === null) return NO_CONDITIONS;
  return Object.freeze({
    claims: Object.freeze(claims),
    stepUp: acr === null && maxAuthAgeSeconds === null ? null : Object.freeze({ acr: acr && Object.freeze(acr), maxAuthAgeSeconds }),
  });
}

const PASSED: Outcome<void> = ok(undefined);

/** Every claim condition holds: the claim is one of its accepted values or, when it is an array,
 *  holds one. Notes name the configured claim, never a value of the token. */
export function checkClaims(match: Pick<RouteConditions, 'claims'>, payload: Readonly<Record<string, unknown>>): Outcome<void> {
  for (const condition of match.claims) {
    if (!holds(condition.claim.read(payload), condition.accepted)) {
      return deny({ error: 'access_denied', note: `the ${condition.claim.name} claim holds no accepted value` });
    }
  }
  return PASSED;
}

function holds(value: unknown, accepted: ReadonlySet<ClaimValue>): boolean {
  if (Array.isArray(value)) return value.some((item) => isScalar(item) && accepted.has(item));
  return isScalar(value) && accepted.has(value);
}

// A Set compares scalars as JSON does: by type and value (1 and "1", true and "true" differ).
const isScalar = (value: unknown): value is ClaimValue =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

/** The token's `acr` is one the routes accept, and now − `auth_time` is within the smallest
 *  `maxAuthAgeSeconds`, in whole seconds as maxTokenAgeSeconds is (verify/times.ts), without the
 *  clock tolerance: the age is the route's own bound. A missing or non-string `acr`, or a
 *  missing or non-finite `auth_time`, does not meet a requirement. */
export function checkStepUp(
  match: Pick<RouteConditions, 'stepUp'>, payload: Readonly<Record<string, unknown>>, nowMs: number,
): Outcome<void> {
  const stepUp = match.stepUp;
  if (stepUp === null) return PASSED;
  const { acr, maxAuthAgeSeconds } = stepUp;
  if (acr !== null && acr.length === 0) return deny({ error: 'access_denied', note: 'the applied routes accept no common acr value' });
  let unmet: string | null = null;
  if (acr !== null) {
    const given = own(payload, 'acr');
    if (typeof given !== 'string' || !acr.includes(given)) unmet = given === undefined ? 'no acr' : 'acr not accepted';
  }
  if (maxAuthAgeSeconds !== null) {
    const authTime = own(payload, 'auth_time');
    if (typeof authTime !== 'number' || !Number.isFinite(authTime)) unmet = join(unmet, 'no usable auth_time');
    else if (Math.floor(nowMs / 1000) - authTime > maxAuthAgeSeconds) unmet = join(unmet, `auth_time older than ${maxAuthAgeSeconds} s`);
  }
  if (unmet === null) return PASSED;
  return deny({ error: 'insufficient_user_authentication', acrValues: acr, maxAge: maxAuthAgeSeconds, note: unmet });
}

const join = (a: string | null, b: string) => (a === null ? b : `${a}; ${b}`);
const own = (payload: Readonly<Record<string, unknown>>, name: string): unknown =>
  Object.hasOwn(payload, name) ? payload[name] : undefined;
