// Every whole tenant config shown in the project's own docs (docs/configuration.md, README.md)
// passes the schema: an example a user copies is never refused.
/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import configuration from '../../docs/configuration.md?raw';
import readme from '../../README.md?raw';
import { parseTenantConfig } from '../../src/config/schema';
import { jsoncBlocks } from '../support/markdown';

/** The ```jsonc blocks holding a whole tenant config (an "id" member), `//` comments removed. */
function tenantExamples(markdown: string): string[] {
  return jsoncBlocks(markdown).filter((block) => /^\s*\{\s*"id"/.test(block));
}

describe('tenant configs in the docs', () => {
  const examples = [...tenantExamples(configuration).map((e) => ['docs/configuration.md', e]), ...tenantExamples(readme).map((e) => ['README.md', e])];

  it('finds them', () => {
    expect(examples.filter(([file]) => file === 'docs/configuration.md').length).toBeGreaterThanOrEqual(3);
    expect(examples.filter(([file]) => file === 'README.md').length).toBeGreaterThanOrEqual(1);
  });

  it.each(examples)('%s: each one is valid', (_file, example) => {
    const parsed = parseTenantConfig(JSON.parse(example));
    expect(parsed.ok ? [] : parsed.issues).toEqual([]);
  });
});
