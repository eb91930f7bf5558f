// The socket-bound WebSocket connection, the same for server and client and for every transport
// (a TCP or TLS socket after an HTTP/1.1 upgrade, an HTTP/2 stream). It moves bytes between the
// transport and the sans-I/O core, batches output, and runs the close handshake's clocks.
//
// Output batching: frames produced while a chunk is being parsed are written once when the chunk
// is done (one write per read, not per message); frames sent at other times are written once per
// microtask turn for all connections together.

import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CloseCode, isValidCloseCode } from '../protocol/close-codes.js';
import { WebSocketError } from '../protocol/errors.js';
import type { MessageCodec } from '../protocol/message-codec.js';
import { mergeAdjacent } from '../protocol/output-slab.js';
import { MAX_CLOSE_REASON, ReadyState, WebSocketProtocol, type ProtocolHandler } from '../protocol/websocket-protocol.js';
import { clock, unwatch, watch, type Tickable } from '../util/ticker.js';
import { toBuffer, type SendableData } from './sendable.js';

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
  protocol: string;
  extensions: string;
  codec: MessageCodec | null;
  /** Told when the transport has closed (a server keeps its set of clients with it). */
  owner?: ConnectionOwner | null;
  /** Drops the transport abnormally (default destroy(); an HTTP/2 stream is reset with CANCEL, RFC 8441 §5). */
  abortTransport?: ((transport: Duplex) => void) | undefined;
}

export interface ConnectionOwner {
  connectionClosed(ws: WebSocketConnection<any>): void;
}

export interface SendOptions {
  /** Send as a binary message; default: strings are text, everything else binary. */
  binary?: boolean;
  /** false sends a fragment; the next send continues the same message. Default true. */
  fin?: boolean;
  /** Compress with the negotiated permessage-deflate (default: by the size threshold). */
  compress?: boolean;
}

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

const kConnection = Symbol('upshift.connection');
type TaggedDuplex = Duplex & { [kConnection]?: WebSocketConnection };

let flushList: WebSocketConnection[] = [];
let flushQueued = false;

function flushAll(): void {
  const list = flushList;
  flushList = [];
  flushQueued = false;
  for (let i = 0; i < list.length; i++) list[i]!.flush();
}

