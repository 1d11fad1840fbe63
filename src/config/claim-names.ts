// Claim names in tenant configs (docs/errors.md, claim names): a top-level claim
// name, or, when it starts with "/", an RFC 6901 JSON Pointer into the verified payload
// (`/realm_access/roles`, `/resource_access/acme-api/roles`). A name with dots or slashes inside
// (`https://acme.com/roles`) is a top-level name. Compiled once per tenant into a reader.
//
//   const roles = compileClaimName('/realm_access/roles');
//   roles.read(payload)               // the value, or undefined when any step is missing
//   isClaimName('/a/~2')              // false: "~" escapes only "~0" and "~1"

export interface ClaimReader {
  /** The name as configured (for notes and logs). */
  readonly name: string;
  /** The value at the name, or undefined. Own members only, so `__proto__` or `constructor`
   *  never reach Object.prototype. */
  read(payload: Readonly<Record<string, unknown>>): unknown;
}

/** RFC 6901 §3: reference tokens hold "~" only as "~0" or "~1". */
const POINTER = /^(?:\/(?:[^~/]|~[01])*)+$/;
/** RFC 6901 §4: an array index is "0" or digits without a leading zero ("-" is past the end). */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/** Whether a configured name is a usable claim name: non-empty, and a valid pointer when it
 *  starts with "/". */
export function isClaimName(name: string): boolean {
  return name.length > 0 && (!name.startsWith('/') || POINTER.test(name));
}

export function compileClaimName(name: string): ClaimReader {
  if (!name.startsWith('/')) return { name, read: (payload) => member(payload, name) };
  const tokens = name.slice(1).split('/').map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
  return {
    name,
    read(payload) {
      let value: unknown = payload;
      for (const token of tokens) {
        if (Array.isArray(value)) value = ARRAY_INDEX.test(token) ? value[Number(token)] : undefined;
        else value = member(value, token);
        if (value === undefined) return undefined;
      }
      return value;
    },
  };
}

function member(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, name)
    ? (value as Record<string, unknown>)[name]
    : undefined;
}
