import { describe, expect, it, vi } from 'vitest';
import { openTabChannel, PROTOCOL_NAME, PROTOCOL_VERSION, parseEnvelope } from '../src/channel';

const head = { protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, from: 'tab-1' } as const;
const session = {
  sessionId: 'session-1',
  accessToken: 'header.payload.signature',
  refreshToken: 'r1',
  expiresAt: 1_900_000_000_000,
  receivedAt: 1_899_999_000_000,
};
const id128 = 'i'.repeat(128);
const id129 = 'i'.repeat(129);

describe('parseEnvelope accepts the messages of the protocol', () => {
  it.each<[string, Record<string, unknown>]>([
    ['login', { ...head, type: 'login', session }],
    ['refresh', { ...head, type: 'refresh', session }],
    ['logout', { ...head, type: 'logout', sessionId: 'session-1' }],
    ['query', { ...head, type: 'query', queryId: 'q-1' }],
    ['state with a session', { ...head, type: 'state', to: 'tab-2', queryId: 'q-1', session }],
    ['state without a session', { ...head, type: 'state', to: 'tab-2', queryId: 'q-1', session: null }],
    ['login without a refresh token', { ...head, type: 'login', session: { ...session, refreshToken: null } }],
    ['login of a token that never expires', { ...head, type: 'login', session: { ...session, expiresAt: null } }],
    ['ids of 128 characters', { ...head, from: id128, type: 'logout', sessionId: id128 }],
    ['a session id of 128 characters', { ...head, type: 'login', session: { ...session, sessionId: id128 } }],
  ])('%s', (_label, message) => {
    expect(parseEnvelope(message)).toEqual(message);
  });

  it('returns a message whose fields a receiver can use as they are', () => {
    const parsed = parseEnvelope({ ...head, type: 'refresh', session });

    expect(parsed).toMatchObject({ type: 'refresh', from: 'tab-1', session: { accessToken: session.accessToken } });
  });
});

