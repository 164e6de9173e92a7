// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { jwtFor } from './support/jwt';
import {
  http,
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
import { expectTombstone } from './support/stored';
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

/** What another tab posts on the test's channel (a channel of its own, so no observer hears it as this tab's). */
function otherTabPosts(message: Record<string, unknown>): void {
  const channel = new BroadcastChannel(channelName);
  rawChannels.push(channel);
  channel.postMessage({ protocol: 'tokenkeeper', version: 2, from: 'other-tab', ...message });
}

/** A login as the stored format names it: a logout's key ends every login ordered at or before it. */
interface LoginKey {
  stamp: number;
  id: string;
}

interface SessionRecord extends LoginKey {
  seq: number;
  accessToken: string;
  refreshToken: string | null;
  expiresAt: number | null;
  receivedAt: number;
}

/** What the storage holds (format version 2): the session, and the latest logout. */
interface Stored {
  v: number;
  session: SessionRecord | null;
  floor: LoginKey | null;
}

const readStored = (): Stored => JSON.parse(localStorage.getItem(storageKey)!) as Stored;
const loginKeyOf = ({ stamp, id }: LoginKey): LoginKey => ({ stamp, id });
/** The stored text of a session, as another tab writes it. */
const storedText = (session: SessionRecord | null, floor: LoginKey | null = null): string =>
  JSON.stringify({ v: 2, session, floor });

/** A tab signed in through setTokens(), as the page that logged in; returns what it stored. */
async function signedInTab(options: Parameters<typeof openTab>[0] = {}) {
  const auth = openTab(options);
  await auth.ready;
  const access = jwtFor(LIFETIME_S);
  await auth.setTokens({ accessToken: access, refreshToken: 'r1' });
  const stored = readStored();
  expect(stored).toMatchObject({ v: 2, session: { accessToken: access, seq: 0 }, floor: null });
  return { auth, access, stored, session: stored.session! };
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
  it("signs out without a channel on a storage event whose newValue is null, with reason 'remote', and only records that logout as a tombstone in the emptied key", async () => {
    const { auth, access, stored, session } = await signedInTab({ channel: false });
    const events = recordEvents(auth);
    localStorage.removeItem(storageKey); // the other tab's logout cleared it (its tombstone write failed)
    const writes = spyOnStorageWrites();

    fireStorageEvent({ key: storageKey, oldValue: JSON.stringify(stored), newValue: null, storageArea: localStorage });

    expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    expect(events.logout).toEqual([{ reason: 'remote' }]);
    await expect(auth.getAccessToken()).resolves.toBeNull();
    await settle();
    // The one write is the logout it heard, as a tombstone: no token, the ended login as its floor.
    expect(writes.setItem).toHaveBeenCalledTimes(1);
    expect(writes.setItem.mock.calls[0]![0]).toBe(storageKey);
    expect(expectTombstone(writes.setItem.mock.calls[0]![1], [access, 'r1'])).toEqual(loginKeyOf(session));
    expect(localStorage.getItem(storageKey)).toBe(writes.setItem.mock.calls[0]![1]);
    expect(writes.removeItem).not.toHaveBeenCalled();
    expect(requests.logout.seen).toHaveLength(0);
    // A reload reads it as signed out.
    const reloaded = openTab({ channel: false });
    await reloaded.ready;
    expect(reloaded.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
  });

  it("with a channel, leaves the end of the session to the channel's logout: the removal alone changes nothing and writes nothing, the logout signs out with reason 'remote', only records that logout as a tombstone in the emptied key, and passes on only that logout", async () => {
    const { auth, access, stored, session } = await signedInTab();
    const observed = openChannelObserver();
    const events = recordEvents(auth);
    const before = auth.getState();
    localStorage.removeItem(storageKey); // the other tab's logout cleared it (or a write of its own failed)
    const writes = spyOnStorageWrites();

    fireStorageEvent({ key: storageKey, oldValue: JSON.stringify(stored), newValue: null, storageArea: localStorage });

    // A removal may only be another tab's failed write clearing the key: the channel says when a login ends.
    expect(auth.getState()).toBe(before);
    expect(events).toEqual({ login: [], refresh: [], logout: [], error: [] });
    await settle();
    expect(writes.setItem).not.toHaveBeenCalled();
    expect(writes.removeItem).not.toHaveBeenCalled();
    otherTabPosts({ type: 'logout', ...loginKeyOf(session), tokens: [] });
    await vi.waitFor(() => expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null }));
    expect(events.logout).toEqual([{ reason: 'remote' }]);
    await expect(auth.getAccessToken()).resolves.toBeNull();
    await settle();
    // The one write is the logout it heard, as a tombstone: no token, that logout's key as its floor.
    expect(writes.setItem).toHaveBeenCalledTimes(1);
    expect(writes.setItem.mock.calls[0]![0]).toBe(storageKey);
    expect(expectTombstone(writes.setItem.mock.calls[0]![1], [access, 'r1'])).toEqual(loginKeyOf(session));
    expect(localStorage.getItem(storageKey)).toBe(writes.setItem.mock.calls[0]![1]);
    expect(writes.removeItem).not.toHaveBeenCalled();
    // What the tab posts is the same logout, passed on (a tab that took the session from it hears of the end
    // too), never the session itself.
    const own = observed.filter((m) => (m as { from?: unknown }).from !== 'other-tab');
    expect(own).toEqual([expect.objectContaining({ type: 'logout', ...loginKeyOf(session) })]);
    expect(requests.logout.seen).toHaveLength(0);
  });

  it.each([
    ['without a channel', { channel: false as const }, 'unauthenticated'],
    ['with a channel', {}, 'authenticated'],
  ])(
    'leaves a newer login that is already in storage alone when the removal of the old session is heard, %s',
    async (_label, options, status) => {
      const { auth, stored, session } = await signedInTab(options);
      // The other tab logged out and, at once, in again: by the time this tab hears of the removal, storage
      // holds the new login; a tab that cleared storage on the removal would sign every tab out.
      const logout = { stamp: session.stamp + 1, id: 'logout-elsewhere' };
      const next = storedText(
        {
          ...session,
          id: 'next-login',
          stamp: session.stamp + 2,
          // A new login: new tokens, access and refresh.
          accessToken: jwtFor(LIFETIME_S),
          refreshToken: 'r-next-login',
          receivedAt: session.receivedAt + 1,
        },
        logout,
      );
      localStorage.setItem(storageKey, next);
      const writes = spyOnStorageWrites();

      fireStorageEvent({
        key: storageKey,
        oldValue: JSON.stringify(stored),
        newValue: null,
        storageArea: localStorage,
      });

      // Without a channel the removal ends the login it removed; with one, the channel's messages will say.
      expect(auth.getState().status).toBe(status);
      await settle();
      expect(writes.setItem).not.toHaveBeenCalled();
      expect(writes.removeItem).not.toHaveBeenCalled();
      expect(localStorage.getItem(storageKey)).toBe(next);
    },
  );

  // A clear() is never a write of this library failing (that removes our key alone), so it signs out with a
  // channel open as well as without one: nothing else will say that the stored session is gone.
  it.each([
    ['with a channel', {}],
    ['without a channel', { channel: false as const }],
  ])(
    "signs out when another tab clears the whole localStorage (key null), with reason 'remote', %s",
    async (_label, options) => {
      const { auth } = await signedInTab(options);
      const events = recordEvents(auth);
      localStorage.clear();
      const writes = spyOnStorageWrites();

      fireStorageEvent({ key: null, oldValue: null, newValue: null, storageArea: localStorage });

      expect(auth.getState().status).toBe('unauthenticated');
      expect(events.logout).toEqual([{ reason: 'remote' }]);
      expect(writes.setItem).not.toHaveBeenCalled();
      expect(writes.removeItem).not.toHaveBeenCalled();
    },
  );

  it.each<[string, { channel?: false }]>([
    ['with a channel', {}],
    ['without a channel', { channel: false }],
  ])(
    "signs out on a storage event carrying a logout that ends this login (a tombstone), with reason 'remote', without writing, passing on only that logout, %s",
    async (_label, options) => {
      const { auth, session } = await signedInTab(options);
      const observed = openChannelObserver();
      const events = recordEvents(auth);
      const writes = spyOnStorageWrites();

      // The other tab's logout could not remove the key, so it left the logout in its place.
      otherTabWrites(storageKey, storedText(null, { stamp: session.stamp, id: session.id }));

      expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
      expect(events.logout).toEqual([{ reason: 'remote' }]);
      await expect(auth.getAccessToken()).resolves.toBeNull();
      await settle();
      expect(writes.setItem).toHaveBeenCalledTimes(1); // the other tab's
      expect(writes.removeItem).not.toHaveBeenCalled();
      expect(readStored()).toEqual({ v: 2, session: null, floor: loginKeyOf(session) });
      // The tab passes on the logout that ended its session (see the relay in manager.ts), nothing else.
      expect(observed).toEqual(
        options.channel === false ? [] : [expect.objectContaining({ type: 'logout', ...loginKeyOf(session) })],
      );
      expect(requests.logout.seen).toHaveLength(0);
    },
  );

  it('drops a refresh in flight when the logout it lost to comes as a tombstone first and as a message with its tokens after: the request is aborted, its callers told at once', async () => {
    const { auth, access, session } = await signedInTab();
    // The refresh is held at the server until its request is aborted.
    const aborted: boolean[] = [];
    server.use(
      http.post(REFRESH_URL, ({ request }) => {
        return new Promise<Response>((resolve) => {
          request.signal.addEventListener('abort', () => {
            aborted.push(true);
            resolve(new Response(null, { status: 499 }));
          });
        });
      }),
    );
    const refreshing = auth.refresh();
    const outcome = refreshing.then(
      () => 'resolved',
      (error: { code?: string }) => error.code,
    );
    await vi.waitFor(() => expect(auth.getState().refreshing).toBe(true));
    await settle();

    // The other tab logged out: its tombstone (no tokens) reaches this tab before its message (with them).
    otherTabWrites(storageKey, storedText(null, { stamp: session.stamp, id: session.id }));
    expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    otherTabPosts({ type: 'logout', ...loginKeyOf(session), tokens: [access, 'r1'] });

    await expect(outcome).resolves.toBe('not_authenticated');
    await vi.waitFor(() => expect(aborted).toEqual([true]));
    expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null, refreshing: false });
  });

  it('stays signed in on a tombstone whose logout comes before this login', async () => {
    const { auth, session } = await signedInTab();
    const events = recordEvents(auth);

    otherTabWrites(storageKey, storedText(null, { stamp: session.stamp - 1, id: session.id }));

    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: session.accessToken });
    expect(events).toEqual({ login: [], refresh: [], logout: [], error: [] });
    await expect(auth.getAccessToken()).resolves.toBe(session.accessToken);
  });

  it("takes a newer token set of the same login from a storage event, with a 'refresh' event from 'remote'", async () => {
    const { auth, stored, session } = await signedInTab();
    const observed = openChannelObserver();
    const events = recordEvents(auth);
    const fresh = jwtFor(LIFETIME_S);
    const refreshed: Stored = {
      ...stored,
      session: {
        ...session,
        seq: session.seq + 1,
        accessToken: fresh,
        refreshToken: 'r2',
        expiresAt: session.expiresAt! + 60_000,
        receivedAt: session.receivedAt + 60_000,
      },
    };
    const newValue = JSON.stringify(refreshed);
    localStorage.setItem(storageKey, newValue);
    const writes = spyOnStorageWrites();

    fireStorageEvent({ key: storageKey, oldValue: JSON.stringify(stored), newValue, storageArea: localStorage });

    const expiresAt = refreshed.session!.expiresAt;
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: fresh, expiresAt });
    expect(events.refresh).toEqual([{ accessToken: fresh, expiresAt, source: 'remote' }]);
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
    const { auth, stored, session } = await signedInTab();
    const observed = openChannelObserver();
    const events = recordEvents(auth);
    const other = jwtFor(LIFETIME_S, { sub: 'user-2' });
    const login: Stored = {
      v: 2,
      session: {
        id: 'another-login',
        stamp: session.stamp + 1,
        seq: 0,
        accessToken: other,
        refreshToken: 'r9',
        expiresAt: session.receivedAt + 1_000 + LIFETIME_S * 1000,
        receivedAt: session.receivedAt + 1_000,
      },
      floor: null,
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

  it("takes a newer login written in the version 1 format (an older tokenkeeper in another tab), with a 'login' event from 'remote'", async () => {
    const { auth, stored, session } = await signedInTab();
    const events = recordEvents(auth);
    const other = jwtFor(LIFETIME_S, { sub: 'user-2' });
    // Version 1 had no order: the login is stamped with its receipt time when read.
    const login = {
      v: 1,
      sessionId: 'another-login',
      accessToken: other,
      refreshToken: 'r9',
      expiresAt: session.receivedAt + 1_000 + LIFETIME_S * 1000,
      receivedAt: session.receivedAt + 1_000,
    };
    const newValue = JSON.stringify(login);
    localStorage.setItem(storageKey, newValue);
    const writes = spyOnStorageWrites();

    fireStorageEvent({ key: storageKey, oldValue: JSON.stringify(stored), newValue, storageArea: localStorage });

    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: other, claims: { sub: 'user-2' } });
    expect(events.login).toEqual([{ source: 'remote' }]);
    expect(events.logout).toEqual([]);
    await settle();
    expect(writes.removeItem).not.toHaveBeenCalled();
  });

  it("signs in a signed-out tab when another tab logs in, with a 'login' event from 'remote'", async () => {
    const auth = openTab();
    await auth.ready;
    const events = recordEvents(auth);
    const access = jwtFor(LIFETIME_S);
    const now = Date.now();
    const login: SessionRecord = {
      id: 'login-elsewhere',
      stamp: now,
      seq: 0,
      accessToken: access,
      refreshToken: 'r1',
      expiresAt: now + LIFETIME_S * 1000,
      receivedAt: now,
    };

    otherTabWrites(storageKey, storedText(login));

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
    await settle();
    expect(writes.setItem).not.toHaveBeenCalled();
    expect(writes.removeItem).not.toHaveBeenCalled();
  });

  it.each([
    ['text that is not JSON', 'not json {'],
    ['JSON null', 'null'],
    ['a JSON string', '"eyJ.abc.def"'],
    ['an empty object', '{}'],
    ['an array', '[]'],
    ['another storage format version', 'VERSION'],
    ['a bare session record without the format wrapper', 'BARE'],
    ['a stored value without a session field', 'NO_SESSION_FIELD'],
    ['a stored value without a floor field', 'NO_FLOOR_FIELD'],
    ['a session without an access token', 'NO_ACCESS_TOKEN'],
    ['a session with a numeric access token', 'NUMERIC_ACCESS_TOKEN'],
    ['a session with an access token that is not header-safe', 'UNSAFE_ACCESS_TOKEN'],
    ['a session without a stamp', 'NO_STAMP'],
    ['a session with a negative stamp', 'NEGATIVE_STAMP'],
    ['a session with a fractional stamp', 'FRACTIONAL_STAMP'],
    ['a session with a stamp above 2^52', 'HUGE_STAMP'],
    ['a session with a stamp as a string', 'STRING_STAMP'],
    ['a session without seq', 'NO_SEQ'],
    ['a session with a negative seq', 'NEGATIVE_SEQ'],
    ['a session with a seq as a string', 'STRING_SEQ'],
    ['a session with an empty id', 'EMPTY_ID'],
    ['a session with an id of 129 characters', 'LONG_ID'],
    ['a logout with a malformed floor', 'BAD_FLOOR'],
    ['a version 1 session without an access token', 'V1_NO_ACCESS_TOKEN'],
  ])('ignores a storage event whose newValue is unreadable: %s', async (_label, kind) => {
    const { auth, stored, session } = await signedInTab();
    const events = recordEvents(auth);
    const before = auth.getState();
    // Read naively, each would replace the session with a later login, or end it.
    const later: SessionRecord = {
      ...session,
      id: 'intruder',
      stamp: session.stamp + 60_000,
      receivedAt: session.receivedAt + 60_000,
    };
    const { accessToken: _dropped, ...withoutAccessToken } = later;
    const { stamp: _noStamp, ...withoutStamp } = later;
    const { seq: _noSeq, ...withoutSeq } = later;
    const wrapped = (value: unknown): string => JSON.stringify({ v: 2, session: value, floor: null });
    const values: Record<string, string> = {
      VERSION: JSON.stringify({ v: 3, session: later, floor: null }),
      BARE: JSON.stringify(later),
      NO_SESSION_FIELD: JSON.stringify({ v: 2, floor: loginKeyOf(later) }),
      NO_FLOOR_FIELD: JSON.stringify({ v: 2, session: later }),
      NO_ACCESS_TOKEN: wrapped(withoutAccessToken),
      NUMERIC_ACCESS_TOKEN: wrapped({ ...later, accessToken: 42 }),
      UNSAFE_ACCESS_TOKEN: wrapped({ ...later, accessToken: `${later.accessToken}\r\nX-Evil: 1` }),
      NO_STAMP: wrapped(withoutStamp),
      NEGATIVE_STAMP: wrapped({ ...later, stamp: -1 }),
      FRACTIONAL_STAMP: wrapped({ ...later, stamp: later.stamp + 0.5 }),
      HUGE_STAMP: wrapped({ ...later, stamp: 2 ** 52 + 1 }),
      STRING_STAMP: wrapped({ ...later, stamp: String(later.stamp) }),
      NO_SEQ: wrapped(withoutSeq),
      NEGATIVE_SEQ: wrapped({ ...later, seq: -1 }),
      STRING_SEQ: wrapped({ ...later, seq: '0' }),
      EMPTY_ID: wrapped({ ...later, id: '' }),
      LONG_ID: wrapped({ ...later, id: 'i'.repeat(129) }),
      BAD_FLOOR: JSON.stringify({ v: 2, session: null, floor: { stamp: String(later.stamp), id: 'logout' } }),
      V1_NO_ACCESS_TOKEN: JSON.stringify({
        v: 1,
        sessionId: 'intruder',
        refreshToken: 'r1',
        expiresAt: later.expiresAt,
        receivedAt: later.receivedAt,
      }),
    };
    const newValue = values[kind] ?? kind;
    const writes = spyOnStorageWrites();

    expect(() =>
      fireStorageEvent({ key: storageKey, oldValue: JSON.stringify(stored), newValue, storageArea: localStorage }),
    ).not.toThrow();

    expect(auth.getState()).toBe(before);
    expect(events).toEqual({ login: [], refresh: [], logout: [], error: [] });
    await settle();
    expect(writes.setItem).not.toHaveBeenCalled();
    expect(writes.removeItem).not.toHaveBeenCalled();
  });

  // Each carries a logout that ends the session: acted on, it would sign the tab out.
  it.each([
    ['another key', (newValue: string) => ({ key: 'some-other-key', newValue, storageArea: localStorage })],
    [
      'a key that only starts with ours',
      (newValue: string) => ({ key: `${storageKey}-x`, newValue, storageArea: localStorage }),
    ],
    ['our key in sessionStorage', (newValue: string) => ({ key: storageKey, newValue, storageArea: sessionStorage })],
    ['an event without a storage area', (newValue: string) => ({ key: storageKey, newValue })],
  ])('ignores a storage event for %s', async (_label, init) => {
    const { auth, access, session } = await signedInTab();
    const events = recordEvents(auth);
    const before = auth.getState();

    fireStorageEvent(init(storedText(null, loginKeyOf(session))));

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
