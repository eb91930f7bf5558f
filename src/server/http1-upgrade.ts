// The HTTP/1.1 side of a WebSocket endpoint: checks an upgrade request (RFC 6455 §4.2.1), has
// the endpoint decide, and answers on the raw socket: 101 with Sec-WebSocket-Accept (§4.2.2), or
// a complete error response that closes the connection.

import type { Duplex } from 'node:stream';
import { buildAcceptResponse, checkUpgradeRequest } from '../protocol/handshake.js';
import { pathOf } from '../upgrade/router.js';
import { destroyOnError, refuse } from '../upgrade/respond.js';
import type { ConnectionCallback, HandshakeEndpoint, HandshakeRequest } from './endpoint.js';

export function acceptUpgrade<Data, Req extends HandshakeRequest>(
  endpoint: HandshakeEndpoint<Data>,
  req: Req,
  socket: Duplex,
  head: Buffer,
  callback: ConnectionCallback<Data, Req> | undefined,
): void {
  // Until a connection owns the socket, an error (a reset) only destroys it (the router may
  // have added the same listener already).
  if (socket.listenerCount('error', destroyOnError) === 0) socket.on('error', destroyOnError);
  const check = checkUpgradeRequest(req);
  const path = pathOf(req.url);
  if (!check.ok) {
    endpoint.refused(socket, check.status, check.reason, 'request', path, req.socket?.remoteAddress);
    return refuse(socket, check.status, check.reason, check.headers);
  }
  const offer = { protocols: check.protocols, extensions: check.extensions, origin: check.origin, path };
  endpoint.decide(socket, offer, req, (decision) => {
    // readableEnded: the peer hung up while verify ran; its FIN was read before any connection
    // listened for 'end', so accepting would leave a zombie connection holding a slot.
    if (socket.destroyed || !socket.writable || socket.readableEnded) {
      if (decision.ok) decision.extensions.codec?.release();
      return void socket.destroy();
    }
    if (!decision.ok) return refuse(socket, decision.status, decision.reason, decision.headers);
    let response: string;
    try {
      response = buildAcceptResponse(check.key, decision.protocol, decision.extensions.header, decision.headers);
    } catch (error) {
      // An invalid header name or value from the verify hook.
      decision.extensions.codec?.release();
      endpoint.refused(socket, 500, (error as Error).message, 'response', path, req.socket?.remoteAddress);
      return refuse(socket, 500, (error as Error).message);
    }
    // The connection handles errors from here.
    socket.removeListener('error', destroyOnError);
    const tcp = socket as Duplex & { setNoDelay?(on: boolean): void; setTimeout?(ms: number): void; timeout?: number };
    tcp.setNoDelay?.(true);
    // Only a socket that has an idle timeout (an HTTP server's) needs it cleared: setTimeout()
    // adds a property to every socket it is called on.
    if (tcp.timeout) tcp.setTimeout!(0);
    socket.write(response);
    endpoint.adopt(socket, req, decision, head, callback);
  });
}
