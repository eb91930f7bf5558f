// WAMP v2 wire vocabulary: message codes, the spec's error URIs, IDs, URI rules, and the shape
// check of every message a client may send. Pure: no sockets, no timers.

import { randomBytes } from 'node:crypto';

/** Message type codes (WAMP Basic Profile "Message Codes and Direction"; Advanced Profile messages). */
export const enum Code {
  HELLO = 1,
  WELCOME = 2,
  ABORT = 3,
  CHALLENGE = 4,
  AUTHENTICATE = 5,
  GOODBYE = 6,
  ERROR = 8,
  PUBLISH = 16,
  PUBLISHED = 17,
  SUBSCRIBE = 32,
  SUBSCRIBED = 33,
  UNSUBSCRIBE = 34,
  UNSUBSCRIBED = 35,
  EVENT = 36,
  CALL = 48,
  CANCEL = 49,
  RESULT = 50,
  REGISTER = 64,
  REGISTERED = 65,
  UNREGISTER = 66,
  UNREGISTERED = 67,
  INVOCATION = 68,
  INTERRUPT = 69,
  YIELD = 70,
}

/** The spec's URIs (Basic Profile "Predefined URIs", Advanced Profile "Advanced Profile URIs"). */
export const Uri = Object.freeze({
  INVALID_URI: 'wamp.error.invalid_uri',
  NO_SUCH_PROCEDURE: 'wamp.error.no_such_procedure',
  PROCEDURE_ALREADY_EXISTS: 'wamp.error.procedure_already_exists',
  NO_SUCH_REGISTRATION: 'wamp.error.no_such_registration',
  NO_SUCH_SUBSCRIPTION: 'wamp.error.no_such_subscription',
  INVALID_ARGUMENT: 'wamp.error.invalid_argument',
  CANCELED: 'wamp.error.canceled',
  TIMEOUT: 'wamp.error.timeout',
  PAYLOAD_SIZE_EXCEEDED: 'wamp.error.payload_size_exceeded',
  SYSTEM_SHUTDOWN: 'wamp.close.system_shutdown',
  CLOSE_REALM: 'wamp.close.close_realm',
  GOODBYE_AND_OUT: 'wamp.close.goodbye_and_out',
  KILLED: 'wamp.close.killed',
  PROTOCOL_VIOLATION: 'wamp.error.protocol_violation',
  NOT_AUTHORIZED: 'wamp.error.not_authorized',
  AUTHORIZATION_FAILED: 'wamp.error.authorization_failed',
  NO_SUCH_REALM: 'wamp.error.no_such_realm',
  NO_SUCH_ROLE: 'wamp.error.no_such_role',
  NO_SUCH_SESSION: 'wamp.error.no_such_session',
  NO_MATCHING_AUTH_METHOD: 'wamp.error.no_matching_auth_method',
  AUTHENTICATION_DENIED: 'wamp.error.authentication_denied',
  AUTHENTICATION_FAILED: 'wamp.error.authentication_failed',
  OPTION_NOT_ALLOWED: 'wamp.error.option_not_allowed',
  NETWORK_FAILURE: 'wamp.error.network_failure',
});

// ---- IDs ----

/** IDs are integers from 1 to 2^53 inclusive (WAMP Basic Profile, "IDs"). */
export const MAX_ID = 2 ** 53;

export function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_ID;
}

// Random IDs come from a pool of random bytes refilled 512 IDs at a time.
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** A global-scope ID: drawn uniformly at random from [1, 2^53] (sessions, publications). */
export function randomId(): number {
  if (poolOffset + 7 > pool.length) {
    pool = randomBytes(7 * 512);
    poolOffset = 0;
  }
  // 53 random bits: 5 bits of the first byte, then 48 bits; +1 moves [0, 2^53) to [1, 2^53].
  const high = pool[poolOffset]! & 0x1f;
  const low = pool.readUIntBE(poolOffset + 1, 6);
  poolOffset += 7;
  return high * 2 ** 48 + low + 1;
}

// ---- URIs ----

export type MatchPolicy = 'exact' | 'prefix' | 'wildcard';

/**
 * URI rules (WAMP Basic Profile, "URIs"). Loose: components hold no `.`, `#` or whitespace.
 * Strict: components are `[0-9a-z_]`. Components are never empty, except in wildcard patterns
 * (where an empty component is the wildcard) and at the end of a prefix pattern.
 */
