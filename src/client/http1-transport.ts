// The HTTP/1.1 transport: the opening handshake as a node:http / node:https upgrade request
// (RFC 6455 §4.1), one TCP (or TLS) connection per WebSocket.

import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { buildUpgradeRequestHeaders } from '../protocol/client-handshake.js';
import { asHandshakeError } from './errors.js';
import type { HandshakeAttempt, HandshakeListener, HandshakeRequest } from './transport.js';

export function openHttp1Upgrade(request: HandshakeRequest, listener: HandshakeListener): HandshakeAttempt {
  const { url, tls } = request;
  const secure = url.protocol === 'wss:';
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const where = `${url.protocol}//${url.host}`;
  // Set once the listener has heard the outcome, or the attempt was cancelled.
  let done = false;
  let response: IncomingMessage | null = null;
  let opened = false;
  const req: ClientRequest = (secure ? httpsRequest : httpRequest)({
    ...(secure ? tls : undefined),
    host: hostname,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    path: (url.pathname || '/') + url.search,
    method: 'GET',
    headers: buildUpgradeRequestHeaders(request),
    agent: false,
    // RFC 6066 §3: SNI carries DNS names only; an IP (v4 or bracketed v6) gets none (and Node
    // warns DEP0123 when given one).
    ...(secure && tls?.servername === undefined && isIP(hostname) === 0 ? { servername: hostname } : {}),
  });
  req.on('error', (error) => {
    if (done) return;
    done = true;
    listener.failed(asHandshakeError(error, `Could not open a WebSocket to ${where}`));
  });
  req.on('response', (res: IncomingMessage) => {
    if (done) {
      res.destroy();
      return;
    }
    done = true;
    response = res;
    listener.refused({ status: res.statusCode ?? 0, httpVersion: res.httpVersion, headers: res.headers, body: res });
  });
  req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
    if (done) {
      socket.destroy();
      return;
    }
    done = true;
    opened = true;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    listener.opened({ status: res.statusCode ?? 0, httpVersion: res.httpVersion, headers: res.headers, transport: socket, head });
  });
  req.end();
  return {
    cancel(): void {
      // The socket of an opened WebSocket belongs to its connection.
      if (opened) return;
      done = true;
      response?.destroy();
      req.destroy();
    },
  };
}
