// The SsfStream Durable Object (binding SSF_STREAMS), one per (tenant, SSF transmitter): the
// home of the edge's stream at that transmitter (docs/events.md "Streams"), and its one poller.
// The record (stream-record.ts) lives here, not in TenantState: every isolate reads TenantState
// on the request path, and polling (network calls of seconds, retries, back-off) must not delay
// those reads; nor does a poll need more than one object per stream, which this is by its name.
//
//   const stream = ssfStreamStub(env.SSF_STREAMS, 'acme', 'https://acme.okta.com');
//   await stream.create({ tenantId: 'acme', issuer, record });   // record: the Directory's stored text
//   await stream.describe({ ... }); await stream.verify({ ... }); await stream.remove({ ..., force: false });
//   await stream.admitPush({ tenantId, issuer, authorization, observation });   // the push endpoint, per SET
//   alarm(): one poll (events/poll.ts) for a poll stream, then the next in pollSeconds, or later
//            while the endpoint fails (back-off up to 5 minutes).
//
// The alarm reads the tenant's record from KV (`tenant/<id>`), opens its secrets with SECRETS_KEY
// and compiles it, once per stored text; it stops (and logs) when the tenant or the transmitter
// is gone. Only one alarm runs at a time per object, and a poll in progress makes a second one
// return at once; a SET is applied through the tenant state's event ledger either way, so a
// redelivery or a race is a replay, acknowledged and changing nothing again. Tests replace `now`
// and `network` on the instance (runInDurableObject).
import { DurableObject } from 'cloudflare:workers';
import { systemClock, type Clock } from '../base/clock';
import { noteOf } from '../base/denial';
import { DEFAULTS } from '../config/schema';
import { settingsOf, type SettingsVars } from '../config/settings';
import type { SecretsKeyring } from '../secrets/keyring';
import type { IssuerKeys } from '../keys/issuer-keys';
import { createKeyTiers } from '../keys/tiers';
import { tenantStateStub, type TenantState } from '../revocation/tenant-state';
import { tenantKey } from '../tenants/kv-keys';
import { compileRecord, type Compiled } from '../tenants/store';
import type { Tenant, TransmitterPolicy } from '../tenants/tenant';
import type { SetObservation } from './event-types';
import { pollStream, type PollRun } from './poll';
import { revocationSinkOf } from './sink';
import { observationOf } from './ssf';
import {
  discoverTransmitter, managementAuthorization, type CallFailure, type ClientResult, type HeldToken, type TokenStore,
  type TransmitterMetadata,
} from './stream-client';
import {
  admitPush, createManagedStream, describeStream, noteSet, pushSecretAad, removeManagedStream, tokenAad, verifyManagedStream,
  type StreamIo, type StreamOutcome, type StreamView,
} from './stream-management';
import { NO_PENDING, streamStore, type PollNotes, type StreamRow, type StreamStore } from './stream-record';

/** The bindings the object uses (the Worker's Env has them all). */
export interface SsfStreamBindings extends SettingsVars {
  readonly TENANTS: KVNamespace;
  readonly TENANT_STATE: DurableObjectNamespace<TenantState>;
  readonly ISSUER_KEYS: DurableObjectNamespace<IssuerKeys>;
}

/** An admin call: the tenant's stored record (from the Directory, so a config just written is
 *  what the call uses) and the transmitter it is about. */
export interface StreamCall {
  readonly tenantId: string;
  readonly issuer: string;
  readonly record: string;
}

type Refused = { ok: false; refusal: { error: 'invalid_request'; description: string } };

/** The longest back-off between polls of an endpoint that fails. */
export const MAX_POLL_BACKOFF_MS = 5 * 60_000;
const DEFAULT_POLL_SECONDS = DEFAULTS.ssf.pollSeconds as number;
/** A transmitter's metadata is read again after this long. */
const METADATA_TTL_MS = 10 * 60_000;

/** The object of one tenant's stream at one transmitter: the one place its name is derived. */
export function ssfStreamStub(namespace: DurableObjectNamespace<SsfStream>, tenantId: string, issuer: string):
  DurableObjectStub<SsfStream> {
  return namespace.get(namespace.idFromName(JSON.stringify([tenantId, issuer])));
}

