// What the event endpoint tests share: a tenant compiled from a config, a fake RevocationSink
// with the capability's semantics (one call per message, (issuer, jti) remembered until its time),
// captured audit lines, real key tiers over the auxiliary issuer Worker, and hand-made tokens.
//
//   const sink = new FakeSink(now);  const lines: AuditLine[] = [];
//   const deps = { now, keys: isolate(now).keys, sink, audit: (line) => lines.push(line) };
//   const response = await handleSsfPush(ssfRequest(set), tenant, deps);
import { SignJWT, base64url } from 'jose';
import { expect } from 'vitest';
import type { AuditLine } from '../../src/events/audit';
import type { RevocationSink } from '../../src/events/sink';
import type { BatchResult, EventBatch } from '../../src/revocation/event-ledger';
import { parseTenantConfig, type TenantConfigInput } from '../../src/config/schema';
import { compileTenant, type Tenant } from '../../src/tenants/tenant';

export function tenantOf(config: Partial<TenantConfigInput> & Pick<TenantConfigInput, 'issuers'>): Tenant {
  const parsed = parseTenantConfig({ id: 'acme', hosts: ['api.acme.test'], ...config });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return compileTenant(parsed.config);
}

/** The capability's semantics in memory: a remembered (issuer, jti) is a replay until its time. */
export class FakeSink implements RevocationSink {
  readonly batches: EventBatch[] = [];
  readonly #remembered = new Map<string, number>();
  /** Set to make the next calls fail this way. */
  failure: 'throw' | null = null;

  constructor(private readonly now: () => number) {}

  async applyEvents(batch: EventBatch): Promise<BatchResult> {
    if (this.failure === 'throw') throw new Error('TenantState did not answer within 2000 ms');
    this.batches.push(batch);
    const key = `${batch.issuer}\n${batch.jti}`;
    const until = this.#remembered.get(key);
    if (until !== undefined && until > this.now() / 1000) return { outcome: 'replayed' };
    this.#remembered.set(key, batch.rememberUntil);
    return { outcome: 'applied' };
  }

  /** Every revocation the sink was asked for, as "kind:value". */
  get effects(): string[] {
    return this.batches.flatMap((b) => b.effects.map((e) => `${e.kind}:${e.value}`));
  }
}

export const segment = (value: unknown): string => base64url.encode(JSON.stringify(value));
/** A token assembled by hand (for what jose refuses to sign). */
export const raw = (header: unknown, payload: unknown, signature = 'c2ln'): string => `${segment(header)}.${segment(payload)}.${signature}`;

/** An HS256 token: signed with a secret the attacker knows. */
export function hmacToken(payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', ...header }).sign(new TextEncoder().encode('a-secret-anyone-knows-0123456789'));
}

/** The same token with its signature's first character changed: a bad signature, same kid. */
export function tampered(token: string): string {
  const dot = token.lastIndexOf('.');
  const first = token[dot + 1] === 'A' ? 'B' : 'A';
  return `${token.slice(0, dot + 1)}${first}${token.slice(dot + 2)}`;
}

/** No audit line and no answer body holds the token or a long piece of it. */
export function expectNoToken(token: string, ...texts: string[]): void {
  for (const text of texts) {
    for (const part of token.split('.')) if (part.length > 8) expect(text).not.toContain(part);
  }
}

export const linesText = (lines: readonly AuditLine[]): string => lines.map((line) => JSON.stringify(line)).join('\n');
