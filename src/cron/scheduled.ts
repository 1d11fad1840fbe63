// The scheduled work (README.md "Scheduled work"): each run walks the next stretch of tenants from
// the Directory, checks DNS drift for those with `dnsCheck` (counting failures in TenantState),
// and pre-warms the IssuerKeys objects of active tenants' issuers whose keys expire before the
// next run. A cursor kept in the Directory carries the walk over to the next run.
//
//   scheduled: async (_controller, env) => { await runScheduled(env, { now: systemClock }); }
//   await runScheduled(env, { now: () => t, subrequests: 9, directory });   // tests: tiny budget
//
// Budget: every fetch and every Durable Object call made here is a subrequest of this one
// invocation: 50 on the Free plan, 1,000 by default on Paid. A run spends at most
// RUN_SUBREQUESTS = 900 (Paid, with 100 to spare): a tenant with dnsCheck costs one DoH query per
// exact host plus one TenantState call; each issuer pre-warmed costs one IssuerKeys call (its
// JWKS fetch is the object's own subrequest); each Directory page and the cursor save cost one.
// With one host and a shared issuer that is ~450 tenants a run, ~130,000 a day; 5,000 tenants
// are all checked every ~12 runs (an hour). On the Free plan set RUN_SUBREQUESTS to
// PLAN_SUBREQUESTS.free - 5: ~21 tenants a run.
import type { Clock } from '../base/clock';
import type { Env } from '../env';
import { issuerKeysStub } from '../keys/issuer-keys';
import { tenantStateStub, type TenantStatus } from '../revocation/tenant-state';
import { settingsOf } from '../config/settings';
import { directoryStub, type Directory, type PendingRepair, type ScheduledTenant } from '../tenants/directory';
import { keySetIdOf } from '../tenants/tenant';
import { checkHost, exactHosts, tenantVerdict, type HostCheck } from '../tenants/dns';

/** wrangler.toml's cron "*\/5 * * * *". */
export const RUN_INTERVAL_MS = 5 * 60_000;
/** Keys expiring before the next run plus this are refetched now (runs may start late). */
export const PREWARM_MARGIN_MS = 60_000;
/** Subrequests per invocation (Workers limits): Free 50; Paid 1,000 unless raised. */
export const PLAN_SUBREQUESTS = { free: 50, paid: 1_000 } as const;
/** What one run may spend; thousands of tenants need the Paid plan (the contract (docs/), README). */
export const RUN_SUBREQUESTS = PLAN_SUBREQUESTS.paid - 100;
/** No tenant is started after this, so a run (even one of hanging DoH answers) ends before the
 *  next begins: two overlapping runs would read the same cursor and count a failure twice. */
export const RUN_DEADLINE_MS = 4 * 60_000;
/** Tenants checked at once: a Worker has 6 simultaneous open connections. */
const WAVE_SIZE = 6;
/** The Directory's page; the budget usually ends a run well before it. */
const MAX_PAGE = 1_000;
/** The pending-write repair, the first page read and the cursor save, spent by every run. */
const FIXED_COST = 3;

export interface ScheduledDeps {
  readonly now: Clock;
  /** The run's subrequest budget; tests pass a tiny one. */
  readonly subrequests?: number;
  readonly dnsTimeoutMs?: number;
  /** The Directory to walk; tests pass one of their own so other tests' tenants stay out. */
  readonly directory?: DurableObjectStub<Directory>;
  readonly log?: (line: Record<string, unknown>) => void;
}

export interface ScheduledRun {
  /** The cursor the run started after (null: the start of a cycle). */
  readonly from: string | null;
  /** The cursor saved for the next run (null: the cycle is complete, start over). */
  readonly cursor: string | null;
  /** Tenant ids in the order visited. */
  readonly visited: readonly string[];
  /** Tenants whose hosts were resolved. */
  readonly checked: readonly string[];
  /** Tenants with a conclusive mismatch this run. */
  readonly failing: readonly string[];
  /** Key sets whose IssuerKeys object was asked to pre-warm, and those it refetched. */
  readonly prewarmed: readonly string[];
  readonly refetched: readonly string[];
  /** Tenants that cannot fit any run's budget (too many hosts), passed over with a log line. */
  readonly skipped: readonly string[];
  /** Tenant writes a failure had left half done, and what the repair did with each. */
  readonly repaired: readonly PendingRepair[];
  /** Subrequests reserved (an upper bound of those made). */
  readonly subrequests: number;
}

