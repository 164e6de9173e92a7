import { describe, expect, it } from 'vitest';
import { RefreshFailedError } from 'tokenkeeper';
import { loginIdOf, type Session, startSession } from '../src/session';
import { type Action, type CoreState, INITIAL_STATE, reduce } from '../src/state';
import type { TokenSet } from '../src/token';

/*
 * The one writer of the session, as a table: each case is a state, an action and what the next state holds.
 * No timers, no channel, no HTTP: the reducer is pure.
 */

const NOW = 1_900_000_000_000;

function tokens(accessToken: string, refreshToken: string | null = `r-${accessToken}`): TokenSet {
  return { accessToken, refreshToken, expiresAt: NOW + 3_600_000, receivedAt: NOW, claims: null };
}

function session(accessToken: string, stamp: number, seq = 0, id = loginIdOf(accessToken)): Session {
  return { ...startSession(tokens(accessToken), { stamp, id }, 0), seq };
}

const ready = (overrides: Partial<CoreState> = {}): CoreState => ({ ...INITIAL_STATE, phase: 'ready', ...overrides });
const at = { wall: NOW, mono: 0, random: 0.5 };
const failure = new RefreshFailedError('the token refresh failed; it will be retried');

describe('reduce: logins', () => {
  it('a login takes the stamp it was given and moves the clock to it', () => {
    const next = reduce(ready({ clock: 5 }), {
      type: 'login',
      tokens: tokens('A'),
      id: loginIdOf('A'),
      receivedMono: 0,
      stamp: 7,
      source: 'local',
    });
    expect(next.session).toMatchObject({ accessToken: 'A', stamp: 7, seq: 0 });
    expect(next.clock).toBe(7);
  });

  it('a login overtaken meanwhile by a later login from another tab changes nothing but the clock', () => {
    const later = session('B', 9);
    const state = ready({ session: later, clock: 9 });
    const next = reduce(state, {
      type: 'login',
      tokens: tokens('A'),
      id: loginIdOf('A'),
      receivedMono: 0,
      stamp: 8,
      source: 'local',
    });
    expect(next.session).toBe(later);
  });

  it('a login ended by a logout heard meanwhile (at or after its stamp) does not sign in', () => {
    const state = ready({ floor: { stamp: 8, id: 'logout' }, clock: 8 });
    const next = reduce(state, {
      type: 'login',
      tokens: tokens('A'),
      id: loginIdOf('A'),
      receivedMono: 0,
      stamp: 8,
      source: 'local',
    });
    expect(next.session).toBeNull();
  });

  it('the same tokens set again are the login already held', () => {
    const held = session('A', 3, 2);
    const state = ready({ session: held, clock: 3 });
    const next = reduce(state, {
      type: 'login',
      tokens: tokens('A'),
      id: loginIdOf('A'),
      receivedMono: 0,
      stamp: 4,
      source: 'local',
    });
    expect(next.session).toBe(held);
  });
});

describe('reduce: sessions from other tabs', () => {
  it.each<[string, CoreState, Session, 'taken' | 'refused']>([
    ['a later login', ready({ session: session('A', 3), clock: 3 }), session('B', 4), 'taken'],
    ['an earlier login', ready({ session: session('A', 3), clock: 3 }), session('B', 2), 'refused'],
    [
      'a later token set of the held login',
      ready({ session: session('A', 3), clock: 3 }),
      session('A2', 3, 1, loginIdOf('A')),
      'taken',
    ],
    [
      'an earlier token set of the held login',
      ready({ session: session('A2', 3, 1, loginIdOf('A')), clock: 3 }),
      session('A', 3),
      'refused',
    ],
    [
      'a login ended by the latest logout',
      ready({ floor: { stamp: 5, id: 'x' }, clock: 5 }),
      session('B', 5),
      'refused',
    ],
    ['a login after the latest logout', ready({ floor: { stamp: 5, id: 'x' }, clock: 5 }), session('B', 6), 'taken'],
    [
      'a login of tokens a logout was for, at any stamp',
      ready({ endedTokens: ['r-B'], clock: 5 }),
      session('B', 60),
      'refused',
    ],
  ])('%s is %s', (_label, state, incoming, outcome) => {
    const next = reduce(state, { type: 'adopt', session: incoming, via: 'channel' });
    if (outcome === 'taken') expect(next.session?.accessToken).toBe(incoming.accessToken);
    else expect(next.session).toBe(state.session);
    expect(next.clock).toBeGreaterThanOrEqual(incoming.stamp);
  });

  it('a later token set of the held login keeps the later stamp of the two and the older token in its history', () => {
    const held = session('A', 9);
    const next = reduce(ready({ session: held, clock: 9 }), {
      type: 'adopt',
      session: session('A2', 3, 1, loginIdOf('A')),
      via: 'channel',
    });
    expect(next.session).toMatchObject({ accessToken: 'A2', seq: 1, stamp: 9, history: ['A'] });
  });
});

