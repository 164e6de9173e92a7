// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { jwtFor } from './support/jwt';
import {
  LOGOUT_URL,
  logoutEndpoint,
  noResume,
  REFRESH_URL,
  refreshEndpoint,
  server,
  startServer,
} from './support/environment';
import { settle } from './support/async';
import { recordEvents } from './support/events';
import { trackManagers } from './support/managers';
import { LIFETIME_S } from './support/time';

/*
 * With `storage: localStorage` the tabs of a browser share one stored session, and the browser fires a
 * `storage` event in every other tab when one of them changes it. Here happy-dom's window and localStorage
 * stand in for the page, and a dispatched StorageEvent for the other tab. The manager also has a channel
 * (Node's BroadcastChannel, the default where there is a window) with a unique name, observed by a raw
 * BroadcastChannel, to show that what the storage event brings is not echoed to the other tabs.
 */

const rawChannels: BroadcastChannel[] = [];
let storageKey: string;
let channelName: string;
let requests: { refresh: ReturnType<typeof refreshEndpoint>; logout: ReturnType<typeof logoutEndpoint> };

startServer();
beforeEach(() => {
  localStorage.clear();
  storageKey = `tk-${crypto.randomUUID()}`;
  channelName = `tk-${crypto.randomUUID()}`;
  // Nothing here may call the server: these count the calls that must not happen.
  requests = {
    refresh: refreshEndpoint(() => new Response(null, { status: 500 })),
    logout: logoutEndpoint(),
  };
  server.use(requests.refresh.handler, requests.logout.handler);
});
afterEach(() => {
  for (const channel of rawChannels.splice(0)) channel.close();
  localStorage.clear();
});

const openTab = trackManagers(() => ({
  refresh: { url: REFRESH_URL },
  logout: { url: LOGOUT_URL },
  storage: localStorage,
  storageKey,
  channel: channelName,
  onResume: noResume,
}));

/** Records every message posted on the test's channel. */
function openChannelObserver(): unknown[] {
  const channel = new BroadcastChannel(channelName);
  rawChannels.push(channel);
  const seen: unknown[] = [];
  channel.onmessage = (event: MessageEvent) => {
    seen.push(event.data);
  };
  return seen;
}

interface StoredSession {
  v: number;
  sessionId: string;
  accessToken: string;
  refreshToken: string | null;
  expiresAt: number | null;
  receivedAt: number;
}

const readStored = (): StoredSession => JSON.parse(localStorage.getItem(storageKey)!) as StoredSession;

/** A tab signed in through setTokens(), as the page that logged in; returns what it stored. */
async function signedInTab() {
  const auth = openTab();
  await auth.ready;
  const access = jwtFor(LIFETIME_S);
  await auth.setTokens({ accessToken: access, refreshToken: 'r1' });
  const stored = readStored();
  expect(stored.accessToken).toBe(access);
  return { auth, access, stored };
}

/** What another tab does: change localStorage, after which the browser fires `storage` in this tab. */
function otherTabWrites(key: string, newValue: string | null, storageArea: Storage = localStorage): void {
  const oldValue = storageArea.getItem(key);
  if (newValue === null) storageArea.removeItem(key);
  else storageArea.setItem(key, newValue);
  fireStorageEvent({ key, oldValue, newValue, storageArea });
}

function fireStorageEvent(init: StorageEventInit): void {
  window.dispatchEvent(new StorageEvent('storage', init));
}

/** Spies on this tab's own writes from here on. */
function spyOnStorageWrites() {
  return { setItem: vi.spyOn(localStorage, 'setItem'), removeItem: vi.spyOn(localStorage, 'removeItem') };
}

