// HTTP token and list helpers (RFC 9110 §5.6). Pure, linear-time char-code scans.

const SP = 0x20;
const HTAB = 0x09;
const COMMA = 0x2c;

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "."
//                        / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TCHAR = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** True if the char code is an RFC 9110 §5.6.2 tchar. */
export function isTChar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/** True if `s` is a non-empty RFC 9110 §5.6.2 token. */
export function isToken(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    if (!isTChar(s.charCodeAt(i))) return false;
  }
  return true;
}

/**
 * True if `s` is a field value we send: HTAB / SP / VCHAR (RFC 9110 §5.5). obs-text is refused
 * so a header section is pure ASCII and encoding-agnostic; CR/LF/NUL are refused to prevent
 * header injection.
 */
export function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === HTAB) continue;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/**
 * The one value of a header field that may occur only once: undefined if absent (or an empty
 * list), null if repeated (RFC 9110 §5.3: only list-based fields may be combined).
 */
export function singleValue(value: string | string[] | undefined): string | undefined | null {
  if (value === undefined || typeof value === 'string') return value;
  if (value.length === 0) return undefined;
  return value.length === 1 ? value[0]! : null;
}

/** Strips leading/trailing OWS (SP / HTAB only; RFC 9110 §5.6.3), unlike String#trim. */
export function trimOWS(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isOWS(s.charCodeAt(start))) start++;
  while (end > start && isOWS(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** True if the char code is OWS: SP or HTAB (RFC 9110 §5.6.3). */
export function isOWS(c: number): boolean {
  return c === SP || c === HTAB;
}

/** The index of the first non-OWS char of `s` at or after `i` (s.length if none). */
export function skipOWS(s: string, i: number): number {
  const n = s.length;
  while (i < n && isOWS(s.charCodeAt(i))) i++;
  return i;
}

// RFC 9110 §5.6.1: `#token` = [ token ] *( OWS "," OWS [ token ] ); empty elements
// are accepted and ignored (§5.6.1.2). Appends tokens to `out`; false if malformed.
function scanTokenList(s: string, out: string[], lower: boolean): boolean {
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (isOWS(c) || c === COMMA) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && isTChar(s.charCodeAt(i))) i++;
    if (i === start) return false;
    const tok = s.slice(start, i);
    out.push(lower ? tok.toLowerCase() : tok);
    i = skipOWS(s, i);
    if (i < n) {
      if (s.charCodeAt(i) !== COMMA) return false;
      i++;
    }
  }
  return true;
}

function scanAll(value: string | string[], lower: boolean): string[] | null {
  const out: string[] = [];
  if (typeof value === 'string') return scanTokenList(value, out, lower) ? out : null;
  for (const v of value) {
    if (!scanTokenList(v, out, lower)) return null;
  }
  return out;
}

/**
 * Parses an RFC 9110 §5.6.1 `#token` list into lowercased tokens.
 * Arrays (repeated header lines) are treated as one concatenated list.
 * Returns [] for undefined and null if any element is not a token.
 */
export function parseTokenList(value: string | string[] | undefined): string[] | null {
  if (value === undefined) return [];
  return scanAll(value, true);
}

/**
 * `s` with ASCII letters lowercased, for tokens (names compared case-insensitively): `s` itself
 * when it has no uppercase letter, where String#toLowerCase() makes a new string even then.
 */
export function lowerToken(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return s.toLowerCase();
  }
  return s;
}

function asciiLower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/**
 * Case-insensitive (ASCII) membership test for a comma-separated header list,
 * e.g. hasToken('keep-alive, Upgrade', 'upgrade'). Lenient: other elements are
 * not validated (so `Upgrade: h2c/1, websocket` still matches 'websocket').
 */
export function hasToken(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  if (typeof value === 'string') return listHas(value, token);
  for (const v of value) {
    if (listHas(v, token)) return true;
  }
  return false;
}

function listHas(s: string, token: string): boolean {
  const n = s.length;
  const tl = token.length;
  let i = 0;
  while (i < n) {
    i = skipOWS(s, i);
    const start = i;
    while (i < n && s.charCodeAt(i) !== COMMA) i++;
    let end = i;
    while (end > start && isOWS(s.charCodeAt(end - 1))) end--;
    if (end - start === tl && tl !== 0) {
      let j = 0;
      while (j < tl && asciiLower(s.charCodeAt(start + j)) === asciiLower(token.charCodeAt(j))) j++;
      if (j === tl) return true;
    }
    i++; // skip the comma
  }
  return false;
}

/**
 * Parses `Sec-WebSocket-Protocol` (RFC 6455 §4.1, §11.3.4: 1#token). Tokens are
 * case-sensitive and kept as-is; a repeated value or a non-token element => null.
 * Returns [] for undefined or a header with only empty elements.
 */
export function parseProtocolList(value: string | string[] | undefined): string[] | null {
  if (value === undefined) return [];
  const out = scanAll(value, false);
  if (out === null) return null;
  if (out.length > 1 && new Set(out).size !== out.length) return null;
  return out;
}
