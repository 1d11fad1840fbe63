// GET /tenants/:id/jwks (docs/admin-api.md): the tenant's edge public key set, to register at a
// provider for private_key_jwt, read from the Directory (strongly consistent); `{"keys": []}` for
// a tenant created without SECRETS_KEY. The private part is never answered.
//
//   admin.get('/tenants/:id/jwks', (c) => getTenantJwks(c.req.param('id'), call(c)));
//   // 200 { keys: [{ kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' }] }; 404 unknown_tenant
import { directoryStub } from '../tenants/directory';
import type { StoredEdgeKey } from '../config/stored-edge-key';
import { edgeKeyJwks } from '../tenants/edge-key';
import { isTenantId } from '../config/schema';
import { adminError } from './answer';
import type { AdminCall } from './answer';

export async function getTenantJwks(id: string, call: AdminCall): Promise<Response> {
  const record = isTenantId(id) ? await directoryStub(call.env.DIRECTORY).recordOf(id) : null;
  if (record === null) return adminError('unknown_tenant', `no tenant ${id}`);
  const { edgeKey } = JSON.parse(record.json) as { edgeKey?: StoredEdgeKey };
  return new Response(JSON.stringify(edgeKeyJwks(edgeKey)), { status: 200, headers: { 'content-type': 'application/json' } });
}
