// RFC 8441 (Bootstrapping WebSockets with HTTP/2), sans-I/O: validation of the extended CONNECT
// request a client sends and of the response it gets. Sec-WebSocket-Key / -Accept are not used
// (§5: :protocol replaces them); version, subprotocols, extensions and Origin keep their
// RFC 6455 meaning.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { isToken, parseProtocolList, singleValue, trimOWS } from './http-tokens.js';
import { parseExtensionHeader, type ExtensionOffer } from './extension-header.js';
import { refusal, type Refusal } from './server-handshake.js';

export type ExtendedConnectCheck =
  | {
      ok: true;
      path: string;
      authority: string;
      scheme: 'http' | 'https';
      protocols: string[];
      extensions: ExtensionOffer[];
      origin: string | undefined;
    }
  | Refusal;

/**
 * Validates a WebSocket extended CONNECT request (RFC 8441 §4, §5). Pseudo-header syntax has
 * already been enforced by the HTTP/2 layer; this checks what the WebSocket needs.
 */
export function checkExtendedConnectRequest(headers: IncomingHttpHeaders): ExtendedConnectCheck {
  // §4: the :method is CONNECT and :protocol names the protocol to tunnel.
  if (headers[':method'] !== 'CONNECT') return refusal(405, 'A WebSocket over HTTP/2 is opened with CONNECT.', { Allow: 'CONNECT' });
  const protocol = headers[':protocol'];
  if (typeof protocol !== 'string' || protocol.toLowerCase() !== 'websocket') {
    return refusal(400, 'The :protocol pseudo-header must be "websocket".');
  }
  // §4: extended CONNECT carries :scheme and :path (and :authority) like any request.
  const path = headers[':path'];
  if (typeof path !== 'string' || path === '') return refusal(400, 'Missing :path.');
  const scheme = headers[':scheme'];
  if (scheme !== 'https' && scheme !== 'http') return refusal(400, 'The :scheme must be http or https.');
  const authority = headers[':authority'] ?? headers['host'];
  if (typeof authority !== 'string' || trimOWS(authority) === '') return refusal(400, 'Missing :authority.');
  // §5 and RFC 6455 §4.2.1 item 6: version 13.
  const version = singleValue(headers['sec-websocket-version']);
  if (version === undefined) return refusal(400, 'Missing sec-websocket-version header.', { 'sec-websocket-version': '13' });
  if (version === null || trimOWS(version) !== '13') {
    // 426 is an HTTP/1.1 connection upgrade; in HTTP/2 the same refusal is a plain 400.
    return refusal(400, 'Unsupported WebSocket version; only version 13 is supported.', { 'sec-websocket-version': '13' });
  }
  const protocols = parseProtocolList(headers['sec-websocket-protocol']);
  if (protocols === null) return refusal(400, 'Invalid sec-websocket-protocol header.');
  const extensions = parseExtensionHeader(headers['sec-websocket-extensions']);
  if (extensions === null) return refusal(400, 'Invalid sec-websocket-extensions header.');
  // Repeated values are joined so an origin allow-list can never match them.
  const rawOrigin = headers['origin'];
  const origin = Array.isArray(rawOrigin) ? rawOrigin.join(', ') : rawOrigin;
  return { ok: true, path, authority, scheme, protocols, extensions, origin };
}

/** The request a client sends to open a WebSocket on an HTTP/2 stream (RFC 8441 §5). */
export function buildExtendedConnectHeaders(options: {
  path: string;
  authority: string;
  secure: boolean;
  protocols?: readonly string[];
  extensions?: string;
  origin?: string;
  headers?: Record<string, string | string[]>;
}): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  // Application headers first so the handshake's own cannot be overridden.
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    const lower = name.toLowerCase();
    if (!isToken(name) || RESERVED_REQUEST_HEADERS.has(lower)) {
      throw new TypeError(`Header ${name} cannot be sent on a WebSocket over HTTP/2`);
    }
    out[lower] = value;
  }
  out[':method'] = 'CONNECT';
  out[':protocol'] = 'websocket';
  out[':scheme'] = options.secure ? 'https' : 'http';
  out[':path'] = options.path;
  out[':authority'] = options.authority;
  out['sec-websocket-version'] = '13';
  if (options.protocols !== undefined && options.protocols.length > 0) out['sec-websocket-protocol'] = options.protocols.join(', ');
  if (options.extensions !== undefined && options.extensions !== '') out['sec-websocket-extensions'] = options.extensions;
  if (options.origin !== undefined) out['origin'] = options.origin;
  return out;
}

// The handshake's own fields, and the connection-specific ones HTTP/2 forbids (RFC 9113 §8.2.2).
const RESERVED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'connection',
  'upgrade',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'http2-settings',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

export type ExtendedConnectResponseCheck = { ok: true; protocol: string } | { ok: false; reason: string };

/**
 * Checks the server's answer (RFC 8441 §5): a 2xx opens the tunnel (RFC 9110 §9.3.6); at most one
 * subprotocol, and only one that was offered (RFC 6455 §4.1). Extensions are the negotiator's job.
 */
export function checkExtendedConnectResponse(headers: IncomingHttpHeaders, offeredProtocols: readonly string[]): ExtendedConnectResponseCheck {
  const status = Number(headers[':status']);
  if (!(status >= 200 && status < 300)) return { ok: false, reason: `Unexpected server response: ${status}` };
  const raw = headers['sec-websocket-protocol'];
  if (raw === undefined) return { ok: true, protocol: '' };
  if (offeredProtocols.length === 0) return { ok: false, reason: 'Server sent a subprotocol but none was requested.' };
  const value = singleValue(raw);
  const protocol = typeof value === 'string' ? trimOWS(value) : '';
  if (!isToken(protocol)) return { ok: false, reason: 'Server sent an invalid sec-websocket-protocol header (expected exactly one subprotocol).' };
  if (!offeredProtocols.includes(protocol)) {
    return { ok: false, reason: `Server selected subprotocol ${JSON.stringify(protocol)}, which was not requested.` };
  }
  return { ok: true, protocol };
}
