// The event-to-effect mapping and the subject reader are total (fast-check): any JSON value, any
// event type, hostile member names; what they return is well-formed and only ever names a string
// that was in the input, for a tenant issuer when the format is iss_sub.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CAEP_EVENT, EVENT_RULES, RISC_EVENT, SSF_VERIFICATION_EVENT, readEvent } from '../../src/events/event-types';
import { readSubject } from '../../src/events/subjects';
import { compileClaimName } from '../../src/config/claim-names';
import { claimValueKey } from '../../src/revocation/claim-values';
import { audienceHolds, readJti, typeRefusal } from '../../src/events/token-rules';
import { readEventTimes } from '../../src/verify/times';

const TRUSTED = 'https://idp.acme.test/';
const issuers = new Set([TRUSTED]);
const context = { issuers, subjectClaims: { email: compileClaimName('email'), phone_number: null } };

/** Subject-shaped values: the real formats with hostile members mixed in, and any JSON. */
const simple = fc.oneof(
  fc.record({ format: fc.constantFrom('iss_sub', 'opaque', 'email', 'phone_number', 'complex', '__proto__', 'constructor'), iss: fc.oneof(fc.constant(TRUSTED), fc.jsonValue()),
    sub: fc.jsonValue(), id: fc.jsonValue(), email: fc.oneof(fc.string(), fc.jsonValue()), phone_number: fc.oneof(fc.string(), fc.jsonValue()) },
  { requiredKeys: [] }),
  fc.record({ subject_type: fc.constantFrom('iss_sub', 'opaque'), iss: fc.constant(TRUSTED), sub: fc.string(), id: fc.string() }, { requiredKeys: [] }),
  fc.jsonValue(),
);
const subjectValue = fc.oneof(
  simple,
  fc.record({ format: fc.constant('complex'), user: simple, session: simple, device: simple }, { requiredKeys: ['format'] }),
  fc.jsonValue().map((value) => JSON.parse(`{"__proto__": ${JSON.stringify(value ?? null)}, "format": "complex", "user": {"format": "opaque", "id": "x"}}`)),
);
const eventType = fc.oneof(
  fc.constantFrom(...EVENT_RULES.keys(), SSF_VERIFICATION_EVENT, `${CAEP_EVENT}unknown`, `${RISC_EVENT}account-enabled`, '__proto__', 'constructor', 'toString'),
  fc.string(),
);

/** Every string anywhere in a JSON value. */
function stringsIn(value: unknown, into = new Set<string>()): Set<string> {
  if (typeof value === 'string') into.add(value);
  else if (Array.isArray(value)) for (const item of value) stringsIn(item, into);
  else if (typeof value === 'object' && value !== null) for (const key of Object.keys(value)) stringsIn((value as Record<string, unknown>)[key], into);
  return into;
}

describe('readSubject is total', () => {
  it('never throws and only names strings of the input', () => {
    fc.assert(fc.property(fc.oneof(subjectValue, fc.anything()), (value) => {
      const reading = readSubject(value, issuers);
      expect(typeof reading.format).toBe('string');
      const strings = stringsIn(value);
      for (const named of [reading.user, reading.session, reading.claim?.value ?? null]) {
        if (named === null) continue;
        expect(typeof named).toBe('string');
        expect(named.length).toBeGreaterThan(0);
        expect(strings.has(named)).toBe(true);
      }
    }), { numRuns: 2000 });
  });

  it('names an iss_sub user only for a tenant issuer', () => {
    fc.assert(fc.property(fc.string(), fc.string({ minLength: 1 }), (iss, sub) => {
      const reading = readSubject({ format: 'iss_sub', iss, sub }, issuers);
      expect(reading.user).toBe(iss === TRUSTED ? sub : null);
    }));
  });
});

describe('readEvent is total', () => {
  it('never throws; at most one effect, of the kind its rule allows', () => {
    fc.assert(fc.property(eventType, fc.oneof(fc.jsonValue(), fc.record({ subject: subjectValue, status: fc.jsonValue(), state: fc.jsonValue() }, { requiredKeys: [] })),
      fc.option(subjectValue, { nil: undefined }), (type, payload, setSubject) => {
        const reading = readEvent(type, payload, setSubject, context);
        const rule = EVENT_RULES.get(type) ?? 'unknown';
        expect(reading.rule).toBe(rule);
        if (reading.stream !== null) expect(['verification', 'stream_updated']).toContain(rule);
        if (reading.effect === null) return;
        expect(reading.stream).toBeNull();
        expect(['session_or_subject', 'subject']).toContain(rule);
        if (rule === 'subject') expect(reading.effect.kind).not.toBe('session');
        const strings = stringsIn([payload, setSubject]);
        if (reading.effect.kind !== 'claim') expect(strings.has(reading.effect.value)).toBe(true);
        else {
          // Only emails have a claim here: the key of an email of the input, under that claim.
          expect(reading.subject.claim?.format).toBe('email');
          expect(strings.has(reading.subject.claim!.value)).toBe(true);
          expect(reading.effect.value).toBe(claimValueKey('email', 'email', reading.subject.claim!.value));
        }
      }), { numRuns: 2000 });
  });
});

describe('the shared claim rules are total', () => {
  it('never throw on any payload or header', () => {
    fc.assert(fc.property(fc.dictionary(fc.constantFrom('iat', 'nbf', 'exp', 'jti', 'typ', 'aud', '__proto__'), fc.jsonValue()), (claims) => {
      readEventTimes(claims, { nowSeconds: 1_800_000_000, toleranceSeconds: 30, maxAgeSeconds: 300 });
      readJti(claims);
      typeRefusal(claims, 'logout+jwt');
      audienceHolds(claims.aud, (aud) => aud === 'x');
    }), { numRuns: 1000 });
  });
});
