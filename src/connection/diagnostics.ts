// Observability without a dependency: node:diagnostics_channel events (the way undici publishes
// `undici:websocket:open` and friends), and the plain counters a server keeps for wss.stats().
//
// Every channel is created once, here. Publishers check `hasSubscribers` first and build the
// payload only then: with nobody subscribed an event costs one property read.

import { channel } from 'node:diagnostics_channel';
import type { Duplex } from 'node:stream';
import type { WebSocketError } from '../protocol/errors.js';

/** The names of Upshift's diagnostics_channel channels (subscribe with diagnostics_channel.subscribe). */
export const DIAGNOSTICS_CHANNELS = Object.freeze({
  /** A server accepted an opening handshake: HandshakeAcceptedMessage. */
  handshakeAccepted: 'upshift:handshake:accepted',
  /** A server refused an opening handshake: HandshakeRefusedMessage. */
  handshakeRefused: 'upshift:handshake:refused',
  /** connect() (or the WebSocket client) completed an opening handshake: ClientHandshakeMessage. */
  clientHandshake: 'upshift:client:handshake',
  /** connect() (or the WebSocket client) failed its opening handshake: ClientHandshakeErrorMessage. */
  clientHandshakeError: 'upshift:client:handshake_error',
  /** A connection opened (either role): ConnectionOpenMessage. */
  open: 'upshift:connection:open',
  /** A connection's transport closed: ConnectionCloseMessage. */
  close: 'upshift:connection:close',
  /** The peer broke the protocol; the connection fails with error.closeCode: ProtocolErrorMessage. */
  protocolError: 'upshift:connection:protocol_error',
  /** bufferedAmount reached the high-water mark (send() returned false): BackpressureMessage. */
  backpressureHigh: 'upshift:connection:backpressure_high',
  /** bufferedAmount fell back under the high-water mark ('drain'): BackpressureMessage. */
  backpressureLow: 'upshift:connection:backpressure_low',
} as const);

/** How a WebSocket travels: an HTTP/1.1 upgrade, or an RFC 8441 stream over HTTP/2 with TLS (h2) or without (h2c). */
export type WebSocketTransport = 'http/1.1' | 'h2' | 'h2c';

/**
 * Which step refused a handshake: `request` (malformed or unsupported request: 400, 426, …),
 * `policy` (origins, subprotocols, maxConnections, shutdown), `verify` (the verify hook),
 * `response` (the verify hook's headers could not be sent: 500), `listener` (a server Upshift
 * created, before the request head was complete: 408, 431, 503).
 */
export type RefusalStage = 'request' | 'policy' | 'verify' | 'response' | 'listener';

export interface HandshakeAcceptedMessage<Server = unknown, Connection = unknown, Request = unknown> {
  /** The WebSocketServer. */
  readonly server: Server;
  /** The new WebSocketConnection (its 'connection' event has not been emitted yet). */
  readonly connection: Connection;
  /** The handshake request (IncomingMessage, UpgradeRequest or ExtendedConnectRequest). */
  readonly request: Request;
  /** The request path, query excluded. */
  readonly path: string;
  /** The subprotocol chosen ('' for none). */
  readonly protocol: string;
  /** The extensions agreed, as the Sec-WebSocket-Extensions value ('' for none). */
  readonly extensions: string;
  readonly transport: WebSocketTransport;
}

/** A refused handshake, as wss.stats() lists the recent ones. */
export interface HandshakeRefusalRecord {
  /** ms since the epoch. */
  readonly time: number;
  readonly status: number;
  /** The plain-text reason sent as the response body. */
  readonly reason: string;
  readonly stage: RefusalStage;
  /** The request path, query excluded ('' when the request head never arrived). */
  readonly path: string;
  readonly remoteAddress: string | undefined;
  readonly transport: WebSocketTransport;
}

export interface HandshakeRefusedMessage<Server = unknown> extends HandshakeRefusalRecord {
  /** The WebSocketServer. */
  readonly server: Server;
}

export interface ClientHandshakeMessage<Connection = unknown> {
  readonly url: string;
  readonly connection: Connection;
  readonly protocol: string;
  readonly extensions: string;
  readonly transport: 'http/1.1' | 'h2';
}

export interface ClientHandshakeErrorMessage {
  readonly url: string;
  readonly error: Error;
  /** The server's answer, when it answered (undefined: no response, a timeout, an abort). */
  readonly status: number | undefined;
}

export interface ConnectionOpenMessage<Connection = unknown> {
  readonly connection: Connection;
  readonly role: 'server' | 'client';
}

export interface ConnectionCloseMessage<Connection = unknown> {
  readonly connection: Connection;
  readonly role: 'server' | 'client';
  /** The peer's close code, or 1006 when no close frame arrived (RFC 6455 §7.1.5). */
  readonly code: number;
  readonly reason: string;
  /** Both close frames went by before the transport closed (RFC 6455 §7.1.4). */
  readonly wasClean: boolean;
  /** How long the connection was open, ms. */
  readonly durationMs: number;
}

export interface ProtocolErrorMessage<Connection = unknown> {
  readonly connection: Connection;
  readonly role: 'server' | 'client';
  /** error.code is the stable code, error.closeCode the close code sent. */
  readonly error: WebSocketError;
}

export interface BackpressureMessage<Connection = unknown> {
  readonly connection: Connection;
  readonly role: 'server' | 'client';
  readonly bufferedAmount: number;
  readonly highWaterMark: number;
}

export const handshakeAcceptedChannel = channel(DIAGNOSTICS_CHANNELS.handshakeAccepted);
export const handshakeRefusedChannel = channel(DIAGNOSTICS_CHANNELS.handshakeRefused);
export const clientHandshakeChannel = channel(DIAGNOSTICS_CHANNELS.clientHandshake);
export const clientHandshakeErrorChannel = channel(DIAGNOSTICS_CHANNELS.clientHandshakeError);
export const openChannel = channel(DIAGNOSTICS_CHANNELS.open);
export const closeChannel = channel(DIAGNOSTICS_CHANNELS.close);
export const protocolErrorChannel = channel(DIAGNOSTICS_CHANNELS.protocolError);
export const backpressureHighChannel = channel(DIAGNOSTICS_CHANNELS.backpressureHigh);
export const backpressureLowChannel = channel(DIAGNOSTICS_CHANNELS.backpressureLow);

/**
 * A server's message counters: one object per server, shared by its connections, plain number
 * fields bumped in place (no allocation, no lookup per message). Bytes are payload bytes, before
 * framing and compression.
 */
export interface TrafficCounters {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** The transport of a WebSocket whose transport is `transport` (a socket or an HTTP/2 stream). */
export function transportKind(transport: Duplex): WebSocketTransport {
  const stream = transport as { respond?: unknown; session?: { encrypted?: boolean } | undefined };
  if (typeof stream.respond !== 'function') return 'http/1.1';
  // A stream whose session is gone already is taken for cleartext.
  return stream.session?.encrypted === true ? 'h2' : 'h2c';
}