interface Plan {
  readonly tenant: ScheduledTenant;
  readonly hosts: readonly string[];
  /** Key sets this tenant pre-warms for the whole run (claimed from the run's dedupe set). */
  readonly keySets: readonly { readonly id: string; readonly issuer: string; readonly jwksUri: string | null }[];
  readonly cost: number;
}

interface Visit {
  readonly plan: Plan;
  readonly status: TenantStatus | null;
  readonly checked: boolean;
  readonly failing: boolean;
  readonly prewarmed: readonly string[];
  readonly refetched: readonly string[];
}

export async function runScheduled(env: Env, deps: ScheduledDeps): Promise<ScheduledRun> {
  const budget = deps.subrequests ?? RUN_SUBREQUESTS;
  const directory = deps.directory ?? directoryStub(env.DIRECTORY);
  const log = deps.log ?? ((line: Record<string, unknown>) => console.log(JSON.stringify(line)));
  const deadline = deps.now() + RUN_DEADLINE_MS;
  const pageSize = Math.max(1, Math.min(MAX_PAGE, budget));

  let spent = FIXED_COST;
  // KV has no transactions: first finish any tenant write a failure left half done.
  const repaired = await directory.repairPending();
  for (const repair of repaired) log({ event: 'tenant_write_repaired', ...repair });
  const first = await directory.scheduledPage(pageSize);
  const from = first.after;
  let queue: ScheduledTenant[] = [...first.tenants];
  let pageWasFull = first.tenants.length === pageSize;
  let cursor = from;
  let cycleDone = false;
  const claimed = new Set<string>();
  const visits: Visit[] = [];
  const skipped: string[] = [];

  walk: for (;;) {
    if (queue.length === 0) {
      if (!pageWasFull) { cycleDone = true; break; }
      if (spent + 1 > budget) break;
      spent += 1;
      const page = await directory.scheduledPage(pageSize, cursor);
      queue = [...page.tenants];
      pageWasFull = page.tenants.length === pageSize;
      continue;
    }
    if (deps.now() >= deadline) break;

    // Plan a wave in cursor order; a tenant that does not fit ends the run (never skip ahead:
    // the cursor must mean "everything up to here was visited").
    const wave: Plan[] = [];
    let full = false;
    while (queue.length > 0 && wave.length < WAVE_SIZE) {
      const plan = planVisit(queue[0]!, claimed);
      if (plan.cost > budget - FIXED_COST) {
        skipped.push(plan.tenant.id);
        log({ event: 'scheduled_skip', tenant: plan.tenant.id, reason: 'more hosts than a run can resolve', cost: plan.cost, budget });
        queue.shift();
        cursor = plan.tenant.id;
        continue;
      }
      if (spent + plan.cost > budget) { full = true; break; }
      spent += plan.cost;
      for (const keySet of plan.keySets) claimed.add(keySet.id);
      wave.push(plan);
      queue.shift();
    }
    const done = await Promise.all(wave.map((plan) => visit(plan, env, deps, log)));
    for (const v of done) {
      // A tenant on hold pre-warms nothing; a later active tenant of the same issuer may.
      if (v.status !== 'active') for (const keySet of v.plan.keySets) claimed.delete(keySet.id);
      visits.push(v);
    }
    if (wave.length > 0) cursor = wave[wave.length - 1]!.tenant.id;
    if (full) break walk;
  }

  const saved = cycleDone ? null : cursor;
  await directory.saveScheduledCursor(saved);
  const run: ScheduledRun = {
    from,
    cursor: saved,
    visited: visits.map((v) => v.plan.tenant.id),
    checked: visits.filter((v) => v.checked).map((v) => v.plan.tenant.id),
    failing: visits.filter((v) => v.failing).map((v) => v.plan.tenant.id),
    prewarmed: visits.flatMap((v) => v.prewarmed),
    refetched: visits.flatMap((v) => v.refetched),
    skipped,
    repaired,
    subrequests: spent,
  };
  log({
    event: 'scheduled_run', from, cursor: saved, cycleDone, tenants: run.visited.length, checked: run.checked.length,
    failing: run.failing.length, prewarmed: run.prewarmed.length, refetched: run.refetched.length,
    skipped: skipped.length, repaired: repaired.length, subrequests: spent, budget,
  });
  return run;
}

