// One message sent to many connections (a broadcast, a publish): its frame is built once, on
// first use, and every connection that sends it uncompressed writes those same bytes. Peers with
// permessage-deflate get it compressed once per compressor kind (window bits, level, memLevel):
// the codec keeps those encodings here (MessageCodec.encodeShared).

import { Opcode } from './opcodes.js';
import { unmaskedFrame } from './frame-writer.js';

export class SharedMessage {
  readonly payload: Buffer;
  readonly isBinary: boolean;
  /** The sender allows compressing it (false: uncompressed to every peer). */
  readonly compress: boolean;
  /** Compressed payloads by codec kind; filled by the codecs as they need them. */
  encodings: Map<string, Buffer> | null = null;
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
