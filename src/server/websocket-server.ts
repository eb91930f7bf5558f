// A WebSocket endpoint on a node:http(s) server (or node:http2, RFC 8441). It keeps the
// orchestration only: the decisions are the pure policy of src/protocol/server-handshake.ts, the
// wire work is the transport adapters' (./http1-upgrade.ts, ./http2-stream.ts), which get a small
// internal interface (./endpoint.ts) rather than this class. What stays here: running the
// (possibly async) verify hook, counting handshakes and connections, heartbeats, shutdown. It can
// create its own HTTP server, attach to an existing one (plain HTTP keeps working on the same
// port), or be fed upgrades by hand (handleUpgrade).

import { EventEmitter } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Http2SecureServer, Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { applyHeadLimits, createUpgradeListener, type UpgradeListener } from './upgrade-listener.js';
import { CloseCode } from '../protocol/close-codes.js';
import type { ServerExtension } from '../protocol/extensions.js';
import {
  perMessageDeflate,
  withPerMessageDeflate,
  type PerMessageDeflateServerOptions,
} from '../extensions/permessage-deflate/index.js';
import {
  admit,
  conclude,
  handshakeInfo,
  PLAIN_VERDICT,
  readVerifyResult,
  VERIFY_FAILED,
  type Acceptance,
  type EndpointState,
  type HandshakeDecision,
  type HandshakeInfo,
  type HandshakeOffer,
  type HandshakePolicy,
  type Refusal,
  type Verdict,
  type VerifyResult,
} from '../protocol/server-handshake.js';
import { SharedMessage } from '../protocol/shared-message.js';
import {
  createConnection,
  receiveHead,
  type ConnectionOptions,
  sendShared,
  type ConnectionOwner,
  type ConnectionTopics,
  type SlowConsumerPolicy,
  type TopicHub,
  type WebSocketConnection,
} from '../connection/websocket-connection.js';
import type { PublishedMessage } from '../pubsub/hub.js';
import { defaultTopicHub, hubFor, publishOn, type PubSubOption } from './topics.js';
import { toBuffer, type SendableData } from '../connection/sendable.js';
import { unwatch, watch, type Tickable } from '../util/ticker.js';
import { checkOptionNames } from '../util/options.js';
import { heartbeat, heartbeatPeriod } from '../connection/heartbeat.js';
import { dispatcherFor, type UpgradeDispatcher } from './upgrade-dispatcher.js';
import { DEFAULT_LIMITS, resolveLimits, SERVER_LIMIT_NAMES, type ServerLimits } from '../connection/limits.js';
import type { ConnectionCallback, HandshakeEndpoint, HandshakeRequest } from './endpoint.js';
import { acceptUpgrade } from './http1-upgrade.js';
import { acceptWebSocketStream, type ExtendedConnectRequest } from './http2-stream.js';
import {
  handshakeAcceptedChannel,
  handshakeRefusedChannel,
  transportKind,
  type HandshakeRefusalRecord,
  type RefusalStage,
  type TrafficCounters,
  type WebSocketTransport,
} from '../connection/diagnostics.js';
import { pathOf } from '../upgrade/router.js';

export type { HandshakeInfo, VerifyResult } from '../protocol/server-handshake.js';
export type { HandshakeRequest } from './endpoint.js';
export type { HandshakeRefusalRecord } from '../connection/diagnostics.js';

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
  protocols?: readonly string[] | ((offered: string[], req: HandshakeRequest) => string | undefined);
  /** Allowed Origin values, or a predicate; others get 403. Default: any origin. */
  origins?: readonly string[] | ((origin: string | undefined) => boolean);
  /** Runs before the 101; may be async. Rejects with any status, or accepts with data. */
  verify?: (req: HandshakeRequest, info: HandshakeInfo) => VerifyResult<Data> | PromiseLike<VerifyResult<Data>>;
  /** Extensions to negotiate (permessage-deflate is one). */
  extensions?: readonly ServerExtension[];
  /** Shortcut: negotiate permessage-deflate (RFC 7692) with these options (true: the defaults). */
  perMessageDeflate?: boolean | PerMessageDeflateServerOptions;
  /**
   * Topics: default, the process-wide hub shared by every server without this option. A Hub
   * (createTopicHub) to share one between chosen servers, or `{ adapter, syntax, maxLength,
   * maxLevels }` for a hub of this server's own (closed with it), e.g. on redisAdapter().
   */
  pubsub?: PubSubOption;
  /**
   * A subscriber with maxPublishBuffer bytes buffered: 'drop' skips the message for it (counted),
   * 'close' closes it with 1013. Default 'drop'.
   */
  slowConsumers?: SlowConsumerPolicy;
}

