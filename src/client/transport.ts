// What the connect() pipeline asks of a transport (HTTP/1.1 upgrade, HTTP/2 extended CONNECT):
// send one opening handshake request, report the response head, hand over the stream. Everything
// else (options, redirects, timeouts, checks, the connection) is the pipeline's.

import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { RequestHeaders } from '../protocol/client-handshake.js';

/** One handshake request. */
export interface HandshakeRequest {
  url: URL;
  /** The application's headers (checked by checkRequestHeaders). */
  headers: RequestHeaders;
  protocols: readonly string[];
  /** The Sec-WebSocket-Extensions offer, '' for none. */
  extensions: string;
  origin: string | undefined;
  /** Sec-WebSocket-Key (HTTP/1.1 only; RFC 8441 §5 drops it). */
  key: string;
  tls: TlsOptions | undefined;
}

/** The server opened the stream (101 over HTTP/1.1, 2xx over HTTP/2); it is the caller's now. */
export interface OpenedResponse {
  status: number;
  /** "1.1", "2.0". */
  httpVersion: string;
  headers: IncomingHttpHeaders;
  transport: Duplex;
  /** Bytes that came after the response head (HTTP/1.1), to be parsed as frames. */
  head: Buffer;
  /** How to drop the transport abnormally (an HTTP/2 stream is reset, not its session). */
  abortTransport?: (transport: Duplex) => void;
}

/** Any other answer; `body` is its content, to read (a little of) or cancel. */
export interface RefusedResponse {
  status: number;
  httpVersion: string;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/**
 * Called once, synchronously from the transport's own event, so that an opened transport is
 * adopted before any of its events can be missed.
 */
export interface HandshakeListener {
  opened(response: OpenedResponse): void;
  refused(response: RefusedResponse): void;
  /** No HTTP answer: the connection or the session failed (a HandshakeError). */
  failed(error: Error): void;
}

export interface HandshakeAttempt {
  /** Stops the request, or the refusal's body; idempotent; no listener call follows. */
  cancel(): void;
}

export type Transport = (request: HandshakeRequest, listener: HandshakeListener) => HandshakeAttempt;
