/**
 * The acceptance check of the published package: `npm pack`, install the tarball into an empty project,
 * then load every entry point from ESM and CommonJS in fresh Node processes and resolve its types with
 * TypeScript under moduleResolution bundler, node16 and node10.
 *
 * ky and react are optional peer dependencies, so npm does not install them; they are linked from this
 * repository's node_modules, which keeps the test fast and offline apart from jwt-decode (npm's cache).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules/typescript/bin/tsc');

let workspace = '';
let consumer = '';
let packedFiles: string[] = [];

function run(command: string, args: string[], cwd: string, timeout = 60_000): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

/** Runs `code` in a fresh Node process in the consumer project and returns the JSON it printed last. */
function node(code: string, type: 'module' | 'commonjs'): unknown {
  const output = run(process.execPath, [`--input-type=${type}`, '-e', code], consumer);
  return JSON.parse(output.trim().split('\n').pop()!);
}

/** Installs npm's tarball with the cache first; the registry is only asked for what the cache lacks. */
function installTarball(tarball: string): void {
  const args = ['install', tarball, '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts'];
  try {
    run('npm', [...args, '--offline'], consumer, 90_000);
  } catch {
    run('npm', [...args, '--prefer-offline'], consumer, 90_000);
  }
}

beforeAll(() => {
  for (const file of ['dist/index.js', 'dist/index.cjs', 'dist/ky.js', 'dist/react.js']) {
    if (!existsSync(join(root, file))) {
      throw new Error(`${file} is missing: build the package first (npm run build; npm test runs it as pretest)`);
    }
  }
  workspace = mkdtempSync(join(tmpdir(), 'tokenkeeper-pack-'));
  const [packed] = JSON.parse(
    run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', workspace], root),
  ) as { filename: string; files: { path: string }[] }[];
  packedFiles = packed!.files.map((file) => file.path).sort();

  consumer = join(workspace, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '1.0.0' }));
  installTarball(join(workspace, packed!.filename));
  for (const peer of ['ky', 'react']) {
    symlinkSync(join(root, 'node_modules', peer), join(consumer, 'node_modules', peer), 'dir');
  }
}, 120_000);

