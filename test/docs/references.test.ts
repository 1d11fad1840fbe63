// What the project's own pages (README.md, SECURITY.md, docs/*.md) point at exists in this
// repository, as they name it: files and folders (src/ was reorganised once, and paths went
// stale), the README's request-flow picture's files, the tests named beside a test file, links
// and their anchors (none leaving the repository), `npm run` scripts, and the commands and
// options of the CLIs a page runs. Vite's import.meta.glob lists the repository's files here,
// inside workerd, without a file system.
import { describe, expect, it } from 'vitest';

const PAGES = import.meta.glob(['/README.md', '/SECURITY.md', '/docs/*.md'], { query: '?raw', import: 'default', eager: true }) as Record<string, string>;
/** Every file of the repository a page may name (keys only: nothing is loaded). */
const FILES = new Set(Object.keys(import.meta.glob([
  '/*.*', '/src/**', '/test/**', '/dev/**', '/dev/.dev.vars', '/scripts/**', '/bench/**', '/docs/**',
])).map((path) => path.slice(1)));
const SOURCES = import.meta.glob(['/test/**/*.ts', '/dev/*.mjs', '/scripts/*.mjs'], { query: '?raw', import: 'default' }) as Record<string, () => Promise<string>>;
const PACKAGE = JSON.parse(Object.values(import.meta.glob('/package.json', { query: '?raw', import: 'default', eager: true }))[0] as string) as { scripts: Record<string, string> };
/** Made at run time, never committed. */
const MADE_AT_RUN_TIME = new Set(['dev/.state']);

const pages = Object.entries(PAGES).map(([path, text]) => ({ path: path.slice(1), text }));
const isFolder = (path: string) => [...FILES].some((file) => file.startsWith(`${path.replace(/\/$/, '')}/`));
/** A page's text outside its fenced code blocks, where a path is a path and not a URL's. */
const prose = (text: string) => text.replaceAll(/^```[\s\S]*?^```$/gm, '');
const srcFolders = [...new Set([...FILES].filter((file) => file.startsWith('src/')).map((file) => file.split('/').slice(1, -1).join('/')).filter(Boolean))];

