// A stand-in for an RSV1 extension (the MessageCodec interface): a reversible byte transform,
// run synchronously, on the next setImmediate, or only when the test says so.
import type { MessageCodec } from '../../../src/protocol/message-codec.js';
import { WebSocketError } from '../../../src/protocol/errors.js';

export type Timing = 'sync' | 'immediate' | 'manual';

/** The "compression": XOR with 0x5a, then reversed. Changes every non-empty payload. */
export function fakeEncode(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[data.length - 1 - i] = data[i]! ^ 0x5a;
  return out;
}

/** Inverse of fakeEncode (the transform is its own inverse). */
export const fakeDecode = fakeEncode;

export class FakeCodec implements MessageCodec {
  decodeTiming: Timing;
  encodeTiming: Timing;
  /** wantsToEncode(length) is length >= threshold. */
  threshold = 16;
  readonly decodeCalls: { data: Buffer; maxSize: number }[] = [];
  readonly encodeCalls: Buffer[] = [];
  released = 0;
  /** Decoding fails with this error when the check returns one. */
  decodeError: ((data: Buffer) => WebSocketError | null) | null = null;
  /** Encoding fails with this error when the check returns one. */
  encodeError: ((data: Buffer) => Error | null) | null = null;
  private readonly manual: (() => void)[] = [];

  constructor(decodeTiming: Timing = 'sync', encodeTiming: Timing = decodeTiming) {
    this.decodeTiming = decodeTiming;
    this.encodeTiming = encodeTiming;
  }

  decode(data: Buffer, maxSize: number, callback: (error: WebSocketError | null, data?: Buffer) => void): void {
    const input = Buffer.from(data);
    this.decodeCalls.push({ data: input, maxSize });
    this.schedule(this.decodeTiming, () => {
      const error = this.decodeError?.(input) ?? null;
      if (error) return callback(error);
      const out = fakeDecode(input);
      if (out.length > maxSize) {
        return callback(new WebSocketError('Decoded message too big', 'WS_ERR_MESSAGE_TOO_BIG', 1009));
      }
      callback(null, out);
    });
  }

  encode(data: Buffer, callback: (error: Error | null, data?: Buffer) => void): void {
    const input = Buffer.from(data);
    this.encodeCalls.push(input);
    this.schedule(this.encodeTiming, () => {
      const error = this.encodeError?.(input) ?? null;
      if (error) return callback(error);
      callback(null, fakeEncode(input));
    });
  }

  wantsToEncode(length: number): boolean {
    return length >= this.threshold;
  }

  release(): void {
    this.released++;
  }

  /** Work waiting in 'manual' timing. */
  get pending(): number {
    return this.manual.length;
  }

  /** Runs the oldest piece of waiting 'manual' work. */
  runNext(): void {
    const next = this.manual.shift();
    if (!next) throw new Error('no pending codec work');
    next();
  }

  runAll(): void {
    while (this.manual.length > 0) this.runNext();
  }

  private schedule(timing: Timing, work: () => void): void {
    if (timing === 'sync') work();
    else if (timing === 'immediate') setImmediate(work);
    else this.manual.push(work);
  }
}