describe('parseEnvelope rejects everything else, without throwing', () => {
  const { accessToken: _a, ...noAccessToken } = session;
  const { sessionId: _s, ...noSessionId } = session;
  const { refreshToken: _r, ...noRefreshToken } = session;
  const { expiresAt: _e, ...noExpiresAt } = session;
  const { receivedAt: _t, ...noReceivedAt } = session;
  const login = (bad: unknown) => ({ ...head, type: 'login', session: bad });

  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'login'],
    ['the JSON text of a valid message', JSON.stringify({ ...head, type: 'logout', sessionId: 's' })],
    ['a number', 1],
    ['NaN', Number.NaN],
    ['a boolean', true],
    ['a bigint', 10n],
    ['a function', () => ({ ...head, type: 'logout', sessionId: 's' })],
    ['an array', [{ ...head, type: 'logout', sessionId: 's' }]],
    ['an empty object', {}],
    ['a Date', new Date()],
    ['another protocol', { ...head, protocol: 'other', type: 'logout', sessionId: 's' }],
    ['no protocol', { version: 1, from: 'tab-1', type: 'logout', sessionId: 's' }],
    ['another version', { ...head, version: 2, type: 'logout', sessionId: 's' }],
    ['version 0', { ...head, version: 0, type: 'logout', sessionId: 's' }],
    ['a version as a string', { ...head, version: '1', type: 'logout', sessionId: 's' }],
    ['no version', { protocol: PROTOCOL_NAME, from: 'tab-1', type: 'logout', sessionId: 's' }],
    ['no sender', { protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, type: 'logout', sessionId: 's' }],
    ['an empty sender', { ...head, from: '', type: 'logout', sessionId: 's' }],
    ['a numeric sender', { ...head, from: 7, type: 'logout', sessionId: 's' }],
    ['a sender id of 129 characters', { ...head, from: id129, type: 'logout', sessionId: 's' }],
    ['a huge sender id', { ...head, from: 'x'.repeat(1_000_000), type: 'logout', sessionId: 's' }],
    ['no type', { ...head, sessionId: 's', session }],
    ['an unknown type', { ...head, type: 'takeover', session }],
    ['a type in other case', { ...head, type: 'LOGOUT', sessionId: 's' }],
    ['a numeric type', { ...head, type: 1, sessionId: 's' }],
    ['a login without a session', { ...head, type: 'login' }],
    ['a login with a null session', login(null)],
    ['a login with a session that is a string', login(JSON.stringify(session))],
    ['a login with a session that is an array', login([session])],
    ['a login whose session lacks the access token', login(noAccessToken)],
    ['a login whose session lacks the session id', login(noSessionId)],
    ['a login whose session lacks the refresh token', login(noRefreshToken)],
    ['a login whose session lacks expiresAt', login(noExpiresAt)],
    ['a login whose session lacks receivedAt', login(noReceivedAt)],
    ['a login with a numeric accessToken', login({ ...session, accessToken: 12345 })],
    ['a login with an empty accessToken', login({ ...session, accessToken: '' })],
    ['a login with a numeric refresh token', login({ ...session, refreshToken: 1 })],
    ['a login with an empty session id', login({ ...session, sessionId: '' })],
    ['a login with a numeric session id', login({ ...session, sessionId: 1 })],
    ['a login with a session id of 129 characters', login({ ...session, sessionId: id129 })],
    ['a login with a huge session id', login({ ...session, sessionId: 'x'.repeat(1_000_000) })],
    ['a login with expiresAt as a string', login({ ...session, expiresAt: '1900000000000' })],
    ['a login with expiresAt NaN', login({ ...session, expiresAt: Number.NaN })],
    ['a login with expiresAt Infinity', login({ ...session, expiresAt: Number.POSITIVE_INFINITY })],
    ['a login with receivedAt null', login({ ...session, receivedAt: null })],
    ['a refresh without a session', { ...head, type: 'refresh' }],
    ['a refresh with a numeric accessToken', { ...head, type: 'refresh', session: { ...session, accessToken: 1 } }],
    ['a logout without a session id', { ...head, type: 'logout' }],
    ['a logout with an empty session id', { ...head, type: 'logout', sessionId: '' }],
    ['a logout with a numeric session id', { ...head, type: 'logout', sessionId: 1 }],
    ['a logout with a huge session id', { ...head, type: 'logout', sessionId: 'x'.repeat(1_000_000) }],
    ['a query without a query id', { ...head, type: 'query' }],
    ['a query with a numeric query id', { ...head, type: 'query', queryId: 1 }],
    ['a state without an addressee', { ...head, type: 'state', queryId: 'q', session: null }],
    ['a state without a query id', { ...head, type: 'state', to: 'tab-2', session: null }],
    ['a state without a session field', { ...head, type: 'state', to: 'tab-2', queryId: 'q' }],
    ['a state with a malformed session', { ...head, type: 'state', to: 'tab-2', queryId: 'q', session: noAccessToken }],
    ['a state with a huge addressee', { ...head, type: 'state', to: 'x'.repeat(1_000_000), queryId: 'q', session }],
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

    tab.post({ type: 'logout', sessionId: 'session-1' });

    expect(fake.posted).toEqual([
      { protocol: 'tokenkeeper', version: 1, from: 'tab-1', type: 'logout', sessionId: 'session-1' },
    ]);
    expect(parseEnvelope(fake.posted[0])).not.toBeNull();
  });

  it('delivers well-formed messages from other tabs', () => {
    const fake = createFakeChannel();
    const onMessage = vi.fn();
    openTabChannel(fake, 'tab-1', onMessage);
    const message = { ...head, from: 'tab-2', type: 'login', session };

    fake.deliver(message);

    expect(onMessage).toHaveBeenCalledTimes(1);
    expect(onMessage).toHaveBeenCalledWith(message);
  });

  it('ignores its own messages', () => {
    const fake = createFakeChannel();
    const onMessage = vi.fn();
    openTabChannel(fake, 'tab-1', onMessage);

    fake.deliver({ ...head, from: 'tab-1', type: 'logout', sessionId: 'session-1' });

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
      fake.deliver({ ...head, from: 'tab-2', version: 2, type: 'logout', sessionId: 's' });
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

    expect(() => tab.post({ type: 'logout', sessionId: 's' })).not.toThrow();
    expect(() => tab.close()).not.toThrow();
  });
});
