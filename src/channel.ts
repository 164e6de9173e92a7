import {
  type Check,
  isId,
  isLoginKey,
  isSessionRecord,
  LOGIN_KEY,
  type LoginKey,
  matches,
  type Schema,
  SESSION_AND_FLOOR,
  type SessionRecord,
} from './session';
import { isRecord } from './token';
import type { ChannelLike } from './types';

/**
 * The cross-tab protocol: versioned messages on a BroadcastChannel, validated at the boundary. Anything
 * that is not a well-formed message of this protocol and version is ignored, never thrown on.
 */

export const PROTOCOL_NAME = 'tokenkeeper';
export const PROTOCOL_VERSION = 2;

export type ChannelMessage =
  /** The sender holds this session: after a login, a refresh, or in answer to an older one. */
  | { type: 'session'; session: SessionRecord }
  /**
   * The sender ended every login ordered up to `stamp`/`id` (a logout, or a rejected refresh), and the token
   * set `tokens` (its access and refresh token), which another tab may hold under a login of its own.
   */
  | { type: 'logout'; stamp: number; id: string; tokens: string[] }
  /**
   * "Who has the session?": every tab answers with a `state` addressed to the sender. The sender says what it
   * has (when it knows), so that a tab behind it catches up too.
   */
  | { type: 'query'; queryId: string; session?: SessionRecord | null; floor?: LoginKey | null }
  /** The answer to a query: the answering tab's session and latest logout. */
  | { type: 'state'; to: string; queryId: string; session: SessionRecord | null; floor: LoginKey | null };

export type Envelope = ChannelMessage & {
  protocol: typeof PROTOCOL_NAME;
  version: typeof PROTOCOL_VERSION;
  from: string;
};

/** A field that may be missing or `null`, or else passes `check`. */
const optional =
  (check: Check): Check =>
  (value) =>
    value == null || check(value);

/** The fields of each message type; fields not named here are ignored. */
const MESSAGES = new Map<unknown, Schema>([
  ['session', { session: isSessionRecord }],
  [
    'logout',
    {
      ...LOGIN_KEY,
      // The access and refresh token of the ended token set.
      tokens: (tokens) =>
        Array.isArray(tokens) &&
        tokens.length <= 2 &&
        tokens.every((token) => typeof token === 'string' && token !== '' && token.length <= 16_384),
    },
  ],
  ['query', { queryId: isId, session: optional(isSessionRecord), floor: optional(isLoginKey) }],
  ['state', { to: isId, queryId: isId, ...SESSION_AND_FLOOR }],
]);

/** The message, when `data` is a well-formed message of this protocol and version; else `null`. */
export function parseEnvelope(data: unknown): Envelope | null {
  const schema = isRecord(data) && MESSAGES.get(data.type);
  return schema &&
    data.protocol === PROTOCOL_NAME &&
    data.version === PROTOCOL_VERSION &&
    isId(data.from) &&
    matches(data, schema)
    ? (data as unknown as Envelope)
    : null;
}

/** A tab's end of the channel: posts stamped messages, delivers valid ones from other tabs. */
export interface TabChannel {
  post(message: ChannelMessage): void;
  close(): void;
}

export function openTabChannel(
  channel: ChannelLike,
  tabId: string,
  onMessage: (message: Envelope) => void,
): TabChannel {
  channel.onmessage = (event) => {
    const message = parseEnvelope(event?.data);
    // A tab ignores its own messages (two managers in one page share a channel name but not a tab id).
    if (message && message.from !== tabId) onMessage(message);
  };
  return {
    post(message) {
      try {
        channel.postMessage({ protocol: PROTOCOL_NAME, version: PROTOCOL_VERSION, from: tabId, ...message });
      } catch {
        // A closed or broken channel leaves this tab working on its own.
      }
    },
    close() {
      channel.onmessage = null;
      try {
        channel.close();
      } catch {
        // Already closed.
      }
    },
  };
}
