// The socket-bound WebSocket connection, the same for server and client and for every transport
// (a TCP or TLS socket after an HTTP/1.1 upgrade, an HTTP/2 stream).
//
// Two objects per connection: WebSocketConnection is the API and nothing else; its Link (private,
// below) is the ProtocolHandler of the sans-I/O core and owns the transport: it moves bytes
// between the transport and the core, owns input flow, batches output and runs the clock of the
// closing handshake. Adapters (the server, connect()) use the module-level functions at the end.
//
// Input flow: pausing is a set of reasons (the application, the async iterator, a stream made by
// createWebSocketStream, a message still decompressing). The transport reads, and bytes already
// read but not parsed are parsed, only while no reason remains.
//
// Output batching: frames produced while input is parsed are written once when parsing stops (one
// write per read, not per message); frames sent at other times are written once per microtask turn
// for all connections together.

import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CloseCode, isValidCloseCode } from '../protocol/close-codes.js';
import { connectionClosedError, type WebSocketError } from '../protocol/errors.js';
import type { MessageCodec } from '../protocol/message-codec.js';
import { detachFromSlab } from '../protocol/output-slab.js';
import {
  MAX_CLOSE_REASON,
  ReadyState,
  WebSocketProtocol,
  type ProtocolHandler,
  type WriteTag,
} from '../protocol/websocket-protocol.js';
import { clock, unwatch, watch, type Tickable } from '../util/ticker.js';
import { SharedMessage } from '../protocol/shared-message.js';
import type { Hub, PublishedMessage } from '../pubsub/hub.js';
import { toBuffer, type SendableData } from './sendable.js';
import {
  backpressureHighChannel,
  backpressureLowChannel,
  closeChannel,
  openChannel,
  protocolErrorChannel,
  type TrafficCounters,
} from './diagnostics.js';

export interface SendOptions {
  /** Send as a binary message; default: strings are text, everything else binary. */
  binary?: boolean;
  /** false sends a fragment; the next send continues the same message. Default true. */
  fin?: boolean;
  /** Compress with the negotiated permessage-deflate (default: by the size threshold). */
  compress?: boolean;
}

/**
 * Called once the message has been handed to the transport and its write completed, or with an
 * error (code WS_ERR_CLOSED, or the transport's) when the connection closed first.
 */
export type SendCallback = (error?: Error) => void;

export interface ReceivedMessage {
  data: Buffer;
  isBinary: boolean;
}

export interface WebSocketConnectionEvents {
  message: [data: Buffer, isBinary: boolean];
  close: [code: number, reason: string];
  ping: [data: Buffer];
  pong: [data: Buffer];
  drain: [];
  error: [error: Error];
}

// Set in WebSocketConnection's static block: the only ways in to its private parts.
let construct: <Data>(transport: Duplex, options: ConnectionOptions, data: Data) => WebSocketConnection<Data>;
let linkOf: (ws: WebSocketConnection<any>) => Link;

