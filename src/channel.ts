import { isId, isLoginKey, isSessionRecord, type LoginKey, type SessionRecord } from './session';
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

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function isMessage(data: Record<string, unknown>): boolean {
  switch (data.type) {
    case 'session':
      return isSessionRecord(data.session);
    case 'logout':
      return (
        isLoginKey(data) &&
        Array.isArray(data.tokens) &&
        data.tokens.length <= 2 &&
        data.tokens.every((token) => typeof token === 'string' && token !== '' && token.length <= 16_384)
      );
    case 'query':
      return (
        isId(data.queryId) &&
        (data.session === undefined || data.session === null || isSessionRecord(data.session)) &&
        (data.floor === undefined || data.floor === null || isLoginKey(data.floor))
      );
    case 'state':
      return (
        isId(data.to) &&
        isId(data.queryId) &&
        (data.session === null || isSessionRecord(data.session)) &&
        (data.floor === null || isLoginKey(data.floor))
      );
    default:
      return false;
  }
}

/** The message, when `data` is a well-formed message of this protocol and version; else `null`. */
export function parseEnvelope(data: unknown): Envelope | null {
  if (!isObject(data) || data.protocol !== PROTOCOL_NAME || data.version !== PROTOCOL_VERSION || !isId(data.from)) {
    return null;
  }
  return isMessage(data) ? (data as unknown as Envelope) : null;
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
