// The only pub/sub user. Messages are JSON on topics under the instance's Redis prefix.
// Redis pub/sub is at-most-once: Postgres stays the record, messages only say "look again".
import type { Log } from '../log.js';
import type { Redis } from './connection.js';

export interface BusMessages {
  /** The ingest holding this stream's publisher drops it (key regenerated, stream disabled, stopped or deleted). */
  'stream.drop-publisher': { streamId: string; reason: PublisherDropReason };
  'stream.status': { streamId: string; status: string; publishSessionId: string | null };
  /**
   * A publisher with the stream's key waits at another ingest: the ingest holding this connection
   * of the publish drops it if it has sent nothing for a while (a network drop left it open), so
   * that the waiting publisher continues the publish.
   */
  'stream.silent-takeover': { streamId: string; publishSessionId: string; connection: number };
  /** A device session (or, with deviceId null, every device of the user) was signed out. */
  'auth.device-revoked': { userId: string; deviceId: string | null };
  /** The user's role or account changed: cached principals must be looked up again. */
  'auth.user-changed': { userId: string };
  /** A stream's relay destinations were added, changed (enabled, disabled, URL, key) or removed: the relay re-reads them. */
  'stream.destinations-changed': { streamId: string };
  /** The relay wrote a destination's status (src/relays/status.ts): API nodes deliver `relay:status` from the row. */
  'relay.status': { streamId: string; destinationId: string };
  /** A low-latency rendition has a new part: the whole message is src/llhls/feed.ts's `LlPartMessage` (the origin checks it). */
  'llhls.part': import('../llhls/feed.js').LlPartMessage;
  /** A WebSocket frame for a room, serialised once by its publisher (see realtime/hub.ts). */
  'realtime.frame': { room: string; data: string };
  /** Take a user out of an event's rooms on every node (banned). */
  'realtime.kick': { userId: string; eventId: string; reason: string };
  /** Who may read the event changed (status, visibility, an attendee removed: then userId): re-check open rooms. */
  'realtime.recheck': { eventId: string; userId: string | null };
}
/** Why an operator's action drops a stream's publisher; it becomes the publish session's end reason. */
export type PublisherDropReason = 'key_regenerated' | 'disabled' | 'stopped' | 'deleted';
export type Topic = keyof BusMessages;

export interface Bus {
  publish<T extends Topic>(topic: T, message: BusMessages[T]): Promise<void>;
  subscribe<T extends Topic>(topic: T, handler: (message: BusMessages[T]) => void): Promise<void>;
  close(): Promise<void>;
  /** Whether the publishing connection is up right now (callers answer "unavailable" if not). */
  ready(): boolean;
}

export function createBus(opts: { pub: Redis; sub: Redis; prefix: string; log: Log }): Bus {
  const handlers = new Map<string, ((m: unknown) => void)[]>();
  const channel = (topic: string) => `${opts.prefix}:bus:${topic}`;
  opts.sub.on('message', (ch: string, text: string) => {
    const list = handlers.get(ch);
    if (!list) return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      opts.log.warn({ channel: ch }, 'Dropped a bus message that is not JSON.');
      return;
    }
    for (const h of list) {
      try {
        h(message);
      } catch (err) {
        opts.log.error({ err, channel: ch }, 'A bus handler failed.');
      }
    }
  });
  return {
    async publish(topic, message) {
      await opts.pub.publish(channel(topic), JSON.stringify(message));
    },
    async subscribe(topic, handler) {
      const ch = channel(topic);
      const list = handlers.get(ch) ?? [];
      list.push(handler as (m: unknown) => void);
      handlers.set(ch, list);
      await opts.sub.subscribe(ch);
    },
    async close() {
      handlers.clear();
    },
    ready: () => opts.pub.status === 'ready',
  };
}
