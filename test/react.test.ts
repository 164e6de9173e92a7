// @vitest-environment happy-dom
/**
 * useAuthState in a DOM (happy-dom) with React Testing Library. Written with createElement rather than JSX:
 * vitest includes `test/**\/*.test.ts` only, and the project's tsconfig has no `jsx` setting.
 */
import { act, cleanup, render } from '@testing-library/react';
import { createElement, type ReactNode, StrictMode } from 'react';
import { hydrateRoot } from 'react-dom/client';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AuthState, TokenManager, TokenResponse, TokenStorage } from 'tokenkeeper';
import { useAuthState } from '../src/react';
import { jwtFor } from './support/jwt';
import { type Deferred, deferred } from './support/async';
import { noResume } from './support/environment';
import { numberedKeys, trackManagers } from './support/managers';

const nextStorageKey = numberedKeys('react-test');
const createManager = trackManagers(() => ({ channel: false, onResume: noResume, storageKey: nextStorageKey() }));

// Registered after the managers' own afterEach, so it runs before it: React unmounts before the managers go.
afterEach(() => {
  cleanup();
});

/**
 * A manager whose refreshes wait for the test to answer them, so that each step of a refresh (the
 * `refreshing` flag, the new token) can be rendered on its own. No channel: managers of different tests
 * must not talk to each other through happy-dom's BroadcastChannel.
 */
function createAuth(storage?: TokenStorage): { auth: TokenManager; refreshes: Deferred<TokenResponse>[] } {
  const refreshes: Deferred<TokenResponse>[] = [];
  const auth = createManager({
    refresh: () => {
      const next = deferred<TokenResponse>();
      refreshes.push(next);
      return next.promise;
    },
    ...(storage ? { storage } : {}),
  });
  return { auth, refreshes };
}

interface ProbeProps {
  auth: TokenManager;
  renders: AuthState[];
  label: string;
}

/** Shows the state and records every render with the snapshot it rendered. */
function Probe({ auth, renders, label }: ProbeProps): ReactNode {
  const state = useAuthState(auth);
  renders.push(state);
  const user = typeof state.claims?.sub === 'string' ? state.claims.sub : 'nobody';
  return createElement('p', { 'data-testid': 'probe' }, `${label}|${state.status}|${user}|${state.refreshing}`);
}

/** A Probe of `auth` and the list its renders go to. */
function probe(auth: TokenManager): { element: (label?: string) => ReactNode; renders: AuthState[] } {
  const renders: AuthState[] = [];
  return { element: (label = 'probe') => createElement(Probe, { auth, renders, label }), renders };
}

/** Counts the subscriptions useAuthState holds on `auth`. */
function countSubscriptions(auth: TokenManager): { readonly active: number } {
  const subscribe = auth.subscribe.bind(auth);
  let active = 0;
  vi.spyOn(auth, 'subscribe').mockImplementation((listener) => {
    active += 1;
    const unsubscribe = subscribe(listener);
    return () => {
      active -= 1;
      unsubscribe();
    };
  });
  return {
    get active() {
      return active;
    },
  };
}

function expectEachRenderChanged(renders: AuthState[]): void {
  for (let i = 1; i < renders.length; i += 1) expect(renders[i], `render ${i}`).not.toBe(renders[i - 1]);
}