/** How long the alarm waits after `failures` failed polls in a row: pollSeconds, doubled per
 *  failure, at most MAX_POLL_BACKOFF_MS. */
export function pollDelayMs(pollSeconds: number, failures: number): number {
  return Math.min(MAX_POLL_BACKOFF_MS, pollSeconds * 1000 * 2 ** Math.min(failures, 16));
}

export class SsfStream extends DurableObject<SsfStreamBindings> {
  now: Clock = systemClock;
  /** The network every transmitter call goes through. */
  network: typeof fetch = (input, init) => fetch(input, init);
  /** SECRETS_KEY (and SECRETS_KEY_PREVIOUS) as the bindings give them; tests replace it to rotate. */
  keyring: SecretsKeyring | null = null;

  readonly #store: StreamStore;
  readonly #keys = createKeyTiers({ now: () => this.now() });
  #compiled: { text: string; compiled: Compiled } | null = null;
  readonly #metadata = new Map<string, { value: TransmitterMetadata; until: number }>();
  readonly #heldTokens = new Map<string, HeldToken>();
  #pushSecret: { sealed: string; secret: string } | null = null;
  #polling = false;

  constructor(ctx: DurableObjectState, env: SsfStreamBindings) {
    super(ctx, env);
    this.#store = streamStore(ctx.storage.sql);
  }

