import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Runs `code` in a fresh Node process where reading any browser global is recorded. Prints the globals
 * that were touched and the exports found.
 */
function loadWithWatchedGlobals(load: string, type: 'commonjs' | 'module'): { touched: string[]; exports: string[] } {
  const watch = `
    const touched = [];
    for (const name of ['window', 'document', 'location', 'navigator', 'localStorage', 'sessionStorage',
      'BroadcastChannel', 'addEventListener', 'self']) {
      Object.defineProperty(globalThis, name, { configurable: true, get() { touched.push(name); return undefined; } });
    }
  `;
  const code =
    type === 'commonjs'
      ? `${watch} const m = ${load}; console.log(JSON.stringify({ touched, exports: Object.keys(m).sort() }));`
      : `${watch} const m = await ${load}; console.log(JSON.stringify({ touched, exports: Object.keys(m).sort() }));`;
  const output = execFileSync(
    process.execPath,
    [type === 'module' ? '--input-type=module' : '--input-type=commonjs', '-e', code],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  return JSON.parse(output.trim().split('\n').pop()!);
}

describe('the built package', () => {
  it('has ESM, CommonJS and type files for the core entry point', () => {
    for (const file of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts']) {
      expect(existsSync(`${root}/${file}`), file).toBe(true);
    }
  });

  it('loads with require() and touches no browser global on import', () => {
    const { touched, exports } = loadWithWatchedGlobals("require('tokenkeeper')", 'commonjs');
    expect(touched).toEqual([]);
    expect(exports).toContain('createTokenManager');
    expect(exports).toContain('RefreshRejectedError');
  });

  it('loads with import() and touches no browser global on import', () => {
    const { touched, exports } = loadWithWatchedGlobals("import('tokenkeeper')", 'module');
    expect(touched).toEqual([]);
    expect(exports).toContain('createTokenManager');
  });

  it('resolves the same public names from both builds', () => {
    const cjs = loadWithWatchedGlobals("require('tokenkeeper')", 'commonjs').exports;
    const esm = loadWithWatchedGlobals("import('tokenkeeper')", 'module').exports;
    expect(esm).toEqual(cjs);
  });

  it('lets a Node process with a named channel exit without destroy(): the channel holds no handle', () => {
    const code = `
      const { createTokenManager } = await import('tokenkeeper');
      const auth = createTokenManager({ refresh: async () => ({ accessToken: 'opaque', expiresIn: 60 }), channel: 'app' });
      await auth.ready;
      console.log('ready');
    `;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
      cwd: root,
      encoding: 'utf8',
      timeout: 5_000,
    });
    expect(output.trim()).toBe('ready');
  });
});

describe('isTokenkeeperError across the two copies of the package', () => {
  it('tells errors of the CommonJS build from the ESM build and back, where instanceof cannot', () => {
    const code = `
      const esm = await import('tokenkeeper');
      const { createRequire } = await import('node:module');
      const cjs = createRequire(process.cwd() + '/package.json')('tokenkeeper');
      const fromCjs = new cjs.RefreshRejectedError('rejected');
      const fromEsm = new esm.StorageError('failed');
      console.log(JSON.stringify({
        twoCopies: esm.TokenkeeperError !== cjs.TokenkeeperError,
        instanceofAcross: fromCjs instanceof esm.TokenkeeperError,
        esmSeesCjs: esm.isTokenkeeperError(fromCjs),
        esmSeesCjsCode: esm.isTokenkeeperError(fromCjs, 'refresh_rejected'),
        esmOtherCode: esm.isTokenkeeperError(fromCjs, 'refresh_failed'),
        cjsSeesEsm: cjs.isTokenkeeperError(fromEsm, 'storage_failed'),
        plainError: esm.isTokenkeeperError(new Error('x')),
        lookalike: esm.isTokenkeeperError({ name: 'RefreshRejectedError', code: 'refresh_rejected', message: '' }),
        nullish: [null, undefined, 'refresh_rejected', 42].some((value) => cjs.isTokenkeeperError(value)),
      }));
    `;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(output.trim().split('\n').pop()!)).toEqual({
      twoCopies: true,
      instanceofAcross: false,
      esmSeesCjs: true,
      esmSeesCjsCode: true,
      esmOtherCode: false,
      cjsSeesEsm: true,
      plainError: false,
      lookalike: false,
      nullish: false,
    });
  });
});
