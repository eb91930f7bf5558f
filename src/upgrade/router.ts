// The upgrade router: one per Node.js server, it routes HTTP/1.1 `Upgrade` requests (RFC 9110
// §7.8) and HTTP/2 extended CONNECT streams (RFC 8441 §4, where :protocol carries the same
// Upgrade token) to handlers registered by protocol token and path.
//
// HTTP/1.1 rules applied here:
// - an upgrade needs `Connection: upgrade` (RFC 9110 §7.6.1); Node.js only reports requests that
//   have it, the rest are plain requests;
// - the client's offers are tried in its order; the first token with a handler for the path
//   that accepts the request wins, and the handler answers 101 naming that token;
// - when no handler takes the request, it is answered normally: it is replayed to the server's
//   own HTTP/1.1 machinery without the `upgrade` connection option, so the application's
//   request handlers see it (body, keep-alive and all), as if no Upgrade had been sent;
// - a path that only speaks an upgraded protocol (`required`) answers plain requests with 426
//   and an Upgrade header listing the protocols it needs (RFC 9110 §15.5.22).

import * as http from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Http2SecureServer, Http2Server, IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { hasToken, isToken } from '../protocol/http-tokens.js';
import { unwatch, watch, type Tickable } from '../util/ticker.js';
import { destroyOnError, refuse, respondWithError } from './respond.js';

export { refuse };
import { isProtocolName, parseUpgradeHeader, type UpgradeOffer } from './upgrade-header.js';

export type { UpgradeOffer } from './upgrade-header.js';

/** Any Node.js server that can carry upgrades: HTTP/1.1 (plain or TLS) or HTTP/2. */
export type UpgradeCapableServer = HttpServer | HttpsServer | Http2Server | Http2SecureServer;

export interface UpgradeHandler {
  /**
   * Whether this handler switches this request. Returning false declines it: the router tries the
   * client's next offer, then answers the request normally. Default: every request is taken.
   */
  accepts?(req: IncomingMessage, offer: UpgradeOffer): boolean;
  /**
   * Owns the connection from here: answer `101 Switching Protocols` with `Upgrade: <token>` and
   * `Connection: Upgrade` (RFC 9110 §7.8), or a complete HTTP error response.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, offer: UpgradeOffer): void;
  /**
   * HTTP/2: an extended CONNECT stream whose :protocol names this handler's token (RFC 8441 §4).
   * Without it the protocol is HTTP/1.1-only and such streams get 501.
   */
  handleStream?(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void;
}

export interface RouteOptions {
  /** Exact path, query ignored. Omitted: every path that no other route of this token claims. */
  path?: string;
  /** The path speaks nothing else: plain HTTP/1.1 requests to it get 426 with Upgrade: token. */
  required?: boolean;
}

interface Route {
  token: string;
  path: string | undefined;
  handler: UpgradeHandler;
  required: boolean;
}

interface TokenRoutes {
  paths: Map<string, Route>;
  fallback: Route | null;
}

const routers = new WeakMap<UpgradeCapableServer, UpgradeRouter>();

/** The router of `server`, created (and hooked into the server's events) on first use. */
export function upgradeRouterFor(server: UpgradeCapableServer): UpgradeRouter {
  let router = routers.get(server);
  if (router === undefined) {
    router = new UpgradeRouter();
    router.attach(server);
  }
  return router;
}

/** The path of a request target, without its query. */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

export class UpgradeRouter {
  /** Set when Upshift created the server: nothing else answers, so unrouted requests get 404. */
  ownsServer = false;
  private readonly tokens = new Map<string, TokenRoutes>();
  /** Every route, in registration order (the order of preference for 426 answers). */
  private readonly routes: Route[] = [];
  private readonly http2Servers = new Set<Http2Server | Http2SecureServer>();

