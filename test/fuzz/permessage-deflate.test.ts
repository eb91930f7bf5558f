// Property-based fuzzing of the permessage-deflate codec (RFC 7692 §7.2): message sequences
// round-trip between two codecs for any agreed parameters, zlib settings and idle releases of the
// per-connection contexts between messages (the decompressor then restarts from the kept
// history); any bytes given to the decompressor end in exactly one callback, with the message
// (never over maxPayload) or a 1007/1009 error, never an exception.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PerMessageDeflateCodec, type CodecSettings } from '../../src/extensions/permessage-deflate/codec.js';
import type { AgreedParameters } from '../../src/extensions/permessage-deflate/negotiation.js';
import { WebSocketError } from '../../src/protocol/errors.js';
import { within } from '../helpers/events.js';
import { checkAsync, fc } from './support/fuzz.js';

// ------------------------------------------------------------------ adapter (the codec's API)

type Codec = PerMessageDeflateCodec;

function makeCodec(agreed: AgreedParameters, settings: CodecSettings): Codec {
  return new PerMessageDeflateCodec(agreed, settings);
}

function encode(codec: Codec, data: Buffer): Promise<Buffer> {
  return within(new Promise((resolve, reject) => codec.encode(data, (error, out) => (error ? reject(error) : resolve(out!)))), 10_000, 'an encode');
}

/** Decodes, counting callbacks: exactly one is expected. */
function decode(codec: Codec, data: Buffer, maxSize: number): Promise<{ error: WebSocketError | null; data: Buffer | null; calls: () => number }> {
  let calls = 0;
  return within(
    new Promise((resolve) =>
      codec.decode(data, maxSize, (error, out) => {
        calls++;
        resolve({ error, data: out ?? null, calls: () => calls });
      }),
    ),
    10_000,
    'a decode',
  );
}

/**
 * What the shared ticker does once `settings.contextIdleTimeout` has passed without a message:
 * the per-connection zlib contexts are closed (the next message reopens them). With an infinite
 * timeout that never happens.
 */
function idleRelease(codec: Codec, settings: CodecSettings): void {
  if (settings.contextIdleTimeout === Infinity) return;
  codec.releaseIfIdle(Date.now() + settings.contextIdleTimeout);
}

// ---------------------------------------------------------------------------------- arbitraries

// Small windows more often: messages then outgrow them, which is where the kept history matters.
const windowBits = fc.oneof({ weight: 2, arbitrary: fc.integer({ min: 8, max: 10 }) }, { weight: 1, arbitrary: fc.integer({ min: 8, max: 15 }) });

/** One side's view; the peer's is the mirror image. */
const agreed = fc.record({
  sendNoContextTakeover: fc.boolean(),
  sendWindowBits: windowBits,
  receiveNoContextTakeover: fc.boolean(),
  receiveWindowBits: windowBits,
});

const settings = fc.record({
  level: fc.integer({ min: 0, max: 9 }),
  memLevel: fc.integer({ min: 1, max: 9 }),
  threshold: fc.constant(0),
  // 10 s: contexts kept between messages and released by idleRelease(); 0: after every message;
  // Infinity: never released (and no history kept).
  contextIdleTimeout: fc.constantFrom(10_000, 10_000, 0, Infinity),
});

function mirror(a: AgreedParameters): AgreedParameters {
  return {
    sendNoContextTakeover: a.receiveNoContextTakeover,
    sendWindowBits: a.receiveWindowBits,
    receiveNoContextTakeover: a.sendNoContextTakeover,
    receiveWindowBits: a.sendWindowBits,
  };
}

/** Messages that refer back into earlier ones: repeated phrases at distances around the windows. */
const phrases = (maxLength: number): fc.Arbitrary<Buffer> =>
  fc.array(fc.constantFrom('abc', 'hello ', 'websocket ', 'x', '\u00e9\u20ac', '0123456789'), { maxLength }).map((parts) => Buffer.from(parts.join('')));
const message = fc.oneof(
  { weight: 2, arbitrary: phrases(40) },
  { weight: 2, arbitrary: phrases(600) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.integer({ min: 1, max: 2000 })).map(([b, n]) => Buffer.alloc(n, Buffer.from(b))) },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
);

