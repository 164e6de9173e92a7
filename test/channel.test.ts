import { describe, expect, it, vi } from 'vitest';
import { openTabChannel, PROTOCOL_NAME, PROTOCOL_VERSION, parseEnvelope } from '../src/channel';

const head = { protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, from: 'tab-1' } as const;
/** A session record of protocol version 2: a login key (`stamp`, `id`), a refresh count and a token set. */
const session = {
  id: 'session-1',
  stamp: 1_899_999_000_000,
  seq: 0,
  accessToken: 'header.payload.signature',
  refreshToken: 'r1',
  expiresAt: 1_900_000_000_000,
  receivedAt: 1_899_999_000_000,
};
const floor = { stamp: 1_899_999_000_001, id: 'logout-1' };
/** The token set a logout ended, which it names so that a login of the same tokens in another tab ends too. */
const tokens = [session.accessToken, 'r1'];
const id128 = 'i'.repeat(128);
const id129 = 'i'.repeat(129);
const MAX_STAMP = 2 ** 52;

describe('parseEnvelope accepts the messages of the protocol', () => {
  it.each<[string, Record<string, unknown>]>([
    ['session after a login', { ...head, type: 'session', session }],
    ['session after a refresh', { ...head, type: 'session', session: { ...session, seq: 3, accessToken: 'a.b.c' } }],
    ['logout', { ...head, type: 'logout', ...floor, tokens }],
    ['query', { ...head, type: 'query', queryId: 'q-1' }],
    ['state with a session', { ...head, type: 'state', to: 'tab-2', queryId: 'q-1', session, floor: null }],
    ['state without a session', { ...head, type: 'state', to: 'tab-2', queryId: 'q-1', session: null, floor: null }],
    ['state with a session and a floor', { ...head, type: 'state', to: 'tab-2', queryId: 'q-1', session, floor }],
    ['state of a tab that logged out', { ...head, type: 'state', to: 'tab-2', queryId: 'q-1', session: null, floor }],
    ['session without a refresh token', { ...head, type: 'session', session: { ...session, refreshToken: null } }],
    ['session of a token that never expires', { ...head, type: 'session', session: { ...session, expiresAt: null } }],
    ['ids of 128 characters', { ...head, from: id128, type: 'logout', stamp: 1, id: id128, tokens: [] }],
    ['a session id of 128 characters', { ...head, type: 'session', session: { ...session, id: id128 } }],
    ['stamp and seq 0', { ...head, type: 'session', session: { ...session, stamp: 0, seq: 0 } }],
    ['stamp and seq 2^52', { ...head, type: 'session', session: { ...session, stamp: MAX_STAMP, seq: MAX_STAMP } }],
    ['a logout at stamp 2^52', { ...head, type: 'logout', stamp: MAX_STAMP, id: 'l', tokens }],
    [
      'an opaque access token of visible ASCII',
      { ...head, type: 'session', session: { ...session, accessToken: '!~x' } },
    ],
  ])('%s', (_label, message) => {
    expect(parseEnvelope(message)).toEqual(message);
  });

  it('returns a message whose fields a receiver can use as they are', () => {
    const parsed = parseEnvelope({ ...head, type: 'session', session });

    expect(parsed).toMatchObject({ type: 'session', from: 'tab-1', session: { accessToken: session.accessToken } });
  });
});

