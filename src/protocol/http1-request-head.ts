// A strict, linear-time parser for the one request head the upgrade fast path takes: a bodiless
// HTTP/1.1 GET that asks for `Upgrade: websocket` (RFC 9112 §2–§5, RFC 6455 §4.1). Anything else,
// or anything unusual about it, is "not mine" and goes to Node's full HTTP parser instead, so this
// parser never has to be lenient.

import { hasToken, isOWS, isTChar } from './http-tokens.js';

export interface RequestHead {
  method: string;
  url: string;
  /** Lowercase names; repeated list-valued fields joined with ", " as Node does. */
  headers: Record<string, string>;
  /**
   * The head as latin1 text, request line and field lines (CRLF-terminated), without the blank
   * line: rawHeadersOf() reads the fields as received from it, when someone asks.
   */
  text: string;
  /** Bytes of the head, CRLFCRLF included; what follows belongs to the upgraded protocol. */
  length: number;
}

/** Not enough bytes yet for a complete head. */
export const INCOMPLETE = 0;
/** Not a request this parser takes (or not well-formed): hand it to the full HTTP parser. */
export const NOT_MINE = 1;
/** No complete head within the size limit: whatever the request, the answer is 431. */
export const TOO_LARGE = 2;

const MAX_HEADERS = 100;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const HTTP11 = ' HTTP/1.1';

// Fields that may repeat and are joined into one list (RFC 9110 §5.3); any other repeated field
// sends the request to the full parser, which knows every field's rules.
const LIST_FIELDS = new Set([
  'connection',
  'upgrade',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'cache-control',
  'pragma',
  'accept-encoding',
  'accept-language',
  'cookie',
]);

// The names an opening handshake usually carries, lowercase, by length: a name read from the
// head that is one of these (in any case) is this constant string, not two new strings (the
// slice and its lowercase copy) per field per request.
const KNOWN_NAMES: readonly (readonly string[])[] = (() => {
  const byLength: string[][] = [];
  for (const name of [
    'host', 'upgrade', 'connection', 'origin', 'cookie', 'pragma', 'user-agent', 'cache-control',
    'accept-encoding', 'accept-language', 'sec-websocket-key', 'sec-websocket-version',
    'sec-websocket-protocol', 'sec-websocket-extensions',
  ]) {
    (byLength[name.length] ??= []).push(name);
  }
  return byLength;
})();

// Values nearly every handshake sends, exactly as sent (values keep their case), by length: a
// value that is one of these is this constant string, not a new one per field per request.
const KNOWN_VALUES: readonly (readonly string[])[] = (() => {
  const byLength: string[][] = [];
  for (const value of ['websocket', 'WebSocket', 'Upgrade', 'upgrade', '13', 'keep-alive, Upgrade', 'no-cache']) {
    (byLength[value.length] ??= []).push(value);
  }
  return byLength;
})();

/** `text[start, end)`, as one of KNOWN_VALUES when it is one. */
function fieldValue(text: string, start: number, end: number): string {
  const candidates = KNOWN_VALUES[end - start];
  if (candidates !== undefined) {
    next: for (const value of candidates) {
      for (let i = 0; i < value.length; i++) {
        if (text.charCodeAt(start + i) !== value.charCodeAt(i)) continue next;
      }
      return value;
    }
  }
  return text.slice(start, end);
}

/**
 * `text[start, end)` lowercased. The range holds tchars only (checked by the caller), so `| 0x20`
 * equals a lowercase letter or "-" only for that letter in either case, or for "-" itself.
 */
function fieldName(text: string, start: number, end: number): string {
  const candidates = KNOWN_NAMES[end - start];
  if (candidates !== undefined) {
    next: for (const name of candidates) {
      for (let i = 0; i < name.length; i++) {
        if ((text.charCodeAt(start + i) | 0x20) !== name.charCodeAt(i)) continue next;
      }
      return name;
    }
  }
  return text.slice(start, end).toLowerCase();
}

/**
 * Parses a request head from the start of `data`, looking at most `maxSize` bytes. `scanned`:
 * how many bytes an earlier call already saw without finding the blank line (a head arriving in
 * pieces is then searched once, not once per piece).
 */
