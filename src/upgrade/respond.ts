// Refusals of upgrades, on either transport: a complete HTTP/1.1 error response on a raw upgrade
// socket, or an ordinary HTTP/2 response on an extended CONNECT stream (RFC 8441 §4) that is not
// going to carry a tunnel.

import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { HTTP2_HEADER_CONTENT_LENGTH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_STATUS, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } from '../util/http2.js';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { buildErrorResponse } from '../protocol/handshake.js';

// RFC 9113 §8.2.2: connection-specific fields must not appear in HTTP/2 (nghttp2 would refuse
// them), and the body's framing is HTTP/2's own.
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'content-length',
  'content-type',
]);

/** Application headers for an HTTP/2 response: names lowercased, connection-specific ones dropped. */
export function toHttp2Headers(headers: Record<string, string | string[]> | undefined, into: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  if (headers === undefined) return into;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith(':') || CONNECTION_SPECIFIC.has(lower)) continue;
    into[lower] = headers[name];
  }
  return into;
}

/**
 * Ends `stream` with a plain-text refusal. The status must be 300–599: a 2xx answer to CONNECT
 * would open the tunnel (RFC 9110 §9.3.6) and HTTP/2 has no 101 (RFC 9113 §8.6). Invalid
 * statuses or headers from an application's verify hook become a 500.
 */
export function respondWithError(
  stream: ServerHttp2Stream,
  status: number,
  reason: string,
  headers?: Record<string, string | string[]>,
): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(NGHTTP2_CANCEL);
    return;
  }
  const valid = Number.isInteger(status) && status >= 300 && status <= 599;
  const body = Buffer.from(valid ? reason : 'Invalid handshake rejection', 'utf8');
  // stream.respond() adds Date itself (its sendDate option, on by default: RFC 9110 §6.6.1).
  const out: OutgoingHttpHeaders = {
    [HTTP2_HEADER_STATUS]: valid ? status : 500,
    [HTTP2_HEADER_CONTENT_TYPE]: 'text/plain; charset=utf-8',
    [HTTP2_HEADER_CONTENT_LENGTH]: body.length,
  };
  try {
    stream.respond(valid ? toHttp2Headers(headers, out) : out, { endStream: body.length === 0 });
  } catch {
    // An invalid header name or value from the application.
    if (stream.headersSent) return void stream.close(NGHTTP2_INTERNAL_ERROR);
    const fallback = Buffer.from(STATUS_CODES[500] ?? 'Internal Server Error');
    stream.respond({
      [HTTP2_HEADER_STATUS]: 500,
      [HTTP2_HEADER_CONTENT_TYPE]: 'text/plain; charset=utf-8',
      [HTTP2_HEADER_CONTENT_LENGTH]: fallback.length,
    });
    stream.end(fallback);
    return;
  }
  if (body.length > 0) stream.end(body);
}

/**
 * A complete HTTP/1.1 error response, dated (RFC 9110 §6.6.1: an origin server with a clock
 * sends Date). Invalid statuses or headers from an application's verify hook become a 500.
 */
export function errorResponse(status: number, reason: string, headers?: Record<string, string | string[]>): string {
  const date = new Date().toUTCString();
  try {
    return buildErrorResponse(status, reason, headers, date);
  } catch {
    return buildErrorResponse(500, 'Invalid handshake rejection', undefined, date);
  }
}

/** Writes a complete HTTP/1.1 error response on a raw upgrade socket and closes it. */
export function refuse(socket: Duplex, status: number, reason: string, headers?: Record<string, string | string[]>): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', destroySocket);
  socket.end(errorResponse(status, reason, headers));
}

function destroySocket(this: Duplex): void {
  this.destroy();
}

/**
 * The 'error' listener of an upgrade socket no one owns yet (an error only destroys it). One
 * shared function, so that whoever takes the socket over can remove it, wherever it was added.
 */
export function destroyOnError(this: Duplex): void {
  this.destroy();
}
