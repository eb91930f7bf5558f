// Frame header serialisation (RFC 6455 §5.2), checked against the independent test-side builder.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { COPY_PAYLOAD_LIMIT, frameHeaderSize, maskPool, takeMask, unmaskedFrame, writeFrameHeader, writeUnmaskedFrame } from '../../src/protocol/frame-writer.js';
import { OP, frame, parseFrames } from './support/frames.js';

const BOUNDARY_LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 65537, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER];

/** The header the test-side builder produces for this frame (no payload appended). */
function referenceHeader(fin: boolean, rsv1: boolean, opcode: number, length: number, mask: Buffer | null): Buffer {
  return frame({ opcode, fin, rsv1, mask, declaredLength: length });
}

describe('frameHeaderSize (RFC 6455 §5.2)', () => {
  it('uses the 7-bit form up to 125, the 16-bit form up to 65535, the 64-bit form above', () => {
    const cases: [number, number][] = [
      [0, 2],
      [125, 2],
      [126, 4],
      [65535, 4],
      [65536, 10],
      [2 ** 32, 10],
      [Number.MAX_SAFE_INTEGER, 10],
    ];
    for (const [length, size] of cases) {
      assert.equal(frameHeaderSize(length, false), size, `unmasked ${length}`);
      assert.equal(frameHeaderSize(length, true), size + 4, `masked ${length}`);
    }
  });
});

