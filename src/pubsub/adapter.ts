// The broker adapter interface between a Hub and whatever carries messages between nodes, the
// in-process adapter (the default), and BrokerLink: the generic, fault-tolerant link that the
// Redis and NATS adapters plug a small driver into.
//
// A hub tells its link which filters have local subscribers (addFilter on the first subscriber,
// removeFilter on the last) and hands it every message it publishes; the link tells the hub about
// messages from other nodes and about the broker going down and coming back.
//
// BrokerLink owns the fault handling, so it is the same for every broker: the client libraries'
// own reconnection is switched off (their offline queues grow without bound) and the link
// reconnects itself, with exponential backoff bounded by maxDelay and full jitter between 50 and
// 100 % of the delay (a restarted broker is not hit by every node at once). Once connected it
// subscribes again to every broker key that still has local filters, then flushes the outbound
// queue. While the broker is gone, publishes wait in a queue bounded by count and bytes; past the
// bound the oldest message is dropped and counted. The hub keeps delivering to local subscribers
// throughout.

import { decodeEnvelope, encodeEnvelope, type BrokerMessage } from './envelope.js';
import { PubSubError } from './errors.js';
import type { TopicFilter, TopicSyntax } from './topics.js';

export type { BrokerMessage } from './envelope.js';

/** What a link reports to its hub about the broker. */
export type BrokerStatus =
  | { readonly type: 'up'; readonly adapter: string; readonly reconnect: boolean; readonly downtimeMs: number; readonly attempts: number }
  | { readonly type: 'down'; readonly adapter: string; readonly error: Error }
  | { readonly type: 'error'; readonly adapter: string; readonly error: Error };

/** The hub side of a link. */
export interface AdapterNode {
  /** This node's origin id (ORIGIN_BYTES bytes as a latin1 string). */
  readonly id: string;
  readonly syntax: TopicSyntax;
  /** A message published by another node. */
  receive(message: BrokerMessage): void;
  status(status: BrokerStatus): void;
}

export interface LinkStats {
  /** Connected to the broker now (always true in-process). */
  readonly connected: boolean;
  /** Times the broker connection was lost or could not be made. */
  readonly outages: number;
  /** Messages waiting for the broker now. */
  readonly queued: number;
  /** Messages dropped because the outbound queue was full. */
  readonly queueOverflow: number;
  /** Publishes the broker connection refused (over its payload limit, closed under us). */
  readonly publishErrors: number;
  /** Broker messages that were not a valid envelope, dropped. */
  readonly malformed: number;
}

/** One hub's connection to the broker. */
export interface AdapterLink {
  /** The first local subscriber of `filter` arrived: receive its traffic from now on. */
  addFilter(filter: TopicFilter): void;
  /** The last local subscriber of `filter` left. */
  removeFilter(filter: TopicFilter): void;
  /** Sends a message published on this node to the other nodes. */
  publish(message: BrokerMessage): void;
  /** Resolves once connected and every broker subscription change so far is acknowledged. */
  ready(): Promise<void>;
  close(): Promise<void>;
  stats(): LinkStats;
}

/** A way of sharing topics between hubs. One adapter can serve many hubs, one link each. */
export interface PubSubAdapter {
  readonly name: string;
  attach(node: AdapterNode): AdapterLink;
}

const IN_PROCESS_STATS: LinkStats = Object.freeze({ connected: true, outages: 0, queued: 0, queueOverflow: 0, publishErrors: 0, malformed: 0 });

/**
 * The in-process adapter: the hubs attached to the same adapter object share topics, with
 * messages passed by reference and delivered synchronously (nothing is encoded). A hub created
 * without an adapter gets one of its own.
 */
export function inProcessAdapter(): PubSubAdapter {
  const nodes = new Set<AdapterNode>();
  return Object.freeze({
    name: 'in-process',
    attach(node: AdapterNode): AdapterLink {
      nodes.add(node);
      return {
        addFilter() {},
        removeFilter() {},
        publish(message: BrokerMessage) {
          for (const other of nodes) if (other !== node) other.receive(message);
        },
        ready: () => Promise.resolve(),
        close() {
          nodes.delete(node);
          return Promise.resolve();
        },
        stats: () => IN_PROCESS_STATS,
      };
    },
  });
}