  /**
   * Routes the upgrades and extended CONNECT streams of `server` through this router. A router
   * can serve several servers (an HTTP/1.1 server and the HTTP/2 server behind its h2c upgrade).
   */
  attach(server: UpgradeCapableServer): void {
    const existing = routers.get(server);
    if (existing === this) return;
    if (existing !== undefined) throw new Error('This server already has an upgrade router');
    routers.set(server, this);
    const router = this;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => router.routeUpgrade(server, req, socket, head));
    // Plain requests to upgrade-only paths, and extended CONNECT streams for registered tokens,
    // are answered before the application's own listeners see them.
    const emit = server.emit as (this: UpgradeCapableServer, event: string | symbol, ...args: unknown[]) => boolean;
    // Fixed parameters, and `arguments` handed straight to apply(): a rest parameter and a spread
    // would build two arrays for every event (each handshake's 'upgrade' among them), while V8's
    // optimizing compiler forwards `arguments` used only this way without creating it. No other
    // use of `arguments` here: any would make it a real object again.
    server.emit = function (this: UpgradeCapableServer, event: string | symbol, a?: unknown, b?: unknown, _c?: unknown, d?: unknown): boolean {
      if (event === 'request' && router.answerPlainRequest(a as IncomingMessage, b as ServerResponse)) return true;
      // 'stream': (stream, headers, flags, rawHeaders).
      if (event === 'stream' && router.routeStream(a as ServerHttp2Stream, b as IncomingHttpHeaders, d as string[] | undefined)) {
        return true;
      }
      if (event === 'error' && this.listenerCount('error') === 0) {
        // emit() throws an 'error' nobody listens for, and Node's report of it names emit()'s
        // caller: this wrapper. Emitted on the next tick through the original itself, a port in
        // use reads as Node's own error, not as one from the router. ('error' has one argument.)
        process.nextTick(emit.bind(this), event, a);
        return false;
      }
      return emit.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
    } as typeof server.emit;
    if (isHttp2Server(server)) {
      this.http2Servers.add(server);
      server.on('session', watchSession);
      if (this.routes.some((route) => route.handler.handleStream !== undefined)) advertiseConnectProtocol(server);
    }
  }

  /**
   * Registers `handler` for the upgrade protocol `token` (case-insensitive) on one path, or on
   * every path no other route of that token claims. Throws if the place is taken.
   */
  register(token: string, handler: UpgradeHandler, options: RouteOptions = {}): void {
    if (typeof token !== 'string' || !isProtocolName(token)) throw new TypeError(`Invalid upgrade token: ${JSON.stringify(token)}`);
    const name = token.toLowerCase();
    let table = this.tokens.get(name);
    if (table === undefined) {
      table = { paths: new Map(), fallback: null };
      this.tokens.set(name, table);
    }
    const route: Route = { token: name, path: options.path, handler, required: options.required ?? false };
    if (route.path === undefined) {
      if (table.fallback !== null) throw new Error(`Another endpoint already takes every path on this server (Upgrade: ${name})`);
      table.fallback = route;
    } else {
      if (table.paths.has(route.path)) throw new Error(`An endpoint is already registered for ${route.path} (Upgrade: ${name})`);
      table.paths.set(route.path, route);
    }
    this.routes.push(route);
    if (handler.handleStream !== undefined) for (const server of this.http2Servers) advertiseConnectProtocol(server);
  }

  /** Removes a registration made with register(); unknown handlers are ignored. */
  unregister(token: string, handler: UpgradeHandler): void {
    const name = token.toLowerCase();
    const table = this.tokens.get(name);
    if (table === undefined) return;
    const index = this.routes.findIndex((route) => route.token === name && route.handler === handler);
    if (index === -1) return;
    const [route] = this.routes.splice(index, 1);
    if (route!.path === undefined) table.fallback = null;
    else table.paths.delete(route!.path);
    if (table.fallback === null && table.paths.size === 0) this.tokens.delete(name);
  }

  // ------------------------------------------------------------------ HTTP/1.1