describe('reduce: logouts', () => {
  it('a logout here ends the session at the stamp of its call, and remembers its tokens', () => {
    const state = ready({ session: session('A', 3), clock: 7 });
    const next = reduce(state, { type: 'logout', reason: 'user', stamp: 8, id: 'logout', pending: false, tokens: [] });
    expect(next.session).toBeNull();
    expect(next.floor).toEqual({ stamp: 8, id: 'logout' });
    expect(next.endedTokens).toEqual(['A', 'r-A']);
  });

  it('a logout leaves a login ordered after its call (made in another tab while this one read its storage)', () => {
    const later = session('B', 12);
    const state = ready({ session: later, clock: 12 });
    const next = reduce(state, { type: 'logout', reason: 'user', stamp: 8, id: 'logout', pending: false, tokens: [] });
    expect(next.session).toBe(later);
  });

  it('a logout ends the session it was for that this tab no longer holds, by its tokens', () => {
    const state = ready({ session: session('B', 12), clock: 12 });
    const next = reduce(state, {
      type: 'logout',
      reason: 'user',
      stamp: 8,
      id: 'logout',
      pending: false,
      tokens: ['A', 'r-A'],
    });
    expect(next.session?.accessToken).toBe('B');
    expect(next.floor).toEqual({ stamp: 8, id: 'logout' });
    expect(next.endedTokens).toEqual(['A', 'r-A']);
  });

  it('a logout while the session is still being learnt sets the floor without a session, and the status is known', () => {
    const state = { ...INITIAL_STATE, phase: 'asking' as const, clock: 7 };
    const next = reduce(state, { type: 'logout', reason: 'user', stamp: 8, id: 'logout', pending: true, tokens: [] });
    expect(next).toMatchObject({ phase: 'ready', session: null, floor: { stamp: 8, id: 'logout' } });
  });

  it('restamp moves the login held, or the latest logout, after what other tabs answered', () => {
    const held = ready({ session: session('A', 3), clock: 3 });
    expect(reduce(held, { type: 'restamp', stamp: 9 })).toMatchObject({
      session: { accessToken: 'A', stamp: 9 },
      clock: 9,
    });
    expect(reduce(held, { type: 'restamp', stamp: 2 })).toBe(held);
    const out = ready({ floor: { stamp: 4, id: 'x' }, clock: 4 });
    expect(reduce(out, { type: 'restamp', stamp: 9 })).toMatchObject({ floor: { stamp: 9, id: 'x' }, clock: 9 });
  });

  it('a logout while signed out changes nothing', () => {
    const state = ready({ clock: 7 });
    expect(reduce(state, { type: 'logout', reason: 'user', stamp: 8, id: 'logout', pending: false, tokens: [] })).toBe(
      state,
    );
  });

  it.each<[string, Session, Action & { type: 'ended' }, boolean]>([
    ['a login before it', session('A', 3), { type: 'ended', floor: { stamp: 4, id: 'x' }, tokens: [] }, true],
    [
      'a login at the same stamp (the logout wins the tie)',
      session('A', 4),
      { type: 'ended', floor: { stamp: 4, id: 'a' }, tokens: [] },
      true,
    ],
    ['a later login', session('A', 5), { type: 'ended', floor: { stamp: 4, id: 'x' }, tokens: [] }, false],
    [
      'a later login of the tokens it was for',
      session('A', 9),
      { type: 'ended', floor: { stamp: 4, id: 'x' }, tokens: ['A', 'r-A'] },
      true,
    ],
  ])("another tab's logout ends %s: %s", (_label, held, action, ends) => {
    const next = reduce(ready({ session: held, clock: held.stamp }), action);
    expect(next.session === null).toBe(ends);
    expect(next.floor).toEqual(action.floor);
  });

  it('a rejected refresh ends the login it was for, and only at its own stamp', () => {
    const held = session('A', 3);
    const next = reduce(ready({ session: held, clock: 9 }), { type: 'rejected', from: held });
    expect(next.session).toBeNull();
    expect(next.floor).toEqual({ stamp: 3, id: held.id });
    expect(next.endedTokens).toEqual(expect.arrayContaining(['A', 'r-A']));
  });
});

