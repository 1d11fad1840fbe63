// RFC 8936 poll delivery from the SsfStream object's alarm, against the local stack's real
// transmitter (dev/ssf/), through the real TenantState and the whole Worker, on a clock moved by
// assignment (years ahead of the real one, so no alarm fires on its own: runDurableObjectAlarm
// runs each when its time has come). What is measured here is logged as one JSON line per figure
// (`"event": "ssf_poll_figure"`); the assertions are the contract's bounds.
//
// - every pollSeconds a poll with {maxEvents: 100, returnImmediately: true, ack, setErrs}; what
//   was applied is acknowledged on the next poll, what was refused reported in setErrs;
// - a polled event refuses its token within pollSeconds + maxStalenessSeconds (10 runs);
// - a transmitter down for 10 minutes, then 300 queued events: back-off while down (the polls
//   counted), every event applied once, in at most 4 alarms after it returns;
// - racing pollers and a poller that dies between applying and acknowledging: never a SET applied
//   twice, never one acknowledged that was not applied;
// - a hostile transmitter (10 MiB answer, 10,000 SETs, SETs signed by another key, moreAvailable
//   forever): bounded work per alarm, refusals in setErrs, nothing applied that should not be.
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_ANSWER_BYTES, MAX_EVENTS, MAX_ROUNDS, pollStream } from '../../src/events/poll';
import { MAX_POLL_BACKOFF_MS, type SsfStream } from '../../src/events/ssf-stream';
import { compileRecord } from '../../src/tenants/store';
import { tenantStateStub, type TenantState } from '../../src/revocation/tenant-state';
import { revocationSinkOf } from '../../src/events/sink';
import { settingsOf } from '../../src/config/settings';
import { tenantKey } from '../../src/tenants/kv-keys';
import { createKeyTiers } from '../../src/keys/tiers';
import { ADMIN, testEdge, uniqueTenant, type TestEdge } from '../support/gateway';
import { TestIssuer } from '../support/issuer';
import { transmitterPolicyFor, useClock } from '../keys/isolates';
import { BEARER, startTestTransmitter, wireStream, type TestTransmitter } from '../support/ssf';

/** 2030: alarms set from this clock are years away for workerd, so only the test runs them. */
const T0 = 1_900_000_000_000;
const POLL_SECONDS = 10;
const STALENESS_SECONDS = 5;

let edge: TestEdge;
let issuer: TestIssuer;
let transmitter: TestTransmitter;
let stub: DurableObjectStub<SsfStream>;
let id: string;
let host: string;
let logs: string[];
const now = () => edge.now;
const seconds = () => Math.floor(edge.now / 1000);

beforeEach(async () => {
  edge = testEdge({ start: T0, env: { LOG_SAMPLE_RATE: '1' } });
  logs = edge.logs;
  issuer = await TestIssuer.create({ algs: ['ES256'] });
  ({ id, domain: host } = uniqueTenant('pl'));
  host = `api.${host}`;
});
afterEach(async () => {
  edge.restoreLog();
  await transmitter?.close();
});

