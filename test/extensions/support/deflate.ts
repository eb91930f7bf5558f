// Test support for permessage-deflate codecs: codecs with test settings, promise wrappers for
// encode/decode, node:zlib used directly as an independent peer, and compressible test data.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { PerMessageDeflateCodec, type CodecSettings } from '../../../src/extensions/permessage-deflate/codec.js';
import type { AgreedParameters } from '../../../src/extensions/permessage-deflate/negotiation.js';
import type { WebSocketError } from '../../../src/protocol/errors.js';
import { within } from '../../helpers/events.js';

export const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
export const { Z_SYNC_FLUSH } = zlib.constants;

export const SETTINGS: CodecSettings = { level: 1, memLevel: 8, threshold: 0, contextIdleTimeout: 10_000 };
export const TAKEOVER: AgreedParameters = { sendNoContextTakeover: false, sendWindowBits: 15, receiveNoContextTakeover: false, receiveWindowBits: 15 };
export const NO_TAKEOVER: AgreedParameters = { sendNoContextTakeover: true, sendWindowBits: 15, receiveNoContextTakeover: true, receiveWindowBits: 15 };

export function codec(agreed: Partial<AgreedParameters> = {}, settings: Partial<CodecSettings> = {}): PerMessageDeflateCodec {
  return new PerMessageDeflateCodec({ ...TAKEOVER, ...agreed }, { ...SETTINGS, ...settings });
}

export function encode(c: PerMessageDeflateCodec, data: Buffer): Promise<Buffer> {
  return within(
    new Promise((resolve, reject) => c.encode(data, (error, out) => (error ? reject(error) : resolve(out!)))),
    10_000,
    'an encode',
  );
}

export function decode(c: PerMessageDeflateCodec, data: Buffer, maxSize = 64 * 1024 * 1024): Promise<Buffer> {
  return within(
    new Promise((resolve, reject) => c.decode(data, maxSize, (error, out) => (error ? reject(error) : resolve(out!)))),
    10_000,
    'a decode',
  );
}

export async function decodeError(c: PerMessageDeflateCodec, data: Buffer, maxSize = 64 * 1024 * 1024): Promise<WebSocketError> {
  try {
    await decode(c, data, maxSize);
  } catch (error) {
    return error as WebSocketError;
  }
  assert.fail('decoding should have failed');
}

/** A peer's decompressor, made with node:zlib directly: appends the tail (§7.2.2) itself. */
export class ReferenceInflater {
  private readonly stream: zlib.InflateRaw;
  constructor(windowBits = 15) {
    this.stream = zlib.createInflateRaw({ windowBits });
  }
  inflate(payload: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const onData = (chunk: Buffer): void => void chunks.push(chunk);
      const onError = (error: Error): void => reject(error);
      this.stream.on('data', onData);
      this.stream.once('error', onError);
      this.stream.write(Buffer.concat([payload, TAIL]));
      this.stream.flush(Z_SYNC_FLUSH, () => {
        this.stream.off('data', onData);
        this.stream.off('error', onError);
        resolve(Buffer.concat(chunks));
      });
    });
  }
  close(): void {
    this.stream.close();
  }
}

/** A peer's compressor: flushes each message and removes the tail (§7.2.1). */
export class ReferenceDeflater {
  private readonly stream: zlib.DeflateRaw;
  constructor(windowBits = 15) {
    this.stream = zlib.createDeflateRaw({ windowBits });
  }
  deflate(message: Buffer): Promise<Buffer> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const onData = (chunk: Buffer): void => void chunks.push(chunk);
      this.stream.on('data', onData);
      this.stream.write(message);
      this.stream.flush(Z_SYNC_FLUSH, () => {
        this.stream.off('data', onData);
        const out = Buffer.concat(chunks);
        assert.deepEqual(out.subarray(-4), TAIL);
        resolve(out.subarray(0, -4));
      });
    });
  }
  close(): void {
    this.stream.close();
  }
}

/** Text-like data: JSON lines with repetition, as a WebSocket app sends. */
export function jsonText(bytes: number, seed = 0): Buffer {
  let text = '';
  for (let i = seed; text.length < bytes; i++) {
    text += JSON.stringify({ id: i, user: `user${i % 97}`, text: `message number ${(i * 7919) % 1000}`, at: 1_700_000_000_000 + i }) + '\n';
  }
  return Buffer.from(text.slice(0, bytes));
}

/** A random block repeated at `distance` bytes: only a window reaching that far back finds it. */
export function farRepeats(block: number, copies: number): Buffer {
  const unit = randomBytes(block);
  return Buffer.concat(Array.from({ length: copies }, () => unit));
}
