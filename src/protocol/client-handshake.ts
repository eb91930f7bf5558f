// The client's side of the opening handshake, sans-I/O, for both transports: the request an
// application may add headers to (RFC 6455 §4.1 over HTTP/1.1, RFC 8441 §5 over HTTP/2) and the
// checks of the server's answer. Nothing here touches a socket.

import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http2';
import { acceptKey, isHttp11OrLater } from './handshake.js';
import { hasToken, isToken, singleValue as single, trimOWS } from './http-tokens.js';
import { parseExtensionHeader, type ExtensionOffer } from './extension-header.js';

type HeaderMap = Record<string, string | string[] | undefined>;

/** Application request headers, as ClientOptions.headers takes them. */
export type RequestHeaders = Record<string, string | string[]>;

/** RFC 6455 §4.1 item 7: a fresh random 16-byte nonce, base64-encoded. */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/**
 * WHATWG WebSocket constructor rules for the `protocols` argument: every entry
 * must be a token (RFC 6455 §4.1) and none may repeat (case-sensitive).
 * Throws SyntaxError; returns a fresh array.
 */
export function validateProtocolsForOffer(protocols: string | readonly string[] | undefined): string[] {
  if (protocols === undefined) return [];
  const list = typeof protocols === 'string' ? [protocols] : [...protocols];
  const seen = new Set<string>();
  for (const p of list) {
    if (typeof p !== 'string' || !isToken(p)) {
      throw new SyntaxError(`Invalid subprotocol: ${JSON.stringify(p)}`);
    }
    if (seen.has(p)) throw new SyntaxError(`Duplicate subprotocol: ${JSON.stringify(p)}`);
    seen.add(p);
  }
  return list;
}

// --- the request ---------------------------------------------------------------

// Names the handshake sets itself (the same list for both transports, so one set of options works
// over either), with what to use instead where there is something.
const HANDSHAKE_HEADERS: ReadonlyMap<string, string> = new Map([
  ['host', 'it comes from the URL'],
  ['connection', ''],
  ['upgrade', ''],
  ['sec-websocket-key', ''],
  ['sec-websocket-version', ''],
  ['sec-websocket-protocol', 'use the protocols option'],
  ['sec-websocket-extensions', 'use the extensions or perMessageDeflate option'],
  // Connection-specific fields, which HTTP/2 forbids (RFC 9113 §8.2.2), and framing fields, which
  // would describe a request body a handshake does not have.
  ['keep-alive', ''],
  ['proxy-connection', ''],
  ['transfer-encoding', ''],
  ['te', ''],
  ['http2-settings', ''],
  ['content-length', ''],
]);

// RFC 9110 §5.5: field-value = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]. Only
// VCHAR is accepted (no obs-text) so the header section stays ASCII whatever the transport; CR, LF
// and NUL are refused, which is what keeps a value from injecting a header.
function fieldValueProblem(value: string): string | null {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x09 || (c >= 0x20 && c <= 0x7e)) continue;
    const shown = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    return `has the character ${shown} at index ${i}, which an HTTP field value cannot carry (only visible ASCII, space and tab; RFC 9110 §5.5)`;
  }
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) {
    return 'starts or ends with a space or tab (RFC 9110 §5.5)';
  }
  return null;
}

/**
 * Checks the headers an application adds to the opening handshake and returns them with their
 * names lowercased (HTTP/2 requires lowercase, RFC 9113 §8.2.1; HTTP/1.1 does not care). Throws a
 * TypeError naming the header (never quoting its value, which may be a secret) for a name that is
 * not a token, a value that is not a valid field value, a name given twice, or a name the
 * handshake sets itself. Origin may be given here unless `origin` is set too.
 */
