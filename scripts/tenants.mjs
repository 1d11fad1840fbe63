#!/usr/bin/env node
// @ts-check
// The operators' command line over the admin API (docs/admin-api.md): tenant configs in and
// out, revocation, status, DNS checks and Shared Signals streams. Data goes to stdout as JSON, messages to stderr, and
// the exit code says what happened: 0 ok, 1 the API refused, 2 usage error, 3 could not connect.
//
//   npm run -s tenants -- put acme.json                       # 201 created / 200 replaced
//   npm run -s tenants -- export --out tenants.json && npm run -s tenants -- import tenants.json
//   npm run -s tenants -- streams create acme --issuer https://acme.okta.com   # the edge's stream at a transmitter
//   EDGE_ADMIN_URL=http://127.0.0.1:8787 EDGE_ADMIN_HOST=admin.localhost EDGE_ADMIN_TOKEN=... npm run -s tenants -- list
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { hostRequest } from './host-request.mjs';

const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 };
/** The API's largest page (the admin API: up to 1000), used when walking every tenant. */
const PAGE = 1000;

const USAGE = `Usage: npm run -s tenants -- <command> [arguments] [options]

Commands:
  put <file.json> [--if-match ETAG]         create or replace the tenant in the file (its id from the file)
  get <id>                                  print the tenant's config (stdout) and its ETag (stderr)
  list [--limit N] [--cursor C] [--all]     tenant ids and hosts, one page or (--all) every page
  delete <id> [--if-match ETAG]             delete the tenant and its host bindings; its tokens stay revoked
  revoke <id> [--sub S | --sid S | --jti J --exp E]
                                            revoke every token so far, one subject's, one session's, or one token
  status <id> <hold|active>                 put the tenant on hold or back to active
  state <id>                                status, tokenVersion, revokedBefore and list sizes
  dns-check <id>                            run the tenant's DNS check now (reports, never holds)
  export [--out FILE]                       every tenant's config as one JSON array (secrets as {"set": true})
  import <file.json>                        PUT each config of a JSON array; one line per tenant
  jwks <id>                                 the tenant's edge public key set (to register for private_key_jwt)
  reseal [<id>]                             seal every tenant's secrets (or one's) again with SECRETS_KEY, after a rotation
  streams create|verify|delete <id> --issuer I
  streams list <id>                         the edge's Shared Signals stream at a transmitter (SSF 1.0 §8)

Connection (every command):
  --url URL          admin API base URL                 (or EDGE_ADMIN_URL)
  --token TOKEN      admin bearer token                 (or EDGE_ADMIN_TOKEN; prefer it: argv shows in ps)
  --admin-host HOST  Host header for the admin API      (or EDGE_ADMIN_HOST; default: the URL's host)

Local wrangler dev (npm start) serves the admin API on 127.0.0.1 and picks it by Host header:
  EDGE_ADMIN_URL=http://127.0.0.1:8787 EDGE_ADMIN_HOST=admin.localhost \\
  EDGE_ADMIN_TOKEN=local-dev-admin-token npm run -s tenants -- list

Use "npm run -s" (or node scripts/tenants.mjs) when piping: plain "npm run" prints a banner on stdout.
"<command> --help" shows one command's help.

Exit codes: 0 ok, 1 the API refused (4xx/5xx), 2 usage error, 3 could not connect.`;

