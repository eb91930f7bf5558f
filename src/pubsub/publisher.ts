// Publishing from a process that holds no WebSockets (a worker, a cron job, an HTTP handler
// elsewhere), like socket.io's emitter: a hub with no subscribers, through the same adapter.

import { checkOptionNames } from '../util/options.js';
import type { PubSubAdapter } from './adapter.js';
import { PubSubError } from './errors.js';
import { Hub, type HubEvents, type HubStats } from './hub.js';
import type { TopicLimits, TopicSyntax } from './topics.js';

export interface PublisherOptions extends TopicLimits {
  /** The adapter the servers use (redisAdapter, natsAdapter, or a shared inProcessAdapter). */
  adapter: PubSubAdapter;
  /** Topic syntax; must match the servers'. Default MQTT_TOPICS. */
  syntax?: TopicSyntax;
}

export interface Publisher {
  /** Publishes to every subscriber of `topic` on every node. A string is sent as text, a Buffer
   *  or Uint8Array as binary unless `binary: false` says it is UTF-8 text. */
  publish(topic: string, data: string | Uint8Array, options?: { binary?: boolean; compress?: boolean }): void;
  /** Resolves once connected to the broker (what was published before is sent by then). */
  ready(): Promise<void>;
  /** Sends what is pending and disconnects. */
  close(): Promise<void>;
  readonly stats: HubStats;
  on<K extends keyof HubEvents>(event: K, listener: (...args: HubEvents[K]) => void): Publisher;
  off<K extends keyof HubEvents>(event: K, listener: (...args: HubEvents[K]) => void): Publisher;
}

const PUBLISHER_OPTION_NAMES = new Set(['adapter', 'syntax', 'maxLength', 'maxLevels']);

export function createPublisher(options: PublisherOptions): Publisher {
  checkOptionNames('createPublisher()', options, PUBLISHER_OPTION_NAMES);
  if (options?.adapter === undefined) throw new PubSubError('createPublisher: options.adapter is required', 'PUBSUB_ERR_OPTIONS');
  const hub = new Hub<object>({ ...options, deliver: () => {} });
  const publisher: Publisher = {
    publish(topic, data, publishOptions) {
      if (typeof data === 'string') {
        hub.publish(topic, Buffer.from(data), publishOptions?.binary ?? false, { compress: publishOptions?.compress });
      } else if (data instanceof Uint8Array) {
        const payload = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        hub.publish(topic, payload, publishOptions?.binary ?? true, { compress: publishOptions?.compress });
      } else {
        throw new TypeError('Publisher.publish: data must be a string, a Buffer or a Uint8Array');
      }
    },
    ready: () => hub.ready(),
    close: () => hub.close(),
    get stats() {
      return hub.stats;
    },
    on(event, listener) {
      hub.on(event, listener as never);
      return publisher;
    },
    off(event, listener) {
      hub.off(event, listener as never);
      return publisher;
    },
  };
  return publisher;
}
