// The admin API's tenant records (docs/admin-api.md): PUT, GET and DELETE /tenants/:id.
// Validation and sealing happen here (write-only values are sealed before the Directory object
// sees them, and answered as {"set": true}); every write runs in the Directory object, which
// owns host claims.
//
//   admin.put('/tenants/:id', (c) => putTenant(c.req.raw, c.req.param('id'), { env: c.env, who, now }));
//   // 201/200 + ETag, 400 invalid_config { issues }, 409 host_conflict { conflicts }, 412, ...
import { noteOf } from '../base/denial';
import type { Env } from '../env';
import { settingsOf } from '../config/settings';
import { directoryStub, type Precondition, type TenantWrite, type WriteRefusal } from '../tenants/directory';
import { redactConfig, sealConfig } from '../tenants/secrets';
import { tenantStateStub } from '../revocation/tenant-state';
import { isTenantId, parseTenantConfig, type ConfigIssue, type TenantConfig } from '../config/schema';
import { adminError, type AdminCall } from './answer';
import { deleteTenantStreams } from './streams';
import { readJsonBody } from './json-body';

export type { AdminCall } from './answer';

const JSON_HEADERS = { 'content-type': 'application/json' };

/** A write is made from the stored record (kept secrets, the edge key); when another write lands
 *  in between, it is made again from the new one, this many times at most. */
const WRITE_ATTEMPTS = 5;

export async function putTenant(request: Request, id: string, call: AdminCall): Promise<Response> {
  const body = await readJsonBody(request);
  if (!body.ok) return adminError(body.error, body.description);
  const parsed = validate(body.value, id);
  if (!parsed.ok) return adminError('invalid_config', 'the tenant config is invalid', { issues: parsed.issues });

  const directory = directoryOf(call.env);
  const keyring = settingsOf(call.env).secrets;
  let written: TenantWrite = { ok: false, refusal: { error: 'changed' } };
  let replacedEdgeKey = null;
  for (let attempt = 0; attempt < WRITE_ATTEMPTS && !written.ok && written.refusal.error === 'changed'; attempt++) {
    const current = await directory.recordOf(id);
    const sealed = await sealConfig(parsed.config, current === null ? null : JSON.parse(current.json) as TenantConfig, keyring);
    if (!sealed.ok) return adminError('invalid_config', 'the tenant config is invalid', { issues: sealed.issues });
    replacedEdgeKey = sealed.replacedEdgeKey;
    written = await directory.put(sealed.config, preconditionOf(request), current?.etag ?? null);
  }
  if (!written.ok) return refused(written.refusal, id);
  if (replacedEdgeKey !== null) console.log(JSON.stringify({ event: 'edge_key_replaced', tenant: id, ...replacedEdgeKey }));
  audit(call, { action: written.created ? 'tenant.create' : 'tenant.replace', tenant: id, before: written.before, after: written.after });
  if (!(await startState(call, id, written.created))) {
    return adminError('internal_error',
      `tenant ${id} was written but its state was not reset, so it stays on hold; repeating the PUT finishes it`);
  }
  return new Response(`${JSON.stringify(redactConfig(written.after))}\n`, {
    status: written.created ? 201 : 200,
    headers: { ...JSON_HEADERS, etag: written.etag, ...(written.created ? { location: `/tenants/${id}` } : {}) },
  });
}

export async function getTenant(request: Request, id: string, call: AdminCall): Promise<Response> {
  // From the Directory, not KV: KV may lag a write by a minute, and a stale ETag would make the
  // next If-Match write fail for no reason.
  const record = isTenantId(id) ? await directoryOf(call.env).recordOf(id) : null;
  if (record === null) return adminError('unknown_tenant', `no tenant ${id}`);
  const { json, etag } = record;
  if (entityTags(request.headers.get('if-none-match'), { weak: true }).includes(etag)) {
    return new Response(null, { status: 304, headers: { etag } });
  }
  // The ETag is the stored text's, sealed secrets included: it moves when a secret does, though
  // the answer shows {"set": true} either way.
  const view = redactConfig(JSON.parse(json) as TenantConfig);
  return new Response(`${JSON.stringify(view)}\n`, { status: 200, headers: { ...JSON_HEADERS, etag } });
}