describe('useAuthState: re-renders on every change of state', () => {
  it('re-renders once on login (setTokens) with the authenticated snapshot', async () => {
    const { auth } = createAuth();
    const { element, renders } = probe(auth);
    const view = render(element());
    expect(renders).toHaveLength(1);
    expect(view.getByTestId('probe').textContent).toBe('probe|unauthenticated|nobody|false');

    await act(() => auth.setTokens({ accessToken: jwtFor(3600, { sub: 'ada' }), refreshToken: 'rt-1' }));

    expect(renders).toHaveLength(2);
    expect(renders[1]).toBe(auth.getState());
    expect(renders[1]).toMatchObject({ status: 'authenticated', claims: { sub: 'ada' }, refreshing: false });
    expect(view.getByTestId('probe').textContent).toBe('probe|authenticated|ada|false');
  });

  it('re-renders when a refresh starts (refreshing: true) and when it ends with the new token', async () => {
    const { auth, refreshes } = createAuth();
    const first = jwtFor(3600, { sub: 'ada' });
    await auth.setTokens({ accessToken: first, refreshToken: 'rt-1' });
    const { element, renders } = probe(auth);
    const view = render(element());
    expect(renders).toHaveLength(1);

    let refreshed!: Promise<string>;
    await act(async () => {
      refreshed = auth.refresh();
      await vi.waitFor(() => expect(refreshes).toHaveLength(1));
    });
    expect(renders).toHaveLength(2);
    expect(renders[1]).toMatchObject({ status: 'authenticated', accessToken: first, refreshing: true });
    expect(view.getByTestId('probe').textContent).toBe('probe|authenticated|ada|true');

    const second = jwtFor(3600, { sub: 'ada' });
    await act(async () => {
      refreshes[0]!.resolve({ accessToken: second });
      await refreshed;
    });
    expect(renders).toHaveLength(3);
    expect(renders[2]).toBe(auth.getState());
    expect(renders[2]).toMatchObject({ accessToken: second, refreshing: false });
    expect(view.getByTestId('probe').textContent).toBe('probe|authenticated|ada|false');
  });

  it('re-renders once on logout with the signed-out snapshot', async () => {
    const { auth } = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600, { sub: 'ada' }), refreshToken: 'rt-1' });
    const { element, renders } = probe(auth);
    const view = render(element());

    await act(() => auth.logout());

    expect(renders).toHaveLength(2);
    expect(renders[1]).toMatchObject({ status: 'unauthenticated', accessToken: null, claims: null, refreshing: false });
    expect(view.getByTestId('probe').textContent).toBe('probe|unauthenticated|nobody|false');
  });

  it('renders every state of a whole session, each render with a new snapshot', async () => {
    const { auth, refreshes } = createAuth();
    const { element, renders } = probe(auth);
    render(element());

    await act(() => auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' }));
    let refreshed!: Promise<string>;
    await act(async () => {
      refreshed = auth.refresh();
      await vi.waitFor(() => expect(refreshes).toHaveLength(1));
    });
    await act(async () => {
      refreshes[0]!.resolve({ accessToken: jwtFor(3600) });
      await refreshed;
    });
    await act(() => auth.logout());

    expect(renders.map((state) => [state.status, state.refreshing])).toEqual([
      ['unauthenticated', false],
      ['authenticated', false],
      ['authenticated', true],
      ['authenticated', false],
      ['unauthenticated', false],
    ]);
    expectEachRenderChanged(renders);
  });
});

describe('useAuthState: renders only when the state changes', () => {
  it("does not re-render on an 'error' event that leaves the state as it was (unreadable stored data)", async () => {
    const stored = deferred<string | null>();
    const storage: TokenStorage = {
      getItem: () => stored.promise,
      setItem: async () => {},
      removeItem: async () => {},
    };
    const { auth } = createAuth(storage);
    const errors: Error[] = [];
    auth.on('error', ({ error }) => errors.push(error));
    const { element, renders } = probe(auth);
    render(element());
    expect(renders).toHaveLength(1);

    await act(async () => {
      stored.resolve('{"not": "a session"');
      await auth.ready;
    });

    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'storage_failed' });
    // One render for the status becoming known; none for the error itself.
    expect(renders.map((state) => state.status)).toEqual(['loading', 'unauthenticated']);
  });

  it('does not re-render when another subscriber comes and goes, or when the state is only read', async () => {
    const { auth } = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });
    const { element, renders } = probe(auth);
    render(element());
    const elsewhere = vi.fn();

    await act(async () => {
      const unsubscribe = auth.subscribe(elsewhere);
      auth.on('refresh', elsewhere);
      await auth.getAccessToken();
      auth.getState();
      unsubscribe();
    });

    expect(renders).toHaveLength(1);
    expect(elsewhere).not.toHaveBeenCalled();
  });

  it('hands the same snapshot object to renders that happen without a change', async () => {
    const { auth } = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });
    const { element, renders } = probe(auth);
    const view = render(element('a'));

    view.rerender(element('b'));
    view.rerender(element('c'));

    expect(renders).toHaveLength(3);
    expect(renders[1]).toBe(renders[0]);
    expect(renders[2]).toBe(renders[0]);
    expect(renders[0]).toBe(auth.getState());
    expect(view.getByTestId('probe').textContent).toMatch(/^c\|authenticated\|/);
  });
});

