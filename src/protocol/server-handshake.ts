// The server's handshake policy, sans-I/O: what to answer to a well-formed opening handshake,
// given the endpoint's configuration and its state. Origin (RFC 6455 §10.2), subprotocol
// (§4.2.2 item 5.4, §11.3.4), extensions (§9.1), the connection limit, shutdown, and the meaning
// of a verify hook's result. Every decision is data: an acceptance (what the success response
// carries) or a refusal (status, headers, body); the transports (HTTP/1.1 101, RFC 8441 :status
// 200) serialise it. Nothing here touches a socket or a timer; the only code it runs is the
// configuration's own callbacks (origin predicate, subprotocol selector, extension negotiators).

import type { ExtensionOffer } from './extension-header.js';
import { negotiateExtensions, NO_EXTENSIONS, type NegotiatedExtensions, type ServerExtension } from './extensions.js';
import { isFieldValue, isToken } from './http-tokens.js';

/** Header fields of a response, by name; an array sends the field once per value. */
export type HeaderFields = Record<string, string | string[]>;

/** A refusal as data: the status, its extra header fields and the plain-text body (`reason`). */
export interface Refusal {
  ok: false;
  status: number;
  reason: string;
  headers?: HeaderFields;
}

export function refusal(status: number, reason: string, headers?: HeaderFields): Refusal {
  return headers === undefined ? { ok: false, status, reason } : { ok: false, status, reason, headers };
}

/** What a well-formed request offers, whatever the transport (HTTP/1.1 upgrade or RFC 8441). */
export interface HandshakeOffer {
  /** Subprotocols the client offered, in its order. */
  protocols: string[];
  extensions: ExtensionOffer[];
  origin: string | undefined;
  /** The request target's path, without the query. */
  path: string;
}

/** What the verify hook is told besides the request. */
export interface HandshakeInfo {
  /** Subprotocols the client offered, in its order. */
  protocols: string[];
  /** The subprotocol that will be answered ('' for none). */
  protocol: string;
  origin: string | undefined;
  path: string;
}

/** What verify() may return: accept (optionally attaching data), or reject with an HTTP answer. */
export type VerifyResult<Data> =
  | void
  | boolean
  | { accept: true; data?: Data; headers?: HeaderFields }
  | { accept: false; status: number; body?: string; headers?: HeaderFields };

/** The endpoint's configuration. `Req` is the request type the subprotocol selector is given. */
export interface HandshakePolicy<Req> {
  /** Allowed Origin values, or a predicate; undefined allows any origin. */
  origins?: readonly string[] | ((origin: string | undefined) => boolean) | undefined;
  /** A preference list, or a selector returning one of the offers (or undefined for none). */
  protocols?: readonly string[] | ((offered: string[], req: Req) => string | undefined) | undefined;
  extensions: readonly ServerExtension[];
  /** Open connections plus handshakes in progress. */
  maxConnections: number;
}

/** The endpoint's state, read when a decision is taken (during the call only: the caller may reuse it). */
export interface EndpointState {
  /** Shutdown has begun. */
  closing: boolean;
  /** Open connections. */
  connections: number;
  /** Handshakes admitted and still deciding (a verify hook running). */
  handshakes: number;
}

/** The application's part of an acceptance. */
export interface Verdict<Data> {
  ok: true;
  data: Data | undefined;
  headers: HeaderFields | undefined;
}

/** An accepted handshake: what the success response carries, and the connection's settings. */
export interface Acceptance<Data> extends Verdict<Data> {
  /** The subprotocol answered ('' for none). */
  protocol: string;
  /**
   * The extensions answered. The codec, if any, belongs to the connection to be: release it if
   * the transport is gone before the connection exists.
   */
  extensions: NegotiatedExtensions;
}

export type HandshakeDecision<Data> = Acceptance<Data> | Refusal;

/** Accepting without a verify hook (or one that returned nothing or true). */
export const PLAIN_VERDICT: Verdict<never> = Object.freeze({ ok: true, data: undefined, headers: undefined });

// Shared by every decision that takes them; nothing downstream writes to a refusal.
const SHUTTING_DOWN = Object.freeze(refusal(503, 'The server is shutting down'));
// RFC 9110 §10.2.3: Retry-After on a 503 tells the client when to try again.
const TOO_MANY = Object.freeze(refusal(503, 'Too many connections', Object.freeze({ 'Retry-After': '5' })));
const ORIGIN_REFUSED = Object.freeze(refusal(403, 'Origin not allowed'));
const FORBIDDEN = Object.freeze(refusal(403, 'Forbidden'));
/** A verify hook that threw or whose promise rejected; its message stays on the server. */
export const VERIFY_FAILED: Refusal = Object.freeze(refusal(500, 'Handshake verification failed'));

/**
 * Accepted without a subprotocol, extensions or verify hook data, the common case: one shared
 * (read-only) decision rather than one per handshake.
 */
const PLAIN_ACCEPTANCE: Acceptance<never> = Object.freeze({ ok: true, protocol: '', extensions: NO_EXTENSIONS, data: undefined, headers: undefined });

/** Admitted without a subprotocol, the common case: one shared (read-only) result. */
const NO_SUBPROTOCOL: { readonly ok: true; readonly protocol: string } = Object.freeze({ ok: true, protocol: '' });

