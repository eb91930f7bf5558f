// The zlib work behind permessage-deflate, shared by every connection in the process.
//
// - Contexts are driven synchronously through the zlib handle's writeSync(), the call Node's own
//   zlib.*Sync() functions make, but on a long-lived stream so that context takeover works. A small
//   message costs a few microseconds this way; the asynchronous stream API goes through the libuv
//   thread pool and costs ~80 µs per message whatever its size.
// - Work is cut into slices of bounded cost (64 KiB of input to compress, 256 KiB of output to
//   decompress). A message that fits in one slice is done inline when nothing is queued; larger
//   ones continue on later turns of the event loop, a few at a time, so one big message neither
//   blocks the process for long nor lets a burst pile up partial outputs.
// - Contexts that keep nothing between messages (no context takeover) are not per connection: a
//   small pool per configuration serves everyone, and per-connection contexts come from it and go
//   back to it after a period without use (see codec.ts).

import zlib from 'node:zlib';
import { unwatch, watch, type Tickable } from '../../util/ticker.js';

const { Z_NO_FLUSH, Z_SYNC_FLUSH } = zlib.constants;
export { Z_NO_FLUSH, Z_SYNC_FLUSH };

/** Bytes of input compressed per slice (on text: ~0.2 ms at level 1, ~1 ms at level 6). */
export const DEFLATE_SLICE = 64 * 1024;
/** Bytes of output decompressed per slice (well under 1 ms). */
export const INFLATE_SLICE = 256 * 1024;
/** Output goes first to this shared buffer; small results are then copied out at their exact size. */
const SCRATCH_SIZE = 64 * 1024;
/** Output chunks for results larger than the scratch buffer. */
const LARGE_CHUNK = 256 * 1024;

interface NativeZlibHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  /** Node's (re)configuration call; on a live stream it only replaces the dictionary used by reset(). */
  init?(
    windowBits: number,
    level: number,
    memLevel: number,
    strategy: number,
    writeState: Uint32Array,
    writeCallback: () => void,
    dictionary: Buffer | undefined,
  ): boolean;
}
type ZlibStream = (zlib.DeflateRaw | zlib.InflateRaw) & {
  _handle: NativeZlibHandle | null;
  _writeState: Uint32Array;
};

let scratch: Buffer | null = null;

function noop(): void {}

/** Whether this runtime's zlib streams expose the synchronous handle (Node.js 20+, Bun do). */
export const SYNC_ZLIB_AVAILABLE: boolean = (() => {
  try {
    const probe = zlib.createInflateRaw() as ZlibStream;
    const ok = typeof probe._handle?.writeSync === 'function' && probe._writeState instanceof Uint32Array;
    probe.close();
    return ok;
  } catch {
    return false;
  }
})();

export interface DeflateSettings {
  windowBits: number;
  level: number;
  memLevel: number;
}

/** A raw DEFLATE compressor or decompressor driven synchronously. */
export class ZlibContext {
  private readonly stream: ZlibStream;
  private readonly handle: NativeZlibHandle;
  private readonly state: Uint32Array;
  /** What init() needs again to change the dictionary: windowBits, level, memLevel. */
  private readonly config: readonly [number, number, number];
  /** A dictionary was given by seed(): reset() must drop it before the context is reused. */
  private seeded = false;
  /** Input bytes left unconsumed by the last call. */
  inputLeft = 0;
  /**
   * The shared pool this context may go back to, or null. Only contexts made without a
   * dictionary are pooled: a reset one then holds nothing of its previous user (inflateReset
   * empties the window; a compressor's output only ever refers to its own input).
   */
  poolKey: string | null = null;

  private constructor(stream: ZlibStream, config: readonly [number, number, number]) {
    this.stream = stream;
    this.config = config;
    this.handle = stream._handle!;
    this.state = stream._writeState;
    // Errors are read synchronously after each call; the stream's own 'error' event comes later
    // and must not go unhandled.
    stream.on('error', noop);
  }

