// The storage side of revocation events (src/revocation/event-ledger.ts) against a real Durable
// Object's SQLite: a TenantState object lends its storage through runInDurableObject, and the test
// brings its own revoked-subject and revoked-session tables as the writers TenantState passes.
// A memory at its capacity forgets the pairs closest to their time; it never refuses an event.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { EventBatch, RevocationEffect } from '../../src/revocation/event-ledger';
import {
  EVENT_LEDGER_SCHEMA, applyEventBatch, eventJtiCount, forgetEventJtis, nextEventJtiExpiry, type EffectWriter,
} from '../../src/revocation/event-ledger';
import { tenantStateStub } from '../../src/revocation/tenant-state';

const NOW = 1_800_000_000;
const WEEK = 7 * 24 * 3600;

/** Runs `body` with a fresh object's storage, the ledger schema and test lists. */
async function withLedger<T>(body: (storage: DurableObjectStorage, write: EffectWriter, lists: () => Record<string, Record<string, number>>) => T): Promise<T> {
  const stub = tenantStateStub(env.TENANT_STATE, `ledger-${crypto.randomUUID()}`);
  return runInDurableObject(stub, (_instance, state) => {
    const { sql } = state.storage;
    sql.exec(EVENT_LEDGER_SCHEMA);
    sql.exec('CREATE TABLE test_revoked (kind TEXT NOT NULL, value TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (kind, value))');
    const write: EffectWriter = (effect: RevocationEffect, at: number) => {
      sql.exec(`INSERT INTO test_revoked (kind, value, at) VALUES (?, ?, ?)
                ON CONFLICT (kind, value) DO UPDATE SET at = MAX(at, excluded.at)`, effect.kind, effect.value, at);
    };
    const lists = () => {
      const out: Record<string, Record<string, number>> = { subject: {}, session: {} };
      for (const row of sql.exec<{ kind: string; value: string; at: number }>('SELECT kind, value, at FROM test_revoked').toArray()) out[row.kind]![row.value] = row.at;
      return out;
    };
    return body(state.storage, write, lists);
  });
}

const batch = (overrides: Partial<EventBatch> = {}): EventBatch => ({
  issuer: 'https://idp.example/', jti: 'j-1', rememberUntil: NOW + WEEK,
  effects: [{ kind: 'session', value: 's-1' }, { kind: 'subject', value: 'u-1' }], ...overrides,
});