/** @type {Record<string, { usage: string, about: string, options: string[] }>} */
const COMMANDS = {
  put: {
    usage: 'put <file.json> [--if-match ETAG]',
    about: `Creates (201) or replaces (200) the tenant whose config is in the file; the id comes from the
file's "id". Prints the stored config on stdout and its ETag on stderr. --if-match replaces only
if the stored config still has that ETag (else 412 precondition_failed). An invalid config
answers 400 invalid_config and each issue is printed as "<JSON Pointer>: <message>".`,
    options: ['if-match'],
  },
  get: { usage: 'get <id>', about: 'Prints the tenant\'s config on stdout and "ETag: <etag>" on stderr.', options: [] },
  list: {
    usage: 'list [--limit N] [--cursor C] [--all]',
    about: `Prints {"tenants": [{"id", "hosts"}], "cursor"}: one page (--limit up to 1000, --cursor from the
previous page), or with --all every page followed to the end (cursor null).`,
    options: ['limit', 'cursor', 'all'],
  },
  delete: {
    usage: 'delete <id> [--if-match ETAG]',
    about: `Deletes the tenant: its config and host bindings. Its state goes on hold with every token
revoked (isolates may serve a deleted tenant from their caches for a while), so a deletion never
brings a revoked token back. Creating the id again (put) starts a clean state: active,
tokenVersion 1, nothing revoked.`,
    options: ['if-match'],
  },
  revoke: {
    usage: 'revoke <id> [--sub S | --sid S | --jti J --exp E]',
    about: `Without options: revokes every token issued so far for the tenant, from any issuer.
--sub S: every token of subject S issued so far. --sid S: every token of session S issued so far
(both kept for the tenant's revocation.retainSeconds, a day by default; older tokens are refused
as too_old). --jti J --exp E: one token, by its jti and its exp (epoch seconds; the denial is kept
until then, and covers the token that carries the jti, issued before the denial). "So far"
includes the current second: a token issued in the same second is revoked. Values are 1 to 256
characters. Each list holds at most 1,000,000 entries; past that it forgets its oldest and revokes,
as a group, every token they could have matched (the state shows the floor). Prints the new state.`,
    options: ['sub', 'sid', 'jti', 'exp'],
  },
  status: {
    usage: 'status <id> <hold|active>',
    about: `hold: every request to the tenant answers 403 tenant_on_hold. active: serves it again.
Either move revokes every token issued before it. Prints the new state.`,
    options: [],
  },
  state: {
    usage: 'state <id>',
    about: 'Prints {"status", "tokenVersion", "revokedBefore", "revokedSubjects", "revokedSessions", "deniedJtis"}.',
    options: [],
  },
  'dns-check': {
    usage: 'dns-check <id>',
    about: 'Runs the tenant\'s dnsCheck now and prints {"results": [{"host", "expected", "found", "verdict"}]}.',
    options: [],
  },
  export: {
    usage: 'export [--out FILE]',
    about: `Writes every tenant's config as one JSON array (to stdout, or to FILE), ready for import.
Write-only secrets show as {"set": true}: imported into the same gateway they keep the stored
secret; a gateway that holds none refuses them, and the secret must be written again.`,
    options: ['out'],
  },
  import: {
    usage: 'import <file.json>',
    about: `PUTs each config of the file's JSON array (creating or replacing), continuing past failures,
and prints one line per tenant: "ok 201 acme" or "failed 409 host_conflict beta: ...".
Exits 1 if any failed.`,
    options: [],
  },
  jwks: {
    usage: 'jwks <id>',
    about: `Prints the tenant's edge public key set, {"keys": [{"kty", "crv", "x", "y", "kid", "alg": "ES256", "use": "sig"}]}:
what a provider needs to check the edge's private_key_jwt client assertions (also public at
https://<tenant host>/_edge/jwks). {"keys": []} for a tenant created without SECRETS_KEY.`,
    options: [],
  },
  streams: {
    usage: 'streams create|list|verify|delete <id> [--issuer ISSUER]',
    about: `The edge's Shared Signals stream at each transmitter of the tenant that has "management"
(events.ssf[].management; docs/events.md "Streams"):
  create <id> --issuer I   creates the stream at the transmitter (push to the tenant's first exact host
                           with an authorization header the edge then requires, or poll); prints the
                           transmitter's stream configuration, the header shown as {"set": true}
  list <id>                every managed transmitter's stream: its id, configuration and status as the
                           transmitter answers them now, the last event, the last verification, the
                           last stream-updated status and (poll) the last poll error; times in epoch seconds
  verify <id> --issuer I   asks the transmitter for a verification event; list shows when it arrived
  delete <id> --issuer I   deletes the stream at the transmitter and at the edge
A transmitter that refuses is "502 stream_error" with its status and error.`,
    options: ['issuer'],
  },
  reseal: {
    usage: 'reseal [<id>]',
    about: `After SECRETS_KEY was rotated (the old key set as SECRETS_KEY_PREVIOUS): reads each tenant (or
the one named) and writes it back unchanged with If-Match, which seals its write-only secrets and
its edge key again with the current SECRETS_KEY (and lists its Shared Signals streams, which seals
their secrets again). Prints one line per tenant: "resealed acme",
"current acme" (nothing sealed with the old key), or "failed 400 invalid_config acme: ...".
Exits 1 if any failed; once every tenant is resealed, SECRETS_KEY_PREVIOUS can be deleted.`,
    options: [],
  },
};

