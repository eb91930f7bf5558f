// The client's opening handshake over HTTP/1.1 (RFC 6455 §4.1), on node:http / node:https, then
// the same WebSocketConnection the server uses, in the client role.

import { request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { createConnection, receiveHead, type WebSocketConnection } from '../connection/websocket-connection.js';
import { WebSocketError } from '../protocol/errors.js';
import { acceptExtensions, type ClientExtension } from '../protocol/extensions.js';
import { checkUpgradeResponse, generateKey, validateProtocolsForOffer } from '../protocol/handshake.js';
import { CONNECTION_LIMIT_NAMES, DEFAULT_LIMITS, resolveLimits, type ConnectionLimits } from '../connection/limits.js';
import { startHeartbeat } from '../connection/heartbeat.js';
import {
  perMessageDeflateClient,
  withPerMessageDeflate,
  type PerMessageDeflateClientOptions,
} from '../extensions/permessage-deflate/index.js';
import { connectOverHttp2 } from './http2-transport.js';

export interface ClientOptions extends Partial<ConnectionLimits> {
  /** Subprotocols to offer, in order of preference. */
  protocols?: string | readonly string[];
  /** Extra request headers (not the handshake's own). */
  headers?: Record<string, string | string[]>;
  origin?: string;
  /** Abort the handshake after this long (ms). Default 30 s. */
  handshakeTimeout?: number;
  /** Follow HTTP redirects: false (default), true (up to 10), or the most to follow. */
  followRedirects?: boolean | number;
  /** TLS options for wss:// (ca, cert, key, rejectUnauthorized, servername, …). */
  tls?: TlsOptions;
  /** Extensions to offer (permessage-deflate is one). */
  extensions?: readonly ClientExtension[];
  /** Shortcut: offer permessage-deflate (RFC 7692) with these options (true: the defaults). */
  perMessageDeflate?: boolean | PerMessageDeflateClientOptions;
  /** Aborts the handshake. */
  signal?: AbortSignal;
  /**
   * Open the WebSocket on an HTTP/2 stream (RFC 8441), sharing one HTTP/2 session per origin with
   * the other WebSockets opened this way: wss:// over TLS (ALPN h2), ws:// with prior knowledge.
   */
  http2?: boolean;
}

/** A failed opening handshake: the server's status and headers when it answered with HTTP. */
export class HandshakeError extends WebSocketError {
  constructor(
    message: string,
    readonly statusCode?: number,
    readonly headers?: IncomingMessage['headers'],
  ) {
    super(message, 'WS_ERR_HANDSHAKE', 1006);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/** Parses ws:, wss: (and http:, https:, as WHATWG allows) URLs; throws SyntaxError otherwise. */
export function parseWebSocketUrl(input: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    throw new SyntaxError(`Invalid URL: ${String(input)}`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new SyntaxError(`The URL's scheme must be ws or wss, got "${url.protocol.slice(0, -1)}"`);
  }
  // WHATWG WebSocket: a fragment is not allowed.
  if (url.hash !== '' || String(input).endsWith('#')) throw new SyntaxError('The URL must not contain a fragment');
  return url;
}

/** What both transports' handshakes derive from the URL and options before sending anything. */
export interface ClientPlan {
  url: URL;
  protocols: string[];
  limits: ConnectionLimits;
  extensions: readonly ClientExtension[];
  maxRedirects: number;
  timeoutMs: number;
}

/** Validates the URL and options (throws SyntaxError/RangeError as the WHATWG API does). */
export function planClient(input: string | URL, options: ClientOptions): ClientPlan {
  const url = parseWebSocketUrl(input);
  const offered = options.protocols;
  const protocols = validateProtocolsForOffer(offered === undefined || typeof offered === 'string' ? offered : [...offered]);
  return {
    url,
    protocols,
    // Clients do not ping by default (browsers do not either); the server's heartbeat covers them.
    limits: resolveLimits<ConnectionLimits>({ pingInterval: 0, idleTimeout: 0, ...options }, CONNECTION_LIMIT_NAMES, DEFAULT_LIMITS),
    extensions: options.extensions ?? [],
    maxRedirects: options.followRedirects === true ? MAX_REDIRECTS : Number(options.followRedirects || 0),
    timeoutMs: options.handshakeTimeout ?? 30_000,
  };
}

/** Opens a WebSocket connection; resolves once the server's 101 has been verified. */
export function connect(input: string | URL, options: ClientOptions = {}): Promise<WebSocketConnection> {
  if (options.perMessageDeflate) {
    options = { ...options, extensions: withPerMessageDeflate(options.extensions, options.perMessageDeflate, perMessageDeflateClient) };
  }
  if (options.http2 === true) return connectOverHttp2(input, options);
  return new Promise((resolve, reject) => {
    let plan: ClientPlan;
    try {
      plan = planClient(input, options);
    } catch (error) {
      reject(error);
      return;
    }
    const { url, protocols, limits, maxRedirects, extensions, timeoutMs } = plan;
    let redirects = 0;
    let current: ClientRequest | null = null;
    let settled = false;

    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      current?.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new HandshakeError(`Opening handshake timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => fail(new HandshakeError('Opening handshake aborted'));
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const attempt = (target: URL, headers: Record<string, string | string[]>): void => {
      const key = generateKey();
      const requestHeaders: Record<string, string | string[]> = {
        ...headers,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Version': '13',
      };
      if (protocols.length > 0) requestHeaders['Sec-WebSocket-Protocol'] = protocols.join(', ');
      const offer = extensions.map((extension) => extension.offer()).join(', ');
      if (offer !== '') requestHeaders['Sec-WebSocket-Extensions'] = offer;
      if (options.origin !== undefined) requestHeaders['Origin'] = options.origin;
      const secure = target.protocol === 'wss:';
      const send = secure ? httpsRequest : httpRequest;
      let req: ClientRequest;
      try {
        req = send({
          ...(secure ? options.tls : undefined),
          host: target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname,
          port: target.port === '' ? (secure ? 443 : 80) : Number(target.port),
          path: (target.pathname || '/') + target.search,
          method: 'GET',
          headers: requestHeaders,
          agent: false,
          // RFC 6066 §3: SNI carries DNS names only; an IP (v4 or bracketed v6) gets none (and
          // Node warns DEP0123 when given one).
          ...(secure && options.tls?.servername === undefined && isIP(target.hostname.replace(/^\[|\]$/g, '')) === 0
            ? { servername: target.hostname }
            : {}),
        });
      } catch (error) {
        fail(error as Error);
        return;
      }
      current = req;
      req.on('error', (error) => fail(error));
      req.on('response', (res) => {
        const location = res.headers.location;
        if (REDIRECTS.has(res.statusCode ?? 0) && location !== undefined && redirects < maxRedirects) {
          res.resume();
          redirects++;
          let next: URL;
          try {
            next = parseWebSocketUrl(new URL(location, target.href.replace(/^ws/, 'http')));
          } catch (error) {
            fail(new HandshakeError(`Invalid redirect location: ${location}`, res.statusCode));
            return;
          }
          // Credentials do not follow a redirect to another origin, nor from wss: down to ws:
          // (same host and port, but they would then travel in clear text).
          const nextHeaders = { ...headers };
          if (next.host !== target.host || (target.protocol === 'wss:' && next.protocol !== 'wss:')) {
            for (const name of Object.keys(nextHeaders)) {
              if (/^(authorization|cookie)$/i.test(name)) delete nextHeaders[name];
            }
          }
          attempt(next, nextHeaders);
          return;
        }
        // Read a little of the body so the error can say why.
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < 1024) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8', 0, Math.min(size, 1024)).trim();
          fail(
            new HandshakeError(
              `Unexpected server response: ${res.statusCode}${body ? ` (${body})` : ''}`,
              res.statusCode,
              res.headers,
            ),
          );
        });
        res.on('error', (error) => fail(error));
      });
      req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
        if (settled) {
          socket.destroy();
          return;
        }
        const check = checkUpgradeResponse({ statusCode: res.statusCode ?? 0, headers: res.headers }, key, protocols);
        let negotiated;
        try {
          if (!check.ok) throw new HandshakeError(check.reason, res.statusCode, res.headers);
          negotiated = acceptExtensions(res.headers['sec-websocket-extensions'], extensions);
        } catch (error) {
          socket.destroy();
          fail(error instanceof HandshakeError ? error : new HandshakeError((error as Error).message, res.statusCode, res.headers));
          return;
        }
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        socket.setNoDelay(true);
        socket.setTimeout(0);
        const ws = createConnection(socket, {
          role: 'client',
          maxPayload: limits.maxPayload,
          maxFragments: limits.maxFragments,
          closeTimeout: limits.closeTimeout,
          highWaterMark: limits.highWaterMark,
          protocol: check.ok ? check.protocol : '',
          extensions: negotiated.header,
          codec: negotiated.codec,
        });
        if (limits.pingInterval > 0 || limits.idleTimeout > 0) startHeartbeat(ws, limits);
        resolve(ws);
        // Frames that came with the 101 are parsed after the caller attached its listeners.
        if (head.length > 0) queueMicrotask(() => receiveHead(ws, head));
      });
      req.end();
    };
    attempt(url, options.headers ?? {});
  });
}

