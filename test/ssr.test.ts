// Server rendering: the quick-start configuration evaluated in Node (no page, no localStorage), rendered with
// renderToString, and what a relative endpoint URL does where there is no page to resolve it against.
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it, vi } from 'vitest';
import { ConfigurationError, createTokenManager, isTokenkeeperError, type TokenManager } from 'tokenkeeper';
import { useAuthState } from '../src/react';
import { recordEvents } from './support/events';
import { jwtFor } from './support/jwt';
import { trackManagers } from './support/managers';
import { flush, installFakeClock, LIFETIME_S, MARGIN_MS } from './support/time';

installFakeClock();
const createManager = trackManagers({ onResume: () => () => {} });

function Page({ auth }: { auth: TokenManager }) {
  const state = useAuthState(auth);
  const name = useAuthState(auth, (s) => (s.status === 'authenticated' ? String(s.claims?.sub) : null));
  if (state.status === 'loading') return createElement('p', { 'data-view': 'loading' }, 'Loading…');
  return state.status === 'authenticated'
    ? createElement('p', { 'data-view': 'signed-in' }, `Signed in as ${name}`)
    : createElement('p', { 'data-view': 'signed-out' }, 'Sign in');
}

describe('server rendering', () => {
  it('imports the quick-start configuration in Node and renders the loading view, never the signed-out one', async () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    expect(typeof (globalThis as { localStorage?: unknown }).localStorage).toBe('undefined');
    const { auth } = await import('./fixtures/quick-start');
    const errors = recordEvents(auth).error;
    try {
      const html = renderToString(createElement(Page, { auth }));
      expect(html).toBe('<p data-view="loading">Loading…</p>');
      // The restore at start cannot resolve '/auth/refresh' here: one 'error', no throw, no request.
      await auth.ready;
      expect(auth.getState().status).toBe('unauthenticated');
      expect(errors).toHaveLength(1);
      expect(isTokenkeeperError(errors[0]?.error, 'configuration')).toBe(true);
      expect(String(errors[0]?.error)).toMatch(/refresh\.url must be an absolute URL/);
    } finally {
      auth.destroy();
    }
  });

  it("storage: 'localStorage' is memory where there is no page: the session is kept, and no error", async () => {
    const auth = createManager({ refresh: { url: 'https://api.test/auth/refresh' }, storage: 'localStorage' });
    const events = recordEvents(auth);
    expect(auth.getState().status).toBe('unauthenticated');
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    expect(auth.getState().status).toBe('authenticated');
    await flush();
    expect(events.error).toEqual([]);
  });

  it("storage: 'sessionStorage' and 'memory' create a manager too; an unknown name is a ConfigurationError", () => {
    for (const storage of ['sessionStorage', 'memory'] as const) {
      expect(createManager({ refresh: { url: '/auth/refresh' }, storage }).getState().status).toBe('unauthenticated');
    }
    expect(() =>
      createManager({ refresh: { url: '/auth/refresh' }, storage: 'indexedDB' as unknown as 'memory' }),
    ).toThrow(/storage must be 'localStorage', 'sessionStorage', 'memory' or a storage object/);
  });
});

describe('a relative endpoint URL where there is no page', () => {
  const relative = () =>
    createManager({
      refresh: { url: '/auth/refresh' },
      logout: { url: '/auth/logout' },
      allowedOrigins: ['https://api.test'],
      refreshMargin: MARGIN_MS,
    });

  it('is accepted at creation', () => {
    expect(() => relative()).not.toThrow();
  });

  it('refresh(), getAccessToken() of an expired token and auth.fetch reject with ConfigurationError; the session stays', async () => {
    const auth = relative();
    const events = recordEvents(auth);
    await auth.setTokens({ accessToken: jwtFor(60), refreshToken: 'r1' });
    await expect(auth.refresh()).rejects.toBeInstanceOf(ConfigurationError);
    await expect(auth.refresh()).rejects.toThrow('refresh.url must be an absolute URL');
    // Awaited calls report through their promise, not as an 'error'.
    expect(events.error).toEqual([]);
    await auth.setTokens({ accessToken: 'opaque-token', expiresIn: 0, refreshToken: 'r2' });
    await expect(auth.getAccessToken()).rejects.toBeInstanceOf(ConfigurationError);
    await expect(auth.fetch('https://api.test/me')).rejects.toBeInstanceOf(ConfigurationError);
    expect(auth.getState()).toMatchObject({ status: 'authenticated', refreshing: false });
    // The token set with no lifetime left was due at once: the proactive timer reported once, and nothing
    // retries in the background.
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(events.error).toHaveLength(1);
    expect(events.logout).toEqual([]);
  });

  it('the proactive timer emits one error instead, and retries nothing in the background', async () => {
    const auth = relative();
    const events = recordEvents(auth);
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await vi.advanceTimersByTimeAsync(LIFETIME_S * 1000 - MARGIN_MS);
    expect(events.error).toHaveLength(1);
    expect(isTokenkeeperError(events.error[0]?.error, 'configuration')).toBe(true);
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(events.error).toHaveLength(1);
    expect(auth.getState().status).toBe('authenticated');
  });

  it('logout() still signs out and resolves { serverNotified: false }, with one error', async () => {
    const auth = relative();
    const events = recordEvents(auth);
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.logout).toEqual([{ reason: 'user' }]);
    expect(events.error).toHaveLength(1);
    expect(isTokenkeeperError(events.error[0]?.error, 'configuration')).toBe(true);
    expect(String(events.error[0]?.error)).toMatch(/logout\.url must be an absolute URL/);
  });
});

describe('createTokenManager never throws for lack of a page', () => {
  it('with every option a browser app sets', () => {
    expect(() =>
      createTokenManager({
        refresh: { url: '/auth/refresh', format: 'oauth2', clientId: 'spa', credentials: 'include' },
        logout: { url: '/auth/logout', format: 'oauth2' },
        storage: 'sessionStorage',
        restore: false,
        channel: 'app',
      }).destroy(),
    ).not.toThrow();
  });
});
