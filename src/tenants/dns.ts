// A tenant host's DNS drift check over DNS-over-HTTPS, JSON API (RFC 8484's JSON sibling, as
// served by cloudflare-dns.com and dns.google): the verdict for a host against its tenant's
// `dnsCheck`, for the cron run and the admin API's dns-check alike.
//
//   const check = await checkHost('api.acme.com', { type: 'CNAME', target: 'edge.saas.example' },
//     { dohUrl: env.DOH_URL });
//   check.verdict;                      // 'ok' | 'mismatch' | 'transient'
//   check.found;                        // ['edge.saas.example'] (answers of the expected type)
//   tenantVerdict(checks);              // one verdict for a run over the tenant's exact hosts
import { discard, readBody } from '../base/body';
import type { DnsVerdict } from '../revocation/tenant-state';

export type { DnsVerdict };

/** A DoH answer taking longer than this is transient (the contract (docs/): fetches time out after 5 s). */
export const DNS_TIMEOUT_MS = 5_000;
/** Answers are a few hundred bytes; anything bigger is not a DoH answer. */
const MAX_ANSWER_BYTES = 64 * 1024;

export type RecordType = 'CNAME' | 'A' | 'AAAA';

export interface DnsExpectation {
  readonly type: RecordType;
  readonly target: string;
}

export interface HostCheck {
  readonly host: string;
  /** "CNAME edge.saas.example" */
  readonly expected: string;
  /** The answers of the expected type, normalized (lowercase, no trailing dot). */
  readonly found: readonly string[];
  readonly verdict: DnsVerdict;
  /** Why a verdict is transient or a mismatch, for the log ('NXDOMAIN', 'SERVFAIL', 'timeout'). */
  readonly note?: string;
}

export interface DnsDeps {
  /** env.DOH_URL */
  readonly dohUrl: string;
  readonly timeoutMs?: number;
  /** The network; tests of a decision may pass their own. */
  readonly fetch?: typeof fetch;
}

/** RR type numbers as the JSON API reports them (RFC 1035 §3.2.2, RFC 3596). */
const TYPE_CODES: Record<RecordType, number> = { A: 1, CNAME: 5, AAAA: 28 };
/** DNS RCODEs (RFC 1035 §4.1.1) that decide; every other one is transient. */
const NOERROR = 0;
const NXDOMAIN = 3;
const RCODE_NAMES: Record<number, string> = { 1: 'FORMERR', 2: 'SERVFAIL', 4: 'NOTIMP', 5: 'REFUSED' };

/** Hosts a resolver can be asked about: wildcards name no single host, so they are skipped. */
export function exactHosts(hosts: readonly string[]): { exact: string[]; wildcards: string[] } {
  return {
    exact: hosts.filter((host) => !host.startsWith('*.')),
    wildcards: hosts.filter((host) => host.startsWith('*.')),
  };
}

/** A tenant's run: any conclusive mismatch fails it; only transient answers change nothing;
 *  otherwise (at least one ok, no mismatch) it is healthy. Null when there was nothing to ask. */
export function tenantVerdict(checks: readonly HostCheck[]): DnsVerdict | null {
  if (checks.length === 0) return null;
  if (checks.some((check) => check.verdict === 'mismatch')) return 'mismatch';
  if (checks.every((check) => check.verdict === 'transient')) return 'transient';
  return 'ok';
}

export async function checkHost(host: string, expectation: DnsExpectation, deps: DnsDeps): Promise<HostCheck> {
  const expected = `${expectation.type} ${normalizeData(expectation.type, expectation.target)}`;
  const answered = await query(host, expectation.type, deps);
  if (!answered.ok) return { host, expected, found: [], verdict: 'transient', note: answered.note };
  const { status, answers } = answered;
  if (status === NXDOMAIN) return { host, expected, found: [], verdict: 'mismatch', note: 'NXDOMAIN' };
  if (status !== NOERROR) {
    return { host, expected, found: [], verdict: 'transient', note: RCODE_NAMES[status] ?? `rcode ${status}` };
  }
  const code = TYPE_CODES[expectation.type];
  const found = answers.filter((a) => a.type === code).map((a) => normalizeData(expectation.type, a.data));
  const target = normalizeData(expectation.type, expectation.target);
  return found.includes(target)
    ? { host, expected, found, verdict: 'ok' }
    : { host, expected, found, verdict: 'mismatch', note: found.length === 0 ? 'no answer of that type' : 'another target' };
}

type Answered =
  | { ok: true; status: number; answers: { type: number; data: string }[] }
  | { ok: false; note: string };

async function query(host: string, type: RecordType, deps: DnsDeps): Promise<Answered> {
  let url: URL;
  try {
    url = new URL(deps.dohUrl);
  } catch {
    return { ok: false, note: 'DOH_URL is not a URL' };
  }
  url.searchParams.set('name', host);
  url.searchParams.set('type', type);
  // A timer we clear (not AbortSignal.timeout): a pending timer would keep the run waiting.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), deps.timeoutMs ?? DNS_TIMEOUT_MS);
  try {
    const network = deps.fetch ?? fetch;
    const response = await network(url.href, { signal: deadline.signal, headers: { accept: 'application/dns-json' } });
    if (response.status !== 200) {
      await discard(response.body);
      return { ok: false, note: `status ${response.status}` };
    }
    const read = await readBody(response, { maxBytes: MAX_ANSWER_BYTES, signal: deadline.signal });
    if (!read.ok) return { ok: false, note: read.failure === 'too_large' ? 'answer too large' : read.failure };
    return parseAnswer(new TextDecoder().decode(read.bytes));
  } catch {
    return { ok: false, note: deadline.signal.aborted ? 'timeout' : 'network error' };
  } finally {
    clearTimeout(timer);
  }
}

function parseAnswer(text: string): Answered {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, note: 'answer is not JSON' };
  }
  if (typeof body !== 'object' || body === null || typeof (body as { Status?: unknown }).Status !== 'number') {
    return { ok: false, note: 'answer has no Status' };
  }
  const { Status, Answer } = body as { Status: number; Answer?: unknown };
  const answers = Array.isArray(Answer)
    ? Answer.filter((a): a is { type: number; data: string } =>
      typeof a === 'object' && a !== null && typeof a.type === 'number' && typeof a.data === 'string')
    : [];
  return { ok: true, status: Status, answers };
}

/** Names compare case-insensitively without the root's trailing dot; IPv6 in one spelling. */
function normalizeData(type: RecordType, data: string): string {
  const value = data.trim().toLowerCase();
  if (type === 'AAAA') return canonicalIpv6(value);
  return value.endsWith('.') ? value.slice(0, -1) : value;
}

/** "2001:DB8:0::1" and "2001:db8::1" are one address: expand to eight 16-bit groups. */
function canonicalIpv6(address: string): string {
  const halves = address.split('::');
  if (halves.length > 2) return address;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? head.length !== 8 : missing < 1) return address;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return address;
  return groups.map((g) => Number.parseInt(g, 16).toString(16)).join(':');
}
