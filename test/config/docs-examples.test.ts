// Every whole tenant config shown in the project's own docs (docs/configuration.md, README.md)
// passes the schema: an example a user copies is never refused.
/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import configuration from '../../docs/configuration.md?raw';
import readme from '../../README.md?raw';
import { parseTenantConfig } from '../../src/config/schema';

/** The ```jsonc blocks holding a whole tenant config (an "id" member), `//` comments removed. */
function tenantExamples(markdown: string): string[] {
  return [...markdown.matchAll(/```jsonc\n([\s\S]*?)```/g)].map((m) => withoutComments(m[1]!)).filter((block) => /^\s*\{\s*"id"/.test(block));
}

/** Drops `// …` to the end of the line, outside strings ("https://…" stays). */
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