// ---- Brokers ----

/** A subscription at the broker: a channel/subject, or a pattern. */
export interface BrokerKey {
  readonly name: string;
  readonly pattern: boolean;
}

/** One connection (or pair of connections) to the broker, made by a driver. */
export interface BrokerSession {
  subscribe(key: BrokerKey): Promise<void>;
  unsubscribe(key: BrokerKey): Promise<void>;
  /** Sends without waiting; throws when the connection cannot take it. */
  publish(channel: string, data: Buffer): void;
  /** Closes the connection(s), after sending what was published when `graceful`; never rejects. */
  close(graceful: boolean): Promise<void>;
}

export interface SessionHandlers {
  /** A message from a broker subscription. */
  message(data: Uint8Array): void;
  /** A publish the broker connection refused after publish() returned. */
  publishError(error: Error): void;
  /** The session's connection is gone (at most one call counts). */
  lost(error: Error): void;
}

/** What a broker adapter implements: the names it uses at the broker and how to connect. */
export interface BrokerDriver {
  readonly name: string;
  /** The broker subscriptions that deliver every topic `filter` matches (maybe a few more). */
  keysFor(filter: TopicFilter): BrokerKey[];
  /** The channel or subject a topic is published on. */
  channelFor(topic: string, syntax: TopicSyntax): string;
  connect(handlers: SessionHandlers): Promise<BrokerSession>;
}

export interface ReconnectOptions {
  /** First retry delay in ms (before jitter). Default 100. */
  initialDelay?: number;
  /** Longest retry delay in ms (before jitter). Default 5000. */
  maxDelay?: number;
}

export interface OutboundQueueOptions {
  /** Most messages kept while the broker is gone. Default 1024. */
  maxMessages?: number;
  /** Most bytes (envelopes) kept while the broker is gone. Default 1 MiB. */
  maxBytes?: number;
}

/** Options every broker adapter takes. */
export interface BrokerLinkOptions {
  reconnect?: ReconnectOptions;
  queue?: OutboundQueueOptions;
}

export const BROKER_LINK_OPTION_NAMES: readonly string[] = ['reconnect', 'queue'];

function positive(value: unknown, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) {
    throw new PubSubError(`${what} must be a finite number >= 0`, 'PUBSUB_ERR_OPTIONS');
  }
  return value;
}

/** An adapter made of a driver and the fault handling every broker shares. */
export function brokerAdapter(driver: BrokerDriver, options: BrokerLinkOptions = {}): PubSubAdapter {
  const settings: LinkSettings = {
    initialDelay: positive(options.reconnect?.initialDelay, 100, 'reconnect.initialDelay'),
    maxDelay: positive(options.reconnect?.maxDelay, 5000, 'reconnect.maxDelay'),
    maxMessages: positive(options.queue?.maxMessages, 1024, 'queue.maxMessages'),
    maxBytes: positive(options.queue?.maxBytes, 1024 * 1024, 'queue.maxBytes'),
  };
  return Object.freeze({ name: driver.name, attach: (node: AdapterNode): AdapterLink => new BrokerLink(driver, node, settings) });
}

/**
 * The wait before reconnect attempt `failures + 1`: initialDelay doubled per failure, at most
 * maxDelay, times a random factor from 0.5 to 1 so that nodes cut off together do not return
 * together.
 */
export function backoffDelay(failures: number, initialDelay: number, maxDelay: number, random: () => number = Math.random): number {
  return Math.min(maxDelay, initialDelay * 2 ** Math.min(failures, 30)) * (0.5 + random() / 2);
}

interface LinkSettings {
  initialDelay: number;
  maxDelay: number;
  maxMessages: number;
  maxBytes: number;
}

interface Attempt {
  dead: boolean;
  session: BrokerSession | null;
}

interface KeyUse {
  readonly key: BrokerKey;
  count: number;
}

interface Queued {
  readonly channel: string;
  readonly data: Buffer;
}

/**
 * Runs hub code from a broker client's callback or a promise reaction: an exception there (an
 * event listener or deliver callback that throws) becomes an uncaught exception, as it would be
 * from any event emitter, instead of an unhandled rejection or a broken client parser.
 */