describe('writeFrameHeader (RFC 6455 §5.2)', () => {
  for (const length of BOUNDARY_LENGTHS) {
    it(`writes the minimal header for a ${length}-byte payload, unmasked and masked`, () => {
      for (const mask of [null, Buffer.from([0x12, 0x34, 0x56, 0x78])]) {
        const size = frameHeaderSize(length, mask !== null);
        const out = Buffer.alloc(size);
        const end = writeFrameHeader(out, 0, true, false, OP.Binary, length, mask);
        assert.equal(end, size);
        assert.deepEqual(out, referenceHeader(true, false, OP.Binary, length, mask));
      }
    });
  }

  it('never sets the most significant bit of a 64-bit length', () => {
    const out = Buffer.alloc(10);
    writeFrameHeader(out, 0, true, false, OP.Binary, Number.MAX_SAFE_INTEGER, null);
    assert.equal(out[2]! & 0x80, 0);
    assert.equal(out.readBigUInt64BE(2), BigInt(Number.MAX_SAFE_INTEGER));
  });

  it('encodes FIN, RSV1 and every opcode in the first byte, leaving RSV2/RSV3 clear', () => {
    for (const opcode of [OP.Continuation, OP.Text, OP.Binary, OP.Close, OP.Ping, OP.Pong]) {
      for (const fin of [false, true]) {
        for (const rsv1 of [false, true]) {
          const out = Buffer.alloc(2);
          writeFrameHeader(out, 0, fin, rsv1, opcode, 5, null);
          assert.equal(out[0], (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
          assert.equal(out[0]! & 0x30, 0);
          assert.deepEqual(out, referenceHeader(fin, rsv1, opcode, 5, null));
        }
      }
    }
  });

  it('writes at an offset without touching the bytes around it', () => {
    const out = Buffer.alloc(30, 0xee);
    const end = writeFrameHeader(out, 7, true, false, OP.Text, 300, Buffer.from([1, 2, 3, 4]));
    assert.equal(end, 7 + 8);
    assert.deepEqual(out.subarray(0, 7), Buffer.alloc(7, 0xee));
    assert.deepEqual(out.subarray(7, end), referenceHeader(true, false, OP.Text, 300, Buffer.from([1, 2, 3, 4])));
    assert.deepEqual(out.subarray(end), Buffer.alloc(30 - end, 0xee));
  });

  it('takes the mask from maskOffset in a larger pool', () => {
    const pool = Uint8Array.from([9, 9, 9, 9, 0xa1, 0xb2, 0xc3, 0xd4, 8, 8]);
    const out = Buffer.alloc(6);
    writeFrameHeader(out, 0, true, false, OP.Text, 3, pool, 4);
    assert.deepEqual(out, Buffer.from([0x81, 0x83, 0xa1, 0xb2, 0xc3, 0xd4]));
  });

  it('a written header plus payload parses back into the same frame', () => {
    const payload = Buffer.from('round trip');
    const mask = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const out = Buffer.alloc(frameHeaderSize(payload.length, true) + payload.length);
    const p = writeFrameHeader(out, 0, false, true, OP.Text, payload.length, mask);
    for (let i = 0; i < payload.length; i++) out[p + i] = payload[i]! ^ mask[i & 3]!;
    const [f] = parseFrames(out);
    assert.deepEqual(
      { fin: f!.fin, rsv1: f!.rsv1, opcode: f!.opcode, masked: f!.masked, key: f!.maskKey, payload: f!.payload },
      { fin: false, rsv1: true, opcode: OP.Text, masked: true, key: mask, payload },
    );
  });
});

describe('unmaskedFrame (RFC 6455 §5.1, §5.2)', () => {
  function bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = (i * 13) & 0xff;
    return out;
  }

  for (const length of [0, 1, 125, 126, COPY_PAYLOAD_LIMIT]) {
    it(`copies a ${length}-byte payload next to its header: the whole frame`, () => {
      const payload = bytes(length);
      for (const [fin, rsv1, opcode] of [[true, false, OP.Binary], [false, true, OP.Text], [true, false, OP.Ping]] as const) {
        const out = unmaskedFrame(opcode, payload, fin, rsv1);
        assert.deepEqual(out, frame({ opcode, payload, fin, rsv1 }));
        assert.notEqual(out.buffer, payload.buffer, 'a copy: the caller may reuse its buffer');
      }
    });
  }

  for (const length of [COPY_PAYLOAD_LIMIT + 1, 65535, 65536, 1 << 20]) {
    it(`returns only the header for a ${length}-byte payload, which goes out as is`, () => {
      const out = unmaskedFrame(OP.Binary, bytes(length));
      assert.equal(out.length, frameHeaderSize(length, false));
      assert.deepEqual(out, referenceHeader(true, false, OP.Binary, length, null));
    });
  }

  it('writeUnmaskedFrame writes the whole frame at an offset, leaving the bytes around it', () => {
    for (const length of [0, 125, 126, 300]) {
      const payload = bytes(length);
      const out = Buffer.alloc(20 + length, 0xee);
      const end = writeUnmaskedFrame(out, 5, OP.Text, payload, false, true);
      const expected = frame({ opcode: OP.Text, payload, fin: false, rsv1: true });
      assert.equal(end, 5 + expected.length);
      assert.deepEqual(out.subarray(5, end), expected);
      assert.deepEqual(out.subarray(0, 5), Buffer.alloc(5, 0xee));
      assert.deepEqual(out.subarray(end), Buffer.alloc(out.length - end, 0xee));
    }
  });

  it('defaults to a final frame without RSV1', () => {
    assert.deepEqual(unmaskedFrame(OP.Text, Buffer.from('hi')), frame({ opcode: OP.Text, payload: 'hi' }));
  });
});

describe('takeMask (RFC 6455 §5.3, §10.3)', () => {
  it('hands out 4-byte-aligned offsets in the pool, each once, and refills the pool when used up', () => {
    assert.equal(maskPool.length % 4, 0);
    let previous = takeMask();
    let snapshot = Buffer.from(maskPool);
    let refills = 0;
    const seen = new Set<number>([previous]);
    // Two full passes over the pool.
    for (let i = 0; i < (maskPool.length / 4) * 2; i++) {
      const offset = takeMask();
      assert.equal(offset % 4, 0);
      assert.ok(offset >= 0 && offset + 4 <= maskPool.length);
      if (offset === 0) {
        // Wrapped: the pool must hold fresh random bytes now.
        refills++;
        assert.notDeepEqual(Buffer.from(maskPool), snapshot, 'the pool is refilled, not reused');
        snapshot = Buffer.from(maskPool);
        seen.clear();
      } else {
        assert.equal(offset, previous + 4, 'consecutive offsets');
      }
      assert.ok(!seen.has(offset), 'no offset handed out twice between refills');
      seen.add(offset);
      previous = offset;
    }
    assert.ok(refills >= 1);
  });

  it('the pool holds random bytes (not all equal, not all zero)', () => {
    const offset = takeMask();
    assert.ok(offset >= 0);
    const distinct = new Set(maskPool).size;
    assert.ok(distinct > 200, `only ${distinct} distinct byte values in the pool`);
  });
});