export function checkRequestHeaders(headers: RequestHeaders | undefined, origin?: string): RequestHeaders {
  const out: RequestHeaders = {};
  if (headers === undefined) return out;
  if (headers === null || typeof headers !== 'object') throw new TypeError('headers must be an object of header names to values');
  for (const name of Object.keys(headers)) {
    if (!isToken(name)) throw new TypeError(`Invalid header name: ${JSON.stringify(name)} (RFC 9110 §5.1: a token)`);
    const lower = name.toLowerCase();
    const instead = HANDSHAKE_HEADERS.get(lower);
    if (instead !== undefined) {
      throw new TypeError(`Header ${name} is set by the WebSocket handshake and cannot be given in headers${instead === '' ? '' : `; ${instead}`}`);
    }
    if (lower === 'origin' && origin !== undefined) throw new TypeError('Origin is given twice: in headers and as the origin option');
    if (Object.hasOwn(out, lower)) throw new TypeError(`Header ${name} is given twice (header names are case-insensitive)`);
    const value = headers[name];
    const values: readonly unknown[] = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v !== 'string') throw new TypeError(`The value of header ${name} must be a string or an array of strings, got ${typeof v}`);
      const problem = fieldValueProblem(v);
      if (problem !== null) throw new TypeError(`The value of header ${name} ${problem}`);
    }
    out[lower] = Array.isArray(value) ? [...(value as string[])] : (value as string);
  }
  if (origin !== undefined) {
    const problem = fieldValueProblem(origin);
    if (problem !== null) throw new TypeError(`The origin option ${problem}`);
  }
  return out;
}

/** What a client sends in its opening handshake, whatever the transport. */
export interface ClientRequestFields {
  /** Subprotocols to offer, already checked by validateProtocolsForOffer. */
  protocols?: readonly string[] | undefined;
  /** The Sec-WebSocket-Extensions offer ('' or undefined: none). */
  extensions?: string | undefined;
  origin?: string | undefined;
  headers?: RequestHeaders | undefined;
}

// The WebSocket fields both transports send, after the application's headers so that the
// handshake's own always win (checkRequestHeaders already refuses them).
function webSocketFields(out: OutgoingHttpHeaders, fields: ClientRequestFields): OutgoingHttpHeaders {
  out['sec-websocket-version'] = '13';
  const protocols = validateProtocolsForOffer(fields.protocols);
  if (protocols.length > 0) out['sec-websocket-protocol'] = protocols.join(', ');
  if (fields.extensions !== undefined && fields.extensions !== '') {
    const problem = fieldValueProblem(fields.extensions);
    if (problem !== null) throw new TypeError(`The extension offer ${problem}`);
    out['sec-websocket-extensions'] = fields.extensions;
  }
  if (fields.origin !== undefined) out['origin'] = fields.origin;
  return out;
}

/**
 * The header fields of an HTTP/1.1 opening handshake (RFC 6455 §4.1), for node:http to send with
 * `GET` (it adds Host from the URL). Throws as checkRequestHeaders does, and SyntaxError for bad
 * subprotocols.
 */
export function buildUpgradeRequestHeaders(fields: ClientRequestFields & { key: string }): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...checkRequestHeaders(fields.headers, fields.origin) };
  // §4.1 items 5, 6, 7.
  out['upgrade'] = 'websocket';
  out['connection'] = 'Upgrade';
  out['sec-websocket-key'] = fields.key;
  return webSocketFields(out, fields);
}

/** The request a client sends to open a WebSocket on an HTTP/2 stream (RFC 8441 §5). */
export function buildExtendedConnectHeaders(
  fields: ClientRequestFields & { path: string; authority: string; secure: boolean },
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...checkRequestHeaders(fields.headers, fields.origin) };
  // §4: CONNECT with :protocol, and :scheme and :path like any request.
  out[':method'] = 'CONNECT';
  out[':protocol'] = 'websocket';
  out[':scheme'] = fields.secure ? 'https' : 'http';
  out[':path'] = fields.path;
  out[':authority'] = fields.authority;
  return webSocketFields(out, fields);
}

// --- the response ----------------------------------------------------------------

export type SubprotocolCheck = { ok: true; protocol: string } | { ok: false; reason: string };

/**
 * RFC 6455 §4.1 client item 6 (and RFC 8441 §5, which keeps it): the server selects at most one
 * subprotocol, and only one that was offered; none selected gives ''.
 */
