// Every limit, its default, and why. The same limits apply over HTTP/1.1 and HTTP/2.
// ConnectionLimits bound one connection, on either side; ServerLimits add what only a server has.

export interface ConnectionLimits {
  /** Largest message accepted, after decompression (bytes). Larger ones close with 1009. */
  maxPayload: number;
  /** Most frames one fragmented message may use. More close with 1008. */
  maxFragments: number;
  /** send() returns false once this many bytes wait to be written (then wait for 'drain'). */
  highWaterMark: number;
  /**
   * Pings a peer may send while it does not read our output; their pongs are coalesced into one
   * (RFC 6455 §5.5.3), so memory stays bounded either way. One more closes with 1008.
   */
  maxUnansweredPings: number;
  /** How long to wait for the peer's part of the closing handshake before dropping TCP (ms). */
  closeTimeout: number;
  /** Ping a connection that has been quiet this long (ms); 0 disables. */
  pingInterval: number;
  /** Close (1001) a connection that has sent nothing, not even a pong, this long (ms); 0 disables. */
  idleTimeout: number;
}

export interface ServerLimits extends ConnectionLimits {
  /**
   * Open connections plus handshakes in progress, counting connections still sending their
   * request head on a server Upshift created; more are refused with 503.
   */
  maxConnections: number;
  /** Largest request head accepted (bytes, request line to the blank line); larger ones get 431. */
  maxHeaderSize: number;
  /** How long a client may take to send its complete request head (ms), then 408; 0 disables. */
  headersTimeout: number;
  /**
   * A published message (wss.publish) is not written to a connection that already has this many
   * bytes buffered (bufferedAmount): the slow consumer drops it, or is closed (slowConsumers).
   */
  maxPublishBuffer: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  // 16 MiB: room for real messages (the conformance suite's largest is 16 MiB), small enough
  // that a few hostile clients cannot take the heap.
  maxPayload: 16 * 1024 * 1024,
  // 2^17: a 4 MiB message in 64-byte fragments (65,536 frames) still passes; a flood of empty
  // fragments that never ends does not.
  maxFragments: 131072,
  maxConnections: Infinity,
  // 64 KiB: a few socket writes' worth; enough to keep the pipe full without hoarding memory.
  highWaterMark: 64 * 1024,
  // Infinity: a peer that pings without reading costs one pending pong, not a buffer per ping;
  // set a number to close such peers instead (ws closes them at once).
  maxUnansweredPings: Infinity,
  // 10 s: generous for a peer on a slow link; a dead peer does not hold a socket for long.
  closeTimeout: 10_000,
  // 30 s / 120 s: below common proxy idle timeouts (60 s); a dead peer is found within 2 minutes.
  pingInterval: 30_000,
  idleTimeout: 120_000,
  // 16 KiB: Node's own default (--max-http-header-size); real handshakes use well under 1 KiB.
  maxHeaderSize: 16 * 1024,
  // 60 s: Node's own default headersTimeout, so a server Upshift creates and one it is attached
  // to give a slow client the same time; a slowloris holds a socket no longer than that.
  headersTimeout: 60_000,
  // 1 MiB: a burst of thousands of small messages fits; a peer that stopped reading costs at
  // most this much memory, not one copy of every message published since.
  maxPublishBuffer: 1024 * 1024,
};

/** The names of the limits a connection has (a client's options take only these). */
export const CONNECTION_LIMIT_NAMES: readonly (keyof ConnectionLimits)[] = [
  'maxPayload',
  'maxFragments',
  'highWaterMark',
  'maxUnansweredPings',
  'closeTimeout',
  'pingInterval',
  'idleTimeout',
];

/** The names of every server limit. */
export const SERVER_LIMIT_NAMES: readonly (keyof ServerLimits)[] = [
  ...CONNECTION_LIMIT_NAMES,
  'maxConnections',
  'maxHeaderSize',
  'headersTimeout',
  'maxPublishBuffer',
];

// Sizes that size a buffer must be finite (Infinity elsewhere means "no limit").
const FINITE_LIMITS: ReadonlySet<string> = new Set(['maxHeaderSize']);

/** Picks `names` from `options` over `defaults`, each checked to be a non-negative number. */
export function resolveLimits<L extends ConnectionLimits>(
  options: Partial<L>,
  names: readonly (keyof L)[],
  defaults: Readonly<L>,
): L {
  const limits = { ...defaults } as L;
  for (const key of names) {
    const value = options[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
      throw new RangeError(`${String(key)} must be a non-negative number, got ${String(value)}`);
    }
    if (FINITE_LIMITS.has(key as string) && !Number.isFinite(value)) {
      throw new RangeError(`${String(key)} must be a finite number, got ${String(value)}`);
    }
    limits[key] = value as L[keyof L];
  }
  return limits;
}
