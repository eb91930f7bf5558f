// The Hub: one node's topics. It ties the topic registry (who is subscribed to what here) to an
// adapter (how messages reach the other nodes), and hands every message for a local subscriber to
// the integrator's deliver callback.
//
// Delivery and order. A message published on this node is delivered here at once, synchronously,
// and sent to the broker; this node drops its own copy when the broker echoes it (the origin id in
// the envelope), so local subscribers get it once, even while the broker is down. Every other node
// delivers the copy it receives to its own subscribers; a copy that arrives twice (two of the
// node's broker subscriptions match the topic, e.g. `chat/a` and `chat/+`) is dropped by its
// (origin, sequence), which only grows per origin. Messages of one publisher keep their order: one
// broker connection per node, FIFO at the broker, the outage queue flushed in order before
// anything newer. Across publishers there is no global order (none is promised by the brokers).
//
// One message object per publish. deliver() gets the same PublishedMessage for every subscriber,
// so the integrator can frame (and compress) the payload once, on the first call, cache it in
// `message.frame` and write that buffer to each subscriber.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { checkOptionNames } from '../util/options.js';
import { inProcessAdapter, type AdapterLink, type AdapterNode, type BrokerStatus, type LinkStats, type PubSubAdapter } from './adapter.js';
import { ORIGIN_BYTES, type BrokerMessage } from './envelope.js';
import { PubSubError } from './errors.js';
import { TopicRegistry, type MatchedSubscribers, type SubscribeOptions, type Subscription, type TopicLimits, type TopicSyntax } from './topics.js';

/** A message as deliver() sees it: one object per published message, shared by its subscribers. */
export interface PublishedMessage<F = unknown> {
  readonly topic: string;
  readonly payload: Buffer;
  /** false: the payload is UTF-8 text (a text frame); true: binary. */
  readonly isBinary: boolean;
  /** The publisher allows compressing it (the `compress` send option; default true). */
  readonly compress: boolean;
  /** The integrator's cache: the framed payload, computed on the first deliver() call. */
  frame: F | undefined;
}

/**
 * Writes `message` to `subscriber`. Return false when the subscriber could not take it (a slow
 * consumer over its limit dropped it): counted in stats.dropped. May close the subscriber and
 * unsubscribe it; must not throw.
 */
export type Deliver<S, F> = (subscriber: S, message: PublishedMessage<F>) => boolean | void;

export interface HubOptions<S, F> extends TopicLimits {
  deliver: Deliver<S, F>;
  /** How messages reach other hubs. Default: a new in-process adapter (this hub alone). */
  adapter?: PubSubAdapter;
  /** Topic syntax. Default MQTT_TOPICS (`/`, `+`, `#`). */
  syntax?: TopicSyntax;
}

export interface PublishOptions<S> {
  /** Deliver to every local subscriber but this one (publish to all but the sender). */
  except?: S;
  /** false: send it uncompressed even to peers with permessage-deflate (on every node). Default true. */
  compress?: boolean | undefined;
}

export interface HubStats {
  /** Messages published on this hub. */
  readonly published: number;
  /** Messages received from other nodes (duplicates and echoes not counted). */
  readonly received: number;
  /** deliver() calls that took the message. */
  readonly delivered: number;
  /** deliver() calls that returned false: slow consumers' drops. */
  readonly dropped: number;
  /** Second copies from the broker, dropped. */
  readonly duplicates: number;
  /** Broker messages for a topic this hub cannot parse (another syntax or limits), dropped. */
  readonly rejected: number;
  /** Subscribers with at least one subscription, and distinct filters. */
  readonly subscribers: number;
  readonly filters: number;
  /** The adapter's name and its link's counters (outages, queue overflow…). */
  readonly broker: LinkStats & { readonly adapter: string };
}

/** 'broker-up': connected (again); `downtimeMs` says how long this node was cut off. */
export interface BrokerUpEvent {
  readonly adapter: string;
  readonly reconnect: boolean;
  readonly downtimeMs: number;
  readonly attempts: number;
}

export interface HubEvents {
  'broker-up': [event: BrokerUpEvent];
  /** The broker connection was lost or could not be made; local delivery goes on. */
  'broker-down': [event: { readonly adapter: string; readonly error: Error }];
  /** The broker refused a subscription while connected. */
  'broker-error': [event: { readonly adapter: string; readonly error: Error }];
}

const HUB_OPTION_NAMES = new Set(['deliver', 'adapter', 'syntax', 'maxLength', 'maxLevels']);

/** Distinct origins remembered for dropping second copies; the oldest is forgotten first. */
const MAX_ORIGINS = 4096;

export class Hub<S extends object, F = unknown> extends EventEmitter<HubEvents> {
  readonly #registry: TopicRegistry<S>;
  readonly #deliver: Deliver<S, F>;
  readonly #id = randomBytes(ORIGIN_BYTES).toString('latin1');
  readonly #adapterName: string;
  readonly #link: AdapterLink;
  /** Last sequence number seen per origin. */
  readonly #seen = new Map<string, number>();
  #sequence = 0;
  #closed = false;
  #published = 0;
  #received = 0;
  #delivered = 0;
  #dropped = 0;
  #duplicates = 0;
  #rejected = 0;

