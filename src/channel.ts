import { isSessionRecord, type SessionRecord } from './token';
import type { ChannelLike } from './types';

/**
 * The cross-tab protocol: versioned messages on a BroadcastChannel, validated at the boundary. Anything
 * that is not a well-formed message of this protocol and version is ignored, never thrown on.
 */

export const PROTOCOL_NAME = 'tokenkeeper';
export const PROTOCOL_VERSION = 1;

export type ChannelMessage =
  /** `setTokens()` in the sender. */
  | { type: 'login'; session: SessionRecord }
  /** The sender refreshed. */
  | { type: 'refresh'; session: SessionRecord }
  /** The sender's session ended (logout or rejected refresh). */
  | { type: 'logout'; sessionId: string }
  /** "Who has the session?": every tab answers with a `state` addressed to the sender. */
  | { type: 'query'; queryId: string }
  /** The answer to a query: the answering tab's session, or `null`. */
  | { type: 'state'; to: string; queryId: string; session: SessionRecord | null };

export type Envelope = ChannelMessage & {
  protocol: typeof PROTOCOL_NAME;
  version: typeof PROTOCOL_VERSION;
  from: string;
};

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 128;

/** The message, when `data` is a well-formed message of this protocol and version; else `null`. */
export function parseEnvelope(data: unknown): Envelope | null {
  if (!isObject(data) || data.protocol !== PROTOCOL_NAME || data.version !== PROTOCOL_VERSION || !isId(data.from)) {
    return null;
  }
  switch (data.type) {
    case 'login':
    case 'refresh':
      return isSessionRecord(data.session) ? (data as unknown as Envelope) : null;
    case 'logout':
      return isId(data.sessionId) ? (data as unknown as Envelope) : null;
    case 'query':
      return isId(data.queryId) ? (data as unknown as Envelope) : null;
    case 'state':
      return isId(data.to) && isId(data.queryId) && (data.session === null || isSessionRecord(data.session))
        ? (data as unknown as Envelope)
        : null;
    default:
      return null;
  }
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