/** A tenant with a poll transmitter, its stream created through the admin API. */
async function pollingTenant(options: { transmitter?: Record<string, unknown> } = {}) {
  transmitter = await startTestTransmitter({
    audience: `https://${host}/ssf`, push: (request) => edge.fetch(request), now, ...options.transmitter,
  });
  await useClock(transmitterPolicyFor(transmitter), now);
  await runInDurableObject(tenantStateStub(env.TENANT_STATE, id), (instance: TenantState) => { instance.now = now; });
  await edge.putTenant({
    id, hosts: [host], issuers: [{ issuer: issuer.issuer, audiences: [`https://${host}`] }],
    revocation: { maxStalenessSeconds: STALENESS_SECONDS },
    events: { ssf: [{ issuer: transmitter.issuer, audience: `https://${host}/ssf`, delivery: 'poll', pollSeconds: POLL_SECONDS,
      management: { bearerToken: BEARER } }] },
  });
  stub = await wireStream(id, transmitter, now);
  const created = await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/streams`, {
    method: 'POST', headers: ADMIN, body: JSON.stringify({ issuer: transmitter.issuer }),
  }));
  expect(created.status, await created.clone().text()).toBe(201);
  return await created.json() as { stream_id: string; delivery: { endpoint_url: string } };
}

const alarmAt = () => runInDurableObject(stub, (_: SsfStream, state) => state.storage.getAlarm());
/** Moves the clock to the alarm's time (when it is later) and runs it. */
async function runAlarm(): Promise<void> {
  const at = await alarmAt();
  if (at === null) throw new Error('no alarm scheduled');
  if (at > edge.now) edge.advance(at - edge.now);
  expect(await runDurableObjectAlarm(stub)).toBe(true);
}
const polls = () => transmitter.requests.filter((r) => r.path.startsWith('/ssf/poll/'));
const user = (sub: string) => ({ format: 'iss_sub', iss: issuer.issuer, sub });
const access = (sub: string) => issuer.sign({ sub, aud: `https://${host}`, iat: seconds() - 1 }, { now: edge.now });
const status = async (token: string) => (await edge.request(`https://${host}/orders`, { token })).status;
const deliveryStates = async () => (await transmitter.control('/log')).records.map((r: { state: string }) => r.state) as string[];
const audited = () => logs.map((line) => { try { return JSON.parse(line); } catch { return {}; } })
  .filter((line) => line.event === 'revocation_event' && line.tenant === id);
const figure = (name: string, values: Record<string, unknown>) => console.info(JSON.stringify({ event: 'ssf_poll_figure', figure: name, ...values }));
const summary = async () => tenantStateStub(env.TENANT_STATE, id).summary();

describe('the poller', () => {
  it('polls at once after the create, then every pollSeconds, acknowledging on the next poll what it applied', async () => {
    const created = await pollingTenant();
    expect(created.delivery).toMatchObject({ method: 'urn:ietf:rfc:8936', endpoint_url: expect.stringContaining('/ssf/poll/') });
    expect(await alarmAt()).toBe(T0);
    const token = await access('alice');
    await transmitter.control('/events', { type: 'session-revoked', subject: user('alice') });
    await runAlarm();
    expect(polls()).toHaveLength(1);
    expect(polls()[0]!.body).toEqual({ maxEvents: 100, returnImmediately: true, ack: [], setErrs: {} });
    expect(polls()[0]!.authorization).toBe(`Bearer ${BEARER}`);
    expect(await alarmAt()).toBe(edge.now + POLL_SECONDS * 1000);
    expect(await status(token)).toBe(401);
    const [line] = audited();
    expect(line).toMatchObject({ channel: 'ssf', issuer: transmitter.issuer, effect: 'subject_revoked', replayed: false });
    expect(await deliveryStates()).toEqual(['delivered']);
    await runAlarm();
    expect(polls()[1]!.body.ack).toEqual([line.jti]);
    expect(await deliveryStates()).toEqual(['acknowledged']);
  });

  it('processes a polled SET exactly as a pushed one: refusals in setErrs with their RFC 8935 codes, never applied', async () => {
    await pollingTenant();
    const good = await access('bob');
    const forged = await access('mallory');
    // Two SETs signed by a key the transmitter does not publish (one under its own kid), one good.
    await transmitter.control('/faults', { mode: 'foreign-key', times: 1 });
    await transmitter.control('/events', { type: 'credential-change', subject: user('mallory') });
    await transmitter.control('/faults', { mode: 'foreign-key', times: 1, sameKid: true });
    await transmitter.control('/events', { type: 'account-disabled', subject: user('mallory') });
    await transmitter.control('/events', { type: 'credential-change', subject: user('bob') });
    await runAlarm();
    await runAlarm();
    const setErrs = polls()[1]!.body.setErrs as Record<string, { err: string }>;
    expect(Object.values(setErrs).map((e) => e.err).sort()).toEqual(['authentication_failed', 'invalid_key']);
    expect(polls()[1]!.body.ack).toHaveLength(1);
    expect((await deliveryStates()).sort()).toEqual(['acknowledged', 'refused', 'refused']);
    expect(await status(forged)).toBe(200);
    expect(await status(good)).toBe(401);
    expect(logs.filter((line) => line.includes('"revocation_event_refused"'))).toHaveLength(2);
  });

  it('notes a polled verification and stream-updated, shown by GET', async () => {
    const { stream_id: streamId } = await pollingTenant();
    await runAlarm();
    const asked = await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/streams/verify`, {
      method: 'POST', headers: ADMIN, body: JSON.stringify({ issuer: transmitter.issuer }),
    }));
    expect(asked.status).toBe(202);
    await runAlarm();
    const verifiedAt = seconds();
    // A disabled stream drops what it has not delivered: its status change comes on its own.
    await transmitter.control('/status', { stream_id: streamId, status: 'disabled', reason: 'offboarding' });
    await runAlarm();
    const { streams } = await (await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/streams`, { headers: ADMIN }))).json() as any;
    expect(streams[0]).toMatchObject({
      delivery: 'poll', lastVerification: { receivedAt: verifiedAt }, statusUpdate: { status: 'disabled', reason: 'offboarding', at: seconds() },
      lastPollError: null, lastPolledAt: seconds(), status: { status: 'disabled' },
    });
  });
});