  static deflate(settings: DeflateSettings): ZlibContext {
    // chunkSize: the stream's own output buffer is never used here, so keep it minimal.
    return new ZlibContext(
      zlib.createDeflateRaw({
        windowBits: settings.windowBits,
        level: settings.level,
        memLevel: settings.memLevel,
        chunkSize: zlib.constants.Z_MIN_CHUNK,
      }) as ZlibStream,
      [settings.windowBits, settings.level, settings.memLevel],
    );
  }

  static inflate(windowBits: number, dictionary?: Buffer): ZlibContext {
    return new ZlibContext(
      zlib.createInflateRaw({
        windowBits,
        chunkSize: zlib.constants.Z_MIN_CHUNK,
        ...(dictionary !== undefined && dictionary.length > 0 ? { dictionary } : {}),
      }) as ZlibStream,
      // Node's defaults for an inflater (level and memLevel are not used by it).
      [windowBits, zlib.constants.Z_DEFAULT_COMPRESSION, 8],
    );
  }

  /**
   * One zlib call over input[inOff, inOff+inLen) into out[outOff, outOff+outLen). Returns the bytes
   * written; `inputLeft` tells how much input was not consumed. Throws on corrupt data (the
   * context is then unusable).
   */
  call(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): number {
    this.handle.writeSync(flush, input, inOff, inLen, out, outOff, outLen);
    if (this.stream.destroyed) {
      const error = this.stream.errored as (Error & { code?: string }) | null;
      throw new Error(error?.message ?? 'zlib failed', { cause: error ?? undefined });
    }
    this.inputLeft = this.state[1]!;
    return outLen - this.state[0]!;
  }

  /**
   * Starts afresh with `dictionary` as the history (deflateReset + deflateSetDictionary, or the
   * inflate ones): a shared context then continues one connection's stream, and only that
   * connection's last 2^window bytes have to be kept between its messages. Needs SEEDING_AVAILABLE.
   */
  seed(dictionary: Buffer | undefined): void {
    const [windowBits, level, memLevel] = this.config;
    const empty = dictionary === undefined || dictionary.length === 0;
    if (empty && !this.seeded) {
      this.stream.reset();
      return;
    }
    this.handle.init!(windowBits, level, memLevel, zlib.constants.Z_DEFAULT_STRATEGY, this.state, noop, empty ? undefined : dictionary);
    this.seeded = !empty;
    this.stream.reset();
  }

  /** Starts afresh (deflateReset / inflateReset) with no history, keeping the allocated memory. */
  reset(): void {
    // A seeded context would get its dictionary back on reset: one connection's data must never
    // become another's history, so the dictionary is dropped first.
    if (this.seeded) this.seed(undefined);
    else this.stream.reset();
  }

  get usable(): boolean {
    return !this.stream.destroyed;
  }

  close(): void {
    this.stream.close();
  }
}

/**
 * Whether a live context can be given a new dictionary (seed()): Node's handle keeps the dictionary
 * from its last init() call and applies it on every reset (deflateSetDictionary /
 * inflateSetDictionary). Checked once by a round trip through a seeded pair.
 */
export const SEEDING_AVAILABLE: boolean = SYNC_ZLIB_AVAILABLE && (() => {
  try {
    const dictionary = Buffer.from('{"seeded":"dictionary probe","n":12345}');
    const deflater = ZlibContext.deflate({ windowBits: 9, level: 1, memLevel: 1 });
    const inflater = ZlibContext.inflate(9);
    deflater.seed(dictionary);
    inflater.seed(dictionary);
    const out = Buffer.alloc(256);
    const n = deflater.call(Z_SYNC_FLUSH, dictionary, 0, dictionary.length, out, 0, out.length);
    const back = Buffer.alloc(256);
    const m = inflater.call(Z_SYNC_FLUSH, out, 0, n, back, 0, back.length);
    deflater.close();
    inflater.close();
    // Referring back into the dictionary makes the message far smaller than itself.
    return n < dictionary.length / 2 && back.subarray(0, m).equals(dictionary);
  } catch {
    return false;
  }
})();

/**
 * Collects the output of a sequence of zlib calls. Calls write into a shared scratch buffer and
 * each piece is copied out at its exact size, until one call fills the scratch buffer: the output
 * is large, and the next calls write straight into chunks that are joined at the end. `limit`
 * bounds the total: no more than limit + 1 bytes are ever allocated, so exceeding it is detected
 * before the memory is spent.
 */