/** A step: a message from A to B, or an idle release on one side. */
const step = fc.oneof(
  { weight: 4, arbitrary: message.map((data) => ({ kind: 'message' as const, data })) },
  { weight: 1, arbitrary: fc.constantFrom({ kind: 'release sender' as const }, { kind: 'release receiver' as const }) },
);

describe('permessage-deflate codec fuzz (RFC 7692 §7.2)', () => {
  it('round-trips any message sequence for any parameters, settings and idle releases', async () => {
    await checkAsync(
      fc.asyncProperty(agreed, settings, settings, fc.array(step, { maxLength: 12 }), async (params, senderSettings, receiverSettings, steps) => {
        const sender = makeCodec(params, senderSettings);
        const receiver = makeCodec(mirror(params), receiverSettings);
        try {
          for (const s of steps) {
            if (s.kind === 'release sender') idleRelease(sender, senderSettings);
            else if (s.kind === 'release receiver') idleRelease(receiver, receiverSettings);
            else {
              const result = await decode(receiver, await encode(sender, s.data), 1 << 20);
              assert.equal(result.error, null, result.error?.message);
              assert.ok(result.data!.equals(s.data), `a ${s.data.length}-byte message came back as ${result.data!.length} other bytes`);
            }
          }
        } finally {
          sender.release();
          receiver.release();
        }
      }),
      100,
      0.01,
    );
  });

  it('after every idle release the decompressor restarts from the kept history: messages referring back still decode', async () => {
    // The sender keeps its context (context takeover, never idle), so each message may refer
    // back into the previous ones; the receiver closes its context before every message.
    const kept = { level: 6, memLevel: 8, threshold: 0, contextIdleTimeout: 10_000 };
    await checkAsync(
      fc.asyncProperty(windowBits, fc.array(fc.oneof(phrases(40), phrases(600)), { minLength: 2, maxLength: 6 }), async (bits, messages) => {
        const params = { sendNoContextTakeover: false, sendWindowBits: bits, receiveNoContextTakeover: false, receiveWindowBits: bits };
        const sender = makeCodec(params, kept);
        const receiver = makeCodec(mirror(params), kept);
        try {
          for (const data of messages) {
            idleRelease(receiver, kept);
            const result = await decode(receiver, await encode(sender, data), 1 << 20);
            assert.equal(result.error, null, result.error?.message);
            assert.ok(result.data!.equals(data), `a ${data.length}-byte message came back as ${result.data!.length} other bytes`);
          }
        } finally {
          sender.release();
          receiver.release();
        }
      }),
      40,
      0.01,
    );
  });

  it('answers any bytes with exactly one callback: the message within maxPayload, or a 1007/1009 error', async () => {
    // Garbage, and valid payloads with a byte changed, cut short, or extended.
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.tuple(message, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'cut', 'extend')).map(([m, at, byte, how]) => ({ m, at, byte, how })),
    );
    await checkAsync(
      fc.asyncProperty(agreed, settings, payload, fc.integer({ min: 0, max: 4096 }), async (params, s, input, maxSize) => {
        const receiver = makeCodec(params, s);
        try {
          let data: Buffer;
          if (Buffer.isBuffer(input)) {
            data = input;
          } else {
            const sender = makeCodec(mirror(params), s);
            const valid = await encode(sender, input.m);
            sender.release();
            const at = valid.length === 0 ? 0 : input.at % valid.length;
            data = Buffer.from(valid);
            if (input.how === 'flip' && data.length > 0) data[at] = input.byte;
            else if (input.how === 'cut') data = data.subarray(0, at);
            else if (input.how === 'extend') data = Buffer.concat([data, Buffer.from([input.byte])]);
          }
          const result = await decode(receiver, data, maxSize);
          await new Promise((resolve) => setImmediate(resolve)); // a second callback would come by now
          assert.equal(result.calls(), 1);
          if (result.error !== null) {
            assert.ok(result.error instanceof WebSocketError);
            assert.ok([1007, 1009].includes(result.error.closeCode), `close code ${result.error.closeCode}`);
          } else {
            assert.ok(result.data!.length <= maxSize, `${result.data!.length} bytes > maxPayload ${maxSize}`);
          }
        } finally {
          receiver.release();
        }
      }),
      200,
      0.05,
    );
  });
});