export async function deleteTenant(request: Request, id: string, call: AdminCall): Promise<Response> {
  if (!isTenantId(id)) return adminError('unknown_tenant', `no tenant ${id}`);
  const removed = await directoryOf(call.env).remove(id, preconditionOf(request));
  // Isolates may serve the deleted tenant from their caches (and KV's copies) for a while yet, so
  // its state is retired, not wiped: hold, every token revoked. After the record, never before
  // (a failed removal keeps the tenant as it was); an unknown tenant's is retired too, so
  // repeating a DELETE whose retire failed finishes it.
  if (removed.ok || removed.refusal.error === 'unknown_tenant') await tenantStateStub(call.env.TENANT_STATE, id).retire();
  if (!removed.ok) return refused(removed.refusal, id);
  audit(call, { action: 'tenant.delete', tenant: id, before: removed.before, after: null });
  // Its streams at its transmitters go too, best effort (each logged): the tenant is gone either way.
  if (removed.before !== null) await deleteTenantStreams(call.env, removed.before);
  return new Response(null, { status: 204 });
}

/** A created tenant starts clean: active, tokenVersion 1, nothing revoked, whatever a deleted
 *  tenant of the same id left. The reset runs after the Directory write, so a failure leaves a
 *  reused id's state retired, on hold: fail closed, and the PUT answers 500. Repeating the PUT
 *  is a replace (200), which resets a state still retired (ifRetired) and nothing else, so it
 *  finishes the create without ever wiping a live tenant's revocations. False when it failed. */
async function startState(call: AdminCall, id: string, created: boolean): Promise<boolean> {
  try {
    await tenantStateStub(call.env.TENANT_STATE, id).reset({ ifRetired: !created });
    return true;
  } catch (error) {
    console.log(JSON.stringify({ event: 'tenant_state_reset_failed', tenant: id, note: noteOf(error) }));
    return false;
  }
}

/** The schema's issues, plus the path id: a body without `id` takes it from the path, a body
 *  naming another id is refused at `/id` rather than silently writing a different tenant. */
function validate(body: unknown, id: string): { ok: true; config: TenantConfig } | { ok: false; issues: ConfigIssue[] } {
  const isRecord = typeof body === 'object' && body !== null && !Array.isArray(body);
  const input = isRecord && !('id' in body) ? { id, ...body } : body;
  const mismatch = isRecord && 'id' in body && body.id !== id;
  const issues: ConfigIssue[] = mismatch ? [{ path: '/id', message: `must equal the id in the path (${id})` }] : [];
  const parsed = parseTenantConfig(input, 'written');
  if (!parsed.ok) issues.push(...parsed.issues.filter((issue) => !(mismatch && issue.path === '/id')));
  return parsed.ok && issues.length === 0 ? { ok: true, config: parsed.config } : { ok: false, issues };
}

function refused(refusal: WriteRefusal, id: string): Response {
  switch (refusal.error) {
    case 'host_conflict': {
      const named = refusal.conflicts.map((c) => `${c.host} (tenant ${c.tenant})`).join(', ');
      return adminError('host_conflict', `hosts already claimed: ${named}`, { conflicts: refusal.conflicts });
    }
    case 'precondition_failed':
      return adminError('precondition_failed', `tenant ${id} does not match the request's precondition`);
    case 'unknown_tenant':
      return adminError('unknown_tenant', `no tenant ${id}`);
    case 'changed':
      return adminError('internal_error',
        `tenant ${id} changed under ${WRITE_ATTEMPTS} attempts to write it; repeating the request finishes it`);
    case 'incomplete':
      console.log(JSON.stringify({ event: 'tenant_write_incomplete', tenant: id, note: refusal.note }));
      return adminError('internal_error', 'the change stopped half way; repeating it, or the next scheduled run, finishes it');
  }
}

/** If-Match (strong comparison, RFC 9110 §13.1.1) wins over If-None-Match: * (create only). */
function preconditionOf(request: Request): Precondition {
  const ifMatch = request.headers.get('if-match');
  if (ifMatch !== null) return ifMatch.trim() === '*' ? 'exists' : { etags: entityTags(ifMatch, { weak: false }) };
  return request.headers.get('if-none-match')?.trim() === '*' ? 'absent' : null;
}

/** The entity tags of a list header; weak ones only where weak comparison applies. */
function entityTags(header: string | null, options: { weak: boolean }): string[] {
  if (header === null) return [];
  return [...header.matchAll(/(W\/)?("[^"]*")/g)]
    .filter((match) => options.weak || match[1] === undefined)
    .map((match) => match[2]!);
}

const directoryOf = (env: Env) => directoryStub(env.DIRECTORY);

/** Before and after as GET shows them: a secret is {"set": true} here too. */
function audit(call: AdminCall, change: { action: string; tenant: string; before: TenantConfig | null; after: TenantConfig | null }): void {
  const { before, after, ...what } = change;
  console.log(JSON.stringify({
    event: 'audit', at: new Date(call.now()).toISOString(), who: call.who, ...what,
    before: before && redactConfig(before), after: after && redactConfig(after),
  }));
}
