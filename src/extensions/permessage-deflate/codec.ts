// The permessage-deflate data path (RFC 7692 §7.2) behind the MessageCodec interface: one codec per
// connection, holding as little as the negotiated parameters allow.
//
// Memory, per connection:
// - Our compressor: with no context takeover (ours), none — a context from the shared pool is
//   borrowed for each message. With context takeover and contextIdleTimeout 0 (the default), none
//   either: the last 2^window bytes we compressed are kept, and each message borrows a shared
//   context seeded with them (deflateSetDictionary), so it refers back exactly as a context of its
//   own would. With a contextIdleTimeout, one taken from the pool at the first message and given
//   back (reset) after that many ms of quiet; the next message then starts afresh. Dropping our own
//   history is always allowed: nothing obliges a sender to refer back (§7.1.1), and the peer's
//   decompressor accepts a stream that does not.
// - Our decompressor: with the peer's no context takeover, none (shared, as above). Otherwise the
//   peer may refer back up to 2^window bytes into earlier messages, so those bytes must be kept: a
//   context while messages flow; once quiet (after every message with contextIdleTimeout 0), the
//   context goes back to the pool and only the last min(2^window, bytes received) bytes stay, to
//   seed a context (as a dictionary) when the next message comes.
//
// A zlib compressor costs at least ~85 KiB in Node.js whatever its settings (its zlib keeps a
// 64 KiB hash table), so a context per connection cannot be small; the histories can.

import { CloseCode } from '../../protocol/close-codes.js';
import { connectionClosedError, WebSocketError } from '../../protocol/errors.js';
import type { MessageCodec } from '../../protocol/message-codec.js';
import { SharedEncoding, type SharedMessage } from '../../protocol/shared-message.js';
import { compressShared } from './shared-compression.js';
import type { AgreedParameters } from './negotiation.js';
import {
  acquireShared,
  deflateSlice,
  EMPTY_MESSAGE,
  INFLATE_SLICE,
  OutputCollector,
  releaseShared,
  runJob,
  SEEDING_AVAILABLE,
  unwatchIdle,
  watchIdle,
  withoutTail,
  Z_SYNC_FLUSH,
  ZlibContext,
  type IdleReleasable,
  type ZlibJob,
} from './zlib-pool.js';

export interface CodecSettings {
  /** zlib compression level, 0–9. */
  level: number;
  /** zlib memLevel, 1–9. */
  memLevel: number;
  /** Messages shorter than this are sent uncompressed (bytes). */
  threshold: number;
  /** Quiet time after which per-connection zlib contexts are closed (ms); 0: after every message. */
  contextIdleTimeout: number;
}

/** §7.2.2: the bytes removed by the sender (§7.2.1), put back before decompressing. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const EMPTY = Buffer.alloc(0);
const SHARED_INFLATE_KEY = 'inflate/15';
/** Decompressing with the largest window works whatever window the peer used. */
const SHARED_INFLATE_BITS = 15;

function createSharedInflate(): ZlibContext {
  return ZlibContext.inflate(SHARED_INFLATE_BITS);
}

/** A compressor configuration: its pool key and how to make one. Shared by every codec using it. */
interface DeflateKind {
  key: string;
  create: () => ZlibContext;
}
const deflateKinds = new Map<string, DeflateKind>();

function deflateKind(windowBits: number, level: number, memLevel: number): DeflateKind {
  const key = `deflate/${windowBits}/${level}/${memLevel}`;
  let kind = deflateKinds.get(key);
  if (kind === undefined) {
    const settings = { windowBits, level, memLevel };
    kind = { key, create: () => ZlibContext.deflate(settings) };
    deflateKinds.set(key, kind);
  }
  return kind;
}

export class PerMessageDeflateCodec implements MessageCodec, IdleReleasable {
  readonly agreed: AgreedParameters;
  private readonly settings: CodecSettings;
  private readonly deflateKind: DeflateKind;
  /** Our compressor with context takeover (null while none is held; from the pool, reset, when taken). */
  private deflater: ZlibContext | null = null;
  /** Our decompressor with the peer's context takeover (null while none is held). */
  private inflater: ZlibContext | null = null;
  /** The last bytes received, to seed a new decompressor after an idle release. */
  private history: History | null = null;
  /** The last bytes we compressed, to seed a shared compressor (when `sendsSeeded`). */
  private sendHistory: History | null = null;
  private decodeBusy = false;
  private encodeBusy = false;
  private encodeQueue: (EncodeJob | SharedEncodeJob)[] = [];
  private encodeHead = 0;
  private pumping = false;
  private lastUsed = 0;
  private watched = false;
  released = false;