  private routeUpgrade(server: UpgradeCapableServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Until a handler takes over, a socket error must not crash the process (a socket from the
    // upgrade listener has this listener already).
    if (socket.listenerCount('error', destroyOnError) === 0) socket.on('error', destroyOnError);
    const path = pathOf(req.url);
    // RFC 9110 §7.8: Upgrade is a connection option; without `Connection: upgrade` it is ignored.
    // (Node.js only emits 'upgrade' with it, but a server can be fed by hand.)
    if (hasToken(req.headers.connection, 'upgrade')) {
      const upgrade = req.headers.upgrade;
      // `Upgrade: websocket` as nearly every client sends it: its one offer, without parsing a list.
      if (upgrade === 'websocket' || upgrade === 'WebSocket') {
        if (this.offer(req, socket, head, path, { name: 'websocket', version: '', raw: upgrade })) return;
      } else {
        const offers = parseUpgradeHeader(upgrade);
        for (let i = 0; i < offers.length; i++) if (this.offer(req, socket, head, path, offers[i]!)) return;
      }
    }
    // RFC 9110 §7.8: a server may ignore Upgrade; the request is then served as if it had none.
    answerNormally(server, req, socket, head);
  }

  /** Hands the request to the route of `offer` at `path`, if there is one and it accepts. */
  private offer(req: IncomingMessage, socket: Duplex, head: Buffer, path: string, offer: UpgradeOffer): boolean {
    const table = this.tokens.get(offer.name);
    // A protocol not served at this path is one this server does not speak here.
    const route = table === undefined ? null : (table.paths.get(path) ?? table.fallback);
    if (route === null) return false;
    if (route.handler.accepts !== undefined && !route.handler.accepts(req, offer)) return false;
    route.handler.handleUpgrade(req, socket, head, offer);
    return true;
  }

  /** Answers 426 to a plain request for an upgrade-only path; false if the request is not ours. */
  private answerPlainRequest(req: IncomingMessage, res: ServerResponse): boolean {
    // Upgrade does not exist in HTTP/2 (RFC 9113 §8.6): those requests belong to the application.
    if (req.httpVersionMajor !== 1) return false;
    const path = pathOf(req.url);
    let required = this.routes.filter((route) => route.required && route.path === path);
    if (required.length === 0 && this.ownsServer) required = this.routes.filter((route) => route.required && route.path === undefined);
    if (required.length === 0) {
      if (!this.ownsServer) return false;
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
      return true;
    }
    const tokens = [...new Set(required.map((route) => route.token))];
    const names = tokens.map(displayName).join(' or ');
    // RFC 9110 §15.5.22: 426 names the protocols to upgrade to, in order of preference.
    res.writeHead(426, {
      Upgrade: tokens.join(', '),
      // Upgrade needs the upgrade connection option (RFC 9110 §7.8); a client that asked to
      // close still gets its close.
      Connection: res.shouldKeepAlive ? 'Upgrade' : 'Upgrade, close',
      'Content-Type': 'text/plain; charset=utf-8',
    });
    res.end(`This endpoint only speaks ${names}: send an Upgrade: ${tokens[0]} request.\n`);
    return true;
  }

  // ------------------------------------------------------------------ HTTP/2

  /** Routes an extended CONNECT stream; false if it is not for a registered protocol. */
  private routeStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[] | undefined): boolean {
    const protocol = headers[':protocol'];
    if (typeof protocol !== 'string' || headers[':method'] !== 'CONNECT') return false;
    const table = this.tokens.get(protocol.toLowerCase());
    // Protocols nobody registered are the application's business.
    if (table === undefined) return false;
    stream.on('error', ignoreError);
    const path = pathOf(headers[':path'] as string | undefined);
    const route = table.paths.get(path) ?? table.fallback;
    if (route === null || route === undefined) {
      respondWithError(stream, 404, `No ${displayName(protocol.toLowerCase())} endpoint at ${path}`);
      return true;
    }
    if (route.handler.handleStream === undefined) {
      respondWithError(stream, 501, `${protocol} is not available over HTTP/2 here`);
      return true;
    }
    route.handler.handleStream(stream, headers, rawHeaders ?? []);
    return true;
  }
}

function displayName(token: string): string {
  return token === 'websocket' ? 'WebSocket' : token;
}

function isHttp2Server(server: UpgradeCapableServer): server is Http2Server | Http2SecureServer {
  return typeof (server as Partial<Http2Server>).updateSettings === 'function';
}

/** RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, for every session the server starts from now on. */
function advertiseConnectProtocol(server: Http2Server | Http2SecureServer): void {
  server.updateSettings({ enableConnectProtocol: true });
}

// ------------------------------------------------------------------ HTTP/2 sessions