afterAll(() => {
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

describe('the packed tarball', { timeout: 60_000 }, () => {
  it('holds the built files and package metadata only', () => {
    expect(packedFiles).toContain('package.json');
    expect(packedFiles).toEqual(
      expect.arrayContaining([
        'dist/index.js',
        'dist/index.cjs',
        'dist/index.d.ts',
        'dist/index.d.cts',
        'dist/ky.js',
        'dist/ky.cjs',
        'dist/ky.d.ts',
        'dist/ky.d.cts',
        'dist/react.js',
        'dist/react.cjs',
        'dist/react.d.ts',
        'dist/react.d.cts',
      ]),
    );
    for (const file of packedFiles) expect(file).toMatch(/^(dist\/|package\.json$|README\.md$|LICENSE)/);
  });

  it('installs with its one runtime dependency, and without its optional peers', () => {
    const installed = JSON.parse(readFileSync(join(consumer, 'node_modules/tokenkeeper/package.json'), 'utf8'));
    expect(installed.name).toBe('tokenkeeper');
    expect(Object.keys(installed.dependencies)).toEqual(['jwt-decode']);
    expect(installed.peerDependenciesMeta).toEqual({ ky: { optional: true }, react: { optional: true } });
    expect(existsSync(join(consumer, 'node_modules/jwt-decode/package.json'))).toBe(true);
  });
});

describe('loading the installed package', { timeout: 60_000 }, () => {
  it("import('tokenkeeper') gives a working core from the ESM build", () => {
    const result = node(
      `
      const url = import.meta.resolve('tokenkeeper');
      const { createTokenManager, ConfigurationError } = await import('tokenkeeper');
      const auth = createTokenManager({ refresh: { url: 'https://api.example/refresh' }, allowedOrigins: ['https://api.example'] });
      await auth.ready;
      const status = auth.getState().status;
      auth.destroy();
      console.log(JSON.stringify({ url, status, error: new ConfigurationError('x').code }));
      `,
      'module',
    );
    expect(result).toEqual({
      url: expect.stringMatching(/\/node_modules\/tokenkeeper\/dist\/index\.js$/),
      status: 'unauthenticated',
      error: 'configuration',
    });
  });

  it("import('tokenkeeper/ky') and import('tokenkeeper/react') load their ESM builds", () => {
    const result = node(
      `
      const { createTokenManager } = await import('tokenkeeper');
      const { kyHooks } = await import('tokenkeeper/ky');
      const { useAuthState } = await import('tokenkeeper/react');
      const auth = createTokenManager({ refresh: { url: 'https://api.example/refresh' }, allowedOrigins: ['https://api.example'] });
      const hooks = kyHooks(auth);
      auth.destroy();
      console.log(JSON.stringify({
        ky: import.meta.resolve('tokenkeeper/ky'),
        react: import.meta.resolve('tokenkeeper/react'),
        hooks: Object.keys(hooks).sort(),
        useAuthState: typeof useAuthState,
      }));
      `,
      'module',
    );
    expect(result).toEqual({
      ky: expect.stringMatching(/\/node_modules\/tokenkeeper\/dist\/ky\.js$/),
      react: expect.stringMatching(/\/node_modules\/tokenkeeper\/dist\/react\.js$/),
      hooks: ['afterResponse', 'beforeRequest', 'beforeRetry', 'init'],
      useAuthState: 'function',
    });
  });

  it("require('tokenkeeper') and require('tokenkeeper/ky') load the CommonJS builds", () => {
    const result = node(
      `
      const { createTokenManager, RefreshRejectedError } = require('tokenkeeper');
      const { kyHooks } = require('tokenkeeper/ky');
      const { useAuthState } = require('tokenkeeper/react');
      const auth = createTokenManager({ refresh: { url: 'https://api.example/refresh' }, allowedOrigins: ['https://api.example'] });
      const hooks = kyHooks(auth);
      auth.destroy();
      console.log(JSON.stringify({
        core: require.resolve('tokenkeeper'),
        ky: require.resolve('tokenkeeper/ky'),
        react: require.resolve('tokenkeeper/react'),
        code: new RefreshRejectedError().code,
        hooks: Object.keys(hooks).sort(),
        useAuthState: typeof useAuthState,
      }));
      `,
      'commonjs',
    );
    expect(result).toEqual({
      core: expect.stringMatching(/\/node_modules\/tokenkeeper\/dist\/index\.cjs$/),
      ky: expect.stringMatching(/\/node_modules\/tokenkeeper\/dist\/ky\.cjs$/),
      react: expect.stringMatching(/\/node_modules\/tokenkeeper\/dist\/react\.cjs$/),
      code: 'refresh_rejected',
      hooks: ['afterResponse', 'beforeRequest', 'beforeRetry', 'init'],
      useAuthState: 'function',
    });
  });
});

describe('resolving the installed types', { timeout: 60_000 }, () => {
  /**
   * A consumer that uses every entry point. Each `@ts-expect-error` proves that real types were found:
   * against an `any` module it would be an unused directive, itself an error.
   */
  const consumerSource = `
import { createTokenManager, ConfigurationError, type AuthState, type TokenResponse } from 'tokenkeeper';
import { kyHooks, type KyHooks } from 'tokenkeeper/ky';
import { useAuthState } from 'tokenkeeper/react';

const auth = createTokenManager({ refresh: { url: 'https://api.example/refresh' } });
const state: AuthState = auth.getState();
const response: TokenResponse = { accessToken: 'a', expiresIn: 60 };
const hooks: KyHooks = kyHooks(auth);
const render: (manager: typeof auth) => AuthState = useAuthState;
const code: 'configuration' = new ConfigurationError().code;
// @ts-expect-error status is a string union
const wrong: number = state.status;
// @ts-expect-error kyHooks takes a manager
kyHooks('not a manager');
export { state, response, hooks, render, code, wrong };
`;

  /** Writes `files` and a tsconfig, runs the project's tsc with noEmit, and returns its output. */
  function typecheck(name: string, compilerOptions: Record<string, unknown>, files: Record<string, string>): string {
    const dir = join(consumer, name);
    mkdirSync(dir, { recursive: true });
    for (const [file, source] of Object.entries(files)) writeFileSync(join(dir, file), source);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
          lib: ['ES2022', 'DOM'],
          ...compilerOptions,
        },
        files: Object.keys(files),
      }),
    );
    return run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], dir);
  }

  it('resolves under moduleResolution bundler', () => {
    expect(
      typecheck('bundler', { module: 'esnext', moduleResolution: 'bundler' }, { 'index.ts': consumerSource }),
    ).toBe('');
  });

  it('resolves under moduleResolution node16, from ESM (.mts) and from CommonJS (.cts)', () => {
    expect(
      typecheck(
        'node16',
        { module: 'node16', moduleResolution: 'node16' },
        { 'esm.mts': consumerSource, 'cjs.cts': consumerSource },
      ),
    ).toBe('');
  });

  it('resolves under moduleResolution node10 (module commonjs), subpaths through typesVersions', () => {
    expect(
      typecheck('node10', { module: 'commonjs', moduleResolution: 'node10' }, { 'index.ts': consumerSource }),
    ).toBe('');
  });
});