  async create(call: StreamCall): Promise<StreamOutcome<Record<string, unknown>>> {
    const found = await this.#transmitterOf(call);
    return found.ok ? createManagedStream(this.#io(call.tenantId, call.issuer), found.tenant, found.transmitter) : found;
  }

  async describe(call: StreamCall): Promise<StreamOutcome<StreamView>> {
    const found = await this.#transmitterOf(call);
    return found.ok ? { ok: true, value: await describeStream(this.#io(call.tenantId, call.issuer), found.transmitter) } : found;
  }

  async verify(call: StreamCall): Promise<StreamOutcome<{ requestedAt: number }>> {
    const found = await this.#transmitterOf(call);
    return found.ok ? verifyManagedStream(this.#io(call.tenantId, call.issuer), found.transmitter) : found;
  }

  /** `force`: deleted here whatever the transmitter answers (the tenant is being deleted). A
   *  transmitter the config no longer names can only be forgotten here. */
  async remove(call: StreamCall & { force: boolean }): Promise<StreamOutcome<{ atTransmitter: CallFailure | null }>> {
    const found = await this.#transmitterOf(call);
    const transmitter = found.ok ? found.transmitter : null;
    const removed = await removeManagedStream(this.#io(call.tenantId, call.issuer), transmitter,
      { force: call.force || transmitter === null });
    // No stream kept (deleted, or never there): nothing stays, not even a management token.
    if (this.#store.read() === null) {
      this.#store.remove();
      await this.ctx.storage.deleteAll();
    }
    return removed;
  }

  /** A push from the transmitter, its SET verified: 'refused' when the edge's push stream wants
   *  another Authorization header (the endpoint answers 401). */
  async admitPush(call: { tenantId: string; issuer: string; authorization: string | null; observation: SetObservation }):
    Promise<'authorized' | 'refused' | 'no_stream'> {
    const authorization = typeof call.authorization === 'string' ? call.authorization : null;
    return admitPush(this.#io(call.tenantId, call.issuer), authorization, call.observation);
  }

  override async alarm(): Promise<void> {
    // Two alarms never poll at once: the second finds the first still at work.
    if (this.#polling) return;
    this.#polling = true;
    try {
      await this.#poll();
    } catch (error) {
      // A bug or a broken binding (KV, the tenant state) must not end the polling: the platform
      // gives up on an alarm that keeps throwing. Logged, and tried again after a back-off.
      log({ event: 'ssf_poll_failed', note: noteOf(error) });
      const row = this.#store.read();
      if (row !== null) await this.#finishPoll(row, null, `the poll failed: ${noteOf(error)}`, DEFAULT_POLL_SECONDS, true);
    } finally {
      this.#polling = false;
    }
  }

  async #poll(): Promise<void> {
    const row = this.#store.read();
    if (row === null || row.phase !== 'ready' || row.delivery !== 'poll' || row.endpoint === null) return;
    const text = await this.env.TENANTS.get(tenantKey(row.tenant), 'text');
    const orphaned = () => {
      // The tenant, this transmitter or its management is gone: nothing to poll with, until an admin call.
      log({ event: 'ssf_stream_orphaned', tenant: row.tenant, issuer: row.issuer, streamId: row.streamId });
      return this.#finishPoll(row, null, 'the tenant no longer names this transmitter with management', DEFAULT_POLL_SECONDS, false);
    };
    if (text === null) return orphaned();
    const compiled = await this.#compile(text);
    // A record that does not load (SECRETS_KEY missing, say) may load again: keep trying, slowly.
    if (!compiled.ok) return this.#finishPoll(row, null, 'the tenant record does not load', DEFAULT_POLL_SECONDS, true);
    const { tenant } = compiled;
    const transmitter = tenant.events?.transmitters.get(row.issuer);
    if (transmitter === undefined || transmitter.management === null) return orphaned();
    const io = this.#io(row.tenant, row.issuer);
    const run = await pollStream({ tenant, transmitter, endpoint: row.endpoint }, row.notes.poll?.pending ?? NO_PENDING, {
      now: this.now, rules: io.rules, audit: undefined,
      keys: this.#keys.source({
        issuerKeys: this.env.ISSUER_KEYS, cache: null, waitUntil: (p) => this.ctx.waitUntil(p), allowInsecure: io.rules.allowInsecure,
      }),
      sink: revocationSinkOf(tenantStateStub(this.env.TENANT_STATE, row.tenant)),
      authorization: (fresh) => managementAuthorization(transmitter, io.tokens, io.rules, this.now, { fresh }),
      observe: (set) => noteSet(io, observationOf(set)),
    });
    if (run.failure !== null || run.stalled !== null || run.received > 0) {
      log({ event: 'ssf_poll', tenant: row.tenant, issuer: row.issuer, rounds: run.rounds, received: run.received,
        acknowledged: run.acknowledged, refused: run.refused, ...(run.failure ? { failure: run.failure } : {}),
        ...(run.stalled ? { stalled: run.stalled } : {}) });
    }
    return this.#finishPoll(row, run, run.failure ?? run.stalled, transmitter.pollSeconds ?? DEFAULT_POLL_SECONDS, true);
  }

  /** The poller's notes after an alarm, and the next alarm: in pollSeconds, later after a failure
   *  (back-off), none when there is nothing to poll with. A stream deleted meanwhile stays deleted. */
  async #finishPoll(row: StreamRow, run: PollRun | null, problem: string | null, pollSeconds: number, again: boolean): Promise<void> {
    const current = this.#store.read();
    if (current === null || current.streamId !== row.streamId) return;
    const now = this.now();
    const before: PollNotes = current.notes.poll ?? { failures: 0, polls: 0, lastPolledAt: null, lastError: null, pending: NO_PENDING };
    const failed = run === null || run.failure !== null;
    const poll: PollNotes = {
      failures: failed ? before.failures + 1 : 0,
      polls: before.polls + (run?.rounds ?? 0),
      lastPolledAt: run === null ? before.lastPolledAt : Math.floor(now / 1000),
      lastError: problem === null ? before.lastError : { at: Math.floor(now / 1000), note: problem },
      pending: run?.pending ?? before.pending,
    };
    this.#store.write({ ...current, notes: { ...current.notes, poll } });
    await this.#schedule(again ? now + (failed ? pollDelayMs(pollSeconds, poll.failures) : pollSeconds * 1000) : null);
  }

  async #schedule(at: number | null): Promise<void> {
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }

  /** The call's record compiled, and the transmitter it names, with management. */
  async #transmitterOf(call: StreamCall): Promise<{ ok: true; tenant: Tenant; transmitter: TransmitterPolicy } | Refused> {
    const refuse = (description: string) => ({ ok: false as const, refusal: { error: 'invalid_request' as const, description } });
    const compiled = typeof call.record === 'string' ? await this.#compile(call.record) : null;
    const loads = compiled !== null && compiled.ok && compiled.tenant.id === call.tenantId;
    if (!loads) return refuse("the tenant's stored config does not load");
    const transmitter = compiled.tenant.events?.transmitters.get(call.issuer);
    if (transmitter === undefined) return refuse(`the tenant has no SSF transmitter ${call.issuer}`);
    if (transmitter.management === null) {
      return refuse(`the transmitter ${call.issuer} has no management block: the edge cannot manage its stream`);
    }
    return { ok: true, tenant: compiled.tenant, transmitter };
  }

