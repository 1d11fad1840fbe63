// A tenant record as stored: the canonical JSON text of a validated config and its strong
// ETag (RFC 9110 §8.8.3), the same bytes under `tenant/<id>` and every `host/<pattern>`.
//
//   const { json, etag } = await storedRecord(config);   // etag: '"3f2a…"' (quoted)
//   etagOf(await kv.get(tenantKey(id), 'text'))          // what GET answers
import type { TenantConfig } from '../config/schema';

export interface StoredRecord {
  readonly json: string;
  readonly etag: string;
}

export async function storedRecord(config: TenantConfig): Promise<StoredRecord> {
  const json = JSON.stringify(config);
  return { json, etag: await etagOf(json) };
}

/** A quoted prefix of the SHA-256 of the stored text: equal bytes, equal tag. */
export async function etagOf(json: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(json)));
  return `"${[...digest.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join('')}"`;
}