  constructor(options: HubOptions<S, F>) {
    super();
    checkOptionNames('new Hub()', options, HUB_OPTION_NAMES);
    if (typeof options?.deliver !== 'function') throw new PubSubError('Hub: options.deliver must be a function', 'PUBSUB_ERR_OPTIONS');
    this.#deliver = options.deliver;
    const adapter = options.adapter ?? inProcessAdapter();
    this.#adapterName = adapter.name;
    this.#registry = new TopicRegistry<S>({
      syntax: options.syntax,
      ...(options.maxLength !== undefined ? { maxLength: options.maxLength } : {}),
      ...(options.maxLevels !== undefined ? { maxLevels: options.maxLevels } : {}),
      onFirst: (filter) => this.#link.addFilter(filter),
      onLast: (filter) => this.#link.removeFilter(filter),
    });
    const node: AdapterNode = {
      id: this.#id,
      syntax: this.#registry.syntax,
      receive: (message) => this.#receive(message),
      status: (status) => this.#status(status),
    };
    this.#link = adapter.attach(node);
  }

  get syntax(): TopicSyntax {
    return this.#registry.syntax;
  }

  /** Subscribes `subscriber` to a topic or filter; false if it already was. */
  subscribe(subscriber: S, filter: string, options?: SubscribeOptions): boolean {
    this.#checkOpen();
    return this.#registry.subscribe(subscriber, filter, options);
  }

  unsubscribe(subscriber: S, filter: string, options?: SubscribeOptions): boolean {
    return this.#registry.unsubscribe(subscriber, filter, options);
  }

  /** Removes every subscription of `subscriber`: call it when the subscriber closes. */
  unsubscribeAll(subscriber: S): number {
    return this.#registry.unsubscribeAll(subscriber);
  }

  isSubscribed(subscriber: S, filter: string, options?: SubscribeOptions): boolean {
    return this.#registry.isSubscribed(subscriber, filter, options);
  }

  /** The filters `subscriber` is subscribed to, in subscription order. */
  topicsOf(subscriber: S): string[] {
    return this.#registry.topicsOf(subscriber);
  }

  subscriptionsOf(subscriber: S): Subscription[] {
    return this.#registry.subscriptionsOf(subscriber);
  }

  /** Local subscribers of exactly this filter. */
  subscriberCount(filter: string, options?: SubscribeOptions): number {
    return this.#registry.subscriberCount(filter, options);
  }

  /** Local subscribers a publish on `topic` would reach. */
  countMatches(topic: string): number {
    return this.#registry.countMatches(topic);
  }

  /**
   * Publishes to every subscriber of `topic` on every node: delivered here at once, and sent
   * through the adapter. Returns the number of local deliver() calls. Throws PubSubError for an
   * invalid topic (nothing is sent) or a closed hub.
   */
  publish(topic: string, payload: Buffer, isBinary: boolean, options?: PublishOptions<S>): number {
    this.#checkOpen();
    if (!Buffer.isBuffer(payload)) throw new TypeError('Hub.publish: the payload must be a Buffer');
    const local = this.#registry.collect(topic); // validates the topic first
    this.#published++;
    const compress = options?.compress ?? true;
    this.#link.publish({ topic, payload, isBinary, compress, origin: this.#id, sequence: ++this.#sequence });
    if (local.size === 0) return 0;
    return this.#deliverAll(local, { topic, payload, isBinary, compress, frame: undefined }, options?.except);
  }

  /** Resolves once the broker is connected and every broker subscription made so far is in place. */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new PubSubError('The hub is closed', 'PUBSUB_ERR_CLOSED'));
    return this.#link.ready();
  }

  /** Leaves the broker (sending what was published). Subscriptions are kept but no longer used. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#link.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get stats(): HubStats {
    return {
      published: this.#published,
      received: this.#received,
      delivered: this.#delivered,
      dropped: this.#dropped,
      duplicates: this.#duplicates,
      rejected: this.#rejected,
      subscribers: this.#registry.size,
      filters: this.#registry.filterCount,
      broker: { adapter: this.#adapterName, ...this.#link.stats() },
    };
  }

  #deliverAll(matched: MatchedSubscribers<S>, message: PublishedMessage<F>, except: S | undefined): number {
    const deliver = this.#deliver;
    let calls = 0;
    matched.forEach((subscriber) => {
      if (subscriber === except) return;
      calls++;
      if (deliver(subscriber, message) === false) this.#dropped++;
      else this.#delivered++;
    });
    return calls;
  }

  #receive(message: BrokerMessage): void {
    if (this.#closed || message.origin === this.#id) return; // our own echo: delivered already
    const last = this.#seen.get(message.origin);
    if (last !== undefined && message.sequence <= last) {
      this.#duplicates++;
      return;
    }
    if (last === undefined && this.#seen.size >= MAX_ORIGINS) this.#seen.delete(this.#seen.keys().next().value!);
    this.#seen.set(message.origin, message.sequence);
    let matched;
    try {
      matched = this.#registry.collect(message.topic);
    } catch {
      this.#rejected++;
      return;
    }
    this.#received++;
    if (matched.size > 0) {
      this.#deliverAll(matched, { topic: message.topic, payload: message.payload, isBinary: message.isBinary, compress: message.compress, frame: undefined }, undefined);
    }
  }

  #status(status: BrokerStatus): void {
    if (this.#closed) return;
    const { type, ...event } = status;
    if (type === 'up') this.emit('broker-up', event as BrokerUpEvent);
    else if (type === 'down') this.emit('broker-down', event as { adapter: string; error: Error });
    else this.emit('broker-error', event as { adapter: string; error: Error });
  }

  #checkOpen(): void {
    if (this.#closed) throw new PubSubError('The hub is closed', 'PUBSUB_ERR_CLOSED');
  }
}
