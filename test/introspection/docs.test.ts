// The issuer examples of docs/introspection.md are accepted as written (with "…" standing for a
// real value) by the admin API, which seals their secrets and makes the edge key that
// private_key_jwt signs with: an example a user copies is never refused.
/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import page from '../../docs/introspection.md?raw';
import { gatewayTest, type TestEdge } from '../support/gateway';

let edge: TestEdge;
let id: string;
gatewayTest('odoc', {}, (made) => ({ edge, id } = made));

/** The ```jsonc blocks holding one issuer, `//` comments outside strings removed. */
const issuerExamples = [...page.matchAll(/```jsonc\n([\s\S]*?)```/g)]
  .map((m) => withoutComments(m[1]!).replaceAll('…', 'x'))
  .filter((block) => /^\s*\{\s*"issuer"/.test(block));

function withoutComments(source: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += source[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
      out += '\n';
    } else {
      if (c === '"') inString = true;
      out += c;
    }
  }
  return out;
}

describe('docs/introspection.md', () => {
  it('shows an issuer example for the block, Okta and Keycloak', () => {
    expect(issuerExamples.length).toBeGreaterThanOrEqual(3);
  });

  it.each(issuerExamples.map((example, i) => [i, example]))('example %i is accepted by PUT /tenants/:id', async (i, example) => {
    const issuer = JSON.parse(example as string) as { issuer: string };
    const response = await edge.putTenant({ id: `${id}-${i}`, hosts: [`api${i}.${id}.example.test`], issuers: [issuer] });
    expect([200, 201]).toContain(response.status);
  });
});
