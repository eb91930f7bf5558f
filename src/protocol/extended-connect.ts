// RFC 8441 (Bootstrapping WebSockets with HTTP/2), sans-I/O: validation of the extended CONNECT
// request a server receives (the client's side is in client-handshake.ts). Sec-WebSocket-Key /
// -Accept are not used (§5: :protocol replaces them); version, subprotocols, extensions and Origin
// keep their RFC 6455 meaning.

import type { IncomingHttpHeaders } from 'node:http2';
import { parseProtocolList, singleValue, trimOWS } from './http-tokens.js';
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