describe('useAuthState in <StrictMode>', () => {
  it('follows login, refresh and logout, and leaves no subscription behind after unmount', async () => {
    const errors = vi.spyOn(console, 'error');
    const { auth, refreshes } = createAuth();
    const subscriptions = countSubscriptions(auth);
    const { element, renders } = probe(auth);
    const view = render(createElement(StrictMode, null, element()));
    const text = () => view.getByTestId('probe').textContent;
    expect(text()).toBe('probe|unauthenticated|nobody|false');
    expect(subscriptions.active).toBe(1);

    await act(() => auth.setTokens({ accessToken: jwtFor(3600, { sub: 'ada' }), refreshToken: 'rt-1' }));
    expect(text()).toBe('probe|authenticated|ada|false');

    let refreshed!: Promise<string>;
    await act(async () => {
      refreshed = auth.refresh();
      await vi.waitFor(() => expect(refreshes).toHaveLength(1));
    });
    expect(text()).toBe('probe|authenticated|ada|true');
    const next = jwtFor(3600, { sub: 'ada' });
    await act(async () => {
      refreshes[0]!.resolve({ accessToken: next });
      await refreshed;
    });
    expect(text()).toBe('probe|authenticated|ada|false');
    expect(renders.at(-1)).toMatchObject({ accessToken: next });

    await act(() => auth.logout());
    expect(text()).toBe('probe|unauthenticated|nobody|false');
    expect(subscriptions.active).toBe(1);

    view.unmount();
    expect(subscriptions.active).toBe(0);
    expect(errors).not.toHaveBeenCalled();
  });
});

describe('useAuthState under SSR', () => {
  it("renders the 'loading' snapshot on the server, even for an authenticated manager", async () => {
    const { auth } = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600, { sub: 'ada' }), refreshToken: 'rt-1' });
    const { element, renders } = probe(auth);

    const html = renderToString(element());

    expect(html).toContain('probe|loading|nobody|false');
    expect(renders).toHaveLength(1);
    expect(renders[0]).toEqual({
      status: 'loading',
      accessToken: null,
      expiresAt: null,
      claims: null,
      refreshing: false,
    });
  });

  it("hydrates as 'loading' (never signed out), then shows the authenticated state without a hydration mismatch", async () => {
    const { auth } = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600, { sub: 'ada' }), refreshToken: 'rt-1' });
    const server = probe(auth);
    const container = document.createElement('div');
    container.innerHTML = renderToString(server.element());
    document.body.append(container);
    const consoleErrors = vi.spyOn(console, 'error');
    const recoverable: unknown[] = [];
    const client = probe(auth);
    const serverParagraph = container.querySelector('p');

    const root = await act(async () =>
      hydrateRoot(container, client.element(), { onRecoverableError: (error) => recoverable.push(error) }),
    );

    expect(client.renders[0]).toMatchObject({ status: 'loading', accessToken: null });
    expect(client.renders.map((state) => state.status)).not.toContain('unauthenticated');
    expect(client.renders.at(-1)).toBe(auth.getState());
    expect(container.textContent).toBe('probe|authenticated|ada|false');
    // Hydration adopted the server's element and updated it; after a mismatch React would have replaced it.
    expect(container.querySelector('p')).toBe(serverParagraph);
    expect(recoverable).toEqual([]);
    expect(consoleErrors).not.toHaveBeenCalled();
    act(() => root.unmount());
    container.remove();
  });
});