  async #compile(text: string): Promise<Compiled> {
    if (this.#compiled?.text !== text) this.#compiled = { text, compiled: await compileRecord(text, this.#keyring()) };
    return this.#compiled.compiled;
  }

  #keyring(): SecretsKeyring {
    return this.keyring ?? settingsOf(this.env).secrets;
  }

  #io(tenantId: string, issuer: string): StreamIo {
    const settings = settingsOf(this.env);
    const keyring = this.#keyring();
    const rules = { allowInsecure: settings.allowInsecureIssuers, fetch: this.network };
    return {
      now: this.now, rules, store: this.#store, keyring,
      tokens: this.#tokenStore(tenantId, issuer),
      metadata: (of) => this.#metadataOf(of, rules),
      pushSecret: async (row) => {
        if (row.pushSecret === null || row.endpoint === null) return null;
        if (this.#pushSecret?.sealed === row.pushSecret.sealed) return this.#pushSecret.secret;
        const aad = pushSecretAad(row.tenant, row.issuer, row.endpoint);
        const opened = await keyring.open(row.pushSecret, aad);
        if (!opened.ok) return null;
        // Sealed with SECRETS_KEY_PREVIOUS: sealed again with SECRETS_KEY, so the rotation can end.
        const sealed = opened.current || keyring.problem !== null ? row.pushSecret : await keyring.seal(opened.value, aad);
        const now = this.#store.read();
        if (sealed !== row.pushSecret && now?.pushSecret?.sealed === row.pushSecret.sealed) {
          this.#store.write({ ...now, pushSecret: sealed });
        }
        this.#pushSecret = { sealed: sealed.sealed, secret: opened.value };
        return opened.value;
      },
      schedule: (at) => this.#schedule(at),
    };
  }

  async #metadataOf(issuer: string, rules: StreamIo['rules']): Promise<ClientResult<TransmitterMetadata>> {
    const held = this.#metadata.get(issuer);
    if (held !== undefined && held.until > this.now()) return { ok: true, value: held.value };
    const found = await discoverTransmitter(issuer, rules);
    if (found.ok) this.#metadata.set(issuer, { value: found.value, until: this.now() + METADATA_TTL_MS });
    return found;
  }

  /** Access tokens in memory, and sealed in storage so an evicted object need not ask again. */
  #tokenStore(tenantId: string, issuer: string): TokenStore {
    const keyring = this.#keyring();
    return {
      get: async (key) => {
        const held = this.#heldTokens.get(key);
        if (held !== undefined) return held;
        const stored = this.#store.token(key);
        if (stored === null) return null;
        const opened = await keyring.open(stored.sealed, tokenAad(tenantId, issuer, key));
        // One sealed with SECRETS_KEY_PREVIOUS is replaced by a new token, sealed with SECRETS_KEY.
        if (!opened.ok || !opened.current) return null;
        const token = { accessToken: opened.value, until: stored.until };
        this.#heldTokens.set(key, token);
        return token;
      },
      set: async (key, token) => {
        this.#heldTokens.clear();
        this.#heldTokens.set(key, token);
        if (keyring.problem !== null) return;
        this.#store.keepToken(key, await keyring.seal(token.accessToken, tokenAad(tenantId, issuer, key)), token.until);
      },
      drop: async (key) => {
        this.#heldTokens.delete(key);
        this.#store.dropToken(key);
      },
    };
  }
}

const log = (line: Record<string, unknown>): void => console.log(JSON.stringify(line));
