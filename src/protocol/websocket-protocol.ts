// The sans-I/O WebSocket connection: bytes in through receive(), bytes out through
// handler.write(), events out through the other handler methods. No sockets, no timers: the
// adapters in src/connection/ move the bytes, own the clocks and own input flow. The core decides
// what the protocol decides: when to stop parsing (receive() returns where it stopped) and when
// the transport should end (handler.endTransport(), RFC 6455 §7.1.1 and §7.1.7).
//
// The parser is a streaming state machine over whatever chunks arrive (RFC 6455 §5.2): a header
// split across chunks waits in a 14-byte buffer, payload is consumed as it comes, and a message
// that arrives whole in one chunk is delivered as a zero-copy slice of it. An unfragmented,
// uncompressed message spread over chunks is unmasked while it is copied into a buffer of its
// own (one pass over the bytes); fragmented and compressed ones are collected as they came.

import { CloseCode, isValidCloseCode } from './close-codes.js';
import { WebSocketError, type WebSocketErrorCode } from './errors.js';
import { outputSlab, reserveOutput, SLAB_MAX_ALLOCATION } from './output-slab.js';
import { COPY_PAYLOAD_LIMIT, frameHeaderSize, maskPool, takeMask, unmaskedFrame, writeFrameHeader, writeUnmaskedFrame } from './frame-writer.js';
import { maskInto, unmask, unmaskInto } from './mask.js';
import { MessageBuffer } from './message-buffer.js';
import type { MessageCodec } from './message-codec.js';
import type { SharedMessage } from './shared-message.js';
import { isControlOpcode, Opcode } from './opcodes.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';

/** Opaque to the core: handed back with the last write() of the frame it was sent with. */
export type WriteTag = (error?: Error) => void;

export interface ProtocolHandler {
  /**
   * A complete message; text messages are valid UTF-8 (RFC 6455 §8.1). Returning false stops
   * parsing after it: receive() returns the position right after this message.
   */
  onMessage(data: Buffer, isBinary: boolean): boolean | void;
  /** A ping (our pong is already queued, or coalesced). Returning false stops parsing after it. */
  onPing(data: Buffer): boolean | void;
  /** A pong. Returning false stops parsing after it. */
  onPong(data: Buffer): boolean | void;
  /** The peer's close frame (§5.5.1); code 1005 when it carried none. Our reply is already queued. */
  onCloseFrame(code: number, reason: string): void;
  /** The peer broke the protocol; a close frame with error.closeCode is already queued (§7.1.7). */
  onProtocolError(error: WebSocketError): void;
  /** Bytes to send, in order. `tag` comes with the last bytes of a frame sent with one. */
  write(data: Buffer, tag?: WriteTag): void;
  /**
   * Like write(), for the bytes [start, end) of an output slab (output-slab.ts): small frames are
   * built there, and a handler that merges adjacent ranges needs no Buffer per frame.
   */
  writeSlab(slab: Buffer, start: number, end: number, tag?: WriteTag): void;
  /** True while the peer is not reading what we send; automatic pongs are then coalesced. */
  isWriteBackedUp(): boolean;
  /**
   * This side is done with the transport: end it once everything written so far is out. Called
   * on the server after the close frames were exchanged (§7.1.1: the server closes TCP first) and
   * on either side after failing the connection (§7.1.7). A client that exchanged close frames
   * waits for the server to close; bounding that wait is the adapter's clock.
   */
  endTransport(): void;
  /**
   * A compressed message that stopped receive() while it was decoded (asynchronously) has been
   * delivered, or has failed: receive() takes input again, starting with the bytes it left.
   */
  onDecoded(): void;
}

export interface ProtocolOptions {
  /** 'server' expects masked frames and sends unmasked ones; 'client' the reverse (§5.1). */
  role: 'server' | 'client';
  /** Largest message accepted, in bytes, after decompression. */
  maxPayload: number;
  /** Most frames one fragmented message may use. */
  maxFragments: number;
  /** The negotiated extension that owns RSV1, if any. */
  codec?: MessageCodec | null;
  /**
   * Pings the peer may send while it does not read (their pongs are coalesced into one); one more
   * fails the connection with 1008. Default Infinity: coalescing alone keeps the memory bounded.
   */
  maxUnansweredPings?: number;
}

export const ReadyState = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;

// WebSocketProtocol.flags: the parser state in the low bits, then booleans (one field for all).
const HEADER = 0;
const PAYLOAD = 1;
const DONE = 2;
const STATE = 3;
/** A compressed message is being decoded asynchronously: parsing waits, to keep order. */
const DECODING = 4;
/** The handler asked to stop parsing after the event it just received. */
const HOLDING = 8;
const CLOSE_SENT = 16;
const CLOSE_RECEIVED = 32;
/** Our own fragmented message is open (the next send() continues it). */
const SENDING_FRAGMENTED = 64;

