// The code blocks of the project's own pages, read as a user copies them: the ```jsonc blocks
// with their `//` comments removed (outside strings: "https://…" stays).
//   const configs = jsoncBlocks(page).filter((block) => /^\s*\{\s*"id"/.test(block));

/** The ```jsonc blocks of a page, `//` comments removed. */
export function jsoncBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```jsonc\n([\s\S]*?)```/g)].map((m) => withoutComments(m[1]!));
}

/** Drops `// …` to the end of the line, outside strings. */
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