describe('event to refusal', () => {
  it(`a polled event refuses its token within pollSeconds + maxStalenessSeconds (${POLL_SECONDS} + ${STALENESS_SECONDS} s), 10 runs`, async () => {
    await pollingTenant();
    await runAlarm();
    const latencies: number[] = [];
    for (let run = 0; run < 10; run++) {
      const token = await access(`runner-${run}`);
      expect(await status(token)).toBe(200);
      // The event comes at any point of the poll period; a request every 100 ms watches for the refusal.
      edge.advance(Math.floor(Math.random() * POLL_SECONDS * 1000));
      await transmitter.control('/events', { type: 'session-revoked', subject: user(`runner-${run}`) });
      const emittedAt = edge.now;
      for (;;) {
        edge.advance(100);
        const due = await alarmAt();
        if (due !== null && due <= edge.now) expect(await runDurableObjectAlarm(stub)).toBe(true);
        if (await status(token) === 401) break;
        if (edge.now - emittedAt > 60_000) throw new Error('never refused');
      }
      latencies.push(edge.now - emittedAt);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const median = (sorted[4]! + sorted[5]!) / 2;
    figure('event_to_refusal', { runs: 10, pollSeconds: POLL_SECONDS, maxStalenessSeconds: STALENESS_SECONDS, medianMs: median,
      worstMs: sorted[9], latenciesMs: latencies, clock: 'injected (simulated time, requests every 100 ms)' });
    expect(sorted[9]).toBeLessThanOrEqual((POLL_SECONDS + STALENESS_SECONDS) * 1000);
  }, 120_000);
});

describe('a transmitter that is down, then returns with 300 queued events', () => {
  it('backs off while down (no alarm storm), then applies every event exactly once in at most 4 alarms', async () => {
    await pollingTenant();
    await runAlarm();
    await transmitter.control('/faults', { mode: 'down' });
    const downAt = edge.now;
    const tokens = await Promise.all(Array.from({ length: 300 }, (_, i) => access(`queued-${i}`)));
    // Events keep coming while it is down: queued at the transmitter.
    for (let i = 0; i < 300; i++) await transmitter.control('/events', { type: 'credential-change', subject: user(`queued-${i}`) });
    let whileDown = 0;
    const delays: number[] = [];
    while ((await alarmAt())! < downAt + 10 * 60_000) {
      const before = edge.now;
      await runAlarm();
      delays.push(edge.now - before);
      whileDown++;
    }
    const refusedDown = (await transmitter.control('/streams')).streams[0].counters.pollsRefusedDown as number;
    expect(refusedDown).toBe(whileDown);
    // Every pollSeconds for 10 minutes would be 60 polls; back-off doubles up to 5 minutes.
    expect(whileDown).toBeLessThanOrEqual(8);
    expect(Math.max(...delays.slice(1))).toBeLessThanOrEqual(MAX_POLL_BACKOFF_MS);

    edge.advance(Math.max(0, downAt + 10 * 60_000 - edge.now));
    await transmitter.control('/faults', undefined, 'DELETE');
    const returnedAt = edge.now;
    const firstPollAfterReturnMs = (await alarmAt())! - returnedAt;
    let after = 0;
    while ((await summary()).revokedSubjects < 300 && after < 10) {
      await runAlarm();
      after++;
    }
    const lines = audited();
    const jtis = new Set(lines.map((line) => line.jti));
    figure('down_then_300', { downMs: 10 * 60_000, pollsWhileDown: whileDown, delaysMs: delays,
      alarmsAfterReturn: after, firstPollAfterReturnMs, applied: lines.filter((l) => !l.replayed).length });
    expect(after).toBeLessThanOrEqual(4);
    expect((await summary()).revokedSubjects).toBe(300);
    expect(lines.filter((line) => !line.replayed)).toHaveLength(300);
    expect(jtis.size).toBe(300);
    await runAlarm();
    expect((await deliveryStates()).filter((state) => state === 'acknowledged')).toHaveLength(300);
    expect(audited().filter((line) => !line.replayed)).toHaveLength(300);
    for (const token of tokens.slice(0, 5)) expect(await status(token)).toBe(401);
  }, 120_000);
});

describe('races', () => {
  it('two alarms at once: the second finds the first at work and polls nothing', async () => {
    await pollingTenant();
    await transmitter.control('/events', { type: 'credential-change', subject: user('race') });
    await runInDurableObject(stub, async (instance: SsfStream) => { await Promise.all([instance.alarm(), instance.alarm()]); });
    expect(polls()).toHaveLength(1);
    expect(audited()).toHaveLength(1);
  });

  it('two pollers of one stream (two isolates, say) apply each SET once and acknowledge only what they applied', async () => {
    await pollingTenant();
    for (let i = 0; i < 30; i++) await transmitter.control('/events', { type: 'credential-change', subject: user(`both-${i}`) });
    const record = (await env.TENANTS.get(tenantKey(id), 'text'))!;
    const compiled = await compileRecord(record, settingsOf(env).secrets);
    if (!compiled.ok) throw new Error('tenant does not compile');
    const transmitterPolicy = compiled.tenant.events!.transmitters.get(transmitter.issuer)!;
    const endpoint = (await transmitter.control('/streams')).streams[0].delivery.endpoint_url as string;
    const poller = () => pollStream({ tenant: compiled.tenant, transmitter: transmitterPolicy, endpoint }, { ack: [], setErrs: {} }, {
      now, keys: createKeyTiers({ now }).source({ issuerKeys: env.ISSUER_KEYS, cache: null, waitUntil: () => {}, allowInsecure: false }),
      sink: revocationSinkOf(tenantStateStub(env.TENANT_STATE, id)), rules: { allowInsecure: false, fetch: (input, init) => transmitter.fetch(new Request(input, init)) },
      authorization: async () => ({ ok: true, value: `Bearer ${BEARER}` }), observe: () => {},
    });
    const [first, second] = await Promise.all([poller(), poller()]);
    // The transmitter hands the same 30 SETs to both (none acknowledged yet).
    expect([first.received, second.received]).toEqual([30, 30]);
    const lines = audited();
    expect(lines.filter((line) => !line.replayed)).toHaveLength(30);
    expect(new Set(lines.filter((line) => !line.replayed).map((line) => line.jti)).size).toBe(30);
    expect(lines.filter((line) => line.replayed)).toHaveLength(30);
    expect((await summary()).revokedSubjects).toBe(30);
    // Each acknowledges what it applied or found applied, and nothing else.
    const applied = new Set(lines.map((line) => line.jti));
    for (const run of [first, second]) {
      expect(run.pending.ack).toHaveLength(30);
      for (const jti of run.pending.ack) expect(applied.has(jti)).toBe(true);
    }
  });

  it('a poller that dies after applying and before acknowledging: the SETs come again, change nothing again, and are acknowledged', async () => {
    await pollingTenant();
    for (let i = 0; i < 3; i++) await transmitter.control('/events', { type: 'credential-change', subject: user(`crash-${i}`) });
    await runAlarm();
    expect((await summary()).revokedSubjects).toBe(3);
    // The ack-carrying poll never reaches the transmitter.
    await runInDurableObject(stub, (instance: SsfStream) => { instance.network = async () => { throw new Error('connection reset'); }; });
    await runAlarm();
    expect(await deliveryStates()).toEqual(['delivered', 'delivered', 'delivered']);
    await wireStream(id, transmitter, now);
    await runAlarm();
    await runAlarm();
    expect(await deliveryStates()).toEqual(['acknowledged', 'acknowledged', 'acknowledged']);
    const lines = audited();
    expect(lines.filter((line) => !line.replayed)).toHaveLength(3);
    expect((await summary()).revokedSubjects).toBe(3);
  });
});

describe('what cannot be processed now', () => {
  it('a SET the tenant state cannot take now is neither acknowledged nor refused: offered again, then applied once', async () => {
    await pollingTenant();
    await transmitter.control('/events', { type: 'credential-change', subject: user('later') });
    const state = tenantStateStub(env.TENANT_STATE, id);
    // The object fails every call it gets meanwhile (its clock is the first thing applyEvents reads).
    await runInDurableObject(state, (instance: TenantState) => { instance.now = () => { throw new Error('TenantState is failing'); }; });
    await runAlarm();
    await runInDurableObject(state, (instance: TenantState) => { instance.now = now; });
    expect((await summary()).revokedSubjects).toBe(0);
    // Not a failure of the endpoint: the next poll comes after pollSeconds, acknowledging and refusing nothing.
    expect(await alarmAt()).toBe(edge.now + POLL_SECONDS * 1000);
    await runAlarm();
    expect(polls()[1]!.body).toMatchObject({ ack: [], setErrs: {} });
    expect((await summary()).revokedSubjects).toBe(1);
    await runAlarm();
    expect(polls()[2]!.body.ack).toHaveLength(1);
    expect(await deliveryStates()).toEqual(['acknowledged']);
    expect(audited().filter((line) => !line.replayed)).toHaveLength(1);
  });

  it('a cached management token the endpoint refuses is replaced once, then the poll goes on', async () => {
    await pollingTenant();
    await transmitter.control('/events', { type: 'credential-change', subject: user('fresh') });
    const record = (await env.TENANTS.get(tenantKey(id), 'text'))!;
    const compiled = await compileRecord(record, settingsOf(env).secrets);
    if (!compiled.ok) throw new Error('tenant does not compile');
    const asked: boolean[] = [];
    const run = await pollStream({
      tenant: compiled.tenant, transmitter: compiled.tenant.events!.transmitters.get(transmitter.issuer)!,
      endpoint: (await transmitter.control('/streams')).streams[0].delivery.endpoint_url,
    }, { ack: [], setErrs: {} }, {
      now, keys: createKeyTiers({ now }).source({ issuerKeys: env.ISSUER_KEYS, cache: null, waitUntil: () => {}, allowInsecure: false }),
      sink: revocationSinkOf(tenantStateStub(env.TENANT_STATE, id)),
      rules: { allowInsecure: false, fetch: (input, init) => transmitter.fetch(new Request(input, init)) },
      authorization: async (fresh) => { asked.push(fresh); return { ok: true, value: fresh ? `Bearer ${BEARER}` : 'Bearer expired' }; },
      observe: () => {},
    });
    expect(asked).toEqual([false, true]);
    expect(run).toMatchObject({ failure: null, acknowledged: 1 });
  });

  it('a poll that throws (KV failing, say) is logged and tried again after a back-off, never dropped', async () => {
    await pollingTenant();
    await runInDurableObject(stub, (instance: SsfStream) => {
      const env = (instance as unknown as { env: Record<string, unknown> }).env;
      (instance as unknown as { env: Record<string, unknown> }).env = { ...env, TENANTS: { get: async () => { throw new Error('KV is down'); } } };
    });
    await runAlarm();
    expect(logs.some((line) => line.includes('"ssf_poll_failed"') && line.includes('KV is down'))).toBe(true);
    // Its config unread, the back-off starts from the default pollSeconds (30).
    expect(await alarmAt()).toBe(edge.now + 2 * 30_000);
    await wireStream(id, transmitter, now);
  });

  it('stops polling (logged) once the tenant is gone', async () => {
    await pollingTenant();
    await runAlarm();
    expect((await edge.fetch(new Request(`http://admin.localhost/tenants/${id}`, { method: 'DELETE', headers: ADMIN }))).status).toBe(204);
    // The deletion deleted the stream, here and there: nothing is left to poll.
    expect(await alarmAt()).toBeNull();
    expect((await transmitter.control('/streams')).streams).toEqual([]);
  });
});

describe('a hostile transmitter', () => {
  it('a 10 MiB answer is not read past its cap: the poll fails, backs off, and nothing is applied', async () => {
    await pollingTenant();
    await runAlarm();
    await transmitter.control('/faults', { mode: 'huge', bytes: 10 * 1024 * 1024 });
    await runAlarm();
    const { streams } = await (await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/streams`, { headers: ADMIN }))).json() as any;
    expect(streams[0].lastPollError).toEqual({ at: seconds(), note: `poll: body over ${MAX_ANSWER_BYTES} bytes` });
    expect(await alarmAt()).toBe(edge.now + 2 * POLL_SECONDS * 1000);
    figure('huge_answer', { answerBytes: 10 * 1024 * 1024, capBytes: MAX_ANSWER_BYTES, outcome: streams[0].lastPollError.note });
  });

  it('10,000 SETs: an answer over the cap is refused, then at most 100 SETs a round and 10 rounds an alarm', async () => {
    await pollingTenant();
    await runAlarm();
    await transmitter.control('/faults', { mode: 'many', count: 10_000 });
    await runAlarm();
    expect(audited()).toHaveLength(0);
    const received: number[] = [];
    for (let alarm = 0; alarm < 2; alarm++) {
      const before = polls().length;
      const applied = audited().length;
      await runAlarm();
      expect(polls().length - before).toBeLessThanOrEqual(MAX_ROUNDS);
      received.push(audited().length - applied);
    }
    figure('ten_thousand_sets', { firstAnswer: 'refused (over the cap)', appliedPerAlarm: received, maxRounds: MAX_ROUNDS, maxEvents: MAX_EVENTS });
    expect(received.every((n) => n <= MAX_ROUNDS * MAX_EVENTS)).toBe(true);
    expect(received[0]).toBe(MAX_ROUNDS * MAX_EVENTS);
    expect(await alarmAt()).toBe(edge.now + POLL_SECONDS * 1000);
  }, 120_000);

  it('more SETs in one answer than maxEvents: the first 100 are processed, the rest left unacknowledged for later', async () => {
    await pollingTenant();
    await runAlarm();
    await transmitter.control('/faults', { mode: 'many', count: 1_000 });
    await runAlarm();
    expect(audited()).toHaveLength(MAX_EVENTS);
    expect(polls().at(-1)).toBeDefined();
  }, 60_000);

  it('moreAvailable forever: rounds end at an empty answer or at 10, and the next alarm waits pollSeconds', async () => {
    await pollingTenant();
    await runAlarm();
    await transmitter.control('/faults', { mode: 'endless' });
    const before = polls().length;
    await runAlarm();
    expect(polls().length - before).toBe(1);
    for (let i = 0; i < 1_500; i++) await transmitter.control('/events', { type: 'credential-change', subject: user(`flood-${i}`) });
    const rounds: number[] = [];
    for (let alarm = 0; alarm < 2; alarm++) {
      const start = polls().length;
      await runAlarm();
      rounds.push(polls().length - start);
      expect(await alarmAt()).toBe(edge.now + POLL_SECONDS * 1000);
    }
    figure('endless_more_available', { queued: 1_500, roundsPerAlarm: rounds, maxRounds: MAX_ROUNDS, applied: audited().length });
    // 1,000 in the first alarm; the other 500 and one empty answer in the second.
    expect(rounds).toEqual([MAX_ROUNDS, 6]);
    expect(audited().filter((line) => !line.replayed)).toHaveLength(1_500);
  }, 120_000);
});
