// Sec-WebSocket-Extensions parsing and formatting (RFC 6455 §9.1). Pure, linear time.
//
//   extension-list  = 1#extension
//   extension       = extension-token *( ";" extension-param )
//   extension-param = token [ "=" (token | quoted-string) ]
//     ; a quoted-string value, once unescaped, MUST be a token

import { isOWS, isTChar, isToken, skipOWS } from './http-tokens.js';

export interface ExtensionOffer {
  /** Extension name, lowercased. */
  name: string;
  /** Parameters by lowercased name; a parameter without a value maps to `true`. First occurrence wins. */
  params: Map<string, string | true>;
  /** True if a parameter name occurred more than once (negotiators should decline the offer). */
  duplicateParams: boolean;
}

const COMMA = 0x2c;
const SEMI = 0x3b;
const EQ = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

function skipToken(s: string, i: number): number {
  const n = s.length;
  while (i < n && isTChar(s.charCodeAt(i))) i++;
  return i;
}

// Parses one header line, appending to `out`. Every index advances monotonically,
// so the scan is O(n) regardless of input. False if malformed.
function parseInto(s: string, out: ExtensionOffer[]): boolean {
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    // RFC 9110 §5.6.1.2: skip OWS and empty list elements.
    if (isOWS(c) || c === COMMA) {
      i++;
      continue;
    }
    let start = i;
    i = skipToken(s, i);
    if (i === start) return false;
    const ext: ExtensionOffer = {
      name: s.slice(start, i).toLowerCase(),
      params: new Map(),
      duplicateParams: false,
    };
    out.push(ext);
    i = skipOWS(s, i);
    while (i < n && s.charCodeAt(i) === SEMI) {
      i = skipOWS(s, i + 1);
      start = i;
      i = skipToken(s, i);
      if (i === start) return false;
      const name = s.slice(start, i).toLowerCase();
      let value: string | true = true;
      i = skipOWS(s, i);
      if (i < n && s.charCodeAt(i) === EQ) {
        i = skipOWS(s, i + 1);
        if (i < n && s.charCodeAt(i) === DQUOTE) {
          // RFC 9110 §5.6.4 quoted-string; every unescaped char must be a tchar (§9.1).
          i++;
          let seg = i;
          let v = '';
          for (;;) {
            if (i >= n) return false; // unterminated
            const q = s.charCodeAt(i);
            if (q === DQUOTE) break;
            if (q === BACKSLASH) {
              if (i + 1 >= n || !isTChar(s.charCodeAt(i + 1))) return false;
              v += s.slice(seg, i);
              seg = i + 1; // the escaped char starts the next segment
              i += 2;
              continue;
            }
            if (!isTChar(q)) return false;
            i++;
          }
          v += s.slice(seg, i);
          i++; // closing quote
          if (v.length === 0) return false; // "" is not a token
          value = v;
        } else {
          start = i;
          i = skipToken(s, i);
          if (i === start) return false;
          value = s.slice(start, i);
        }
        i = skipOWS(s, i);
      }
      if (ext.params.has(name)) ext.duplicateParams = true;
      else ext.params.set(name, value);
    }
    if (i < n) {
      if (s.charCodeAt(i) !== COMMA) return false;
      i++;
    }
  }
  return true;
}

/**
 * Parses `Sec-WebSocket-Extensions` (RFC 6455 §9.1). Arrays (repeated header
 * lines) are concatenated in order. Returns [] for undefined or a header with
 * only empty elements, null if malformed.
 */
export function parseExtensionHeader(value: string | string[] | undefined): ExtensionOffer[] | null {
  const out: ExtensionOffer[] = [];
  if (value === undefined) return out;
  if (typeof value === 'string') return parseInto(value, out) ? out : null;
  for (const v of value) {
    if (!parseInto(v, out)) return null;
  }
  return out;
}

/**
 * Formats one extension, e.g. `permessage-deflate; client_max_window_bits=15; server_no_context_takeover`.
 * Names and values must be tokens (§9.1 quoted values are tokens anyway, so values
 * are never quoted); throws TypeError otherwise, which also rules out header injection.
 */
export function formatExtension(name: string, params: Iterable<[string, string | true]>): string {
  if (!isToken(name)) throw new TypeError(`Invalid extension name: ${JSON.stringify(name)}`);
  let out = name;
  for (const [key, value] of params) {
    if (!isToken(key)) throw new TypeError(`Invalid extension parameter name: ${JSON.stringify(key)}`);
    if (value === true) {
      out += `; ${key}`;
    } else {
      if (typeof value !== 'string' || !isToken(value)) {
        throw new TypeError(`Invalid value for extension parameter ${key}: ${JSON.stringify(value)}`);
      }
      out += `; ${key}=${value}`;
    }
  }
  return out;
}

/** Formats a full `Sec-WebSocket-Extensions` value: extensions joined by ", ". */
export function formatExtensionHeader(
  list: Iterable<{ name: string; params: Iterable<[string, string | true]> }>,
): string {
  const parts: string[] = [];
  for (const ext of list) parts.push(formatExtension(ext.name, ext.params));
  return parts.join(', ');
}