/** Largest close reason in bytes: 125 minus the 2-byte code (§5.5). */
export const MAX_CLOSE_REASON = 123;

type SendItem = {
  data: Buffer | null;
  opcode: number;
  rsv1: boolean;
  fin: boolean;
  ready: boolean;
  size: number;
  tag: WriteTag | undefined;
};

/** The per-connection constants of ProtocolOptions, shared by the connections that have the same. */
interface ProtocolLimits {
  readonly isServer: boolean;
  readonly maxPayload: number;
  readonly maxFragments: number;
  readonly maxUnansweredPings: number;
}

// The limits of the last connection made: a server makes all its connections with the same, so
// they share one object rather than four fields each (and Infinity, a boxed number, once).
let lastLimits: ProtocolLimits = { isServer: true, maxPayload: 0, maxFragments: 0, maxUnansweredPings: 0 };

function limitsFor(options: ProtocolOptions): ProtocolLimits {
  const isServer = options.role === 'server';
  const maxUnansweredPings = options.maxUnansweredPings ?? Infinity;
  const last = lastLimits;
  if (
    last.isServer === isServer &&
    last.maxPayload === options.maxPayload &&
    last.maxFragments === options.maxFragments &&
    last.maxUnansweredPings === maxUnansweredPings
  ) {
    return last;
  }
  return (lastLimits = { isServer, maxPayload: options.maxPayload, maxFragments: options.maxFragments, maxUnansweredPings });
}

/**
 * What the parser keeps between reads while a frame header, a frame or a message spans them
 * (issue 13: an idle connection has none). Made when one starts to span, dropped when it ends.
 */
class Receiving {
  // A frame header split across chunks.
  header: Buffer | null = null;
  headerLength = 0;
  // The frame being read (PAYLOAD).
  fin = false;
  opcode = 0;
  masked = false;
  /** The masking key, bytes 0-3 as an int (see maskOf()). */
  maskKey = 0;
  maskPhase = 0;
  remaining = 0;
  control: Buffer | null = null;
  controlLength = 0;
  // The message being read (across its frames); messageOpcode 0: none.
  messageOpcode = 0;
  messageCompressed = false;
  messageLength = 0;
  fragments = 0;
  /** A fragmented or compressed message's pieces, as they came. */
  pieces: MessageBuffer | null = null;
  /** An unfragmented, uncompressed message's bytes, unmasked, at [0, messageLength); see reserve(). */
  body: Buffer | null = null;
  /** The uncompressed message arrived whole in one chunk after its header: a slice of that chunk. */
  whole: Buffer | null = null;
  utf8: Utf8Validator | null = null;
}

// Receiving objects are only held while something spans reads: the connections that need one
// share these (with their header buffer and UTF-8 validator) instead of allocating each time.
const rxPool: Receiving[] = [];
const RX_POOL_MAX = 64;

function takeReceiving(): Receiving {
  return rxPool.pop() ?? new Receiving();
}

/** Back to the pool, emptied: the caller holds no message of it any more. */
function recycle(rx: Receiving): void {
  rx.headerLength = 0;
  rx.control = null;
  rx.messageOpcode = 0;
  rx.messageCompressed = false;
  rx.messageLength = 0;
  rx.fragments = 0;
  if (rx.pieces !== null && rx.pieces.length > 0) rx.pieces.clear();
  rx.body = null;
  rx.whole = null;
  if (rxPool.length < RX_POOL_MAX) rxPool.push(rx);
}

/** What send() keeps only while something waits (made on first need, dropped once empty). */
class Sending {
  queue: SendItem[] | null = null;
  /** Bytes of the messages in queue (waiting for, or behind, a message being encoded). */
  queuedBytes = 0;
  /** The answer to the latest ping coalesced while the peer did not read. */
  pendingPong: Buffer | null = null;
  /** Pings coalesced since the peer last read (see ProtocolOptions.maxUnansweredPings). */
  unansweredPings = 0;
  // Prepared messages that arrived while our own fragmented message was open (§5.4).
  heldPrepared: { payload: Buffer; isBinary: boolean }[] | null = null;
}

/**
 * The masking key of the frame being unmasked (readHeader() reads it here). The parser is
 * synchronous and done with it before any handler runs, so every connection shares this one.
 */
const MASK = Buffer.alloc(4);

function maskOf(key: number): Buffer {
  MASK[0] = key & 0xff;
  MASK[1] = (key >>> 8) & 0xff;
  MASK[2] = (key >>> 16) & 0xff;
  MASK[3] = key >>> 24;
  return MASK;
}

export class WebSocketProtocol {
  private readonly handler: ProtocolHandler;
  private readonly limits: ProtocolLimits;
  private codec: MessageCodec | null;
  /** The parser state and the booleans (HEADER, DECODING, ...). */
  private flags = HEADER;
  /** Parser state spanning reads; null between whole frames (the usual case). */
  private rx: Receiving | null = null;
  /** Output waiting for something; null when nothing does. */
  private tx: Sending | null = null;

