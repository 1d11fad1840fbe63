// The write-only merge (tenants/secrets.ts), as properties over any config holding secrets:
// what GET shows, PUT back (issuers and transmitters in any order), keeps every secret with its
// owner; unchanged and in place, it keeps the stored text itself (so the ETag stays).
import { base64url } from 'jose';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKeyring } from '../../src/secrets/keyring';
import { parseTenantConfig, secretSlots, type TenantConfig } from '../../src/config/schema';
import { openSecrets, redactConfig, sealConfig } from '../../src/tenants/secrets';

const keyring = createKeyring({ SECRETS_KEY: base64url.encode(new Uint8Array(32).fill(3)) });

const vschar = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 });
const b64token = fc.string({ unit: fc.constantFrom(...'ABCxyz019-._~+/'), minLength: 1, maxLength: 40 });

/** A config with 1-4 issuers (at most one introspecting) and 0-3 transmitters, each with or
 *  without a management secret. */
const configs = fc.record({
  issuers: fc.uniqueArray(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 4 }),
  introspecting: fc.nat(),
  introspection: fc.oneof(
    fc.record({ clientAuth: fc.constantFrom('client_secret_basic', 'client_secret_post'), clientSecret: vschar,
      endpoint: fc.option(fc.constant('https://idp.example/introspect'), { nil: null }) }),
    fc.constant({ clientAuth: 'private_key_jwt' }),
    fc.constant(null),
  ),
  transmitters: fc.uniqueArray(fc.record({
    n: fc.integer({ min: 0, max: 50 }),
    management: fc.oneof(fc.constant(null), b64token.map((bearerToken) => ({ bearerToken })),
      vschar.map((clientSecret) => ({ clientId: 'edge', clientSecret }))),
  }), { maxLength: 3, selector: (t) => t.n }),
}).map(({ issuers, introspecting, introspection, transmitters }) => ({
  id: 'acme', hosts: ['api.acme.com'],
  issuers: issuers.map((n, i) => ({
    issuer: `https://idp${n}.example/`, audiences: ['x'],
    ...(introspection !== null && i === introspecting % issuers.length ? { introspection: { clientId: 'edge', ...introspection } } : {}),
  })),
  events: { ssf: transmitters.map((t) => ({ issuer: `https://tr${t.n}.example`, audience: 'a', management: t.management })) },
}));

function parsed(input: unknown, source: 'plain' | 'written'): TenantConfig {
  const result = parseTenantConfig(input, source);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.config;
}

/** owner -> plaintext, from a written config or an opened stored one. */
async function secretsByOwner(config: TenantConfig, stored: boolean): Promise<Map<string, string>> {
  if (!stored) return new Map(secretSlots(config).map((slot) => [slot.owner, slot.value as string]));
  const opened = await openSecrets(config, keyring);
  if (!opened.ok) throw new Error(JSON.stringify(opened.issues));
  return new Map(secretSlots(config).map((slot) => [slot.owner, opened.opened.values.get(slot.pointer)!]));
}

async function sealed(written: TenantConfig, stored: TenantConfig | null): Promise<TenantConfig> {
  const result = await sealConfig(written, stored, keyring);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.config;
}

describe('the write-only merge', () => {
  it('GET then PUT back keeps every secret, byte for byte in place', async () => {
    await fc.assert(fc.asyncProperty(configs, async (input) => {
      const written = parsed(input, 'written');
      const stored = await sealed(written, null);
      expect(await secretsByOwner(stored, true)).toEqual(await secretsByOwner(written, false));
      const view = redactConfig(stored);
      expect(JSON.stringify(view)).not.toMatch(/sealed/);
      const again = await sealed(parsed(JSON.parse(JSON.stringify(view)), 'written'), stored);
      expect(JSON.stringify(again)).toBe(JSON.stringify(stored));
    }), { numRuns: 60 });
  });

  it('keeps every secret with its owner when issuers and transmitters come back in another order', async () => {
    await fc.assert(fc.asyncProperty(configs, fc.nat(), async (input, seed) => {
      const written = parsed(input, 'written');
      const stored = await sealed(written, null);
      const view = redactConfig(stored) as { issuers: unknown[]; events: { ssf: unknown[] } };
      const rotate = <T>(items: T[]) => items.map((_, i) => items[(i + seed) % items.length]!);
      const reordered = { ...view, issuers: rotate(view.issuers), events: { ...view.events, ssf: rotate(view.events.ssf).reverse() } };
      const again = await sealed(parsed(reordered, 'written'), stored);
      expect(await secretsByOwner(again, true)).toEqual(await secretsByOwner(written, false));
    }), { numRuns: 60 });
  });

  it('seals a secret written as itself anew only when it changed', async () => {
    await fc.assert(fc.asyncProperty(configs, vschar, async (input, replacement) => {
      const written = parsed(input, 'written');
      const stored = await sealed(written, null);
      expect(JSON.stringify(await sealed(written, stored))).toBe(JSON.stringify(stored));
      const slot = secretSlots(written).find((s) => s.owner.includes('clientSecret'));
      if (slot === undefined) return;
      const changed = structuredClone(written) as unknown as Record<string, unknown>;
      let at = changed as Record<string | number, unknown>;
      for (const key of slot.path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
      at[slot.path[slot.path.length - 1]!] = replacement;
      const resealed = await sealed(changed as unknown as TenantConfig, stored);
      expect((await secretsByOwner(resealed, true)).get(slot.owner)).toBe(replacement);
    }), { numRuns: 40 });
  });
});
