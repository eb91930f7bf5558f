// The client's options, checked once: the URL, the option names (a `ws` user's habits get a hint),
// the values, and the plan the connect() pipeline and both transports work from.

import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { checkOptionNames } from '../util/options.js';
import { checkRequestHeaders, validateProtocolsForOffer, type RequestHeaders } from '../protocol/client-handshake.js';
import type { ClientExtension } from '../protocol/extensions.js';
import { CONNECTION_LIMIT_NAMES, DEFAULT_LIMITS, resolveLimits, type ConnectionLimits } from '../connection/limits.js';
import {
  perMessageDeflateClient,
  withPerMessageDeflate,
  type PerMessageDeflateClientOptions,
} from '../extensions/permessage-deflate/index.js';
import { redirectLimit } from './redirects.js';

export interface ClientOptions extends Partial<ConnectionLimits> {
  /** Subprotocols to offer, in order of preference. */
  protocols?: string | readonly string[];
  /** Extra request headers (not the handshake's own). */
  headers?: Record<string, string | string[]>;
  origin?: string;
  /** Abort the handshake after this long (ms). Default 30 s. */
  handshakeTimeout?: number;
  /**
   * Follow HTTP redirects: false (default), true (up to 10), or the most to follow. Authorization,
   * Cookie and Proxy-Authorization are dropped when a redirect leaves the origin.
   */
  followRedirects?: boolean | number;
  /**
   * TLS options for wss:// (ca, cert, key, rejectUnauthorized, servername, …). With http2, WebSockets
   * whose TLS options are equal in value (not only the same object) share a session.
   */
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

const CLIENT_OPTION_NAMES: ReadonlySet<string> = new Set<string>([
  'protocols',
  'headers',
  'origin',
  'handshakeTimeout',
  'followRedirects',
  'tls',
  'extensions',
  'perMessageDeflate',
  'signal',
  'http2',
  ...CONNECTION_LIMIT_NAMES,
]);

const TLS_HINT = 'TLS options go under tls: { … } (for example tls: { ca, rejectUnauthorized }).';

// What a `ws` (or node:http) user writes, and the Upshift way to say it.
const CLIENT_OPTION_HINTS: Readonly<Record<string, string>> = {
  maxRedirects: 'Use followRedirects: <n> (followRedirects: true follows up to 10).',
  protocol: 'Use protocols (a string or an array).',
  protocolVersion: 'Upshift speaks WebSocket version 13 only.',
  timeout: 'Use handshakeTimeout (ms).',
  maxConnections: 'maxConnections is a server option.',
  auth: 'Send credentials in headers: { Authorization: … }.',
  agent: 'connect() opens its own connection; use http2: true to share one connection per origin.',
  skipUTF8Validation: 'Text messages are always validated (RFC 6455 §8.1).',
  autoPong: 'Pings are always answered.',
  rejectUnauthorized: TLS_HINT,
  ca: TLS_HINT,
  cert: TLS_HINT,
  key: TLS_HINT,
  pfx: TLS_HINT,
  passphrase: TLS_HINT,
  servername: TLS_HINT,
  ciphers: TLS_HINT,
  checkServerIdentity: TLS_HINT,
  minVersion: TLS_HINT,
  maxVersion: TLS_HINT,
  secureContext: TLS_HINT,
};

/** The options `new WebSocket(url, protocols, options)` takes: protocols and abort have their own ways. */
export type WebSocketOptions = Omit<ClientOptions, 'protocols' | 'signal'>;

const WEBSOCKET_OPTION_NAMES: ReadonlySet<string> = new Set([...CLIENT_OPTION_NAMES].filter((name) => name !== 'protocols' && name !== 'signal'));

const WEBSOCKET_OPTION_HINTS: Readonly<Record<string, string>> = {
  ...CLIENT_OPTION_HINTS,
  protocols: 'Pass the subprotocols as the second argument: new WebSocket(url, protocols, options).',
  signal: 'Call close() to abort the opening handshake.',
};

/** Throws a TypeError for an option `new WebSocket()` does not take. */
export function checkWebSocketOptionNames(options: object | undefined): void {
  checkOptionNames('new WebSocket()', options, WEBSOCKET_OPTION_NAMES, WEBSOCKET_OPTION_HINTS);
}

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

/** Everything the handshake derives from the URL and options before sending anything. */
export interface ClientPlan {
  url: URL;
  protocols: string[];
  /** The application's headers, checked, names lowercased. */
  headers: RequestHeaders;
  origin: string | undefined;
  limits: ConnectionLimits;
  extensions: readonly ClientExtension[];
  maxRedirects: number;
  timeoutMs: number;
  tls: TlsOptions | undefined;
  http2: boolean;
  signal: AbortSignal | undefined;
}

/**
 * Checks the URL and options (SyntaxError for the URL and subprotocols, as the WHATWG API does;
 * TypeError for unknown options and bad headers; RangeError for bad numbers). `where` names the
 * call in messages.
 */
export function planClient(where: string, input: string | URL, given: ClientOptions | null): ClientPlan {
  const options = given ?? {};
  checkOptionNames(where, options, CLIENT_OPTION_NAMES, CLIENT_OPTION_HINTS);
  const url = parseWebSocketUrl(input);
  const protocols = validateProtocolsForOffer(options.protocols);
  if (options.origin !== undefined && typeof options.origin !== 'string') throw new TypeError(`${where}: origin must be a string`);
  const headers = checkRequestHeaders(options.headers, options.origin);
  const timeoutMs = options.handshakeTimeout ?? 30_000;
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
    throw new RangeError(`${where}: handshakeTimeout must be a positive number of ms, got ${String(timeoutMs)}`);
  }
  if (options.tls !== undefined && (options.tls === null || typeof options.tls !== 'object')) throw new TypeError(`${where}: tls must be an object`);
  let extensions = options.extensions ?? [];
  if (options.perMessageDeflate) extensions = withPerMessageDeflate(extensions, options.perMessageDeflate, perMessageDeflateClient);
  return {
    url,
    protocols,
    headers,
    origin: options.origin,
    // Clients do not ping by default (browsers do not either); the server's heartbeat covers them.
    limits: resolveLimits<ConnectionLimits>({ pingInterval: 0, idleTimeout: 0, ...options }, CONNECTION_LIMIT_NAMES, DEFAULT_LIMITS),
    extensions,
    maxRedirects: redirectLimit(options.followRedirects),
    timeoutMs,
    tls: options.tls,
    http2: options.http2 === true,
    signal: options.signal,
  };
}
