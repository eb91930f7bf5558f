import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { maskInto, nativeMasking, unmask, unmaskInto, useNativeMasking } from '../../src/protocol/mask.js';
import { prng } from './support/frames.js';

// Naive reference (RFC 6455 §5.3): octet j of the payload ^= key[j mod 4].
function refUnmask(bytes: Uint8Array, start: number, end: number, mask: Uint8Array, phase: number): number {
  for (let i = start; i < end; i++) bytes[i] = bytes[i]! ^ mask[(phase + i - start) % 4]!;
  return (phase + end - start) % 4;
}


function randomFill(b: Uint8Array, rnd: () => number): Uint8Array {
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

// Every length up to 300 (byte loop, WORD_MIN = 192, every residue of the unrolled word loop),
// the add-on threshold NATIVE_MIN = 1024 and beyond, and a large piece.
const LENGTHS = [
  ...Array.from({ length: 301 }, (_, i) => i),
  ...Array.from({ length: 17 }, (_, i) => 1016 + i),
  4099,
  65536 + 3,
];
const MASKS: [Uint8Array, Uint8Array] = [Uint8Array.of(0x37, 0xfa, 0x21, 0x3d), Uint8Array.of(0xff, 0x00, 0x80, 0x01)];
/** Random bytes to copy from, as long as the longest case needs. */
const POOL = randomFill(new Uint8Array(65536 + 64), prng(11));

/** A copy of `length` random bytes starting at a random place in POOL. */
function randomBytes(length: number, rnd: () => number): Buffer {
  const from = Math.floor(rnd() * (POOL.length - length));
  return Buffer.from(POOL.subarray(from, from + length));
}

// Both paths over every case: with the bufferutil add-on (installed here as a dev dependency; it
// takes pieces of NATIVE_MIN = 1024 bytes or more) and with the JavaScript word loop alone, which
// serves every piece when the add-on is not installed.
const PATHS: [string, boolean][] = [
  [nativeMasking ? 'with the bufferutil add-on' : 'add-on not loaded', true],
  ['JavaScript only', false],
];

describe('the two masking paths', () => {
  it('the bufferutil add-on is loaded here, and can be switched off for the JavaScript path', { skip: process.env.UPSHIFT_NO_NATIVE === '1' ? 'UPSHIFT_NO_NATIVE=1' : false }, () => {
    assert.equal(nativeMasking, true);
    assert.equal(useNativeMasking(false), false);
    assert.equal(useNativeMasking(true), true);
  });
});

for (const [path, native] of PATHS) {
  // The tests of one file run one after another: the switch holds for the whole suite.
  describe(`unmask: ${path}`, () => {
    before(() => useNativeMasking(native));
    after(() => useNativeMasking(true));

    it('matches the reference for every phase, alignment, start and length', () => {
      const rnd = prng(1);
      for (const mask of MASKS) {
        for (const len of LENGTHS) {
          for (let offset = 0; offset < 8; offset++) {
            for (let start = 0; start < 8; start++) {
              for (let phase = 0; phase < 4; phase++) {
                // A Buffer view at `offset` into a bigger ArrayBuffer, with guard bytes around it.
                const host = randomBytes(offset + start + len + 8, rnd);
                const view = host.subarray(offset, offset + start + len + 4);
                const expected = Buffer.from(host);
                const exp = refUnmask(expected.subarray(offset), start, start + len, mask, phase);
                const got = unmask(view, start, start + len, mask, phase);
                if (got !== exp || !host.equals(expected)) {
                  assert.fail(`len ${len} offset ${offset} start ${start} phase ${phase}: phase ${got} (expected ${exp}), bytes ${host.equals(expected) ? 'right' : 'wrong'}`);
                }
              }
            }
          }
        }
      }
    });

    it('round-trips (masking twice is the identity)', () => {
      const rnd = prng(2);
      for (const len of LENGTHS) {
        const original = randomFill(new Uint8Array(len + 3), rnd);
        const data = Uint8Array.from(original).subarray(3);
        const mask = randomFill(new Uint8Array(4), rnd);
        unmask(data, 0, len, mask, 2);
        if (len >= 4) assert.notDeepEqual(Buffer.from(data), Buffer.from(original.subarray(3)));
        unmask(data, 0, len, mask, 2);
        assert.deepEqual(Buffer.from(data), Buffer.from(original.subarray(3)), `len ${len}`);
      }
    });

    it('returns the phase after the piece', () => {
      const mask = MASKS[0];
      for (let phase = 0; phase < 4; phase++) {
        for (const len of LENGTHS) {
          assert.equal(unmask(new Uint8Array(len), 0, len, mask, phase), (phase + len) % 4, `phase ${phase} len ${len}`);
        }
      }
    });

    it('piecewise unmasking with the returned phase equals unmasking at once', () => {
      const rnd = prng(3);
      for (let trial = 0; trial < 300; trial++) {
        const len = Math.floor(rnd() * (trial % 10 === 0 ? 5000 : 600));
        const payload = randomFill(new Uint8Array(len), rnd);
        const mask = randomFill(new Uint8Array(4), rnd);
        const expected = Uint8Array.from(payload);
        refUnmask(expected, 0, len, mask, 0);
        // Split into random pieces, each copied into its own buffer at a random offset.
        let phase = 0;
        let pos = 0;
        const out = new Uint8Array(len);
        while (pos < len) {
          const piece = Math.min(len - pos, 1 + Math.floor(rnd() * 300));
          const off = Math.floor(rnd() * 8);
          const host = new Uint8Array(off + piece + 5);
          host.set(payload.subarray(pos, pos + piece), off);
          phase = unmask(host, off, off + piece, mask, phase);
          out.set(host.subarray(off, off + piece), pos);
          pos += piece;
        }
        assert.equal(phase, len % 4);
        assert.deepEqual(out, expected, `trial ${trial}`);
      }
    });

    it('accepts a mask that is itself a view at an odd offset', () => {
      const header = Uint8Array.of(0x81, 0xfe, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x99);
      const mask = header.subarray(4, 8);
      const data = new Uint8Array(300).map((_, i) => i & 0xff);
      const expected = Uint8Array.from(data);
      refUnmask(expected, 0, 300, Uint8Array.of(0xde, 0xad, 0xbe, 0xef), 1);
      unmask(data, 0, 300, mask, 1);
      assert.deepEqual(data, expected);
    });

    it(`works with the platform (${endianness()}) byte order on a known vector`, () => {
      // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58.
      const masked = Uint8Array.of(0x7f, 0x9f, 0x4d, 0x51, 0x58);
      const mask = MASKS[0];
      const hello = Buffer.from('Hello');
      assert.equal(unmask(masked, 0, 5, mask, 0), 1);
      assert.deepEqual(Buffer.from(masked), hello);
      // Same, long enough for the word path, at every alignment.
      for (let off = 0; off < 4; off++) {
        const text = Buffer.alloc(off + 500);
        const plain = Buffer.from('Hello'.repeat(100));
        plain.copy(text, off);
        const expected = Buffer.from(text);
        refUnmask(expected, off, off + 500, mask, 0);
        unmask(text, off, off + 500, mask, 0);
        assert.ok(text.equals(expected), `off ${off}`);
        assert.deepEqual(text.subarray(off, off + 5), Buffer.from(Uint8Array.of(0x7f, 0x9f, 0x4d, 0x51, 0x58)));
      }
    });

    it('accepts any integer phase (taken mod 4)', () => {
      const a = new Uint8Array(300).fill(7);
      const b = new Uint8Array(300).fill(7);
      assert.equal(unmask(a, 0, 300, MASKS[0], 6), 2);
      refUnmask(b, 0, 300, MASKS[0], 2);
      assert.deepEqual(a, b);
    });

    it('throws RangeError on out-of-range pieces', () => {
      const b = new Uint8Array(10);
      assert.throws(() => unmask(b, -1, 5, MASKS[0], 0), RangeError);
      assert.throws(() => unmask(b, 6, 5, MASKS[0], 0), RangeError);
      assert.throws(() => unmask(b, 0, 11, MASKS[0], 0), RangeError);
      // A view must not touch bytes of its parent buffer beyond its end.
      const host = new Uint8Array(400);
      assert.throws(() => unmask(host.subarray(1, 201), 0, 300, MASKS[0], 0), RangeError);
      assert.ok(host.every((x) => x === 0));
    });
  });

  describe(`maskInto: ${path}`, () => {
    before(() => useNativeMasking(native));
    after(() => useNativeMasking(true));

    it('matches the reference for every source/target alignment and length', () => {
      const rnd = prng(4);
      for (const mask of MASKS) {
        for (const len of LENGTHS) {
          for (let sOff = 0; sOff < 8; sOff++) {
            for (let tOff = 0; tOff < 8; tOff++) {
              const src = randomBytes(sOff + len + 3, rnd).subarray(sOff, sOff + len + 1);
              const srcCopy = Buffer.from(src);
              const targetHost = randomBytes(tOff + len + 6, rnd);
              const target = targetHost.subarray(1, tOff + len + 2); // write at tOff inside a view at offset 1
              const expected = Buffer.from(targetHost);
              for (let k = 0; k < len; k++) expected[1 + tOff + k] = src[k]! ^ mask[k % 4]!;
              maskInto(src, 0, len, target, tOff, mask);
              if (!targetHost.equals(expected)) assert.fail(`len ${len} sOff ${sOff} tOff ${tOff}`);
              if (!src.equals(srcCopy)) assert.fail(`source modified: len ${len} sOff ${sOff} tOff ${tOff}`);
            }
          }
        }
      }
    });

    it('honours sourceStart/sourceEnd', () => {
      const rnd = prng(5);
      for (const len of [0, 3, 17, 200, 513]) {
        for (let sStart = 0; sStart < 8; sStart++) {
          const src = randomFill(new Uint8Array(sStart + len + 4), rnd);
          const target = new Uint8Array(len + 2);
          maskInto(src, sStart, sStart + len, target, 1, MASKS[1]);
          const expected = new Uint8Array(len + 2);
          for (let k = 0; k < len; k++) expected[1 + k] = src[sStart + k]! ^ MASKS[1][k % 4]!;
          assert.deepEqual(target, expected, `len ${len} sStart ${sStart}`);
        }
      }
    });

    it('handles source and target in the same ArrayBuffer (disjoint and overlapping)', () => {
      const rnd = prng(6);
      for (const len of [0, 1, 5, 31, 64, 191, 192, 300, 1001]) {
        for (const delta of [-len - 5, -7, -4, -3, -1, 0, 1, 2, 4, 9, len + 3]) {
          const base = len + 16;
          const buf = Buffer.from(randomFill(new Uint8Array(3 * len + 40), rnd));
          const sStart = base;
          const tStart = base + delta;
          const expected = Buffer.from(buf);
          const srcCopy = Buffer.from(buf.subarray(sStart, sStart + len));
          for (let k = 0; k < len; k++) expected[tStart + k] = srcCopy[k]! ^ MASKS[0][k % 4]!;
          // Distinct views of one ArrayBuffer, like pooled Node Buffers.
          const source = buf.subarray(1);
          const target = buf.subarray(2);
          maskInto(source, sStart - 1, sStart - 1 + len, target, tStart - 2, MASKS[0]);
          assert.ok(buf.equals(expected), `len ${len} delta ${delta}`);
        }
      }
    });

    it('unmask(maskInto(x)) round-trips', () => {
      const rnd = prng(7);
      for (const len of LENGTHS) {
        const src = randomFill(new Uint8Array(len), rnd);
        const mask = randomFill(new Uint8Array(4), rnd);
        const frame = new Uint8Array(len + 14);
        maskInto(src, 0, len, frame, 14, mask);
        assert.equal(unmask(frame, 14, 14 + len, mask, 0), len % 4);
        assert.deepEqual(frame.subarray(14), src, `len ${len}`);
      }
    });

    it('throws RangeError when the source range or the target is too small', () => {
      const src = new Uint8Array(300);
      assert.throws(() => maskInto(src, 0, 301, new Uint8Array(400), 0, MASKS[0]), RangeError);
      assert.throws(() => maskInto(src, 5, 4, new Uint8Array(400), 0, MASKS[0]), RangeError);
      assert.throws(() => maskInto(src, 0, 300, new Uint8Array(300), 1, MASKS[0]), RangeError);
      assert.throws(() => maskInto(src, 0, 10, new Uint8Array(300), -1, MASKS[0]), RangeError);
      // Must not spill into the parent buffer past the target view.
      const host = new Uint8Array(600);
      assert.throws(() => maskInto(src.fill(1), 0, 300, host.subarray(4, 204), 0, MASKS[0]), RangeError);
      assert.ok(host.every((x) => x === 0));
    });
  });

  describe(`unmaskInto: ${path}`, () => {
    before(() => useNativeMasking(native));
    after(() => useNativeMasking(true));

    it('matches the reference for every phase, source start, target offset and length, and returns the next phase', () => {
      const rnd = prng(8);
      for (const mask of MASKS) {
        for (const len of LENGTHS) {
          for (let phase = 0; phase < 4; phase++) {
            for (const [sStart, tOff] of [[0, 0], [1, 3], [2, 1], [3, 2], [5, 4], [7, 7]] as const) {
              const src = randomBytes(sStart + len + 3, rnd);
              const srcCopy = Buffer.from(src);
              const targetHost = randomBytes(tOff + len + 6, rnd);
              const target = targetHost.subarray(1, tOff + len + 2);
              const expected = Buffer.from(targetHost);
              for (let k = 0; k < len; k++) expected[1 + tOff + k] = src[sStart + k]! ^ mask[(phase + k) % 4]!;
              const next = unmaskInto(src, sStart, sStart + len, target, tOff, mask, phase);
              if (next !== (phase + len) % 4) assert.fail(`phase ${next}: len ${len} phase ${phase}`);
              if (!targetHost.equals(expected)) assert.fail(`len ${len} phase ${phase} sStart ${sStart} tOff ${tOff}`);
              if (!src.equals(srcCopy)) assert.fail(`source modified: len ${len} phase ${phase}`);
            }
          }
        }
      }
    });

    it('a payload cut into pieces at any byte unmasks as a whole, the phase carried over', () => {
      const rnd = prng(9);
      const payload = randomBytes(5000, rnd);
      const mask = MASKS[0];
      const expected = Buffer.from(payload);
      refUnmask(expected, 0, expected.length, mask, 0);
      for (let run = 0; run < 50; run++) {
        const target = Buffer.alloc(payload.length);
        let phase = 0;
        for (let at = 0; at < payload.length; ) {
          const n = Math.min(payload.length - at, 1 + Math.floor(rnd() * (run % 2 ? 50 : 2500)));
          phase = unmaskInto(payload, at, at + n, target, at, mask, phase);
          at += n;
        }
        assert.ok(target.equals(expected), `run ${run}`);
      }
    });

    it('throws RangeError when the source range or the target is too small', () => {
      const src = new Uint8Array(2000);
      assert.throws(() => unmaskInto(src, 0, 2001, new Uint8Array(3000), 0, MASKS[0], 0), RangeError);
      assert.throws(() => unmaskInto(src, 5, 4, new Uint8Array(3000), 0, MASKS[0], 0), RangeError);
      const host = new Uint8Array(3000);
      assert.throws(() => unmaskInto(src.fill(1), 0, 2000, host.subarray(4, 1504), 0, MASKS[0], 1), RangeError);
      assert.ok(host.every((x) => x === 0));
    });
  });
}