  constructor(agreed: AgreedParameters, settings: CodecSettings) {
    this.agreed = agreed;
    this.settings = settings;
    this.deflateKind = deflateKind(agreed.sendWindowBits, settings.level, settings.memLevel);
  }

  /** Whether the decompressor's history is kept (for idle release): the peer refers back to it. */
  private get keepsHistory(): boolean {
    return !this.agreed.receiveNoContextTakeover && this.settings.contextIdleTimeout !== Infinity;
  }

  /** Whether our compressor keeps a context of its own between messages. */
  private get sendsWithContext(): boolean {
    // Without a quiet period to keep it for, a context of our own would be closed after every
    // message anyway: a shared one, seeded with our history, does the same with no allocation.
    return !this.agreed.sendNoContextTakeover && this.settings.contextIdleTimeout > 0;
  }

  /** Whether each message borrows a shared compressor seeded with what we sent before. */
  private get sendsSeeded(): boolean {
    return !this.agreed.sendNoContextTakeover && this.settings.contextIdleTimeout === 0 && SEEDING_AVAILABLE;
  }

  wantsToEncode(length: number): boolean {
    return length >= this.settings.threshold;
  }

  sharesEncoding(length: number): boolean {
    return length >= this.settings.threshold;
  }

  /**
   * A message for many peers: compressed once per compressor kind, with a fresh context (it refers
   * to nothing before it, so any peer whose window is at least ours decodes it, whatever it holds),
   * and kept in `message.encodings` for the next peer of the same kind (a large one is made over
   * several turns, and this connection's later messages wait for it). It goes in order with this
   * connection's other messages; when its turn comes, sentShared() makes our next message start afresh.
   */
  encodeShared(message: SharedMessage, callback: (error: Error | null, data?: Buffer) => void): void {
    if (this.released) return callback(connectionClosedError());
    if (message.payload.length === 0) return callback(null, EMPTY_MESSAGE);
    this.encodeQueue.push(new SharedEncodeJob(this, this.sharedEncoding(message), callback));
    this.pumpEncodes();
  }

  encodeSharedNow(message: SharedMessage): Buffer | null {
    if (this.released || this.encodeBusy || this.encodeHead < this.encodeQueue.length) return null;
    if (message.payload.length === 0) return EMPTY_MESSAGE;
    // Not made yet (a large one in progress) or failed: encodeShared waits, or reports it in order.
    const data = this.sharedEncoding(message).data;
    if (data === null) return null;
    this.sentShared();
    this.used();
    return data;
  }

  /** The message's encoding for this codec's kind: started by the first codec of that kind to ask. */
  private sharedEncoding(message: SharedMessage): SharedEncoding {
    const kind = this.deflateKind;
    const encodings = (message.encodings ??= new Map());
    let encoding = encodings.get(kind.key);
    if (encoding === undefined) {
      encoding = new SharedEncoding();
      encodings.set(kind.key, encoding);
      compressShared(kind.key, kind.create, message.payload, encoding);
    }
    return encoding;
  }

  decode(data: Buffer, maxSize: number, callback: (error: WebSocketError | null, data?: Buffer) => void): void {
    if (this.released) return callback(connectionClosedError());
    // A compressed message is never empty (§7.2.3.6: an empty one is 0x00); take an empty payload
    // as an empty message without touching the context.
    if (data.length === 0) return callback(null, EMPTY);
    this.decodeBusy = true;
    runJob(new DecodeJob(this, data, maxSize, callback));
  }

  encode(data: Buffer, callback: (error: Error | null, data?: Buffer) => void): void {
    if (this.released) return callback(connectionClosedError());
    // §7.2.3.6: an empty message is the single byte 0x00 (an empty stored block, tail removed).
    // zlib writes nothing for a flush right after a flush, so it is not asked; its state stays as
    // it is, and the core keeps the order of messages whatever order encodes finish in.
    if (data.length === 0) return callback(null, EMPTY_MESSAGE);
    this.encodeQueue.push(new EncodeJob(this, data, callback));
    this.pumpEncodes();
  }