describe('parseEnvelope rejects everything else, without throwing', () => {
  const { accessToken: _a, ...noAccessToken } = session;
  const { id: _s, ...noId } = session;
  const { stamp: _st, ...noStamp } = session;
  const { seq: _sq, ...noSeq } = session;
  const { refreshToken: _r, ...noRefreshToken } = session;
  const { expiresAt: _e, ...noExpiresAt } = session;
  const { receivedAt: _t, ...noReceivedAt } = session;
  const announce = (bad: unknown) => ({ ...head, type: 'session', session: bad });
  const logout = { ...head, type: 'logout', stamp: 1, id: 's', tokens: [] };
  const state = { ...head, type: 'state', to: 'tab-2', queryId: 'q', session, floor: null };
  /** What version 1 of the protocol sent: a session with a `sessionId` and no order. */
  const { id: v1SessionId, stamp: _v1s, seq: _v1q, ...v1Rest } = session;
  const v1Session = { sessionId: v1SessionId, ...v1Rest };
  const v1 = { ...head, version: 1 };

  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'logout'],
    ['the JSON text of a valid message', JSON.stringify(logout)],
    ['a number', 1],
    ['NaN', Number.NaN],
    ['a boolean', true],
    ['a bigint', 10n],
    ['a function', () => logout],
    ['an array', [logout]],
    ['an empty object', {}],
    ['a Date', new Date()],
    ['another protocol', { ...logout, protocol: 'other' }],
    ['no protocol', { version: PROTOCOL_VERSION, from: 'tab-1', type: 'logout', stamp: 1, id: 's', tokens: [] }],
    ['another version', { ...logout, version: PROTOCOL_VERSION + 1 }],
    ['version 0', { ...logout, version: 0 }],
    ['a version as a string', { ...logout, version: String(PROTOCOL_VERSION) }],
    ['no version', { protocol: PROTOCOL_NAME, from: 'tab-1', type: 'logout', stamp: 1, id: 's', tokens: [] }],
    [
      'no sender',
      { protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, type: 'logout', stamp: 1, id: 's', tokens: [] },
    ],
    ['an empty sender', { ...logout, from: '' }],
    ['a numeric sender', { ...logout, from: 7 }],
    ['a sender id of 129 characters', { ...logout, from: id129 }],
    ['a huge sender id', { ...logout, from: 'x'.repeat(1_000_000) }],
    ['no type', { ...head, stamp: 1, id: 's', session }],
    ['an unknown type', { ...head, type: 'takeover', session }],
    ['a type in other case', { ...logout, type: 'LOGOUT' }],
    ['a numeric type', { ...logout, type: 1 }],
    // Version 1 of the protocol, and its message types under the new version number.
    ['a version 1 login', { ...v1, type: 'login', session: v1Session }],
    ['a version 1 refresh', { ...v1, type: 'refresh', session: v1Session }],
    ['a version 1 logout', { ...v1, type: 'logout', sessionId: 'session-1' }],
    ['a version 1 state', { ...v1, type: 'state', to: 'tab-2', queryId: 'q', session: v1Session }],
    ['a version 1 message carrying a version 2 session', { ...v1, type: 'session', session }],
    ['a login (a type of version 1)', { ...head, type: 'login', session }],
    ['a refresh (a type of version 1)', { ...head, type: 'refresh', session }],
    ['a session of version 1 shape', announce(v1Session)],
    ['a logout by session id (version 1 shape)', { ...head, type: 'logout', sessionId: 'session-1' }],
    // Session messages.
    ['a session message without a session', { ...head, type: 'session' }],
    ['a session message with a null session', announce(null)],
    ['a session that is a string', announce(JSON.stringify(session))],
    ['a session that is an array', announce([session])],
    ['a session lacking the access token', announce(noAccessToken)],
    ['a session lacking the id', announce(noId)],
    ['a session lacking the stamp', announce(noStamp)],
    ['a session lacking seq', announce(noSeq)],
    ['a session lacking the refresh token', announce(noRefreshToken)],
    ['a session lacking expiresAt', announce(noExpiresAt)],
    ['a session lacking receivedAt', announce(noReceivedAt)],
    ['a numeric accessToken', announce({ ...session, accessToken: 12345 })],
    ['an empty accessToken', announce({ ...session, accessToken: '' })],
    ['an accessToken with a space', announce({ ...session, accessToken: 'a b' })],
    ['an accessToken with a line break (header injection)', announce({ ...session, accessToken: 'a\r\nX-Evil: 1' })],
    ['an accessToken with a control character', announce({ ...session, accessToken: 'a\u0000b' })],
    ['an accessToken with a non-ASCII character', announce({ ...session, accessToken: 'a\u00e9b' })],
    ['a numeric refresh token', announce({ ...session, refreshToken: 1 })],
    ['an empty session id', announce({ ...session, id: '' })],
    ['a numeric session id', announce({ ...session, id: 1 })],
    ['a session id of 129 characters', announce({ ...session, id: id129 })],
    ['a huge session id', announce({ ...session, id: 'x'.repeat(1_000_000) })],
    ['a negative stamp', announce({ ...session, stamp: -1 })],
    ['a fractional stamp', announce({ ...session, stamp: 1.5 })],
    ['a stamp above 2^52', announce({ ...session, stamp: MAX_STAMP + 1 })],
    ['a stamp as a string', announce({ ...session, stamp: '1899999000000' })],
    ['a stamp NaN', announce({ ...session, stamp: Number.NaN })],
    ['a stamp Infinity', announce({ ...session, stamp: Number.POSITIVE_INFINITY })],
    ['a null stamp', announce({ ...session, stamp: null })],
    ['a negative seq', announce({ ...session, seq: -1 })],
    ['a fractional seq', announce({ ...session, seq: 0.5 })],
    ['a seq above 2^52', announce({ ...session, seq: MAX_STAMP + 1 })],
    ['a seq as a string', announce({ ...session, seq: '0' })],
    ['expiresAt as a string', announce({ ...session, expiresAt: '1900000000000' })],
    ['expiresAt NaN', announce({ ...session, expiresAt: Number.NaN })],
    ['expiresAt Infinity', announce({ ...session, expiresAt: Number.POSITIVE_INFINITY })],
    ['receivedAt null', announce({ ...session, receivedAt: null })],
    // Logout messages: a login key.
    ['a logout without a stamp or id', { ...head, type: 'logout', tokens: [] }],
    ['a logout without a stamp', { ...head, type: 'logout', id: 's', tokens: [] }],
    ['a logout without an id', { ...head, type: 'logout', stamp: 1, tokens: [] }],
    ['a logout with an empty id', { ...logout, id: '' }],
    ['a logout with a numeric id', { ...logout, id: 1 }],
    ['a logout with an id of 129 characters', { ...logout, id: id129 }],
    ['a logout with a huge id', { ...logout, id: 'x'.repeat(1_000_000) }],
    ['a logout with a negative stamp', { ...logout, stamp: -1 }],
    ['a logout with a fractional stamp', { ...logout, stamp: 1.5 }],
    ['a logout with a stamp above 2^52', { ...logout, stamp: MAX_STAMP + 1 }],
    ['a logout with a stamp as a string', { ...logout, stamp: '1' }],
    // The tokens a logout names.
    ['a logout without tokens', { ...head, type: 'logout', stamp: 1, id: 's' }],
    ['a logout whose tokens are not an array', { ...logout, tokens: 'token' }],
    ['a logout naming more than two tokens', { ...logout, tokens: ['a', 'b', 'c'] }],
    ['a logout naming an empty token', { ...logout, tokens: [''] }],
    ['a logout naming a token that is not a string', { ...logout, tokens: [1] }],
    ['a logout naming a token of more than 16,384 characters', { ...logout, tokens: ['t'.repeat(16_385)] }],
    // A query says what the asking tab has: when it does, it must be well-formed.
    ['a query with a session that is not a record', { ...head, type: 'query', queryId: 'q', session: 'x' }],
    ['a query with a malformed floor', { ...head, type: 'query', queryId: 'q', floor: { stamp: -1, id: 'f' } }],
    // Queries and their answers.
    ['a query without a query id', { ...head, type: 'query' }],
    ['a query with a numeric query id', { ...head, type: 'query', queryId: 1 }],
    ['a state without an addressee', { ...head, type: 'state', queryId: 'q', session: null, floor: null }],
    ['a state without a query id', { ...head, type: 'state', to: 'tab-2', session: null, floor: null }],
    ['a state without a session field', { ...head, type: 'state', to: 'tab-2', queryId: 'q', floor: null }],
    ['a state without a floor field', { ...head, type: 'state', to: 'tab-2', queryId: 'q', session }],
    ['a state with a malformed session', { ...state, session: noAccessToken }],
    ['a state with a session of version 1 shape', { ...state, session: v1Session }],
    ['a state with a malformed floor', { ...state, floor: { stamp: -1, id: 'l' } }],
    ['a state with a floor without an id', { ...state, floor: { stamp: 1 } }],
    ['a state with a floor that is a stamp alone', { ...state, floor: 1 }],
    ['a state with a huge addressee', { ...state, to: 'x'.repeat(1_000_000) }],
  ])('%s', (_label, data) => {
    expect(() => parseEnvelope(data)).not.toThrow();
    expect(parseEnvelope(data)).toBeNull();
  });
});

