// The admin API's one funnel from a refusal to a Response: JSON `{ error, error_description }`
// plus any detail fields (issues, conflicts), with the status each code always has.
//
//   return adminError('unknown_tenant', 'no tenant acme');
//   return adminError('invalid_config', 'the config is invalid', { issues });
import type { Clock } from '../base/clock';
import type { Env } from '../env';

/** What every admin handler is called with. */
export interface AdminCall {
  readonly env: Env;
  /** The caller's token hash prefix, for the audit line. */
  readonly who: string;
  readonly now: Clock;
}

export type AdminErrorCode =
  | 'not_found' | 'missing_token' | 'invalid_token' | 'method_not_allowed' | 'body_too_large'
  | 'unsupported_media_type' | 'invalid_json' | 'invalid_config' | 'unknown_tenant'
  | 'host_conflict' | 'precondition_failed' | 'internal_error' | 'invalid_request'
  | 'invalid_limit' | 'invalid_cursor' | 'dns_check_not_configured'
  | 'unknown_stream' | 'stream_exists' | 'stream_error';

const STATUS: Record<AdminErrorCode, number> = {
  not_found: 404,
  missing_token: 401,
  invalid_token: 401,
  method_not_allowed: 405,
  body_too_large: 413,
  unsupported_media_type: 415,
  invalid_json: 400,
  invalid_config: 400,
  unknown_tenant: 404,
  host_conflict: 409,
  precondition_failed: 412,
  internal_error: 500,
  invalid_request: 400,
  invalid_limit: 400,
  invalid_cursor: 400,
  dns_check_not_configured: 400,
  unknown_stream: 404,
  stream_exists: 409,
  stream_error: 502,
};

export function adminError(
  error: AdminErrorCode, description: string, detail: Record<string, unknown> = {}, headers: Record<string, string> = {},
): Response {
  return new Response(`${JSON.stringify({ error, error_description: description, ...detail })}\n`, {
    status: STATUS[error],
    headers: { 'content-type': 'application/json', ...headers },
  });
}