  /** Starts queued encodes one after the other (a compressor works on one message at a time). */
  private pumpEncodes(): void {
    if (this.pumping) return;
    this.pumping = true;
    const queue = this.encodeQueue;
    // A callback run inline may release the codec (the application closed): stop then.
    while (!this.encodeBusy && !this.released && this.encodeHead < queue.length) {
      const job = queue[this.encodeHead]!;
      queue[this.encodeHead++] = undefined as unknown as EncodeJob;
      this.encodeBusy = true;
      // A shared message still being compressed holds this connection's queue until it is made
      // (then its job runs, and the queue goes on from its finish()).
      if (job instanceof SharedEncodeJob) job.encoding.whenSettled(() => runJob(job));
      else runJob(job); // may finish inline, which clears encodeBusy
    }
    if (queue === this.encodeQueue && this.encodeHead === queue.length) {
      this.encodeQueue = [];
      this.encodeHead = 0;
    }
    this.pumping = false;
  }

  /** @internal Called when an encode job is done, before its callback. */
  encodeFinished(): void {
    this.encodeBusy = false;
    this.used();
  }

  /** @internal Called after an encode job's callback: the next queued message goes. */
  encodeNext(): void {
    if (!this.pumping && !this.released) this.pumpEncodes();
  }

  /** @internal */
  decodeFinished(): void {
    this.decodeBusy = false;
    this.used();
  }

  // ---------------------------------------------------------------- contexts

  /** @internal The compressor for one message. */
  takeDeflater(): ZlibContext {
    const kind = this.deflateKind;
    if (this.sendsSeeded) {
      const context = acquireShared(kind.key, kind.create);
      context.seed(this.sendHistory?.contiguous());
      return context;
    }
    if (!this.sendsWithContext) return acquireShared(kind.key, kind.create);
    return (this.deflater ??= acquireShared(kind.key, kind.create));
  }

  /** @internal `input`: the message compressed, when it was. */
  giveBackDeflater(context: ZlibContext, failed: boolean, input: Buffer | null): void {
    if (this.sendsSeeded) {
      // The peer's decompressor now has this message in its window: so must our next seed.
      if (!failed && input !== null && !this.released) (this.sendHistory ??= new History(1 << this.agreed.sendWindowBits)).append(input);
      dispose(context, failed);
    } else if (!this.sendsWithContext) {
      dispose(context, failed);
    } else if (failed || this.released) {
      dispose(context, failed);
      if (this.deflater === context) this.deflater = null;
    }
  }

  /**
   * @internal A shared message (compressed elsewhere, alone) is next on the wire, and the peer's
   * decompressor adds it to its window, which our history then no longer matches: it is dropped,
   * and our next message starts afresh (§7.1.1 lets a sender not refer back). Keeping it in line
   * instead would cost every subscriber a copy of each published message (up to 2^window bytes)
   * and hold that much per subscriber between messages, for a better ratio only on its next own.
   */
  sentShared(): void {
    if (this.sendsSeeded) {
      this.sendHistory?.clear();
    } else if (this.deflater !== null) {
      dispose(this.deflater, false);
      this.deflater = null;
    }
  }

  /** @internal The decompressor for one message. */
  takeInflater(): ZlibContext {
    if (this.agreed.receiveNoContextTakeover) return acquireShared(SHARED_INFLATE_KEY, createSharedInflate);
    if (this.inflater === null) {
      const bits = this.agreed.receiveWindowBits;
      const dictionary = this.history?.contiguous();
      if (dictionary === undefined) {
        this.inflater = acquireShared(`inflate/${bits}`, () => ZlibContext.inflate(bits));
      } else if (SEEDING_AVAILABLE) {
        // A shared context goes back to the pool without the dictionary (see ZlibContext.reset).
        this.inflater = acquireShared(`inflate/${bits}`, () => ZlibContext.inflate(bits));
        this.inflater.seed(dictionary);
      } else {
        // Seeded at creation, a context is this connection's alone (never pooled).
        this.inflater = ZlibContext.inflate(bits, dictionary);
      }
    }
    return this.inflater;
  }

