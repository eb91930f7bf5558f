// RFC 6455 §5.2: frame header layout. Serialisation only; masking of payloads lives in mask.ts.
import { randomFillSync } from 'node:crypto';
import { allocOutput } from './output-slab.js';

/** Data-frame payloads up to this size are copied next to their header: one write, not two. */
export const COPY_PAYLOAD_LIMIT = 8 * 1024;

/** Header bytes for a frame with this payload length (§5.2: 7-, 16- or 64-bit length, minimal). */
export function frameHeaderSize(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 0x10000 ? 4 : 10;
  return masked ? base + 4 : base;
}

/**
 * Writes a frame header at target[offset] and returns the offset after it.
 * With a mask, its 4 bytes follow the length (§5.2 Masking-key).
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  fin: boolean,
  rsv1: boolean,
  opcode: number,
  payloadLength: number,
  mask: Uint8Array | null,
  maskOffset = 0,
): number {
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = mask === null ? 0 : 0x80;
  let p = offset + 2;
  if (payloadLength < 126) {
    target[offset + 1] = maskBit | payloadLength;
  } else if (payloadLength < 0x10000) {
    target[offset + 1] = maskBit | 126;
    target[p] = payloadLength >>> 8;
    target[p + 1] = payloadLength & 0xff;
    p += 2;
  } else {
    target[offset + 1] = maskBit | 127;
    // §5.2: 64-bit length, most significant bit 0. Lengths here are < 2^53.
    const high = Math.floor(payloadLength / 0x100000000);
    const low = payloadLength >>> 0;
    target[p] = high >>> 24;
    target[p + 1] = (high >>> 16) & 0xff;
    target[p + 2] = (high >>> 8) & 0xff;
    target[p + 3] = high & 0xff;
    target[p + 4] = low >>> 24;
    target[p + 5] = (low >>> 16) & 0xff;
    target[p + 6] = (low >>> 8) & 0xff;
    target[p + 7] = low & 0xff;
    p += 8;
  }
  if (mask !== null) {
    target[p] = mask[maskOffset]!;
    target[p + 1] = mask[maskOffset + 1]!;
    target[p + 2] = mask[maskOffset + 2]!;
    target[p + 3] = mask[maskOffset + 3]!;
    p += 4;
  }
  return p;
}

/**
 * An unmasked frame (server to client, §5.1): the header, followed by the payload when it is at
 * most COPY_PAYLOAD_LIMIT bytes. When the result is shorter than header plus payload, the payload
 * goes out as a second write, as is.
 */
export function unmaskedFrame(opcode: number, payload: Buffer, fin = true, rsv1 = false): Buffer {
  const length = payload.length;
  const headerLength = frameHeaderSize(length, false);
  if (length > COPY_PAYLOAD_LIMIT) {
    const header = allocOutput(headerLength);
    writeFrameHeader(header, 0, fin, rsv1, opcode, length, null);
    return header;
  }
  const out = allocOutput(headerLength + length);
  writeUnmaskedFrame(out, 0, opcode, payload, fin, rsv1);
  return out;
}

/** Writes a whole unmasked frame, header and payload, at target[offset]; returns the offset after it. */
export function writeUnmaskedFrame(target: Uint8Array, offset: number, opcode: number, payload: Uint8Array, fin: boolean, rsv1: boolean): number {
  const p = writeFrameHeader(target, offset, fin, rsv1, opcode, payload.length, null);
  // TypedArray set: none of Buffer.copy's argument handling, which shows for 32-byte payloads.
  target.set(payload, p);
  return p + payload.length;
}

// RFC 6455 §5.3 / §10.3: client masks must be unpredictable, so they come from the CSPRNG,
// drawn in bulk because one randomFillSync call per frame would dominate small sends.
const MASK_POOL_SIZE = 8192;
let maskPoolOffset = MASK_POOL_SIZE;

/** The pool that `takeMask` offsets point into. */
export const maskPool: Uint8Array = Buffer.allocUnsafeSlow(MASK_POOL_SIZE);

/** Returns the offset in `maskPool` of 4 fresh random bytes. */
export function takeMask(): number {
  if (maskPoolOffset === MASK_POOL_SIZE) {
    randomFillSync(maskPool);
    maskPoolOffset = 0;
  }
  const offset = maskPoolOffset;
  maskPoolOffset += 4;
  return offset;
}
