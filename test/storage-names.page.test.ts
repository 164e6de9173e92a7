// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
// Storage chosen by name in a page: the browser's own storage is picked when the manager is created.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isTokenkeeperError } from 'tokenkeeper';
import { recordEvents } from './support/events';
import { jwtFor } from './support/jwt';
import { trackManagers } from './support/managers';

const createManager = trackManagers({ refresh: { url: '/auth/refresh' }, onResume: () => () => {} });

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
  sessionStorage.clear();
});

describe('storage by name in a page', () => {
  it("'localStorage' is the page's localStorage: shared by the tabs and synchronous, so never 'loading'", async () => {
    const auth = createManager({ storage: 'localStorage' });
    expect(auth.getState().status).toBe('unauthenticated');
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'r1' });
    expect(JSON.parse(localStorage.getItem('tokenkeeper') ?? 'null')).toMatchObject({
      v: 2,
      session: { refreshToken: 'r1' },
    });

    // A reload reads it back at once.
    auth.destroy();
    const reloaded = createManager({ storage: 'localStorage' });
    expect(reloaded.getState()).toMatchObject({ status: 'authenticated', refreshing: false });
  });

  it("'sessionStorage' is the page's sessionStorage, which the tabs do not share: it asks them first", async () => {
    const auth = createManager({ storage: 'sessionStorage' });
    expect(auth.getState().status).toBe('loading');
    await auth.ready;
    expect(auth.getState().status).toBe('unauthenticated');
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'r1' });
    expect(sessionStorage.getItem('tokenkeeper')).toContain('"refreshToken":"r1"');
    expect(localStorage.getItem('tokenkeeper')).toBeNull();
  });

  it("'memory' keeps nothing in the page's storages", async () => {
    const auth = createManager({ storage: 'memory' });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'r1' });
    expect(localStorage.length + sessionStorage.length).toBe(0);
  });

  it('a page without the named storage (blocked, a sandboxed frame) keeps the session in memory and says so once', async () => {
    vi.stubGlobal('localStorage', undefined);
    const auth = createManager({ storage: 'localStorage' });
    const events = recordEvents(auth);
    await auth.ready;
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'r1' });
    expect(auth.getState().status).toBe('authenticated');
    expect(events.error).toHaveLength(1);
    expect(isTokenkeeperError(events.error[0]?.error, 'storage_failed')).toBe(true);
    expect(events.error[0]?.error.message).toBe(
      "storage 'localStorage' is not available in this page; the session is kept in memory",
    );
  });
});