// An EventEmitter: the class below takes EventEmitter.prototype as its prototype's prototype
// (after the class), as `extends` would, but does not run EventEmitter's constructor, which gives
// every instance five fields. Two are enough (issue 13): the listener table and its count. The
// other three read the same from EventEmitter.prototype while they have their default value
// (_maxListeners, the capture-rejections flag, the shape mode: false).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface WebSocketConnection<Data = unknown> extends EventEmitter<WebSocketConnectionEvents> {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class WebSocketConnection<Data = unknown> {
  static readonly CONNECTING = ReadyState.CONNECTING;
  static readonly OPEN = ReadyState.OPEN;
  static readonly CLOSING = ReadyState.CLOSING;
  static readonly CLOSED = ReadyState.CLOSED;

  // The same constants on instances (ws.OPEN), on the prototype: no memory per connection.
  get CONNECTING(): 0 {
    return ReadyState.CONNECTING;
  }
  get OPEN(): 1 {
    return ReadyState.OPEN;
  }
  get CLOSING(): 2 {
    return ReadyState.CLOSING;
  }
  get CLOSED(): 3 {
    return ReadyState.CLOSED;
  }

  // EventEmitter's state. Its own table ({ __proto__: null }) is a dictionary-mode object of ~180
  // bytes; this one starts in V8's fast mode, and has no Object.prototype keys either.
  private _events: object = new ListenerTable();
  private _eventsCount = 0;
  /** Whatever the application attached (the server's verify hook can set it). */
  data: Data;
  readonly #link: Link;

  /** Connections come from WebSocketServer and connect(). */
  private constructor(transport: Duplex, options: ConnectionOptions, data: Data) {
    this.data = data;
    this.#link = new Link(this, transport, options);
  }

  static {
    construct = (transport, options, data) => new WebSocketConnection(transport, options, data);
    linkOf = (ws) => ws.#link;
  }

  /** The subprotocol agreed in the handshake ('' for none). */
  get protocol(): string {
    return this.#link.protocol;
  }

  /** The extensions agreed in the handshake, as the Sec-WebSocket-Extensions value ('' for none). */
  get extensions(): string {
    return this.#link.extensions;
  }

  /** CONNECTING, OPEN, CLOSING or CLOSED (0–3), as in the WHATWG WebSocket. */
  get readyState(): number {
    return this.#link.readyState;
  }

  /** After 'close': the peer's close code, or 1006 when no close frame arrived (RFC 6455 §7.1.5). */
  get closeCode(): number {
    return this.#link.closeCode;
  }

  /** After 'close': the peer's close reason ('' for none). */
  get closeReason(): string {
    return this.#link.closeReason;
  }

  /** Bytes accepted by send() and not yet written to the transport's peer. */
  get bufferedAmount(): number {
    return this.#link.bufferedAmount;
  }

  get remoteAddress(): string | undefined {
    const transport = this.#link.transport as { remoteAddress?: string; session?: { socket?: { remoteAddress?: string } } };
    // An HTTP/2 stream has no address of its own: its session's socket has.
    return transport.remoteAddress ?? transport.session?.socket?.remoteAddress;
  }

  /** The transport underneath (a net.Socket, tls.TLSSocket or Http2Stream). */
  get rawTransport(): Duplex {
    return this.#link.transport;
  }

  /** True between pause() and resume(). */
  get isPaused(): boolean {
    return (this.#link.holds & HOLD_APPLICATION) !== 0;
  }

  /**
   * Subscribes this connection to a topic or an MQTT-style filter (`chat/+`, `chat/#`) of its
   * server's hub; false if it already was. Throws PubSubError for an invalid filter, TypeError on
   * a client connection. Subscriptions end when the connection closes.
   */
  subscribe(topic: string): boolean {
    const topics = this.#link.topics;
    if (topics === null) throw new TypeError('subscribe(): topics are for server connections');
    // A closed connection is never subscribed: its subscriptions were dropped already.
    if (this.#link.readyState === ReadyState.CLOSED) return false;
    return topics.hub.subscribe(this, topic);
  }

  /** Ends a subscription made with subscribe(); false if there was none. */
  unsubscribe(topic: string): boolean {
    const topics = this.#link.topics;
    if (topics === null) throw new TypeError('unsubscribe(): topics are for server connections');
    return topics.hub.unsubscribe(this, topic);
  }

  /** The topics and filters this connection is subscribed to, in subscription order (a copy). */
  get topics(): readonly string[] {
    const topics = this.#link.topics;
    return Object.freeze(topics === null ? [] : topics.hub.topicsOf(this));
  }

  /** Published messages this connection did not take: over maxPublishBuffer (slow consumer). */
  get droppedMessages(): number {
    return this.#link.dropped;
  }

  /**
   * Sends a message. Returns false once bufferedAmount reaches the high-water mark; wait for
   * 'drain' before sending more. Sending on a connection that is closing or closed does nothing
   * and returns false (the callback, if any, gets a WS_ERR_CLOSED error).
   */
  send(data: SendableData, callback?: SendCallback): boolean;
  send(data: SendableData, options: SendOptions | undefined, callback?: SendCallback): boolean;
  send(data: SendableData, options?: SendOptions | SendCallback, callback?: SendCallback): boolean {
    if (typeof options === 'function') {
      callback = options;
      options = undefined;
    }
    const link = this.#link;
    if (link.readyState !== ReadyState.OPEN) {
      if (callback !== undefined) queueMicrotask(() => callback(connectionClosedError()));
      return false;
    }
    const payload = toBuffer(data);
    const isBinary = options?.binary ?? typeof data !== 'string';
    if (callback !== undefined) link.addUnwritten(callback);
    link.core.send(payload, isBinary, options?.fin ?? true, options?.compress, callback);
    link.sent(payload.length);
    return link.checkBuffered();
  }

  ping(data: SendableData = EMPTY): void {
    const link = this.#link;
    if (link.readyState === ReadyState.OPEN) link.core.ping(controlPayload(data));
  }

  pong(data: SendableData = EMPTY): void {
    const link = this.#link;
    if (link.readyState === ReadyState.OPEN) link.core.pong(controlPayload(data));
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2). Code: 1000, 1001–1014 where assigned, or
   * 3000–4999; reason: at most 123 bytes of UTF-8.
   */
  close(code?: number, reason?: string | ArrayBufferView): void {
    if (code !== undefined && !isValidCloseCode(code)) {
      throw new RangeError(`Invalid close code ${code}: use 1000, 1001-1003, 1007-1014 or 3000-4999`);
    }
    const reasonBytes = reason === undefined ? EMPTY : toBuffer(reason);
    if (reasonBytes.length > MAX_CLOSE_REASON) {
      throw new RangeError(`Close reason is ${reasonBytes.length} bytes; at most ${MAX_CLOSE_REASON} fit`);
    }
    if (code === undefined && reasonBytes.length > 0) {
      throw new TypeError('A close reason needs a close code');
    }
    this.#link.close(code, reasonBytes);
  }

  /** Drops the connection at once, without a closing handshake. */
  terminate(): void {
    this.#link.terminate();
  }

  /**
   * Stops delivering messages and reading from the peer (TCP flow control pushes back), also
   * when called in a 'message' handler: no message follows until resume().
   */
  pause(): void {
    this.#link.hold(HOLD_APPLICATION);
  }

  /** Undoes pause(). Input still held for another reason (the async iterator) stays held. */
  resume(): void {
    this.#link.release(HOLD_APPLICATION);
  }

  /** Iterates over received messages until the connection closes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ReceivedMessage, void, undefined> {
    const link = this.#link;
    const queue: ReceivedMessage[] = [];
    let wake: (() => void) | null = null;
    let done = link.readyState === ReadyState.CLOSED;
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      queue.push({ data, isBinary });
      // Backpressure: hold input while the consumer is behind.
      if (queue.length >= ITERATOR_HIGH_WATER) link.hold(HOLD_ITERATOR);
      wake?.();
    };
    const onClose = (): void => {
      done = true;
      wake?.();
    };
    this.on('message', onMessage);
    this.on('close', onClose);
    try {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          if (queue.length < ITERATOR_HIGH_WATER / 2) link.release(HOLD_ITERATOR);
          yield next;
          continue;
        }
        if (done) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    } finally {
      this.off('message', onMessage);
      this.off('close', onClose);
      link.release(HOLD_ITERATOR);
    }
  }
}

Object.setPrototypeOf(WebSocketConnection.prototype, EventEmitter.prototype);
Object.setPrototypeOf(WebSocketConnection, EventEmitter);

// ------------------------------------------------------------------------------- adapters' API

export interface ConnectionOptions {
  role: 'server' | 'client';
  /** Largest message accepted (after decompression), bytes. */
  maxPayload: number;
  /** Most frames in one fragmented message. */
  maxFragments: number;
  /** How long to wait for the peer's part of the close handshake before dropping TCP, ms. */
  closeTimeout: number;
  /** send() returns false once this many bytes are buffered. */
  highWaterMark: number;
  /** Pings allowed while the peer does not read; more close with 1008 (Infinity: no limit). */
  maxUnansweredPings: number;
  protocol: string;
  extensions: string;
  codec: MessageCodec | null;
  /** Told when the transport has closed (a server keeps its set of clients with it). */
  owner?: ConnectionOwner | null;
  /** Drops the transport abnormally (default destroy(); an HTTP/2 stream is reset with CANCEL, RFC 8441 §5). */
  abortTransport?: ((transport: Duplex) => void) | undefined;
  /** The server's topics (null on a client: it cannot subscribe). */
  topics?: ConnectionTopics | null;
}

/** What the hub writes published messages with: one SharedMessage per published message. */
export type TopicHub = Hub<WebSocketConnection<any>, SharedMessage>;

/** What to do with a published message that a slow consumer has no room for. */
export type SlowConsumerPolicy = 'drop' | 'close';

/** A server connection's topics: its hub and the slow-consumer rules (one object per server). */
export interface ConnectionTopics {
  readonly hub: TopicHub;
  /** Bytes a connection may have buffered (bufferedAmount) and still take a published message. */
  readonly maxPublishBuffer: number;
  readonly policy: SlowConsumerPolicy;
  /** Told of each message dropped (policy 'drop', or the one that closed the connection). */
  dropped(ws: WebSocketConnection<any>, message: PublishedMessage<SharedMessage>): void;
}

export interface ConnectionOwner {
  /** The connection's transport has closed; called just before the connection emits 'close'. */
  connectionClosed(ws: WebSocketConnection<any>): void;
  /** The server's message counters, bumped by each of its connections. */
  readonly counters: TrafficCounters;
}

/** What heartbeats read and write on a connection. */
export interface ConnectionActivity {
  /** Coarse time of the last bytes received. */
  readonly lastReceived: number;
  /** Coarse time of the last heartbeat ping. */
  lastPing: number;
}

/**
 * A connection over a transport whose handshake is complete. It reads from the transport at once;
 * feed the bytes that came with the handshake with receiveHead() once the application has had
 * the connection (after 'connection', or after connect() resolved).
 */
export function createConnection<Data = unknown>(transport: Duplex, options: ConnectionOptions, data?: Data): WebSocketConnection<Data> {
  const ws = construct(transport, options, data as Data);
  if (openChannel.hasSubscribers) openChannel.publish({ connection: ws, role: options.role });
  return ws;
}

/** Feeds bytes that arrived with the handshake (the `head` of an upgrade), before any others. */
export function receiveHead(ws: WebSocketConnection<any>, head: Buffer): void {
  if (head.length > 0) linkOf(ws).receive(head);
}

/**
 * Sends a message built once for many connections (WebSocketServer.broadcast): the shared frame,
 * or for a peer with permessage-deflate the payload compressed once per compressor kind. Returns
 * what send() would.
 */
export function sendShared(ws: WebSocketConnection<any>, message: SharedMessage): boolean {
  const link = linkOf(ws);
  if (link.readyState !== ReadyState.OPEN) return false;
  link.core.sendShared(message);
  link.sent(message.payload.length);
  return link.checkBuffered();
}

/**
 * The hub's deliver callback: writes a published message to one subscriber. Like broadcast(), the
 * message becomes one SharedMessage on the first call, reused for every subscriber: one frame for
 * the peers that get it uncompressed, one compression per compressor kind for the others. A
 * subscriber already holding maxPublishBuffer bytes does not get it (slow consumer): per its
 * server's policy it is skipped or closed with 1013 (Try Again Later). Returns false then.
 */
export function deliverPublished(ws: WebSocketConnection<any>, message: PublishedMessage<SharedMessage>): boolean {
  const link = linkOf(ws);
  if (link.readyState !== ReadyState.OPEN) return false;
  const topics = link.topics!;
  const payload = message.payload;
  if (link.bufferedAmount + payload.length > topics.maxPublishBuffer) {
    link.dropOne();
    topics.dropped(ws, message);
    if (topics.policy === 'close') ws.close(CloseCode.TryAgainLater, 'Slow consumer');
    return false;
  }
  link.core.sendShared((message.frame ??= new SharedMessage(payload, message.isBinary, message.compress)));
  link.sent(payload.length);
  link.checkBuffered();
  return true;
}

export function activityOf(ws: WebSocketConnection<any>): ConnectionActivity {
  return linkOf(ws);
}

/** Holds or releases input for a stream made by createWebSocketStream (its own reason). */
export function holdInputForStream(ws: WebSocketConnection<any>, hold: boolean): void {
  const link = linkOf(ws);
  if (hold) link.hold(HOLD_STREAM);
  else link.release(HOLD_STREAM);
}

// ------------------------------------------------------------------------------------ the link

// Reasons to hold input, bits of Link.holds.
const HOLD_APPLICATION = 1;
const HOLD_ITERATOR = 2;
const HOLD_STREAM = 4;
const HOLD_DECODER = 8;

const EMPTY = Buffer.alloc(0);
const ITERATOR_HIGH_WATER = 64;

// The transport's listeners below are shared by every connection and find the link through the
// transport. Not as a property of the transport itself: a socket's shape has no room left (V8's
// slack tracking fitted it to net.Socket's own fields), so one more property there costs a
// 40-byte out-of-object PropertyArray per connection (issue 13). Its WritableState has room: the
// first completed write (the handshake's) gave it a PropertyArray of 3 slots with 2 free.
const kLink = Symbol('upshift.link');
type TaggedDuplex = Duplex & { _writableState: { [kLink]?: Link } };

function linkOfTransport(transport: TaggedDuplex): Link {
  return transport._writableState[kLink]!;
}

let flushList: Link[] = [];
let flushQueued = false;

function flushAll(): void {
  const list = flushList;
  flushList = [];
  flushQueued = false;
  for (let i = 0; i < list.length; i++) list[i]!.flush();
}

/** The listener table of a connection (see the WebSocketConnection constructor). */
const ListenerTable = function ListenerTable(): void {} as unknown as new () => object;
ListenerTable.prototype = Object.create(null) as object;

/**
 * The ConnectionOptions that connections of a server mostly have alike, shared by them. The
 * handshake's outcome is here too: most servers agree on the same subprotocol and extensions
 * (usually none) with every client.
 */
interface LinkSettings {
  readonly protocol: string;
  readonly extensions: string;
  readonly closeTimeout: number;
  readonly highWaterMark: number;
  readonly owner: ConnectionOwner | null;
  readonly abortTransport: ((transport: Duplex) => void) | undefined;
  readonly topics: ConnectionTopics | null;
}

// The settings of the last connections made, latest first: a new one shares them when it has the
// same (one object per server and subprotocol, not seven fields per connection).
const recentSettings: LinkSettings[] = [];
const RECENT_SETTINGS = 8;

function settingsFor(options: ConnectionOptions): LinkSettings {
  const owner = options.owner ?? null;
  const topics = options.topics ?? null;
  for (let i = 0; i < recentSettings.length; i++) {
    const s = recentSettings[i]!;
    if (
      s.protocol === options.protocol &&
      s.extensions === options.extensions &&
      s.closeTimeout === options.closeTimeout &&
      s.highWaterMark === options.highWaterMark &&
      s.owner === owner &&
      s.abortTransport === options.abortTransport &&
      s.topics === topics
    ) {
      return s;
    }
  }
  const { protocol, extensions, closeTimeout, highWaterMark, abortTransport } = options;
  const settings: LinkSettings = { protocol, extensions, closeTimeout, highWaterMark, owner, abortTransport, topics };
  if (recentSettings.unshift(settings) > RECENT_SETTINGS) recentSettings.pop();
  return settings;
}

// Times kept on a connection are ms since this module loaded: small integers fit in the field
// itself (a Smi, for the first 24 days of a process), where Date.now() needs a 16-byte box each.
const EPOCH = Date.now();

/** `time` as ms since EPOCH; an int32 (`| 0`) while it fits, which V8 keeps unboxed. */
function sinceEpoch(time: number): number {
  const t = time - EPOCH;
  return t <= 0x7fffffff && t >= -0x80000000 ? t | 0 : t;
}

// Link.flags: the ready state in bits 0-1, the HOLD_* reasons in bits 2-5, then booleans.
const READY_STATE = 3;
const HOLDS_SHIFT = 2;
/** We paused the transport (and resume it when nothing holds input). */
const TRANSPORT_STOPPED = 64;
const PARSING = 128;
const QUEUED_FOR_FLUSH = 256;
/** send() returned false: 'drain' is owed. */
const NEED_DRAIN = 512;
const END_PENDING = 1024;

/** The frames written since the last flush (Link.out), merged into as few buffers as can be. */
class Batch {
  first: Buffer | null = null;
  rest: Buffer[] | null = null;
  /** End (byteOffset) of the run of adjacent writes that the batch's last buffer stands for. */
  end = 0;
  /** The output slab that the batch's last buffer is a slice of, if writeSlab() made it. */
  slab: Buffer | null = null;
  bytes = 0;
  /** Send callbacks of the frames in the batch, in order, each with the write ending its frame. */
  callbacks: BatchCallback[] | null = null;
}

// Batches are only held between a write and its flush (one microtask turn at most): the links
// with output pending share these rather than each keeping one (issue 13).
const batchPool: Batch[] = [];
const BATCH_POOL_MAX = 1024;

/** What few connections ever need: made on first need (Link.extra). */
class LinkExtra {
  /**
   * Bytes read but not parsed, kept while input is held (the application paused, a message is
   * decompressing); a chunk that is parsed at once is never kept.
   */
  held: Buffer | null = null;
  /** Published messages dropped (slow consumer). */
  dropped = 0;
  closeCode: number = CloseCode.Abnormal;
  closeReason = '';
  /** Since EPOCH; 0: no close timer. */
  closeDeadline = 0;
  /** Send callbacks whose frames the core has not written yet (waiting for compression). */
  unwritten: WriteTag[] | null = null;
  /** Write callback for a batch written while send() had returned false. */
  onBatchWritten: ((error?: Error | null) => void) | null = null;
}

class Link implements ProtocolHandler, Tickable, ConnectionActivity {
  readonly ws: WebSocketConnection<any>;
  readonly transport: TaggedDuplex;
  readonly core: WebSocketProtocol;
  private readonly settings: LinkSettings;
  /** The ready state, the reasons to hold input, TRANSPORT_STOPPED, PARSING, ... */
  private flags: number = ReadyState.OPEN;
  private extra: LinkExtra | null = null;
  // Since EPOCH. Starts at Date.now(), not clock.now: the coarse clock stops while nothing is
  // watched, and a stale start made heartbeats see a fresh connection as idle (closed at the
  // first tick).
  private received = sinceEpoch(Date.now());
  /** Since EPOCH; 0 (never) reads as EPOCH, which is as good: no connection is quiet for longer. */
  private pinged = 0;
  /** Since EPOCH: when the connection opened (the close event's durationMs). */
  private readonly openedAt = this.received;

  /** Output not yet written to the transport; null when there is none. */
  private out: Batch | null = null;

  constructor(ws: WebSocketConnection<any>, transport: Duplex, options: ConnectionOptions) {
    this.ws = ws;
    this.transport = transport as TaggedDuplex;
    this.settings = settingsFor(options);
    this.core = new WebSocketProtocol(this, options);
    this.transport._writableState[kLink] = this;
    transport.on('data', onTransportData);
    if (needsEndListener(transport)) transport.on('end', onTransportEnd);
    transport.on('close', onTransportClose);
    transport.on('error', onTransportError);
    transport.on('drain', onTransportDrain);
  }

  get readyState(): number {
    return this.flags & READY_STATE;
  }

  set readyState(state: number) {
    this.flags = (this.flags & ~READY_STATE) | state;
  }

  /** HOLD_* bits: why input is held. */
  get holds(): number {
    return (this.flags >> HOLDS_SHIFT) & 15;
  }

  private extras(): LinkExtra {
    return (this.extra ??= new LinkExtra());
  }

  get closeCode(): number {
    return this.extra === null ? CloseCode.Abnormal : this.extra.closeCode;
  }

  get closeReason(): string {
    return this.extra === null ? '' : this.extra.closeReason;
  }

  get dropped(): number {
    return this.extra === null ? 0 : this.extra.dropped;
  }

  /** Counts a published message dropped (slow consumer). */
  dropOne(): void {
    this.extras().dropped++;
  }

  /** Remembers a send callback until the core writes its frame. */
  addUnwritten(callback: WriteTag): void {
    (this.extras().unwritten ??= []).push(callback);
  }

  private get closeTimeout(): number {
    return this.settings.closeTimeout;
  }

  private get highWaterMark(): number {
    return this.settings.highWaterMark;
  }

  private get owner(): ConnectionOwner | null {
    return this.settings.owner;
  }

  private get abortTransport(): ((transport: Duplex) => void) | undefined {
    return this.settings.abortTransport;
  }

  get topics(): ConnectionTopics | null {
    return this.settings.topics;
  }

  get protocol(): string {
    return this.settings.protocol;
  }

  get extensions(): string {
    return this.settings.extensions;
  }

  get lastReceived(): number {
    return this.received + EPOCH;
  }

  get lastPing(): number {
    return this.pinged + EPOCH;
  }

  set lastPing(time: number) {
    this.pinged = sinceEpoch(time);
  }

  get bufferedAmount(): number {
    // Messages waiting for compression count too: a burst of sends meets backpressure.
    const out = this.out;
    return this.transport.writableLength + (out === null ? 0 : out.bytes) + this.core.queuedSendBytes;
  }

  // ------------------------------------------------------------ input flow

  /** Bytes from the transport, or from the handshake. */
  receive(chunk: Buffer): void {
    this.received = sinceEpoch(clock.now);
    const extra = this.extra;
    if (extra !== null && extra.held !== null) {
      // Behind what is held already, in order (a transport may deliver a chunk after pause()).
      extra.held = Buffer.concat([extra.held, chunk]);
      this.stopTransport();
      return;
    }
    if (this.holds === 0) {
      this.pump(chunk);
    } else {
      this.extras().held = chunk;
      this.stopTransport();
    }
  }

  hold(reason: number): void {
    this.flags |= reason << HOLDS_SHIFT;
    this.stopTransport();
  }

  release(reason: number): void {
    if ((this.holds & reason) === 0) return;
    this.flags &= ~(reason << HOLDS_SHIFT);
    // Inside a handler, the parse under way goes on by itself (the handler returns true).
    if (this.holds === 0 && (this.flags & PARSING) === 0) this.pump(null);
  }

  /**
   * Parses `chunk` (bytes just read, while nothing is held), then held bytes while nothing holds
   * input; then reads from the transport again.
   */
  private pump(chunk: Buffer | null): void {
    for (;;) {
      if (chunk === null) {
        const extra = this.extra;
        if (this.holds !== 0 || extra === null || extra.held === null) break;
        chunk = extra.held;
        extra.held = null;
      }
      let used: number;
      this.flags |= PARSING;
      try {
        used = this.core.receive(chunk);
      } finally {
        // A handler that throws must not leave output unflushed for good.
        this.flags &= ~PARSING;
      }
      if (used < chunk.length) {
        this.extras().held = used === 0 ? chunk : chunk.subarray(used);
        if (this.core.decodePending) this.flags |= HOLD_DECODER << HOLDS_SHIFT;
      }
      chunk = null;
    }
    const extra = this.extra;
    if ((extra === null || extra.held === null) && this.holds === 0) this.startTransport();
    else this.stopTransport();
    this.flush();
  }

  private stopTransport(): void {
    if ((this.flags & TRANSPORT_STOPPED) !== 0 || this.readyState === ReadyState.CLOSED) return;
    this.flags |= TRANSPORT_STOPPED;
    this.transport.pause();
  }

  private startTransport(): void {
    if ((this.flags & TRANSPORT_STOPPED) === 0) return;
    this.flags &= ~TRANSPORT_STOPPED;
    this.transport.resume();
  }

  // ------------------------------------------------------------ ProtocolHandler (called by core)

  onMessage(data: Buffer, isBinary: boolean): boolean {
    const owner = this.owner;
    if (owner !== null) {
      const counters = owner.counters;
      counters.messagesIn++;
      counters.bytesIn += data.length;
    }
    this.ws.emit('message', data, isBinary);
    return this.holds === 0;
  }

  onPing(data: Buffer): boolean {
    if (this.ws.listenerCount('ping') > 0) this.ws.emit('ping', data);
    return this.holds === 0;
  }

  onPong(data: Buffer): boolean {
    if (this.ws.listenerCount('pong') > 0) this.ws.emit('pong', data);
    return this.holds === 0;
  }

  onCloseFrame(code: number, reason: string): void {
    const extra = this.extras();
    extra.closeCode = code;
    extra.closeReason = reason;
    this.readyState = ReadyState.CLOSING;
    // The core ends a server's transport now; a client waits for the server, bounded (§7.1.1).
    this.armCloseTimer();
    this.flushSoon();
  }

  onProtocolError(error: WebSocketError): void {
    this.readyState = ReadyState.CLOSING;
    if (protocolErrorChannel.hasSubscribers) protocolErrorChannel.publish({ connection: this.ws, role: this.role, error });
    if (this.ws.listenerCount('error') > 0) this.ws.emit('error', error);
    this.flushSoon();
  }

  onDecoded(): void {
    if (this.readyState !== ReadyState.CLOSED) this.release(HOLD_DECODER);
  }

  endTransport(): void {
    this.flags |= END_PENDING;
    // Bounds the wait for the peer to close its side too.
    this.armCloseTimer();
    this.flushSoon();
  }

  write(data: Buffer, tag?: WriteTag): void {
    const out = this.out;
    if (out === null) {
      const batch = (this.out = batchPool.pop() ?? new Batch());
      batch.first = data;
      batch.bytes = data.length;
      batch.end = data.byteOffset + data.length;
    } else {
      out.bytes += data.length;
      const rest = out.rest;
      const last = rest === null ? out.first! : rest[rest.length - 1]!;
      if (data.byteOffset === out.end && data.buffer === last.buffer) {
        // Right after the previous write in the same memory (a slab, output-slab.ts): both go
        // out as one buffer, made once at flush() instead of once per frame.
        out.end += data.length;
      } else {
        sealLast(out);
        if (rest === null) out.rest = [data];
        else rest.push(data);
        out.end = data.byteOffset + data.length;
        out.slab = null;
      }
    }
    if (tag !== undefined) this.tagLast(tag);
    this.flushSoon();
  }

  writeSlab(slab: Buffer, start: number, end: number, tag?: WriteTag): void {
    const out = this.out;
    if (out !== null && slab === out.slab && start === out.end) {
      // The common case in a burst of small frames: no Buffer for this one at all.
      out.bytes += end - start;
      out.end = end;
      if (tag !== undefined) this.tagLast(tag);
      this.flushSoon();
      return;
    }
    this.write(slab.subarray(start, end), tag);
    this.out!.slab = slab;
  }

  /** `tag` goes with the batch's last buffer, which ends its frame. */
  private tagLast(tag: WriteTag): void {
    // Frames go out in the order they were sent: the callback is (almost always) the first.
    const extra = this.extra!;
    const unwritten = extra.unwritten!;
    unwritten.splice(unwritten.indexOf(tag), 1);
    if (unwritten.length === 0) extra.unwritten = null;
    const out = this.out!;
    (out.callbacks ??= []).push({ tag, at: out.rest === null ? 0 : out.rest.length });
  }

  isWriteBackedUp(): boolean {
    return this.transport.writableLength >= this.highWaterMark;
  }

  // ------------------------------------------------------------ output

  /** Writes everything batched so far. */
  flush(): void {
    this.flags &= ~QUEUED_FOR_FLUSH;
    const transport = this.transport;
    const out = this.out;
    if (out !== null) {
      sealLast(out);
      const first = out.first!;
      const rest = out.rest;
      const callbacks = out.callbacks;
      this.out = null;
      releaseBatch(out);
      if (transport.destroyed) {
        if (callbacks !== null) settleLater(callbacks.map((c) => c.tag), connectionClosedError());
        return;
      }
      // Issue 14: what a transport cannot write at once waits in its queue, and a slab slice
      // there would keep the whole shared slab alive. A transport that already has bytes queued
      // queues these too: copy them out of the slab. (The write that fills the queue cannot be
      // foreseen, so a connection pins at most one slab, until that write completes.)
      const queued = transport.writableLength > 0;
      // The transport only emits 'drain' after a write crossed *its* high-water mark (16 KiB for
      // a socket); ours may be lower, so when send() said "wait", ask for a callback instead.
      const written = (this.flags & NEED_DRAIN) !== 0 ? (this.extras().onBatchWritten ??= this.makeBatchWritten()) : undefined;
      if (callbacks !== null) {
        this.writeWithCallbacks(first, rest, callbacks, queued, written);
      } else if (rest === null) {
        transport.write(queued ? detachFromSlab(first) : first, written);
      } else {
        transport.cork();
        transport.write(queued ? detachFromSlab(first) : first);
        for (let i = 0; i < rest.length; i++) {
          const data = queued ? detachFromSlab(rest[i]!) : rest[i]!;
          transport.write(data, i === rest.length - 1 ? written : undefined);
        }
        transport.uncork();
      }
    }
    if ((this.flags & END_PENDING) !== 0 && !transport.destroyed) {
      this.flags &= ~END_PENDING;
      transport.end();
    }
  }

  /** flush() for a batch with send callbacks: each goes with the write that ends its frame. */
  private writeWithCallbacks(
    first: Buffer,
    rest: Buffer[] | null,
    callbacks: BatchCallback[],
    queued: boolean,
    written: ((error?: Error | null) => void) | undefined,
  ): void {
    const transport = this.transport;
    const count = rest === null ? 1 : rest.length + 1;
    let k = 0;
    transport.cork();
    for (let i = 0; i < count; i++) {
      const data = i === 0 ? first : rest![i - 1]!;
      const start = k;
      while (k < callbacks.length && callbacks[k]!.at === i) k++;
      const last = i === count - 1;
      const done = start === k ? (last ? written : undefined) : callbacksWritten(this, callbacks.slice(start, k), last);
      transport.write(queued ? detachFromSlab(data) : data, done);
    }
    transport.uncork();
  }

  private makeBatchWritten(): (error?: Error | null) => void {
    return (error) => {
      if (!error) this.handleTransportDrain();
    };
  }

  private flushSoon(): void {
    if ((this.flags & (PARSING | QUEUED_FOR_FLUSH)) !== 0) return;
    this.flags |= QUEUED_FOR_FLUSH;
    flushList.push(this);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flushAll);
    }
  }

  checkBuffered(): boolean {
    if (this.bufferedAmount < this.highWaterMark) return true;
    if ((this.flags & NEED_DRAIN) === 0) {
      this.flags |= NEED_DRAIN;
      if (backpressureHighChannel.hasSubscribers) this.publishBackpressure(backpressureHighChannel);
    }
    return false;
  }

  /** Counts a message sent by a server connection (payload bytes). */
  sent(bytes: number): void {
    const owner = this.owner;
    if (owner === null) return;
    const counters = owner.counters;
    counters.messagesOut++;
    counters.bytesOut += bytes;
  }

  private get role(): 'server' | 'client' {
    return this.core.isServerRole ? 'server' : 'client';
  }

  private publishBackpressure(target: typeof backpressureHighChannel): void {
    target.publish({ connection: this.ws, role: this.role, bufferedAmount: this.bufferedAmount, highWaterMark: this.highWaterMark });
  }

  // ------------------------------------------------------------ closing

  close(code: number | undefined, reason: Buffer): void {
    if (this.readyState >= ReadyState.CLOSING) return;
    this.readyState = ReadyState.CLOSING;
    this.core.close(code, reason);
    this.armCloseTimer();
    this.flushSoon();
  }

  terminate(): void {
    if (this.readyState === ReadyState.CLOSED) return;
    this.readyState = ReadyState.CLOSING;
    this.abort();
  }

  private armCloseTimer(): void {
    const extra = this.extras();
    if (extra.closeDeadline !== 0) return;
    extra.closeDeadline = sinceEpoch(Date.now() + this.closeTimeout) || 1;
    watch(this);
  }

  tick(now: number): void {
    const deadline = this.extra === null ? 0 : this.extra.closeDeadline;
    if (deadline !== 0 && now - EPOCH >= deadline) {
      unwatch(this);
      this.abort();
    }
  }

  private abort(): void {
    if (this.abortTransport !== undefined) this.abortTransport(this.transport);
    else this.transport.destroy();
  }

  // ------------------------------------------------------------ transport events

  handleTransportEnd(): void {
    // The peer half-closed. Flush what is pending and close our side too (sockets from an HTTP
    // server allow half-open connections, which would otherwise linger).
    this.flush();
    if (!this.transport.writableEnded) this.transport.end();
  }

  handleTransportClose(): void {
    const extra = this.extra;
    if (extra !== null && extra.closeDeadline !== 0) unwatch(this);
    this.readyState = ReadyState.CLOSED;
    this.core.shutdown();
    if (extra !== null) extra.held = null;
    const out = this.out;
    this.out = null;
    if (extra !== null && !this.core.closeReceived) {
      extra.closeCode = CloseCode.Abnormal;
      extra.closeReason = '';
    }
    // Messages never handed to the transport: their callbacks learn it before 'close'.
    const callbacks = out === null ? null : out.callbacks;
    const unwritten = extra === null ? null : extra.unwritten;
    if (out !== null) releaseBatch(out);
    if (extra !== null) extra.unwritten = null;
    if (callbacks !== null) settle(callbacks.map((c) => c.tag), connectionClosedError());
    if (unwritten !== null) settle(unwritten, connectionClosedError());
    this.topics?.hub.unsubscribeAll(this.ws);
    this.owner?.connectionClosed(this.ws);
    if (closeChannel.hasSubscribers) {
      const core = this.core;
      closeChannel.publish({
        connection: this.ws,
        role: this.role,
        code: this.closeCode,
        reason: this.closeReason,
        wasClean: core.closeSent && core.closeReceived,
        durationMs: Date.now() - EPOCH - this.openedAt,
      });
    }
    this.ws.emit('close', this.closeCode, this.closeReason);
  }

  handleTransportError(error: Error): void {
    if (this.ws.listenerCount('error') > 0) this.ws.emit('error', error);
    this.transport.destroy();
  }

  handleTransportDrain(): void {
    this.core.flushPendingPong();
    if ((this.flags & NEED_DRAIN) !== 0 && this.bufferedAmount < this.highWaterMark) {
      this.flags &= ~NEED_DRAIN;
      if (backpressureLowChannel.hasSubscribers) this.publishBackpressure(backpressureLowChannel);
      this.ws.emit('drain');
    }
  }
}

