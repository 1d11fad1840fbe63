// The issuer examples of docs/introspection.md are accepted as written (with "…" standing for a
// real value) by the admin API, which seals their secrets and makes the edge key that
// private_key_jwt signs with: an example a user copies is never refused.
/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import page from '../../docs/introspection.md?raw';
import { gatewayTest, type TestEdge } from '../support/gateway';
import { jsoncBlocks } from '../support/markdown';

let edge: TestEdge;
let id: string;
gatewayTest('odoc', {}, (made) => ({ edge, id } = made));

/** The ```jsonc blocks holding one issuer, `//` comments outside strings removed. */
const issuerExamples = jsoncBlocks(page).map((block) => block.replaceAll('…', 'x')).filter((block) => /^\s*\{\s*"issuer"/.test(block));

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
