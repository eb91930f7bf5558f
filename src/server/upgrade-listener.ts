// The listening socket of a server Upshift creates itself. WebSocket opening handshakes — the
// common case on such a server — are parsed here directly (src/protocol/http1-request-head.ts)
// and emitted as the HTTP server's 'upgrade' event, skipping Node's per-connection HTTP machinery
// (parser, IncomingMessage, ServerResponse): less CPU per handshake and less memory left behind
// per connection. Every other connection is handed, bytes and all, to the real node:http server.
//
// Until its head is complete a connection is bounded here the way Node bounds it: maxHeaderSize
// (431), headersTimeout (408), and it counts against maxConnections (503).

import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { IncomingHttpHeaders, Server as HttpServer } from 'node:http';
import { INCOMPLETE, NOT_MINE, TOO_LARGE, parseUpgradeRequestHead, rawHeadersOf } from '../protocol/http1-request-head.js';
import { DEFAULT_LIMITS, type ServerLimits } from '../connection/limits.js';
import { destroyOnError, errorResponse } from '../upgrade/respond.js';
import { unwatch, watch, type Tickable } from '../util/ticker.js';

/** The limits the listener applies to connections that have not sent a complete head yet. */
export type HeadLimits = Pick<ServerLimits, 'maxHeaderSize' | 'headersTimeout' | 'maxConnections' | 'closeTimeout'>;

/** Node's headersTimeout when the application set neither it nor requestTimeout. */
const NODE_HEADERS_TIMEOUT = 60_000;
/** The first buffer for a head that arrives in pieces; most handshakes fit (it grows by doubling). */
const FIRST_HOLD = 1024;
/** Spare head states kept for the next connections (see HeadReader.spare): a burst's worth. */
const MAX_SPARE_STATES = 256;
/** What follows a head that came alone; empty, so nobody can change it. */
const NOTHING_AFTER = Buffer.alloc(0);