// Node's HTTP/2 server stops reading a session's socket once nghttp2 has sent GOAWAY for a
// connection error (a rapid reset, CVE-2023-44487, among others), and so never sees the client
// close TCP: the session, its streams and its file descriptor stay for good. On servers with a
// router, sessions are nudged to read now and then: one that reads anyway is unaffected (libuv
// refuses a second start), a stopped one reads the client's FIN, and Node closes it as usual.
// Node also stops reading while a write waits (backpressure): sessions with bytes waiting to be
// written are left alone, so a client that does not read cannot make the server read for it.
const NUDGE_INTERVAL_MS = 1000;
const sessions = new Set<ServerHttp2Session>();
let nextNudge = 0;
const nudger: Tickable = {
  tick(now: number): void {
    if (now < nextNudge) return;
    nextNudge = now + NUDGE_INTERVAL_MS;
    for (const session of sessions) nudge(session);
  },
};

function watchSession(session: ServerHttp2Session): void {
  if (sessions.size === 0) watch(nudger);
  sessions.add(session);
  session.once('close', () => {
    sessions.delete(session);
    if (sessions.size === 0) unwatch(nudger);
  });
}

function nudge(session: ServerHttp2Session): void {
  if (session.destroyed) return;
  try {
    // session.socket forwards reads of other properties to the real socket.
    const handle = (session.socket as { _handle?: { readStart?(): number; writeQueueSize?: number } | null })._handle;
    if (handle == null || (handle.writeQueueSize ?? 0) > 0) return;
    handle.readStart?.();
  } catch {
    // The socket is gone already; Node is closing the session.
  }
}

function ignoreError(): void {
  // The stream is destroyed by Node.js after an error; nothing is left to do.
}


/**
 * The head of a `101 Switching Protocols` response naming the protocol switched to (RFC 9110
 * §15.2.2, §7.8), with optional extra header lines. Throws TypeError for an invalid token.
 */
export function switchingProtocols(protocol: string, extraHeaders: Record<string, string> = {}): string {
  if (!isProtocolName(protocol)) throw new TypeError(`Invalid upgrade token: ${JSON.stringify(protocol)}`);
  let out = `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n`;
  for (const [name, value] of Object.entries(extraHeaders)) {
    if (!isToken(name) || /[\r\n\0]/.test(value)) throw new TypeError(`Invalid header: ${name}`);
    out += `${name}: ${value}\r\n`;
  }
  return out + '\r\n';
}

// ------------------------------------------------------------------ answering normally

type ConnectionListener = (this: UpgradeCapableServer, socket: Duplex) => void;
const httpConnectionListener = (http as unknown as { _connectionListener?: ConnectionListener })._connectionListener;

/**
 * Answers an upgrade request the server declines as a plain HTTP/1.1 request (RFC 9110 §7.8: a
 * server may ignore Upgrade). Node.js has already detached its parser from the socket, so the
 * request head is rebuilt without the `upgrade` connection option (so it is not an upgrade
 * again) and fed, with the bytes that followed it, to a fresh HTTP/1.1 parser on the same socket.
 */
export function answerNormally(server: UpgradeCapableServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const tcp = socket as Socket;
  if (tcp.destroyed || !tcp.readable || !tcp.writable || httpConnectionListener === undefined) {
    // Without the HTTP machinery there is nothing to answer with but the socket itself.
    if (!tcp.destroyed && tcp.writable) refuse(socket, 501, 'Upgrade not supported');
    else tcp.destroy();
    return;
  }
  socket.removeListener('error', destroyOnError);
  const replay = Buffer.from(requestHeadWithoutUpgrade(req), 'latin1');
  socket.unshift(head.length > 0 ? Buffer.concat([replay, head]) : replay);
  httpConnectionListener.call(server, socket);
}

/** The request head as received, minus the `upgrade` option of Connection (RFC 9110 §7.6.1). */
export function requestHeadWithoutUpgrade(req: IncomingMessage): string {
  let out = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    let value = raw[i + 1]!;
    if (name.toLowerCase() === 'connection') {
      value = value
        .split(',')
        .map((option) => option.trim())
        .filter((option) => option !== '' && option.toLowerCase() !== 'upgrade')
        .join(', ');
      if (value === '') continue;
    }
    out += `${name}: ${value}\r\n`;
  }
  return out + '\r\n';
}