function guarded(run: () => void): void {
  try {
    run();
  } catch (error) {
    process.nextTick(() => {
      throw error;
    });
  }
}

const keyId = (key: BrokerKey): string => (key.pattern ? 'p' : 'c') + key.name;

class BrokerLink implements AdapterLink {
  readonly #driver: BrokerDriver;
  readonly #node: AdapterNode;
  readonly #settings: LinkSettings;
  #state: 'connecting' | 'up' | 'waiting' | 'closed' = 'connecting';
  #attempt: Attempt | null = null;
  /** Consecutive failed attempts since the last success. */
  #failures = 0;
  #timer: NodeJS.Timeout | null = null;
  /** When the current outage began; null while connected. Counted from creation at first. */
  #downSince: number | null = Date.now();
  #downReported = false;
  #everConnected = false;
  /** Broker subscriptions, with how many local filters need each. */
  readonly #keys = new Map<string, KeyUse>();
  /** Broker (un)subscriptions not acknowledged yet. */
  readonly #pending = new Set<Promise<void>>();
  #wakeReady: (() => void) | null = null;
  #upSignal: Promise<void> | null = null;
  // The outbound queue: a FIFO array with a moving head, compacted as it drains.
  #queue: Queued[] = [];
  #head = 0;
  #queuedBytes = 0;
  #outages = 0;
  #queueOverflow = 0;
  #publishErrors = 0;
  #malformed = 0;

  constructor(driver: BrokerDriver, node: AdapterNode, settings: LinkSettings) {
    this.#driver = driver;
    this.#node = node;
    this.#settings = settings;
    this.#connect();
  }

