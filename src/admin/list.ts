// GET /tenants?cursor=&limit= (docs/admin-api.md): the tenants in id order, a page at a time,
// from the Directory's strongly consistent table. Keyset paging: the cursor is the last id of the
// page (base64url, opaque to callers), so every page costs the same however deep the walk.
//
//   admin.get('/tenants', (c) => listTenants(c.req.raw, call(c)));
//   // 200 { tenants: [{ id, hosts }], cursor: "dC0x…" | null }; 400 invalid_limit | invalid_cursor
import { directoryStub } from '../tenants/directory';
import { isTenantId } from '../config/schema';
import { adminError } from './answer';
import type { AdminCall } from './answer';

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1_000;


export async function listTenants(request: Request, call: AdminCall): Promise<Response> {
  const url = new URL(request.url);
  const limit = limitOf(url.searchParams.get('limit'));
  if (limit === null) return adminError('invalid_limit', `limit must be a whole number from 1 to ${MAX_PAGE}`);
  const after = cursorOf(url.searchParams.get('cursor'));
  if (after === undefined) return adminError('invalid_cursor', 'cursor must be a value a previous page returned');

  const directory = directoryStub(call.env.DIRECTORY);
  // One row more than asked says whether another page exists, so the last page's cursor is null.
  const rows = await directory.listTenants(after, limit + 1);
  const tenants = rows.slice(0, limit).map((row) => ({ id: row.id, hosts: row.hosts }));
  const cursor = rows.length > limit ? encodeCursor(tenants[tenants.length - 1]!.id) : null;
  return new Response(`${JSON.stringify({ tenants, cursor })}\n`, { status: 200, headers: { 'content-type': 'application/json' } });
}

/** Absent or empty: the default; otherwise digits only, 1..MAX_PAGE; null when invalid. */
function limitOf(raw: string | null): number | null {
  if (raw === null || raw === '') return DEFAULT_PAGE;
  if (!/^\d{1,7}$/.test(raw)) return null;
  const limit = Number(raw);
  return limit >= 1 && limit <= MAX_PAGE ? limit : null;
}

/** Absent or empty: from the start (null); undefined when the cursor is not one we issued. */
function cursorOf(raw: string | null): string | null | undefined {
  if (raw === null || raw === '') return null;
  if (!/^[A-Za-z0-9_-]{1,86}$/.test(raw)) return undefined;
  let id: string;
  try {
    id = atob(raw.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    return undefined;
  }
  return isTenantId(id) && encodeCursor(id) === raw ? id : undefined;
}

const encodeCursor = (id: string): string => btoa(id).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