const LOOSE = /^([^\s.#]+\.)*([^\s.#]+)$/u;
const LOOSE_EMPTY = /^(([^\s.#]+\.)|\.)*([^\s.#]+)?$/u;
const STRICT = /^([0-9a-z_]+\.)*([0-9a-z_]+)$/;
const STRICT_EMPTY = /^(([0-9a-z_]+\.)|\.)*([0-9a-z_]+)?$/;
const LOOSE_PREFIX = /^([^\s.#]+\.)*([^\s.#]*)$/u;
const STRICT_PREFIX = /^([0-9a-z_]+\.)*([0-9a-z_]*)$/;

/** Longest URI accepted, in UTF-16 code units. */
export const MAX_URI_LENGTH = 1024;

/** Is `uri` a valid URI (or pattern, for `match`) under the strict or loose rules? */
export function isValidUri(uri: unknown, strict: boolean, match: MatchPolicy = 'exact'): uri is string {
  if (typeof uri !== 'string' || uri.length === 0 || uri.length > MAX_URI_LENGTH) return false;
  // A lone surrogate has no UTF-8 form: two different URIs would meet as one on a broker.
  if (!(uri as unknown as { isWellFormed(): boolean }).isWellFormed()) return false;
  if (match === 'wildcard') return (strict ? STRICT_EMPTY : LOOSE_EMPTY).test(uri);
  if (match === 'prefix') return (strict ? STRICT_PREFIX : LOOSE_PREFIX).test(uri);
  return (strict ? STRICT : LOOSE).test(uri);
}

/** URIs whose first component is `wamp` belong to the protocol (WAMP Basic Profile, "Reserved URIs"). */
export function isReservedUri(uri: string): boolean {
  return uri === 'wamp' || uri.startsWith('wamp.');
}

// ---- Dictionaries ----

export type Dict = Record<string, unknown>;

export function isDict(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

// ---- Messages from clients ----

/** An application payload: positional and keyword arguments, and whether they hold bytes. */
export interface Payload {
  readonly args: unknown[] | undefined;
  readonly kwargs: Dict | undefined;
  /** The payload holds Buffers (a JSON encoder must convert them). */
  readonly binary: boolean;
}

export type ClientMessage =
  | { type: Code.HELLO; realm: unknown; details: Dict }
  | { type: Code.AUTHENTICATE; signature: string; extra: Dict }
  | { type: Code.ABORT; details: Dict; reason: unknown }
  | { type: Code.GOODBYE; details: Dict; reason: unknown }
  | { type: Code.ERROR; requestType: number; request: number; details: Dict; error: unknown; payload: Payload }
  | { type: Code.PUBLISH; request: number; options: Dict; topic: unknown; payload: Payload }
  | { type: Code.SUBSCRIBE; request: number; options: Dict; topic: unknown }
  | { type: Code.UNSUBSCRIBE; request: number; subscription: number }
  | { type: Code.CALL; request: number; options: Dict; procedure: unknown; payload: Payload }
  | { type: Code.CANCEL; request: number; options: Dict }
  | { type: Code.REGISTER; request: number; options: Dict; procedure: unknown }
  | { type: Code.UNREGISTER; request: number; registration: number }
  | { type: Code.YIELD; request: number; options: Dict; payload: Payload };

/** A message that is not a valid WAMP message from a client: answered with ABORT. */
export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
}

function violation(what: string): ProtocolViolation {
  return new ProtocolViolation(what);
}

const NAMES: Record<number, string> = {
  1: 'HELLO', 2: 'WELCOME', 3: 'ABORT', 4: 'CHALLENGE', 5: 'AUTHENTICATE', 6: 'GOODBYE', 8: 'ERROR',
  16: 'PUBLISH', 17: 'PUBLISHED', 32: 'SUBSCRIBE', 33: 'SUBSCRIBED', 34: 'UNSUBSCRIBE', 35: 'UNSUBSCRIBED',
  36: 'EVENT', 48: 'CALL', 49: 'CANCEL', 50: 'RESULT', 64: 'REGISTER', 65: 'REGISTERED', 66: 'UNREGISTER',
  67: 'UNREGISTERED', 68: 'INVOCATION', 69: 'INTERRUPT', 70: 'YIELD',
};

export function messageName(code: number): string {
  return NAMES[code] ?? `message type ${code}`;
}

function length(message: unknown[], min: number, max: number, name: string): void {
  if (message.length < min || message.length > max) {
    throw violation(min === max ? `${name} has ${min} elements, not ${message.length}` : `${name} has ${min} to ${max} elements, not ${message.length}`);
  }
}

function dict(value: unknown, name: string, field: string): Dict {
  if (!isDict(value)) throw violation(`${name}.${field} must be a dict`);
  return value;
}

function id(value: unknown, name: string, field: string): number {
  if (!isId(value)) throw violation(`${name}.${field} must be an ID (an integer from 1 to 2^53)`);
  return value;
}

/** Arguments|list and ArgumentsKw|dict at `index` (WAMP Basic Profile: both optional, in this order). */
function payload(message: unknown[], index: number, name: string, binary: boolean): Payload {
  const args = message[index];
  const kwargs = message[index + 1];
  if (args !== undefined && !Array.isArray(args)) throw violation(`${name}.Arguments must be a list`);
  if (kwargs !== undefined && !isDict(kwargs)) throw violation(`${name}.ArgumentsKw must be a dict`);
  return { args: args as unknown[] | undefined, kwargs: kwargs as Dict | undefined, binary };
}

/**
 * Checks the shape of a decoded message from a client and names its parts. Throws
 * ProtocolViolation for anything else: not a list, an unknown or router-only type, a wrong
 * number of elements, a wrong element type ("No Polymorphism": the type and length determine
 * every element's type). URIs are checked later, where the rules and the error to answer are known.
 */
export function parseClientMessage(message: unknown, binary: boolean): ClientMessage {
  if (!Array.isArray(message) || message.length === 0) throw violation('a WAMP message is a non-empty list');
  const type = message[0];
  if (typeof type !== 'number' || !Number.isInteger(type)) throw violation('the message type must be an integer');
  const name = messageName(type);
  switch (type) {
    case Code.HELLO:
      length(message, 3, 3, name);
      return { type, realm: message[1], details: dict(message[2], name, 'Details') };
    case Code.AUTHENTICATE:
      length(message, 3, 3, name);
      if (typeof message[1] !== 'string') throw violation('AUTHENTICATE.Signature must be a string');
      return { type, signature: message[1], extra: dict(message[2], name, 'Extra') };
    case Code.ABORT:
      length(message, 3, 5, name);
      return { type, details: dict(message[1], name, 'Details'), reason: message[2] };
    case Code.GOODBYE:
      length(message, 3, 3, name);
      return { type, details: dict(message[1], name, 'Details'), reason: message[2] };
    case Code.ERROR: {
      length(message, 5, 7, name);
      const requestType = message[1];
      if (typeof requestType !== 'number' || !Number.isInteger(requestType)) throw violation('ERROR.Request.Type must be an integer');
      return {
        type,
        requestType,
        request: id(message[2], name, 'Request'),
        details: dict(message[3], name, 'Details'),
        error: message[4],
        payload: payload(message, 5, name, binary),
      };
    }
    case Code.PUBLISH:
      length(message, 4, 6, name);
      return {
        type,
        request: id(message[1], name, 'Request'),
        options: dict(message[2], name, 'Options'),
        topic: message[3],
        payload: payload(message, 4, name, binary),
      };
    case Code.SUBSCRIBE:
      length(message, 4, 4, name);
      return { type, request: id(message[1], name, 'Request'), options: dict(message[2], name, 'Options'), topic: message[3] };
    case Code.UNSUBSCRIBE:
      length(message, 3, 3, name);
      return { type, request: id(message[1], name, 'Request'), subscription: id(message[2], name, 'Subscription') };
    case Code.CALL:
      length(message, 4, 6, name);
      return {
        type,
        request: id(message[1], name, 'Request'),
        options: dict(message[2], name, 'Options'),
        procedure: message[3],
        payload: payload(message, 4, name, binary),
      };
    case Code.CANCEL:
      length(message, 3, 3, name);
      return { type, request: id(message[1], name, 'Request'), options: dict(message[2], name, 'Options') };
    case Code.REGISTER:
      length(message, 4, 4, name);
      return { type, request: id(message[1], name, 'Request'), options: dict(message[2], name, 'Options'), procedure: message[3] };
    case Code.UNREGISTER:
      length(message, 3, 3, name);
      return { type, request: id(message[1], name, 'Request'), registration: id(message[2], name, 'Registration') };
    case Code.YIELD:
      length(message, 3, 5, name);
      return { type, request: id(message[1], name, 'Request'), options: dict(message[2], name, 'Options'), payload: payload(message, 3, name, binary) };
    default:
      throw violation(NAMES[type] === undefined ? `unknown message type ${type}` : `a client does not send ${name}`);
  }
}

/** Appends a payload to a message, leaving out empty trailing parts (Basic Profile "Empty Arguments"). */
export function withPayload(message: unknown[], args: unknown[] | undefined, kwargs: Dict | undefined): unknown[] {
  const hasKwargs = kwargs !== undefined && Object.keys(kwargs).length > 0;
  if (hasKwargs) message.push(args ?? [], kwargs);
  else if (args !== undefined && args.length > 0) message.push(args);
  return message;
}
