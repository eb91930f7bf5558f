// One message sent to many connections (a broadcast, a publish): its frame is built once, on
// first use, and every connection that sends it uncompressed writes those same bytes. Peers with
// permessage-deflate get it compressed once per compressor kind (window bits, level, memLevel):
// the codecs keep those encodings here (MessageCodec.encodeShared). A large one is made over
// several event-loop turns; connections that need it meanwhile wait for it (SharedEncoding).

import { Opcode } from './opcodes.js';
import { unmaskedFrame } from './frame-writer.js';

/** One encoding of a SharedMessage: its bytes, or its error, once made; until then, who waits. */
export class SharedEncoding {
  data: Buffer | null = null;
  error: Error | null = null;
  #waiters: (() => void)[] | null = null;

  get settled(): boolean {
    return this.data !== null || this.error !== null;
  }

  /** Runs `then` once the encoding is settled: now if it is. */
  whenSettled(then: () => void): void {
    if (this.settled) then();
    else (this.#waiters ??= []).push(then);
  }

  settle(data: Buffer | null, error: Error | null): void {
    this.data = data;
    this.error = data === null && error === null ? new Error('no encoding was made') : error;
    const waiters = this.#waiters;
    this.#waiters = null;
    if (waiters !== null) for (const wake of waiters) wake();
  }
}

export class SharedMessage {
  readonly payload: Buffer;
  readonly isBinary: boolean;
  /** The sender allows compressing it (false: uncompressed to every peer). */
  readonly compress: boolean;
  /** Encodings by codec kind; made by the first codec of a kind that needs one. */
  encodings: Map<string, SharedEncoding> | null = null;
  #frame: Buffer | null = null;
  /** The frames of the encodings (RSV1 set), by encoded payload, built once for all their peers. */
  #compressedFrames: Map<Buffer, Buffer> | null = null;

  constructor(payload: Buffer, isBinary: boolean, compress: boolean) {
    this.payload = payload;
    this.isBinary = isBinary;
    this.compress = compress;
  }

  /** The unmasked, uncompressed frame (RFC 6455 §5.2), built on first use. */
  get frame(): Buffer {
    return (this.#frame ??= unmaskedFrame(this.isBinary ? Opcode.Binary : Opcode.Text, this.payload));
  }

  /** The frame of one of its encodings (RFC 7692 §6: RSV1 set), built once for every peer that gets it. */
  compressedFrame(encoded: Buffer): Buffer {
    const frames = (this.#compressedFrames ??= new Map());
    let frame = frames.get(encoded);
    if (frame === undefined) {
      frame = unmaskedFrame(this.isBinary ? Opcode.Binary : Opcode.Text, encoded, true, true);
      frames.set(encoded, frame);
    }
    return frame;
  }
}
