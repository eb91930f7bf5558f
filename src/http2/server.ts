// The server side of RFC 8441: a WebSocket on an HTTP/2 extended CONNECT stream. The handshake
// decision is the WebSocketServer's own (negotiate(): origin, subprotocol, verify hook, limits,
// extensions), exactly as over HTTP/1.1; only the request check and the answer differ: :status
// 200 instead of 101, refusals as ordinary HTTP/2 responses. The stream then carries the same
// WebSocketConnection: closing ends the stream with END_STREAM, an abnormal drop resets it with
// CANCEL (RFC 8441 §5), and the session's other streams are untouched.

import type { IncomingMessage } from 'node:http';
import { constants, Http2ServerRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { WebSocketConnection } from '../connection/websocket-connection.js';
import type { WebSocketServer } from '../server/websocket-server.js';
import { pathOf } from '../upgrade/router.js';
import { checkExtendedConnectRequest } from './extended-connect.js';
import { respondWithError, toHttp2Headers } from './respond.js';

const EMPTY = Buffer.alloc(0);

/** RFC 8441 §5: an abnormal closure of the WebSocket resets its stream with CANCEL. */
export function cancelStream(transport: Duplex): void {
  const stream = transport as ServerHttp2Stream;
  if (stream.destroyed) return;
  if (typeof stream.close === 'function' && !stream.closed) stream.close(constants.NGHTTP2_CANCEL);
  else stream.destroy();
}

/** Node's headers object as the alternating name/value list of rawHeaders. */
function flattenHeaders(headers: IncomingHttpHeaders): string[] {
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) raw.push(name, item);
    else raw.push(name, String(value));
  }
  return raw;
}

/**
 * Runs the opening handshake of a WebSocket over `stream` for `wss`. Over HTTP/2 the request the
 * application sees (verify hook, 'connection') is an http2.Http2ServerRequest: headers, url
 * (the :path), method 'CONNECT', httpVersion '2.0' and socket work as on an IncomingMessage.
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
  const req = new Http2ServerRequest(stream, headers, {}, flattenHeaders(headers)) as unknown as IncomingMessage;
  const request = { req, protocols: check.protocols, extensions: check.extensions, origin: check.origin, path: pathOf(check.path) };
  wss.negotiate(request, (decision) => {
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