export function checkSelectedSubprotocol(value: string | string[] | undefined, offered: readonly string[]): SubprotocolCheck {
  if (value === undefined) return { ok: true, protocol: '' };
  if (offered.length === 0) return { ok: false, reason: 'Server sent a subprotocol but none was requested.' };
  const selected = single(value);
  const protocol = typeof selected === 'string' ? trimOWS(selected) : '';
  if (!isToken(protocol)) {
    return { ok: false, reason: 'Server sent an invalid Sec-WebSocket-Protocol header (expected exactly one subprotocol).' };
  }
  if (!offered.includes(protocol)) {
    return { ok: false, reason: `Server selected subprotocol ${JSON.stringify(protocol)}, which was not requested.` };
  }
  return { ok: true, protocol };
}

export type ResponseCheck = { ok: true; protocol: string; extensions: ExtensionOffer[] } | { ok: false; reason: string };

/**
 * Validates the server's handshake response (RFC 6455 §4.1, client items 1–6). `httpVersion` is
 * the response's, as Node reports it ("1.1"). Extensions are only parsed; checking them against
 * the offer is the negotiator's job.
 */
export function checkUpgradeResponse(
  res: { statusCode: number; httpVersion?: string; headers: HeaderMap },
  key: string,
  offeredProtocols: readonly string[],
): ResponseCheck {
  const h = res.headers;
  // Item 1: 101 Switching Protocols.
  if (res.statusCode !== 101) {
    return { ok: false, reason: `Unexpected server response status ${res.statusCode}; expected 101.` };
  }
  // §4.1: the handshake is an HTTP/1.1 (or later) exchange; HTTP/1.0 has no 101.
  if (res.httpVersion !== undefined && !isHttp11OrLater(res.httpVersion)) {
    return { ok: false, reason: `The server answered 101 in HTTP/${res.httpVersion}; a WebSocket handshake needs HTTP/1.1 or later (RFC 6455 §4.1).` };
  }
  // Item 2: Upgrade is (case-insensitively) "websocket".
  const upgrade = single(h['upgrade']);
  if (typeof upgrade !== 'string' || trimOWS(upgrade).toLowerCase() !== 'websocket') {
    return { ok: false, reason: 'Missing or invalid Upgrade header in server response.' };
  }
  // Item 3: Connection contains "Upgrade".
  if (!hasToken(h['connection'], 'upgrade')) {
    return { ok: false, reason: 'Missing or invalid Connection header in server response.' };
  }
  // Item 4: Sec-WebSocket-Accept = base64(SHA-1(key + GUID)).
  const accept = single(h['sec-websocket-accept']);
  if (accept === undefined) {
    return { ok: false, reason: 'Missing Sec-WebSocket-Accept header.' };
  }
  if (accept === null || trimOWS(accept) !== acceptKey(key)) {
    return { ok: false, reason: 'Invalid Sec-WebSocket-Accept header.' };
  }
  // Item 5: extensions must parse; the negotiator checks them against the offer.
  const extensions = parseExtensionHeader(h['sec-websocket-extensions']);
  if (extensions === null) {
    return { ok: false, reason: 'Invalid Sec-WebSocket-Extensions header in server response.' };
  }
  // Item 6.
  const protocol = checkSelectedSubprotocol(h['sec-websocket-protocol'], offeredProtocols);
  return protocol.ok ? { ok: true, protocol: protocol.protocol, extensions } : protocol;
}

export type ExtendedConnectResponseCheck = SubprotocolCheck;

/**
 * Checks the server's answer to an extended CONNECT (RFC 8441 §5): a 2xx opens the tunnel
 * (RFC 9110 §9.3.6), and the subprotocol rule of RFC 6455 §4.1 holds. Extensions are the
 * negotiator's job.
 */
export function checkExtendedConnectResponse(
  headers: { readonly ':status'?: unknown; readonly 'sec-websocket-protocol'?: string | string[] | undefined },
  offeredProtocols: readonly string[],
): ExtendedConnectResponseCheck {
  const status = Number(headers[':status']);
  if (!(status >= 200 && status < 300)) return { ok: false, reason: `Unexpected server response: ${status}` };
  return checkSelectedSubprotocol(headers['sec-websocket-protocol'], offeredProtocols);
}
