// The Redis adapter: Redis pub/sub through node-redis (the `redis` package, an optional peer
// dependency loaded when the adapter is created). Each hub gets two connections: one in subscriber
// mode (RESP2 allows nothing else on it) and one for PUBLISH.
//
// Names at the broker. A topic is published on the channel `prefix + topic` (Redis channels are
// binary-safe: the topic goes as it is). Filters become subscriptions:
//   exact `a/b`      SUBSCRIBE  prefix + "a/b"
//   `a/+/c`          PSUBSCRIBE prefix + "a/*/c"       (a glob `*` also spans `/`: a little more
//                                                     traffic, filtered out by the hub)
//   `a/#`            SUBSCRIBE  prefix + "a"  and  PSUBSCRIBE prefix + "a/*"   (`#` includes `a`)
//   `#`              PSUBSCRIBE prefix + "*"
//   prefix `com.x`   PSUBSCRIBE prefix + "com.x*"      (exact for string prefixes)
// Literal text in a pattern is glob-escaped. Several filters needing one broker subscription
// share it (counted by the link).

import {
  BROKER_LINK_OPTION_NAMES,
  boundedClose,
  brokerAdapter,
  loadClient,
  type BrokerDriver,
  type BrokerKey,
  type BrokerLinkOptions,
  type BrokerSession,
  type PubSubAdapter,
  type SessionHandlers,
} from './adapter.js';
import { checkOptionNames } from '../util/options.js';
import type { TopicFilter } from './topics.js';

export interface RedisAdapterOptions extends BrokerLinkOptions {
  /** Default redis://127.0.0.1:6379. */
  url?: string;
  /** More options for node-redis createClient() (TLS, password…). Its own reconnection is
   *  always switched off: the adapter reconnects, with a bounded outbound queue. */
  clientOptions?: Record<string, unknown>;
  /** Prepended to every channel name, to share one Redis with other applications. Default "upshift:". */
  prefix?: string;
}

// The small part of node-redis (v5, v6) this adapter uses.
type Listener = (message: Buffer, channel: Buffer) => void;
interface RedisClient {
  connect(): Promise<unknown>;
  duplicate(): RedisClient;
  on(event: 'error', listener: (error: Error) => void): unknown;
  subscribe(channel: string, listener: Listener, bufferMode: true): Promise<void>;
  pSubscribe(pattern: string, listener: Listener, bufferMode: true): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  pUnsubscribe(pattern: string): Promise<void>;
  publish(channel: string, message: Buffer): Promise<number>;
  close(): Promise<void>;
  destroy(): void;
}
interface RedisModule {
  createClient(options: Record<string, unknown>): RedisClient;
}

const OPTION_NAMES = new Set(['url', 'clientOptions', 'prefix', ...BROKER_LINK_OPTION_NAMES]);

/** Redis glob special characters, escaped with a backslash (Redis util.c stringmatchlen). */
const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, '\\$&');

/** Loads the `redis` package and returns the adapter; PUBSUB_ERR_CLIENT_MISSING if it is not installed. */
export async function redisAdapter(options: RedisAdapterOptions = {}): Promise<PubSubAdapter> {
  checkOptionNames('redisAdapter()', options, OPTION_NAMES);
  const redis = await loadClient<RedisModule>('redis', 'redisAdapter()');
  const url = options.url ?? 'redis://127.0.0.1:6379';
  const prefix = options.prefix ?? 'upshift:';
  const clientOptions = options.clientOptions ?? {};
  const socketOptions = (clientOptions.socket ?? {}) as Record<string, unknown>;

  const driver: BrokerDriver = {
    name: 'redis',

    keysFor(filter: TopicFilter): BrokerKey[] {
      const separator = filter.syntax.separator;
      if (filter.match === 'exact') return [{ name: prefix + filter.text, pattern: false }];
      if (filter.match === 'prefix') return [{ name: `${escapeGlob(prefix + filter.text)}*`, pattern: true }];
      const glob = filter.levels.map((level) => (level === null ? '*' : escapeGlob(level))).join(separator);
      if (!filter.rest) return [{ name: escapeGlob(prefix) + glob, pattern: true }];
      if (filter.levels.length === 0) return [{ name: `${escapeGlob(prefix)}*`, pattern: true }];
      const parentIsLiteral = !filter.levels.includes(null);
      const parent = parentIsLiteral ? { name: prefix + filter.levels.join(separator), pattern: false } : { name: escapeGlob(prefix) + glob, pattern: true };
      return [parent, { name: `${escapeGlob(prefix)}${glob}${escapeGlob(separator)}*`, pattern: true }];
    },

    channelFor: (topic) => prefix + topic,

    async connect(handlers: SessionHandlers): Promise<BrokerSession> {
      const publisher = redis.createClient({
        ...clientOptions,
        url,
        // The link reconnects; node-redis must neither retry nor queue commands while offline.
        socket: { ...socketOptions, reconnectStrategy: false },
        disableOfflineQueue: true,
      });
      const subscriber = publisher.duplicate();
      const lost = (error: Error): void => handlers.lost(error);
      publisher.on('error', lost);
      subscriber.on('error', lost);
      const destroy = (): void => {
        for (const client of [publisher, subscriber]) {
          try {
            client.destroy();
          } catch {
            // not open
          }
        }
      };
      try {
        await Promise.all([publisher.connect(), subscriber.connect()]);
      } catch (error) {
        destroy();
        throw error;
      }
      const listener: Listener = (message) => handlers.message(message);
      const publishError = (error: Error): void => handlers.publishError(error);
      let closed = false;
      return {
        subscribe: (key) => (key.pattern ? subscriber.pSubscribe(key.name, listener, true) : subscriber.subscribe(key.name, listener, true)),
        unsubscribe: (key) => (key.pattern ? subscriber.pUnsubscribe(key.name) : subscriber.unsubscribe(key.name)),
        publish(channel, data) {
          publisher.publish(channel, data).catch(publishError);
        },
        async close(graceful) {
          if (closed) return;
          closed = true;
          if (!graceful) return destroy();
          await boundedClose(Promise.allSettled([publisher.close(), subscriber.close()]));
          destroy();
        },
      };
    },
  };
  return brokerAdapter(driver, options);
}
