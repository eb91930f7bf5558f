// The client's opening handshake, one pipeline for both transports: options and URL checks,
// redirects with one credential policy, the handshake timeout and abort, the error body, the
// response checks, then the same WebSocketConnection the server uses, in the client role. The
// transports (HTTP/1.1 upgrade, HTTP/2 extended CONNECT) only open the stream.

import type { Readable } from 'node:stream';
import { createConnection, receiveHead, type WebSocketConnection } from '../connection/websocket-connection.js';
import { startHeartbeat } from '../connection/heartbeat.js';
import { acceptExtensions, type NegotiatedExtensions } from '../protocol/extensions.js';
import { checkExtendedConnectResponse, checkUpgradeResponse, generateKey, type RequestHeaders } from '../protocol/client-handshake.js';
import { HandshakeError, asHandshakeError } from './errors.js';
import { planClient, type ClientOptions, type ClientPlan } from './options.js';
import { decideRedirect } from './redirects.js';
import { openHttp1Upgrade } from './http1-transport.js';
import { openHttp2Stream } from './http2-transport.js';
import type { HandshakeAttempt, OpenedResponse, RefusedResponse } from './transport.js';
import { clientHandshakeChannel, clientHandshakeErrorChannel } from '../connection/diagnostics.js';

export { HandshakeError } from './errors.js';
export type { ClientOptions } from './options.js';

/** The most of a refusal's body that goes into the error message (bytes). */
const ERROR_BODY_LIMIT = 1024;

/** Opens a WebSocket connection; resolves once the server's answer has been verified. */
export function connect(input: string | URL, options: ClientOptions = {}): Promise<WebSocketConnection> {
  let plan: ClientPlan;
  try {
    plan = planClient('connect()', input, options);
  } catch (error) {
    return Promise.reject(error);
  }
  return connectPlanned(plan);
}

/** Runs the handshake of a plan made by planClient (the WHATWG WebSocket checks its own). @internal */
export function connectPlanned(plan: ClientPlan): Promise<WebSocketConnection> {
  return new Promise((resolve, reject) => handshake(plan, resolve, reject));
}

function handshake(plan: ClientPlan, resolve: (ws: WebSocketConnection) => void, reject: (error: Error) => void): void {
  const { signal, protocols, extensions } = plan;
  const transport = plan.http2 ? openHttp2Stream : openHttp1Upgrade;
  let attempt: HandshakeAttempt | null = null;
  let followed = 0;
  let settled = false;

  const settle = (): boolean => {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    return true;
  };
  const fail = (error: Error): void => {
    if (!settle()) return;
    attempt?.cancel();
    if (clientHandshakeErrorChannel.hasSubscribers) {
      clientHandshakeErrorChannel.publish({ url: plan.url.href, error, status: (error as HandshakeError).statusCode });
    }
    reject(error);
  };
  const timer = setTimeout(() => fail(new HandshakeError(`Opening handshake timed out after ${plan.timeoutMs} ms`)), plan.timeoutMs);
  const onAbort = (): void => fail(new HandshakeError('Opening handshake aborted', undefined, undefined, signal?.reason));
  if (signal?.aborted) return onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });

  const send = (url: URL, headers: RequestHeaders): void => {
    const key = generateKey();
    const offer = extensions.map((extension) => extension.offer()).join(', ');
    const request = { url, headers, protocols, extensions: offer, origin: plan.origin, key, tls: plan.tls };
    try {
      attempt = transport(request, {
        opened: (response) => {
          if (settled) return drop(response);
          const check = plan.http2
            ? checkExtendedConnectResponse(response.headers, protocols)
            : checkUpgradeResponse({ statusCode: response.status, httpVersion: response.httpVersion, headers: response.headers }, key, protocols);
          let negotiated: NegotiatedExtensions;
          try {
            if (!check.ok) throw new HandshakeError(check.reason, response.status, response.headers);
            negotiated = acceptExtensions(response.headers['sec-websocket-extensions'], extensions);
          } catch (error) {
            drop(response);
            fail(error instanceof HandshakeError ? error : new HandshakeError((error as Error).message, response.status, response.headers, error));
            return;
          }
          settle();
          const ws = adopt(plan, response, check.protocol, negotiated);
          if (clientHandshakeChannel.hasSubscribers) {
            clientHandshakeChannel.publish({ url: url.href, connection: ws, protocol: ws.protocol, extensions: ws.extensions, transport: plan.http2 ? 'h2' : 'http/1.1' });
          }
          resolve(ws);
          // Frames that came with the 101 are parsed after the caller attached its listeners.
          const { head } = response;
          if (head.length > 0) queueMicrotask(() => receiveHead(ws, head));
        },
        refused: (response) => {
          if (settled) return;
          const redirect = decideRedirect({
            url,
            status: response.status,
            location: response.headers.location,
            headers,
            followed,
            limit: plan.maxRedirects,
          });
          if (redirect?.follow === true) {
            attempt?.cancel();
            followed++;
            send(redirect.url, redirect.headers);
            return;
          }
          readBody(response.body, (body) => fail(refusal(response, body, redirect?.reason)));
        },
        failed: fail,
      });
    } catch (error) {
      fail(asHandshakeError(error, `Could not open a WebSocket to ${url.href}`));
    }
  };
  send(plan.url, plan.headers);
}

/** Drops a transport the server opened but the client does not take. */
function drop(response: OpenedResponse): void {
  if (response.abortTransport !== undefined) response.abortTransport(response.transport);
  else response.transport.destroy();
}

/** The error for a refusal: the status, why a redirect was not followed, the start of the body. */
function refusal(response: RefusedResponse, body: string, redirect: string | undefined): HandshakeError {
  let message = `Unexpected server response: ${response.status}`;
  if (redirect !== undefined) message += `; ${redirect}`;
  if (body !== '') message += ` (${body})`;
  return new HandshakeError(message, response.status, response.headers);
}

/** The connection on the transport the server opened, with heartbeats if asked for. */
function adopt(plan: ClientPlan, response: OpenedResponse, protocol: string, negotiated: NegotiatedExtensions): WebSocketConnection {
  const { limits } = plan;
  const ws = createConnection(response.transport, {
    role: 'client',
    maxPayload: limits.maxPayload,
    maxFragments: limits.maxFragments,
    closeTimeout: limits.closeTimeout,
    highWaterMark: limits.highWaterMark,
    maxUnansweredPings: limits.maxUnansweredPings,
    protocol,
    extensions: negotiated.header,
    codec: negotiated.codec,
    ...(response.abortTransport !== undefined ? { abortTransport: response.abortTransport } : {}),
  });
  if (limits.pingInterval > 0 || limits.idleTimeout > 0) startHeartbeat(ws, limits);
  return ws;
}

/** Up to ERROR_BODY_LIMIT bytes of a refusal's body, as trimmed text; stops reading there. */
function readBody(body: Readable, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let called = false;
  const finish = (): void => {
    if (called) return;
    called = true;
    body.off('data', onData);
    done(Buffer.concat(chunks).toString('utf8', 0, Math.min(size, ERROR_BODY_LIMIT)).trim());
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= ERROR_BODY_LIMIT) finish();
  };
  body.on('data', onData);
  body.once('end', finish);
  body.once('close', finish);
  body.once('error', finish);
}
