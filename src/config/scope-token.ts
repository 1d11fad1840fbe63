// The syntax of one scope (RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E )): what a
// route may require and what a token's scopes are read as; anything else is never granted and
// never forwarded.
//
//   isScopeToken('orders:read')   // true
//   isScopeToken('read admin')    // false: two scopes, or none

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
export const isScopeToken = (value: string): boolean => SCOPE_TOKEN.test(value);