export class WebSocketConnection<Data = unknown> extends EventEmitter<WebSocketConnectionEvents>
  implements ProtocolHandler, Tickable
{
  static readonly CONNECTING = ReadyState.CONNECTING;
  static readonly OPEN = ReadyState.OPEN;
  static readonly CLOSING = ReadyState.CLOSING;
  static readonly CLOSED = ReadyState.CLOSED;

  /** The subprotocol agreed in the handshake ('' for none). */
  readonly protocol: string;
  /** The extensions agreed in the handshake, as the Sec-WebSocket-Extensions value ('' for none). */
  readonly extensions: string;
  /** Whatever the application attached (the server's verify hook can set it). */
  data: Data;
  readyState: number = ReadyState.OPEN;
  /** After 'close': the peer's close code, or 1006 when no close frame arrived (RFC 6455 §7.1.5). */
  closeCode: number = CloseCode.Abnormal;
  closeReason = '';

  private readonly transport: TaggedDuplex;
  private readonly core: WebSocketProtocol;
  private readonly closeTimeout: number;
  private readonly highWaterMark: number;
  private readonly owner: ConnectionOwner | null;
  private readonly abortTransport: ((transport: Duplex) => void) | undefined;
  private outFirst: Buffer | null = null;
  private outRest: Buffer[] | null = null;
  private outBytes = 0;
  private receiving = false;
  private queuedForFlush = false;
  private needDrain = false;
  private endPending = false;
  private closeDeadline = 0;
  /** Reading was paused while a compressed message decodes (not by the application). */
  private pausedForDecode = false;
  /** Write callback for a batch written while send() had returned false (made on first need). */
  private onBatchWritten: ((error?: Error | null) => void) | null = null;
  // Starts at Date.now(), not clock.now: the coarse clock stops while nothing is watched, and a
  // stale start made heartbeats see a fresh connection as idle (closed at the first tick).
  /** Coarse time of the last bytes received (heartbeats read it). */
  lastReceived = Date.now();
  /** Coarse time of the last heartbeat ping. */
  lastPing = 0;

  constructor(transport: Duplex, options: ConnectionOptions, data?: Data) {
    super();
    this.transport = transport as TaggedDuplex;
    this.protocol = options.protocol;
    this.extensions = options.extensions;
    this.closeTimeout = options.closeTimeout;
    this.highWaterMark = options.highWaterMark;
    this.owner = options.owner ?? null;
    this.abortTransport = options.abortTransport;
    this.data = data as Data;
    this.core = new WebSocketProtocol(this, {
      role: options.role,
      maxPayload: options.maxPayload,
      maxFragments: options.maxFragments,
      codec: options.codec,
    });
    this.transport[kConnection] = this;
    transport.on('data', onTransportData);
    transport.on('end', onTransportEnd);
    transport.on('close', onTransportClose);
    transport.on('error', onTransportError);
    transport.on('drain', onTransportDrain);
  }

  /** Feeds bytes that arrived with the handshake (the `head` of an upgrade). */
  receiveHead(head: Buffer): void {
    if (head.length > 0) this.receive(head);
  }

  get bufferedAmount(): number {
    // Messages waiting for compression count too: a burst of sends meets backpressure.
    return this.transport.writableLength + this.outBytes + this.core.queuedSendBytes;
  }

  get remoteAddress(): string | undefined {
    const transport = this.transport as { remoteAddress?: string; session?: { socket?: { remoteAddress?: string } } };
    // An HTTP/2 stream has no address of its own: its session's socket has.
    return transport.remoteAddress ?? transport.session?.socket?.remoteAddress;
  }

  /** The transport underneath (a net.Socket, tls.TLSSocket or Http2Stream). */
  get rawTransport(): Duplex {
    return this.transport;
  }

  /**
   * Sends a message. Returns false once bufferedAmount reaches the high-water mark; wait for
   * 'drain' before sending more. Sending on a connection that is closing or closed does nothing
   * and returns false.
   */
  send(data: SendableData, options?: SendOptions): boolean {
    if (this.readyState !== ReadyState.OPEN) return false;
    const isBinary = options?.binary ?? typeof data !== 'string';
    this.core.send(toBuffer(data), isBinary, options?.fin ?? true, options?.compress);
    return this.checkBuffered();
  }

  /**
   * Sends a frame built once for many connections (see WebSocketServer.broadcast): `frame` holds
   * the header, and the payload too when `frame` is longer than a header. @internal
   */
  sendFrame(frame: Buffer, payload: Buffer, isBinary: boolean): boolean {
    if (this.readyState !== ReadyState.OPEN) return false;
    this.core.sendPrepared(frame, payload, isBinary);
    return this.checkBuffered();
  }

  ping(data: SendableData = EMPTY): void {
    if (this.readyState !== ReadyState.OPEN) return;
    this.core.ping(controlPayload(data));
  }

  pong(data: SendableData = EMPTY): void {
    if (this.readyState !== ReadyState.OPEN) return;
    this.core.pong(controlPayload(data));
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
    if (this.readyState >= ReadyState.CLOSING) return;
    this.readyState = ReadyState.CLOSING;
    this.core.close(code, reasonBytes);
    if (this.core.closeReceived) this.endTransport();
    else this.armCloseTimer();
    this.flushSoon();
  }

  /** Drops the connection at once, without a closing handshake. */
  terminate(): void {
    if (this.readyState === ReadyState.CLOSED) return;
    this.readyState = ReadyState.CLOSING;
    this.abort();
  }

  /** Stops reading from the peer (TCP flow control pushes back). */
  pause(): void {
    this.transport.pause();
  }

  resume(): void {
    this.transport.resume();
  }

  /** Iterates over received messages until the connection closes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ReceivedMessage, void, undefined> {
    const queue: ReceivedMessage[] = [];
    let wake: (() => void) | null = null;
    let done = this.readyState === ReadyState.CLOSED;
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      queue.push({ data, isBinary });
      // Backpressure: stop reading while the consumer is behind.
      if (queue.length >= ITERATOR_HIGH_WATER) this.transport.pause();
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
          if (queue.length < ITERATOR_HIGH_WATER / 2 && this.transport.isPaused()) this.transport.resume();
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
      if (this.transport.isPaused()) this.transport.resume();
    }
  }

  // ------------------------------------------------------------ ProtocolHandler (called by core)

  onMessage(data: Buffer, isBinary: boolean): void {
    this.emit('message', data, isBinary);
  }

  onPing(data: Buffer): void {
    if (this.listenerCount('ping') > 0) this.emit('ping', data);
  }

  onPong(data: Buffer): void {
    if (this.listenerCount('pong') > 0) this.emit('pong', data);
  }

  onCloseFrame(code: number, reason: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    this.readyState = ReadyState.CLOSING;
    // §7.1.1: the server closes TCP first; the client waits for it (bounded by the close timeout).
    if (this.core.isServerRole) this.endTransport();
    else this.armCloseTimer();
    this.flushSoon();
  }

  onProtocolError(error: WebSocketError): void {
    this.readyState = ReadyState.CLOSING;
    if (this.listenerCount('error') > 0) this.emit('error', error);
    // §7.1.7: after sending the close frame, the failing endpoint closes the connection.
    this.endTransport();
    this.flushSoon();
  }

  write(data: Buffer): void {
    this.outBytes += data.length;
    const first = this.outFirst;
    if (first === null) {
      this.outFirst = data;
    } else {
      const rest = this.outRest;
      if (rest === null) {
        const merged = mergeAdjacent(first, data);
        if (merged !== null) this.outFirst = merged;
        else this.outRest = [data];
      } else {
        const merged = mergeAdjacent(rest[rest.length - 1]!, data);
        if (merged !== null) rest[rest.length - 1] = merged;
        else rest.push(data);
      }
    }
    this.flushSoon();
  }

  isWriteBackedUp(): boolean {
    return this.transport.writableLength >= this.highWaterMark;
  }

  pauseInput(paused: boolean): void {
    const transport = this.transport;
    if (paused) {
      if (!transport.isPaused()) {
        this.pausedForDecode = true;
        transport.pause();
      }
    } else if (this.pausedForDecode) {
      this.pausedForDecode = false;
      transport.resume();
    }
  }

  // ------------------------------------------------------------ transport side

  /** @internal */
  receive(chunk: Buffer): void {
    this.lastReceived = clock.now;
    this.receiving = true;
    this.core.receive(chunk);
    this.receiving = false;
    this.flush();
  }

  /** Writes everything batched so far. @internal */
  flush(): void {
    this.queuedForFlush = false;
    const first = this.outFirst;
    const transport = this.transport;
    if (first !== null) {
      const rest = this.outRest;
      this.outFirst = null;
      this.outRest = null;
      this.outBytes = 0;
      if (transport.destroyed) return;
      // The transport only emits 'drain' after a write crossed *its* high-water mark (16 KiB for
      // a socket); ours may be lower, so when send() said "wait", ask for a callback instead.
      const written = this.needDrain ? (this.onBatchWritten ??= this.makeBatchWritten()) : undefined;
      if (rest === null) {
        transport.write(first, written);
      } else {
        transport.cork();
        transport.write(first);
        for (let i = 0; i < rest.length; i++) transport.write(rest[i]!, i === rest.length - 1 ? written : undefined);
        transport.uncork();
      }
    }
    if (this.endPending && !transport.destroyed) {
      this.endPending = false;
      transport.end();
    }
  }

  private makeBatchWritten(): (error?: Error | null) => void {
    return (error) => {
      if (!error) this.handleTransportDrain();
    };
  }

  private flushSoon(): void {
    if (this.receiving || this.queuedForFlush) return;
    this.queuedForFlush = true;
    flushList.push(this);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flushAll);
    }
  }

  private checkBuffered(): boolean {
    if (this.bufferedAmount < this.highWaterMark) return true;
    this.needDrain = true;
    return false;
  }

  /** Half-closes TCP once the batched output is written, and bounds the wait for the peer. */
  private endTransport(): void {
    this.endPending = true;
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    if (this.closeDeadline !== 0) return;
    this.closeDeadline = Date.now() + this.closeTimeout;
    watch(this);
  }

  /** @internal */
  tick(now: number): void {
    if (this.closeDeadline !== 0 && now >= this.closeDeadline) {
      unwatch(this);
      this.abort();
    }
  }

  private abort(): void {
    if (this.abortTransport !== undefined) this.abortTransport(this.transport);
    else this.transport.destroy();
  }

  /** @internal */
  handleTransportEnd(): void {
    // The peer half-closed. Flush what is pending and close our side too (sockets from an HTTP
    // server allow half-open connections, which would otherwise linger).
    this.flush();
    if (!this.transport.writableEnded) this.transport.end();
  }

  /** @internal */
  handleTransportClose(): void {
    if (this.closeDeadline !== 0) unwatch(this);
    this.readyState = ReadyState.CLOSED;
    this.core.shutdown();
    this.outFirst = null;
    this.outRest = null;
    this.outBytes = 0;
    if (!this.core.closeReceived) {
      this.closeCode = CloseCode.Abnormal;
      this.closeReason = '';
    }
    this.owner?.connectionClosed(this);
    this.emit('close', this.closeCode, this.closeReason);
  }

  /** @internal */
  handleTransportError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    this.transport.destroy();
  }

  /** @internal */
  handleTransportDrain(): void {
    this.core.flushPendingPong();
    if (this.needDrain && this.bufferedAmount < this.highWaterMark) {
      this.needDrain = false;
      this.emit('drain');
    }
  }
}

const EMPTY = Buffer.alloc(0);
const ITERATOR_HIGH_WATER = 64;

function controlPayload(data: SendableData): Buffer {
  const payload = toBuffer(data);
  // RFC 6455 §5.5: control frames carry at most 125 bytes.
  if (payload.length > 125) throw new RangeError('Ping and pong payloads are at most 125 bytes');
  return payload;
}

// Listeners shared by every connection: the transport carries its connection, so no closure
// is allocated per connection.
function onTransportData(this: TaggedDuplex, chunk: Buffer): void {
  this[kConnection]!.receive(chunk);
}
function onTransportEnd(this: TaggedDuplex): void {
  this[kConnection]!.handleTransportEnd();
}
function onTransportClose(this: TaggedDuplex): void {
  this[kConnection]!.handleTransportClose();
}
function onTransportError(this: TaggedDuplex, error: Error): void {
  this[kConnection]!.handleTransportError(error);
}
function onTransportDrain(this: TaggedDuplex): void {
  this[kConnection]!.handleTransportDrain();
}
