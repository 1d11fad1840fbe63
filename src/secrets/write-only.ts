// A write-only value of a tenant config, opened (docs/configuration.md "Write-only secrets"): the
// plaintext lives in a closure, so printing, logging or serialising the object that holds it
// shows `{"set": true}`, never the value. Only the code that sends it calls reveal().
//
//   const secret = writeOnly(plaintext);
//   JSON.stringify({ clientSecret: secret });   // '{"clientSecret":{"set":true}}'
//   headers.set('authorization', `Basic ${btoa(`${id}:${secret.reveal()}`)}`);

export interface WriteOnly {
  /** The plaintext, for the one place it is sent. */
  reveal(): string;
  toJSON(): { set: true };
  toString(): string;
}

export function writeOnly(value: string): WriteOnly {
  return Object.freeze({
    reveal: () => value,
    toJSON: () => ({ set: true as const }),
    toString: () => '[write-only]',
  });
}
