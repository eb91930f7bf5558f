// The h2c upgrade (RFC 7540 §3.2): a cleartext HTTP/1.1 connection switches to HTTP/2 when the
// client sends `Upgrade: h2c` with `HTTP2-Settings`, and the request that carried the upgrade is
// answered as stream 1. Opt-in: RFC 9113 §3.1 deprecates it, but curl --http2 and nghttp -u
// still speak it.
//
// Node's http2 cannot take over a connection mid-way (nghttp2's session_upgrade is not exposed),
// so the server replays the start of an ordinary HTTP/2 connection into a session on the same
// socket: after the 101 it waits for the client's connection preface and first SETTINGS frame,
// then hands the socket to an HTTP/2 server with these bytes put back in front of it:
//   preface · the client's SETTINGS · HEADERS(stream 1, END_STREAM) rebuilt from the HTTP/1.1
//   request · whatever followed.
// The client's SETTINGS frame (which nghttp2-based clients fill with the same values as
// HTTP2-Settings) is the one applied and acknowledged, so the client sees exactly one ACK.

import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import { http2 } from '../util/http2.js';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { switchingProtocols, upgradeRouterFor, type UpgradeHandler, type UpgradeOffer } from './router.js';
import { decodeHttp2Settings, encodeHeaderBlock, headersFrames, readClientPreface } from './h2c-frames.js';

export interface H2cOptions {
  /**
   * The HTTP/2 server whose handlers serve upgraded connections (created with
   * http2.createServer()). Default: an internal one that gives every HTTP/2 request to the
   * HTTP/1.1 server's own 'request' listeners, as http2.Http2ServerRequest / Http2ServerResponse.
   */
  http2Server?: Http2Server;
  /** How long to wait after the 101 for the client's connection preface, ms. Default 10 s. */
  prefaceTimeout?: number;
}

// RFC 9113 §8.2.2: connection-specific fields do not exist in HTTP/2; Host becomes :authority.
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host']);

/**
 * The HTTP/1.1 request that carried the upgrade, as the header fields of HTTP/2 stream 1
 * (RFC 7540 §3.2: it is answered on that stream).
 */
export function upgradeRequestFields(req: IncomingMessage): [string, string][] {
  let authority = typeof req.headers.host === 'string' ? req.headers.host : undefined;
  let path = req.url ?? '/';
  // Absolute-form targets carry the authority themselves (RFC 9112 §3.2.2).
  if (/^http:\/\//i.test(path)) {
    try {
      const target = new URL(path);
      authority = target.host;
      path = target.pathname + target.search;
    } catch {
      // Left as sent; the HTTP/2 layer judges it.
    }
  }
  const fields: [string, string][] = [
    [':method', req.method ?? 'GET'],
    [':scheme', 'http'],
  ];
  if (authority !== undefined) fields.push([':authority', authority]);
  fields.push([':path', path]);
  // Fields named by Connection are hop-by-hop too (RFC 9110 §7.6.1).
  const hopByHop = new Set(NOT_FORWARDED);
  const connection = req.headers.connection;
  if (typeof connection === 'string') for (const option of connection.split(',')) hopByHop.add(option.trim().toLowerCase());
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (hopByHop.has(name)) continue;
    // RFC 9113 §8.2.2: TE may only carry "trailers".
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') continue;
    fields.push([name, value]);
  }
  return fields;
}

/** Whether a request carries a body: h2c requests with one are answered over HTTP/1.1. */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/** The upgrade handler for the `h2c` token; register it with an HTTP/1.1 server's router. */
export class H2cUpgradeHandler implements UpgradeHandler {
  private readonly prefaceTimeout: number;

  constructor(
    readonly http2Server: Http2Server,
    options: { prefaceTimeout?: number } = {},
  ) {
    this.prefaceTimeout = options.prefaceTimeout ?? 10_000;
  }

  accepts(req: IncomingMessage, offer: UpgradeOffer): boolean {
    // RFC 7540 §3.2: the token is "h2c" without a version, only on cleartext HTTP/1.1.
    if (offer.version !== '' || req.httpVersion !== '1.1') return false;
    if ((req.socket as { encrypted?: boolean }).encrypted === true) return false;
    // RFC 7540 §3.2.1: exactly one well-formed HTTP2-Settings, or no upgrade.
    if (decodeHttp2Settings(req.headers['http2-settings']) === null) return false;
    // A request body would have to be read over HTTP/1.1 first (RFC 7540 §3.2); such requests
    // are simply answered over HTTP/1.1 (RFC 9110 §7.8 lets a server ignore Upgrade).
    return !hasBody(req);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const tcp = socket as Socket;
    let block: Buffer;
    try {
      block = headersFrames(1, encodeHeaderBlock(upgradeRequestFields(req)), true);
    } catch {
      tcp.destroy();
      return;
    }
    tcp.write(switchingProtocols('h2c'));
    let received = head;
    const cleanup = (): void => {
      clearTimeout(timer);
      tcp.removeListener('data', onData);
      tcp.removeListener('end', onGone);
      tcp.removeListener('close', onGone);
    };
    const onGone = (): void => {
      cleanup();
      tcp.destroy();
    };
    const timer = setTimeout(onGone, this.prefaceTimeout);
    timer.unref();
    const check = (): void => {
      const preface = readClientPreface(received);
      if (preface.state === 'incomplete') return;
      cleanup();
      if (preface.state === 'invalid') {
        tcp.destroy();
        return;
      }
      tcp.pause();
      const settings = received.subarray(0, preface.length);
      const rest = received.subarray(preface.length);
      tcp.unshift(Buffer.concat([settings, block, rest]));
      this.http2Server.emit('connection', tcp);
    };
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      check();
    };
    tcp.on('data', onData);
    tcp.on('end', onGone);
    tcp.on('close', onGone);
    // Bytes that came with the request head are judged at once: a few bytes of garbage cannot
    // be the start of the preface, and need not wait for the preface timeout.
    if (received.length > 0) check();
  }
}

/**
 * Lets the HTTP/1.1 server `server` answer `Upgrade: h2c` (RFC 7540 §3.2) by switching the
 * connection to HTTP/2. Returns the HTTP/2 server that runs upgraded connections. Closing
 * `server` (close(), closeIdleConnections(), closeAllConnections()) closes them too.
 */
export function enableH2c(server: HttpServer, options: H2cOptions = {}): Http2Server {
  const http2Server = options.http2Server ?? forwardingServer(server);
  const sessions = new Set<ServerHttp2Session>();
  http2Server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  // Node's http.Server.close() calls closeIdleConnections(); upgraded sockets are no longer the
  // HTTP/1.1 server's to close, so close their sessions here: gracefully (GOAWAY, streams in
  // flight finish) or at once.
  const closeIdle = server.closeIdleConnections;
  const closeAll = server.closeAllConnections;
  server.closeIdleConnections = function (this: HttpServer): void {
    for (const session of sessions) session.close();
    closeIdle.call(this);
  };
  server.closeAllConnections = function (this: HttpServer): void {
    for (const session of sessions) session.destroy();
    closeAll.call(this);
  };
  upgradeRouterFor(server).register('h2c', new H2cUpgradeHandler(http2Server, options));
  return http2Server;
}

/** An HTTP/2 server that hands its requests to the HTTP/1.1 server's 'request' listeners. */
function forwardingServer(server: HttpServer): Http2Server {
  const http2Server = http2().createServer();
  http2Server.on('request', (req, res) => {
    server.emit('request', req, res);
  });
  return http2Server;
}
