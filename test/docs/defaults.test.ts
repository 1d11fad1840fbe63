// The defaults and bounds the pages state are the ones the code applies: docs/configuration.md's
// field table against a config parsed by the schema (src/config/schema.ts) and the bounds it
// accepts, its Worker settings table and the README's vars against the settings parsed from no
// vars (src/config/settings.ts) and wrangler.toml, and docs/dpop.md's table against the same.
import { describe, expect, it } from 'vitest';
import configuration from '../../docs/configuration.md?raw';
import dpop from '../../docs/dpop.md?raw';
import readme from '../../README.md?raw';
import wranglerToml from '../../wrangler.toml?raw';
import { parseTenantConfig, type TenantConfig } from '../../src/config/schema';
import { parseSettings } from '../../src/config/settings';

const BASE = { id: 'acme', hosts: ['api.acme.com'], issuers: [{ issuer: 'https://issuer.example/', audiences: ['https://api.acme.com'] }] };

/** The cells of the table row whose first cell is `name` (in backticks), in the first table that has one. */
function row(markdown: string, name: string): string[] {
  const line = markdown.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
  expect(line, `a row for ${name}`).toBeDefined();
  return line!.split(/(?<!\\)\|/).slice(2, -1).map((cell) => cell.trim());
}

/** A number as the pages write it: 86,400. */
const written = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const listed = (values: readonly string[]) => `\`${values.join(' ')}\``;

/** The config the schema makes of BASE changed by `change` (BASE's first issuer and a route, a
 *  cors, dpop and dnsCheck block to fill in), or null when the schema refuses it. */
function parsed(change: (config: any) => void = () => {}): TenantConfig | null {
  const config: any = structuredClone({ ...BASE, routes: [{ path: '/*' }] });
  change(config);
  const result = parseTenantConfig(config);
  return result.ok ? result.config : null;
}

/** The "a–b" range a row's meaning states, and whether the schema takes exactly it. */
function expectRange(cells: string[], set: (config: any, value: number) => void) {
  const range = /(\d[\d,]*) ?(?:–|to) ?(\d[\d,]*)/.exec(cells.join(' '));
  expect(range, cells.join(' | ')).not.toBeNull();
  const [min, max] = [Number(range![1]!.replaceAll(',', '')), Number(range![2]!.replaceAll(',', ''))];
  expect(parsed((c) => set(c, min)), `${min} accepted`).not.toBeNull();
  expect(parsed((c) => set(c, max)), `${max} accepted`).not.toBeNull();
  expect(parsed((c) => set(c, min - 1)), `${min - 1} refused`).toBeNull();
  expect(parsed((c) => set(c, max + 1)), `${max + 1} refused`).toBeNull();
}

