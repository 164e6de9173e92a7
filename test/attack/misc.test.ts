// Odds and ends of the contract: option edge cases, non-http schemes, state identity, error identity across builds.
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import * as esm from '#built';
import { jwt, sleep, spyFetch } from './helpers';

const { createTokenManager, isTokenkeeperError } = esm;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function withOrigins(allowedOrigins: unknown) {
  const spy = spyFetch();
  const auth = createTokenManager({
    refresh: async () => ({ accessToken: jwt(3600) }),
    channel: false,
    fetch: spy.fn,
    allowedOrigins,
  } as never);
  cleanups.push(() => auth.destroy());
  await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
  return { auth, spy };
}

describe('allowedOrigins edge cases', () => {
  for (const entry of ['*', 'https://*.app.test', '*.app.test', 'https://app.test/*', 'null', '', 'app.test']) {
    it(`entry ${JSON.stringify(entry)}: throws ConfigurationError at creation or never opens other origins`, async () => {
      let r: Awaited<ReturnType<typeof withOrigins>>;
      try {
        r = await withOrigins([entry]);
      } catch (e) {
        expect(e).toMatchObject({ code: 'configuration' });
        return;
      }
      for (const url of [
        'https://evil.test/',
        'https://x.app.test/',
        'http://app.test/',
        'data:text/plain,x',
        'file:///etc/passwd',
      ]) {
        await r.auth.fetch(url).catch(() => {});
      }
      for (const c of r.spy.calls) expect(c.headers.get('authorization'), c.url).toBeNull();
    });
  }

  it('a function that says yes to everything still gives no token to non-http(s) URLs', async () => {
    const { auth, spy } = await withOrigins(() => true);
    for (const url of [
      'data:text/plain,x',
      'blob:https://app.test/1',
      'file:///x',
      'ftp://app.test/',
      'ws://app.test/',
    ]) {
      await auth.fetch(url).catch(() => {});
    }
    for (const c of spy.calls) expect(c.headers.get('authorization'), c.url).toBeNull();
  });

  it('a function that throws: the request gets no token (or the call rejects), never a token', async () => {
    const { auth, spy } = await withOrigins(() => {
      throw new Error('bad predicate');
    });
    await auth.fetch('https://app.test/').catch(() => {});
    for (const c of spy.calls) expect(c.headers.get('authorization')).toBeNull();
  });

  it('a function returning a truthy non-boolean ("yes", 1) — behaves as fetch users expect (truthy allows) or refuses; no crash', async () => {
    const { auth, spy } = await withOrigins(() => 'yes');
    await auth.fetch('https://app.test/');
    expect(spy.calls).toHaveLength(1);
  });

  it('isAllowedOrigin is false after destroy', async () => {
    const { auth } = await withOrigins(['https://app.test']);
    expect(auth.isAllowedOrigin('https://app.test/')).toBe(true);
    auth.destroy();
    expect(auth.isAllowedOrigin('https://app.test/')).toBe(false);
  });
});

describe('options', () => {
  it('every optional option accepts undefined', async () => {
    const auth = createTokenManager({
      refresh: async () => ({ accessToken: jwt(3600) }),
      logout: undefined,
      storage: undefined,
      storageKey: undefined,
      refreshMargin: undefined,
      allowedOrigins: undefined,
      channel: undefined,
      fetch: undefined,
      onResume: undefined,
      restore: undefined,
      environment: undefined,
    });
    cleanups.push(() => auth.destroy());
    await auth.ready;
    expect(auth.getState().status).toBe('unauthenticated');
  });

  for (const [name, opts, word] of [
    ['negative margin', { refreshMargin: -5 }, 'refreshMargin'],
    ['NaN margin', { refreshMargin: Number.NaN }, 'refreshMargin'],
    ['bad storage name', { storage: 'cookies' }, 'storage'],
    ['bad channel', { channel: 5 }, 'channel'],
    ['refresh missing url', { refresh: {} }, 'refresh'],
    ['bad format', { refresh: { url: 'https://a.test/r', format: 'xml' } }, 'format'],
  ] as const) {
    it(`${name}: ConfigurationError naming the option`, () => {
      let err: unknown;
      try {
        const a = createTokenManager({ refresh: async () => ({ accessToken: 'x' }), ...(opts as object) } as never);
        a.destroy();
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'configuration' });
      expect(String((err as Error).message)).toContain(word);
    });
  }
});