export interface WebSocketPublishOptions<Data = unknown> {
  /** Send as binary; default: strings are text, everything else binary. */
  binary?: boolean;
  /**
   * Default true: subscribers with permessage-deflate get it compressed (once per compressor kind,
   * when it is at least the server's threshold). false: uncompressed to all, on every node (the
   * flag crosses the broker).
   */
  compress?: boolean;
  /** Every subscriber but this one (publish to all but the sender). */
  except?: WebSocketConnection<Data>;
}

// Every option name, checked at compile time against WebSocketServerOptions (limits apart).
const OPTION_NAMES: Record<Exclude<keyof WebSocketServerOptions, keyof ServerLimits>, true> = {
  server: true,
  port: true,
  host: true,
  noServer: true,
  path: true,
  protocols: true,
  origins: true,
  verify: true,
  extensions: true,
  perMessageDeflate: true,
  pubsub: true,
  slowConsumers: true,
};
const KNOWN_OPTIONS: ReadonlySet<string> = new Set([...Object.keys(OPTION_NAMES), ...SERVER_LIMIT_NAMES]);

// What a `ws` user reaches for, and what it is here. An unknown option throws rather than being
// ignored: a silently dropped verifyClient would accept every client unauthenticated.
const WS_HINTS: Readonly<Record<string, string>> = {
  verifyClient: 'Use verify(req, info): it may be async, and returns true/false or { accept, status, headers }.',
  handleProtocols: 'Use protocols: a preference list, or (offered, req) => the chosen subprotocol.',
  clientTracking: 'Not needed: open connections are always tracked in wss.clients.',
  backlog: 'Not supported: create your own http.Server, call listen(port, host, backlog) on it and pass it as server.',
  skipUTF8Validation: 'Not supported: text messages are always checked to be UTF-8 (RFC 6455 §8.1 requires it).',
  autoPong: 'Not supported: pings are always answered with a pong (RFC 6455 §5.5.2).',
  allowSynchronousEvents: 'Not needed: messages are emitted as soon as they are parsed, as with ws by default.',
  WebSocket: 'Not supported: connections are WebSocketConnection; attach your own state with verify returning { accept: true, data }.',
};

export interface WebSocketServerEvents<Data> {
  connection: [ws: WebSocketConnection<Data>, req: HandshakeRequest];
  listening: [];
  error: [error: Error];
  close: [];
  /** A published message was dropped for a slow consumer (over maxPublishBuffer). */
  drop: [ws: WebSocketConnection<Data>, topic: string];
}

export interface StatsOptions {
  /** Topics whose subscriber counts to include: subscriberCount() of each (throws PubSubError for an invalid topic). */
  topics?: readonly string[];
}

/** A snapshot of a server's counters (wss.stats()): plain data, safe to keep or serialise. */
export interface WebSocketServerStats {
  /** ms since the epoch, and since the server was created. */
  readonly time: number;
  readonly uptimeMs: number;
  readonly connections: {
    /** Connections open now. */
    readonly open: number;
    readonly byTransport: Readonly<Record<WebSocketTransport, number>>;
  };
  readonly handshakes: {
    readonly accepted: number;
    readonly acceptedByTransport: Readonly<Record<WebSocketTransport, number>>;
    readonly refused: number;
    /** Refusals by HTTP status ('403', '426', …). */
    readonly refusedByStatus: Readonly<Record<string, number>>;
    readonly refusedByStage: Readonly<Record<RefusalStage, number>>;
    /** Handshakes waiting for the verify hook now. */
    readonly pending: number;
    /** The last refusals (at most 20), newest first. */
    readonly recent: readonly HandshakeRefusalRecord[];
  };
  /** Messages received and sent by this server's connections (broadcasts and publishes included). */
  readonly messages: { readonly in: number; readonly out: number };
  /** Payload bytes of those messages (before framing and compression). */
  readonly bytes: { readonly in: number; readonly out: number };
  readonly topics: {
    /** Published messages this server's connections dropped as slow consumers. */
    readonly dropped: number;
    /** Subscribers of the topics asked for in StatsOptions.topics, on every server of the hub. */
    readonly subscribers: Readonly<Record<string, number>>;
  };
}