export class OutputCollector {
  private parts: Buffer[] = [];
  private current: Buffer | null = null;
  private used = 0;
  private large = false;
  length = 0;
  private readonly limit: number;
  /** After write(): zlib filled all the space it was given, so it may have more to write. */
  exhausted = false;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** True once more than `limit` bytes were produced. */
  get exceeded(): boolean {
    return this.length > this.limit;
  }

  /** Runs one zlib call with the next output space; returns the bytes written. */
  write(context: ZlibContext, flush: number, input: Buffer, inOff: number, inLen: number): number {
    // One byte past the limit is enough to know it was exceeded.
    const room = this.limit + 1 - this.length;
    if (!this.large) {
      const out = (scratch ??= Buffer.allocUnsafe(SCRATCH_SIZE));
      const outLen = Math.min(SCRATCH_SIZE, room);
      const have = context.call(flush, input, inOff, inLen, out, 0, outLen);
      this.exhausted = have === outLen;
      if (have > 0) {
        const piece = Buffer.allocUnsafe(have);
        out.copy(piece, 0, 0, have);
        this.parts.push(piece);
        this.length += have;
      }
      if (this.exhausted) this.large = true;
      return have;
    }
    if (this.current === null || this.used === this.current.length) {
      this.seal();
      this.current = Buffer.allocUnsafe(Math.max(1, Math.min(LARGE_CHUNK, room)));
      this.used = 0;
    }
    const outLen = this.current.length - this.used;
    const have = context.call(flush, input, inOff, inLen, this.current, this.used, outLen);
    this.exhausted = have === outLen;
    this.used += have;
    this.length += have;
    return have;
  }

  private seal(): void {
    if (this.current !== null && this.used > 0) this.parts.push(this.current.subarray(0, this.used));
    this.current = null;
    this.used = 0;
  }

  /** The whole output as one buffer. */
  take(): Buffer {
    this.seal();
    const parts = this.parts;
    this.parts = [];
    if (parts.length === 0) return EMPTY;
    if (parts.length === 1) return parts[0]!;
    return Buffer.concat(parts, this.length);
  }
}

const EMPTY = Buffer.alloc(0);

/** §7.2.3.6: an empty message compresses to a single 0x00 byte (an empty stored block, tail removed). */
export const EMPTY_MESSAGE = Buffer.from([0x00]);

/**
 * Compresses the next slice of a message (up to DEFLATE_SLICE bytes from `offset`) into `output`,
 * ending the message (Z_SYNC_FLUSH) with its last slice; returns the new offset, data.length once
 * the message is done. Throws when zlib fails or does not take all the input.
 */
export function deflateSlice(output: OutputCollector, context: ZlibContext, data: Buffer, offset: number): number {
  const end = Math.min(data.length, offset + DEFLATE_SLICE);
  const last = end === data.length;
  do {
    output.write(context, last ? Z_SYNC_FLUSH : Z_NO_FLUSH, data, offset, end - offset);
    offset = end - context.inputLeft;
  } while (output.exhausted);
  if (offset !== end) throw new Error('zlib did not take all the input');
  return offset;
}

/** §7.2.1: the flush ends with an empty stored block, 0x00 0x00 0xff 0xff, which is removed. */
export function withoutTail(out: Buffer): Buffer {
  const n = out.length;
  const result = n >= 4 && out[n - 4] === 0x00 && out[n - 3] === 0x00 && out[n - 2] === 0xff && out[n - 1] === 0xff ? out.subarray(0, n - 4) : out;
  return result.length === 0 ? EMPTY_MESSAGE : result;
}

// ------------------------------------------------------------------ shared contexts

/**
 * Idle contexts kept per configuration. Making one costs a stream object and, for a compressor,
 * up to 256 KiB of fresh memory to fault in; keeping a few bounds that cost and the memory alike.
 */
const IDLE_SHARED_PER_KEY = 4;
const sharedPools = new Map<string, ZlibContext[]>();