describe('state snapshots', () => {
  it('getState is the same object until something changes; getAccessToken of a fresh token changes nothing', async () => {
    const auth = createTokenManager({ refresh: async () => ({ accessToken: jwt(3600) }), channel: false });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
    let calls = 0;
    auth.subscribe(() => {
      calls += 1;
    });
    const s1 = auth.getState();
    await auth.getAccessToken();
    await auth.getAccessToken();
    expect(auth.getState()).toBe(s1);
    expect(calls).toBe(0);
    await auth.refresh();
    expect(auth.getState()).not.toBe(s1);
    expect(calls).toBeGreaterThan(0);
  });

  it('claims are the JWT payload; opaque token has null claims', async () => {
    const auth = createTokenManager({ refresh: async () => ({ accessToken: jwt(3600) }), channel: false });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(3600, { name: 'Zoë' }) });
    expect((auth.getState().claims as { name?: string }).name).toBe('Zoë');
    await auth.setTokens({ accessToken: 'opaque', expiresIn: 60 });
    expect(auth.getState().claims).toBeNull();
  });
});

type ErrorClass = new (m?: string, o?: { cause?: unknown }) => Error & { code: string };

describe('errors across builds', () => {
  it('isTokenkeeperError recognises errors of the CommonJS copy, with and without code', () => {
    const require = createRequire(import.meta.url);
    const cjs = require('../../dist/index.cjs');
    const e = new cjs.RefreshRejectedError('x');
    expect(e instanceof esm.TokenkeeperError).toBe(false);
    expect(isTokenkeeperError(e)).toBe(true);
    expect(isTokenkeeperError(e, 'refresh_rejected')).toBe(true);
    expect(isTokenkeeperError(e, 'timeout')).toBe(false);
    expect(cjs.isTokenkeeperError(new esm.HttpStatusError('y', { status: 500 }), 'http_status')).toBe(true);
  });

  it('look-alikes are not tokenkeeper errors', () => {
    for (const v of [
      null,
      undefined,
      'refresh_rejected',
      { code: 'refresh_rejected', name: 'RefreshRejectedError', message: '' },
      Object.assign(new Error('x'), { code: 'timeout' }),
    ]) {
      expect(isTokenkeeperError(v), JSON.stringify(v)).toBe(false);
    }
  });

  it('every error class: literal name, stable code, cause kept', () => {
    const classes = [
      'InvalidTokenError',
      'RefreshRejectedError',
      'RefreshFailedError',
      'NotAuthenticatedError',
      'ConfigurationError',
      'StorageError',
      'LogoutFailedError',
      'HttpStatusError',
      'TimeoutError',
      'UnreadableResponseError',
    ] as const;
    for (const c of classes) {
      const Ctor = (esm as unknown as Record<(typeof classes)[number], ErrorClass>)[c];
      const cause = new Error('root');
      const e = new Ctor('m', { cause });
      expect(e.name).toBe(c);
      expect(e.cause).toBe(cause);
      expect(e).toBeInstanceOf(esm.TokenkeeperError);
      expect(isTokenkeeperError(e, e.code as never)).toBe(true);
    }
  });
});

describe('import has no side effects', () => {
  it('importing the entry points in a fresh Node process touches no browser global', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = `
      const touched = [];
      for (const name of ['window','document','localStorage','sessionStorage','navigator','BroadcastChannel','location','addEventListener','fetch','performance','setTimeout','self']) {
        const desc = Object.getOwnPropertyDescriptor(globalThis, name);
        Object.defineProperty(globalThis, name, { configurable: true, get() { touched.push(name); return desc ? (desc.get ? desc.get.call(globalThis) : desc.value) : undefined; } });
      }
      await import(${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)});
      await import(${JSON.stringify(new URL('../../dist/ky.js', import.meta.url).href)});
      console.log(JSON.stringify(touched));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual([]);
  });
});

describe('Node without a named channel', () => {
  it('two managers in one process without channel never share a session', async () => {
    const a = createTokenManager({ refresh: async () => ({ accessToken: jwt(3600) }) });
    const b = createTokenManager({ refresh: async () => ({ accessToken: jwt(3600) }) });
    cleanups.push(
      () => a.destroy(),
      () => b.destroy(),
    );
    await a.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
    await sleep(30);
    expect(b.getState().status).toBe('unauthenticated');
    await b.setTokens({ accessToken: jwt(3600), refreshToken: 'r2' });
    await b.logout();
    await sleep(30);
    expect(a.getState().status).toBe('authenticated');
  });
});