export function parseUpgradeRequestHead(
  data: Buffer,
  maxSize: number,
  scanned = 0,
): RequestHead | typeof INCOMPLETE | typeof NOT_MINE | typeof TOO_LARGE {
  // The blank line may straddle the old and the new bytes: step back three.
  const end = data.indexOf(CRLFCRLF, Math.max(0, scanned - 3));
  if (end === -1) return data.length >= maxSize ? TOO_LARGE : INCOMPLETE;
  if (end + 4 > maxSize) return TOO_LARGE;
  const text = data.toString('latin1', 0, end + 2);

  // Request line: "GET SP request-target SP HTTP/1.1 CRLF" (RFC 9112 §3).
  if (!text.startsWith('GET /')) return NOT_MINE;
  const lineEnd = text.indexOf('\r\n');
  const space = text.lastIndexOf(' ', lineEnd);
  // Compared in place: a slice would be a new string per request.
  if (space <= 4 || lineEnd - space !== HTTP11.length || !text.startsWith(HTTP11, space)) return NOT_MINE;
  const url = text.slice(4, space);
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return NOT_MINE;
  }

  // An ordinary object, as IncomingMessage.headers is (verify hooks call hasOwnProperty on it). A
  // name it inherits (__proto__, constructor, …) reads as a repeated field below, so such heads go
  // to node:http, which knows what to do with them.
  const headers: Record<string, string> = {};
  let pos = lineEnd + 2;
  let count = 0;
  while (pos < text.length) {
    const eol = text.indexOf('\r\n', pos);
    if (++count > MAX_HEADERS) return NOT_MINE;
    // field-name ":" OWS field-value OWS (RFC 9112 §5); no space before the colon, no obs-fold.
    let colon = pos;
    while (colon < eol && isTChar(text.charCodeAt(colon))) colon++;
    if (colon === pos || text.charCodeAt(colon) !== 0x3a) return NOT_MINE;
    let start = colon + 1;
    let stop = eol;
    while (start < stop && isOWS(text.charCodeAt(start))) start++;
    while (stop > start && isOWS(text.charCodeAt(stop - 1))) stop--;
    for (let i = start; i < stop; i++) {
      const c = text.charCodeAt(i);
      // Field values: VCHAR, obs-text, SP, HTAB; no CTLs (a bare CR or LF lands here too).
      if ((c < 0x20 && c !== 0x09) || c === 0x7f) return NOT_MINE;
    }
    const value = fieldValue(text, start, stop);
    const name = fieldName(text, pos, colon);
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    // RFC 6265 §5.4: cookie-pairs are separated by "; " (node:http joins Cookie the same way).
    else if (name === 'cookie') headers[name] = `${previous}; ${value}`;
    else if (LIST_FIELDS.has(name) && typeof previous === 'string') headers[name] = `${previous}, ${value}`;
    else return NOT_MINE;
    pos = eol + 2;
  }

  // Only bodiless upgrade requests; a body has framing rules this parser does not implement.
  if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return NOT_MINE;
  // Other upgrades (h2c, a user's own) take the general router's path through Node's parser.
  if (!hasToken(headers['upgrade'], 'websocket') || !hasToken(headers['connection'], 'upgrade')) return NOT_MINE;
  if (headers['host'] === undefined) return NOT_MINE;
  return { method: 'GET', url, headers, text, length: end + 4 };
}

/**
 * Names and values as received, alternating, as Node's `rawHeaders`, from the text of a head
 * parseUpgradeRequestHead() accepted (so every field line is well-formed). Built on demand: a
 * handshake rarely needs it, and the list costs two strings per field.
 */
export function rawHeadersOf(text: string): string[] {
  const raw: string[] = [];
  let pos = text.indexOf('\r\n') + 2;
  while (pos < text.length) {
    const eol = text.indexOf('\r\n', pos);
    const colon = text.indexOf(':', pos);
    let start = colon + 1;
    let stop = eol;
    while (start < stop && isOWS(text.charCodeAt(start))) start++;
    while (stop > start && isOWS(text.charCodeAt(stop - 1))) stop--;
    raw.push(text.slice(pos, colon), text.slice(start, stop));
    pos = eol + 2;
  }
  return raw;
}
