// The README's TypeScript recipes are copies of the files in test/recipes/, which `npm run typecheck` checks
// against tokenkeeper's types (and vendor.d.ts for the libraries that are not installed). Each copy follows a
// `<!-- test/recipes/<file>.ts -->` marker in the README and must equal its file, so a recipe cannot drift
// from code that compiles.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const recipes = readdirSync(new URL('test/recipes/', root)).filter(
  (name) => name.endsWith('.ts') && !name.endsWith('.d.ts'),
);
const copies = [...readme.matchAll(/<!-- (test\/recipes\/[\w.-]+) -->\n```ts\n([\s\S]*?)```\n/g)].map(
  ([, path, code]) => ({ path: path!, code: code! }),
);

describe("the README's recipes", () => {
  it('shows every recipe of test/recipes/, each once', () => {
    expect(copies.map(({ path }) => path).sort()).toEqual(recipes.map((name) => `test/recipes/${name}`).sort());
  });

  it.each(copies)('shows $path exactly as the type-checked file', ({ path, code }) => {
    expect(code).toBe(readFileSync(new URL(path, root), 'utf8'));
  });
});
