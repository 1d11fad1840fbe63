// The admin API's door to a tenant's TenantState (docs/admin-api.md): POST revoke, POST status
// and GET state. The tenant must exist in the Directory (strongly consistent), not merely in KV.
//
//   admin.post('/tenants/:id/revoke', (c) => revokeTokens(c.req.raw, c.req.param('id'), call(c)));
//   // {} | {"sub": S} | {"sid": S} | {"jti": J, "exp": E} -> 200 summary; 400 invalid_request;
//   // 404 unknown_tenant. Never refused for a full list: the list forgets its oldest entries.
//   admin.post('/tenants/:id/status', ...)   // {"status": "hold" | "active"} -> 200 summary
//   admin.get('/tenants/:id/state', ...)     // 200 { status, tokenVersion, revokedBefore, revokedSubjects,
//                                            //       revokedSessions, revokedClaimValues, deniedJtis, floors? }
import type { Env } from '../env';
import { MAX_REVOKED_VALUE_LENGTH, tenantStateStub, type TenantStateSummary, type TenantStatus } from '../revocation/tenant-state';
import { directoryStub } from '../tenants/directory';
import { adminError } from './answer';
import { readJsonBody } from './json-body';
import type { AdminCall } from './tenants';

/** Longest `sub`, `sid` or `jti` accepted (the lists' own bound). */
export const MAX_IDENTIFIER_LENGTH = MAX_REVOKED_VALUE_LENGTH;

export type Revocation =
  | { kind: 'all' }
  | { kind: 'subject'; sub: string }
  | { kind: 'session'; sid: string }
  | { kind: 'jti'; jti: string; exp: number };

type Parsed<T> = { ok: true; value: T } | { ok: false; description: string };

const JSON_HEADERS = { 'content-type': 'application/json' };

export async function revokeTokens(request: Request, id: string, call: AdminCall): Promise<Response> {
  const body = await readJsonBody(request);
  if (!body.ok) return adminError(body.error, body.description);
  const revocation = parseRevocation(body.value);
  if (!revocation.ok) return adminError('invalid_request', revocation.description);
  return change(id, call, { action: 'tenant.revoke', ...revocation.value }, async (state): Promise<TenantStateSummary> => {
    switch (revocation.value.kind) {
      case 'all': return state.revokeAll();
      case 'subject': return state.revokeSubject(revocation.value.sub);
      case 'session': return state.revokeSession(revocation.value.sid);
      case 'jti': return state.revokeJti(revocation.value.jti, revocation.value.exp);
    }
  });
}

export async function setTenantStatus(request: Request, id: string, call: AdminCall): Promise<Response> {
  const body = await readJsonBody(request);
  if (!body.ok) return adminError(body.error, body.description);
  const status = parseStatus(body.value);
  if (!status.ok) return adminError('invalid_request', status.description);
  return change(id, call, { action: 'tenant.status', status: status.value }, (state) => state.setStatus(status.value));
}

export async function getTenantState(_request: Request, id: string, call: AdminCall): Promise<Response> {
  if (!(await directoryOf(call.env).exists(id))) return adminError('unknown_tenant', `no tenant ${id}`);
  const summary = await tenantStateStub(call.env.TENANT_STATE, id).summary();
  return new Response(`${JSON.stringify(summary)}\n`, { status: 200, headers: JSON_HEADERS });
}

/** `{}`, `{"sub"}`, `{"sid"}` or `{"jti", "exp"}` and nothing else: an unknown field may be a
 *  typo that would otherwise revoke far more (or less) than meant. */
export function parseRevocation(body: unknown): Parsed<Revocation> {
  const shape = 'the body must be {}, {"sub": string}, {"sid": string} or {"jti": string, "exp": integer epoch seconds}';
  if (!isObject(body)) return { ok: false, description: shape };
  const keys = Object.keys(body).sort().join(',');
  if (keys === '') return { ok: true, value: { kind: 'all' } };
  if (keys === 'sub') {
    return isIdentifier(body.sub) ? { ok: true, value: { kind: 'subject', sub: body.sub } }
      : { ok: false, description: `sub must be a string of 1 to ${MAX_IDENTIFIER_LENGTH} characters` };
  }
  if (keys === 'sid') {
    return isIdentifier(body.sid) ? { ok: true, value: { kind: 'session', sid: body.sid } }
      : { ok: false, description: `sid must be a string of 1 to ${MAX_IDENTIFIER_LENGTH} characters` };
  }
  if (keys === 'exp,jti') {
    if (!isIdentifier(body.jti)) return { ok: false, description: `jti must be a string of 1 to ${MAX_IDENTIFIER_LENGTH} characters` };
    if (!Number.isSafeInteger(body.exp) || (body.exp as number) <= 0) {
      return { ok: false, description: 'exp must be a positive integer (epoch seconds)' };
    }
    return { ok: true, value: { kind: 'jti', jti: body.jti, exp: body.exp as number } };
  }
  return { ok: false, description: shape };
}

export function parseStatus(body: unknown): Parsed<TenantStatus> {
  if (isObject(body) && Object.keys(body).length === 1 && (body.status === 'active' || body.status === 'hold')) {
    return { ok: true, value: body.status };
  }
  return { ok: false, description: 'the body must be {"status": "active"} or {"status": "hold"}' };
}

type StateStub = ReturnType<typeof tenantStateStub>;

/** Existence, the change, and an audit line. A DELETE that ran between the check and the change
 *  may have retired the state before the change undid that (a move to active, a write that
 *  clears the retired mark), so the check is repeated after and the state retired again. */
async function change(
  id: string, call: AdminCall, what: Record<string, unknown> & { action: string },
  apply: (state: StateStub) => Promise<TenantStateSummary>,
): Promise<Response> {
  const directory = directoryOf(call.env);
  if (!(await directory.exists(id))) return adminError('unknown_tenant', `no tenant ${id}`);
  const state = tenantStateStub(call.env.TENANT_STATE, id);
  const before = await state.summary();
  const after: TenantStateSummary = await apply(state);
  if (!(await directory.exists(id))) {
    await state.retire();
    return adminError('unknown_tenant', `no tenant ${id}`);
  }
  const { action, ...detail } = what;
  const at = new Date(call.now()).toISOString();
  console.log(JSON.stringify({ event: 'audit', at, who: call.who, action, tenant: id, ...detail, before, after }));
  return new Response(`${JSON.stringify(after)}\n`, { status: 200, headers: JSON_HEADERS });
}

const directoryOf = (env: Env) => directoryStub(env.DIRECTORY);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIdentifier(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_IDENTIFIER_LENGTH;
}