/** How many refusals stats() lists. */
const RECENT_REFUSALS = 20;

export interface CloseOptions {
  code?: number;
  reason?: string;
  /** How long to wait for closing handshakes before dropping what remains, ms. */
  timeout?: number;
}

export class WebSocketServer<Data = unknown> extends EventEmitter<WebSocketServerEvents<Data>> {
  readonly path: string | undefined;
  readonly clients = new Set<WebSocketConnection<Data>>();
  /** The HTTP server this endpoint is attached to (null with noServer). */
  readonly httpServer: HttpServer | HttpsServer | Http2Server | Http2SecureServer | null;
  readonly #dispatcher: UpgradeDispatcher | null;
  readonly #limits: ServerLimits;
  readonly #verify: WebSocketServerOptions<Data>['verify'];
  readonly #policy: HandshakePolicy<HandshakeRequest>;
  /** Handshakes admitted whose verify hook has not settled. */
  #handshakes = 0;
  /** Upgrade sockets (and HTTP/2 streams) waiting for verify: close() drops them at its deadline. */
  readonly #undecided = new Set<Duplex>();
  /** Set during shutdown: called once no handshake is waiting for verify. */
  #allDecided: (() => void) | null = null;
  #closing: Promise<void> | null = null;
  #nextHeartbeat = 0;
  readonly #hub: TopicHub;
  readonly #ownsHub: boolean;
  readonly #topics: ConnectionTopics;
  #dropped = 0;
  /**
   * The listening socket of a server this endpoint created (null when attached): WebSocket
   * handshakes are read here; other connections are passed to `httpServer`.
   */
  #listener: UpgradeListener | null = null;
  /** What the transport adapters see of this endpoint. */
  readonly #endpoint: HandshakeEndpoint<Data> = {
    decide: (transport, offer, req, decided) => this.#decide(transport, offer, req, decided),
    decideNow: (transport, offer, req) => this.#decideNow(transport, offer, req),
    adopt: (transport, req, decision, head, callback, abortTransport) => this.#adopt(transport, req, decision, head, callback, abortTransport),
    refused: (transport, status, reason, stage, path, remoteAddress) => this.#refused(transportKind(transport), status, reason, stage, path, remoteAddress),
  };
  readonly #started = Date.now();
  /** Bumped by every connection of this server (see ConnectionOwner). */
  readonly #traffic: TrafficCounters = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
  readonly #accepted: Record<WebSocketTransport, number> = { 'http/1.1': 0, h2: 0, h2c: 0 };
  readonly #refusedByStage: Record<RefusalStage, number> = { request: 0, policy: 0, verify: 0, response: 0, listener: 0 };
  readonly #refusedByStatus: Record<string, number> = {};
  #recentRefusals: HandshakeRefusalRecord[] = [];
  /** Told by each connection when its transport has closed. */
  readonly #owner: ConnectionOwner = {
    connectionClosed: (ws) => {
      this.clients.delete(ws);
      if (this.clients.size === 0) unwatch(this.#heartbeats);
    },
    counters: this.#traffic,
  };
  /** Heartbeat on the shared ticker: ping quiet peers, close silent ones. */
  readonly #heartbeats: Tickable = {
    tick: (now) => {
      if (now < this.#nextHeartbeat) return;
      this.#nextHeartbeat = now + heartbeatPeriod(this.#limits);
      for (const ws of this.clients) heartbeat(ws, now, this.#limits);
    },
  };

  constructor(options: WebSocketServerOptions<Data> = {}) {
    super();
    checkOptionNames('new WebSocketServer()', options, KNOWN_OPTIONS, WS_HINTS);
    this.path = options.path;
    this.#limits = resolveLimits<ServerLimits>(options, SERVER_LIMIT_NAMES, DEFAULT_LIMITS);
    this.#verify = options.verify;
    const slowConsumers = options.slowConsumers ?? 'drop';
    if (slowConsumers !== 'drop' && slowConsumers !== 'close') throw new TypeError(`slowConsumers must be 'drop' or 'close', got ${String(slowConsumers)}`);
    const { hub, owned } = hubFor(options.pubsub);
    this.#hub = hub;
    this.#ownsHub = owned;
    this.#topics = {
      hub,
      maxPublishBuffer: this.#limits.maxPublishBuffer,
      policy: slowConsumers,
      dropped: (ws, message) => this.#droppedFor(ws, message),
    };
    this.#policy = {
      origins: options.origins,
      protocols: options.protocols,
      extensions: withPerMessageDeflate(options.extensions, options.perMessageDeflate, perMessageDeflate),
      maxConnections: this.#limits.maxConnections,
    };
    if (options.noServer) {
      this.httpServer = null;
      this.#dispatcher = null;
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
    this.#dispatcher = dispatcherFor(this.httpServer);
    if (own) this.#dispatcher.ownsServer = true;
    this.#dispatcher.add(this);
    if (own) {
      // Our own server serves nothing but this endpoint: its listening socket takes WebSocket
      // handshakes on a fast path and hands everything else to the node:http server.
      const listener = (this.#listener = createUpgradeListener(
        this.httpServer as HttpServer,
        this.#limits,
        () => this.clients.size + this.#handshakes,
        (socket, status, reason) => this.#refused('http/1.1', status, reason, 'listener', '', socket.remoteAddress),
      ));
      listener.on('error', (error) => this.emit('error', error));
      listener.listen(options.port, options.host, () => this.emit('listening'));
    }
  }

  /** The listening address (port is useful with port: 0). */
  address(): ReturnType<HttpServer['address']> {
    return this.#listener?.address() ?? this.httpServer?.address() ?? null;
  }

  /**
   * Runs the opening handshake on an upgrade request routed here by hand (or by the server's
   * upgrade router). On success emits 'connection' and calls `callback` with the new connection
   * and the request given.
   */
  handleUpgrade<Req extends HandshakeRequest>(
    req: Req,
    socket: Duplex,
    head: Buffer,
    callback?: (ws: WebSocketConnection<Data>, req: Req) => void,
  ): void {
    acceptUpgrade(this.#endpoint, req, socket, head, callback);
  }

  /**
   * RFC 8441: runs the opening handshake of a WebSocket over an HTTP/2 extended CONNECT stream
   * (`:protocol websocket`) routed here by hand (or by the router of an HTTP/2 server). The
   * request the application sees is an ExtendedConnectRequest.
   */
  handleStream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    callback?: (ws: WebSocketConnection<Data>, req: ExtendedConnectRequest) => void,
  ): void {
    acceptWebSocketStream(this.#endpoint, stream, headers, callback);
  }

  /** Connection options for transports dropped by destroy() (HTTP/1.1), and by abortTransport (HTTP/2). */
  #plainOptions: ConnectionOptions | null = null;
  #abortOptions: ConnectionOptions | null = null;

  /** The state a decision reads, in one object refreshed per read: the policy keeps none of it. */
  readonly #stateNow: EndpointState = { closing: false, connections: 0, handshakes: 0 };

  #state(): EndpointState {
    const state = this.#stateNow;
    state.closing = this.#closing !== null;
    state.connections = this.clients.size;
    state.handshakes = this.#handshakes;
    return state;
  }

  #decide(transport: Duplex, offer: HandshakeOffer, req: HandshakeRequest, decided: (decision: HandshakeDecision<Data>) => void): void {
    const verify = this.#verify;
    if (verify === undefined) decided(this.#decideNow(transport, offer, req)!);
    else this.#verifyThenDecide(verify, transport, offer, req, decided);
  }

  #decideNow(transport: Duplex, offer: HandshakeOffer, req: HandshakeRequest): HandshakeDecision<Data> | null {
    if (this.#verify !== undefined) return null;
    const admitted = admit(this.#policy, this.#state(), offer, req);
    if (!admitted.ok) return this.#refusal(transport, offer, req, admitted, 'policy');
    const decision = conclude(this.#policy, this.#state(), offer, admitted.protocol, PLAIN_VERDICT);
    return decision.ok ? decision : this.#refusal(transport, offer, req, decision, 'policy');
  }

  /**
   * The verify hook's path, in a method of its own: its closures capture the handshake, and V8
   * makes the context they share on entry to the function that declares them, taken or not.
   */
  #verifyThenDecide(
    verify: NonNullable<WebSocketServerOptions<Data>['verify']>,
    transport: Duplex,
    offer: HandshakeOffer,
    req: HandshakeRequest,
    decided: (decision: HandshakeDecision<Data>) => void,
  ): void {
    const admitted = admit(this.#policy, this.#state(), offer, req);
    if (!admitted.ok) return decided(this.#refusal(transport, offer, req, admitted, 'policy'));
    const { protocol } = admitted;
    const refuse = (refusal: Refusal, stage: RefusalStage): void => decided(this.#refusal(transport, offer, req, refusal, stage));
    // The handshake holds a slot (maxConnections) and a place in the shutdown until it settles.
    this.#handshakes++;
    this.#undecided.add(transport);
    const settle = (verdict: Verdict<Data> | Refusal): void => {
      this.#handshakes--;
      this.#undecided.delete(transport);
      // A shutdown waiting for this one goes on once the answer below is written.
      if (this.#undecided.size === 0) this.#allDecided?.();
      if (!verdict.ok) return refuse(verdict, 'verify');
      const decision = conclude(this.#policy, this.#state(), offer, protocol, verdict);
      if (decision.ok) decided(decision);
      else refuse(decision, 'policy');
    };
    let result: VerifyResult<Data> | PromiseLike<VerifyResult<Data>>;
    try {
      result = verify(req, handshakeInfo(offer, protocol));
    } catch {
      return settle(VERIFY_FAILED);
    }
    if (isPromiseLike(result)) {
      Promise.resolve(result).then(
        (outcome) => settle(readVerifyResult<Data>(outcome)),
        () => settle(VERIFY_FAILED),
      );
    } else {
      settle(readVerifyResult<Data>(result));
    }
  }

  /** Counts (and publishes) a refused handshake; returns the refusal. */
  #refusal(transport: Duplex, offer: HandshakeOffer, req: HandshakeRequest, refusal: Refusal, stage: RefusalStage): Refusal {
    this.#refused(transportKind(transport), refusal.status, refusal.reason, stage, offer.path, req.socket?.remoteAddress);
    return refusal;
  }

  #adopt<Req extends HandshakeRequest>(
    transport: Duplex,
    req: Req,
    decision: Acceptance<Data>,
    head: Buffer,
    callback: ConnectionCallback<Data, Req> | undefined,
    abortTransport?: (transport: Duplex) => void,
  ): void {
    const limits = this.#limits;
    const options = this.#connectionOptions(abortTransport);
    options.protocol = decision.protocol;
    options.extensions = decision.extensions.header;
    options.codec = decision.extensions.codec;
    const ws = createConnection<Data>(transport, options, decision.data);
    // The shared options must not keep the codec (nor the connection) alive.
    options.codec = null;
    this.clients.add(ws);
    const kind = transportKind(transport);
    this.#accepted[kind]++;
    if (handshakeAcceptedChannel.hasSubscribers) {
      handshakeAcceptedChannel.publish({
        server: this,
        connection: ws,
        request: req,
        path: pathOf(req.url),
        protocol: ws.protocol,
        extensions: ws.extensions,
        transport: kind,
      });
    }
    if (this.clients.size === 1 && (limits.pingInterval > 0 || limits.idleTimeout > 0)) watch(this.#heartbeats);
    callback?.(ws, req);
    this.emit('connection', ws, req);
    receiveHead(ws, head);
  }

  /**
   * The options of this server's connections, one object per transport kind, refilled with each
   * connection's protocol, extensions and codec: createConnection() reads them while it runs and
   * keeps none of them (it shares the settings between connections itself), so one object serves
   * every connection rather than a new one of a dozen fields per handshake.
   */
  #connectionOptions(abortTransport: ((transport: Duplex) => void) | undefined): ConnectionOptions {
    let options = abortTransport === undefined ? this.#plainOptions : this.#abortOptions;
    if (options === null || options.abortTransport !== abortTransport) {
      const limits = this.#limits;
      options = {
        role: 'server',
        maxPayload: limits.maxPayload,
        maxFragments: limits.maxFragments,
        closeTimeout: limits.closeTimeout,
        highWaterMark: limits.highWaterMark,
        maxUnansweredPings: limits.maxUnansweredPings,
        protocol: '',
        extensions: '',
        codec: null,
        owner: this.#owner,
        abortTransport,
        topics: this.#topics,
      };
      if (abortTransport === undefined) this.#plainOptions = options;
      else this.#abortOptions = options;
    }
    return options;
  }

  /** Counts (and publishes) a refused handshake. */
  #refused(transport: WebSocketTransport, status: number, reason: string, stage: RefusalStage, path: string, remoteAddress: string | undefined): void {
    this.#refusedByStage[stage]++;
    this.#refusedByStatus[status] = (this.#refusedByStatus[status] ?? 0) + 1;
    const record: HandshakeRefusalRecord = { time: Date.now(), status, reason, stage, path, remoteAddress, transport };
    const recent = this.#recentRefusals;
    if (recent.length === RECENT_REFUSALS) recent.pop();
    recent.unshift(record);
    if (handshakeRefusedChannel.hasSubscribers) handshakeRefusedChannel.publish({ server: this, ...record });
  }

  /**
   * A snapshot of this server's counters: connections, handshakes (and the recent refusals),
   * messages and payload bytes, dropped publishes, subscribers of the topics asked for. Counting
   * costs a few additions per message; the snapshot itself visits the open connections once.
   */
  stats(options?: StatsOptions): WebSocketServerStats {
    const byTransport: Record<WebSocketTransport, number> = { 'http/1.1': 0, h2: 0, h2c: 0 };
    for (const ws of this.clients) byTransport[transportKind(ws.rawTransport)]++;
    const accepted = this.#accepted;
    const byStage = this.#refusedByStage;
    const subscribers: Record<string, number> = {};
    for (const topic of options?.topics ?? []) subscribers[topic] = this.#hub.countMatches(topic);
    const traffic = this.#traffic;
    const now = Date.now();
    return {
      time: now,
      uptimeMs: now - this.#started,
      connections: { open: this.clients.size, byTransport },
      handshakes: {
        accepted: accepted['http/1.1'] + accepted.h2 + accepted.h2c,
        acceptedByTransport: { ...accepted },
        refused: byStage.request + byStage.policy + byStage.verify + byStage.response + byStage.listener,
        refusedByStatus: { ...this.#refusedByStatus },
        refusedByStage: { ...byStage },
        pending: this.#handshakes,
        recent: this.#recentRefusals.slice(),
      },
      messages: { in: traffic.messagesIn, out: traffic.messagesOut },
      bytes: { in: traffic.bytesIn, out: traffic.bytesOut },
      topics: { dropped: this.#dropped, subscribers },
    };
  }

  /**
   * Sends one message to every open connection (or those `filter` accepts). The frame is built
   * once and the same bytes are written to every socket; peers with permessage-deflate get it
   * compressed, once per compressor kind (`compress: false`: uncompressed to all).
   */
  broadcast(data: SendableData, options?: { binary?: boolean; compress?: boolean; filter?: (ws: WebSocketConnection<Data>) => boolean }): void {
    const payload = toBuffer(data);
    const isBinary = options?.binary ?? typeof data !== 'string';
    const filter = options?.filter;
    const message = new SharedMessage(payload, isBinary, options?.compress ?? true);
    for (const ws of this.clients) {
      if (filter !== undefined && !filter(ws)) continue;
      sendShared(ws, message);
    }
  }

  /**
   * Publishes on a topic: every subscriber of it (or of a filter matching it) on every server of
   * this hub gets it, and so do the other processes when the hub has a broker adapter. Framed once
   * for all local subscribers. Returns how many connections of this process it was written to
   * (slow consumers that dropped it not counted). Throws PubSubError for an invalid topic.
   */
  publish(topic: string, data: SendableData, options?: WebSocketPublishOptions<Data>): number {
    return publishOn(this.#hub, topic, data, options);
  }

  /**
   * Publishes on the process-wide hub (the one shared by servers without a `pubsub` option),
   * from anywhere in the process: no server needed at hand.
   */
  static publish(topic: string, data: SendableData, options?: WebSocketPublishOptions): number {
    return publishOn(defaultTopicHub(), topic, data, options);
  }

  /** Connections of this process (on every server sharing the hub) a publish on `topic` would reach. */
  subscriberCount(topic: string): number {
    return this.#hub.countMatches(topic);
  }

  /**
   * The hub: topics of this process, broker status ('broker-up', 'broker-down' events) and stats.
   * Shared with the other servers that use the same hub.
   */
  get pubsub(): TopicHub {
    return this.#hub;
  }

  /** Published messages this server's connections dropped as slow consumers. */
  get droppedMessages(): number {
    return this.#dropped;
  }

  #droppedFor(ws: WebSocketConnection<any>, message: PublishedMessage<SharedMessage>): void {
    this.#dropped++;
    if (this.listenerCount('drop') > 0) this.emit('drop', ws as WebSocketConnection<Data>, message.topic);
  }

  /**
   * Graceful shutdown: stop accepting, close every connection with 1001 (or `code`), wait for the
   * closing handshakes up to `timeout`, then drop what remains. Closes an HTTP server it created.
   * Returns a promise, or, as `ws` does, calls `callback` once done.
   */
  close(callback: (error?: Error) => void): void;
  close(options: CloseOptions | undefined, callback: (error?: Error) => void): void;
  close(options?: CloseOptions): Promise<void>;
  close(first?: CloseOptions | ((error?: Error) => void), second?: (error?: Error) => void): Promise<void> | void {
    const [options, callback] = typeof first === 'function' ? [undefined, first] : [first, second];
    if (callback !== undefined && typeof callback !== 'function') throw new TypeError('close(): the callback must be a function');
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError('close(): options must be an object');
    const closed = this.#shutdown(options ?? {});
    if (callback === undefined) return closed;
    void closed.then(() => callback());
  }

  #shutdown(options: CloseOptions): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    const { code = CloseCode.GoingAway, reason = 'Server shutting down', timeout = this.#limits.closeTimeout } = options;
    // The endpoint stays registered until shutdown is over, so upgrades arriving meanwhile get
    // a 503 rather than falling through to other routes (or the app's 200).
    const own = this.#dispatcher?.ownsServer === true;
    const listener = this.#listener;
    this.#closing = new Promise<void>((resolve) => {
      const pending: Promise<void>[] = [];
      for (const ws of this.clients) {
        pending.push(new Promise<void>((done) => ws.once('close', () => done())));
        ws.close(code, reason);
      }
      // Handshakes in verify are answered (503) when it settles; until then the endpoint stays
      // registered, so new upgrades get 503 too rather than reaching the application.
      if (this.#undecided.size > 0) pending.push(new Promise<void>((done) => (this.#allDecided = done)));
      const timer = setTimeout(() => {
        for (const ws of this.clients) ws.terminate();
        // A verify hook that never settles must not hold the shutdown (or the socket) forever.
        for (const transport of this.#undecided) transport.destroy();
        this.#undecided.clear();
        this.#allDecided?.();
        // A server we created serves nothing else: HTTP connections still open at the deadline
        // (a request never finished, e.g. slowloris) would otherwise hold close() for minutes.
        if (own) {
          (this.httpServer as HttpServer).closeAllConnections?.();
          listener?.dropIncomplete();
        }
      }, timeout);
      const httpClosed =
        own && listener !== null
          ? new Promise<void>((done) => {
              // The listener's callback runs once every connection it accepted has ended.
              listener.close(() => done());
              (this.httpServer as HttpServer).closeIdleConnections?.();
            })
          : Promise.resolve();
      void Promise.all([...pending, httpClosed]).then(() => {
        this.#allDecided = null;
        this.#dispatcher?.remove(this);
        clearTimeout(timer);
        unwatch(this.#heartbeats);
        const hubClosed = this.#ownsHub ? this.#hub.close().catch(() => {}) : Promise.resolve();
        void hubClosed.then(() => {
          this.emit('close');
          resolve();
        });
      });
    });
    return this.#closing;
  }
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