interface BatchCallback {
  tag: WriteTag;
  /** Index of the write in the batch that ends the frame (0: first, i: rest[i - 1]). */
  at: number;
}

/** Makes the batch's last buffer span the run of adjacent writes it stands for. */
function sealLast(out: Batch): void {
  const rest = out.rest;
  const last = rest === null ? out.first! : rest[rest.length - 1]!;
  const start = last.byteOffset;
  if (out.end === start + last.length) return;
  const run = Buffer.from(last.buffer, start, out.end - start);
  if (rest === null) out.first = run;
  else rest[rest.length - 1] = run;
}

/** Empties a batch (its buffers and callbacks were taken) and keeps it for the next one. */
function releaseBatch(out: Batch): void {
  out.first = null;
  out.rest = null;
  out.slab = null;
  out.callbacks = null;
  if (batchPool.length < BATCH_POOL_MAX) batchPool.push(out);
}

/** The write callback of a write that ends frames sent with callbacks; `last` in its batch. */
function callbacksWritten(link: Link, callbacks: BatchCallback[], last: boolean): (error?: Error | null) => void {
  return (error) => {
    for (let i = 0; i < callbacks.length; i++) callbacks[i]!.tag(error ?? undefined);
    if (last && !error) link.handleTransportDrain();
  };
}

