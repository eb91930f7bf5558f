// The NATS adapter: core NATS through the official client (the `nats` package, an optional peer
// dependency loaded when the adapter is created). One connection per hub, with no_echo: the
// server does not send a node its own messages back (it has delivered them locally already).
//
// Names at the broker. NATS subjects are tokens joined by `.`, so each topic level becomes one
// token: a level made of [A-Za-z0-9_-] stays as it is, any other level becomes `~` + base64url of
// its UTF-8 bytes (no raw token starts with `~`, so the mapping is one-to-one and keeps levels
// apart). Subject = prefix + "." + tokens. Filters:
//   `a/+/c`     prefix.a.*.c
//   `a/#`       prefix.a  and  prefix.a.>      (`#` includes `a`; NATS `>` needs one token more)
//   `#`         prefix.>
//   prefix `com.myapp.top` (WAMP)  prefix.com.myapp.>   (NATS has no partial-token match: the
//               hub drops the topics of that subtree that do not start with the prefix)

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
import { PubSubError } from './errors.js';
import type { TopicFilter, TopicSyntax } from './topics.js';

export interface NatsAdapterOptions extends BrokerLinkOptions {
  /** Default "127.0.0.1:4222". */
  servers?: string | string[];
  /** More options for the nats connect() (user, token, tls…). Its own reconnection is always
   *  switched off: the adapter reconnects, with a bounded outbound queue. */
  connectionOptions?: Record<string, unknown>;
  /** First subject token(s), to share one NATS with other applications. Default "upshift". */
  prefix?: string;
}

// The small part of nats.js (v2) this adapter uses.
interface NatsMsg {
  readonly data: Uint8Array;
}
interface NatsSubscription {
  unsubscribe(): void;
}
interface NatsConnection {
  subscribe(subject: string, options: { callback: (error: Error | null, message: NatsMsg) => void }): NatsSubscription;
  publish(subject: string, data: Uint8Array): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  closed(): Promise<void | Error>;
}
interface NatsModule {
  connect(options: Record<string, unknown>): Promise<NatsConnection>;
}

const OPTION_NAMES = new Set(['servers', 'connectionOptions', 'prefix', ...BROKER_LINK_OPTION_NAMES]);
const PLAIN_TOKEN = /^[A-Za-z0-9_-]+$/;

/** A topic level as one NATS subject token. */
export function natsToken(level: string): string {
  return PLAIN_TOKEN.test(level) ? level : `~${Buffer.from(level).toString('base64url')}`;
}

/** Loads the `nats` package and returns the adapter; PUBSUB_ERR_CLIENT_MISSING if it is not installed. */
export async function natsAdapter(options: NatsAdapterOptions = {}): Promise<PubSubAdapter> {
  checkOptionNames('natsAdapter()', options, OPTION_NAMES);
  const prefix = options.prefix ?? 'upshift';
  if (!prefix.split('.').every((token) => PLAIN_TOKEN.test(token))) {
    throw new PubSubError('natsAdapter(): prefix must be tokens of [A-Za-z0-9_-] joined by "."', 'PUBSUB_ERR_OPTIONS');
  }
  const nats = await loadClient<NatsModule>('nats', 'natsAdapter()');
  const servers = options.servers ?? '127.0.0.1:4222';
  const connectionOptions = options.connectionOptions ?? {};
  const subject = (tokens: readonly string[]): string => [prefix, ...tokens].join('.');

  const driver: BrokerDriver = {
    name: 'nats',

    keysFor(filter: TopicFilter): BrokerKey[] {
      const tokens = filter.levels.map((level) => (level === null ? '*' : natsToken(level)));
      if (filter.match === 'exact') return [{ name: subject(tokens), pattern: false }];
      if (filter.match === 'prefix') return [{ name: subject([...tokens, '>']), pattern: true }];
      if (!filter.rest) return [{ name: subject(tokens), pattern: true }];
      const below = { name: subject([...tokens, '>']), pattern: true };
      if (tokens.length === 0) return [below];
      return [{ name: subject(tokens), pattern: filter.levels.includes(null) }, below];
    },

    channelFor: (topic: string, syntax: TopicSyntax) => subject(topic.split(syntax.separator).map(natsToken)),

    async connect(handlers: SessionHandlers): Promise<BrokerSession> {
      const connection = await nats.connect({
        name: 'upshift',
        ...connectionOptions,
        servers,
        // The link reconnects; the client must not, nor buffer while offline.
        reconnect: false,
        noEcho: true,
      });
      let closing = false;
      connection.closed().then(
        (error) => {
          if (!closing) handlers.lost(error instanceof Error ? error : new Error('NATS connection closed'));
        },
        (error: Error) => {
          if (!closing) handlers.lost(error);
        },
      );
      const subscriptions = new Map<string, NatsSubscription>();
      const onMessage = (error: Error | null, message: NatsMsg): void => {
        if (error === null) handlers.message(message.data);
      };
      return {
        subscribe(key) {
          subscriptions.set(key.name, connection.subscribe(key.name, { callback: onMessage }));
          return connection.flush(); // the server has the subscription once its PONG is back
        },
        unsubscribe(key) {
          subscriptions.get(key.name)?.unsubscribe();
          subscriptions.delete(key.name);
          return connection.flush();
        },
        publish(channel, data) {
          connection.publish(channel, data);
        },
        async close(graceful) {
          if (closing) return;
          closing = true;
          const flushed = graceful ? connection.flush().catch(() => {}) : Promise.resolve();
          await boundedClose(flushed.then(() => connection.close()).catch(() => {}));
        },
      };
    },
  };
  return brokerAdapter(driver, options);
}
