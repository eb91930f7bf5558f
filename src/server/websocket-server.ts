// A WebSocket endpoint on a node:http(s) server: validates the opening handshake (RFC 6455 §4.2),
// negotiates subprotocol and extensions, runs the application's verify hook, answers 101 and hands
// the socket to a WebSocketConnection. It can create its own HTTP server, attach to an existing
// one (plain HTTP keeps working on the same port), or be fed upgrades by hand (handleUpgrade).

import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { applyHeadLimits, createUpgradeListener, type UpgradeListener } from './upgrade-listener.js';
import type { Server as HttpsServer } from 'node:https';
import type { Http2SecureServer, Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { CloseCode } from '../protocol/close-codes.js';
import type { ServerExtension } from '../protocol/extensions.js';
import { negotiateExtensions, type NegotiatedExtensions } from '../protocol/extensions.js';
import {
  perMessageDeflate,
  withPerMessageDeflate,
  type PerMessageDeflateServerOptions,
} from '../extensions/permessage-deflate/index.js';
import type { ExtensionOffer } from '../protocol/extension-header.js';
import { buildAcceptResponse, checkUpgradeRequest } from '../protocol/handshake.js';
import { unmaskedFrame } from '../protocol/frame-writer.js';
import { Opcode } from '../protocol/opcodes.js';
import { createConnection, receiveHead, sendPrepared, type ConnectionOwner, type WebSocketConnection } from '../connection/websocket-connection.js';
import { toBuffer, type SendableData } from '../connection/sendable.js';
import { unwatch, watch, type Tickable } from '../util/ticker.js';
import { heartbeat, heartbeatPeriod } from '../connection/heartbeat.js';
import { dispatcherFor, pathOf, refuse, type UpgradeDispatcher, type UpgradeEndpoint } from './upgrade-dispatcher.js';
import { DEFAULT_LIMITS, resolveLimits, SERVER_LIMIT_NAMES, type ServerLimits } from '../connection/limits.js';
import { acceptWebSocketStream } from './http2-stream.js';

/** What verify() may return: accept (optionally attaching data), or reject with an HTTP answer. */
export type VerifyResult<Data> =
  | void
  | boolean
  | { accept: true; data?: Data; headers?: Record<string, string | string[]> }
  | { accept: false; status: number; body?: string; headers?: Record<string, string | string[]> };

export interface HandshakeInfo {
  /** Subprotocols the client offered, in its order. */
  protocols: string[];
  /** The subprotocol that will be answered ('' for none). */
  protocol: string;
  origin: string | undefined;
  path: string;
}

export interface WebSocketServerOptions<Data = unknown> extends Partial<ServerLimits> {
  /**
   * Attach to this server. Without it (and without noServer), one is created on `port`. An
   * HTTP/2 server (node:http2) also takes WebSockets over HTTP/2 (RFC 8441), and HTTP/1.1
   * upgrades too when it was created with allowHTTP1.
   */
  server?: HttpServer | HttpsServer | Http2Server | Http2SecureServer;
  port?: number;
  host?: string;
  /** Only accept upgrades passed to handleUpgrade() by hand. */
  noServer?: boolean;
  /** The endpoint's path (exact, query ignored). Default: every path no other endpoint claims. */
  path?: string;
  /**
   * Subprotocol selection: a preference list (the first one the client offered wins) or a function
   * of the client's offers returning one of them, or undefined for none.
   */
  protocols?: readonly string[] | ((offered: string[], req: IncomingMessage) => string | undefined);
  /** Allowed Origin values, or a predicate; others get 403. Default: any origin. */
  origins?: readonly string[] | ((origin: string | undefined) => boolean);
  /** Runs before the 101; may be async. Rejects with any status, or accepts with data. */
  verify?: (req: IncomingMessage, info: HandshakeInfo) => VerifyResult<Data> | Promise<VerifyResult<Data>>;
  /** Extensions to negotiate (permessage-deflate is one). */
  extensions?: readonly ServerExtension[];
  /** Shortcut: negotiate permessage-deflate (RFC 7692) with these options (true: the defaults). */
  perMessageDeflate?: boolean | PerMessageDeflateServerOptions;
}

export interface WebSocketServerEvents<Data> {
  connection: [ws: WebSocketConnection<Data>, req: IncomingMessage];
  listening: [];
  error: [error: Error];
  close: [];
}

export interface CloseOptions {
  code?: number;
  reason?: string;
  /** How long to wait for closing handshakes before dropping what remains, ms. */
  timeout?: number;
}

/** The transport-neutral parts of an opening handshake request. @internal */
export interface HandshakeRequest {
  req: IncomingMessage;
  protocols: string[];
  extensions: ExtensionOffer[];
  origin: string | undefined;
  path: string;
}

/** What a handshake decided, whatever the transport. @internal */
export type HandshakeDecision<Data> =
  | {
      accept: true;
      protocol: string;
      extensions: NegotiatedExtensions;
      data: Data | undefined;
      headers: Record<string, string | string[]> | undefined;
    }
  | { accept: false; status: number; reason: string; headers?: Record<string, string | string[]> };

function rejection<Data>(status: number, reason: string, headers?: Record<string, string | string[]>): HandshakeDecision<Data> {
  return headers === undefined ? { accept: false, status, reason } : { accept: false, status, reason, headers };
}

export class WebSocketServer<Data = unknown>
  extends EventEmitter<WebSocketServerEvents<Data>>
  implements UpgradeEndpoint, ConnectionOwner, Tickable
{
  readonly path: string | undefined;
  readonly clients = new Set<WebSocketConnection<Data>>();
  /** The HTTP server this endpoint is attached to (null with noServer). */
  readonly httpServer: HttpServer | HttpsServer | Http2Server | Http2SecureServer | null;
  private readonly dispatcher: UpgradeDispatcher | null;
  private readonly limits: ServerLimits;
  private readonly options: WebSocketServerOptions<Data>;
  private readonly extensions: readonly ServerExtension[];
  private handshakes = 0;
  /**
   * Upgrade sockets (and HTTP/2 streams) waiting for a decision (an async verify): close() drops
   * them at its deadline. @internal
   */
  readonly undecided = new Set<Duplex>();
  private closing: Promise<void> | null = null;
  private nextHeartbeat = 0;

  constructor(options: WebSocketServerOptions<Data> = {}) {
    super();
    this.options = options;
    this.path = options.path;
    this.limits = resolveLimits<ServerLimits>(options, SERVER_LIMIT_NAMES, DEFAULT_LIMITS);
    this.extensions = withPerMessageDeflate(options.extensions, options.perMessageDeflate, perMessageDeflate);
    if (options.noServer) {
      this.httpServer = null;
      this.dispatcher = null;
      return;
    }
    let own = false;
    if (options.server !== undefined) {
      this.httpServer = options.server;
      applyHeadLimits(options.server, options);
    } else {
      if (options.port === undefined) throw new TypeError('Give one of: port, server, noServer');
      this.httpServer = createServer();
      own = true;
    }
    this.dispatcher = dispatcherFor(this.httpServer);
    if (own) this.dispatcher.ownsServer = true;
    this.dispatcher.add(this);
    if (own) {
      // Our own server serves nothing but this endpoint: its listening socket takes WebSocket
      // handshakes on a fast path and hands everything else to the node:http server.
      const listener = (this.listener = createUpgradeListener(this.httpServer as HttpServer, this.limits, () => this.clients.size + this.handshakes));
      listener.on('error', (error) => this.emit('error', error));
      listener.listen(options.port, options.host, () => this.emit('listening'));
    }
  }

  /**
   * The listening socket of a server this endpoint created (null when attached): WebSocket
   * handshakes are read here; other connections are passed to `httpServer`.
   */
  listener: UpgradeListener | null = null;

  /** The listening address (port is useful with port: 0). */
  address(): ReturnType<HttpServer['address']> {
    return this.listener?.address() ?? this.httpServer?.address() ?? null;
  }

  /**
   * Runs the opening handshake on an upgrade request routed here by hand (or by the dispatcher).
   * On success emits 'connection' and calls `callback` with the new connection.
   */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    callback?: (ws: WebSocketConnection<Data>, req: IncomingMessage) => void,
  ): void {
    socket.on('error', destroyOnError);
    if (this.closing !== null) return refuse(socket, 503, 'The server is shutting down');
    const check = checkUpgradeRequest(req);
    if (!check.ok) return refuse(socket, check.status, check.reason, check.headers);
    const request = { req, protocols: check.protocols, extensions: check.extensions, origin: check.origin, path: pathOf(req.url) };
    this.undecided.add(socket);
    this.negotiate(request, (decision) => {
      this.undecided.delete(socket);
      // readableEnded: the peer hung up while verify ran; its FIN was read before any connection
      // listened for 'end', so accepting would leave a zombie connection holding a slot.
      if (socket.destroyed || !socket.writable || socket.readableEnded) {
        if (decision.accept) decision.extensions.codec?.release();
        return void socket.destroy();
      }
      if (!decision.accept) return refuse(socket, decision.status, decision.reason, decision.headers);
      let response: string;
      try {
        response = buildAcceptResponse(check.key, decision.protocol, decision.extensions.header, decision.headers);
      } catch (error) {
        decision.extensions.codec?.release();
        return refuse(socket, 500, (error as Error).message);
      }
      socket.removeListener('error', destroyOnError);
      const tcp = socket as Duplex & { setNoDelay?(on: boolean): void; setTimeout?(ms: number): void };
      tcp.setNoDelay?.(true);
      tcp.setTimeout?.(0);
      socket.write(response);
      this.adopt(socket, req, decision, head, callback);
    });
  }

  /**
   * RFC 8441: runs the opening handshake of a WebSocket over an HTTP/2 extended CONNECT stream
   * (`:protocol websocket`) routed here by hand (or by the router of an HTTP/2 server). Over
   * HTTP/2, `req` is an ExtendedConnectRequest (method CONNECT, httpVersion '2.0', url, headers,
   * socket, stream).
   */
  handleStream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    callback?: (ws: WebSocketConnection<Data>, req: IncomingMessage) => void,
  ): void {
    acceptWebSocketStream(this, stream, headers, callback);
  }

  /**
   * The transport-neutral part of an opening handshake, shared by HTTP/1.1 and HTTP/2: shutdown,
   * connection limit, origin, subprotocol, the verify hook, then extensions. Calls `decide` once,
   * synchronously unless verify is async. An accepted decision owns a codec: release it if the
   * transport is gone. @internal
   */
  negotiate(request: HandshakeRequest, decide: (decision: HandshakeDecision<Data>) => void): void {
    if (this.closing !== null) return decide(rejection(503, 'The server is shutting down'));
    if (this.clients.size + this.handshakes >= this.limits.maxConnections) {
      return decide(rejection(503, 'Too many connections', { 'Retry-After': '5' }));
    }
    const origins = this.options.origins;
    if (origins !== undefined) {
      const allowed = typeof origins === 'function' ? origins(request.origin) : request.origin !== undefined && origins.includes(request.origin);
      if (!allowed) return decide(rejection(403, 'Origin not allowed'));
    }
    let protocol: string;
    try {
      protocol = this.selectProtocol(request.protocols, request.req);
    } catch (error) {
      return decide(rejection(500, (error as Error).message));
    }
    const verify = this.options.verify;
    if (verify === undefined) return decide(this.acceptance(request, protocol, undefined, undefined));
    const info: HandshakeInfo = { protocols: request.protocols, protocol, origin: request.origin, path: request.path };
    this.handshakes++;
    let result: VerifyResult<Data> | Promise<VerifyResult<Data>>;
    try {
      result = verify(request.req, info);
    } catch (error) {
      this.handshakes--;
      return decide(rejection(500, 'Handshake verification failed'));
    }
    const finish = (outcome: VerifyResult<Data>): void => {
      this.handshakes--;
      if (outcome === false) return decide(rejection(403, 'Forbidden'));
      if (outcome === undefined || outcome === true) return decide(this.acceptance(request, protocol, undefined, undefined));
      if (outcome.accept === false) return decide(rejection(outcome.status, outcome.body ?? '', outcome.headers));
      decide(this.acceptance(request, protocol, outcome.data, outcome.headers));
    };
    if (result instanceof Promise) {
      result.then(finish, () => {
        this.handshakes--;
        decide(rejection(500, 'Handshake verification failed'));
      });
    } else {
      finish(result);
    }
  }

  private acceptance(
    request: HandshakeRequest,
    protocol: string,
    data: Data | undefined,
    headers: Record<string, string | string[]> | undefined,
  ): HandshakeDecision<Data> {
    if (this.closing !== null) return rejection(503, 'The server is shutting down');
    return { accept: true, protocol, extensions: negotiateExtensions(request.extensions, this.extensions), data, headers };
  }

  private selectProtocol(offered: string[], req: IncomingMessage): string {
    const choice = this.options.protocols;
    if (choice === undefined || offered.length === 0) return '';
    if (typeof choice === 'function') {
      const picked = choice(offered, req);
      if (picked === undefined || picked === '') return '';
      // RFC 6455 §4.2.2: the server may only select a protocol the client offered.
      if (!offered.includes(picked)) throw new Error(`Selected subprotocol "${picked}" was not offered by the client`);
      return picked;
    }
    for (const candidate of choice) if (offered.includes(candidate)) return candidate;
    return '';
  }

  /**
   * Runs an accepted handshake's connection over `transport`, whose success response has been
   * sent: registers it, emits 'connection', then feeds the bytes that came with the handshake.
   * @internal
   */
  adopt(
    transport: Duplex,
    req: IncomingMessage,
    decision: HandshakeDecision<Data> & { accept: true },
    head: Buffer,
    callback: ((ws: WebSocketConnection<Data>, req: IncomingMessage) => void) | undefined,
    abortTransport?: (transport: Duplex) => void,
  ): WebSocketConnection<Data> {
    const limits = this.limits;
    const ws = createConnection<Data>(
      transport,
      {
        role: 'server',
        maxPayload: limits.maxPayload,
        maxFragments: limits.maxFragments,
        closeTimeout: limits.closeTimeout,
        highWaterMark: limits.highWaterMark,
        protocol: decision.protocol,
        extensions: decision.extensions.header,
        codec: decision.extensions.codec,
        owner: this,
        abortTransport,
      },
      decision.data,
    );
    this.clients.add(ws);
    if (this.clients.size === 1 && (limits.pingInterval > 0 || limits.idleTimeout > 0)) watch(this);
    callback?.(ws, req);
    this.emit('connection', ws, req);
    receiveHead(ws, head);
    return ws;
  }

  /** @internal Called by a connection when its transport has closed. */
  connectionClosed(ws: WebSocketConnection<Data>): void {
    this.clients.delete(ws);
    if (this.clients.size === 0) unwatch(this);
  }

  /** @internal Heartbeat: ping quiet peers, close silent ones. */
  tick(now: number): void {
    if (now < this.nextHeartbeat) return;
    this.nextHeartbeat = now + heartbeatPeriod(this.limits);
    for (const ws of this.clients) heartbeat(ws, now, this.limits);
  }

  /**
   * Sends one message to every open connection (or those `filter` accepts). The frame is built
   * once and the same bytes are written to every socket.
   */
  broadcast(data: SendableData, options?: { binary?: boolean; filter?: (ws: WebSocketConnection<Data>) => boolean }): void {
    const payload = toBuffer(data);
    const isBinary = options?.binary ?? typeof data !== 'string';
    const filter = options?.filter;
    const frame = unmaskedFrame(isBinary ? Opcode.Binary : Opcode.Text, payload);
    for (const ws of this.clients) {
      if (filter !== undefined && !filter(ws)) continue;
      sendPrepared(ws, frame, payload, isBinary);
    }
  }

  /**
   * Graceful shutdown: stop accepting, close every connection with 1001 (or `code`), wait for the
   * closing handshakes up to `timeout`, then drop what remains. Closes an HTTP server it created.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.closing !== null) return this.closing;
    const { code = CloseCode.GoingAway, reason = 'Server shutting down', timeout = this.limits.closeTimeout } = options;
    // The endpoint stays registered until shutdown is over, so upgrades arriving meanwhile get
    // handleUpgrade's 503 rather than falling through to other routes (or the app's 200).
    const own = this.dispatcher?.ownsServer === true;
    this.closing = new Promise<void>((resolve) => {
      const pending: Promise<void>[] = [];
      for (const ws of this.clients) {
        pending.push(new Promise<void>((done) => ws.once('close', () => done())));
        ws.close(code, reason);
      }
      const timer = setTimeout(() => {
        for (const ws of this.clients) ws.terminate();
        // A verify hook that never settles must not hold the shutdown (or the socket) forever.
        for (const socket of this.undecided) socket.destroy();
        // A server we created serves nothing else: HTTP connections still open at the deadline
        // (a request never finished, e.g. slowloris) would otherwise hold close() for minutes.
        if (own) {
          (this.httpServer as HttpServer).closeAllConnections?.();
          this.listener!.dropIncomplete();
        }
      }, timeout);
      const httpClosed = own
        ? new Promise<void>((done) => {
            // The listener's callback runs once every connection it accepted has ended.
            this.listener!.close(() => done());
            (this.httpServer as HttpServer).closeIdleConnections?.();
          })
        : Promise.resolve();
      void Promise.all([...pending, httpClosed]).then(() => {
        this.dispatcher?.remove(this);
        clearTimeout(timer);
        unwatch(this);
        this.emit('close');
        resolve();
      });
    });
    return this.closing;
  }
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}