/** The request object of a fast-path handshake: the fields of IncomingMessage a handshake uses. */
export class UpgradeRequest {
  readonly method = 'GET';
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  /** The head's text until rawHeaders is first read; then the list. */
  #raw: string | string[];
  constructor(
    readonly url: string,
    readonly headers: IncomingHttpHeaders,
    head: string,
    readonly socket: Socket,
  ) {
    this.#raw = head;
  }
  /** The fields as received, as IncomingMessage.rawHeaders; built on first use (most handshakes never read it). */
  get rawHeaders(): string[] {
    const raw = this.#raw;
    if (typeof raw !== 'string') return raw;
    return (this.#raw = rawHeadersOf(raw));
  }
  /** Alias of `socket`, as on IncomingMessage. */
  get connection(): Socket {
    return this.socket;
  }
}

/**
 * What a connection carries while it is the listener's, in the listener's map (not on the socket:
 * a property added to every socket would outlive the handshake in the socket's shape).
 */
interface HeadState {
  /** Still reading its head (false: answered, waiting for the client to close). */
  reading: boolean;
  /** The bytes so far of a head that arrives in pieces (null until a piece falls short). */
  held: Buffer | null;
  length: number;
  /** For a head, when it gets 408; for a connection that was answered, when it is dropped. */
  deadline: number;
}

/** A listening socket plus the connections whose request head has not been read yet. */
export interface UpgradeListener extends NetServer {
  /** Connections still sending their request head (they count against maxConnections). */
  readonly headsInProgress: number;
  /** Drops every connection still sending its request head, or being answered (at the end of a shutdown). */
  dropIncomplete(): void;
}

/**
 * `occupied`: the server's other connections (open ones and handshakes being decided), so that
 * connections still sending a head are counted against maxConnections with them.
 */
export function createUpgradeListener(
  http: HttpServer,
  limits: Readonly<HeadLimits> = DEFAULT_LIMITS,
  occupied: () => number = () => 0,
  refused?: RefusedListener,
): UpgradeListener {
  const reader = new HeadReader(http, limits, refused);
  const server = createNetServer({ noDelay: true }, (socket: Socket) => {
    const state = reader.take(socket);
    // Connections still sending a head count against maxConnections (RFC 9110 §15.6.4: 503).
    if (reader.heads + occupied() >= limits.maxConnections) {
      reader.answer(socket, 503, 'Too many connections', { 'Retry-After': '5' });
      return;
    }
    reader.admit(socket, state);
  }) as UpgradeListener;
  Object.defineProperty(server, 'headsInProgress', { get: () => reader.heads });
  server.dropIncomplete = () => {
    for (const socket of reader.states.keys()) socket.destroy();
  };

  // Connections that are not WebSocket handshakes go to Node's parser, for their first request
  // and every later one: the same limits apply there.
  (http as { maxHeaderSize?: number }).maxHeaderSize = limits.maxHeaderSize;
  setHeadersTimeout(http, limits.headersTimeout);
  // This http.Server never listens itself, so Node never starts what its 'listening' event
  // starts: the list of connections that headersTimeout, requestTimeout, closeIdleConnections()
  // and closeAllConnections() work on. Without it, an idle keep-alive connection held close()
  // forever. Start it when the listener listens, stop it (http.close()) when the listener closes.
  server.on('listening', () => http.emit('listening'));
  server.on('close', () => {
    reader.stopWatching();
    http.close();
  });
  return server;
}

/**
 * An attached node:http(s) server reads every request head itself, with its own limits. The
 * application owns that server, so whatever it set wins; where it kept Node's defaults, the
 * endpoint's `maxHeaderSize` and `headersTimeout` options (when given) are applied to it, so
 * that these options mean the same whether Upshift created the server or was attached to one.
 * HTTP/2 servers have no such settings and are left alone.
 */
export function applyHeadLimits(server: object, options: Partial<ServerLimits>): void {
  const http = server as Partial<HttpServer> & { maxHeaderSize?: number };
  if (typeof http.headersTimeout !== 'number') return;
  if (options.maxHeaderSize !== undefined && http.maxHeaderSize === undefined) http.maxHeaderSize = options.maxHeaderSize;
  if (options.headersTimeout !== undefined && http.headersTimeout === NODE_HEADERS_TIMEOUT) {
    setHeadersTimeout(http as HttpServer, options.headersTimeout);
  }
}

/** Node's headersTimeout (408 when it runs out; 0 disables), without requestTimeout cutting it short. */
function setHeadersTimeout(http: HttpServer, ms: number): void {
  const timeout = Number.isFinite(ms) ? ms : 0;
  http.headersTimeout = timeout;
  if (timeout === 0) return;
  if (http.requestTimeout > 0 && http.requestTimeout < timeout) http.requestTimeout = timeout;
  // Node looks for expired heads every connectionsCheckingInterval (30 s by default, read when
  // the server starts listening): look often enough for a short timeout to mean something.
  const interval = Math.max(250, Math.ceil(timeout / 4));
  const checked = http as { connectionsCheckingInterval?: number };
  if ((checked.connectionsCheckingInterval ?? Infinity) > interval) checked.connectionsCheckingInterval = interval;
}

/** Told of each connection the listener answers with an error (408, 431, 503). */
export type RefusedListener = (socket: Socket, status: number, reason: string) => void;

/** The connections of one listener that are still sending a head, or being answered. */
class HeadReader implements Tickable {
  /**
   * The connections still the listener's, each with its deadline. Deadlines are checked by the
   * shared ticker rather than socket.setTimeout(), whose Timeout object would stay on every
   * socket for good.
   */
  readonly states = new Map<Socket, HeadState>();
  /** Connections still sending their head. */
  heads = 0;
  /** The socket listeners, one pair per listener (not per connection): `this` is the socket. */
  private readonly onData: (this: Socket, chunk: Buffer) => void;
  private readonly onClose: (this: Socket) => void;

  constructor(
    readonly http: HttpServer,
    readonly limits: Readonly<HeadLimits>,
    readonly refused: RefusedListener | undefined,
  ) {
    const reader = this;
    this.onData = function (this: Socket, chunk: Buffer): void {
      reader.read(this, chunk);
    };
    this.onClose = function (this: Socket): void {
      reader.closed(this);
    };
  }

  /**
   * The states of connections that were the listener's, for the next ones: a state lives from a
   * connection's accept to its head, so the next connection can have it instead of a new one.
   */
  private readonly spare: HeadState[] = [];
  /** On the shared ticker (for the deadlines of the connections in `states`). */
  private watched = false;

  /** A new connection: the listener's until its head is read (or it is answered). */
  take(socket: Socket): HeadState {
    if (!this.watched) {
      this.watched = true;
      watch(this);
    }
    let state = this.spare.pop();
    if (state === undefined) state = { reading: false, held: null, length: 0, deadline: Infinity };
    else {
      state.reading = false;
      state.held = null;
      state.length = 0;
      state.deadline = Infinity;
    }
    this.states.set(socket, state);
    socket.on('error', destroyOnError);
    socket.on('close', this.onClose);
    return state;
  }

  admit(socket: Socket, state: HeadState): void {
    this.heads++;
    state.reading = true;
    const timeout = this.limits.headersTimeout;
    if (timeout > 0) state.deadline = Date.now() + timeout;
    socket.on('data', this.onData);
  }