describe('applyEventBatch', () => {
  it('applies every effect and remembers the jti; the same (issuer, jti) again changes nothing', async () => {
    await withLedger((storage, write, lists) => {
      expect(applyEventBatch(storage, batch(), NOW, write)).toEqual({ outcome: 'applied' });
      expect(lists()).toEqual({ session: { 's-1': NOW }, subject: { 'u-1': NOW } });
      expect(applyEventBatch(storage, batch({ effects: [{ kind: 'subject', value: 'u-2' }] }), NOW + 60, write)).toEqual({ outcome: 'replayed' });
      expect(lists()).toEqual({ session: { 's-1': NOW }, subject: { 'u-1': NOW } });
      expect(eventJtiCount(storage.sql)).toBe(1);
    });
  });

  it('keys the memory by issuer: another issuer\'s same jti is applied', async () => {
    await withLedger((storage, write) => {
      applyEventBatch(storage, batch(), NOW, write);
      expect(applyEventBatch(storage, batch({ issuer: 'https://other.example/' }), NOW, write)).toEqual({ outcome: 'applied' });
      expect(eventJtiCount(storage.sql)).toBe(2);
    });
  });

  it('remembers until rememberUntil, then applies the jti again (a later revocation time wins)', async () => {
    await withLedger((storage, write, lists) => {
      applyEventBatch(storage, batch(), NOW, write);
      expect(applyEventBatch(storage, batch(), NOW + WEEK - 1, write)).toEqual({ outcome: 'replayed' });
      expect(applyEventBatch(storage, batch({ rememberUntil: NOW + 3 * WEEK }), NOW + WEEK, write)).toEqual({ outcome: 'applied' });
      expect(lists().subject).toEqual({ 'u-1': NOW + WEEK });
      expect(eventJtiCount(storage.sql)).toBe(1);
    });
  });

  it('never refuses an event for a full memory: it forgets the pairs past their time, then those closest to it', async () => {
    await withLedger((storage, write, lists) => {
      const capacity = 3;
      applyEventBatch(storage, batch({ jti: 'soon', rememberUntil: NOW + 100 }), NOW, write, capacity);
      applyEventBatch(storage, batch({ jti: 'later', rememberUntil: NOW + 300 }), NOW, write, capacity);
      applyEventBatch(storage, batch({ jti: 'latest', rememberUntil: NOW + 500 }), NOW, write, capacity);
      const more = applyEventBatch(storage, batch({ jti: 'more', rememberUntil: NOW + 600, effects: [{ kind: 'subject', value: 'u-9' }] }), NOW + 1, write, capacity);
      expect(more).toEqual({ outcome: 'applied' });
      expect(lists().subject).toMatchObject({ 'u-9': NOW + 1 });
      expect(eventJtiCount(storage.sql)).toBe(3);
      // The pair closest to its time went; the others are still replays.
      expect(applyEventBatch(storage, batch({ jti: 'later' }), NOW + 2, write, capacity)).toEqual({ outcome: 'replayed' });
      expect(applyEventBatch(storage, batch({ jti: 'more' }), NOW + 2, write, capacity)).toEqual({ outcome: 'replayed' });
      // A replay of the forgotten one is applied again: a revocation repeated, never one lost.
      expect(applyEventBatch(storage, batch({ jti: 'soon', rememberUntil: NOW + 700 }), NOW + 2, write, capacity)).toEqual({ outcome: 'applied' });
      expect(eventJtiCount(storage.sql)).toBe(3);
      // Pairs past their time make room first.
      expect(applyEventBatch(storage, batch({ jti: 'after', rememberUntil: NOW + 900 }), NOW + 650, write, capacity)).toEqual({ outcome: 'applied' });
      expect(applyEventBatch(storage, batch({ jti: 'soon' }), NOW + 651, write, capacity)).toEqual({ outcome: 'replayed' });
      expect(eventJtiCount(storage.sql)).toBe(2);
    });
  });

  it('writes 100 effects in one transaction', async () => {
    await withLedger((storage, write, lists) => {
      const effects = Array.from({ length: 100 }, (_, i): RevocationEffect => ({ kind: i % 2 ? 'subject' : 'session', value: `v-${i}` }));
      expect(applyEventBatch(storage, batch({ effects }), NOW, write)).toEqual({ outcome: 'applied' });
      expect(Object.keys(lists().subject!)).toHaveLength(50);
      expect(Object.keys(lists().session!)).toHaveLength(50);
    });
  });

  it('remembers a jti whose event changed nothing', async () => {
    await withLedger((storage, write) => {
      expect(applyEventBatch(storage, batch({ effects: [] }), NOW, write)).toEqual({ outcome: 'applied' });
      expect(applyEventBatch(storage, batch({ effects: [] }), NOW, write)).toEqual({ outcome: 'replayed' });
    });
  });

  it('throws for a batch that breaks the contract (a bug), writing nothing', async () => {
    await withLedger((storage, write, lists) => {
      const bad: Partial<EventBatch>[] = [
        { jti: '' }, { jti: 'j'.repeat(257) }, { issuer: '' }, { rememberUntil: NOW }, { rememberUntil: 1.5 },
        { effects: [{ kind: 'subject', value: '' }] }, { effects: [{ kind: 'subject', value: 'v'.repeat(257) }] },
        { effects: [{ kind: 'token' as 'subject', value: 'x' }] },
        { effects: Array.from({ length: 101 }, (_, i) => ({ kind: 'subject' as const, value: `v${i}` })) },
      ];
      for (const override of bad) expect(() => applyEventBatch(storage, batch(override), NOW, write), JSON.stringify(override).slice(0, 60)).toThrow(RangeError);
      expect(lists()).toEqual({ session: {}, subject: {} });
      expect(eventJtiCount(storage.sql)).toBe(0);
    });
  });
});

describe('forgetting jtis', () => {
  it('drops pairs at or past their time, keeps the count, and names the next expiry', async () => {
    await withLedger((storage, write) => {
      expect(nextEventJtiExpiry(storage.sql)).toBeNull();
      applyEventBatch(storage, batch({ jti: 'a', rememberUntil: NOW + 100 }), NOW, write);
      applyEventBatch(storage, batch({ jti: 'b', rememberUntil: NOW + 200 }), NOW, write);
      applyEventBatch(storage, batch({ jti: 'c', rememberUntil: NOW + 300 }), NOW, write);
      expect(nextEventJtiExpiry(storage.sql)).toBe(NOW + 100);
      expect(forgetEventJtis(storage.sql, NOW + 99)).toBe(0);
      expect(forgetEventJtis(storage.sql, NOW + 200)).toBe(2);
      expect(eventJtiCount(storage.sql)).toBe(1);
      expect(nextEventJtiExpiry(storage.sql)).toBe(NOW + 300);
      expect(applyEventBatch(storage, batch({ jti: 'a' }), NOW + 250, write)).toEqual({ outcome: 'applied' });
      expect(eventJtiCount(storage.sql)).toBe(2);
    });
  });
});
