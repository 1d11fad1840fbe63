// POST /tenants/:id/dns-check (docs/admin-api.md): the scheduled DNS drift check, run now for
// the tenant's exact hosts and reported; it counts nothing toward a hold. Wildcards name no
// single host a resolver could answer for, so they are listed as skipped.
//
//   admin.post('/tenants/:id/dns-check', (c) => checkTenantDns(c.req.param('id'), call(c)));
//   // 200 { results: [{ host, expected, found, verdict, note? }], skipped: [{ host, reason }] }
//   // 404 unknown_tenant; 400 dns_check_not_configured
import { checkHost, exactHosts } from '../tenants/dns';
import { settingsOf } from '../config/settings';
import { directoryStub } from '../tenants/directory';
import { isTenantId } from '../config/schema';
import { adminError } from './answer';
import type { AdminCall } from './answer';


export async function checkTenantDns(id: string, call: AdminCall, options: { timeoutMs?: number } = {}): Promise<Response> {
  if (!isTenantId(id)) return adminError('unknown_tenant', `no tenant ${id}`);
  const directory = directoryStub(call.env.DIRECTORY);
  const config = await directory.configOf(id);
  if (config === null) return adminError('unknown_tenant', `no tenant ${id}`);
  const check = config.dnsCheck;
  if (check === null) return adminError('dns_check_not_configured', `tenant ${id} has no dnsCheck in its config`);

  const { exact, wildcards } = exactHosts(config.hosts);
  const dns = { dohUrl: settingsOf(call.env).dohUrl, timeoutMs: options.timeoutMs };
  const results = await Promise.all(exact.map((host) => checkHost(host, check, dns)));
  const skipped = wildcards.map((host) => ({ host, reason: 'a wildcard names no single host to resolve' }));
  return new Response(`${JSON.stringify({ results, skipped })}\n`, { status: 200, headers: { 'content-type': 'application/json' } });
}