function settle(callbacks: WriteTag[], error: Error | undefined): void {
  for (let i = 0; i < callbacks.length; i++) callbacks[i]!(error);
}

function settleLater(callbacks: WriteTag[], error: Error): void {
  queueMicrotask(() => settle(callbacks, error));
}

function controlPayload(data: SendableData): Buffer {
  const payload = toBuffer(data);
  // RFC 6455 §5.5: control frames carry at most 125 bytes.
  if (payload.length > 125) throw new RangeError('Ping and pong payloads are at most 125 bytes');
  return payload;
}

/**
 * Whether the link must listen to 'end' (the peer's FIN) to end our side. A net.Socket listens
 * itself, to refuse writes after the FIN when half-open connections are not allowed; stream.Readable
 * then ends the socket by itself: nothing left for us to do. When they are allowed (sockets from an
 * HTTP server), net's listener does nothing: ours replaces it, and EventEmitter keeps a lone
 * listener without an array (64 bytes less per connection, issue 13).
 */
function needsEndListener(transport: Duplex): boolean {
  if (transport.listenerCount('end') !== 1) return true;
  // Compared with net's listener once known: rawListeners() would be a new array per connection.
  let listener = netEndListener;
  if (listener === null || transport.listenerCount('end', listener) !== 1) {
    const [only] = transport.rawListeners('end') as ((...args: unknown[]) => void)[];
    if (only!.name !== 'onReadableStreamEnd') return true;
    listener = netEndListener = only!;
  }
  if (transport.allowHalfOpen === false) return false;
  transport.removeListener('end', listener);
  return true;
}

/** net.Socket's own 'end' listener (onReadableStreamEnd), once a transport has shown it. */
let netEndListener: ((...args: unknown[]) => void) | null = null;

// Listeners shared by every connection: the transport carries its link, so no closure is
// allocated per connection.
function onTransportData(this: TaggedDuplex, chunk: Buffer): void {
  linkOfTransport(this).receive(chunk);
}
function onTransportEnd(this: TaggedDuplex): void {
  linkOfTransport(this).handleTransportEnd();
}
function onTransportClose(this: TaggedDuplex): void {
  linkOfTransport(this).handleTransportClose();
}
function onTransportError(this: TaggedDuplex, error: Error): void {
  linkOfTransport(this).handleTransportError(error);
}
function onTransportDrain(this: TaggedDuplex): void {
  linkOfTransport(this).handleTransportDrain();
}