  constructor(handler: ProtocolHandler, options: ProtocolOptions) {
    this.handler = handler;
    this.limits = limitsFor(options);
    this.codec = options.codec ?? null;
  }

  get closeSent(): boolean {
    return (this.flags & CLOSE_SENT) !== 0;
  }

  get closeReceived(): boolean {
    return (this.flags & CLOSE_RECEIVED) !== 0;
  }

  private get state(): number {
    return this.flags & STATE;
  }

  private setState(state: number): void {
    this.flags = (this.flags & ~STATE) | state;
  }

  private sending(): Sending {
    return (this.tx ??= new Sending());
  }

  /** Drops the send state once nothing waits in it. */
  private settleSending(tx: Sending): void {
    if (tx.queue === null && tx.pendingPong === null && tx.unansweredPings === 0 && tx.heldPrepared === null) this.tx = null;
  }

  private get isServer(): boolean {
    return this.limits.isServer;
  }

  get maxPayload(): number {
    return this.limits.maxPayload;
  }

  private get maxFragments(): number {
    return this.limits.maxFragments;
  }

  private get maxUnansweredPings(): number {
    return this.limits.maxUnansweredPings;
  }

  get isServerRole(): boolean {
    return this.isServer;
  }

  /** True once no more input will be parsed (close received or connection failed). */
  get inputClosed(): boolean {
    return this.state === DONE;
  }

  /** True while a compressed message is decoded asynchronously (receive() takes nothing). */
  get decodePending(): boolean {
    return (this.flags & DECODING) !== 0;
  }

  // ---------------------------------------------------------------- receiving

  /**
   * Parses as much of `chunk` as it may and returns how many bytes it consumed. It stops early,
   * always between frames, while a compressed message decodes asynchronously (decodePending;
   * handler.onDecoded() says when to go on) or after a handler returned false. The caller keeps
   * the rest and passes it again, in order, before newer bytes. Input after a close frame or a
   * failure is consumed and ignored.
   */
  receive(chunk: Buffer): number {
    const end = chunk.length;
    let flags = this.flags;
    if ((flags & STATE) === DONE) return end;
    if ((flags & DECODING) !== 0) return 0;
    let pos = 0;
    while (pos < end) {
      pos = (this.flags & STATE) === HEADER ? this.readHeader(chunk, pos, end) : this.readPayload(this.rx!, chunk, pos, end);
      flags = this.flags;
      // One test for the three reasons to stop: DONE (2) or a DECODING or HOLDING bit.
      if ((flags & (STATE | DECODING | HOLDING)) > PAYLOAD) {
        if ((flags & STATE) === DONE) return end;
        if ((flags & DECODING) === 0) this.flags = flags & ~HOLDING;
        return pos;
      }
    }
    this.flags &= ~HOLDING;
    return end;
  }

  /** Delivers a message; the handler's false holds the rest of the input. */
  private deliver(data: Buffer, isBinary: boolean): void {
    if (this.handler.onMessage(data, isBinary) === false) this.flags |= HOLDING;
  }

