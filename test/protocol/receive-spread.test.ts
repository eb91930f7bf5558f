// The receive path for messages spread over several chunks (RFC 6455 §5.2–§5.4): an unfragmented,
// uncompressed message is unmasked (§5.3) while it is copied into a buffer of its own, the mask
// phase carried across pieces that end at any byte; fragmented ones are collected piece by piece.
// Limits are checked before memory is spent; text is still validated as it arrives (§8.1). Every
// case runs over both masking paths (the bufferutil add-on and JavaScript alone) and both roles
// (masked towards a server, unmasked towards a client).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nativeMasking, useNativeMasking } from '../../src/protocol/mask.js';
import { WebSocketError } from '../../src/protocol/errors.js';
import { makeProtocol, type Harness } from './support/fake-handler.js';
import { FakeCodec, fakeEncode } from './support/fake-codec.js';
import { OP, clientFrame, frame, prng, randomBytes, randomChunks, serverFrame, splitAt, type FrameSpec } from './support/frames.js';

type Role = 'server' | 'client';

/** A frame as the peer of `role` sends it: masked towards a server, unmasked towards a client. */
function peerFrame(role: Role, spec: Omit<FrameSpec, 'mask'>): Buffer {
  return role === 'server' ? clientFrame(spec) : serverFrame(spec);
}

function assertNoFailure(h: Harness): void {
  assert.deepEqual(h.handler.errors(), [], `unexpected failure; events: ${h.handler.describe()}`);
}

function assertFailedWith(h: Harness, code: string, closeCode: number): void {
  const errors = h.handler.errors();
  assert.equal(errors.length, 1, `expected one failure; events: ${h.handler.describe()}`);
  assert.ok(errors[0] instanceof WebSocketError);
  assert.equal(errors[0].code, code);
  assert.equal(errors[0].closeCode, closeCode);
  assert.equal(h.protocol.inputClosed, true);
}

/** Feeds `chunks` (fresh copies: the parser may unmask in place) and returns the payloads delivered. */
function receive(role: Role, chunks: Buffer[], options = {}): { h: Harness; payloads: Buffer[] } {
  const h = makeProtocol(role, options);
  for (const chunk of chunks) h.feed(Buffer.from(chunk));
  return { h, payloads: h.handler.messages().map((m) => m.data) };
}

/** Records the sizes asked of Buffer's allocators while `fn` runs. */
function allocations(fn: () => void): number[] {
  const sizes: number[] = [];
  const { allocUnsafe, allocUnsafeSlow, alloc } = Buffer;
  Buffer.allocUnsafe = (size: number) => (sizes.push(size), allocUnsafe(size));
  Buffer.allocUnsafeSlow = (size: number) => (sizes.push(size), allocUnsafeSlow(size));
  Buffer.alloc = ((size: number, ...rest: never[]) => (sizes.push(size), alloc(size, ...rest))) as typeof Buffer.alloc;
  try {
    fn();
  } finally {
    Object.assign(Buffer, { allocUnsafe, allocUnsafeSlow, alloc });
  }
  return sizes;
}

/** Text of 2-, 3- and 4-byte UTF-8 sequences and ASCII, cut at a character boundary near `bytes`. */
function multibyteText(bytes: number): Buffer {
  const unit = Buffer.from('aé€😀ß中𝄞z');
  const text = Buffer.from(unit.toString().repeat(Math.ceil(bytes / unit.length)));
  let end = Math.min(bytes, text.length);
  while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
  return text.subarray(0, end);
}

const PATHS: [string, boolean][] = [
  [nativeMasking ? 'bufferutil add-on' : 'add-on not loaded', true],
  ['JavaScript only', false],
];
const ROLES: Role[] = ['server', 'client'];

