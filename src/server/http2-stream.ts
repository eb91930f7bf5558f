// The server side of RFC 8441: a WebSocket on an HTTP/2 extended CONNECT stream. The handshake
// decision is the WebSocketServer's own (negotiate(): origin, subprotocol, verify hook, limits,
// extensions), exactly as over HTTP/1.1; only the request check and the answer differ: :status
// 200 instead of 101, refusals as ordinary HTTP/2 responses. The stream then carries the same
// WebSocketConnection: closing ends the stream with END_STREAM, an abnormal drop resets it with
// CANCEL (RFC 8441 §5), and the session's other streams are untouched.

import type { IncomingMessage } from 'node:http';
import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocketConnection } from '../connection/websocket-connection.js';
import type { WebSocketServer } from './websocket-server.js';
import { pathOf } from '../upgrade/router.js';
import { checkExtendedConnectRequest } from '../protocol/extended-connect.js';
import { respondWithError, toHttp2Headers } from '../upgrade/respond.js';
import { cancelStream } from '../connection/transport.js';

const EMPTY = Buffer.alloc(0);


/**
 * The request the application sees (verify hook, protocols callback, 'connection') for a
 * WebSocket over HTTP/2: the IncomingMessage fields a handshake uses, read from the stream's
 * headers. Deliberately small (no Readable, no listeners on the stream): it lives as long as the
 * application keeps it, and costs nothing per connection otherwise.
 */
export class ExtendedConnectRequest {
  readonly method = 'CONNECT';
  readonly httpVersion = '2.0';
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;

  constructor(
    /** The stream the WebSocket runs on. */
    readonly stream: ServerHttp2Stream,
    /** Header fields, names lowercased, pseudo-headers (:path, :authority, …) included. */
    readonly headers: IncomingHttpHeaders,
  ) {}

  /** The request target (:path), query included. */
  get url(): string {
    return String(this.headers[':path'] ?? '/');
  }

  get authority(): string | undefined {
    const value = this.headers[':authority'] ?? this.headers.host;
    return typeof value === 'string' ? value : undefined;
  }

  get scheme(): string | undefined {
    const value = this.headers[':scheme'];
    return typeof value === 'string' ? value : undefined;
  }

  /**
   * The session's socket (remoteAddress, encrypted, getPeerCertificate…). Node.js refuses reads
   * and writes on it: the session owns it.
   */
  get socket(): Socket {
    return this.stream.session?.socket as Socket;
  }

  /** Alias of socket, as on IncomingMessage. */
  get connection(): Socket {
    return this.socket;
  }

  /** The header fields as an alternating name/value list. */
  get rawHeaders(): string[] {
    const raw: string[] = [];
    for (const [name, value] of Object.entries(this.headers)) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) raw.push(name, item);
      else raw.push(name, String(value));
    }
    return raw;
  }
}

/**
 * Runs the opening handshake of a WebSocket over `stream` for `wss`. The request the application
 * sees (verify hook, 'connection') is an ExtendedConnectRequest.
 */
export function acceptWebSocketStream<Data>(
  wss: WebSocketServer<Data>,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  callback?: (ws: WebSocketConnection<Data>, req: IncomingMessage) => void,
): void {
  // A reset during the handshake must not crash the process; the connection adds its own later.
  stream.on('error', ignoreError);
  const check = checkExtendedConnectRequest(headers);
  if (!check.ok) return respondWithError(stream, check.status, check.reason, check.headers);
  // Typed as the IncomingMessage of the public API; it has the fields a handshake reads.
  const req = new ExtendedConnectRequest(stream, headers) as unknown as IncomingMessage;
  const request = { req, protocols: check.protocols, extensions: check.extensions, origin: check.origin, path: pathOf(check.path) };
  wss.undecided.add(stream);
  wss.negotiate(request, (decision) => {
    wss.undecided.delete(stream);
    if (stream.destroyed || stream.closed || stream.readableEnded) {
      if (decision.accept) decision.extensions.codec?.release();
      return;
    }
    if (!decision.accept) return respondWithError(stream, decision.status, decision.reason, decision.headers);
    const response: OutgoingHttpHeaders = toHttp2Headers(decision.headers, {});
    response[constants.HTTP2_HEADER_STATUS] = 200;
    if (decision.protocol !== '') response['sec-websocket-protocol'] = decision.protocol;
    if (decision.extensions.header !== '') response['sec-websocket-extensions'] = decision.extensions.header;
    try {
      stream.respond(response, { endStream: false });
    } catch (error) {
      // An invalid header name or value from the verify hook.
      decision.extensions.codec?.release();
      return respondWithError(stream, 500, (error as Error).message);
    }
    wss.adopt(stream, req, decision, EMPTY, callback, cancelStream);
  });
}

function ignoreError(): void {
  // Node.js destroys the stream after an error; the WebSocketConnection (if any) reports it.
}
