// The RFC 8935 error map in code and in the project's own reference (docs/events.md) are the same.
import { describe, expect, it } from 'vitest';
import errors from '../../docs/events.md?raw';
import { SET_ERROR_CODES } from '../../src/events/answer';
import { SET_CODES } from '../../src/events/token-rules';

/** The rows of the "RFC 8935 error codes" table: err -> the reasons it lists. */
function documentedMap(): Map<string, string[]> {
  const section = errors.slice(errors.indexOf('### RFC 8935 error codes'));
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const err = /^`([a-z_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (err === undefined || err === 'err') continue; // the header row
    rows.set(err, [...(cells[3] ?? '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!));
  }
  return rows;
}

describe('docs/events.md', () => {
  it('lists exactly the RFC 8935 codes the SSF endpoint answers', () => {
    expect([...documentedMap().keys()].sort()).toEqual([...SET_ERROR_CODES].sort());
  });

  it('maps each verifier reason to the code the endpoint sends', () => {
    const documented = documentedMap();
    for (const [err, reasons] of documented) for (const reason of reasons) expect(SET_CODES[reason as keyof typeof SET_CODES], reason).toBe(err);
    // Every reason a SET can be refused for is documented (these are access-token-only).
    const listed = new Set([...documented.values()].flat());
    for (const reason of Object.keys(SET_CODES)) {
      if (['wrong_resource', 'wrong_tenant', 'revoked', 'pop_required', 'cert_mismatch', 'inactive'].includes(reason)) continue;
      expect(listed.has(reason), reason).toBe(true);
    }
  });
});