  addFilter(filter: TopicFilter): void {
    for (const key of this.#driver.keysFor(filter)) {
      const id = keyId(key);
      const use = this.#keys.get(id);
      if (use !== undefined) {
        use.count++;
        continue;
      }
      this.#keys.set(id, { key, count: 1 });
      if (this.#state === 'up') this.#track(this.#attempt!.session!.subscribe(key));
    }
  }

  removeFilter(filter: TopicFilter): void {
    for (const key of this.#driver.keysFor(filter)) {
      const id = keyId(key);
      const use = this.#keys.get(id);
      if (use === undefined || --use.count > 0) continue;
      this.#keys.delete(id);
      if (this.#state === 'up') this.#track(this.#attempt!.session!.unsubscribe(key));
    }
  }

  publish(message: BrokerMessage): void {
    if (this.#state === 'closed') return;
    const channel = this.#driver.channelFor(message.topic, this.#node.syntax);
    const data = encodeEnvelope(message);
    if (this.#state === 'up' && this.#head === this.#queue.length) this.#send(channel, data);
    else this.#enqueue({ channel, data });
  }

  async ready(): Promise<void> {
    for (;;) {
      if (this.#state === 'closed') throw new PubSubError('The broker link is closed', 'PUBSUB_ERR_CLOSED');
      if (this.#state !== 'up') {
        this.#upSignal ??= new Promise<void>((resolve) => (this.#wakeReady = resolve));
        await this.#upSignal;
      } else if (this.#pending.size > 0) {
        await Promise.allSettled([...this.#pending]);
      } else {
        return;
      }
    }
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#queue = [];
    this.#head = this.#queuedBytes = 0;
    this.#wake();
    const attempt = this.#attempt;
    this.#attempt = null;
    if (attempt !== null) {
      attempt.dead = true;
      await attempt.session?.close(true);
    }
  }

  stats(): LinkStats {
    return {
      connected: this.#state === 'up',
      outages: this.#outages,
      queued: this.#queue.length - this.#head,
      queueOverflow: this.#queueOverflow,
      publishErrors: this.#publishErrors,
      malformed: this.#malformed,
    };
  }

  #connect(): void {
    this.#timer = null;
    this.#state = 'connecting';
    const attempt: Attempt = { dead: false, session: null };
    this.#attempt = attempt;
    const handlers: SessionHandlers = {
      message: (data) => {
        if (attempt.dead) return;
        const message = decodeEnvelope(data);
        if (message === null) this.#malformed++;
        else guarded(() => this.#node.receive(message));
      },
      publishError: () => {
        this.#publishErrors++;
      },
      lost: (error) => guarded(() => this.#lost(attempt, error)),
    };
    let connecting: Promise<BrokerSession>;
    try {
      connecting = this.#driver.connect(handlers);
    } catch (error) {
      connecting = Promise.reject(error);
    }
    connecting.then(
      (session) => {
        if (attempt.dead) {
          void session.close(false);
          return;
        }
        attempt.session = session;
        guarded(() => this.#up(session));
      },
      (error: unknown) => guarded(() => this.#lost(attempt, error instanceof Error ? error : new Error(String(error)))),
    );
  }

  #up(session: BrokerSession): void {
    const downtimeMs = Date.now() - (this.#downSince ?? Date.now());
    const attempts = this.#failures + 1;
    const reconnect = this.#everConnected;
    this.#state = 'up';
    this.#downSince = null;
    this.#downReported = false;
    this.#failures = 0;
    this.#everConnected = true;
    // Subscriptions first, then the queue: both go down the same connection in this order.
    for (const { key } of this.#keys.values()) this.#track(session.subscribe(key));
    while (this.#head < this.#queue.length && this.#state === 'up') {
      const item = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as Queued;
      this.#queuedBytes -= item.data.length;
      this.#send(item.channel, item.data);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    this.#wake();
    this.#node.status({ type: 'up', adapter: this.#driver.name, reconnect, downtimeMs, attempts });
  }

  #lost(attempt: Attempt, error: Error): void {
    if (attempt.dead) return;
    attempt.dead = true;
    if (attempt !== this.#attempt || this.#state === 'closed') return;
    void attempt.session?.close(false);
    this.#downSince ??= Date.now();
    this.#state = 'waiting';
    if (!this.#downReported) {
      this.#downReported = true;
      this.#outages++;
      this.#node.status({ type: 'down', adapter: this.#driver.name, error });
    }
    const delay = backoffDelay(this.#failures++, this.#settings.initialDelay, this.#settings.maxDelay);
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  #send(channel: string, data: Buffer): void {
    try {
      this.#attempt!.session!.publish(channel, data);
    } catch {
      // Closed under us (the 'lost' report follows) or refused (over the broker's payload limit).
      this.#publishErrors++;
    }
  }

  #enqueue(item: Queued): void {
    const { maxMessages, maxBytes } = this.#settings;
    if (item.data.length > maxBytes || maxMessages === 0) {
      this.#queueOverflow++;
      return;
    }
    this.#queue.push(item);
    this.#queuedBytes += item.data.length;
    // Past a bound the oldest message goes: the newest are the ones worth delivering late.
    while (this.#queue.length - this.#head > maxMessages || this.#queuedBytes > maxBytes) {
      const dropped = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as Queued;
      this.#queuedBytes -= dropped.data.length;
      this.#queueOverflow++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #track(operation: Promise<void>): void {
    const tracked = operation.then(
      () => {
        this.#pending.delete(tracked);
      },
      (error: unknown) => {
        this.#pending.delete(tracked);
        // A subscription refused while connected (permissions, say); a lost connection is
        // reported by the session and resubscribed after the reconnect.
        if (this.#state === 'up') {
          guarded(() => this.#node.status({ type: 'error', adapter: this.#driver.name, error: error instanceof Error ? error : new Error(String(error)) }));
        }
      },
    );
    this.#pending.add(tracked);
  }

  #wake(): void {
    const wake = this.#wakeReady;
    this.#wakeReady = null;
    this.#upSignal = null;
    wake?.();
  }
}

/** How long a session's graceful close may take before its connection is dropped. */
export const CLOSE_TIMEOUT_MS = 2000;

/** Waits for `work` (which must not reject), but no longer than CLOSE_TIMEOUT_MS. */
export async function boundedClose(work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)));
  await Promise.race([work, timeout]);
  clearTimeout(timer);
}

/** Loads an optional peer dependency, or throws PUBSUB_ERR_CLIENT_MISSING naming the package. */
export async function loadClient<T>(specifier: string, adapter: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new PubSubError(
        `${adapter} needs the "${specifier}" package, an optional peer dependency of upshift: npm install ${specifier}`,
        'PUBSUB_ERR_CLIENT_MISSING',
      );
    }
    throw error;
  }
}
