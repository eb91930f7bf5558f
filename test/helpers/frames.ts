// Frame helpers for the socket-level tests (RFC 6455 §5.2): encoding goes through the test-side
// builder of test/protocol/support/frames.ts, written from the RFC rather than shared with src/,
// so a bug in the library's framing cannot hide itself.

import { randomBytes } from 'node:crypto';
import { frame } from '../protocol/support/frames.js';

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export interface FrameOptions {
  fin?: boolean;
  rsv1?: boolean;
  /** Client frames are masked (default true); pass false to build a server frame. */
  mask?: boolean;
}

/** The header (and masking key) of a frame announcing `length` payload bytes. */
export function encodeFrameHeader(opcode: number, length: number, options: FrameOptions = {}): { header: Buffer; key: Buffer | null } {
  const { fin = true, rsv1 = false, mask = true } = options;
  const key = mask ? randomBytes(4) : null;
  // The one test-side encoder (test/protocol/support/frames.ts), with no payload appended.
  return { header: frame({ opcode, fin, rsv1, mask: key, declaredLength: length }), key };
}

/** A complete frame; masked (as a client must send) unless options.mask is false. */
export function encodeFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0), options: FrameOptions = {}): Buffer {
  const { fin = true, rsv1 = false, mask = true } = options;
  return frame({ opcode, payload, fin, rsv1, mask: mask ? randomBytes(4) : null });
}

/** A masked close frame with a status code and optional reason. */
export function encodeClose(code?: number, reason = '', options: FrameOptions = {}): Buffer {
  if (code === undefined) return encodeFrame(OP.CLOSE, Buffer.alloc(0), options);
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return encodeFrame(OP.CLOSE, payload, options);
}

export interface Frame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Decodes one frame at the start of `buffer`; null if it is not complete yet. */
export function decodeFrame(buffer: Buffer): { frame: Frame; size: number } | null {
  if (buffer.length < 2) return null;
  const b0 = buffer[0]!;
  const b1 = buffer[1]!;
  let length = b1 & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return null;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return null;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const keyOffset = offset;
  if (masked) offset += 4;
  if (buffer.length < offset + length) return null;
  const payload = Buffer.from(buffer.subarray(offset, offset + length));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= buffer[keyOffset + (i & 3)]!;
  return {
    frame: { fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0x0f, masked, payload },
    size: offset + length,
  };
}

/** The status code and reason of a close frame's payload (1005 when it has none). */
export function parseClosePayload(payload: Buffer): { code: number; reason: string } {
  if (payload.length < 2) return { code: 1005, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.toString('utf8', 2) };
}