  /** @internal `streamEnded`: the peer closed its DEFLATE stream (BFINAL), so nothing carries over. */
  giveBackInflater(context: ZlibContext, failed: boolean, output: Buffer | null, streamEnded: boolean): void {
    if (this.agreed.receiveNoContextTakeover) {
      dispose(context, failed);
      return;
    }
    if (failed || this.released) {
      dispose(context, failed);
      if (this.inflater === context) this.inflater = null;
      return;
    }
    if (streamEnded) {
      // A new stream starts with an empty window: start over without the old history.
      dispose(context, false);
      this.inflater = null;
      this.history?.clear();
    } else if (output !== null && this.keepsHistory) {
      (this.history ??= new History(1 << this.agreed.receiveWindowBits)).append(output);
    }
  }

  private used(): void {
    if (this.released) return;
    const timeout = this.settings.contextIdleTimeout;
    if (timeout === 0) {
      this.releaseIfIdle(Infinity);
      return;
    }
    if (timeout === Infinity || (this.deflater === null && this.inflater === null)) return;
    this.lastUsed = Date.now();
    if (!this.watched) {
      this.watched = true;
      watchIdle(this);
    }
  }

  /** @internal Closes the per-connection contexts when quiet since `now - contextIdleTimeout`. */
  releaseIfIdle(now: number): boolean {
    if (this.released) return true;
    if (now - this.lastUsed < this.settings.contextIdleTimeout) return false;
    // A context in use by a message in progress stays; it is looked at again on the next tick.
    if (this.deflater !== null && !this.encodeBusy) {
      dispose(this.deflater, false);
      this.deflater = null;
    }
    if (this.inflater !== null && !this.decodeBusy) {
      dispose(this.inflater, false);
      this.inflater = null;
      // After a quiet period, shrink the ring to what it holds; with contextIdleTimeout 0 this runs
      // after every message, where reallocating would only churn memory.
      if (this.settings.contextIdleTimeout > 0) this.history?.compact();
    }
    const holding = this.deflater !== null || this.inflater !== null;
    if (!holding) this.watched = false;
    return !holding;
  }

  /** Bytes held between messages (history kept for the decompressor), for measurements. */
  get retainedBytes(): number {
    return this.history?.capacity ?? 0;
  }

  /** Bytes of our own history held to seed the compressor, for measurements. */
  get retainedSendBytes(): number {
    return this.sendHistory?.capacity ?? 0;
  }

  /** Whether per-connection zlib contexts are currently held (for tests and measurements). */
  get holdsContexts(): boolean {
    return this.deflater !== null || this.inflater !== null;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.watched) unwatchIdle(this);
    this.watched = false;
    // A job in progress sees `released` at its next slice and gives its context back.
    if (!this.decodeBusy && this.inflater !== null) dispose(this.inflater, false);
    if (!this.encodeBusy && this.deflater !== null) dispose(this.deflater, false);
    this.inflater = null;
    this.deflater = null;
    this.history = null;
    this.sendHistory = null;
    const queue = this.encodeQueue;
    this.encodeQueue = [];
    for (let i = this.encodeHead; i < queue.length; i++) queue[i]!.callback(connectionClosedError());
    this.encodeHead = 0;
  }
}

/** A context is done with: back to its pool (reset) when it has one and is sound, else closed. */
function dispose(context: ZlibContext, failed: boolean): void {
  if (failed) context.close();
  else releaseShared(context);
}

// ------------------------------------------------------------------ jobs

/** Decompresses one message (§7.2.2): the payload, then the 4-byte tail put back. */
class DecodeJob implements ZlibJob {
  private readonly codec: PerMessageDeflateCodec;
  private readonly data: Buffer;
  private readonly maxSize: number;
  private readonly callback: (error: WebSocketError | null, data?: Buffer) => void;
  private readonly output: OutputCollector;
  private context: ZlibContext | null = null;
  /** 0: the payload, 1: the tail, 2: done. */
  private phase = 0;
  private offset = 0;
  private streamEnded = false;
  private error: WebSocketError | null = null;
  private result: Buffer | null = null;

  constructor(codec: PerMessageDeflateCodec, data: Buffer, maxSize: number, callback: (error: WebSocketError | null, data?: Buffer) => void) {
    this.codec = codec;
    this.data = data;
    this.maxSize = maxSize;
    this.callback = callback;
    this.output = new OutputCollector(maxSize);
  }