/**
 * A context from the shared pool for this configuration (created when none is free). Give it back
 * with releaseShared() when done: after one message for a shared one, or when a connection
 * releases its own.
 */
export function acquireShared(key: string, create: () => ZlibContext): ZlibContext {
  const context = sharedPools.get(key)?.pop() ?? create();
  context.poolKey = key;
  return context;
}

/** Returns a pooled context, reset for its next user; extra idle ones (and others) are closed. */
export function releaseShared(context: ZlibContext): void {
  const key = context.poolKey;
  if (!context.usable) return;
  if (key === null) {
    context.close();
    return;
  }
  let pool = sharedPools.get(key);
  if (pool === undefined) sharedPools.set(key, (pool = []));
  if (pool.length >= IDLE_SHARED_PER_KEY) {
    context.close();
    return;
  }
  context.reset();
  pool.push(context);
}

// ------------------------------------------------------------------ scheduler

/** One message's zlib work, done in slices. */
export interface ZlibJob {
  /** Does one bounded slice; true once the job is finished (successfully or not). */
  step(): boolean;
  /** Called once after the last step, outside any zlib call: delivers the result. */
  finish(): void;
}

/** Jobs started but not finished, stepped round-robin. Bounds the partial outputs held at once. */
const MAX_RUNNING = 4;
/** Work done per event-loop turn before yielding to I/O, ms. */
const TURN_BUDGET_MS = 4;

const running: ZlibJob[] = [];
let waiting: ZlibJob[] = [];
let waitingHead = 0;
let turnScheduled = false;

/** Number of jobs queued or in progress (for tests and diagnostics). */
export function pendingJobs(): number {
  return running.length + waiting.length - waitingHead;
}

/**
 * Runs a job: inline when nothing waits (a job that fits in one slice then finishes before this
 * returns), otherwise after the jobs queued before it.
 */
export function runJob(job: ZlibJob): void {
  if (waitingHead === waiting.length && running.length < MAX_RUNNING) {
    if (job.step()) {
      job.finish();
      return;
    }
    running.push(job);
  } else {
    waiting.push(job);
  }
  scheduleTurn();
}

function scheduleTurn(): void {
  if (turnScheduled) return;
  turnScheduled = true;
  setImmediate(turn);
}

function turn(): void {
  turnScheduled = false;
  const deadline = performance.now() + TURN_BUDGET_MS;
  for (;;) {
    while (running.length < MAX_RUNNING && waitingHead < waiting.length) {
      running.push(waiting[waitingHead]!);
      waiting[waitingHead++] = undefined as unknown as ZlibJob;
    }
    if (waitingHead === waiting.length && waitingHead > 0) {
      waiting = [];
      waitingHead = 0;
    }
    if (running.length === 0) return;
    // One slice of each running job; finished ones leave before their callbacks run, so that a
    // callback that starts new work sees a consistent queue.
    const done: ZlibJob[] = [];
    for (let i = 0; i < running.length; ) {
      const job = running[i]!;
      if (job.step()) {
        running.splice(i, 1);
        done.push(job);
      } else {
        i++;
      }
    }
    for (const job of done) job.finish();
    if (performance.now() >= deadline) break;
  }
  if (pendingJobs() > 0) scheduleTurn();
}

// ------------------------------------------------------------------ idle release

/** Something holding per-connection contexts that can be freed after a quiet period. */
export interface IdleReleasable {
  /** Frees the contexts if unused since `now - timeout`; true when nothing is held any more. */
  releaseIfIdle(now: number): boolean;
}

const holders = new Set<IdleReleasable>();
const reaper: Tickable = {
  tick(now: number): void {
    for (const holder of holders) if (holder.releaseIfIdle(now)) holders.delete(holder);
    if (holders.size === 0) unwatch(reaper);
  },
};

/** Watches a holder until it has released its contexts (checked on the shared 250 ms ticker). */
export function watchIdle(holder: IdleReleasable): void {
  if (holders.size === 0) watch(reaper);
  holders.add(holder);
}

export function unwatchIdle(holder: IdleReleasable): void {
  if (holders.delete(holder) && holders.size === 0) unwatch(reaper);
}
