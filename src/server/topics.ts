// The glue between WebSocketServer and the pub/sub hub: which hub a server uses and the
// per-server slow-consumer rules its connections carry.
//
// Every server without a `pubsub` option shares one process-wide hub (created on first use), so
// a publish on any endpoint (HTTP/1.1 or HTTP/2, any port) reaches the subscribers of all of
// them, and WebSocketServer.publish() reaches them from anywhere in the process. A server given
// `pubsub: { adapter }` gets a hub of its own on that adapter (closed with the server); one given
// a Hub uses it as is (the application closes it).

import { Hub, type HubOptions, type PublishedMessage } from '../pubsub/hub.js';
import { toBuffer, type SendableData } from '../connection/sendable.js';
import type { PubSubAdapter } from '../pubsub/adapter.js';
import type { SharedMessage } from '../protocol/shared-message.js';
import type { TopicLimits, TopicSyntax } from '../pubsub/topics.js';
import { checkOptionNames } from '../util/options.js';
import { deliverPublished, type TopicHub, type WebSocketConnection } from '../connection/websocket-connection.js';

/** The server's `pubsub` option: a hub made elsewhere (createTopicHub), or how to make one. */
export type PubSubOption = TopicHub | ({ adapter?: PubSubAdapter; syntax?: TopicSyntax } & Partial<TopicLimits>);

const PUBSUB_OPTION_NAMES = new Set(['adapter', 'syntax', 'maxLength', 'maxLevels']);

let processHub: TopicHub | null = null;
/** deliver() calls that dropped the message, in every hub: publishOn() subtracts them. */
let drops = 0;

function deliver(ws: WebSocketConnection<any>, message: PublishedMessage<SharedMessage>): boolean {
  if (deliverPublished(ws, message)) return true;
  drops++;
  return false;
}

/**
 * Publishes `data` on `hub`; returns the connections of this process it was written to (a slow
 * consumer's drop is not one).
 */
export function publishOn(hub: TopicHub, topic: string, data: SendableData, options: TopicPublishOptions | undefined): number {
  const payload = toBuffer(data);
  const isBinary = options?.binary ?? typeof data !== 'string';
  const before = drops;
  const calls = hub.publish(topic, payload, isBinary, options?.except === undefined ? { compress: options?.compress } : { except: options.except, compress: options.compress });
  return calls - (drops - before);
}

export interface TopicPublishOptions {
  binary?: boolean | undefined;
  compress?: boolean | undefined;
  except?: WebSocketConnection<any> | undefined;
}

/** A hub whose subscribers are server connections: give it to several servers as `pubsub`. */
export function createTopicHub(options: Omit<HubOptions<WebSocketConnection<any>, SharedMessage>, 'deliver'> = {}): TopicHub {
  return new Hub({ ...options, deliver });
}

/** The process-wide hub shared by every server without a `pubsub` option. */
export function defaultTopicHub(): TopicHub {
  if (processHub === null || processHub.closed) processHub = createTopicHub();
  return processHub;
}

/** The hub for a server's `pubsub` option, and whether the server owns (closes) it. */
export function hubFor(option: PubSubOption | undefined): { hub: TopicHub; owned: boolean } {
  if (option === undefined) return { hub: defaultTopicHub(), owned: false };
  if (option instanceof Hub) return { hub: option, owned: false };
  if (typeof option !== 'object' || option === null) throw new TypeError('pubsub must be a Hub or { adapter, syntax, maxLength, maxLevels }');
  checkOptionNames('pubsub', option, PUBSUB_OPTION_NAMES);
  return { hub: createTopicHub(option), owned: true };
}