describe('reduce: refreshes', () => {
  it('an answer for the held session becomes the session, with no backoff', () => {
    const held = session('A', 3);
    const fresh = session('A2', 3, 1, held.id);
    const state = ready({
      session: held,
      refreshing: true,
      backoff: { failures: 2, lastFailure: failure, retryAt: { wall: 0, mono: 0 } },
    });
    const next = reduce(state, { type: 'refreshed', from: held, next: fresh, at, bornExpired: null });
    expect(next).toMatchObject({ session: fresh, refreshing: false, backoff: null });
  });

  it('an answer continues another tab’s login of the same tokens held meanwhile, under that login', () => {
    const refreshed = session('A', 3);
    const sameTokens = session('A', 8);
    const fresh = session('A2', 3, 1, refreshed.id);
    const next = reduce(ready({ session: sameTokens }), {
      type: 'refreshed',
      from: refreshed,
      next: fresh,
      at,
      bornExpired: null,
    });
    expect(next.session).toMatchObject({ accessToken: 'A2', seq: 1, stamp: 8 });
  });

  it('an answer for a session that another login replaced is not taken here', () => {
    const refreshed = session('A', 3);
    const other = session('B', 8);
    const next = reduce(ready({ session: other, refreshing: true }), {
      type: 'refreshed',
      from: refreshed,
      next: session('A2', 3, 1, refreshed.id),
      at,
      bornExpired: null,
    });
    expect(next).toMatchObject({ session: other, refreshing: false });
  });

  it('an answer with no lifetime left is taken, and the next refresh backs off', () => {
    const held = session('A', 3);
    const next = reduce(ready({ session: held }), {
      type: 'refreshed',
      from: held,
      next: session('A2', 3, 1, held.id),
      at,
      bornExpired: failure,
    });
    expect(next.session?.accessToken).toBe('A2');
    expect(next.backoff).toMatchObject({ failures: 1, lastFailure: failure });
    expect(next.backoff!.retryAt.wall - NOW).toBeGreaterThanOrEqual(500);
    expect(next.backoff!.retryAt.wall - NOW).toBeLessThanOrEqual(1_000);
  });

  it.each<[string, number | null, number]>([
    ['without Retry-After: the backoff delay', null, 750],
    ['with a Retry-After longer than the backoff: the Retry-After', 30_000, 30_000],
    ['with a Retry-After of a day: capped at an hour', 86_400_000, 3_600_000],
  ])('a failed attempt %s', (_label, retryAfterMs, delayMs) => {
    const held = session('A', 3);
    const next = reduce(ready({ session: held, refreshing: true }), {
      type: 'refreshFailed',
      from: held,
      error: failure,
      at,
      retryAfterMs,
    });
    expect(next.refreshing).toBe(false);
    expect(next.backoff?.retryAt).toEqual({ wall: NOW + delayMs, mono: delayMs });
  });
});