  step(): boolean {
    if (this.codec.released) {
      this.error = connectionClosedError();
      this.done(true);
      return true;
    }
    const context = (this.context ??= this.codec.takeInflater());
    const output = this.output;
    const sliceEnd = output.length + INFLATE_SLICE;
    try {
      while (this.phase < 2) {
        const input = this.phase === 0 ? this.data : TAIL;
        output.write(context, Z_SYNC_FLUSH, input, this.offset, input.length - this.offset);
        this.offset = input.length - context.inputLeft;
        // maxPayload applies to the decompressed size and is checked as it grows: a small frame
        // that would inflate to gigabytes stops here, with at most maxSize + 1 bytes allocated.
        if (output.exceeded) {
          this.error = new WebSocketError(
            `Message exceeds the limit of ${this.maxSize} bytes once decompressed`,
            'WS_ERR_MESSAGE_TOO_BIG',
            CloseCode.MessageTooBig,
          );
          break;
        }
        if (output.exhausted) {
          // zlib has more to write; continue, or on a later turn if this slice is used up.
          if (output.length >= sliceEnd) return false;
          continue;
        }
        if (context.inputLeft > 0) {
          // zlib stopped before the input's end: the DEFLATE stream ended (a block with BFINAL).
          if (this.phase === 0) {
            this.error = invalidData('data after the end of the compressed stream');
            break;
          }
          this.streamEnded = true;
        }
        this.phase++;
        this.offset = 0;
      }
    } catch (error) {
      this.error = invalidData((error as Error).message);
    }
    if (this.error === null) this.result = output.take();
    this.done(this.error !== null);
    return true;
  }

  private done(failed: boolean): void {
    if (this.context !== null) {
      this.codec.giveBackInflater(this.context, failed, this.result, this.streamEnded);
      this.context = null;
    }
  }

  finish(): void {
    this.codec.decodeFinished();
    if (this.error !== null) this.callback(this.error);
    else this.callback(null, this.result!);
  }
}

function invalidData(detail: string): WebSocketError {
  // RFC 7692 §8 / RFC 6455 §7.1.7: data that does not decompress fails the connection; 1007 says
  // the payload was not consistent with the message type.
  return new WebSocketError(`Invalid compressed data: ${detail}`, 'WS_ERR_INFLATE_FAILED', CloseCode.InvalidPayload);
}

/** Compresses one message (§7.2.1): DEFLATE, flushed with an empty stored block, tail removed. */
class EncodeJob implements ZlibJob {
  private readonly codec: PerMessageDeflateCodec;
  private readonly data: Buffer;
  readonly callback: (error: Error | null, data?: Buffer) => void;
  private readonly output = new OutputCollector(Infinity);
  private context: ZlibContext | null = null;
  private offset = 0;
  private error: Error | null = null;
  private result: Buffer | null = null;

  constructor(codec: PerMessageDeflateCodec, data: Buffer, callback: (error: Error | null, data?: Buffer) => void) {
    this.codec = codec;
    this.data = data;
    this.callback = callback;
  }

  step(): boolean {
    if (this.codec.released) {
      this.error = connectionClosedError();
      this.done(true);
      return true;
    }
    const context = (this.context ??= this.codec.takeDeflater());
    try {
      this.offset = deflateSlice(this.output, context, this.data, this.offset);
    } catch (error) {
      this.error = error as Error;
      this.done(true);
      return true;
    }
    if (this.offset < this.data.length) return false;
    this.result = withoutTail(this.output.take());
    this.done(false);
    return true;
  }

  private done(failed: boolean): void {
    if (this.context !== null) {
      this.codec.giveBackDeflater(this.context, failed, failed ? null : this.data);
      this.context = null;
    }
  }

  finish(): void {
    this.codec.encodeFinished();
    if (this.error !== null) this.callback(this.error);
    else this.callback(null, this.result!);
    this.codec.encodeNext();
  }
}

/** A shared message's turn in this connection's order: no zlib work, only our history dropped. */
class SharedEncodeJob implements ZlibJob {
  private readonly codec: PerMessageDeflateCodec;
  readonly encoding: SharedEncoding;
  readonly callback: (error: Error | null, data?: Buffer) => void;