describe('docs/configuration.md "Fields"', () => {
  const config = parsed((c) => {
    c.cors = { allowOrigins: ['*'] };
    c.dpop = {};
    c.dnsCheck = { type: 'CNAME', target: 'edge.example' };
  })!;
  const issuer = config.issuers[0]!;

  it('states the issuer defaults the schema applies', () => {
    expect(row(configuration, 'issuers[].audienceClaim')[0]).toBe(`\`${issuer.audienceClaim}\``);
    expect(row(configuration, 'issuers[].algorithms')[0]).toBe(listed(issuer.algorithms));
    expect(row(configuration, 'issuers[].clockToleranceSeconds')[0]).toBe(String(issuer.clockToleranceSeconds));
    expect(row(configuration, 'issuers[].scopeClaims')[0]).toBe(listed(issuer.scopeClaims));
    expect(row(configuration, 'issuers[].clientIdClaims')[0]).toBe(listed(issuer.clientIdClaims));
    expect(row(configuration, 'issuers[].proofOfPossession')[0]).toBe(`\`${issuer.proofOfPossession}\``);
    expect(issuer.maxTokenAgeSeconds).toBeNull();
    expect(row(configuration, 'issuers[].maxTokenAgeSeconds')[0]).toBe('none');
    expect(issuer.requiredType).toBeNull();
    expect(row(configuration, 'issuers[].requiredType')[0]).toBe('none');
  });

  it('states the route, cors, forward, revocation, dpop and dnsCheck defaults the schema applies', () => {
    expect(parsed((c) => { delete c.routes; })!.routes).toEqual([{ path: '/*', auth: 'required', scopes: [] }]);
    expect(row(configuration, 'routes')[0]).toBe('`[{ "path": "/*" }]`');
    expect(row(configuration, 'routes[].auth')[0]).toBe(`\`${config.routes[0]!.auth}\``);
    expect(row(configuration, 'routes[].scopes')[0]).toBe(`\`${JSON.stringify(config.routes[0]!.scopes)}\``);
    expect(row(configuration, 'cors.allowMethods')[0]).toBe(listed(config.cors!.allowMethods));
    expect(row(configuration, 'cors.allowHeaders')[0]).toBe(listed(config.cors!.allowHeaders));
    expect(row(configuration, 'cors.maxAgeSeconds')[0]).toBe(written(config.cors!.maxAgeSeconds));
    expect(row(configuration, 'forward.claimHeaders')[0]).toBe(`\`${JSON.stringify(config.forward.claimHeaders)}\``);
    expect(row(configuration, 'forward.stripAuthorization')[0]).toBe(`\`${config.forward.stripAuthorization}\``);
    expect(row(configuration, 'revocation.maxStalenessSeconds')[0]).toBe(written(config.revocation.maxStalenessSeconds));
    expect(row(configuration, 'revocation.retainSeconds')[0]).toBe(written(config.revocation.retainSeconds));
    expect(row(configuration, 'dpop')[0]).toBe(`\`{ maxAgeSeconds: ${config.dpop!.maxAgeSeconds}, nonce: ${config.dpop!.nonce} }\``);
    expect(row(configuration, 'dnsCheck')[1]).toContain(`failuresBeforeHold: ${config.dnsCheck!.failuresBeforeHold}`);
    expect(row(configuration, 'dnsCheck')[1]).toContain(`mode: ${config.dnsCheck!.mode}\\|`);
  });

  it('states the bounds the schema takes, no more and no less', () => {
    expectRange(row(configuration, 'issuers[].clockToleranceSeconds'), (c, n) => { c.issuers[0].clockToleranceSeconds = n; });
    expectRange(row(configuration, 'routes[].maxAuthAgeSeconds'), (c, n) => { c.routes[0].maxAuthAgeSeconds = n; });
    expectRange(row(configuration, 'cors.maxAgeSeconds'), (c, n) => { c.cors = { allowOrigins: ['*'], maxAgeSeconds: n }; });
    expectRange(row(configuration, 'revocation.maxStalenessSeconds'), (c, n) => { c.revocation = { maxStalenessSeconds: n }; });
    expectRange(row(configuration, 'revocation.retainSeconds'), (c, n) => { c.revocation = { retainSeconds: n }; });
    expectRange(row(configuration, 'dpop'), (c, n) => { c.dpop = { maxAgeSeconds: n }; });
    const atMost = (name: string) => Number(/at most (\d+)/.exec(row(configuration, name).join(' '))![1]);
    const many = (n: number, make: (i: number) => unknown) => Array.from({ length: n }, (_, i) => make(i));
    const hosts = atMost('hosts');
    expect(parsed((c) => { c.hosts = many(hosts, (i) => `h${i}.acme.com`); })).not.toBeNull();
    expect(parsed((c) => { c.hosts = many(hosts + 1, (i) => `h${i}.acme.com`); })).toBeNull();
    const issuers = atMost('issuers[].issuer');
    expect(parsed((c) => { c.issuers = many(issuers, (i) => ({ issuer: `https://i${i}.example/`, audiences: ['a'] })); })).not.toBeNull();
    expect(parsed((c) => { c.issuers = many(issuers + 1, (i) => ({ issuer: `https://i${i}.example/`, audiences: ['a'] })); })).toBeNull();
    const routes = atMost('routes');
    expect(parsed((c) => { c.routes = many(routes, (i) => ({ path: `/r${i}` })); })).not.toBeNull();
    expect(parsed((c) => { c.routes = many(routes + 1, (i) => ({ path: `/r${i}` })); })).toBeNull();
  });
});

describe('the Worker settings', () => {
  const defaults = parseSettings({});
  const expected: Record<string, string> = {
    ADMIN_HOST: defaults.adminHost,
    TENANT_CACHE_SECONDS: String(defaults.tenantCacheSeconds),
    ALLOW_INSECURE_ISSUERS: String(defaults.allowInsecureIssuers),
    DOH_URL: defaults.dohUrl,
    LOG_SAMPLE_RATE: String(defaults.logSampleRate),
    DEBUG_TIMING: String(defaults.debugTiming),
  };
  const unquoted = (cell: string) => cell.replaceAll(/[`"]/g, '');

  it('docs/configuration.md states the defaults of settings parsed from no vars', () => {
    for (const [name, value] of Object.entries(expected)) expect(unquoted(row(configuration, name)[0]!), name).toBe(value);
  });

  it('wrangler.toml sets each var to its default, and the README says so', () => {
    const vars = wranglerToml.slice(wranglerToml.indexOf('[vars]'), wranglerToml.indexOf('\n[', wranglerToml.indexOf('[vars]') + 1));
    const toml = Object.fromEntries([...vars.matchAll(/^(\w+) = "([^"]*)"$/gm)].map((m) => [m[1], m[2]]));
    expect(toml).toEqual(expected);
    const bindings = readme.slice(readme.indexOf('Vars: '), readme.indexOf('the secrets', readme.indexOf('Vars: ')));
    const stated = Object.fromEntries([...bindings.matchAll(/`(\w+)`\s+\(`?"?([^`")]+)"?`?\)/g)].map((m) => [m[1], m[2]]));
    expect(stated).toEqual(expected);
  });
});

describe('docs/dpop.md "Configuration"', () => {
  it('states the defaults and the range the schema applies', () => {
    const config = parsed((c) => { c.dpop = {}; })!;
    expect(row(dpop, 'issuers[].proofOfPossession')[0]).toBe(`\`"${config.issuers[0]!.proofOfPossession}"\``);
    expect(row(dpop, 'dpop.maxAgeSeconds')[0]).toBe(String(config.dpop!.maxAgeSeconds));
    expect(row(dpop, 'dpop.nonce')[0]).toBe(`\`${config.dpop!.nonce}\``);
    expectRange(row(dpop, 'dpop.maxAgeSeconds'), (c, n) => { c.dpop = { maxAgeSeconds: n }; });
  });
});