/** RFC 6455 §10.2: whether a browser's Origin may open a connection here. */
export function processOrigin<Req>(policy: HandshakePolicy<Req>, origin: string | undefined): boolean {
  const origins = policy.origins;
  if (origins === undefined) return true;
  if (typeof origins === 'function') return Boolean(origins(origin));
  return origin !== undefined && origins.includes(origin);
}

/**
 * RFC 6455 §4.2.2 item 5.4: the subprotocol to answer ('' for none), or a 500 refusal when a
 * selector picks one the client did not offer (the client would fail the connection, §4.1).
 */
export function processSubprotocol<Req>(policy: HandshakePolicy<Req>, offered: string[], req: Req): string | Refusal {
  const choice = policy.protocols;
  if (choice === undefined || offered.length === 0) return '';
  if (typeof choice !== 'function') {
    for (const candidate of choice) if (offered.includes(candidate)) return candidate;
    return '';
  }
  const picked = choice(offered, req);
  if (picked === undefined || picked === '') return '';
  if (typeof picked !== 'string' || !offered.includes(picked)) {
    return refusal(500, `Selected subprotocol ${JSON.stringify(picked)} was not offered by the client`);
  }
  return picked;
}

/**
 * The decisions taken before the verify hook: shutdown, the connection limit, origin and
 * subprotocol. A selector that throws is a 500 whose body is its message.
 */
export function admit<Req>(policy: HandshakePolicy<Req>, state: EndpointState, offer: HandshakeOffer, req: Req): { readonly ok: true; readonly protocol: string } | Refusal {
  if (state.closing) return SHUTTING_DOWN;
  if (state.connections + state.handshakes >= policy.maxConnections) return TOO_MANY;
  if (!processOrigin(policy, offer.origin)) return ORIGIN_REFUSED;
  let protocol: string | Refusal;
  try {
    protocol = processSubprotocol(policy, offer.protocols, req);
  } catch (error) {
    return refusal(500, error instanceof Error ? error.message : 'Subprotocol selection failed');
  }
  if (typeof protocol !== 'string') return protocol;
  return protocol === '' ? NO_SUBPROTOCOL : { ok: true, protocol };
}

/** What the verify hook is given besides the request. */
export function handshakeInfo(offer: HandshakeOffer, protocol: string): HandshakeInfo {
  // A request's list of no subprotocols may be shared (and frozen): the application gets its own.
  const protocols = offer.protocols.length === 0 ? [] : offer.protocols;
  return { protocols, protocol, origin: offer.origin, path: offer.path };
}

function isHeaderFields(value: unknown): value is HeaderFields | undefined {
  return value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value));
}

/**
 * The first field of `headers` that cannot be sent, by name: a name that is not a token, or a
 * value that is not a string of field-value characters (RFC 9110 §5.1, §5.5). Checked here so
 * that both transports refuse the same headers (HTTP/2 would send a CR or LF in a value).
 */
function invalidField(headers: HeaderFields | undefined): string | null {
  if (headers === undefined) return null;
  for (const name of Object.keys(headers)) {
    if (!isToken(name)) return name;
    const value: unknown = headers[name];
    const values: readonly unknown[] = Array.isArray(value) ? value : [value];
    for (const v of values) if (typeof v !== 'string' || !isFieldValue(v)) return name;
  }
  return null;
}

/**
 * The meaning of a verify hook's (settled) result. Anything that is not one of the documented
 * shapes, or carries a header field that cannot be sent, is refused with 500 rather than read as
 * an acceptance (fail closed: plain JavaScript callers get no type check). A rejection's status must be 300–599: a 1xx is interim, a 2xx
 * would open an RFC 8441 tunnel (RFC 9110 §9.3.6), and neither says no.
 */
export function readVerifyResult<Data>(result: unknown): Verdict<Data> | Refusal {
  if (result === undefined || result === true) return PLAIN_VERDICT;
  if (result === false) return FORBIDDEN;
  if (typeof result !== 'object' || result === null) return refusal(500, 'Invalid verify result');
  const outcome = result as { accept?: unknown; data?: Data; status?: unknown; body?: unknown; headers?: unknown };
  if (!isHeaderFields(outcome.headers)) return refusal(500, 'Invalid verify result');
  const invalid = invalidField(outcome.headers);
  if (invalid !== null) return refusal(500, `Invalid header field from verify: ${JSON.stringify(invalid)}`);
  if (outcome.accept === true) return { ok: true, data: outcome.data, headers: outcome.headers };
  if (outcome.accept !== false) return refusal(500, 'Invalid verify result');
  const { status, body = '' } = outcome;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 300 || status > 599 || typeof body !== 'string') {
    return refusal(500, 'Invalid handshake rejection');
  }
  return refusal(status, body, outcome.headers);
}

/**
 * The decision once the application has accepted: a shutdown begun meanwhile still refuses
 * (503), otherwise the extensions are negotiated (RFC 6455 §9.1) and the handshake accepted.
 */
export function conclude<Req, Data>(
  policy: HandshakePolicy<Req>,
  state: EndpointState,
  offer: HandshakeOffer,
  protocol: string,
  verdict: Verdict<Data>,
): HandshakeDecision<Data> {
  if (state.closing) return SHUTTING_DOWN;
  const extensions = negotiateExtensions(offer.extensions, policy.extensions);
  if (protocol === '' && extensions === NO_EXTENSIONS && verdict === PLAIN_VERDICT) return PLAIN_ACCEPTANCE;
  return { ok: true, protocol, extensions, data: verdict.data, headers: verdict.headers };
}