  constructor(codec: PerMessageDeflateCodec, encoding: SharedEncoding, callback: (error: Error | null, data?: Buffer) => void) {
    this.codec = codec;
    this.encoding = encoding;
    this.callback = callback;
  }

  /** Runs once the encoding is settled. */
  step(): boolean {
    if (!this.codec.released && this.encoding.data !== null) this.codec.sentShared();
    return true;
  }

  finish(): void {
    this.codec.encodeFinished();
    if (this.codec.released) this.callback(connectionClosedError());
    else if (this.encoding.data === null) this.callback(this.encoding.error);
    else this.callback(null, this.encoding.data);
    this.codec.encodeNext();
  }
}

// ------------------------------------------------------------------ history

/** Where a wrapped history is put in order to seed a context (zlib copies it at once). */
let dictionaryScratch: Buffer | null = null;

/**
 * The last `max` bytes of what was decompressed, in a ring that grows only as far as needed.
 * contiguous() gives it in one piece (the dictionary to seed a context with); compact() rewrites it
 * as one exact-size buffer. Its buffers are never slices of Node's shared pool, which a long-lived
 * slice would pin whole.
 */
export class History {
  private readonly max: number;
  private buffer: Buffer | null = null;
  private start = 0;
  private length = 0;

  constructor(max: number) {
    this.max = max;
  }

  get capacity(): number {
    return this.buffer?.length ?? 0;
  }

  get size(): number {
    return this.length;
  }

  append(data: Buffer): void {
    const n = data.length;
    if (n === 0) return;
    const max = this.max;
    if (n >= max) {
      if (this.buffer === null || this.buffer.length !== max) this.buffer = Buffer.allocUnsafeSlow(max);
      data.copy(this.buffer, 0, n - max, n);
      this.start = 0;
      this.length = max;
      return;
    }
    let buffer = this.buffer;
    if (buffer === null || (buffer.length < max && this.length + n > buffer.length)) {
      const capacity = Math.min(max, Math.max(this.length + n, (buffer?.length ?? 0) * 2, 256));
      const grown = Buffer.allocUnsafeSlow(capacity);
      this.copyInto(grown);
      buffer = this.buffer = grown;
      this.start = 0;
    }
    const capacity = buffer.length;
    const end = (this.start + this.length) % capacity;
    const first = Math.min(n, capacity - end);
    data.copy(buffer, end, 0, first);
    if (first < n) data.copy(buffer, 0, first, n);
    const total = this.length + n;
    if (total > capacity) {
      this.start = (this.start + total - capacity) % capacity;
      this.length = capacity;
    } else {
      this.length = total;
    }
  }

  /**
   * The bytes held, in order, in one buffer (undefined when empty): the ring itself when it does
   * not wrap, else a copy in a scratch buffer shared by every history, valid until the next call.
   */
  contiguous(): Buffer | undefined {
    if (this.length === 0) return undefined;
    const buffer = this.buffer!;
    if (this.start + this.length <= buffer.length) return buffer.subarray(this.start, this.start + this.length);
    const out = (dictionaryScratch ??= Buffer.allocUnsafeSlow(1 << 15)).subarray(0, this.length);
    this.copyInto(out);
    return out;
  }

  /** Rewrites the ring as one exact-size buffer and returns it (undefined when empty). */
  compact(): Buffer | undefined {
    if (this.length === 0) {
      this.buffer = null;
      this.start = 0;
      return undefined;
    }
    if (this.start !== 0 || this.buffer!.length !== this.length) {
      const compacted = Buffer.allocUnsafeSlow(this.length);
      this.copyInto(compacted);
      this.buffer = compacted;
      this.start = 0;
    }
    return this.buffer!;
  }

  clear(): void {
    this.buffer = null;
    this.start = 0;
    this.length = 0;
  }

  private copyInto(target: Buffer): void {
    const buffer = this.buffer;
    if (buffer === null || this.length === 0) return;
    const firstEnd = Math.min(this.start + this.length, buffer.length);
    buffer.copy(target, 0, this.start, firstEnd);
    const copied = firstEnd - this.start;
    if (copied < this.length) buffer.copy(target, copied, 0, this.length - copied);
  }
}
