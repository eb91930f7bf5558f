// RFC 6455 §4 opening handshake, sans-I/O: validation of requests/responses and
// serialisation of the HTTP/1.1 messages. Nothing here touches a socket.

import { hash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { hasToken, isFieldValue, isToken, parseProtocolList, singleValue, trimOWS } from './http-tokens.js';
import { parseExtensionHeader, type ExtensionOffer } from './extension-header.js';
import { refusal, type HandshakeOffer, type Refusal } from './server-handshake.js';

/** RFC 6455 §1.3 magic GUID appended to the key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

type HeaderMap = Record<string, string | string[] | undefined>;

/** The length of every valid Sec-WebSocket-Key: 16 bytes in base64 (RFC 6455 §4.1 item 7). */
const KEY_LENGTH = 24;
/** Room for a key, then the GUID: what acceptKey() hashes. */
const KEY_AND_GUID = Buffer.from('='.repeat(KEY_LENGTH) + WEBSOCKET_GUID, 'latin1');

/** RFC 6455 §4.2.2 item 5.4: base64(SHA-1(key + GUID)). */
export function acceptKey(key: string): string {
  // One call, no Hash object (crypto.hash, Node.js >= 20.12): a third of the cost of createHash().
  // A key of the usual length (ASCII, so its UTF-8 bytes are its chars) is written in front of
  // the GUID in one buffer kept for it: no concatenated string for crypto to flatten and encode.
  if (key.length !== KEY_LENGTH || !isAscii(key)) return hash('sha1', key + WEBSOCKET_GUID, 'base64');
  KEY_AND_GUID.write(key, 0, KEY_LENGTH, 'latin1');
  return hash('sha1', KEY_AND_GUID, 'base64');
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function isBase64Char(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2b || // +
    c === 0x2f // /
  );
}

/**
 * RFC 6455 §4.1 item 7 / §4.2.1 item 5: the key must decode to exactly 16 bytes.
 * Canonical base64 only: 22 data chars + "==", and the 22nd char carries just
 * 2 bits, so it must be one of A, Q, g, w (low 4 bits zero).
 */
export function isValidKey(key: string): boolean {
  if (key.length !== 24) return false;
  if (key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d) return false;
  for (let i = 0; i < 21; i++) {
    if (!isBase64Char(key.charCodeAt(i))) return false;
  }
  const last = key.charCodeAt(21);
  return last === 0x41 || last === 0x51 || last === 0x67 || last === 0x77; // A Q g w
}

// --- shared serialisation helpers -------------------------------------------

function assertFieldValue(name: string, value: unknown): string {
  if (typeof value !== 'string' || !isFieldValue(value)) {
    throw new TypeError(`Invalid value for header ${name}: ${JSON.stringify(value)}`);
  }
  return value;
}

// Serialises user headers. Names must be tokens; names listed in `reserved`
// (lowercase) are produced by this module and may not be supplied twice.
function serializeHeaders(
  headers: Record<string, string | string[]> | undefined,
  reserved: ReadonlySet<string>,
): string {
  if (headers === undefined) return '';
  let out = '';
  for (const name of Object.keys(headers)) {
    if (!isToken(name)) throw new TypeError(`Invalid header name: ${JSON.stringify(name)}`);
    if (reserved.has(name.toLowerCase())) {
      throw new TypeError(`Header ${name} is set by the handshake and cannot be overridden`);
    }
    const value = headers[name];
    const values: readonly unknown[] = Array.isArray(value) ? value : [value];
    for (const v of values) out += `${name}: ${assertFieldValue(name, v)}\r\n`;
  }
  return out;
}

// --- server side --------------------------------------------------------------

/** The parts of a Node IncomingMessage the check needs (header names lowercase). */
export interface UpgradeRequestInfo {
  method?: string | undefined; // optional in IncomingMessage
  httpVersion: string;
  headers: HeaderMap;
}

/** A well-formed request: its key, and what it offers (the handshake's offer as it is). */
export type RequestCheck = (HandshakeOffer & { ok: true; key: string }) | Refusal;

// The offers of a request without Sec-WebSocket-Protocol or -Extensions (most): shared, so
// frozen. Nothing writes to an offer's lists; the verify hook is given a copy (handshakeInfo).
const NO_PROTOCOLS: string[] = Object.freeze([]) as unknown as string[];
const NO_EXTENSIONS: ExtensionOffer[] = Object.freeze([]) as unknown as ExtensionOffer[];

/** Parses "D.D" (or "D") as Node reports it; true if >= 1.1 (RFC 6455 §4.1 item 2). */
export function isHttp11OrLater(v: string): boolean {
  const n = v.length;
  if (n !== 1 && n !== 3) return false;
  const major = v.charCodeAt(0) - 0x30;
  if (major < 0 || major > 9) return false;
  let minor = 0;
  if (n === 3) {
    if (v.charCodeAt(1) !== 0x2e) return false;
    minor = v.charCodeAt(2) - 0x30;
    if (minor < 0 || minor > 9) return false;
  }
  return major > 1 || (major === 1 && minor >= 1);
}

/**
 * Validates a client's opening handshake (RFC 6455 §4.2.1). On failure, `status`,
 * `reason` (use as the body) and optional `headers` feed buildErrorResponse. `path`: the
 * request target's path, carried into the result so that it is the handshake's offer as well
 * (one object per handshake, not two).
 */
export function checkUpgradeRequest(req: UpgradeRequestInfo, path = '/'): RequestCheck {
  const h = req.headers;
  // §4.2.1 item 1: GET (method names are case-sensitive, RFC 9110 §9.1).
  if (req.method !== 'GET') {
    return refusal(405, 'The WebSocket handshake must use the GET method.', { Allow: 'GET' });
  }
  // §4.2.1 item 1: HTTP/1.1 or higher.
  if (!isHttp11OrLater(req.httpVersion)) {
    return refusal(400, 'The WebSocket handshake requires HTTP/1.1 or later.');
  }
  // §4.2.1 item 2: Host header field (exactly one, RFC 9112 §3.2).
  const host = singleValue(h['host']);
  if (host === undefined || host === null || trimOWS(host) === '') {
    return refusal(400, 'Missing or invalid Host header.');
  }
  // §4.2.1 item 3: Upgrade contains "websocket" (case-insensitive).
  if (!hasToken(h['upgrade'], 'websocket')) {
    return refusal(400, 'Missing or invalid Upgrade header.');
  }
  // §4.2.1 item 4: Connection contains "Upgrade" (case-insensitive).
  if (!hasToken(h['connection'], 'upgrade')) {
    return refusal(400, 'Missing or invalid Connection header.');
  }
  // §4.2.1 item 5: Sec-WebSocket-Key, base64 of 16 bytes, exactly once.
  const rawKey = singleValue(h['sec-websocket-key']);
  const key = typeof rawKey === 'string' ? trimOWS(rawKey) : '';
  if (!isValidKey(key)) {
    return refusal(400, 'Missing or invalid Sec-WebSocket-Key header.');
  }
  // §4.2.1 item 6 / §4.2.2: version 13, otherwise 426 advertising what we speak.
  const version = h['sec-websocket-version'];
  if (version === undefined) {
    return refusal(400, 'Missing Sec-WebSocket-Version header.');
  }
  const v = typeof version === 'string' ? trimOWS(version) : version.map(trimOWS).join(', ');
  if (v !== '13') {
    return refusal(426, 'Unsupported WebSocket version; only version 13 is supported.', {
      'Sec-WebSocket-Version': '13',
    });
  }
  // §4.2.1 item 8 (optional): subprotocols.
  const protocolField = h['sec-websocket-protocol'];
  const protocols = protocolField === undefined ? NO_PROTOCOLS : parseProtocolList(protocolField);
  if (protocols === null) {
    return refusal(400, 'Invalid Sec-WebSocket-Protocol header.');
  }
  // §4.2.1 item 9 (optional): extensions.
  const extensionField = h['sec-websocket-extensions'];
  const extensions = extensionField === undefined ? NO_EXTENSIONS : parseExtensionHeader(extensionField);
  if (extensions === null) {
    return refusal(400, 'Invalid Sec-WebSocket-Extensions header.');
  }
  // §4.2.1 item 7 (optional): Origin; pre-RFC drafts sent Sec-WebSocket-Origin.
  // Repeated values are joined so an origin allow-list can never match them.
  const rawOrigin = h['origin'] ?? h['sec-websocket-origin'];
  const origin = Array.isArray(rawOrigin) ? rawOrigin.join(', ') : rawOrigin;
  return { ok: true, key, protocols, extensions, origin, path };
}

const ACCEPT_RESERVED: ReadonlySet<string> = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

// The fixed start of every 101 (RFC 6455 §4.2.2 item 5), one string built once.
const ACCEPT_HEAD = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ';

/**
 * Serialises the server's 101 response (RFC 6455 §4.2.2 item 5). `key` is the
 * client's Sec-WebSocket-Key; `protocol` / `extensions` are omitted when undefined
 * or ''. Throws TypeError for a non-token protocol or unsafe header names/values.
 */
export function buildAcceptResponse(
  key: string,
  protocol: string | undefined,
  extensions: string | undefined,
  extraHeaders?: Record<string, string | string[]>,
): string {
  const accept = acceptKey(key);
  const plain = (protocol === undefined || protocol === '') && (extensions === undefined || extensions === '') && extraHeaders === undefined;
  // The usual answer in one expression: each `+` is a string of its own until the write.
  if (plain) return ACCEPT_HEAD + accept + '\r\n\r\n';
  let out = ACCEPT_HEAD + accept + '\r\n';
  if (protocol !== undefined && protocol !== '') {
    if (!isToken(protocol)) throw new TypeError(`Invalid subprotocol: ${JSON.stringify(protocol)}`);
    out += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  }
  if (extensions !== undefined && extensions !== '') {
    out += `Sec-WebSocket-Extensions: ${assertFieldValue('Sec-WebSocket-Extensions', extensions)}\r\n`;
  }
  return extraHeaders === undefined ? out + '\r\n' : out + serializeHeaders(extraHeaders, ACCEPT_RESERVED) + '\r\n';
}

const ERROR_RESERVED: ReadonlySet<string> = new Set([
  'connection',
  'content-type',
  'content-length',
  'transfer-encoding',
]);

/**
 * Serialises a plain-text error response that closes the connection. The body is
 * `reason`; write the returned string as UTF-8 (the header section is pure ASCII).
 * `date`: the Date field value (RFC 9110 §6.6.1), read from the clock by the caller so that
 * this stays a pure function; a Date among `headers` takes its place.
 */
export function buildErrorResponse(
  status: number,
  reason: string,
  headers?: Record<string, string | string[]>,
  date?: string,
): string {
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new RangeError(`Invalid HTTP status code: ${status}`);
  }
  const phrase = STATUS_CODES[status] ?? 'Unknown';
  // RFC 9110 §15.5.22: every 426 names the protocol(s) to upgrade to; unless the caller named
  // others, that is the one this library speaks.
  const addUpgrade = status === 426 && !hasField(headers, 'upgrade');
  // RFC 9110 §7.8: a sender of Upgrade also sends the "upgrade" connection option.
  const connection = addUpgrade || hasField(headers, 'upgrade') ? 'Upgrade, close' : 'close';
  return (
    `HTTP/1.1 ${status} ${phrase}\r\n` +
    `Connection: ${connection}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(reason, 'utf8')}\r\n` +
    (date !== undefined && !hasField(headers, 'date') ? `Date: ${assertFieldValue('Date', date)}\r\n` : '') +
    (addUpgrade ? 'Upgrade: websocket\r\n' : '') +
    serializeHeaders(headers, ERROR_RESERVED) +
    '\r\n' +
    reason
  );
}

/** Whether `headers` has a field `name` (lowercase), whatever the case of its key. */
function hasField(headers: Record<string, unknown> | undefined, name: string): boolean {
  if (headers === undefined) return false;
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return true;
  return false;
}