  /**
   * The head is complete: the socket is someone else's from here. An upgrade keeps its 'error'
   * listener (the router and the WebSocket endpoint want the same one there until a connection
   * takes the socket), rather than having it removed here and added again there.
   */
  release(socket: Socket, state: HeadState, upgrade: boolean): void {
    this.stopReading(socket, state);
    this.forget(socket, state);
    if (!upgrade) socket.removeListener('error', destroyOnError);
    socket.removeListener('close', this.onClose);
  }

  /**
   * Answers with an error and closes the connection. The client may still be sending (a head
   * too large, or too slow): closing with unread bytes would reset the connection, and a reset
   * can destroy the answer before the client reads it. So the rest is read and discarded until
   * the client closes, for closeTimeout at most.
   */
  answer(socket: Socket, status: number, reason: string, headers?: Record<string, string>): void {
    const state = this.states.get(socket)!;
    this.stopReading(socket, state);
    socket.on('data', discard);
    this.refused?.(socket, status, reason);
    socket.end(errorResponse(status, reason, headers));
    state.deadline = Date.now() + this.limits.closeTimeout;
  }

  tick(now: number): void {
    // Unwatched here, once a tick has found nothing to do, rather than whenever the last head in
    // progress is read: at a handshake or two at a time that would be once per handshake.
    if (this.states.size === 0) return this.stopWatching();
    for (const [socket, state] of this.states) {
      if (now < state.deadline) continue;
      if (state.reading) this.answer(socket, 408, 'The request head did not arrive in time.');
      else socket.destroy();
    }
  }

  private forget(socket: Socket, state: HeadState): void {
    this.states.delete(socket);
    // Not reading any more (stopReading() ran): it holds no buffer.
    if (this.spare.length < MAX_SPARE_STATES) this.spare.push(state);
  }

  stopWatching(): void {
    this.watched = false;
    unwatch(this);
  }

  /** Stops reading the head (its buffer goes too); the socket stays the listener's. */
  private stopReading(socket: Socket, state: HeadState): void {
    if (!state.reading) return;
    state.reading = false;
    state.held = null;
    socket.removeListener('data', this.onData);
    this.heads--;
  }

  private closed(socket: Socket): void {
    const state = this.states.get(socket);
    if (state === undefined) return;
    this.stopReading(socket, state);
    this.forget(socket, state);
  }

  private read(socket: Socket, chunk: Buffer): void {
    const state = this.states.get(socket)!;
    let data = chunk;
    // The bytes an earlier piece already showed to hold no blank line.
    const scanned = state.length;
    if (state.held !== null) data = hold(state, chunk);
    const head = parseUpgradeRequestHead(data, this.limits.maxHeaderSize, scanned);
    if (head === INCOMPLETE) {
      if (state.held === null) hold(state, chunk);
      return;
    }
    if (head === TOO_LARGE) {
      // RFC 6585 §5, as Node's parser answers it.
      this.answer(socket, 431, 'Request header fields too large.');
      return;
    }
    this.release(socket, state, head !== NOT_MINE);
    const http = this.http;
    if (head === NOT_MINE) {
      // Node's parser takes it from the first byte: it answers, serves, or rejects (400, …).
      socket.pause();
      socket.unshift(data);
      http.emit('connection', socket);
      socket.resume();
      return;
    }
    const req = new UpgradeRequest(head.url, head.headers as IncomingHttpHeaders, head.text, socket);
    // Most heads come alone: no new (empty) Buffer for what follows them then.
    http.emit('upgrade', req, socket, head.length === data.length ? NOTHING_AFTER : data.subarray(head.length));
  }
}

/**
 * Appends `chunk` to the held head, growing the buffer by doubling: a head sent a byte per
 * segment costs linear time, and a slow head costs memory in proportion to what it sent (not
 * maxHeaderSize up front). allocUnsafeSlow: a small held head must not pin one of Node's shared
 * 8 KiB pool slabs for as long as the client dawdles.
 */
function hold(state: HeadState, chunk: Buffer): Buffer {
  const needed = state.length + chunk.length;
  let held = state.held;
  if (held === null || held.length < needed) {
    const grown = Buffer.allocUnsafeSlow(Math.max(needed, held === null ? FIRST_HOLD : held.length * 2));
    if (held !== null) held.copy(grown, 0, 0, state.length);
    held = state.held = grown;
  }
  chunk.copy(held, state.length);
  state.length = needed;
  return held.subarray(0, needed);
}

function discard(): void {
  // Read and dropped: see HeadReader.answer().
}