  /** Parses a frame header at chunk[pos]; returns the position after what was consumed. */
  private readHeader(chunk: Buffer, pos: number, end: number): number {
    let source: Buffer;
    let at: number;
    let rx = this.rx;
    if ((rx === null || rx.headerLength === 0) && end - pos >= 2 && end - pos >= headerSize(chunk[pos + 1]!)) {
      source = chunk;
      at = pos;
    } else {
      rx ??= this.rx = takeReceiving();
      pos = bufferHeader(rx, chunk, pos, end);
      const header = rx.header!;
      if (rx.headerLength < 2 || rx.headerLength < headerSize(header[1]!)) return pos;
      source = header;
      at = 0;
      rx.headerLength = 0;
    }

    const b0 = source[at]!;
    const b1 = source[at + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let p = at + 2;

    // §5.2: RSV bits are 0 unless an extension defines them; RFC 7692 §6 gives RSV1 to the
    // first frame of a compressed data message only.
    if ((b0 & 0x30) !== 0) return this.fail('RSV2 and RSV3 must be clear', 'WS_ERR_RESERVED_BITS');
    if (rsv1 && (this.codec === null || opcode === Opcode.Continuation || isControlOpcode(opcode))) {
      return this.fail('RSV1 must be clear', 'WS_ERR_RESERVED_BITS');
    }
    // §5.1: client-to-server frames are masked, server-to-client frames are not.
    if (masked !== this.isServer) {
      return this.isServer
        ? this.fail('Client frames must be masked', 'WS_ERR_EXPECTED_MASK')
        : this.fail('Server frames must not be masked', 'WS_ERR_UNEXPECTED_MASK');
    }

    if (length === 126) {
      length = (source[p]! << 8) | source[p + 1]!;
      p += 2;
    } else if (length === 127) {
      const high = source.readUInt32BE(p);
      const low = source.readUInt32BE(p + 4);
      p += 8;
      // §5.2: the most significant bit of a 64-bit length must be 0.
      if (high > 0x7fffffff) return this.fail('Invalid 64-bit payload length', 'WS_ERR_INVALID_LENGTH');
      length = high > 0x1fffff ? Number.MAX_SAFE_INTEGER : high * 0x100000000 + low;
    }

    if (isControlOpcode(opcode)) {
      if (opcode > Opcode.Pong) return this.fail(`Unknown opcode ${opcode}`, 'WS_ERR_INVALID_OPCODE');
      // §5.5: control frames are never fragmented and carry at most 125 bytes.
      if (!fin) return this.fail('Control frames must not be fragmented', 'WS_ERR_INVALID_CONTROL_FRAME');
      if (length > 125) return this.fail('Control frame payload over 125 bytes', 'WS_ERR_INVALID_CONTROL_FRAME');
    } else if (opcode === Opcode.Continuation) {
      // §5.4: a continuation needs a message in progress.
      if (rx === null || rx.messageOpcode === 0) {
        return this.fail('Continuation frame without a message to continue', 'WS_ERR_INVALID_CONTINUATION');
      }
    } else if (opcode <= Opcode.Binary) {
      // §5.4: a new data message cannot start inside a fragmented one.
      if (rx !== null && rx.messageOpcode !== 0) {
        return this.fail('Expected a continuation frame', 'WS_ERR_EXPECTED_CONTINUATION');
      }
    } else {
      return this.fail(`Unknown opcode ${opcode}`, 'WS_ERR_INVALID_OPCODE');
    }

    if (!isControlOpcode(opcode)) {
      if ((rx === null ? 0 : rx.messageLength) + length > this.maxPayload) {
        return this.fail(
          `Message exceeds the limit of ${this.maxPayload} bytes`,
          'WS_ERR_MESSAGE_TOO_BIG',
          CloseCode.MessageTooBig,
        );
      }
      if (!(fin && opcode !== Opcode.Continuation) && ++(rx ??= this.rx = takeReceiving()).fragments > this.maxFragments) {
        return this.fail(
          `Message uses more than ${this.maxFragments} frames`,
          'WS_ERR_TOO_MANY_FRAGMENTS',
          CloseCode.PolicyViolation,
        );
      }
    }

    if (masked) {
      MASK[0] = source[p]!;
      MASK[1] = source[p + 1]!;
      MASK[2] = source[p + 2]!;
      MASK[3] = source[p + 3]!;
      p += 4;
    }
    if (source === chunk) pos = p;

    if (end - pos >= length) {
      // The hot path: a whole unfragmented, uncompressed data message in this chunk.
      if (fin && !rsv1 && opcode !== Opcode.Continuation && !isControlOpcode(opcode)) {
        // A new message: none is in progress (checked above), so nothing spans reads now.
        if (rx !== null) {
          this.rx = null;
          recycle(rx);
        }
        const stop = pos + length;
        if (masked) unmask(chunk, pos, stop, MASK, 0);
        if (opcode === Opcode.Text && !isValidUtf8(chunk, pos, stop)) {
          return this.fail('Invalid UTF-8 in text message', 'WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload);
        }
        this.deliver(chunk.subarray(pos, stop), opcode === Opcode.Binary);
        return stop;
      }
      if (isControlOpcode(opcode)) return this.wholeControl(opcode, masked, chunk, pos, pos + length);
    }

    rx ??= this.rx = takeReceiving();
    rx.fin = fin;
    rx.opcode = opcode;
    rx.remaining = length;
    rx.masked = masked;
    rx.maskKey = masked ? MASK[0]! | (MASK[1]! << 8) | (MASK[2]! << 16) | (MASK[3]! << 24) : 0;
    rx.maskPhase = 0;
    if (isControlOpcode(opcode)) {
      rx.controlLength = 0;
      rx.control = Buffer.allocUnsafe(length);
    } else if (opcode !== Opcode.Continuation) {
      rx.messageOpcode = opcode;
      rx.messageCompressed = rsv1;
      rx.messageLength = 0;
      if (opcode === Opcode.Text && !rsv1) (rx.utf8 ??= new Utf8Validator()).reset();
    }
    this.setState(PAYLOAD);
    if (length === 0) this.endFrame(rx);
    return pos;
  }

  /** A whole control frame in the chunk (a heartbeat's ping or pong, a close frame): its own copy. */
  private wholeControl(opcode: number, masked: boolean, chunk: Buffer, pos: number, stop: number): number {
    const rx = this.rx;
    if (rx !== null && rx.messageOpcode === 0) {
      this.rx = null;
      recycle(rx);
    }
    let payload = EMPTY;
    if (stop > pos) {
      if (masked) unmask(chunk, pos, stop, MASK, 0);
      payload = Buffer.allocUnsafe(stop - pos);
      chunk.copy(payload, 0, pos, stop);
    }
    this.handleControl(opcode, payload);
    return stop;
  }

  private readPayload(rx: Receiving, chunk: Buffer, pos: number, end: number): number {
    const take = Math.min(rx.remaining, end - pos);
    const stop = pos + take;
    if (isControlOpcode(rx.opcode)) {
      if (rx.masked) rx.maskPhase = unmask(chunk, pos, stop, maskOf(rx.maskKey), rx.maskPhase);
      chunk.copy(rx.control!, rx.controlLength, pos, stop);
      rx.controlLength += take;
    } else if (rx.messageCompressed || !rx.fin || rx.opcode === Opcode.Continuation) {
      // Compressed (the decoder takes the pieces) or fragmented (§5.4: the total is unknown):
      // the pieces are unmasked in place and joined at the end. Growing one buffer instead
      // measured slower: each doubling is fresh memory, which the kernel maps in page by page.
      if (rx.masked) rx.maskPhase = unmask(chunk, pos, stop, maskOf(rx.maskKey), rx.maskPhase);
      if (!this.validText(rx, chunk, pos, stop)) return end;
      rx.messageLength += take;
      (rx.pieces ??= new MessageBuffer()).append(chunk, pos, stop);
    } else {
      // One uncompressed frame: its length is the message's.
      const at = rx.messageLength;
      let data: Buffer;
      let from: number;
      if (at === 0 && take === rx.remaining) {
        // All of it is in this chunk (its header came in an earlier one): no copy.
        if (rx.masked) unmask(chunk, pos, stop, maskOf(rx.maskKey), rx.maskPhase);
        data = rx.whole = chunk.subarray(pos, stop);
        from = 0;
      } else {
        // Unmasked while copied into the message's own buffer: one pass over the bytes.
        data = reserve(rx, at + take);
        from = at;
        if (rx.masked) rx.maskPhase = unmaskInto(chunk, pos, stop, data, at, maskOf(rx.maskKey), rx.maskPhase);
        else chunk.copy(data, at, pos, stop);
      }
      if (!this.validText(rx, data, from, from + take)) return end;
      rx.messageLength = at + take;
    }
    rx.remaining -= take;
    if (rx.remaining === 0) this.endFrame(rx);
    return stop;
  }

  /** §8.1: fails on invalid UTF-8 as soon as it is seen, not at the end of the message. */
  private validText(rx: Receiving, data: Buffer, start: number, end: number): boolean {
    if (rx.messageOpcode !== Opcode.Text || rx.messageCompressed || rx.utf8!.write(data, start, end)) return true;
    this.fail('Invalid UTF-8 in text message', 'WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload);
    return false;
  }

  private endFrame(rx: Receiving): void {
    this.setState(HEADER);
    const opcode = rx.opcode;
    if (isControlOpcode(opcode)) {
      const payload = rx.control!;
      rx.control = null;
      // Nothing spans reads any more unless a fragmented message is still open.
      if (rx.messageOpcode === 0) {
        this.rx = null;
        recycle(rx);
      }
      this.handleControl(opcode, payload);
      return;
    }
    if (!rx.fin) return;

    this.rx = null;
    const isBinary = rx.messageOpcode === Opcode.Binary;
    let data: Buffer;
    if (rx.pieces !== null && rx.pieces.length > 0) {
      data = rx.pieces.take();
    } else if (rx.whole !== null) {
      data = rx.whole;
    } else if (rx.body !== null) {
      data = rx.body; // reserve() never allocates past the message's length
    } else {
      data = EMPTY;
    }
    const compressed = rx.messageCompressed;
    const validText = isBinary || compressed || rx.utf8!.end();
    recycle(rx);

    if (compressed) {
      this.decodeMessage(data, isBinary);
      return;
    }
    if (!validText) {
      this.fail('Invalid UTF-8 in text message', 'WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload);
      return;
    }
    this.deliver(data, isBinary);
  }

  /**
   * Decodes a compressed message. A synchronous decode delivers it before this returns; an
   * asynchronous one stops receive() until the message is delivered, so messages stay in order.
   */
  private decodeMessage(data: Buffer, isBinary: boolean): void {
    this.flags |= DECODING;
    let sync = true;
    this.codec!.decode(data, this.maxPayload, (error, decoded) => {
      this.flags &= ~DECODING;
      if (this.state !== DONE) {
        if (error) {
          this.fail(error.message, error.code, error.closeCode);
        } else if (!isBinary && !isValidUtf8(decoded!)) {
          this.fail('Invalid UTF-8 in text message', 'WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload);
        } else if (sync) {
          this.deliver(decoded!, isBinary);
        } else {
          // Parsing already stopped here: the handler's answer changes nothing; it holds input
          // itself if it wants to.
          this.handler.onMessage(decoded!, isBinary);
        }
      }
      // After a failure too: the adapter reads on, to see the peer's answer to our close frame.
      if (!sync) this.handler.onDecoded();
    });
    sync = false;
  }

  private handleControl(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.Ping) {
      // §5.5.2: answer with a pong carrying the same payload. If the peer is not reading, answer
      // only the latest ping once it does (§5.5.3 allows it): a ping flood costs no memory.
      if (!this.closeSent) {
        if (this.handler.isWriteBackedUp()) {
          const tx = this.sending();
          if (++tx.unansweredPings > this.maxUnansweredPings) {
            this.fail(`More than ${this.maxUnansweredPings} pings while not reading`, 'WS_ERR_PING_FLOOD', CloseCode.PolicyViolation);
            return;
          }
          tx.pendingPong = payload;
        } else {
          const tx = this.tx;
          if (tx !== null) {
            tx.unansweredPings = 0;
            // This answer supersedes an older coalesced one: no stale pong after it.
            tx.pendingPong = null;
            this.settleSending(tx);
          }
          this.sendControl(Opcode.Pong, payload);
        }
      }
      if (this.handler.onPing(payload) === false) this.flags |= HOLDING;
    } else if (opcode === Opcode.Pong) {
      if (this.handler.onPong(payload) === false) this.flags |= HOLDING;
    } else {
      this.handleClose(payload);
    }
  }

  private handleClose(payload: Buffer): void {
    let code: number = CloseCode.NoStatus;
    let reason = '';
    if (payload.length === 1) {
      this.fail('Close frame with a 1-byte payload', 'WS_ERR_INVALID_CLOSE_FRAME');
      return;
    }
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      // §7.4: reserved and unassigned codes are a protocol error.
      if (!isValidCloseCode(code)) {
        this.fail(`Invalid close code ${code}`, 'WS_ERR_INVALID_CLOSE_CODE');
        return;
      }
      // §5.5.1: the reason is UTF-8.
      if (!isValidUtf8(payload, 2, payload.length)) {
        this.fail('Invalid UTF-8 in close reason', 'WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload);
        return;
      }
      reason = payload.toString('utf8', 2);
    }
    this.flags = (this.flags & ~STATE) | DONE | CLOSE_RECEIVED;
    this.dropMessage();
    // §5.5.1: reply with a close frame, echoing the status code.
    if (!this.closeSent) this.close(code === CloseCode.NoStatus ? undefined : code, EMPTY);
    this.handler.onCloseFrame(code, reason);
    // §7.1.1: once both close frames went by, the server closes the TCP connection first; the
    // client waits for it to.
    if (this.isServer) this.handler.endTransport();
  }

  /**
   * Fails the connection (§7.1.7): queue a close frame with the error's code, parse no more, and
   * close the transport after the close frame.
   */
  private fail(message: string, code: WebSocketErrorCode, closeCode: number = CloseCode.ProtocolError): number {
    const error = new WebSocketError(message, code, closeCode);
    this.setState(DONE);
    this.dropMessage();
    if (!this.closeSent) this.close(closeCode, Buffer.from(message.slice(0, MAX_CLOSE_REASON)));
    this.handler.onProtocolError(error);
    this.handler.endTransport();
    return Number.MAX_SAFE_INTEGER;
  }

  /** Stops parsing without sending anything (the transport is gone). */
  shutdown(): void {
    this.setState(DONE);
    this.dropMessage();
    this.tx = null;
    if (this.codec !== null) {
      this.codec.release();
      this.codec = null;
    }
  }

  private dropMessage(): void {
    const rx = this.rx;
    if (rx !== null) {
      this.rx = null;
      recycle(rx);
    }
    this.flags &= ~HOLDING;
  }

  // ---------------------------------------------------------------- sending

  /**
   * Sends a data message, or one fragment of it when `fin` is false (the next sends continue it).
   * `compress` asks the codec to encode it (default: the codec's size threshold decides). `tag`
   * goes to handler.write() with the frame's last bytes (frames are written in send order).
   */
  send(data: Buffer, isBinary: boolean, fin = true, compress?: boolean, tag?: WriteTag, shared?: SharedMessage): void {
    const flags = this.flags;
    if ((flags & CLOSE_SENT) !== 0) return;
    let opcode: number = isBinary ? Opcode.Binary : Opcode.Text;
    if ((flags & SENDING_FRAGMENTED) !== 0) opcode = Opcode.Continuation;
    this.flags = fin ? flags & ~SENDING_FRAGMENTED : flags | SENDING_FRAGMENTED;
    const codec = this.codec;
    // RFC 7692 §6: compression applies to whole messages here, so fragments go uncompressed.
    const encode =
      codec !== null && fin && opcode !== Opcode.Continuation && (compress ?? codec.wantsToEncode(data.length));
    if (!encode && (this.tx === null || this.tx.queue === null)) {
      this.writeFrame(opcode, data, fin, false, tag);
      if (fin && this.tx !== null && this.tx.heldPrepared !== null) this.releaseHeldPrepared(this.tx);
      return;
    }
    const tx = this.sending();
    const item: SendItem = { data: encode ? null : data, opcode, rsv1: encode, fin, ready: !encode, size: data.length, tag };
    if (tx.queue === null) tx.queuedBytes = 0;
    (tx.queue ??= []).push(item);
    tx.queuedBytes += data.length;
    if (encode) {
      const encoded = (error: Error | null, encoded?: Buffer): void => {
        const tx = this.tx;
        if (tx === null || tx.queue === null) return;
        if (error) {
          // The failed item would block the queue forever and the close frame behind it: drop
          // what is queued (the connection is failing) so fail() writes the close frame now.
          tx.queue = null;
          this.fail(`Compression failed: ${error.message}`, 'WS_ERR_DEFLATE_FAILED', CloseCode.InternalError);
          return;
        }
        item.data = encoded!;
        item.ready = true;
        this.flushSendQueue();
      };
      if (shared !== undefined) codec!.encodeShared!(shared, encoded);
      else codec!.encode(data, encoded);
    }
    if (fin && tx.heldPrepared !== null) this.releaseHeldPrepared(tx);
  }

  /** Sends the prepared messages held back until our fragmented message ended, in order. */
  private releaseHeldPrepared(tx: Sending): void {
    const held = tx.heldPrepared!;
    tx.heldPrepared = null;
    this.settleSending(tx);
    for (const { payload, isBinary } of held) this.send(payload, isBinary, true, false);
  }

  /** Bytes accepted by send() but still waiting for an encode to finish (part of bufferedAmount). */
  get queuedSendBytes(): number {
    const tx = this.tx;
    return tx === null || tx.queue === null ? 0 : tx.queuedBytes;
  }

  /** Frames that waited behind a message being encoded go out as soon as it is done, in order. */
  private flushSendQueue(): void {
    const tx = this.tx;
    const queue = tx === null ? null : tx.queue;
    if (queue === null) return;
    let i = 0;
    while (i < queue.length && queue[i]!.ready) {
      const item = queue[i++]!;
      tx!.queuedBytes -= item.size;
      this.writeFrame(item.opcode, item.data!, item.fin, item.rsv1, item.tag);
    }
    if (i < queue.length) {
      queue.splice(0, i);
    } else if (this.tx === tx) {
      tx!.queue = null;
      this.settleSending(tx!);
    }
  }

  /**
   * Sends a message built once for many connections: compressed (once per codec kind, see
   * MessageCodec.encodeShared) when the codec shares encodings and wants this one, else as the
   * shared uncompressed frame.
   */
  sendShared(message: SharedMessage): void {
    const codec = this.codec;
    if (
      message.compress &&
      codec !== null &&
      codec.sharesEncoding?.(message.payload.length) === true &&
      (this.flags & (CLOSE_SENT | SENDING_FRAGMENTED)) === 0
    ) {
      // Nothing queued ahead of it (the usual case): the frame every peer of this encoding gets,
      // written at once, no queue entry, no copy.
      const tx = this.tx;
      const encoded = this.isServer && (tx === null || tx.queue === null) ? (codec.encodeSharedNow?.(message) ?? null) : null;
      if (encoded !== null) this.writeShared(message.compressedFrame(encoded), encoded);
      else this.send(message.payload, message.isBinary, true, true, undefined, message);
      return;
    }
    this.sendPrepared(message.frame, message.payload, message.isBinary);
  }

  /**
   * Sends an unfragmented, uncompressed message whose unmasked frame was serialised once for
   * many connections: `frame` is the header, followed by the payload unless `frame` already
   * holds it. Falls back to framing it here when this connection cannot take it as is.
   */
  sendPrepared(frame: Buffer, payload: Buffer, isBinary: boolean): void {
    if (this.closeSent) return;
    if ((this.flags & SENDING_FRAGMENTED) !== 0) {
      // §5.4: a new message cannot start inside our fragmented one (send() would have made it
      // that message's last fragment); it goes out after the fragmented message ends.
      (this.sending().heldPrepared ??= []).push({ payload, isBinary });
      return;
    }
    if (!this.isServer || (this.tx !== null && this.tx.queue !== null)) {
      this.send(payload, isBinary, true, false);
      return;
    }
    this.writeShared(frame, payload);
  }

  /** Writes a frame built for many connections: `frame`, then `payload` unless `frame` holds it. */
  private writeShared(frame: Buffer, payload: Buffer): void {
    this.handler.write(frame);
    if (frame.length < frameHeaderSize(payload.length, false) + payload.length) this.handler.write(payload);
  }

  ping(data: Buffer): void {
    if (!this.closeSent) this.sendControl(Opcode.Ping, data);
  }

  pong(data: Buffer): void {
    if (!this.closeSent) this.sendControl(Opcode.Pong, data);
  }

  /** Called by the adapter when the peer reads again: answer the latest coalesced ping. */
  flushPendingPong(): void {
    const tx = this.tx;
    if (tx === null) return;
    const payload = tx.pendingPong;
    tx.unansweredPings = 0;
    if (payload !== null && !this.closeSent) tx.pendingPong = null;
    this.settleSending(tx);
    if (payload !== null && !this.closeSent) this.sendControl(Opcode.Pong, payload);
  }

  /** Sends a close frame (§5.5.1); no data follows it. Codes are validated by the caller. */
  close(code: number | undefined, reason: Buffer): void {
    if (this.closeSent) return;
    let payload = EMPTY;
    if (code !== undefined) {
      payload = Buffer.allocUnsafe(2 + reason.length);
      payload.writeUInt16BE(code, 0);
      reason.copy(payload, 2);
    }
    const queue = this.tx === null ? null : this.tx.queue;
    if (queue !== null) {
      // Queued messages go first: nothing accepted before close() is lost.
      queue.push({ data: payload, opcode: Opcode.Close, rsv1: false, fin: true, ready: true, size: 0, tag: undefined });
      this.flags |= CLOSE_SENT;
      this.flushSendQueue();
      return;
    }
    this.flags |= CLOSE_SENT;
    this.writeFrame(Opcode.Close, payload, true, false);
  }

  private sendControl(opcode: number, payload: Buffer): void {
    this.writeFrame(opcode, payload, true, false);
  }

  /**
   * Serialises one frame: small frames whole into the output slab (one handler.writeSlab()), a
   * large unmasked one as its header and the payload itself (two handler.write() calls, no copy).
   */
  private writeFrame(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean, tag?: WriteTag): void {
    const length = payload.length;
    if (this.isServer) {
      if (length > COPY_PAYLOAD_LIMIT) {
        this.handler.write(unmaskedFrame(opcode, payload, fin, rsv1));
        this.handler.write(payload, tag);
        return;
      }
      const start = reserveOutput(frameHeaderSize(length, false) + length);
      const slab = outputSlab();
      this.handler.writeSlab(slab, start, writeUnmaskedFrame(slab, start, opcode, payload, fin, rsv1), tag);
      return;
    }
    // §5.3: every client frame gets a fresh mask; the caller's buffer is never modified.
    const total = frameHeaderSize(length, true) + length;
    const inSlab = total <= SLAB_MAX_ALLOCATION;
    const start = inSlab ? reserveOutput(total) : 0;
    const out = inSlab ? outputSlab() : Buffer.allocUnsafe(total);
    const p = writeFrameHeader(out, start, fin, rsv1, opcode, length, maskPool, takeMask());
    maskInto(payload, 0, length, out, p, out.subarray(p - 4, p));
    if (inSlab) this.handler.writeSlab(out, start, p + length, tag);
    else this.handler.write(out, tag);
  }
}

const EMPTY = Buffer.alloc(0);

/** Largest message buffer allocated ahead of the bytes that fill it (see reserve()). */
const PRESIZE_MAX = 8 * 1024 * 1024;

/** Collects header bytes that straddle chunks. */
function bufferHeader(rx: Receiving, chunk: Buffer, pos: number, end: number): number {
  const header = (rx.header ??= Buffer.allocUnsafe(14));
  let needed = rx.headerLength >= 2 ? headerSize(header[1]!) : 2;
  while (pos < end && rx.headerLength < needed) {
    header[rx.headerLength++] = chunk[pos++]!;
    if (rx.headerLength === 2) needed = headerSize(header[1]!);
  }
  return pos;
}

/**
 * The buffer of an unfragmented message, with room for `upTo` bytes. It is allocated once the
 * limits were checked (readHeader), at the message's size; but a claimed length is not memory
 * to spend up front: past PRESIZE_MAX it grows as the bytes arrive, doubling.
 */
function reserve(rx: Receiving, upTo: number): Buffer {
  const body = rx.body;
  const have = body === null ? 0 : body.length;
  if (upTo <= have) return body!;
  const total = rx.messageLength + rx.remaining;
  const size = total <= PRESIZE_MAX ? total : Math.max(upTo, Math.min(total, Math.max(PRESIZE_MAX, 2 * have)));
  const grown = Buffer.allocUnsafe(size);
  if (body !== null) body.copy(grown, 0, 0, rx.messageLength);
  return (rx.body = grown);
}

/** Total header size given the second header byte (§5.2). */
function headerSize(b1: number): number {
  const length = b1 & 0x7f;
  return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
}
