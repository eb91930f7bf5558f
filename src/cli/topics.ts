// `serve --topics PATH`: publish/subscribe over a WebSocket with a small text protocol, built on
// the pub/sub Hub (src/pubsub), so `--pubsub redis://…|nats://…` shares the topics between every
// server process that uses the same broker. Meant to be typed in `upshift connect` as well as
// used by programs:
//
//   sub FILTER             → ok sub FILTER           (MQTT filters: chat/+, chat/#), sent once
//                            the broker (--pubsub) has the subscription
//   unsub FILTER           → ok unsub FILTER
//   pub TOPIC PAYLOAD      → every subscriber (the publisher too, if subscribed) gets a text
//                            message "msg TOPIC PAYLOAD"; no answer unless it fails
//   binary "pub TOPIC\n" + bytes → binary "msg TOPIC\n" + bytes
//   anything wrong         → err COMMAND: reason
//
// A topic here cannot contain spaces or newlines (they end it).

import type { WebSocketConnection } from '../index.js';
import { sendShared } from '../connection/websocket-connection.js';
import { SharedMessage } from '../protocol/shared-message.js';
import { Hub, inProcessAdapter, natsAdapter, redisAdapter, type PubSubAdapter, type PublishedMessage } from '../pubsub/index.js';
import { UsageError } from './args.js';
import type { Endpoint, EndpointContext } from './endpoints.js';

/** A subscriber that has this much output waiting is a slow consumer: its messages are dropped. */
const SLOW_CONSUMER_BYTES = 4 * 1024 * 1024;
const NEWLINE = 0x0a;

/** The adapter for `--pubsub URL`: redis://, rediss://, nats:// (or none: in-process). */
export async function adapterFor(url: string | undefined): Promise<PubSubAdapter> {
  if (url === undefined) return inProcessAdapter();
  const scheme = /^([a-z]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'redis' || scheme === 'rediss') return redisAdapter({ url });
  if (scheme === 'nats' || scheme === 'tls') return natsAdapter({ servers: url });
  throw new UsageError(`--pubsub takes redis://HOST:PORT or nats://HOST:PORT, got "${url}"`, 'serve');
}

/** Shared by every --topics endpoint of one server: one Hub, one broker link. */
export class TopicsService {
  readonly hub: Hub<WebSocketConnection, SharedMessage>;
  readonly #context: EndpointContext;
  /** Set while this process publishes, so deliver() knows a publish was already counted. */
  #publishing = false;

  constructor(adapter: PubSubAdapter, context: EndpointContext) {
    this.#context = context;
    this.hub = new Hub<WebSocketConnection, SharedMessage>({ adapter, deliver: (ws, message) => this.#deliver(ws, message) });
    this.hub.on('broker-down', ({ adapter: name, error }) => context.log(`pubsub: ${name} unreachable: ${error.message}`));
    this.hub.on('broker-up', ({ adapter: name, reconnect, downtimeMs }) => {
      if (reconnect) context.log(`pubsub: ${name} back after ${downtimeMs} ms`);
    });
  }

  #deliver(ws: WebSocketConnection, message: PublishedMessage<SharedMessage>): boolean {
    if (message.frame === undefined) {
      // Built once per message (the Hub hands the same object to every subscriber), so it is
      // framed once, and compressed once per compressor kind for peers with permessage-deflate.
      const head = Buffer.from(message.isBinary ? `msg ${message.topic}\n` : `msg ${message.topic} `);
      message.frame = new SharedMessage(Buffer.concat([head, message.payload]), message.isBinary, message.compress);
      if (!this.#publishing) this.#context.metrics.published(message.topic, 0);
    }
    if (ws.readyState !== 1 || ws.bufferedAmount > SLOW_CONSUMER_BYTES) return false;
    sendShared(ws, message.frame);
    this.#context.metrics.published(message.topic, 1, false);
    return true;
  }

  endpoint(path: string): Endpoint {
    return {
      kind: 'topics',
      path,
      accept: (ws) => {
        ws.on('message', (data, isBinary) => this.#command(ws, data, isBinary));
        ws.once('close', () => {
          for (const filter of this.hub.topicsOf(ws)) this.#context.metrics.subscribed(filter, -1);
          this.hub.unsubscribeAll(ws);
        });
      },
      close: async () => {},
    };
  }

  #reply(ws: WebSocketConnection, text: string): void {
    ws.send(text);
  }

  #command(ws: WebSocketConnection, data: Buffer, isBinary: boolean): void {
    let verb: string;
    let topic: string;
    let payload: Buffer | null = null;
    if (isBinary) {
      const newline = data.indexOf(NEWLINE);
      const head = data.toString('utf8', 0, newline === -1 ? data.length : newline);
      [verb = '', topic = ''] = head.split(' ', 2);
      if (verb === 'pub') {
        if (newline === -1) return this.#reply(ws, 'err pub: a binary publish is "pub TOPIC\\n" followed by the payload');
        payload = data.subarray(newline + 1);
      }
    } else {
      const text = data.toString('utf8');
      const first = text.indexOf(' ');
      verb = first === -1 ? text : text.slice(0, first);
      const rest = first === -1 ? '' : text.slice(first + 1);
      const second = rest.indexOf(' ');
      topic = second === -1 ? rest : rest.slice(0, second);
      if (verb === 'pub') payload = Buffer.from(second === -1 ? '' : rest.slice(second + 1), 'utf8');
    }
    topic = topic.trim();
    try {
      switch (verb) {
        case 'sub': {
          if (this.hub.subscribe(ws, topic)) this.#context.metrics.subscribed(topic, 1);
          // With a broker, "ok" waits until the broker has the subscription: from then on,
          // messages published on every node arrive.
          const filter = topic;
          this.hub.ready().then(
            () => ws.readyState === 1 && this.#reply(ws, `ok sub ${filter}`),
            () => {},
          );
          return;
        }
        case 'unsub':
          if (this.hub.unsubscribe(ws, topic)) this.#context.metrics.subscribed(topic, -1);
          return this.#reply(ws, `ok unsub ${topic}`);
        case 'pub': {
          this.#publishing = true;
          try {
            this.hub.publish(topic, payload!, isBinary);
          } finally {
            this.#publishing = false;
          }
          this.#context.metrics.published(topic, 0);
          return;
        }
        default:
          return this.#reply(ws, `err ${verb || '(empty)'}: unknown command; use sub FILTER, unsub FILTER or pub TOPIC PAYLOAD`);
      }
    } catch (error) {
      this.#reply(ws, `err ${verb} ${topic}: ${(error as Error).message}`);
    }
  }

  close(): Promise<void> {
    return this.hub.close();
  }
}