/** What visiting a tenant will cost at most, and which of its key sets it pre-warms this run. */
function planVisit(tenant: ScheduledTenant, claimed: ReadonlySet<string>): Plan {
  const hosts = tenant.dnsCheck ? exactHosts(tenant.hosts).exact : [];
  const keySets = dedupe(tenant.issuers.map((i) => ({ id: keySetIdOf(i.issuer, i.jwksUri), issuer: i.issuer, jwksUri: i.jwksUri })))
    .filter((keySet) => !claimed.has(keySet.id));
  const dnsCost = hosts.length > 0 ? hosts.length + 1 : 0; // the queries, then recordDnsCheck
  // The status comes with recordDnsCheck; without it, one snapshot() tells whether to pre-warm.
  const statusCost = keySets.length > 0 && dnsCost === 0 ? 1 : 0;
  return { tenant, hosts, keySets, cost: dnsCost + statusCost + keySets.length };
}

async function visit(plan: Plan, env: Env, deps: ScheduledDeps, log: (line: Record<string, unknown>) => void): Promise<Visit> {
  const { tenant } = plan;
  const state = tenantStateStub(env.TENANT_STATE, tenant.id);
  let status: TenantStatus | null = null;
  let failing = false;
  try {
    if (tenant.dnsCheck && plan.hosts.length > 0) {
      const check = tenant.dnsCheck;
      const dnsDeps = { dohUrl: settingsOf(env).dohUrl, timeoutMs: deps.dnsTimeoutMs };
      const checks = await Promise.all(plan.hosts.map((host) => checkHost(host, check, dnsDeps)));
      const verdict = tenantVerdict(checks)!;
      const recorded = await state.recordDnsCheck(verdict, { failuresBeforeHold: check.failuresBeforeHold, mode: check.mode });
      status = recorded.status;
      failing = verdict === 'mismatch';
      if (failing) {
        log({
          event: 'dns_drift', tenant: tenant.id, hosts: checks.filter((c) => c.verdict === 'mismatch').map(drifted),
          failures: recorded.failures, failuresBeforeHold: check.failuresBeforeHold, mode: check.mode,
          held: recorded.held, status: recorded.status,
        });
      }
    }
    if (plan.keySets.length === 0) return { plan, status, checked: plan.hosts.length > 0, failing, prewarmed: [], refetched: [] };
    status ??= (await state.snapshot()).status;
  } catch (error) {
    log({ event: 'scheduled_error', tenant: tenant.id, step: 'tenant_state', message: messageOf(error) });
    return { plan, status, checked: plan.hosts.length > 0, failing, prewarmed: [], refetched: [] };
  }
  if (status !== 'active') return { plan, status, checked: plan.hosts.length > 0, failing, prewarmed: [], refetched: [] };

  const allowInsecure = settingsOf(env).allowInsecureIssuers;
  const withinMs = RUN_INTERVAL_MS + PREWARM_MARGIN_MS;
  const refetched: string[] = [];
  await Promise.all(plan.keySets.map(async (keySet) => {
    try {
      const warmed = await issuerKeysStub(env.ISSUER_KEYS, keySet.id)
        .prewarm({ issuer: keySet.issuer, jwksUri: keySet.jwksUri, allowInsecure, withinMs });
      if (warmed.ok && warmed.fetched) refetched.push(keySet.id);
      if (!warmed.ok) log({ event: 'prewarm_failed', issuer: keySet.issuer, note: warmed.note });
    } catch (error) {
      log({ event: 'scheduled_error', tenant: tenant.id, step: 'prewarm', issuer: keySet.issuer, message: messageOf(error) });
    }
  }));
  return { plan, status, checked: plan.hosts.length > 0, failing, prewarmed: plan.keySets.map((k) => k.id), refetched };
}

const drifted = (check: HostCheck) => ({ host: check.host, expected: check.expected, found: check.found, note: check.note });

function dedupe<T extends { id: string }>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => (seen.has(item.id) ? false : (seen.add(item.id), true)));
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
