// The HTTP/1.1 side of a WebSocket endpoint: checks an upgrade request (RFC 6455 §4.2.1), has
// the endpoint decide, and answers on the raw socket: 101 with Sec-WebSocket-Accept (§4.2.2), or
// a complete error response that closes the connection.

import type { Duplex } from 'node:stream';
import { buildAcceptResponse, checkUpgradeRequest } from '../protocol/handshake.js';
import { pathOf } from '../upgrade/router.js';
import { destroyOnError, refuse } from '../upgrade/respond.js';
import type { HandshakeDecision, HandshakeOffer } from '../protocol/server-handshake.js';
import type { ConnectionCallback, HandshakeEndpoint, HandshakeRequest } from './endpoint.js';
import { UpgradeRequest } from './upgrade-listener.js';

export function acceptUpgrade<Data, Req extends HandshakeRequest>(
  endpoint: HandshakeEndpoint<Data>,
  req: Req,
  socket: Duplex,
  head: Buffer,
  callback: ConnectionCallback<Data, Req> | undefined,
): void {
  // Until a connection owns the socket, an error (a reset) only destroys it (the router or the
  // upgrade listener may have added the same listener already).
  if (socket.listenerCount('error', destroyOnError) === 0) socket.on('error', destroyOnError);
  // The checked request is the handshake's offer too.
  const path = pathOf(req.url);
  const offer = checkUpgradeRequest(req, path);
  if (!offer.ok) {
    endpoint.refused(socket, offer.status, offer.reason, 'request', path, req.socket?.remoteAddress);
    return refuse(socket, offer.status, offer.reason, offer.headers);
  }
  // Without a verify hook the decision is known now: no callback (and its context) per handshake.
  const decision = endpoint.decideNow(socket, offer, req);
  if (decision !== null) return answer(endpoint, req, socket, head, callback, offer, decision);
  endpoint.decide(socket, offer, req, (decided) => answer(endpoint, req, socket, head, callback, offer, decided));
}

/** Answers a decided handshake: the 101 and the connection, or the refusal. */
function answer<Data, Req extends HandshakeRequest>(
  endpoint: HandshakeEndpoint<Data>,
  req: Req,
  socket: Duplex,
  head: Buffer,
  callback: ConnectionCallback<Data, Req> | undefined,
  offer: HandshakeOffer & { key: string },
  decision: HandshakeDecision<Data>,
): void {
  // readableEnded: the peer hung up while verify ran; its FIN was read before any connection
  // listened for 'end', so accepting would leave a zombie connection holding a slot.
  if (socket.destroyed || !socket.writable || socket.readableEnded) {
    if (decision.ok) decision.extensions.codec?.release();
    return void socket.destroy();
  }
  if (!decision.ok) return refuse(socket, decision.status, decision.reason, decision.headers);
  let response: string;
  try {
    response = buildAcceptResponse(offer.key, decision.protocol, decision.extensions.header, decision.headers);
  } catch (error) {
    // An invalid header name or value from the verify hook.
    decision.extensions.codec?.release();
    endpoint.refused(socket, 500, (error as Error).message, 'response', offer.path, req.socket?.remoteAddress);
    return refuse(socket, 500, (error as Error).message);
  }
  // The connection handles errors from here.
  socket.removeListener('error', destroyOnError);
  const tcp = socket as Duplex & { setNoDelay?(on: boolean): void; setTimeout?(ms: number): void; timeout?: number };
  // The upgrade listener's sockets have Nagle off from their accept (createServer({ noDelay })).
  if (!(req instanceof UpgradeRequest)) tcp.setNoDelay?.(true);
  // Only a socket that has an idle timeout (an HTTP server's) needs it cleared: setTimeout()
  // adds a property to every socket it is called on.
  if (tcp.timeout) tcp.setTimeout!(0);
  socket.write(response);
  endpoint.adopt(socket, req, decision, head, callback);
}