/** Tries at writing one tenant back when another write lands in between (412). */
const RESEAL_ATTEMPTS = 3;

/** @type {import('node:util').ParseArgsConfig['options']} */
const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  'admin-host': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  'if-match': { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  all: { type: 'boolean' },
  sub: { type: 'string' },
  sid: { type: 'string' },
  jti: { type: 'string' },
  exp: { type: 'string' },
  out: { type: 'string' },
  issuer: { type: 'string' },
};
const CONNECTION_OPTIONS = ['url', 'token', 'admin-host', 'help'];

/** A refusal the user caused by how they called us (exit 2). */
class UsageError extends Error {}
/** The admin API answered with an error status (exit 1). */
class Refused extends Error {
  /** @param {number} status @param {Record<string, unknown> | null} body @param {string} text */
  constructor(status, body, text) {
    super(describeRefusal(status, body, text));
    this.status = status;
    this.body = body;
  }
}
/** No HTTP answer at all (exit 3). */
class Unreachable extends Error {}

/**
 * @typedef {object} Admin
 * @property {(method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Response>} call
 */

/** @param {string[]} argv */
async function main(argv) {
  /** @type {ReturnType<typeof parseArgs>} */
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  const [name, ...args] = positionals;

  if (name === undefined || name === 'help') {
    if (values.help || name === 'help') {
      const topic = name === 'help' ? args[0] : undefined;
      process.stdout.write(`${topic && COMMANDS[topic] ? commandHelp(topic) : USAGE}\n`);
      return EXIT.ok;
    }
    throw new UsageError('a command is required');
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(`unknown command "${name}"`);
  if (values.help) {
    process.stdout.write(`${commandHelp(name)}\n`);
    return EXIT.ok;
  }
  for (const option of Object.keys(values)) {
    if (!CONNECTION_OPTIONS.includes(option) && !command.options.includes(option)) {
      throw new UsageError(`--${option} is not an option of ${name} (usage: ${command.usage})`);
    }
  }

  const admin = connect(values);
  const str = (/** @type {string} */ key) => /** @type {string | undefined} */ (values[key]);
  switch (name) {
    case 'put': return put(admin, arity(name, args, 1)[0], str('if-match'));
    case 'get': return get(admin, arity(name, args, 1)[0]);
    case 'list': return list(admin, arity(name, args, 0), { limit: str('limit'), cursor: str('cursor'), all: values.all === true });
    case 'delete': return remove(admin, arity(name, args, 1)[0], str('if-match'));
    case 'revoke': return revoke(admin, arity(name, args, 1)[0], { sub: str('sub'), sid: str('sid'), jti: str('jti'), exp: str('exp') });
    case 'status': { const [id, status] = arity(name, args, 2); return setStatus(admin, id, status); }
    case 'state': return printJson(await expectOk(await admin.call('GET', tenantPath(arity(name, args, 1)[0], '/state'))));
    case 'dns-check': return printJson(await expectOk(await admin.call('POST', tenantPath(arity(name, args, 1)[0], '/dns-check'), {})));
    case 'export': return exportAll(admin, arity(name, args, 0), str('out'));
    case 'import': return importAll(admin, arity(name, args, 1)[0]);
    case 'jwks': return printJson(await expectOk(await admin.call('GET', tenantPath(arity(name, args, 1)[0], '/jwks'))));
    case 'reseal': return reseal(admin, args.length === 0 ? null : arity(name, args, 1)[0]);
    case 'streams': { const [action, id] = arity(name, args, 2); return streams(admin, action, id, str('issuer')); }
    default: throw new UsageError(`unknown command "${name}"`);
  }
}

// ---- commands ----

/** @param {Admin} admin @param {string} file @param {string | undefined} ifMatch */
async function put(admin, file, ifMatch) {
  const config = await readJsonFile(file);
  const id = tenantIdOf(config, file);
  const response = await admin.call('PUT', tenantPath(id), config, ifMatch === undefined ? {} : { 'if-match': entityTag(ifMatch) });
  const stored = await expectOk(response);
  printJson(stored);
  message(`${response.status === 201 ? 'created' : 'replaced'} ${id} (${response.status}), ETag: ${response.headers.get('etag') ?? '-'}`);
  return EXIT.ok;
}

/** @param {Admin} admin @param {string} id */
async function get(admin, id) {
  const response = await admin.call('GET', tenantPath(id));
  printJson(await expectOk(response));
  message(`ETag: ${response.headers.get('etag') ?? '-'}`);
  return EXIT.ok;
}

/** @param {Admin} admin @param {string[]} _ @param {{ limit?: string, cursor?: string, all: boolean }} options */
async function list(admin, _, options) {
  const limit = options.limit === undefined ? undefined : positiveInteger('--limit', options.limit, PAGE);
  if (!options.all) {
    printJson(await listPage(admin, options.cursor ?? null, limit));
    return EXIT.ok;
  }
  printJson({ tenants: await listEvery(admin, options.cursor ?? null, limit ?? PAGE), cursor: null });
  return EXIT.ok;
}

/** @param {Admin} admin @param {string} id @param {string | undefined} ifMatch */
async function remove(admin, id, ifMatch) {
  await expectOk(await admin.call('DELETE', tenantPath(id), undefined, ifMatch === undefined ? {} : { 'if-match': entityTag(ifMatch) }));
  message(`deleted ${id}`);
  return EXIT.ok;
}

/** @param {Admin} admin @param {string} id @param {{ sub?: string, sid?: string, jti?: string, exp?: string }} options */
async function revoke(admin, id, options) {
  const given = [options.sub !== undefined, options.sid !== undefined, options.jti !== undefined || options.exp !== undefined];
  if (given.filter(Boolean).length > 1) throw new UsageError('--sub, --sid and --jti/--exp are separate revocations: give one');
  /** @type {Record<string, unknown>} */
  let body = {};
  if (options.sub !== undefined) {
    body = { sub: options.sub };
  } else if (options.sid !== undefined) {
    body = { sid: options.sid };
  } else if (options.jti !== undefined || options.exp !== undefined) {
    if (options.jti === undefined || options.exp === undefined) throw new UsageError('--jti needs --exp (the token\'s exp, epoch seconds) and --exp needs --jti');
    body = { jti: options.jti, exp: positiveInteger('--exp', options.exp) };
  }
  printJson(await expectOk(await admin.call('POST', tenantPath(id, '/revoke'), body)));
  const what = 'sub' in body ? `subject ${body.sub}'s tokens` : 'sid' in body ? `session ${body.sid}'s tokens`
    : 'jti' in body ? `token ${body.jti}` : 'every token issued so far';
  message(`revoked ${what} for ${id}`);
  return EXIT.ok;
}

/** @param {Admin} admin @param {string} id @param {string} status */
async function setStatus(admin, id, status) {
  if (status !== 'hold' && status !== 'active') throw new UsageError(`status must be hold or active, not "${status}"`);
  printJson(await expectOk(await admin.call('POST', tenantPath(id, '/status'), { status })));
  message(`${id} is ${status === 'hold' ? 'on hold' : 'active'}`);
  return EXIT.ok;
}

/** @param {Admin} admin @param {string[]} _ @param {string | undefined} out */
async function exportAll(admin, _, out) {
  const configs = [];
  for (const { id } of await listEvery(admin, null, PAGE)) {
    const response = await admin.call('GET', tenantPath(id));
    // Deleted between the listing and now: nothing left to export.
    if (response.status === 404) {
      message(`skipped ${id}: deleted while exporting`);
      continue;
    }
    configs.push(await expectOk(response));
  }
  const json = `${JSON.stringify(configs, null, 2)}\n`;
  if (out === undefined) {
    process.stdout.write(json);
  } else {
    try {
      await writeFile(out, json);
    } catch (error) {
      throw new UsageError(`cannot write ${out}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  message(`exported ${configs.length} tenant${configs.length === 1 ? '' : 's'}${out === undefined ? '' : ` to ${out}`}`);
  return EXIT.ok;
}

/** @param {Admin} admin @param {string} file */
async function importAll(admin, file) {
  const configs = await readJsonFile(file);
  if (!Array.isArray(configs)) throw new UsageError(`${file} must hold a JSON array of tenant configs (as export writes)`);
  let failed = 0;
  for (const [index, config] of configs.entries()) {
    const id = isObject(config) && typeof config.id === 'string' ? config.id : null;
    if (id === null) {
      failed++;
      process.stdout.write(`failed - invalid_entry #${index}: not an object with a string "id"\n`);
      continue;
    }
    try {
      const response = await admin.call('PUT', tenantPath(id), config);
      await expectOk(response);
      process.stdout.write(`ok ${response.status} ${id}\n`);
    } catch (error) {
      if (!(error instanceof Refused)) throw error; // unreachable: stop, the rest would fail the same way
      failed++;
      const code = typeof error.body?.error === 'string' ? error.body.error : 'error';
      process.stdout.write(`failed ${error.status} ${code} ${id}: ${refusalDetail(error.body, '')}\n`);
    }
  }
  message(`imported ${configs.length - failed} of ${configs.length} tenant${configs.length === 1 ? '' : 's'}`);
  return failed === 0 ? EXIT.ok : EXIT.refused;
}

/** @param {Admin} admin @param {string | null} only */
async function reseal(admin, only) {
  const ids = only === null ? (await listEvery(admin, null, PAGE)).map((tenant) => tenant.id) : [only];
  let failed = 0;
  for (const id of ids) {
    const outcome = await resealOne(admin, id, only !== null);
    if (outcome.startsWith('failed')) failed++;
    process.stdout.write(`${outcome}\n`);
  }
  message(`resealed or checked ${ids.length - failed} of ${ids.length} tenant${ids.length === 1 ? '' : 's'}`);
  return failed === 0 ? EXIT.ok : EXIT.refused;
}

/** @param {Admin} admin @param {string} action @param {string} id @param {string | undefined} issuer */
async function streams(admin, action, id, issuer) {
  if (!['create', 'list', 'verify', 'delete'].includes(action)) throw new UsageError(`streams takes create, list, verify or delete, not "${action}"`);
  if (action === 'list') {
    if (issuer !== undefined) throw new UsageError('streams list shows every transmitter: it takes no --issuer');
    return printJson(await expectOk(await admin.call('GET', tenantPath(id, '/streams'))));
  }
  if (issuer === undefined || issuer === '') throw new UsageError(`streams ${action} needs --issuer (the transmitter's issuer, as in events.ssf)`);
  if (action === 'create') {
    printJson(await expectOk(await admin.call('POST', tenantPath(id, '/streams'), { issuer })));
    message(`created the stream of ${id} at ${issuer}`);
  } else if (action === 'verify') {
    printJson(await expectOk(await admin.call('POST', tenantPath(id, '/streams/verify'), { issuer })));
    message(`asked ${issuer} for a verification event; "streams list ${id}" shows when it arrives`);
  } else {
    await expectOk(await admin.call('DELETE', tenantPath(id, `/streams?issuer=${encodeURIComponent(issuer)}`)));
    message(`deleted the stream of ${id} at ${issuer}`);
  }
  return EXIT.ok;
}

/** GET, then PUT the same config back with its ETag: an unchanged ETag means nothing needed sealing.
 * @param {Admin} admin @param {string} id @param {boolean} named whether the user named it (else found by listing) */
async function resealOne(admin, id, named) {
  for (let attempt = 1; ; attempt++) {
    try {
      const read = await admin.call('GET', tenantPath(id));
      if (read.status === 404 && !named) return `skipped ${id}: deleted meanwhile`;
      const config = await expectOk(read);
      const etag = read.headers.get('etag') ?? '*';
      const written = await admin.call('PUT', tenantPath(id), config, { 'if-match': etag });
      await expectOk(written);
      // Its Shared Signals streams' secrets live with the streams: reading them seals them again.
      const managed = Array.isArray(config.events?.ssf) && config.events.ssf.some((/** @type {{ management?: unknown }} */ t) => isObject(t.management));
      if (managed) await expectOk(await admin.call('GET', tenantPath(id, '/streams')));
      return `${written.headers.get('etag') === etag ? 'current' : 'resealed'} ${id}`;
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      if (error.status === 412 && attempt < RESEAL_ATTEMPTS) continue;
      const code = typeof error.body?.error === 'string' ? error.body.error : 'error';
      return `failed ${error.status} ${code} ${id}: ${refusalDetail(error.body, '')}`;
    }
  }
}

// ---- the admin API ----

/** @param {Record<string, unknown>} values */
function connect(values) {
  const rawUrl = /** @type {string | undefined} */ (values.url) ?? process.env.EDGE_ADMIN_URL;
  const token = /** @type {string | undefined} */ (values.token) ?? process.env.EDGE_ADMIN_TOKEN;
  const adminHost = /** @type {string | undefined} */ (values['admin-host']) ?? (process.env.EDGE_ADMIN_HOST || undefined);
  const adminHostSetting = values['admin-host'] !== undefined ? `--admin-host ${adminHost}` : `EDGE_ADMIN_HOST=${adminHost}`;
  if (!rawUrl) throw new UsageError('no admin URL: set EDGE_ADMIN_URL or pass --url');
  if (!token) throw new UsageError('no admin token: set EDGE_ADMIN_TOKEN or pass --token');
  /** @type {URL} */
  let base;
  try {
    base = new URL(rawUrl);
  } catch {
    throw new UsageError('the admin URL is not a valid URL');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new UsageError('the admin URL must be http: or https:');
  // Messages name the origin only: a URL may carry credentials.
  const where = base.origin;
  const prefix = base.pathname.replace(/\/+$/, '');

  /** @type {Admin} */
  return {
    async call(method, path, body, headers = {}) {
      /** @type {Record<string, string>} */
      const sent = { accept: 'application/json', authorization: `Bearer ${token}`, ...headers };
      if (body !== undefined) sent['content-type'] = 'application/json';
      const url = new URL(base);
      url.pathname = `${prefix}${path.split('?')[0]}`;
      url.search = path.includes('?') ? path.slice(path.indexOf('?')) : '';
      url.username = url.password = '';
      /** @type {Response} */
      let response;
      try {
        response = await hostRequest(url, { method, headers: sent, host: adminHost, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (error) {
        const code = /** @type {{ code?: string }} */ (error).code;
        throw new Unreachable(`could not connect to ${where}${adminHost ? ` (Host: ${adminHost})` : ''}: ${code ?? (error instanceof Error ? error.message : String(error))}`);
      }
      // The edge took the request for a tenant's: the Host is not its ADMIN_HOST.
      if (response.status === 404 && (await errorCodeOf(response)) === 'unknown_host') {
        const why = adminHost === undefined
          ? 'EDGE_ADMIN_HOST is not set: set it (or pass --admin-host) to the edge\'s ADMIN_HOST (admin.localhost under npm start)'
          : `${adminHostSetting} is not the edge's ADMIN_HOST: set it to that (wrangler.toml [vars] ADMIN_HOST)`;
        throw new UsageError(`${where} answered 404 unknown_host for the host ${adminHost ?? base.hostname}: the admin API answers only on the edge's ADMIN_HOST; ${why}`);
      }
      return response;
    },
  };
}

/** @param {string} id @param {string} [suffix] */
const tenantPath = (id, suffix = '') => `/tenants/${encodeURIComponent(id)}${suffix}`;

/** @param {Admin} admin @param {string | null} cursor @param {number | undefined} limit */
async function listPage(admin, cursor, limit) {
  const query = new URLSearchParams();
  if (cursor !== null) query.set('cursor', cursor);
  if (limit !== undefined) query.set('limit', String(limit));
  const search = query.size > 0 ? `?${query}` : '';
  const page = await expectOk(await admin.call('GET', `/tenants${search}`));
  if (!isObject(page) || !Array.isArray(page.tenants)) throw new Refused(200, null, 'the tenant list is not {tenants, cursor}');
  return /** @type {{ tenants: { id: string, hosts: string[] }[], cursor: string | null }} */ (page);
}

/** @param {Admin} admin @param {string | null} cursor @param {number} limit */
async function listEvery(admin, cursor, limit) {
  const tenants = [];
  const seen = new Set();
  for (;;) {
    const page = await listPage(admin, cursor, limit);
    tenants.push(...page.tenants);
    if (page.cursor === null || page.cursor === undefined || page.cursor === '') return tenants;
    // A cursor that comes back again would loop forever.
    if (seen.has(page.cursor)) throw new Refused(200, null, `the tenant list returned cursor ${page.cursor} twice`);
    seen.add(page.cursor);
    cursor = page.cursor;
  }
}

/** The `error` of a JSON error body, read from a copy (the caller still reads the body). @param {Response} response */
async function errorCodeOf(response) {
  try {
    const body = await response.clone().json();
    return isObject(body) && typeof body.error === 'string' ? body.error : null;
  } catch {
    return null;
  }
}

/**
 * The JSON body of a 2xx answer (null when empty), or a Refused with the API's error.
 * @param {Response} response
 * @returns {Promise<any>}
 */
async function expectOk(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): described by status and text below.
  }
  if (response.status >= 400) throw new Refused(response.status, isObject(body) ? body : null, text);
  return body;
}

/** @param {number} status @param {Record<string, unknown> | null} body @param {string} text */
function describeRefusal(status, body, text) {
  if (body !== null && typeof body.error === 'string') return `${status} ${body.error}: ${refusalDetail(body, '\n  ')}${transmitterDetail(body)}`;
  const excerpt = text.trim().replace(/\s+/g, ' ').slice(0, 200);
  return `${status}${excerpt ? `: ${excerpt}` : ''}`;
}

/** What a transmitter answered, when the API passes it on (502 stream_error). @param {Record<string, unknown>} body */
function transmitterDetail(body) {
  const said = isObject(body.transmitter) ? body.transmitter : null;
  if (said === null) return '';
  const parts = [said.status === null ? 'no answer' : `status ${said.status}`, said.error, said.description].filter((part) => typeof part === 'string' || typeof part === 'number');
  return `\n  the transmitter: ${parts.join(', ')}`;
}

/**
 * The description plus each config issue ("/issuers/0/issuer: must be https"), joined by `separator`.
 * @param {Record<string, unknown> | null} body
 * @param {string} separator
 */
function refusalDetail(body, separator) {
  const description = typeof body?.error_description === 'string' ? body.error_description : '';
  const issues = Array.isArray(body?.issues) ? body.issues : [];
  const lines = issues.map((issue) => (isObject(issue) ? `${issue.path === '' ? '/' : issue.path}: ${issue.message}` : String(issue)));
  if (lines.length === 0) return description;
  return separator === '' ? `${description}: ${lines.join('; ')}` : [description, ...lines].join(separator);
}

// ---- small parts ----

/** @param {string} name @param {string[]} args @param {number} count */
function arity(name, args, count) {
  if (args.length !== count) {
    const said = args.length < count ? 'missing arguments' : `unexpected argument "${args[count]}"`;
    throw new UsageError(`${said} (usage: ${COMMANDS[name]?.usage})`);
  }
  return /** @type {[string, string]} */ (/** @type {unknown} */ (args));
}

/** @param {string} file */
async function readJsonFile(file) {
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${/** @type {{ code?: string }} */ (error).code ?? String(error)}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** @param {unknown} config @param {string} file */
function tenantIdOf(config, file) {
  if (!isObject(config) || typeof config.id !== 'string' || config.id === '') {
    throw new UsageError(`${file} must hold one tenant config with a string "id"`);
  }
  return config.id;
}

/**
 * An entity tag as HTTP wants it: shells eat the quotes of a pasted "abc", so they are put back.
 * @param {string} value
 */
const entityTag = (value) => (/^(W\/)?"/.test(value) || value === '*' ? value : `"${value}"`);

/** @param {string} option @param {string} value @param {number} [max] */
function positiveInteger(option, value, max = Number.MAX_SAFE_INTEGER) {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new UsageError(`${option} must be a whole number from 1${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}`);
  }
  return n;
}

/** @param {unknown} value @returns {value is Record<string, any>} */
const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

/** @param {unknown} data */
function printJson(data) {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  return EXIT.ok;
}

/** @param {string} text */
const message = (text) => process.stderr.write(`${text}\n`);

/** @param {string} name */
const commandHelp = (name) => `Usage: npm run -s tenants -- ${COMMANDS[name]?.usage}\n\n${COMMANDS[name]?.about}\n\nConnection: --url / EDGE_ADMIN_URL, --token / EDGE_ADMIN_TOKEN, --admin-host / EDGE_ADMIN_HOST (see --help).`;

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error) => {
    if (error instanceof UsageError) {
      message(`usage error: ${error.message}\nRun with --help for usage.`);
      process.exitCode = EXIT.usage;
    } else if (error instanceof Refused) {
      message(`error: ${error.message}`);
      process.exitCode = EXIT.refused;
    } else if (error instanceof Unreachable) {
      message(`error: ${error.message}`);
      process.exitCode = EXIT.unreachable;
    } else {
      message(`error: ${error instanceof Error ? error.stack : String(error)}`);
      process.exitCode = EXIT.refused;
    }
  },
);
