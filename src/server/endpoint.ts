// What the transport adapters (HTTP/1.1 upgrade, HTTP/2 stream) need from a WebSocket endpoint,
// as a small internal interface: the WebSocketServer hands its own implementation down, so the
// adapters never import the server class (it imports them). Also the request type the
// application sees, honest for every transport.

import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocketConnection } from '../connection/websocket-connection.js';
import type { Acceptance, HandshakeDecision, HandshakeOffer } from '../protocol/server-handshake.js';
import type { RefusalStage } from '../connection/diagnostics.js';

/**
 * The opening handshake request, as the verify hook, the protocols selector and 'connection'
 * see it. An `IncomingMessage` (a server attached to yours), the fast path's request (a server
 * Upshift created) and an `ExtendedConnectRequest` (HTTP/2, RFC 8441) all have these fields.
 */
export interface HandshakeRequest {
  /** 'GET' over HTTP/1.1, 'CONNECT' over HTTP/2. */
  readonly method?: string | undefined;
  /** The request target, query included. */
  readonly url?: string | undefined;
  /** '1.1', or '2.0' over HTTP/2. */
  readonly httpVersion: string;
  /** Header fields, names lowercased (over HTTP/2 with the pseudo-headers: :path, :authority…). */
  readonly headers: IncomingHttpHeaders;
  /** The header fields as received, as an alternating name/value list. */
  readonly rawHeaders: string[];
  /** The connection's socket (remoteAddress, encrypted…); over HTTP/2, the session's. */
  readonly socket: Socket;
}

export type ConnectionCallback<Data, Req extends HandshakeRequest = HandshakeRequest> = (ws: WebSocketConnection<Data>, req: Req) => void;

/** @internal The endpoint as its transport adapters see it. */
export interface HandshakeEndpoint<Data> {
  /**
   * Decides a well-formed handshake: the policy, then the verify hook. Calls `decided` once,
   * synchronously unless verify is async; until then `transport` is dropped by a shutdown that
   * reaches its deadline. An acceptance owns a codec: release it if the transport is gone.
   */
  decide(transport: Duplex, offer: HandshakeOffer, req: HandshakeRequest, decided: (decision: HandshakeDecision<Data>) => void): void;
  /**
   * The decision, taken now, of an endpoint without a verify hook (null when it has one: call
   * decide() then). Lets an adapter answer without a callback per handshake.
   */
  decideNow(transport: Duplex, offer: HandshakeOffer, req: HandshakeRequest): HandshakeDecision<Data> | null;
  /**
   * Runs an accepted handshake's connection over `transport`, whose success response has been
   * sent: registers it, tells `callback` and 'connection', then feeds `head` (bytes that came
   * with the handshake).
   */
  adopt<Req extends HandshakeRequest>(
    transport: Duplex,
    req: Req,
    decision: Acceptance<Data>,
    head: Buffer,
    callback: ConnectionCallback<Data, Req> | undefined,
    abortTransport?: (transport: Duplex) => void,
  ): void;
  /** A refusal the adapter itself answers (a malformed request, unsendable headers): counted and published. */
  refused(transport: Duplex, status: number, reason: string, stage: RefusalStage, path: string, remoteAddress: string | undefined): void;
}
