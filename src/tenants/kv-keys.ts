// Every key of the TENANTS namespace and the Directory object's name: the one place that
// knows the storage layout, so the request path, the admin writes and the cron agree.
//
//   kv.get(tenantKey('acme'), 'json')              // the canonical stored config
//   kv.get(hostLookupOrder(host).map(hostKey))     // one bulk read per cold host
//   env.DIRECTORY.idFromName(DIRECTORY_NAME)       // the one global host-claim registry

/** `tenant/<id>`: the canonical stored config (what the admin API reads). */
export const TENANT_KEY_PREFIX = 'tenant/';
/** `host/<pattern>`: a full copy of the config of the tenant holding that host's claim. The copy
 *  (rather than a pointer to `tenant/<id>`) is what gives one KV read per cold host. */
export const HOST_KEY_PREFIX = 'host/';

export const tenantKey = (tenantId: string): string => `${TENANT_KEY_PREFIX}${tenantId}`;
export const hostKey = (pattern: string): string => `${HOST_KEY_PREFIX}${pattern}`;

/** The tenant id a `tenant/<id>` key names (for listing by prefix). */
export const tenantIdOfKey = (key: string): string => key.slice(TENANT_KEY_PREFIX.length);

/** One global Directory: host claims must be serialised in one place to be exclusive. */
export const DIRECTORY_NAME = 'directory';