describe('the pages', () => {
  it('are found', () => {
    expect(pages.map((page) => page.path).sort()).toEqual(expect.arrayContaining(['README.md', 'SECURITY.md', 'docs/README.md', 'docs/configuration.md']));
    expect(FILES.has('src/pipeline/decide.ts')).toBe(true);
  });

  it('name files and folders of the repository that exist', () => {
    const missing: string[] = [];
    for (const { path, text } of pages) {
      // src/…, test/…, dev/… as written, not inside a URL or /dev/null.
      for (const [, name] of text.matchAll(/(?<![\w./:-])((?:src|test|dev|scripts|bench|docs)\/[\w./*-]*[\w*])/g)) {
        const clean = name!.replace(/\/?\*.*$/, '');
        if (MADE_AT_RUN_TIME.has(clean) || FILES.has(clean) || isFolder(clean)) continue;
        missing.push(`${path}: ${name}`);
      }
      // A folder of src/ and a file in it (`http/metadata.ts`), as the README's picture writes them.
      for (const [, name] of text.matchAll(/(?<![\w./:-])([\w-]+(?:\/[\w-]+)*\/[\w.-]+\.ts)\b/g)) {
        if (name!.startsWith('src/') || name!.startsWith('test/') || name!.startsWith('bench/')) continue;
        if (srcFolders.includes(name!.split('/').slice(0, -1).join('/')) && !FILES.has(`src/${name}`)) missing.push(`${path}: ${name} (src/${name})`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('name, in the README\'s request flow, only files of src/', () => {
    const readme = PAGES['/README.md']!;
    const picture = readme.slice(readme.indexOf('client ──►'), readme.indexOf('origin\n'));
    expect(picture.length).toBeGreaterThan(500);
    const basenames = new Set([...FILES].filter((file) => file.startsWith('src/')).map((file) => file.split('/').pop()));
    const named = [...picture.matchAll(/([\w-]+\.ts)\b/g)].map((match) => match[1]!);
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter((name) => !basenames.has(name))).toEqual([]);
  });

  it('quote the names of tests that the named test file holds', async () => {
    const missing: string[] = [];
    for (const { path, text } of pages) {
      // Lines wrap inside a quoted name: read them as one.
      for (const [, file, name] of text.replaceAll(/\n\s*/g, ' ').matchAll(/`(test\/[\w/.-]+\.ts)`,\s+"([^"]+)/g)) {
        const source = SOURCES[`/${file}`];
        if (source === undefined) missing.push(`${path}: ${file} (no such file)`);
        // A name in single quotes escapes its apostrophes in the source: read them as written.
        else if (!(await source()).replaceAll("\\'", "'").includes(name!)) missing.push(`${path}: ${file}, "${name}"`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('link inside the repository, to files and headings that exist', () => {
    const broken: string[] = [];
    for (const { path, text } of pages) {
      for (const [, href] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^https:\/\/developers\.cloudflare\.com\//.test(href!)) continue; // Cloudflare's published prices, cited
        if (/^[a-z]+:/.test(href!)) {
          broken.push(`${path}: ${href} (leaves the repository)`);
          continue;
        }
        const [target = '', anchor] = href!.split('#');
        const resolved = target === '' ? path : resolve(path, target);
        if (resolved === null) broken.push(`${path}: ${href} (leaves the repository)`);
        else if (!FILES.has(resolved) && !isFolder(resolved)) broken.push(`${path}: ${href} (no such file)`);
        else if (anchor !== undefined && !headingsOf(PAGES[`/${resolved}`] ?? '').has(anchor)) broken.push(`${path}: ${href} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('run only npm scripts that package.json has', () => {
    const scripts = Object.keys(PACKAGE.scripts);
    const unknown = pages.flatMap(({ path, text }) => [...text.matchAll(/\bnpm (?:run(?: -s)? ([a-z][\w:-]*)|(start|test)\b)/g)]
      .map((match) => match[1] ?? match[2]!).filter((name) => !scripts.includes(name)).map((name) => `${path}: npm run ${name}`));
    expect(unknown).toEqual([]);
  });

  it('give the CLIs only commands and options they take', async () => {
    const cli: Record<string, string> = { tenants: 'scripts/tenants.mjs', token: 'dev/token.mjs', call: 'dev/call.mjs', session: 'dev/session.mjs' };
    const wrong: string[] = [];
    for (const { path, text } of pages) {
      for (const [line, script, rest] of text.matchAll(/npm run -s (tenants|token|call|session) -- ([^\n#`]*)/g)) {
        const source = await SOURCES[`/${cli[script!]}`]!();
        const command = /^([a-z][\w-]*)/.exec(rest!)?.[1];
        if (script === 'tenants' && command !== undefined && !source.includes(`case '${command}':`)) wrong.push(`${path}: ${line}: no command ${command}`);
        if (script === 'session' && command !== undefined && !['login', 'logout'].includes(command)) wrong.push(`${path}: ${line}: no command ${command}`);
        for (const [, option] of rest!.matchAll(/(?<![\w-])--([a-z][\w-]*)/g)) {
          if (!new RegExp(`(?:^|[\\s{,])'?${option}'?: \\{ type:`, 'm').test(source)) wrong.push(`${path}: ${line}: no option --${option}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

/** A relative link's file, from the page that holds it; null when it leaves the repository. */
function resolve(from: string, target: string): string | null {
  const parts = from.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else if (part !== '.' && part !== '') {
      parts.push(part);
    }
  }
  return parts.join('/');
}

/** The anchors of a page's headings, as GitHub makes them. */
function headingsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of prose(markdown).matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading!.toLowerCase().replaceAll(/[^\p{L}\p{N} _-]/gu, '').replaceAll(' ', '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}
