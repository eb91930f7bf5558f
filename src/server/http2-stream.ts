// The server side of RFC 8441: a WebSocket on an HTTP/2 extended CONNECT stream. The handshake
// decision is the endpoint's own (the policy of src/protocol/server-handshake.ts, then the verify
// hook), exactly as over HTTP/1.1; only the request check and the answer differ: :status
// 200 instead of 101, refusals as ordinary HTTP/2 responses. The stream then carries the same
// WebSocketConnection: closing ends the stream with END_STREAM, an abnormal drop resets it with
// CANCEL (RFC 8441 §5), and the session's other streams are untouched.

import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { HTTP2_HEADER_STATUS } from '../util/http2.js';
import type { Socket } from 'node:net';
import type { ConnectionCallback, HandshakeEndpoint, HandshakeRequest } from './endpoint.js';
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
export class ExtendedConnectRequest implements HandshakeRequest {
  readonly method = 'CONNECT';
  readonly httpVersion = '2.0';
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;

  /** Made by the server from a request that passed checkExtendedConnectRequest. */
  constructor(
    /** The stream the WebSocket runs on. */
    readonly stream: ServerHttp2Stream,
    /** Header fields, names lowercased, pseudo-headers (:path, :authority, …) included. */
    readonly headers: IncomingHttpHeaders,
    /** The request target (:path), query included. */
    readonly url: string,
    /** :authority (or Host). */
    readonly authority: string,
    readonly scheme: 'http' | 'https',
    /**
     * The session's socket (remoteAddress, encrypted, getPeerCertificate…). Node.js refuses
     * reads and writes on it: the session owns it.
     */
    readonly socket: Socket,
  ) {}

  /** Alias of socket, as on IncomingMessage. */
  get connection(): Socket {
    return this.socket;
  }

  /** The header fields as an alternating name/value list (a repeated field once per value). */
  get rawHeaders(): string[] {
    const raw: string[] = [];
    for (const [name, value] of Object.entries(this.headers)) {
      if (Array.isArray(value)) for (const item of value) raw.push(name, item);
      else if (value !== undefined) raw.push(name, value);
    }
    return raw;
  }
}

/**
 * Runs the opening handshake of a WebSocket over `stream` for `endpoint`. The request the
 * application sees (verify hook, 'connection') is an ExtendedConnectRequest.
 */
export function acceptWebSocketStream<Data>(
  endpoint: HandshakeEndpoint<Data>,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  callback: ConnectionCallback<Data, ExtendedConnectRequest> | undefined,
): void {
  // A reset during the handshake must not crash the process; the connection adds its own later.
  stream.on('error', ignoreError);
  const check = checkExtendedConnectRequest(headers);
  if (!check.ok) {
    endpoint.refused(stream, check.status, check.reason, 'request', pathOf(headers[':path'] as string | undefined), stream.session?.socket?.remoteAddress);
    return respondWithError(stream, check.status, check.reason, check.headers);
  }
  // A stream routed by hand after its session ended has no one to answer.
  const session = stream.session;
  if (session === undefined) return;
  const req = new ExtendedConnectRequest(stream, headers, check.path, check.authority, check.scheme, session.socket);
  const offer = { protocols: check.protocols, extensions: check.extensions, origin: check.origin, path: pathOf(check.path) };
  endpoint.decide(stream, offer, req, (decision) => {
    if (stream.destroyed || stream.closed || stream.readableEnded) {
      if (decision.ok) decision.extensions.codec?.release();
      return;
    }
    if (!decision.ok) return respondWithError(stream, decision.status, decision.reason, decision.headers);
    // RFC 8441 §5: a 2xx opens the tunnel; no Sec-WebSocket-Accept (the :protocol replaces it).
    const response: OutgoingHttpHeaders = toHttp2Headers(decision.headers, {});
    response[HTTP2_HEADER_STATUS] = 200;
    if (decision.protocol !== '') response['sec-websocket-protocol'] = decision.protocol;
    if (decision.extensions.header !== '') response['sec-websocket-extensions'] = decision.extensions.header;
    try {
      stream.respond(response, { endStream: false });
    } catch (error) {
      // An invalid header name or value from the verify hook.
      decision.extensions.codec?.release();
      endpoint.refused(stream, 500, (error as Error).message, 'response', offer.path, session.socket?.remoteAddress);
      return respondWithError(stream, 500, (error as Error).message);
    }
    endpoint.adopt(stream, req, decision, EMPTY, callback, cancelStream);
  });
}

function ignoreError(): void {
  // Node.js destroys the stream after an error; the WebSocketConnection (if any) reports it.
}