/** A channel as `openTabChannel` sees it; `deliver` plays a message arriving from elsewhere. */
function createFakeChannel() {
  const channel = {
    posted: [] as unknown[],
    closed: 0,
    onmessage: null as ((event: { data: unknown }) => void) | null,
    postMessage(message: unknown) {
      channel.posted.push(message);
    },
    close() {
      channel.closed += 1;
    },
    deliver(data: unknown) {
      channel.onmessage?.({ data });
    },
  };
  return channel;
}

describe('openTabChannel', () => {
  it('stamps what it posts with the protocol, the version and its tab id', () => {
    const fake = createFakeChannel();
    const tab = openTabChannel(fake, 'tab-1', () => {});

    const logout = { type: 'logout' as const, stamp: 7, id: 'session-1', tokens: ['a.b.c'] };
    tab.post(logout);

    expect(fake.posted).toEqual([{ protocol: 'tokenkeeper', version: 2, from: 'tab-1', ...logout }]);
    expect(parseEnvelope(fake.posted[0])).not.toBeNull();
  });

  it('delivers well-formed messages from other tabs', () => {
    const fake = createFakeChannel();
    const onMessage = vi.fn();
    openTabChannel(fake, 'tab-1', onMessage);
    const message = { ...head, from: 'tab-2', type: 'session', session };

    fake.deliver(message);

    expect(onMessage).toHaveBeenCalledTimes(1);
    expect(onMessage).toHaveBeenCalledWith(message);
  });

  it('ignores its own messages', () => {
    const fake = createFakeChannel();
    const onMessage = vi.fn();
    openTabChannel(fake, 'tab-1', onMessage);

    fake.deliver({ ...head, from: 'tab-1', type: 'logout', stamp: 7, id: 'session-1', tokens: [] });

    expect(onMessage).not.toHaveBeenCalled();
  });

  it('ignores malformed messages and events without data, without throwing', () => {
    const fake = createFakeChannel();
    const onMessage = vi.fn();
    openTabChannel(fake, 'tab-1', onMessage);

    expect(() => {
      fake.deliver(null);
      fake.deliver('logout');
      fake.deliver({ ...head, from: 'tab-2', type: 'logout' });
      fake.deliver({ ...head, from: 'tab-2', version: 1, type: 'logout', sessionId: 's' });
      fake.deliver({ ...head, from: 'tab-2', version: 3, type: 'logout', stamp: 1, id: 's', tokens: [] });
      fake.onmessage?.(undefined as unknown as { data: unknown });
      fake.onmessage?.(null as unknown as { data: unknown });
    }).not.toThrow();
    expect(onMessage).not.toHaveBeenCalled();
  });

  it('close() detaches the listener and closes the channel; posting afterwards does not throw', () => {
    const fake = createFakeChannel();
    const onMessage = vi.fn();
    const tab = openTabChannel(fake, 'tab-1', onMessage);

    tab.close();

    expect(fake.onmessage).toBeNull();
    expect(fake.closed).toBe(1);
    expect(() => tab.post({ type: 'query', queryId: 'q' })).not.toThrow();
  });

  it('keeps working on its own when the channel throws on post or close', () => {
    const fake = createFakeChannel();
    fake.postMessage = () => {
      throw new DOMException('closed', 'InvalidStateError');
    };
    fake.close = () => {
      throw new DOMException('closed', 'InvalidStateError');
    };
    const tab = openTabChannel(fake, 'tab-1', () => {});

    const logout = { type: 'logout' as const, stamp: 1, id: 's', tokens: [] };
    expect(() => tab.post(logout)).not.toThrow();
    expect(() => tab.close()).not.toThrow();
  });
});