describe('storage events from another tab', () => {
  it("signs out on a storage event whose newValue is null, with reason 'remote', without touching storage or echoing", async () => {
    const { auth, stored } = await signedInTab();
    const observed = openChannelObserver();
    const events = recordEvents(auth);
    localStorage.removeItem(storageKey); // the other tab's logout cleared it
    const writes = spyOnStorageWrites();

    fireStorageEvent({ key: storageKey, oldValue: JSON.stringify(stored), newValue: null, storageArea: localStorage });

    expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    expect(events.logout).toEqual([{ reason: 'remote' }]);
    await expect(auth.getAccessToken()).resolves.toBeNull();
    await settle();
    expect(writes.setItem).not.toHaveBeenCalled();
    expect(writes.removeItem).not.toHaveBeenCalled();
    expect(observed).toEqual([]);
    expect(requests.logout.seen).toHaveLength(0);
  });

  it('leaves a newer login that is already in storage alone when the end of the old session is heard', async () => {
    const { auth, stored } = await signedInTab();
    // The other tab logged out and, at once, in again: by the time this tab hears of the removal, storage
    // holds the new login; a tab that cleared storage on the removal would sign every tab out.
    const next = {
      ...stored,
      sessionId: 'next-login',
      accessToken: jwtFor(LIFETIME_S),
      receivedAt: stored.receivedAt + 1,
    };
    localStorage.setItem(storageKey, JSON.stringify(next));
    const writes = spyOnStorageWrites();

    fireStorageEvent({ key: storageKey, oldValue: JSON.stringify(stored), newValue: null, storageArea: localStorage });

    expect(auth.getState().status).toBe('unauthenticated');
    await settle();
    expect(writes.removeItem).not.toHaveBeenCalled();
    expect(readStored()).toEqual(next);
  });

  it('signs out when another tab clears the whole localStorage (key null)', async () => {
    const { auth } = await signedInTab();
    const events = recordEvents(auth);
    localStorage.clear();
    const writes = spyOnStorageWrites();

    fireStorageEvent({ key: null, oldValue: null, newValue: null, storageArea: localStorage });

    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.logout).toEqual([{ reason: 'remote' }]);
    expect(writes.setItem).not.toHaveBeenCalled();
    expect(writes.removeItem).not.toHaveBeenCalled();
  });

  it("takes a newer token set of the same login from a storage event, with a 'refresh' event from 'remote'", async () => {
    const { auth, stored } = await signedInTab();
    const observed = openChannelObserver();
    const events = recordEvents(auth);
    const fresh = jwtFor(LIFETIME_S);
    const refreshed: StoredSession = {
      ...stored,
      accessToken: fresh,
      refreshToken: 'r2',
      expiresAt: stored.expiresAt! + 60_000,
      receivedAt: stored.receivedAt + 60_000,
    };
    const newValue = JSON.stringify(refreshed);
    localStorage.setItem(storageKey, newValue);
    const writes = spyOnStorageWrites();

    fireStorageEvent({ key: storageKey, oldValue: JSON.stringify(stored), newValue, storageArea: localStorage });

    expect(auth.getState()).toMatchObject({
      status: 'authenticated',
      accessToken: fresh,
      expiresAt: refreshed.expiresAt,
    });
    expect(events.refresh).toEqual([{ accessToken: fresh, expiresAt: refreshed.expiresAt, source: 'remote' }]);
    expect(events.login).toEqual([]);
    await expect(auth.getAccessToken()).resolves.toBe(fresh);
    await settle();
    expect(writes.setItem).not.toHaveBeenCalled();
    expect(writes.removeItem).not.toHaveBeenCalled();
    expect(observed).toEqual([]);
    expect(readStored()).toEqual(refreshed);
    expect(requests.refresh.seen).toHaveLength(0);
  });

  it("takes a different, newer login from a storage event, with a 'login' event from 'remote'", async () => {
    const { auth, stored } = await signedInTab();
    const observed = openChannelObserver();
    const events = recordEvents(auth);
    const other = jwtFor(LIFETIME_S, { sub: 'user-2' });
    const login: StoredSession = {
      v: 1,
      sessionId: 'another-login',
      accessToken: other,
      refreshToken: 'r9',
      expiresAt: stored.receivedAt + 1_000 + LIFETIME_S * 1000,
      receivedAt: stored.receivedAt + 1_000,
    };
    const newValue = JSON.stringify(login);
    localStorage.setItem(storageKey, newValue);
    const writes = spyOnStorageWrites();

    fireStorageEvent({ key: storageKey, oldValue: JSON.stringify(stored), newValue, storageArea: localStorage });

    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: other, claims: { sub: 'user-2' } });
    expect(events.login).toEqual([{ source: 'remote' }]);
    expect(events.refresh).toEqual([]);
    expect(events.logout).toEqual([]);
    await settle();
    expect(writes.setItem).not.toHaveBeenCalled();
    expect(writes.removeItem).not.toHaveBeenCalled();
    expect(observed).toEqual([]);
  });

  it("signs in a signed-out tab when another tab logs in, with a 'login' event from 'remote'", async () => {
    const auth = openTab();
    await auth.ready;
    const events = recordEvents(auth);
    const access = jwtFor(LIFETIME_S);
    const now = Date.now();
    const login: StoredSession = {
      v: 1,
      sessionId: 'login-elsewhere',
      accessToken: access,
      refreshToken: 'r1',
      expiresAt: now + LIFETIME_S * 1000,
      receivedAt: now,
    };

    otherTabWrites(storageKey, JSON.stringify(login));

    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: access });
    expect(events.login).toEqual([{ source: 'remote' }]);
    await expect(auth.getAccessToken()).resolves.toBe(access);
  });

  it('changes nothing on a storage event that carries the session the tab already holds (no ping-pong)', async () => {
    const { auth, stored } = await signedInTab();
    const events = recordEvents(auth);
    const before = auth.getState();
    const writes = spyOnStorageWrites();

    fireStorageEvent({
      key: storageKey,
      oldValue: null,
      newValue: JSON.stringify(stored),
      storageArea: localStorage,
    });

    expect(auth.getState()).toBe(before);
    expect(events).toEqual({ login: [], refresh: [], logout: [], error: [] });
    expect(writes.setItem).not.toHaveBeenCalled();
  });

  it.each([
    ['text that is not JSON', 'not json {'],
    ['JSON null', 'null'],
    ['a JSON string', '"eyJ.abc.def"'],
    ['an empty object', '{}'],
    ['an array', '[]'],
    ['another storage format version', 'VERSION'],
    ['a session without an access token', 'NO_ACCESS_TOKEN'],
    ['a session with a numeric access token', 'NUMERIC_ACCESS_TOKEN'],
  ])('ignores a storage event whose newValue is unreadable: %s', async (_label, kind) => {
    const { auth, stored } = await signedInTab();
    const events = recordEvents(auth);
    const before = auth.getState();
    const later = { ...stored, sessionId: 'intruder', receivedAt: stored.receivedAt + 60_000 };
    const { accessToken: _dropped, ...withoutAccessToken } = later;
    const values: Record<string, string> = {
      VERSION: JSON.stringify({ ...later, v: 2 }),
      NO_ACCESS_TOKEN: JSON.stringify(withoutAccessToken),
      NUMERIC_ACCESS_TOKEN: JSON.stringify({ ...later, accessToken: 42 }),
    };
    const newValue = values[kind] ?? kind;
    const writes = spyOnStorageWrites();

    expect(() =>
      fireStorageEvent({ key: storageKey, oldValue: JSON.stringify(stored), newValue, storageArea: localStorage }),
    ).not.toThrow();

    expect(auth.getState()).toBe(before);
    expect(events).toEqual({ login: [], refresh: [], logout: [], error: [] });
    expect(writes.setItem).not.toHaveBeenCalled();
    expect(writes.removeItem).not.toHaveBeenCalled();
  });

  it.each([
    ['another key', () => ({ key: 'some-other-key', newValue: null, storageArea: localStorage })],
    ['a key that only starts with ours', () => ({ key: `${storageKey}-x`, newValue: null, storageArea: localStorage })],
    ['our key in sessionStorage', () => ({ key: storageKey, newValue: null, storageArea: sessionStorage })],
    ['an event without a storage area', () => ({ key: storageKey, newValue: null })],
  ])('ignores a storage event for %s', async (_label, init) => {
    const { auth, access } = await signedInTab();
    const events = recordEvents(auth);
    const before = auth.getState();

    fireStorageEvent(init());

    expect(auth.getState()).toBe(before);
    expect(events).toEqual({ login: [], refresh: [], logout: [], error: [] });
    await expect(auth.getAccessToken()).resolves.toBe(access);
  });

  it('stops listening to storage events on destroy()', async () => {
    const add = vi.spyOn(window, 'addEventListener');
    const remove = vi.spyOn(window, 'removeEventListener');
    const { auth } = await signedInTab();
    const storageListeners = add.mock.calls.filter(([type]) => type === 'storage').map(([, listener]) => listener);
    expect(storageListeners).toHaveLength(1);

    auth.destroy();

    expect(remove).toHaveBeenCalledWith('storage', storageListeners[0]);
    expect(localStorage.getItem(storageKey)).not.toBeNull(); // destroy() is not a logout
  });
});
