import type { TokenManagerOptions } from 'tokenkeeper';

type Environment = NonNullable<TokenManagerOptions['environment']>;
type CreateChannel = NonNullable<Environment['createChannel']>;
type ChannelLike = NonNullable<ReturnType<CreateChannel>>;
type MessageListener = (event: MessageEvent) => void;

/** A message as the bus carried it: which tab posted it, on which channel, and a copy of the data. */
export interface BusMessage {
  from: string;
  channel: string;
  data: unknown;
}

/**
 * An in-memory stand-in for BroadcastChannel, so that cross-tab cases run on fake timers and the test decides
 * when a message arrives. Each tab gets its own `createChannel` (`bus.tab('a')`); a message posted on a channel
 * reaches every other open end of the same name, as a structured clone, in the order it was posted, never the
 * sender. Delivery is asynchronous (a microtask, which fake timers leave alone) unless the receiving tab is
 * held: then messages queue for it until `release()`.
 */
export interface ChannelBus {
  /** The `environment.createChannel` of the tab called `label`. */
  tab(label: string): CreateChannel;
  /** Holds delivery to the tab `label` (every tab when omitted) until `release`. */
  hold(label?: string): void;
  /** Delivers what was held for `label` (every tab when omitted), in order, and stops holding. */
  release(label?: string): void;
  /** How many messages wait for `label` (every tab when omitted). */
  pending(label?: string): number;
  /** Every message posted so far, in order. */
  readonly posted: readonly BusMessage[];
}

class BusEnd implements ChannelLike {
  onmessage: MessageListener | null = null;
  closed = false;
  readonly queue: unknown[] = [];
  private readonly listeners = new Set<MessageListener>();

  constructor(
    readonly label: string,
    readonly name: string,
    private readonly bus: { post(end: BusEnd, data: unknown): void; isHeld(end: BusEnd): boolean },
  ) {}

  postMessage(message: unknown): void {
    if (this.closed) throw new DOMException('BroadcastChannel is closed.', 'InvalidStateError');
    this.bus.post(this, message);
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  addEventListener(type: string, listener: MessageListener): void {
    if (type === 'message') this.listeners.add(listener);
  }

  removeEventListener(type: string, listener: MessageListener): void {
    if (type === 'message') this.listeners.delete(listener);
  }

  /** Delivers the queued messages, unless held or closed. */
  drain(): void {
    while (this.queue.length > 0 && !this.closed && !this.bus.isHeld(this)) {
      const data = this.queue.shift();
      const event = { data, type: 'message' } as MessageEvent;
      this.onmessage?.(event);
      for (const listener of this.listeners) listener(event);
    }
  }
}

export function createChannelBus(): ChannelBus {
  const ends: BusEnd[] = [];
  const posted: BusMessage[] = [];
  const held = new Set<string>();
  let holdAll = false;

  const scheduleDrain = (end: BusEnd): void => {
    void Promise.resolve().then(() => end.drain());
  };

  const core = {
    post(sender: BusEnd, data: unknown): void {
      posted.push({ from: sender.label, channel: sender.name, data: structuredClone(data) });
      for (const end of ends) {
        if (end === sender || end.closed || end.name !== sender.name) continue;
        end.queue.push(structuredClone(data));
        scheduleDrain(end);
      }
    },
    isHeld: (end: BusEnd): boolean => holdAll || held.has(end.label),
  };

  const matching = (label?: string): BusEnd[] =>
    ends.filter((end) => !end.closed && (label === undefined || end.label === label));

  return {
    tab(label) {
      return (name) => {
        const end = new BusEnd(label, name, core);
        ends.push(end);
        return end;
      };
    },
    hold(label) {
      if (label === undefined) holdAll = true;
      else held.add(label);
    },
    release(label) {
      if (label === undefined) {
        holdAll = false;
        held.clear();
      } else {
        held.delete(label);
      }
      for (const end of matching(label)) scheduleDrain(end);
    },
    pending(label) {
      return matching(label).reduce((count, end) => count + end.queue.length, 0);
    },
    get posted() {
      return posted;
    },
  };
}
