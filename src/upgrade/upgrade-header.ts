// The Upgrade header field (RFC 9110 §7.8), sans-I/O:
//   Upgrade          = #protocol
//   protocol         = protocol-name ["/" protocol-version]
//   protocol-name    = token
//   protocol-version = token

import { isTChar, lowerToken, trimOWS } from '../protocol/http-tokens.js';

/** One protocol a client offered in its Upgrade header. */
export interface UpgradeOffer {
  /** The protocol name, lowercased: names compare case-insensitively (RFC 9110 §7.8). */
  name: string;
  /** The protocol version after "/", as sent; '' when absent. */
  version: string;
  /** The element exactly as sent (e.g. "WebSocket", "HTTP/2.0"). */
  raw: string;
}

function isTokenRange(s: string, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) if (!isTChar(s.charCodeAt(i))) return false;
  return true;
}

/**
 * The protocols a client offered, in its order of preference. Elements that are not
 * `token ["/" token]` are skipped rather than failing the whole header: an Upgrade a server
 * cannot use is ignored (RFC 9110 §7.8), and the valid offers around it stay usable.
 */
export function parseUpgradeHeader(value: string | string[] | undefined): UpgradeOffer[] {
  if (value === undefined) return [];
  // One protocol (`Upgrade: websocket`, nearly every request): a list of exactly one, rather
  // than an empty list that the first push() grows to room for seventeen.
  if (typeof value === 'string' && value.indexOf(',') === -1) {
    const offer = offerOf(trimOWS(value));
    return offer === null ? [] : [offer];
  }
  const out: UpgradeOffer[] = [];
  if (typeof value === 'string') addOffers(out, value);
  else for (const line of value) addOffers(out, line);
  return out;
}

/** Appends the valid, new offers of one header line to `out`. */
function addOffers(out: UpgradeOffer[], line: string): void {
  let from = 0;
  while (from <= line.length) {
    let comma = line.indexOf(',', from);
    if (comma === -1) comma = line.length;
    const raw = trimOWS(line.slice(from, comma));
    from = comma + 1;
    const offer = offerOf(raw);
    // A repeat is dropped; offers are few, so a scan beats a Set built per request.
    if (offer !== null && !isRepeat(out, offer.name, offer.version)) out.push(offer);
  }
}

/** One list element, OWS trimmed: the offer, or null when empty or not `token ["/" token]`. */
function offerOf(raw: string): UpgradeOffer | null {
  if (raw === '') return null; // RFC 9110 §5.6.1: empty list elements are ignored
  const slash = raw.indexOf('/');
  const nameEnd = slash === -1 ? raw.length : slash;
  if (!isTokenRange(raw, 0, nameEnd)) return null;
  if (slash !== -1 && !isTokenRange(raw, slash + 1, raw.length)) return null;
  const name = lowerToken(slash === -1 ? raw : raw.slice(0, nameEnd));
  const version = slash === -1 ? '' : raw.slice(slash + 1);
  return { name, version, raw };
}

function isRepeat(offers: readonly UpgradeOffer[], name: string, version: string): boolean {
  for (const offer of offers) if (offer.name === name && offer.version === version) return true;
  return false;
}

/** True if `token` can name an upgrade protocol (a token without "/"). */
export function isProtocolName(token: string): boolean {
  return isTokenRange(token, 0, token.length);
}