describe('reduce: destroyed', () => {
  it('ends the session silently and ignores every later action', () => {
    const state = reduce(ready({ session: session('A', 3) }), { type: 'destroyed' });
    expect(state).toMatchObject({ phase: 'destroyed', session: null });
    expect(reduce(state, { type: 'adopt', session: session('B', 9), via: 'channel' })).toBe(state);
    expect(
      reduce(state, {
        type: 'login',
        tokens: tokens('C'),
        id: loginIdOf('C'),
        receivedMono: 0,
        stamp: 10,
        source: 'local',
      }),
    ).toBe(state);
  });
});

describe('loginIdOf', () => {
  it('is FNV-1a (64 bits) of the access token, the same in every tab', () => {
    // Published FNV-1a 64-bit test vectors.
    expect(loginIdOf('')).toBe('lcbf29ce484222325');
    expect(loginIdOf('a')).toBe('laf63dc4c8601ec8c');
    expect(loginIdOf('foobar')).toBe('l85944171f73967e8');
  });
});

describe('reduce: token sets a refresh replaced are never taken again', () => {
  it('an older token set of a login seen further along is refused, from a message or a setTokens()', () => {
    const first = session('A', 3);
    const refreshed = { ...session('A2', 3, 1, first.id) };
    const other = session('B', 3);
    // The tab saw A at seq 1, then a login B (same stamp, later by id or by order) replaced it.
    let state = reduce(ready({ clock: 3 }), { type: 'adopt', session: refreshed, via: 'channel' });
    state = { ...state, session: other };
    // A's first token set (seq 0), stamped later, comes back: its refresh token was rotated away.
    const stale = { ...first, stamp: 9 };
    expect(reduce(state, { type: 'adopt', session: stale, via: 'channel' }).session).toBe(other);
    const relogin = reduce(state, {
      type: 'login',
      tokens: tokens('A'),
      id: first.id,
      receivedMono: 0,
      stamp: 9,
      source: 'local',
    });
    expect(relogin.session).toBe(other);
  });

  it('a session that ends leaves the access tokens its refreshes replaced among the ended tokens', () => {
    const first = session('A', 3);
    let state = reduce(ready({ session: first, clock: 3 }), {
      type: 'adopt',
      session: session('A2', 3, 1, first.id),
      via: 'channel',
    });
    state = reduce(state, { type: 'ended', floor: { stamp: 5, id: 'x' }, tokens: [] });
    expect(state.session).toBeNull();
    expect(state.endedTokens).toContain('A');
  });
});

describe('reduce: what the start read, and decisions made while asking', () => {
  it('the stamp read at start counts only what this tab did not know (a login heard meanwhile is not in it)', () => {
    const loading = { ...INITIAL_STATE, clock: 9 };
    const stored = session('A', 5);
    const fresh = reduce(loading, { type: 'loaded', session: stored, floor: null, unknown: false, asking: false });
    expect(fresh.loaded).toEqual({ session: stored, stamp: 5 });
    // The tab heard of a later login B while the storage was read: what storage held is older than what it knows.
    const heard = { ...loading, session: session('B', 9) };
    const known = reduce(heard, {
      type: 'loaded',
      session: stored,
      floor: { stamp: 4, id: 'x' },
      unknown: false,
      asking: false,
    });
    expect(known.loaded.stamp).toBe(4);
  });

  it('a login or logout made while asking is remembered, and ends the asking', () => {
    const asking = { ...INITIAL_STATE, phase: 'asking' as const, clock: 3 };
    const loggedIn = reduce(asking, {
      type: 'login',
      tokens: tokens('A'),
      id: loginIdOf('A'),
      receivedMono: 0,
      stamp: 4,
      source: 'local',
    });
    expect(loggedIn).toMatchObject({ phase: 'ready', decidedWhileAsking: 'login' });
    const loggedOut = reduce(asking, { type: 'logout', reason: 'user', stamp: 4, id: 'o', pending: true, tokens: [] });
    expect(loggedOut).toMatchObject({ phase: 'ready', decidedWhileAsking: 'logout' });
    const restored = reduce(asking, {
      type: 'login',
      tokens: tokens('A'),
      id: loginIdOf('A'),
      receivedMono: 0,
      stamp: 4,
      source: 'restore',
    });
    expect(restored.decidedWhileAsking).toBeNull();
  });
});
