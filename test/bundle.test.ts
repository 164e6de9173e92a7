/**
 * What a user's bundler makes of the built package: the core entry must bring no ky and no react code, and
 * an import that is not used must leave nothing behind. The consumer is bundled with rollup from `dist/`,
 * resolved through the package's own `exports` map by a small resolver (node-resolve is not a dependency);
 * every other package stays external, so an import of `react` or `ky` shows up in the output as such.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type OutputChunk, type Plugin, rollup } from 'rollup';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

interface PackageJson {
  sideEffects?: boolean | string[];
  exports: Record<string, { import: { default: string } } | string>;
}

const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as PackageJson;

/** `dist/` file that `import 'tokenkeeper…'` reaches, through the `exports` map's `import` condition. */
function resolveExport(specifier: string): string {
  const subpath = specifier === 'tokenkeeper' ? '.' : `.${specifier.slice('tokenkeeper'.length)}`;
  const target = pkg.exports[subpath];
  if (target === undefined || typeof target === 'string') throw new Error(`no import export for ${specifier}`);
  return fileURLToPath(new URL(target.import.default, `file://${root}/`));
}

/**
 * Resolves `tokenkeeper` and its subpaths as a bundler does, honouring `sideEffects` from package.json
 * unless `ignoreSideEffectsFlag`; every other bare import stays external.
 */
function packageResolver(options: { ignoreSideEffectsFlag?: boolean } = {}): Plugin {
  return {
    name: 'resolve-tokenkeeper',
    resolveId(source, importer) {
      if (source === 'virtual:entry') return source;
      if (source === 'tokenkeeper' || source.startsWith('tokenkeeper/')) {
        const moduleSideEffects = options.ignoreSideEffectsFlag ? true : pkg.sideEffects !== false;
        return { id: resolveExport(source), moduleSideEffects };
      }
      if (!source.startsWith('.') && !source.startsWith('/')) return { id: source, external: true };
      return importer ? null : source;
    },
  };
}

/** Bundles `entry` (ES module source) and returns the single output chunk. */
async function bundle(entry: string, options: { ignoreSideEffectsFlag?: boolean } = {}): Promise<OutputChunk> {
  const warnings: string[] = [];
  const build = await rollup({
    input: 'virtual:entry',
    plugins: [
      packageResolver(options),
      {
        name: 'virtual-entry',
        load: (id) => (id === 'virtual:entry' ? entry : null),
      },
    ],
    onwarn: (warning) => {
      warnings.push(warning.message);
    },
  });
  const { output } = await build.generate({ format: 'es' });
  await build.close();
  expect(warnings).toEqual([]);
  expect(output).toHaveLength(1);
  return output[0];
}

/** Every package the bundle imports at runtime, and every file it took code from. */
function describeChunk(chunk: OutputChunk): { imports: string[]; files: string[] } {
  return {
    imports: [...chunk.imports, ...chunk.dynamicImports].sort(),
    files: Object.keys(chunk.modules)
      .filter((id) => id !== 'virtual:entry')
      .map((id) => relative(root, id))
      .sort(),
  };
}

/** Source lines that are not an import of `jwt-decode` (the one runtime dependency). */
function codeBesidesJwtDecode(chunk: OutputChunk): string {
  return chunk.code
    .split('\n')
    .filter((line) => !/^import\s.*['"]jwt-decode['"];?$/.test(line.trim()))
    .join('\n')
    .trim();
}

beforeAll(() => {
  for (const entry of ['.', './ky', './react']) {
    const file = resolveExport(entry === '.' ? 'tokenkeeper' : `tokenkeeper${entry.slice(1)}`);
    if (!existsSync(file)) {
      throw new Error(`${file} is missing: build the package first (npm run build; npm test runs it as pretest)`);
    }
  }
});

describe('bundling the core entry point', () => {
  it('brings no ky and no react code into a bundle that uses createTokenManager', async () => {
    const chunk = await bundle("import { createTokenManager } from 'tokenkeeper';\nconsole.log(createTokenManager);\n");

    const { imports, files } = describeChunk(chunk);
    expect(imports).toEqual(['jwt-decode']);
    expect(files).toEqual(['dist/index.js']);
    expect(chunk.code).toContain('function createTokenManager');
    expect(chunk.code).not.toMatch(/from\s*['"](react|ky)['"]/);
    expect(chunk.code).not.toMatch(/require\(\s*['"](react|ky)['"]\s*\)/);
    expect(chunk.code).not.toContain('useSyncExternalStore');
    expect(chunk.code).not.toContain('kyHooks');
  });

  it('declares sideEffects: false, and an unused import then leaves an empty bundle', async () => {
    expect(pkg.sideEffects).toBe(false);

    const chunk = await bundle("import { createTokenManager } from 'tokenkeeper';\nexport const unused = 1;\n");

    expect(describeChunk(chunk)).toEqual({ imports: [], files: [] });
    expect(chunk.code.trim()).toBe('const unused = 1;\n\nexport { unused };'.trim());
  });

  it('leaves nothing of the core for an unused import even when a bundler ignores the sideEffects flag', async () => {
    // The top level of the core does nothing at import (no global read, no listener), so tree-shaking alone
    // drops it; only the import of its dependency remains, which such a bundler keeps for its own sake.
    const chunk = await bundle("import 'tokenkeeper';\nimport { createTokenManager } from 'tokenkeeper';\n", {
      ignoreSideEffectsFlag: true,
    });

    expect(codeBesidesJwtDecode(chunk)).toBe('');
    expect(describeChunk(chunk).imports.filter((name) => name !== 'jwt-decode')).toEqual([]);
  });
});

describe('bundling the integration entry points', () => {
  it('tokenkeeper/ky imports no ky (and no core) at runtime', async () => {
    const chunk = await bundle("import { kyHooks } from 'tokenkeeper/ky';\nconsole.log(kyHooks);\n");

    expect(describeChunk(chunk)).toEqual({ imports: [], files: ['dist/ky.js'] });
    expect(chunk.code).toContain('function kyHooks');
  });

  it('tokenkeeper/react imports react alone, and no ky', async () => {
    const chunk = await bundle("import { useAuthState } from 'tokenkeeper/react';\nconsole.log(useAuthState);\n");

    expect(describeChunk(chunk)).toEqual({ imports: ['react'], files: ['dist/react.js'] });
    expect(chunk.code).toContain('useSyncExternalStore');
  });
});