for (const [path, native] of PATHS) {
  describe(`messages spread over chunks: ${path}`, () => {
    before(() => useNativeMasking(native));
    after(() => useNativeMasking(true));

    for (const role of ROLES) {
      const masked = role === 'server' ? 'masked' : 'unmasked';

      it(`${masked}: a 200-byte frame split at every pair of positions (header, key and payload over three reads)`, () => {
        const payload = randomBytes(200, prng(1));
        const template = peerFrame(role, { opcode: OP.Binary, payload });
        for (let i = 1; i < template.length; i++) {
          for (let j = i; j < template.length; j++) {
            const { h, payloads } = receive(role, splitAt(template, [i, j]));
            assertNoFailure(h);
            assert.equal(payloads.length, 1, `cuts ${i}, ${j}`);
            assert.ok(payloads[0]!.equals(payload), `cuts ${i}, ${j}`);
          }
        }
      });

      it(`${masked}: a 3000-byte frame split at every position, then in three at every mask phase and alignment`, () => {
        const payload = randomBytes(3000, prng(2));
        const template = peerFrame(role, { opcode: OP.Binary, payload });
        for (let cut = 1; cut < template.length; cut++) {
          const { h, payloads } = receive(role, splitAt(template, [cut]));
          assertNoFailure(h);
          assert.ok(payloads[0]!.equals(payload), `cut ${cut}`);
        }
        // Middle pieces of 1024+ bytes (the add-on's size) and 192+ (the word loop's) starting at
        // every offset mod 4 and ending at every offset mod 4.
        for (const size of [192, 193, 1024, 1025, 1026, 1027]) {
          for (let start = 10; start < 18; start++) {
            const { h, payloads } = receive(role, splitAt(template, [start, start + size]));
            assertNoFailure(h);
            assert.ok(payloads[0]!.equals(payload), `piece ${start}+${size}`);
          }
        }
      });

      it(`${masked}: a 1 MiB frame in pieces of odd sizes`, () => {
        const payload = randomBytes(1 << 20, prng(3));
        const template = peerFrame(role, { opcode: OP.Binary, payload });
        for (const size of [7, 1021, 4093, 65537, 65536 + 3]) {
          const chunks = splitAt(template, Array.from({ length: Math.ceil(template.length / size) }, (_, k) => k * size));
          const { h, payloads } = receive(role, chunks);
          assertNoFailure(h);
          assert.equal(payloads.length, 1);
          assert.ok(payloads[0]!.equals(payload), `pieces of ${size}`);
        }
        const random = prng(4);
        for (let run = 0; run < 4; run++) {
          const { h, payloads } = receive(role, randomChunks(template, random, 70_000));
          assertNoFailure(h);
          assert.ok(payloads[0]!.equals(payload), `random run ${run}`);
        }
      });

      it(`${masked}: fragmented messages with the payload spread over reads, continuation frames included`, () => {
        const random = prng(5);
        const payload = randomBytes(9000, random);
        // Fragment sizes: empty, tiny, word-loop and add-on sized, at every phase.
        const sizes = [0, 1, 3, 1025, 2, 0, 193, 4099, 7];
        const pieces: Buffer[] = [];
        let used = 0;
        for (const n of sizes) {
          pieces.push(payload.subarray(used, used + n));
          used += n;
        }
        pieces.push(payload.subarray(used));
        const template = Buffer.concat(
          pieces.map((piece, k) => peerFrame(role, { opcode: k === 0 ? OP.Binary : OP.Continuation, fin: k === pieces.length - 1, payload: piece })),
        );
        for (let cut = 1; cut < template.length; cut += 7) {
          const { h, payloads } = receive(role, splitAt(template, [cut, cut + 1031]));
          assertNoFailure(h);
          assert.equal(payloads.length, 1);
          assert.ok(payloads[0]!.equals(payload), `cuts ${cut}, ${cut + 1031}`);
        }
        for (let run = 0; run < 50; run++) {
          const { h, payloads } = receive(role, randomChunks(template, random, 1 + (run % 2 ? 20 : 3000)));
          assertNoFailure(h);
          assert.ok(payloads[0]!.equals(payload), `run ${run}`);
        }
      });

      it(`${masked}: many small fragments cost no buffer each: they are collected in a shared tail`, () => {
        const payload = randomBytes(4000, prng(6));
        const frames: Buffer[] = [];
        for (let k = 0; k < 1000; k++) {
          frames.push(peerFrame(role, { opcode: k === 0 ? OP.Binary : OP.Continuation, fin: k === 999, payload: payload.subarray(4 * k, 4 * k + 4) }));
        }
        let payloads: Buffer[] = [];
        let h!: Harness;
        // Each frame in its own read; the message spreads over all of them.
        const sizes = allocations(() => ({ h, payloads } = receive(role, frames, { maxPayload: 4000 })));
        assertNoFailure(h);
        assert.ok(payloads[0]!.equals(payload));
        assert.ok(sizes.length <= 4, `allocated ${sizes.join(' ')}`);
      });

      it(`${masked}: valid text with multi-byte characters split at every position passes, in one frame and in fragments`, () => {
        const text = multibyteText(1500);
        const single = peerFrame(role, { opcode: OP.Text, payload: text });
        const fragmented = Buffer.concat([
          peerFrame(role, { opcode: OP.Text, fin: false, payload: text.subarray(0, 701) }),
          peerFrame(role, { opcode: OP.Continuation, fin: false, payload: text.subarray(701, 702) }),
          peerFrame(role, { opcode: OP.Continuation, payload: text.subarray(702) }),
        ]);
        for (const template of [single, fragmented]) {
          for (let cut = 1; cut < template.length; cut++) {
            const { h, payloads } = receive(role, splitAt(template, [cut]));
            assertNoFailure(h);
            assert.equal(payloads[0]!.toString(), text.toString(), `cut ${cut}`);
          }
        }
      });

      it(`${masked}: invalid UTF-8 fails with 1007 as soon as the read holding it arrives, before the rest`, () => {
        const text = Buffer.from(multibyteText(3000));
        for (const bad of [0, 1, 2, 3, 1500, 1501, 1502, 1503, 2990]) {
          const payload = Buffer.from(text);
          payload[bad] = 0xff; // never valid in UTF-8
          const template = peerFrame(role, { opcode: OP.Text, payload });
          const header = template.length - payload.length;
          // The header and a first read without the bad byte pass; the read holding it fails at
          // once, although the message is not complete.
          const h = makeProtocol(role);
          h.feed(Buffer.from(template.subarray(0, header + bad)));
          assertNoFailure(h);
          h.feed(Buffer.from(template.subarray(header + bad, header + bad + 5)));
          assertFailedWith(h, 'WS_ERR_INVALID_UTF8', 1007);
          assert.deepEqual(h.handler.messages(), []);
        }
      });

      it(`${masked}: a claimed length over maxPayload fails with 1009 before any buffer of that size is allocated`, () => {
        let h!: Harness;
        const sizes = allocations(() => {
          h = makeProtocol(role, { maxPayload: 1 << 20 });
          // 2^40 bytes claimed by the first frame, then by a continuation after a 1000-byte start.
          h.feed(peerFrame(role, { opcode: OP.Binary, declaredLength: 2 ** 40, payload: Buffer.alloc(10) }));
        });
        assertFailedWith(h, 'WS_ERR_MESSAGE_TOO_BIG', 1009);
        assert.ok(Math.max(0, ...sizes) < 65536, `allocated ${sizes.join(' ')}`);

        const sizes2 = allocations(() => {
          h = makeProtocol(role, { maxPayload: 1 << 20 });
          h.feed(peerFrame(role, { opcode: OP.Binary, fin: false, payload: randomBytes(1000, prng(7)) }).subarray(0, 500));
          h.feed(peerFrame(role, { opcode: OP.Binary, fin: false, payload: randomBytes(1000, prng(7)) }).subarray(500));
          h.feed(peerFrame(role, { opcode: OP.Continuation, declaredLength: (1 << 20) - 999, payload: Buffer.alloc(3) }));
        });
        assertFailedWith(h, 'WS_ERR_MESSAGE_TOO_BIG', 1009);
        assert.ok(Math.max(0, ...sizes2) < 65536, `allocated ${sizes2.join(' ')}`);
      });

      it(`${masked}: a large claimed length is not allocated up front: the buffer grows as the bytes arrive`, () => {
        const payload = randomBytes(20 << 20, prng(8));
        const template = peerFrame(role, { opcode: OP.Binary, payload });
        let h!: Harness;
        const early = allocations(() => {
          h = makeProtocol(role, { maxPayload: 32 << 20 });
          h.feed(Buffer.from(template.subarray(0, 20)));
        });
        assert.ok(Math.max(0, ...early) <= 8 << 20, `allocated ${early.join(' ')} after 20 bytes`);
        h.feed(...splitAt(Buffer.from(template.subarray(20)), Array.from({ length: 20 }, (_, k) => k << 20)));
        assertNoFailure(h);
        assert.ok(h.handler.messages()[0]!.data.equals(payload));
      });
    }

    it('a message that arrives whole in one read after its header is a slice of that read (no copy)', () => {
      const payload = randomBytes(5000, prng(9));
      const template = clientFrame({ opcode: OP.Binary, payload });
      const body = Buffer.from(template.subarray(8));
      const h = makeProtocol('server');
      h.handler.keepReferences = true;
      h.feed(Buffer.from(template.subarray(0, 8)), body);
      const data = h.handler.messages()[0]!.data;
      assert.ok(data.equals(payload));
      assert.equal(data.buffer, body.buffer);
      assert.equal(data.byteOffset, body.byteOffset);
    });

    it('a message spread over reads does not write into the reads it was copied from', () => {
      const payload = randomBytes(5000, prng(10));
      const template = clientFrame({ opcode: OP.Binary, payload });
      const chunks = splitAt(Buffer.from(template), [1000, 3001]);
      const h = makeProtocol('server');
      h.feed(...chunks);
      assert.ok(h.handler.messages()[0]!.data.equals(payload));
      assert.ok(Buffer.concat(chunks).equals(template));
    });

    it('a compressed message spread over reads still reaches the decoder whole, unmasked', () => {
      const text = multibyteText(3000);
      const template = clientFrame({ opcode: OP.Text, rsv1: true, payload: fakeEncode(text) });
      for (let cut = 1; cut < template.length; cut += 13) {
        const codec = new FakeCodec('sync');
        const h = makeProtocol('server', { codec });
        h.feed(...splitAt(Buffer.from(template), [cut, cut + 1500]));
        assertNoFailure(h);
        assert.equal(h.handler.texts()[0], text.toString(), `cut ${cut}`);
      }
    });
  });
}

describe('messages spread over chunks: between messages', () => {
  afterEach(() => useNativeMasking(true));

  it('the message buffer is not reused: a delivered message keeps its bytes after the next one', () => {
    const a = randomBytes(3000, prng(11));
    const b = randomBytes(3000, prng(12));
    const stream = Buffer.concat([clientFrame({ opcode: OP.Binary, payload: a }), clientFrame({ opcode: OP.Binary, payload: b })]);
    const h = makeProtocol('server');
    h.feed(...randomChunks(stream, prng(13), 700));
    const [first, second] = h.handler.messages();
    assert.ok(first!.data.equals(a));
    assert.ok(second!.data.equals(b));
  });

  it('a close frame in the middle of a spread message drops it; nothing is delivered', () => {
    const h = makeProtocol('server');
    const start = frame({ opcode: OP.Binary, fin: false, payload: randomBytes(2000, prng(14)), mask: Buffer.from([1, 2, 3, 4]) });
    h.feed(start.subarray(0, 1000), start.subarray(1000));
    h.feed(clientFrame({ opcode: OP.Close }));
    assert.deepEqual(h.handler.messages(), []);
    assert.equal(h.protocol.inputClosed, true);
  });
});
