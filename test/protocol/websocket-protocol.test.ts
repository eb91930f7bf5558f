// Unit tests of the sans-I/O protocol core against RFC 6455 §5–§7, modelled on the Autobahn|Testsuite
// sections 1–10 (framing, pings/pongs, reserved bits, opcodes, fragmentation, UTF-8, close
// handling, limits). Bytes go in through receive(); a recording handler captures everything out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertLinear, LINEAR_N } from './support/linearity.js';
import { WebSocketError, type WebSocketErrorCode } from '../../src/protocol/errors.js';
import { MAX_CLOSE_REASON } from '../../src/protocol/websocket-protocol.js';
import { makeClient, makeServer, type Harness } from './support/fake-handler.js';
import { FakeCodec, fakeEncode } from './support/fake-codec.js';
import {
  OP,
  clientFrame,
  closePayload,
  frame,
  pattern,
  prng,
  randomBytes,
  randomChunks,
  serverFrame,
  splitAt,
  type FrameSpec,
  type ParsedFrame,
} from './support/frames.js';

// ------------------------------------------------------------------------------------- helpers

/** A frame as the peer of `h` would send it: masked towards a server, unmasked towards a client. */
function peerFrame(h: Harness, spec: Omit<FrameSpec, 'mask'>): Buffer {
  return h.protocol.isServerRole ? clientFrame(spec) : serverFrame(spec);
}

/** Just the header of a frame (no payload bytes), as the peer would send it. */
function peerHeader(h: Harness, spec: Omit<FrameSpec, 'mask' | 'payload'>): Buffer {
  return peerFrame(h, { ...spec, payload: Buffer.alloc(0) });
}

/**
 * Asserts the connection failed exactly once with this error and close code (§7.1.7): the error
 * reached onProtocolError, one close frame carrying the code was written, and input parsing stopped
 * (a valid frame fed afterwards changes nothing).
 */
function assertFailed(h: Harness, code: WebSocketErrorCode, closeCode: number): WebSocketError {
  const { handler, protocol } = h;
  const errors = handler.errors();
  assert.equal(errors.length, 1, `expected one protocol error; events: ${handler.describe()}`);
  const error = errors[0]!;
  assert.ok(error instanceof WebSocketError);
  assert.equal(error.name, 'WebSocketError');
  assert.equal(error.code, code);
  assert.equal(error.closeCode, closeCode);
  assert.equal(protocol.inputClosed, true);
  assert.equal(protocol.closeSent, true);
  const closes = handler.frames().filter((f) => f.opcode === OP.Close);
  assert.equal(closes.length, 1, 'exactly one close frame');
  assert.equal(closes[0]!.payload.readUInt16BE(0), closeCode);
  assert.ok(closes[0]!.payload.length <= 125);

  const events = handler.events.length;
  h.feed(peerFrame(h, { opcode: OP.Ping, payload: 'after' }), peerFrame(h, { opcode: OP.Text, payload: 'after' }));
  assert.equal(handler.events.length, events, 'nothing is parsed after a failure');
  return error;
}

function assertNoFailure(h: Harness): void {
  assert.deepEqual(h.handler.errors(), [], `unexpected failure; events: ${h.handler.describe()}`);
}

function assertServerFrame(f: ParsedFrame): void {
  assert.equal(f.masked, false, 'server frames are never masked (§5.1)');
}

function assertClientFrame(f: ParsedFrame): void {
  assert.equal(f.masked, true, 'client frames are always masked (§5.1)');
  assert.notEqual(f.maskKey!.readUInt32BE(0), 0, 'masking key should be random, not zero');
}

function expectedHeader(opcode: number, length: number, fin = true): Buffer {
  const b0 = (fin ? 0x80 : 0) | opcode;
  if (length < 126) return Buffer.from([b0, length]);
  if (length < 0x10000) return Buffer.from([b0, 126, length >> 8, length & 0xff]);
  const out = Buffer.alloc(10);
  out[0] = b0;
  out[1] = 127;
  out.writeBigUInt64BE(BigInt(length), 2);
  return out;
}

const textOf = (length: number): string => 'abcdefghijklmnopqrstuvwxyz'.repeat(Math.ceil(length / 26)).slice(0, length);

// ====================================================================== §1 framing and lengths

describe('Autobahn 1: payload lengths (RFC 6455 §5.2)', () => {
  const lengths = [0, 1, 125, 126, 127, 128, 65535, 65536, 65537, 100_000];

  for (const n of lengths) {
    it(`server parses a masked ${n}-byte binary message`, () => {
      const h = makeServer();
      const payload = pattern(n, 7);
      h.feed(clientFrame({ opcode: OP.Binary, payload }));
      assertNoFailure(h);
      assert.deepEqual(h.handler.messages(), [{ data: payload, isBinary: true }]);
      assert.deepEqual(h.handler.writes, []);
    });

    it(`client parses an unmasked ${n}-byte text message, also split after the header`, () => {
      const text = textOf(n);
      for (const split of [false, true]) {
        const h = makeClient();
        const bytes = serverFrame({ opcode: OP.Text, payload: text });
        const headerLength = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
        h.feed(...(split ? splitAt(bytes, [1, headerLength]) : [bytes]));
        assertNoFailure(h);
        assert.deepEqual(h.handler.texts(), [text]);
        assert.equal(h.handler.messages()[0]!.isBinary, false);
      }
    });
  }

  for (const n of [0, 125, 126, 65535, 65536]) {
    const form = n < 126 ? '7-bit' : n < 0x10000 ? '16-bit' : '64-bit';
    it(`server serialises a ${n}-byte message with the ${form} length`, () => {
      const h = makeServer();
      const payload = pattern(n, 3);
      h.protocol.send(payload, true);
      const out = h.handler.output();
      const header = expectedHeader(OP.Binary, n);
      assert.deepEqual(out.subarray(0, header.length), header);
      assert.deepEqual(out.subarray(header.length), payload);
    });

    it(`client serialises a ${n}-byte message with the ${form} length and a mask`, () => {
      const h = makeClient();
      const payload = pattern(n, 3);
      h.protocol.send(payload, false);
      const out = h.handler.output();
      const header = expectedHeader(OP.Text, n);
      header[1] = header[1]! | 0x80;
      assert.deepEqual(out.subarray(0, header.length), header);
      const [f] = h.handler.frames();
      assertClientFrame(f!);
      assert.equal(f!.headerLength, header.length + 4);
      assert.deepEqual(f!.payload, payload);
    });
  }

  it('a 64-bit length with the most significant bit set fails with 1002 from the header alone', () => {
    for (const high of [0x80, 0xff]) {
      const h = makeServer();
      const raw = Buffer.from([high, 0, 0, 0, 0, 0, 0, 5]);
      h.feed(peerHeader(h, { opcode: OP.Binary, rawLength64: raw }));
      assertFailed(h, 'WS_ERR_INVALID_LENGTH', 1002);
    }
  });

  it('a 64-bit length of 2^63-1 (MSB clear) fails with 1009, not 1002', () => {
    const h = makeServer();
    const raw = Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    h.feed(peerHeader(h, { opcode: OP.Binary, rawLength64: raw }));
    assertFailed(h, 'WS_ERR_MESSAGE_TOO_BIG', 1009);
  });

  it('a 64-bit length above 2^32 is read with both words', () => {
    // 2^32 + 3 with maxPayload just below and just above it.
    const length = 2 ** 32 + 3;
    const tooSmall = makeServer({ maxPayload: length - 1 });
    tooSmall.feed(peerHeader(tooSmall, { opcode: OP.Binary, declaredLength: length }));
    assertFailed(tooSmall, 'WS_ERR_MESSAGE_TOO_BIG', 1009);

    const bigEnough = makeServer({ maxPayload: length });
    bigEnough.feed(peerHeader(bigEnough, { opcode: OP.Binary, declaredLength: length }));
    assertNoFailure(bigEnough);
    assert.equal(bigEnough.protocol.inputClosed, false);
  });

  it('tolerates non-minimal length encodings from the peer', () => {
    const h = makeServer();
    h.feed(
      clientFrame({ opcode: OP.Text, payload: 'five!', lengthForm: 16 }),
      clientFrame({ opcode: OP.Text, payload: 'sixty-four', lengthForm: 64 }),
    );
    assertNoFailure(h);
    assert.deepEqual(h.handler.texts(), ['five!', 'sixty-four']);
  });

  it('several frames in one chunk are all delivered, in order (Autobahn 1.x batched)', () => {
    const h = makeServer();
    const sizes = [0, 5, 125, 126, 300, 65535, 65536, 3];
    const payloads = sizes.map((n, i) => pattern(n, i));
    h.feed(Buffer.concat(payloads.map((payload, i) => clientFrame({ opcode: i % 2 ? OP.Binary : OP.Text, payload: i % 2 ? payload : textOf(payload.length) }))));
    assertNoFailure(h);
    const messages = h.handler.messages();
    assert.equal(messages.length, sizes.length);
    messages.forEach((m, i) => {
      assert.equal(m.isBinary, i % 2 === 1);
      assert.deepEqual(m.data, i % 2 ? payloads[i] : Buffer.from(textOf(sizes[i]!)));
    });
  });

  it('a 65536-byte message chopped into 997-byte chunks (Autobahn 1.1.8)', () => {
    const h = makeServer();
    const bytes = clientFrame({ opcode: OP.Text, payload: textOf(65536) });
    const chunks: Buffer[] = [];
    for (let p = 0; p < bytes.length; p += 997) chunks.push(bytes.subarray(p, p + 997));
    h.feed(...chunks);
    assertNoFailure(h);
    assert.deepEqual(h.handler.texts(), [textOf(65536)]);
  });
});

// ============================================================================ masking (§5.1, §5.3)

describe('masking (RFC 6455 §5.1, §5.3)', () => {
  for (const opcode of [OP.Text, OP.Binary, OP.Ping, OP.Close]) {
    it(`server role: an unmasked client frame (opcode ${opcode}) fails with 1002`, () => {
      const h = makeServer();
      h.feed(serverFrame({ opcode, payload: opcode === OP.Close ? closePayload(1000) : 'hi' }));
      assertFailed(h, 'WS_ERR_EXPECTED_MASK', 1002);
      assert.deepEqual(h.handler.messages(), []);
    });

    it(`client role: a masked server frame (opcode ${opcode}) fails with 1002`, () => {
      const h = makeClient();
      h.feed(clientFrame({ opcode, payload: opcode === OP.Close ? closePayload(1000) : 'hi' }));
      assertFailed(h, 'WS_ERR_UNEXPECTED_MASK', 1002);
      assert.deepEqual(h.handler.messages(), []);
    });
  }

  it('an unmasked frame fails from its 2-byte header, before the rest arrives', () => {
    const h = makeServer();
    h.feed(serverFrame({ opcode: OP.Binary, payload: pattern(1000) }).subarray(0, 4));
    assertFailed(h, 'WS_ERR_EXPECTED_MASK', 1002);
  });

  // A stream of messages of awkward sizes, used by the split tests below.
  const streamPayloads = [pattern(0), pattern(1, 1), pattern(5, 2), pattern(125, 3), pattern(126, 4), pattern(301, 5), pattern(4099, 6)];
  const buildStream = (): Buffer => Buffer.concat(streamPayloads.map((payload) => clientFrame({ opcode: OP.Binary, payload })));

  it('masked payloads are unmasked correctly for every two-chunk split of a stream', () => {
    const template = buildStream();
    for (let cut = 0; cut <= template.length; cut++) {
      const h = makeServer();
      const bytes = Buffer.from(template);
      h.feed(...splitAt(bytes, [cut]));
      assertNoFailure(h);
      assert.deepEqual(
        h.handler.messages().map((m) => m.data),
        streamPayloads,
        `split at ${cut}`,
      );
    }
  });

  it('masked payloads are unmasked correctly for random multi-chunk splits', () => {
    const random = prng(42);
    const template = buildStream();
    for (let run = 0; run < 300; run++) {
      const h = makeServer();
      const maxChunk = 1 + Math.floor(random() * (run % 2 ? 9 : 700));
      h.feed(...randomChunks(Buffer.from(template), random, maxChunk));
      assertNoFailure(h);
      assert.deepEqual(
        h.handler.messages().map((m) => m.data),
        streamPayloads,
        `run ${run}`,
      );
    }
  });

  it('masked payloads are unmasked correctly one byte per receive() call', () => {
    const h = makeServer();
    const bytes = buildStream();
    for (let i = 0; i < bytes.length; i++) h.feed(bytes.subarray(i, i + 1));
    assertNoFailure(h);
    assert.deepEqual(
      h.handler.messages().map((m) => m.data),
      streamPayloads,
    );
  });

  it('mask phase carries across fragments and chunk splits of one fragmented message', () => {
    const random = prng(7);
    const payload = randomBytes(5000, random);
    const pieces = [0, 3, 1, 700, 2, 4000].reduce<Buffer[]>((acc, n) => {
      const used = acc.reduce((s, b) => s + b.length, 0);
      acc.push(payload.subarray(used, Math.min(used + n, payload.length)));
      return acc;
    }, []);
    const used = pieces.reduce((s, b) => s + b.length, 0);
    pieces.push(payload.subarray(used));
    const template = Buffer.concat(
      pieces.map((piece, i) =>
        clientFrame({ opcode: i === 0 ? OP.Binary : OP.Continuation, fin: i === pieces.length - 1, payload: piece }),
      ),
    );
    for (let run = 0; run < 100; run++) {
      const h = makeServer();
      h.feed(...randomChunks(Buffer.from(template), random, 1 + (run % 50)));
      assertNoFailure(h);
      assert.deepEqual(h.handler.messages(), [{ data: payload, isBinary: true }]);
    }
  });
});

// ====================================================================== §2 pings and pongs

describe('Autobahn 2: pings and pongs (RFC 6455 §5.5.2, §5.5.3)', () => {
  it('an empty ping is answered with an empty pong', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Ping }));
    assert.deepEqual(h.handler.kinds(), ['ping']);
    assert.deepEqual(h.handler.output(), Buffer.from([0x80 | OP.Pong, 0]));
  });

  it('a 125-byte binary ping is answered with a pong carrying the same payload', () => {
    const h = makeServer();
    const payload = pattern(125, 200);
    h.feed(clientFrame({ opcode: OP.Ping, payload }));
    const events = h.handler.events.filter((e) => e.type === 'ping');
    assert.deepEqual(events, [{ type: 'ping', data: payload }]);
    assert.deepEqual(h.handler.output(), Buffer.concat([Buffer.from([0x8a, 125]), payload]));
  });

  for (const opcode of [OP.Ping, OP.Pong, OP.Close]) {
    it(`a control frame (opcode ${opcode}) with a 126-byte payload fails with 1002 from its header`, () => {
      const h = makeServer();
      h.feed(peerHeader(h, { opcode, declaredLength: 126 }));
      assertFailed(h, 'WS_ERR_INVALID_CONTROL_FRAME', 1002);
      assert.equal(h.handler.frames().filter((f) => f.opcode === OP.Pong).length, 0);
    });
  }

  it('a 125-byte ping chopped into 1-byte chunks is answered once, correctly (Autobahn 2.6)', () => {
    const h = makeServer();
    const payload = pattern(125, 9);
    const bytes = clientFrame({ opcode: OP.Ping, payload });
    for (let i = 0; i < bytes.length; i++) {
      h.feed(bytes.subarray(i, i + 1));
      if (i < bytes.length - 1) assert.equal(h.handler.writes.length, 0);
    }
    const frames = h.handler.frames();
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.opcode, OP.Pong);
    assert.deepEqual(frames[0]!.payload, payload);
  });

  it('ten pings in a row get ten pongs, in order (Autobahn 2.10)', () => {
    const h = makeServer();
    h.feed(Buffer.concat(Array.from({ length: 10 }, (_, i) => clientFrame({ opcode: OP.Ping, payload: `ping ${i}` }))));
    const frames = h.handler.frames();
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.toString()]),
      Array.from({ length: 10 }, (_, i) => [OP.Pong, `ping ${i}`]),
    );
    frames.forEach(assertServerFrame);
  });

  it('an unsolicited pong is reported and not answered (Autobahn 2.7)', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Pong, payload: 'unsolicited' }));
    assert.deepEqual(h.handler.events, [{ type: 'pong', data: Buffer.from('unsolicited') }]);
    assert.deepEqual(h.handler.writes, []);
  });

  it('client role: the pong is masked and carries the ping payload', () => {
    const h = makeClient();
    h.feed(serverFrame({ opcode: OP.Ping, payload: 'from server' }));
    const [f] = h.handler.frames();
    assert.equal(f!.opcode, OP.Pong);
    assertClientFrame(f!);
    assert.equal(f!.payload.toString(), 'from server');
  });

  it('while writes are backed up, pings are coalesced and only the latest is answered on flush (§5.5.3)', () => {
    const h = makeServer();
    h.handler.backedUp = true;
    h.feed(...['one', 'two', 'three'].map((payload) => clientFrame({ opcode: OP.Ping, payload })));
    assert.deepEqual(h.handler.kinds(), ['ping', 'ping', 'ping'], 'every ping is still reported');
    assert.deepEqual(h.handler.writes, []);
    h.handler.backedUp = false;
    h.protocol.flushPendingPong();
    assert.deepEqual(
      h.handler.frames().map((f) => [f.opcode, f.payload.toString()]),
      [[OP.Pong, 'three']],
    );
    h.protocol.flushPendingPong();
    assert.equal(h.handler.frames().length, 1, 'a pending pong is sent once');
  });

  it('maxUnansweredPings: one ping too many while the peer does not read fails with 1008', () => {
    const h = makeServer({ maxUnansweredPings: 3 });
    h.handler.backedUp = true;
    for (let i = 0; i < 3; i++) h.feed(clientFrame({ opcode: OP.Ping, payload: `p${i}` }));
    assert.deepEqual(h.handler.writes, [], 'three pings are coalesced, no error');
    h.handler.backedUp = false;
    h.protocol.flushPendingPong(); // the peer read: the count starts again
    h.handler.backedUp = true;
    for (let i = 0; i < 3; i++) h.feed(clientFrame({ opcode: OP.Ping, payload: `q${i}` }));
    assert.equal(h.handler.errors().length, 0);
    h.feed(clientFrame({ opcode: OP.Ping, payload: 'one too many' }));
    const [error] = h.handler.errors();
    assert.equal(error?.code, 'WS_ERR_PING_FLOOD');
    assert.equal(error?.closeCode, 1008);
    const frames = h.handler.frames();
    assert.deepEqual(frames.map((f) => f.opcode), [OP.Pong, OP.Close]);
    assert.equal(frames[1]!.payload.readUInt16BE(0), 1008);
  });

  it('maxUnansweredPings: pings answered at once never count', () => {
    const h = makeServer({ maxUnansweredPings: 1 });
    for (let i = 0; i < 10; i++) h.feed(clientFrame({ opcode: OP.Ping, payload: `p${i}` }));
    assert.equal(h.handler.errors().length, 0);
    assert.equal(h.handler.frames().length, 10);
  });

  it('a pending pong is superseded by a pong answered directly for a newer ping', () => {
    const h = makeServer();
    h.handler.backedUp = true;
    h.feed(clientFrame({ opcode: OP.Ping, payload: 'old' }));
    h.handler.backedUp = false; // the peer reads again before the adapter saw 'drain'
    h.feed(clientFrame({ opcode: OP.Ping, payload: 'new' }));
    h.protocol.flushPendingPong();
    assert.deepEqual(
      h.handler.frames().map((f) => f.payload.toString()),
      ['new'],
      'no stale pong after the answer to the latest ping',
    );
  });

  it('a pending pong is dropped once a close frame has been sent', () => {
    const h = makeServer();
    h.handler.backedUp = true;
    h.feed(clientFrame({ opcode: OP.Ping, payload: 'x' }));
    h.protocol.close(1000, Buffer.alloc(0));
    h.protocol.flushPendingPong();
    assert.deepEqual(
      h.handler.frames().map((f) => f.opcode),
      [OP.Close],
    );
  });

  it('ping() and pong() send control frames with payloads up to 125 bytes', () => {
    for (const h of [makeServer(), makeClient()]) {
      h.protocol.ping(Buffer.alloc(0));
      h.protocol.ping(pattern(125));
      h.protocol.pong(Buffer.from('hello'));
      h.protocol.pong(pattern(125, 1));
      const frames = h.handler.frames();
      assert.deepEqual(
        frames.map((f) => [f.fin, f.opcode, f.payload]),
        [
          [true, OP.Ping, Buffer.alloc(0)],
          [true, OP.Ping, pattern(125)],
          [true, OP.Pong, Buffer.from('hello')],
          [true, OP.Pong, pattern(125, 1)],
        ],
      );
      frames.forEach(h.protocol.isServerRole ? assertServerFrame : assertClientFrame);
      frames.forEach((f) => assert.equal(f.lengthForm, 7));
    }
  });
});

// ====================================================================== §3 reserved bits

describe('Autobahn 3: reserved bits (RFC 6455 §5.2)', () => {
  const combos: { name: string; bits: Partial<FrameSpec> }[] = [
    { name: 'RSV1', bits: { rsv1: true } },
    { name: 'RSV2', bits: { rsv2: true } },
    { name: 'RSV3', bits: { rsv3: true } },
    { name: 'RSV1+RSV2', bits: { rsv1: true, rsv2: true } },
    { name: 'RSV1+RSV2+RSV3', bits: { rsv1: true, rsv2: true, rsv3: true } },
  ];
  const opcodes: [string, number][] = [
    ['text', OP.Text],
    ['binary', OP.Binary],
    ['ping', OP.Ping],
    ['pong', OP.Pong],
    ['close', OP.Close],
  ];
  for (const { name, bits } of combos) {
    for (const [opName, opcode] of opcodes) {
      it(`${name} set on a ${opName} frame without an extension fails with 1002`, () => {
        const h = makeServer();
        h.feed(clientFrame({ opcode, payload: opcode === OP.Close ? closePayload(1000) : 'x', ...bits }));
        assertFailed(h, 'WS_ERR_RESERVED_BITS', 1002);
        assert.deepEqual(h.handler.kinds(), ['error']);
      });
    }
  }

  it('frames before a bad frame in the same chunk are processed, frames after it are not (Autobahn 3.2)', () => {
    const h = makeServer();
    h.feed(
      Buffer.concat([
        clientFrame({ opcode: OP.Text, payload: 'before' }),
        clientFrame({ opcode: OP.Ping, payload: 'p1' }),
        clientFrame({ opcode: OP.Text, payload: 'bad', rsv2: true }),
        clientFrame({ opcode: OP.Ping, payload: 'p2' }),
        clientFrame({ opcode: OP.Text, payload: 'after' }),
      ]),
    );
    assert.deepEqual(h.handler.kinds(), ['message', 'ping', 'error']);
    assert.deepEqual(h.handler.texts(), ['before']);
    assert.deepEqual(
      h.handler.frames().map((f) => f.opcode),
      [OP.Pong, OP.Close],
    );
    assertFailed(h, 'WS_ERR_RESERVED_BITS', 1002);
  });
});

// ====================================================================== §4 opcodes

describe('Autobahn 4: opcodes (RFC 6455 §5.2, §11.8)', () => {
  for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    it(`reserved ${opcode < 8 ? 'data' : 'control'} opcode ${opcode} fails with 1002`, () => {
      const h = makeServer();
      h.feed(clientFrame({ opcode, payload: 'reserved' }));
      assertFailed(h, 'WS_ERR_INVALID_OPCODE', 1002);
      assert.deepEqual(h.handler.kinds(), ['error']);
    });
  }

  it('a reserved opcode fails from the header alone (no payload needed)', () => {
    const h = makeServer();
    h.feed(peerHeader(h, { opcode: 5, declaredLength: 1000 }));
    assertFailed(h, 'WS_ERR_INVALID_OPCODE', 1002);
  });

  it('a reserved opcode inside a fragmented message fails with 1002 and drops the message', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Text, fin: false, payload: 'part' }), clientFrame({ opcode: 11, payload: '' }));
    assertFailed(h, 'WS_ERR_INVALID_OPCODE', 1002);
    assert.deepEqual(h.handler.messages(), []);
  });

  it('a valid text frame followed by a reserved opcode delivers the text first (Autobahn 4.1.3)', () => {
    const h = makeServer();
    h.feed(Buffer.concat([clientFrame({ opcode: OP.Text, payload: 'ok' }), clientFrame({ opcode: 4 })]));
    assert.deepEqual(h.handler.kinds(), ['message', 'error']);
    assertFailed(h, 'WS_ERR_INVALID_OPCODE', 1002);
  });
});

// ====================================================================== §5 fragmentation

describe('Autobahn 5: fragmentation (RFC 6455 §5.4)', () => {
  it('a text message in two fragments is delivered once, joined', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Text, fin: false, payload: 'fragment1' }), clientFrame({ opcode: OP.Continuation, payload: 'fragment2' }));
    assert.deepEqual(h.handler.messages(), [{ data: Buffer.from('fragment1fragment2'), isBinary: false }]);
  });

  it('a binary message in many fragments, some empty, is delivered joined', () => {
    const h = makeServer();
    const parts = [Buffer.alloc(0), pattern(10), Buffer.alloc(0), pattern(2000, 1), pattern(1, 2), Buffer.alloc(0)];
    h.feed(
      ...parts.map((payload, i) =>
        clientFrame({ opcode: i === 0 ? OP.Binary : OP.Continuation, fin: i === parts.length - 1, payload }),
      ),
    );
    assertNoFailure(h);
    assert.deepEqual(h.handler.messages(), [{ data: Buffer.concat(parts), isBinary: true }]);
  });

  it('an empty fragmented message is delivered as an empty message', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Text, fin: false }), clientFrame({ opcode: OP.Continuation }));
    assert.deepEqual(h.handler.messages(), [{ data: Buffer.alloc(0), isBinary: false }]);
  });

  it('a continuation frame (FIN=1) without a message to continue fails with 1002', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Continuation, payload: 'orphan' }));
    assertFailed(h, 'WS_ERR_INVALID_CONTINUATION', 1002);
  });

  it('a continuation frame (FIN=0) without a message to continue fails with 1002', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Continuation, fin: false, payload: 'orphan' }));
    assertFailed(h, 'WS_ERR_INVALID_CONTINUATION', 1002);
  });

  it('a continuation frame after a completed fragmented message fails with 1002', () => {
    const h = makeServer();
    h.feed(
      clientFrame({ opcode: OP.Text, fin: false, payload: 'a' }),
      clientFrame({ opcode: OP.Continuation, payload: 'b' }),
      clientFrame({ opcode: OP.Continuation, payload: 'c' }),
    );
    assert.deepEqual(h.handler.texts(), ['ab']);
    assertFailed(h, 'WS_ERR_INVALID_CONTINUATION', 1002);
  });

  it('a continuation frame after an unfragmented message fails with 1002', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Text, payload: 'whole' }), clientFrame({ opcode: OP.Continuation, payload: 'more' }));
    assert.deepEqual(h.handler.texts(), ['whole']);
    assertFailed(h, 'WS_ERR_INVALID_CONTINUATION', 1002);
  });

  for (const [name, opcode, fin] of [
    ['text', OP.Text, true],
    ['binary', OP.Binary, true],
    ['unfinished text', OP.Text, false],
    ['unfinished binary', OP.Binary, false],
  ] as const) {
    it(`a new ${name} frame inside a fragmented message fails with 1002`, () => {
      const h = makeServer();
      h.feed(clientFrame({ opcode: OP.Binary, fin: false, payload: 'start' }), clientFrame({ opcode, fin, payload: 'intruder' }));
      assertFailed(h, 'WS_ERR_EXPECTED_CONTINUATION', 1002);
      assert.deepEqual(h.handler.messages(), []);
    });
  }

  for (const [name, opcode] of [
    ['ping', OP.Ping],
    ['pong', OP.Pong],
    ['close', OP.Close],
  ] as const) {
    it(`a fragmented ${name} frame (FIN=0) fails with 1002`, () => {
      const h = makeServer();
      h.feed(clientFrame({ opcode, fin: false, payload: opcode === OP.Close ? closePayload(1000) : 'x' }));
      assertFailed(h, 'WS_ERR_INVALID_CONTROL_FRAME', 1002);
      assert.equal(h.handler.frames().filter((f) => f.opcode === OP.Pong).length, 0);
    });
  }

  it('a ping between fragments is answered with the same payload and the message still arrives (Autobahn 5.6)', () => {
    const h = makeServer();
    h.feed(
      clientFrame({ opcode: OP.Text, fin: false, payload: 'frag' }),
      clientFrame({ opcode: OP.Ping, payload: 'interleaved ping' }),
      clientFrame({ opcode: OP.Continuation, payload: 'ment' }),
    );
    assertNoFailure(h);
    assert.deepEqual(h.handler.kinds(), ['ping', 'message']);
    assert.deepEqual(h.handler.texts(), ['fragment']);
    const frames = h.handler.frames();
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.toString()]),
      [[OP.Pong, 'interleaved ping']],
    );
    // The pong went out before the message completed.
    const writeAt = h.handler.events.findIndex((e) => e.type === 'write');
    const messageAt = h.handler.events.findIndex((e) => e.type === 'message');
    assert.ok(writeAt < messageAt);
  });

  it('a pong between fragments is reported and the message still arrives', () => {
    const h = makeServer();
    h.feed(
      clientFrame({ opcode: OP.Binary, fin: false, payload: 'ab' }),
      clientFrame({ opcode: OP.Pong, payload: 'p' }),
      clientFrame({ opcode: OP.Continuation, payload: 'cd' }),
    );
    assert.deepEqual(h.handler.kinds(), ['pong', 'message']);
    assert.deepEqual(h.handler.messages(), [{ data: Buffer.from('abcd'), isBinary: true }]);
    assert.deepEqual(h.handler.writes, []);
  });

  it('control frames between every fragment work in one chunk and one byte per chunk (Autobahn 5.8/5.16)', () => {
    const build = (): Buffer =>
      Buffer.concat([
        clientFrame({ opcode: OP.Text, fin: false, payload: 'f1' }),
        clientFrame({ opcode: OP.Ping, payload: 'a' }),
        clientFrame({ opcode: OP.Continuation, fin: false, payload: 'f2' }),
        clientFrame({ opcode: OP.Pong, payload: 'b' }),
        clientFrame({ opcode: OP.Ping, payload: 'c' }),
        clientFrame({ opcode: OP.Continuation, payload: 'f3' }),
        clientFrame({ opcode: OP.Text, payload: 'next' }),
      ]);
    for (const oneByte of [false, true]) {
      const h = makeServer();
      const bytes = build();
      if (oneByte) for (let i = 0; i < bytes.length; i++) h.feed(bytes.subarray(i, i + 1));
      else h.feed(bytes);
      assertNoFailure(h);
      assert.deepEqual(h.handler.kinds(), ['ping', 'pong', 'ping', 'message', 'message']);
      assert.deepEqual(h.handler.texts(), ['f1f2f3', 'next']);
      assert.deepEqual(
        h.handler.frames().map((f) => f.payload.toString()),
        ['a', 'c'],
      );
    }
  });

  it('a close frame between fragments closes cleanly and drops the partial message', () => {
    const h = makeServer();
    h.feed(
      clientFrame({ opcode: OP.Text, fin: false, payload: 'partial' }),
      clientFrame({ opcode: OP.Close, payload: closePayload(1000, 'bye') }),
      clientFrame({ opcode: OP.Continuation, payload: 'rest' }),
    );
    assert.deepEqual(h.handler.events.filter((e) => e.type !== 'write'), [{ type: 'close', code: 1000, reason: 'bye' }]);
    assert.deepEqual(
      h.handler.frames().map((f) => [f.opcode, f.payload]),
      [[OP.Close, closePayload(1000)]],
    );
  });

  it('the fragment count and length reset between messages', () => {
    const h = makeServer({ maxFragments: 3, maxPayload: 6 });
    for (let round = 0; round < 3; round++) {
      h.feed(
        clientFrame({ opcode: OP.Text, fin: false, payload: 'ab' }),
        clientFrame({ opcode: OP.Continuation, fin: false, payload: 'cd' }),
        clientFrame({ opcode: OP.Continuation, payload: 'ef' }),
      );
    }
    assertNoFailure(h);
    assert.deepEqual(h.handler.texts(), ['abcdef', 'abcdef', 'abcdef']);
  });
});

// ====================================================================== §6 UTF-8

const VALID_TEXTS: [string, string][] = [
  ['ASCII with NUL and DEL', 'a\u0000b\u007f'],
  ['2-byte boundaries U+0080 and U+07FF', '\u0080\u07ff'],
  ['3-byte boundaries U+0800, U+D7FF, U+E000, U+FFFD, U+FFFF', '\u0800\ud7ff\ue000\ufffd\uffff'],
  ['4-byte boundaries U+10000 and U+10FFFF', '\u{10000}\u{10ffff}'],
  ['Greek "κόσμε" (Autobahn 6.2)', 'κόσμε'],
  ['"Hello-µ@ßöäüàá-UTF-8!!" (Autobahn 6.1.3)', 'Hello-µ@ßöäüàá-UTF-8!!'],
  ['mixed scripts and emoji', 'Grüße, 世界! 🎉𝄞'],
];

const INVALID_SEQUENCES: [string, number[]][] = [
  ['lone continuation byte 0x80', [0x80]],
  ['lone continuation byte 0xBF', [0xbf]],
  ['overlong "/" in 2 bytes (C0 AF)', [0xc0, 0xaf]],
  ['overlong "/" in 3 bytes (E0 80 AF)', [0xe0, 0x80, 0xaf]],
  ['overlong "/" in 4 bytes (F0 80 80 AF)', [0xf0, 0x80, 0x80, 0xaf]],
  ['overlong NUL (C1 80)', [0xc1, 0x80]],
  ['surrogate U+D800 (ED A0 80)', [0xed, 0xa0, 0x80]],
  ['surrogate U+DFFF (ED BF BF)', [0xed, 0xbf, 0xbf]],
  ['above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
  ['F5 lead byte', [0xf5, 0x80, 0x80, 0x80]],
  ['FE byte', [0xfe]],
  ['FF byte', [0xff]],
  ['2-byte lead followed by ASCII', [0xc3, 0x41]],
  ['4-byte lead with only 2 continuations then ASCII', [0xf0, 0x9f, 0x98, 0x41]],
];

describe('Autobahn 6: UTF-8 handling (RFC 6455 §8.1, RFC 3629)', () => {
  for (const [name, text] of VALID_TEXTS) {
    it(`accepts valid text: ${name}`, () => {
      const h = makeServer();
      h.feed(clientFrame({ opcode: OP.Text, payload: text }));
      assertNoFailure(h);
      assert.deepEqual(h.handler.texts(), [text]);
    });
  }

  for (const [name, bytes] of INVALID_SEQUENCES) {
    it(`rejects invalid text with 1007: ${name}`, () => {
      for (const context of ['whole frame', 'split frame', 'fragmented']) {
        const h = makeServer();
        const payload = Buffer.concat([Buffer.from('valid prefix '), Buffer.from(bytes), Buffer.from(' suffix')]);
        if (context === 'whole frame') {
          h.feed(clientFrame({ opcode: OP.Text, payload }));
        } else if (context === 'split frame') {
          const f = clientFrame({ opcode: OP.Text, payload });
          h.feed(...splitAt(f, [3, 10, 20]));
        } else {
          h.feed(clientFrame({ opcode: OP.Text, fin: false, payload: payload.subarray(0, 14) }), clientFrame({ opcode: OP.Continuation, payload: payload.subarray(14) }));
        }
        assertFailed(h, 'WS_ERR_INVALID_UTF8', 1007);
        assert.deepEqual(h.handler.messages(), [], context);
      }
    });
  }

  it('binary messages are not UTF-8 checked', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Binary, payload: Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]) }));
    assertNoFailure(h);
    assert.equal(h.handler.messages().length, 1);
  });

  it('invalid UTF-8 in the first fragment fails at that fragment, before the rest arrives', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Text, fin: false, payload: Buffer.from([0x41, 0xed, 0xa0, 0x80]) }));
    assertFailed(h, 'WS_ERR_INVALID_UTF8', 1007);
  });

  it('invalid UTF-8 fails mid-frame, as soon as the bad byte arrives in a chunk', () => {
    // 100-byte frame with the invalid byte at payload offset 10; only 11 payload bytes are fed.
    const payload = Buffer.alloc(100, 0x61);
    payload[10] = 0xff;
    const bytes = clientFrame({ opcode: OP.Text, payload });
    const headerLength = 6;
    for (const cuts of [[headerLength + 11], [3, headerLength + 5, headerLength + 11]]) {
      const h = makeServer();
      const chunks = splitAt(Buffer.from(bytes), cuts);
      h.feed(...chunks.slice(0, -1));
      assertFailed(h, 'WS_ERR_INVALID_UTF8', 1007);
    }
  });

  it('an invalid sequence split across two fragments fails as soon as the second half arrives', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Text, fin: false, payload: Buffer.from([0x61, 0xf4]) }));
    assertNoFailure(h);
    h.feed(clientFrame({ opcode: OP.Continuation, fin: false, payload: Buffer.from([0x90, 0x80, 0x80]) }));
    assertFailed(h, 'WS_ERR_INVALID_UTF8', 1007);
  });

  it('invalid UTF-8 in a later fragment fails there, after valid earlier fragments', () => {
    const h = makeServer();
    h.feed(
      clientFrame({ opcode: OP.Text, fin: false, payload: 'κό' }),
      clientFrame({ opcode: OP.Continuation, fin: false, payload: 'σμε' }),
    );
    assertNoFailure(h);
    h.feed(clientFrame({ opcode: OP.Continuation, fin: false, payload: Buffer.from([0xc0, 0x80]) }));
    assertFailed(h, 'WS_ERR_INVALID_UTF8', 1007);
  });

  it('a message ending inside a multi-byte sequence fails with 1007', () => {
    const truncated = Buffer.from([0x61, 0xe2, 0x82]); // "a" + first two bytes of "€"
    const whole = makeServer();
    whole.feed(clientFrame({ opcode: OP.Text, payload: truncated }));
    assertFailed(whole, 'WS_ERR_INVALID_UTF8', 1007);

    const fragmented = makeServer();
    fragmented.feed(clientFrame({ opcode: OP.Text, fin: false, payload: truncated }));
    assertNoFailure(fragmented);
    fragmented.feed(clientFrame({ opcode: OP.Continuation }));
    assertFailed(fragmented, 'WS_ERR_INVALID_UTF8', 1007);

    const split = makeServer();
    split.feed(...splitAt(clientFrame({ opcode: OP.Text, payload: truncated }), [7]));
    assertFailed(split, 'WS_ERR_INVALID_UTF8', 1007);
  });

  const MULTI = 'a€𝄞κ\u{10ffff}ß'; // 1-, 3-, 4-, 2-, 4-, 2-byte characters

  it('valid multi-byte characters split across two fragments at every byte position pass', () => {
    const bytes = Buffer.from(MULTI);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const h = makeServer();
      h.feed(
        clientFrame({ opcode: OP.Text, fin: false, payload: bytes.subarray(0, cut) }),
        clientFrame({ opcode: OP.Continuation, payload: bytes.subarray(cut) }),
      );
      assertNoFailure(h);
      assert.deepEqual(h.handler.texts(), [MULTI], `cut at ${cut}`);
    }
  });

  it('valid multi-byte characters split across chunks at every byte position pass', () => {
    const template = clientFrame({ opcode: OP.Text, payload: MULTI });
    for (let cut = 1; cut < template.length; cut++) {
      for (const second of [cut + 1, cut + 2]) {
        const h = makeServer();
        h.feed(...splitAt(Buffer.from(template), [cut, second]));
        assertNoFailure(h);
        assert.deepEqual(h.handler.texts(), [MULTI], `cuts at ${cut}, ${second}`);
      }
    }
  });

  it('valid text one byte per fragment, each fragment one byte per chunk, passes', () => {
    const bytes = Buffer.from(MULTI);
    const stream = Buffer.concat(
      [...bytes].map((b, i) =>
        clientFrame({ opcode: i === 0 ? OP.Text : OP.Continuation, fin: i === bytes.length - 1, payload: Buffer.from([b]) }),
      ),
    );
    const h = makeServer();
    for (let i = 0; i < stream.length; i++) h.feed(stream.subarray(i, i + 1));
    assertNoFailure(h);
    assert.deepEqual(h.handler.texts(), [MULTI]);
  });

  it('a long valid text (fast path) split into random chunks passes', () => {
    const text = MULTI.repeat(5000);
    const template = clientFrame({ opcode: OP.Text, payload: text });
    const random = prng(99);
    for (let run = 0; run < 20; run++) {
      const h = makeServer();
      h.feed(...randomChunks(Buffer.from(template), random, 1 + Math.floor(random() * 5000)));
      assertNoFailure(h);
      assert.deepEqual(h.handler.texts(), [text]);
    }
  });

  it('invalid UTF-8 in a close reason fails with 1007', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(1000, Buffer.from([0x6f, 0x6b, 0xed, 0xa0, 0x80])) }));
    assertFailed(h, 'WS_ERR_INVALID_UTF8', 1007);
    assert.equal(h.handler.kinds().includes('close'), false);
  });

  it('a close reason cut inside a multi-byte character fails with 1007', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(1000, Buffer.from('€').subarray(0, 2)) }));
    assertFailed(h, 'WS_ERR_INVALID_UTF8', 1007);
  });
});

// ====================================================================== §7 close handling

const INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
const VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];

describe('Autobahn 7: close handling (RFC 6455 §5.5.1, §7)', () => {
  it('an empty close frame reports 1005 and is answered with an empty close frame', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Close }));
    assert.deepEqual(h.handler.events.filter((e) => e.type !== 'write'), [{ type: 'close', code: 1005, reason: '' }]);
    assert.deepEqual(h.handler.output(), Buffer.from([0x88, 0x00]));
    assert.equal(h.protocol.closeReceived, true);
    assert.equal(h.protocol.closeSent, true);
    assert.equal(h.protocol.inputClosed, true);
  });

  it('client role: the reply to an empty close frame is masked and empty', () => {
    const h = makeClient();
    h.feed(serverFrame({ opcode: OP.Close }));
    const frames = h.handler.frames();
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.opcode, OP.Close);
    assertClientFrame(frames[0]!);
    assert.equal(frames[0]!.payload.length, 0);
    assert.deepEqual(h.handler.events.filter((e) => e.type !== 'write'), [{ type: 'close', code: 1005, reason: '' }]);
  });

  it('the close reply is written before onCloseFrame runs', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(1000) }));
    assert.deepEqual(
      h.handler.events.map((e) => e.type),
      ['write', 'close'],
    );
  });

  it('a close frame with a 1-byte payload fails with 1002', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Close, payload: Buffer.from([0x03]) }));
    assertFailed(h, 'WS_ERR_INVALID_CLOSE_FRAME', 1002);
    assert.equal(h.protocol.closeReceived, false);
  });

  for (const code of INVALID_CLOSE_CODES) {
    it(`close code ${code} fails with 1002`, () => {
      const h = makeServer();
      h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(code, 'reason') }));
      assertFailed(h, 'WS_ERR_INVALID_CLOSE_CODE', 1002);
      assert.equal(h.handler.kinds().includes('close'), false);
    });
  }

  for (const code of VALID_CLOSE_CODES) {
    it(`close code ${code} is accepted and echoed`, () => {
      const h = makeServer();
      h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(code, 'see you') }));
      assertNoFailure(h);
      assert.deepEqual(h.handler.events.filter((e) => e.type !== 'write'), [{ type: 'close', code, reason: 'see you' }]);
      const frames = h.handler.frames();
      assert.equal(frames.length, 1);
      assert.equal(frames[0]!.opcode, OP.Close);
      assertServerFrame(frames[0]!);
      assert.deepEqual(frames[0]!.payload, closePayload(code));
    });
  }

  it('a close frame with a code only reports an empty reason', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(1001) }));
    assert.deepEqual(h.handler.events.filter((e) => e.type !== 'write'), [{ type: 'close', code: 1001, reason: '' }]);
  });

  it('a close frame with the largest reason (123 bytes, 125-byte payload) is accepted (Autobahn 7.3.5)', () => {
    const reason = 'r'.repeat(MAX_CLOSE_REASON);
    assert.equal(MAX_CLOSE_REASON, 123);
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(1000, reason) }));
    assertNoFailure(h);
    assert.deepEqual(h.handler.events.filter((e) => e.type !== 'write'), [{ type: 'close', code: 1000, reason }]);
  });

  it('a close frame with a 124-byte reason (126-byte payload) fails with 1002 (Autobahn 7.3.6)', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(1000, 'r'.repeat(124)) }));
    assertFailed(h, 'WS_ERR_INVALID_CONTROL_FRAME', 1002);
  });

  it('a multi-byte UTF-8 close reason is decoded', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(4000, 'adiós 👋') }));
    assert.deepEqual(h.handler.events.filter((e) => e.type !== 'write'), [{ type: 'close', code: 4000, reason: 'adiós 👋' }]);
  });

  it('nothing is parsed after a close frame, in the same chunk or later', () => {
    const h = makeServer();
    h.feed(
      Buffer.concat([
        clientFrame({ opcode: OP.Close, payload: closePayload(1000) }),
        clientFrame({ opcode: OP.Text, payload: 'after close' }),
        clientFrame({ opcode: OP.Ping, payload: 'after close' }),
      ]),
    );
    h.feed(clientFrame({ opcode: OP.Text, payload: 'later' }), Buffer.from([0xff, 0xff, 0xff]));
    assert.deepEqual(h.handler.kinds(), ['close']);
    assert.equal(h.handler.frames().length, 1);
  });

  it('after close() no data or control frames are sent', () => {
    for (const h of [makeServer(), makeClient()]) {
      h.protocol.close(1000, Buffer.from('done'));
      const before = h.handler.writes.length;
      h.protocol.send(Buffer.from('text'), false);
      h.protocol.send(pattern(20000), true);
      h.protocol.send(Buffer.from('frag'), false, false);
      h.protocol.sendPrepared(frame({ opcode: OP.Text, payload: 'prepared' }), Buffer.from('prepared'), false);
      h.protocol.ping(Buffer.from('ping'));
      h.protocol.pong(Buffer.from('pong'));
      h.protocol.close(1001, Buffer.alloc(0));
      assert.equal(h.handler.writes.length, before);
      const frames = h.handler.frames();
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.payload]),
        [[OP.Close, closePayload(1000, 'done')]],
      );
    }
  });

  it('close() without a code sends an empty close frame', () => {
    const h = makeServer();
    h.protocol.close(undefined, Buffer.alloc(0));
    assert.deepEqual(h.handler.output(), Buffer.from([0x88, 0x00]));
    assert.equal(h.protocol.closeSent, true);
  });

  it('after close() incoming messages are still delivered until the peer closes, which is not answered again', () => {
    const h = makeServer();
    h.protocol.close(1000, Buffer.alloc(0));
    h.feed(clientFrame({ opcode: OP.Text, payload: 'still arriving' }), clientFrame({ opcode: OP.Ping, payload: 'late ping' }));
    h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(1000) }));
    assert.deepEqual(h.handler.kinds(), ['message', 'ping', 'close']);
    assert.deepEqual(h.handler.texts(), ['still arriving']);
    assert.deepEqual(
      h.handler.frames().map((f) => f.opcode),
      [OP.Close],
      'no pong after our close, and no second close',
    );
    assert.equal(h.protocol.closeReceived, true);
    assert.equal(h.protocol.inputClosed, true);
  });

  it('close() in the middle of a fragmented send still sends the close frame, and nothing after it', () => {
    const h = makeServer();
    h.protocol.send(Buffer.from('first'), false, false);
    h.protocol.close(1001, Buffer.alloc(0));
    h.protocol.send(Buffer.from('last'), false, true);
    assert.deepEqual(
      h.handler.frames().map((f) => [f.opcode, f.fin]),
      [
        [OP.Text, false],
        [OP.Close, true],
      ],
    );
  });
});

// ====================================================================== failing the connection

describe('failing the connection (RFC 6455 §7.1.7)', () => {
  it('fail() sends one close frame with the error code and a short UTF-8 reason, and stops parsing', () => {
    const h = makeServer();
    h.feed(Buffer.concat([clientFrame({ opcode: OP.Text, payload: 'ok' }), clientFrame({ opcode: 3 }), clientFrame({ opcode: OP.Text, payload: 'never' })]));
    const error = assertFailed(h, 'WS_ERR_INVALID_OPCODE', 1002);
    assert.deepEqual(h.handler.texts(), ['ok']);
    const close = h.handler.frames().find((f) => f.opcode === OP.Close)!;
    const reason = close.payload.subarray(2);
    assert.ok(reason.length <= MAX_CLOSE_REASON);
    assert.equal(reason.toString('utf8'), error.message.slice(0, MAX_CLOSE_REASON));
    // The close frame precedes the error callback.
    assert.deepEqual(
      h.handler.events.map((e) => e.type),
      ['message', 'write', 'error'],
    );
  });

  it('a failure after close() reports the error but sends no second close frame', () => {
    const h = makeServer();
    h.protocol.close(1000, Buffer.alloc(0));
    h.feed(clientFrame({ opcode: OP.Text, payload: 'x', rsv3: true }));
    const errors = h.handler.errors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'WS_ERR_RESERVED_BITS');
    assert.deepEqual(
      h.handler.frames().map((f) => [f.opcode, f.payload]),
      [[OP.Close, closePayload(1000)]],
    );
    assert.equal(h.protocol.inputClosed, true);
  });

  it('receive() after shutdown() does nothing', () => {
    const h = makeServer();
    h.protocol.shutdown();
    h.feed(clientFrame({ opcode: OP.Text, payload: 'x' }), clientFrame({ opcode: 3 }));
    assert.deepEqual(h.handler.events, []);
    assert.equal(h.protocol.inputClosed, true);
  });

  it('errors carry stable codes and close codes', () => {
    const cases: [string, (h: Harness) => Buffer[], WebSocketErrorCode, number][] = [
      ['RSV2', (h) => [peerFrame(h, { opcode: OP.Text, rsv2: true })], 'WS_ERR_RESERVED_BITS', 1002],
      ['opcode 3', (h) => [peerFrame(h, { opcode: 3 })], 'WS_ERR_INVALID_OPCODE', 1002],
      ['opcode 0xB', (h) => [peerFrame(h, { opcode: 0xb })], 'WS_ERR_INVALID_OPCODE', 1002],
      ['unmasked', () => [serverFrame({ opcode: OP.Text })], 'WS_ERR_EXPECTED_MASK', 1002],
      ['big ping', (h) => [peerHeader(h, { opcode: OP.Ping, declaredLength: 126 })], 'WS_ERR_INVALID_CONTROL_FRAME', 1002],
      ['orphan continuation', (h) => [peerFrame(h, { opcode: OP.Continuation })], 'WS_ERR_INVALID_CONTINUATION', 1002],
      [
        'text in fragmented',
        (h) => [peerFrame(h, { opcode: OP.Text, fin: false }), peerFrame(h, { opcode: OP.Text })],
        'WS_ERR_EXPECTED_CONTINUATION',
        1002,
      ],
      ['MSB length', (h) => [peerHeader(h, { opcode: OP.Binary, rawLength64: Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0]) })], 'WS_ERR_INVALID_LENGTH', 1002],
      ['too big', (h) => [peerHeader(h, { opcode: OP.Binary, declaredLength: 1025 })], 'WS_ERR_MESSAGE_TOO_BIG', 1009],
      [
        'too many fragments',
        (h) => Array.from({ length: 5 }, (_, i) => peerFrame(h, { opcode: i ? OP.Continuation : OP.Binary, fin: false })),
        'WS_ERR_TOO_MANY_FRAGMENTS',
        1008,
      ],
      ['bad UTF-8', (h) => [peerFrame(h, { opcode: OP.Text, payload: Buffer.from([0xff]) })], 'WS_ERR_INVALID_UTF8', 1007],
      ['close code 1005', (h) => [peerFrame(h, { opcode: OP.Close, payload: closePayload(1005) })], 'WS_ERR_INVALID_CLOSE_CODE', 1002],
      ['1-byte close', (h) => [peerFrame(h, { opcode: OP.Close, payload: Buffer.from([1]) })], 'WS_ERR_INVALID_CLOSE_FRAME', 1002],
    ];
    for (const [name, input, code, closeCode] of cases) {
      const h = makeServer({ maxPayload: 1024, maxFragments: 4 });
      h.feed(...input(h));
      const errors = h.handler.errors();
      assert.equal(errors.length, 1, name);
      assert.equal(errors[0]!.code, code, name);
      assert.equal(errors[0]!.closeCode, closeCode, name);
      assert.ok(errors[0] instanceof WebSocketError, name);
    }
  });
});

// ====================================================================== §9 limits

describe('Autobahn 9: limits (maxPayload, maxFragments) and tiny chunks', () => {
  for (const [form, limit, declared] of [
    ['7-bit', 100, 101],
    ['16-bit', 1000, 1001],
    ['64-bit', 70_000, 70_001],
  ] as const) {
    it(`a ${form} length over maxPayload fails with 1009 from the header alone`, () => {
      const h = makeServer({ maxPayload: limit });
      h.feed(peerHeader(h, { opcode: OP.Binary, declaredLength: declared }));
      assertFailed(h, 'WS_ERR_MESSAGE_TOO_BIG', 1009);
      assert.deepEqual(h.handler.messages(), []);
    });
  }

  it('a message of exactly maxPayload bytes is accepted', () => {
    const h = makeServer({ maxPayload: 1000 });
    h.feed(clientFrame({ opcode: OP.Binary, payload: pattern(1000) }));
    assertNoFailure(h);
    assert.deepEqual(h.handler.messages(), [{ data: pattern(1000), isBinary: true }]);
  });

  it('the sum over fragments counts towards maxPayload, checked at each fragment header', () => {
    const h = makeServer({ maxPayload: 100 });
    h.feed(clientFrame({ opcode: OP.Text, fin: false, payload: 'a'.repeat(60) }), clientFrame({ opcode: OP.Continuation, fin: false, payload: 'b'.repeat(40) }));
    assertNoFailure(h);
    h.feed(peerHeader(h, { opcode: OP.Continuation, declaredLength: 1 }));
    assertFailed(h, 'WS_ERR_MESSAGE_TOO_BIG', 1009);
    assert.deepEqual(h.handler.messages(), []);
  });

  it('control frames do not count towards maxPayload', () => {
    const h = makeServer({ maxPayload: 10 });
    h.feed(
      clientFrame({ opcode: OP.Text, fin: false, payload: '12345' }),
      clientFrame({ opcode: OP.Ping, payload: pattern(100) }),
      clientFrame({ opcode: OP.Continuation, payload: '67890' }),
    );
    assertNoFailure(h);
    assert.deepEqual(h.handler.texts(), ['1234567890']);
  });

  it('a message in exactly maxFragments frames is accepted; one more frame fails with 1008', () => {
    const ok = makeServer({ maxFragments: 4 });
    ok.feed(...Array.from({ length: 4 }, (_, i) => clientFrame({ opcode: i ? OP.Continuation : OP.Text, fin: i === 3, payload: `${i}` })));
    assertNoFailure(ok);
    assert.deepEqual(ok.handler.texts(), ['0123']);

    const tooMany = makeServer({ maxFragments: 4 });
    tooMany.feed(...Array.from({ length: 4 }, (_, i) => clientFrame({ opcode: i ? OP.Continuation : OP.Text, fin: false, payload: `${i}` })));
    assertNoFailure(tooMany);
    tooMany.feed(peerHeader(tooMany, { opcode: OP.Continuation, declaredLength: 1 }));
    assertFailed(tooMany, 'WS_ERR_TOO_MANY_FRAGMENTS', 1008);
  });

  it('control frames between fragments do not count towards maxFragments', () => {
    const h = makeServer({ maxFragments: 2 });
    h.feed(
      clientFrame({ opcode: OP.Binary, fin: false, payload: 'a' }),
      clientFrame({ opcode: OP.Ping }),
      clientFrame({ opcode: OP.Pong }),
      clientFrame({ opcode: OP.Continuation, payload: 'b' }),
    );
    assertNoFailure(h);
    assert.equal(h.handler.messages().length, 1);
  });

  it('a 1 MiB masked message fed one byte per receive() call arrives intact, in linear time', () => {
    const size = 1024 * 1024;
    const payload = randomBytes(size, prng(1));
    const bytes = clientFrame({ opcode: OP.Binary, payload });
    const h = makeServer();
    for (let i = 0; i < bytes.length; i++) h.protocol.receive(bytes.subarray(i, i + 1));
    assertNoFailure(h);
    const messages = h.handler.messages();
    assert.equal(messages.length, 1);
    assert.ok(messages[0]!.data.equals(payload));
    // A collector that copied what it had at every byte would be quadratic.
    assertLinear(
      'a message fed a byte per call',
      LINEAR_N,
      (n) => clientFrame({ opcode: OP.Binary, payload: randomBytes(n, prng(1)) }),
      (frame) => {
        const fed = makeServer();
        for (let i = 0; i < frame.length; i++) fed.protocol.receive(frame.subarray(i, i + 1));
      },
    );
  });

  it('a 256 KiB multi-byte text message fed one byte per receive() call arrives intact', () => {
    const text = 'aé€𝄞'.repeat(256 * 1024 / 10);
    const bytes = clientFrame({ opcode: OP.Text, payload: text });
    const h = makeServer();
    for (let i = 0; i < bytes.length; i++) h.protocol.receive(bytes.subarray(i, i + 1));
    assertNoFailure(h);
    assert.deepEqual(h.handler.texts(), [text]);
  });

  it('a 100 000-fragment message arrives intact, in one chunk and in random chunks, in linear time', () => {
    const count = 100_000;
    const payload = randomBytes(count, prng(2));
    /** A message of `n` one-byte fragments (the first n bytes of the payload). */
    const build = (n: number): Buffer =>
      Buffer.concat(
        Array.from({ length: n }, (_, i) =>
          clientFrame({ opcode: i === 0 ? OP.Binary : OP.Continuation, fin: i === n - 1, payload: payload.subarray(i, i + 1) }),
        ),
      );
    for (const chunked of [false, true]) {
      const bytes = build(count);
      const h = makeServer({ maxFragments: count });
      const chunks = chunked ? randomChunks(bytes, prng(3), 64) : [bytes];
      h.feed(...chunks);
      assertNoFailure(h);
      const messages = h.handler.messages();
      assert.equal(messages.length, 1);
      assert.ok(messages[0]!.data.equals(payload));
    }
    // Per fragment, constant work: a message of 8n fragments costs 8 times one of n.
    assertLinear('a message of one-byte fragments', LINEAR_N, build, (bytes) => makeServer({ maxFragments: count }).feed(bytes));
  });

  it('a 4 MiB text message in 4 KiB chunks arrives intact (Autobahn 9.1)', () => {
    const text = 'Hello, κόσμε! '.repeat(4 * 1024 * 1024 / 16);
    const bytes = clientFrame({ opcode: OP.Text, payload: text });
    const h = makeServer();
    for (let p = 0; p < bytes.length; p += 4096) h.protocol.receive(bytes.subarray(p, p + 4096));
    assertNoFailure(h);
    assert.deepEqual(h.handler.texts(), [text]);
  });
});

// ====================================================================== sending

describe('sending frames (RFC 6455 §5.1–§5.3, §5.4)', () => {
  it('every frame written by the server role is unmasked', () => {
    const h = makeServer();
    h.protocol.send(Buffer.from('text'), false);
    h.protocol.send(pattern(300), true);
    h.protocol.send(pattern(100_000), true); // header and payload as separate writes
    h.protocol.send(Buffer.from('a'), false, false);
    h.protocol.send(Buffer.from('b'), false, true);
    h.protocol.ping(Buffer.from('ping'));
    h.protocol.pong(Buffer.from('pong'));
    h.protocol.close(1000, Buffer.from('bye'));
    const frames = h.handler.frames();
    assert.equal(frames.length, 8);
    frames.forEach(assertServerFrame);
    assert.deepEqual(frames[2]!.payload, pattern(100_000));
  });

  it('every frame written by the client role is masked with a nonzero key', () => {
    const h = makeClient();
    h.protocol.send(Buffer.from('text'), false);
    h.protocol.send(pattern(300), true);
    h.protocol.send(pattern(100_000), true);
    h.protocol.send(Buffer.from('a'), false, false);
    h.protocol.send(Buffer.from('b'), false, true);
    h.protocol.ping(Buffer.from('ping'));
    h.protocol.pong(Buffer.from('pong'));
    h.protocol.close(1000, Buffer.from('bye'));
    const frames = h.handler.frames();
    assert.equal(frames.length, 8);
    frames.forEach(assertClientFrame);
    assert.deepEqual(
      frames.map((f) => f.payload),
      [Buffer.from('text'), pattern(300), pattern(100_000), Buffer.from('a'), Buffer.from('b'), Buffer.from('ping'), Buffer.from('pong'), closePayload(1000, 'bye')],
    );
  });

  it('client masking keys differ from frame to frame', () => {
    const h = makeClient();
    for (let i = 0; i < 3000; i++) h.protocol.send(Buffer.from('same'), false); // crosses a mask-pool refill
    const keys = h.handler.frames().map((f) => f.maskKey!.toString('hex'));
    assert.notEqual(keys[0], keys[1]);
    // 3000 random 32-bit keys: a repeat is possible but very unlikely (p ≈ 0.1%); many would mean a bug.
    assert.ok(new Set(keys).size >= keys.length - 2, `only ${new Set(keys).size} distinct keys`);
    // The wire bytes of identical messages differ.
    const wire = h.handler.writes.map((w) => w.subarray(6).toString('hex'));
    assert.ok(new Set(wire).size > 2990);
  });

  it("the client never mutates the caller's payload buffer", () => {
    const host = pattern(200_003);
    for (const size of [0, 1, 5, 191, 192, 193, 1000, 16 * 1024 + 1, 100_000]) {
      for (const offset of [0, 1, 3]) {
        const h = makeClient();
        const payload = host.subarray(offset, offset + size);
        const before = Buffer.from(payload);
        h.protocol.send(payload, true);
        h.protocol.send(payload, true, false);
        h.protocol.send(payload, true, true);
        h.protocol.ping(payload.subarray(0, Math.min(size, 125)));
        assert.deepEqual(payload, before, `size ${size} offset ${offset}`);
        assert.deepEqual(
          h.handler.frames().map((f) => f.payload),
          [before, before, before, before.subarray(0, Math.min(size, 125))],
        );
      }
    }
  });

  it('send() picks the text or binary opcode', () => {
    const h = makeServer();
    h.protocol.send(Buffer.from('t'), false);
    h.protocol.send(Buffer.from('b'), true);
    assert.deepEqual(
      h.handler.frames().map((f) => [f.fin, f.opcode]),
      [
        [true, OP.Text],
        [true, OP.Binary],
      ],
    );
  });

  it('fragmented sending: fin=false starts a message, later sends continue it, fin=true ends it', () => {
    for (const h of [makeServer(), makeClient()]) {
      h.protocol.send(Buffer.from('one '), false, false);
      h.protocol.send(Buffer.from('two '), true, false); // isBinary of a continuation is ignored
      h.protocol.send(Buffer.from('three'), true, true);
      h.protocol.send(Buffer.from('next'), true);
      const frames = h.handler.frames();
      assert.deepEqual(
        frames.map((f) => [f.fin, f.opcode, f.payload.toString()]),
        [
          [false, OP.Text, 'one '],
          [false, OP.Continuation, 'two '],
          [true, OP.Continuation, 'three'],
          [true, OP.Binary, 'next'],
        ],
      );
      // The output parses back into the same messages on the other side.
      const peer = h.protocol.isServerRole ? makeClient() : makeServer();
      peer.feed(h.handler.output());
      assertNoFailure(peer);
      assert.deepEqual(peer.handler.messages(), [
        { data: Buffer.from('one two three'), isBinary: false },
        { data: Buffer.from('next'), isBinary: true },
      ]);
    }
  });

  it('sendPrepared() writes a complete prepared frame as is (server role)', () => {
    const h = makeServer();
    const payload = Buffer.from('broadcast');
    const prepared = frame({ opcode: OP.Text, payload });
    h.protocol.sendPrepared(prepared, payload, false);
    assert.equal(h.handler.writeRefs.length, 1);
    assert.equal(h.handler.writeRefs[0], prepared, 'the shared frame is not copied');
    assert.deepEqual(h.handler.frames().map((f) => [f.opcode, f.payload.toString()]), [[OP.Text, 'broadcast']]);
  });

  it('sendPrepared() with a header-only frame writes the header then the payload', () => {
    const h = makeServer();
    const payload = pattern(70_000);
    const header = frame({ opcode: OP.Binary, declaredLength: payload.length });
    h.protocol.sendPrepared(header, payload, true);
    assert.equal(h.handler.writeRefs[0], header);
    assert.equal(h.handler.writeRefs[1], payload);
    assert.deepEqual(h.handler.frames().map((f) => [f.opcode, f.payload]), [[OP.Binary, payload]]);
  });

  it('sendPrepared() in the client role frames the payload itself, masked', () => {
    const h = makeClient();
    const payload = Buffer.from('prepared for servers');
    h.protocol.sendPrepared(frame({ opcode: OP.Text, payload }), payload, false);
    const frames = h.handler.frames();
    assert.equal(frames.length, 1);
    assertClientFrame(frames[0]!);
    assert.equal(frames[0]!.opcode, OP.Text);
    assert.deepEqual(frames[0]!.payload, payload);
  });

  it('sendPrepared() during a fragmented send waits for the fragmented message to end (§5.4)', () => {
    const h = makeServer();
    h.protocol.send(Buffer.from('part 1, '), false, false);
    const payload = Buffer.from('broadcast');
    h.protocol.sendPrepared(frame({ opcode: OP.Text, payload }), payload, false);
    h.protocol.send(Buffer.from('part 2, '), false, false);
    h.protocol.send(Buffer.from('part 3'), false, true);
    const peer = makeClient();
    peer.feed(h.handler.output());
    assertNoFailure(peer);
    assert.deepEqual(peer.handler.texts(), ['part 1, part 2, part 3', 'broadcast']);
  });

  it('prepared messages held during a fragmented send keep their order behind a pending encode', () => {
    const codec = new FakeCodec('sync', 'manual');
    const h = makeServer({ codec });
    h.protocol.send(Buffer.from('compressed first'), false, true, true);
    h.protocol.send(Buffer.from('frag a '), false, false);
    for (const text of ['p1', 'p2']) h.protocol.sendPrepared(frame({ opcode: OP.Text, payload: text }), Buffer.from(text), false);
    h.protocol.send(Buffer.from('frag b'), false, true);
    h.protocol.send(Buffer.from('plain last'), false, true, false);
    assert.deepEqual(h.handler.writes, []);
    codec.runAll();
    const peer = makeClient({ codec: new FakeCodec('sync') });
    peer.feed(h.handler.output());
    assertNoFailure(peer);
    assert.deepEqual(peer.handler.texts(), ['compressed first', 'frag a frag b', 'p1', 'p2', 'plain last']);
  });

  it('prepared messages held during a fragmented send are dropped if close() comes first', () => {
    const h = makeServer();
    h.protocol.send(Buffer.from('frag'), false, false);
    h.protocol.sendPrepared(frame({ opcode: OP.Text, payload: 'held' }), Buffer.from('held'), false);
    h.protocol.close(1000, Buffer.alloc(0));
    h.protocol.send(Buffer.from('end'), false, true);
    assert.deepEqual(
      h.handler.frames().map((f) => [f.opcode, f.payload.toString('latin1')]),
      [
        [OP.Text, 'frag'],
        [OP.Close, closePayload(1000).toString('latin1')],
      ],
    );
  });
});

// ====================================================================== RSV1 codec (RFC 7692 §6)

describe('RSV1 extension codec (MessageCodec, RFC 7692 §6 rules)', () => {
  it('a compressed text message (RSV1 on its only frame) is decoded and delivered', () => {
    const codec = new FakeCodec('sync');
    const h = makeServer({ codec, maxPayload: 5000 });
    const wire = fakeEncode(Buffer.from('compressed hello'));
    h.feed(clientFrame({ opcode: OP.Text, rsv1: true, payload: wire }));
    assertNoFailure(h);
    assert.deepEqual(h.handler.messages(), [{ data: Buffer.from('compressed hello'), isBinary: false }]);
    assert.deepEqual(codec.decodeCalls, [{ data: wire, maxSize: 5000 }]);
  });

  it('a compressed fragmented binary message is decoded once, over all its frames', () => {
    const codec = new FakeCodec('sync');
    const h = makeServer({ codec });
    const plain = pattern(3000);
    const wire = fakeEncode(plain);
    h.feed(
      clientFrame({ opcode: OP.Binary, rsv1: true, fin: false, payload: wire.subarray(0, 1000) }),
      clientFrame({ opcode: OP.Ping, payload: 'between' }),
      clientFrame({ opcode: OP.Continuation, fin: false, payload: wire.subarray(1000, 2000) }),
      clientFrame({ opcode: OP.Continuation, payload: wire.subarray(2000) }),
    );
    assertNoFailure(h);
    assert.equal(codec.decodeCalls.length, 1);
    assert.deepEqual(h.handler.messages(), [{ data: plain, isBinary: true }]);
  });

  it('messages without RSV1 bypass the codec', () => {
    const codec = new FakeCodec('sync');
    const h = makeServer({ codec });
    h.feed(clientFrame({ opcode: OP.Text, payload: 'plain' }), clientFrame({ opcode: OP.Binary, fin: false, payload: 'a' }), clientFrame({ opcode: OP.Continuation, payload: 'b' }));
    assert.deepEqual(h.handler.texts(), ['plain', 'ab']);
    assert.equal(codec.decodeCalls.length, 0);
  });

  it('RSV1 on a continuation frame fails with 1002, even inside a compressed message', () => {
    for (const firstCompressed of [false, true]) {
      const h = makeServer({ codec: new FakeCodec('sync') });
      h.feed(
        clientFrame({ opcode: OP.Text, rsv1: firstCompressed, fin: false, payload: 'a' }),
        clientFrame({ opcode: OP.Continuation, rsv1: true, payload: 'b' }),
      );
      assertFailed(h, 'WS_ERR_RESERVED_BITS', 1002);
    }
  });

  for (const [name, opcode] of [
    ['ping', OP.Ping],
    ['pong', OP.Pong],
    ['close', OP.Close],
  ] as const) {
    it(`RSV1 on a ${name} frame fails with 1002 even with a codec`, () => {
      const h = makeServer({ codec: new FakeCodec('sync') });
      h.feed(clientFrame({ opcode, rsv1: true, payload: opcode === OP.Close ? closePayload(1000) : 'x' }));
      assertFailed(h, 'WS_ERR_RESERVED_BITS', 1002);
    });
  }

  it('RSV2 and RSV3 still fail with a codec', () => {
    for (const bits of [{ rsv2: true }, { rsv3: true }]) {
      const h = makeServer({ codec: new FakeCodec('sync') });
      h.feed(clientFrame({ opcode: OP.Text, rsv1: true, payload: fakeEncode(Buffer.from('x')), ...bits }));
      assertFailed(h, 'WS_ERR_RESERVED_BITS', 1002);
    }
  });

  it('a compressed message over maxPayload on the wire fails with 1009 before decoding', () => {
    const codec = new FakeCodec('sync');
    const h = makeServer({ codec, maxPayload: 100 });
    h.feed(peerHeader(h, { opcode: OP.Binary, rsv1: true, declaredLength: 101 }));
    assertFailed(h, 'WS_ERR_MESSAGE_TOO_BIG', 1009);
    assert.equal(codec.decodeCalls.length, 0);
  });

  it("a decode error fails the connection with the error's close code", () => {
    for (const timing of ['sync', 'manual'] as const) {
      const codec = new FakeCodec(timing);
      const failure = new WebSocketError('Decoded message too big', 'WS_ERR_MESSAGE_TOO_BIG', 1009);
      codec.decodeError = () => failure;
      const h = makeServer({ codec });
      h.feed(clientFrame({ opcode: OP.Binary, rsv1: true, payload: 'zzz' }), clientFrame({ opcode: OP.Text, payload: 'behind' }));
      if (timing === 'manual') codec.runAll();
      assert.equal(h.handler.errors()[0]!.message, failure.message, "the codec error's message is kept");
      assertFailed(h, 'WS_ERR_MESSAGE_TOO_BIG', 1009);
      assert.deepEqual(h.handler.messages(), [], 'messages behind the failed one are never delivered');
    }
  });

  it('a decode error with another close code (1007) is passed through', () => {
    const codec = new FakeCodec('sync');
    codec.decodeError = () => new WebSocketError('Corrupt stream', 'WS_ERR_INFLATE_FAILED', 1007);
    const h = makeServer({ codec });
    h.feed(clientFrame({ opcode: OP.Text, rsv1: true, payload: 'zzz' }));
    assertFailed(h, 'WS_ERR_INFLATE_FAILED', 1007);
  });

  it('a decoded text message that is not valid UTF-8 fails with 1007', () => {
    const h = makeServer({ codec: new FakeCodec('sync') });
    h.feed(clientFrame({ opcode: OP.Text, rsv1: true, payload: fakeEncode(Buffer.from([0x61, 0xed, 0xa0, 0x80])) }));
    assertFailed(h, 'WS_ERR_INVALID_UTF8', 1007);
  });

  it('compressed text is not UTF-8 checked before decoding (the wire bytes are not text)', () => {
    const h = makeServer({ codec: new FakeCodec('sync') });
    const plain = Buffer.from('héllo wörld'); // XOR 0x5a makes invalid UTF-8 on the wire
    h.feed(clientFrame({ opcode: OP.Text, rsv1: true, fin: false, payload: fakeEncode(plain).subarray(0, 4) }), clientFrame({ opcode: OP.Continuation, payload: fakeEncode(plain).subarray(4) }));
    assertNoFailure(h);
    assert.deepEqual(h.handler.texts(), ['héllo wörld']);
  });

  it('asynchronous decode keeps message order: messages behind a slow one wait for it', () => {
    const codec = new FakeCodec('manual');
    const h = makeServer({ codec });
    h.feed(
      Buffer.concat([
        clientFrame({ opcode: OP.Text, rsv1: true, payload: fakeEncode(Buffer.from('A (compressed)')) }),
        clientFrame({ opcode: OP.Ping, payload: 'ping behind A' }),
        clientFrame({ opcode: OP.Text, payload: 'B (plain)' }),
      ]),
    );
    h.feed(clientFrame({ opcode: OP.Text, rsv1: true, payload: fakeEncode(Buffer.from('C (compressed)')) }));
    h.feed(clientFrame({ opcode: OP.Text, payload: 'D (plain)' }));
    assert.deepEqual(h.handler.events, [], 'nothing is processed while A decodes');
    assert.equal(codec.pending, 1);
    codec.runNext();
    assert.deepEqual(h.handler.texts(), ['A (compressed)', 'B (plain)']);
    assert.deepEqual(h.handler.kinds(), ['message', 'ping', 'message']);
    assert.equal(codec.pending, 1, 'C is decoding, D waits');
    codec.runNext();
    assert.deepEqual(h.handler.texts(), ['A (compressed)', 'B (plain)', 'C (compressed)', 'D (plain)']);
    assert.deepEqual(h.handler.frames().map((f) => f.payload.toString()), ['ping behind A']);
  });

  it('asynchronous decode (setImmediate) keeps order over a random mix of chunks', async () => {
    const codec = new FakeCodec('immediate');
    const h = makeServer({ codec });
    const random = prng(5);
    const expected: string[] = [];
    const frames: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const text = `message ${i} ${'x'.repeat(Math.floor(random() * 300))}`;
      expected.push(text);
      const compressed = random() < 0.5;
      const payload = compressed ? fakeEncode(Buffer.from(text)) : Buffer.from(text);
      if (random() < 0.3) {
        const cut = Math.floor(payload.length / 2);
        frames.push(clientFrame({ opcode: OP.Text, rsv1: compressed, fin: false, payload: payload.subarray(0, cut) }));
        frames.push(clientFrame({ opcode: OP.Continuation, payload: payload.subarray(cut) }));
      } else {
        frames.push(clientFrame({ opcode: OP.Text, rsv1: compressed, payload }));
      }
    }
    const chunks = randomChunks(Buffer.concat(frames), random, 500);
    // Feed half now and the rest on later turns, while decodes are in flight.
    const half = Math.floor(chunks.length / 2);
    h.feed(...chunks.slice(0, half));
    for (const chunk of chunks.slice(half)) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      h.feed(chunk);
    }
    await h.handler.until(() => h.handler.messages().length === expected.length || h.handler.errors().length > 0);
    assertNoFailure(h);
    assert.deepEqual(h.handler.texts(), expected);
  });

  it('a close frame behind a decoding message is handled after the message', () => {
    const codec = new FakeCodec('manual');
    const h = makeServer({ codec });
    h.feed(
      Buffer.concat([
        clientFrame({ opcode: OP.Binary, rsv1: true, payload: fakeEncode(Buffer.from('last words')) }),
        clientFrame({ opcode: OP.Close, payload: closePayload(1000) }),
      ]),
    );
    assert.deepEqual(h.handler.writes, []);
    codec.runAll();
    assert.deepEqual(h.handler.kinds(), ['message', 'close']);
    assert.deepEqual(h.handler.frames().map((f) => f.opcode), [OP.Close]);
  });

  it('a decode that completes after shutdown() is ignored', () => {
    const codec = new FakeCodec('manual');
    const h = makeServer({ codec });
    h.feed(clientFrame({ opcode: OP.Text, rsv1: true, payload: fakeEncode(Buffer.from('late')) }));
    h.protocol.shutdown();
    assert.equal(codec.released, 1);
    codec.runAll();
    assert.deepEqual(h.handler.events, []);
    h.protocol.shutdown();
    assert.equal(codec.released, 1, 'the codec is released once');
  });

  it('send() compresses per the codec threshold unless told otherwise; compressed frames carry RSV1', () => {
    const codec = new FakeCodec('sync');
    codec.threshold = 10;
    const h = makeServer({ codec });
    const big = Buffer.from('long enough to compress');
    h.protocol.send(Buffer.from('short'), false); // below the threshold
    h.protocol.send(big, false); // above
    h.protocol.send(big, false, true, false); // forced off
    h.protocol.send(Buffer.from('tiny'), true, true, true); // forced on
    const frames = h.handler.frames();
    assert.deepEqual(
      frames.map((f) => [f.rsv1, f.opcode, f.payload]),
      [
        [false, OP.Text, Buffer.from('short')],
        [true, OP.Text, fakeEncode(big)],
        [false, OP.Text, big],
        [true, OP.Binary, fakeEncode(Buffer.from('tiny'))],
      ],
    );
  });

  it('fragmented sends are never compressed', () => {
    const codec = new FakeCodec('sync');
    codec.threshold = 0;
    const h = makeServer({ codec });
    h.protocol.send(Buffer.from('fragment one'), false, false, true);
    h.protocol.send(Buffer.from('fragment two'), false, true, true);
    assert.equal(codec.encodeCalls.length, 0);
    assert.deepEqual(h.handler.frames().map((f) => [f.rsv1, f.opcode, f.fin]), [
      [false, OP.Text, false],
      [false, OP.Continuation, true],
    ]);
  });

  it('client role: a compressed frame is masked and carries RSV1', () => {
    const h = makeClient({ codec: new FakeCodec('sync') });
    h.protocol.send(Buffer.from('compress me please'), false, true, true);
    const [f] = h.handler.frames();
    assertClientFrame(f!);
    assert.equal(f!.rsv1, true);
    assert.deepEqual(f!.payload, fakeEncode(Buffer.from('compress me please')));
  });

  it('asynchronous encode keeps wire order: A (compressed), B (plain), ping, close', () => {
    const codec = new FakeCodec('sync', 'manual');
    const h = makeServer({ codec });
    const a = Buffer.from('A: compressed message');
    h.protocol.send(a, false, true, true);
    h.protocol.send(Buffer.from('B: plain'), false, true, false);
    const prepared = Buffer.from('C: prepared');
    h.protocol.sendPrepared(frame({ opcode: OP.Text, payload: prepared }), prepared, false);
    h.protocol.close(1000, Buffer.alloc(0));
    assert.deepEqual(h.handler.writes, [], 'everything waits for A');
    assert.equal(h.protocol.closeSent, true);
    h.protocol.send(Buffer.from('after close'), false); // dropped
    codec.runAll();
    assert.deepEqual(
      h.handler.frames().map((f) => [f.rsv1, f.opcode, f.payload.toString('latin1')]),
      [
        [true, OP.Text, fakeEncode(a).toString('latin1')],
        [false, OP.Text, 'B: plain'],
        [false, OP.Text, 'C: prepared'],
        [false, OP.Close, closePayload(1000).toString('latin1')],
      ],
    );
  });

  it('asynchronous encode with setImmediate keeps the order of many mixed sends', async () => {
    const codec = new FakeCodec('sync', 'immediate');
    codec.threshold = 50;
    const h = makeServer({ codec });
    const random = prng(11);
    const sent: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const payload = Buffer.from(`${i}:${'y'.repeat(Math.floor(random() * 100))}`);
      sent.push(payload);
      h.protocol.send(payload, true);
    }
    await h.handler.until(() => h.handler.frames().length === sent.length);
    const frames = h.handler.frames();
    assert.deepEqual(
      frames.map((f) => (f.rsv1 ? fakeEncode(f.payload) : f.payload)),
      sent,
    );
    assert.ok(frames.some((f) => f.rsv1) && frames.some((f) => !f.rsv1));
  });

  it('an encode error fails the connection with 1011 and the close frame is written', () => {
    for (const timing of ['sync', 'manual'] as const) {
      const codec = new FakeCodec('sync', timing);
      codec.encodeError = () => new Error('deflate exploded');
      const h = makeServer({ codec });
      h.protocol.send(Buffer.from('will not compress'), false, true, true);
      h.protocol.send(Buffer.from('behind it'), false, true, false);
      if (timing === 'manual') codec.runAll();
      const errors = h.handler.errors();
      assert.equal(errors.length, 1, timing);
      assert.equal(errors[0]!.closeCode, 1011);
      assert.equal(errors[0]!.code, 'WS_ERR_DEFLATE_FAILED', 'a compression failure has its own code');
      const frames = h.handler.frames();
      assert.deepEqual(
        frames.filter((f) => f.opcode === OP.Close).map((f) => f.payload.readUInt16BE(0)),
        [1011],
        `${timing}: the close frame must not wait behind the failed message`,
      );
      assert.equal(frames.at(-1)!.opcode, OP.Close);
      assert.equal(frames.some((f) => f.rsv1), false);
    }
  });

  it('an encode that completes after shutdown() writes nothing', () => {
    const codec = new FakeCodec('sync', 'manual');
    const h = makeServer({ codec });
    h.protocol.send(Buffer.from('pending'), false, true, true);
    h.protocol.shutdown();
    codec.runAll();
    assert.deepEqual(h.handler.writes, []);
  });
});

describe('the adapter contract: where receive() stops, when the transport ends, write tags', () => {
  it('receive() consumes whole chunks while the handler takes everything', () => {
    const h = makeServer();
    const chunk = Buffer.concat([clientFrame({ opcode: OP.Text, payload: 'a' }), clientFrame({ opcode: OP.Text, payload: 'b' })]);
    assert.equal(h.protocol.receive(chunk), chunk.length);
    assert.equal(h.protocol.receive(clientFrame({ opcode: OP.Text, payload: 'c' }).subarray(0, 3)), 3, 'a partial header is buffered');
    assert.deepEqual(h.handler.texts(), ['a', 'b']);
  });

  it('a handler answering false stops parsing right after its message, even within one chunk', () => {
    const h = makeServer();
    const frames = ['one', 'two', 'three'].map((text) => clientFrame({ opcode: OP.Text, payload: text }));
    h.handler.holdInput = true;
    const chunk = Buffer.concat(frames);
    assert.equal(h.protocol.receive(chunk), frames[0]!.length, 'receive() returns where it stopped');
    assert.deepEqual(h.handler.texts(), ['one']);
    // The adapter feeds the rest again later; with input still held, one message at a time.
    assert.equal(h.protocol.receive(chunk.subarray(frames[0]!.length)), frames[1]!.length);
    assert.deepEqual(h.handler.texts(), ['one', 'two']);
    h.handler.holdInput = false;
    const rest = chunk.subarray(frames[0]!.length + frames[1]!.length);
    assert.equal(h.protocol.receive(rest), rest.length);
    assert.deepEqual(h.handler.texts(), ['one', 'two', 'three']);
    assertNoFailure(h);
  });

  it('holding after a ping or a pong stops there too; a fragmented message resumes intact', () => {
    for (const control of [OP.Ping, OP.Pong]) {
      const h = makeServer();
      h.handler.holdWhen = (event) => event.type === 'ping' || event.type === 'pong';
      h.feed(
        Buffer.concat([
          clientFrame({ opcode: OP.Text, fin: false, payload: 'frag' }),
          clientFrame({ opcode: control, payload: 'between' }),
          clientFrame({ opcode: OP.Continuation, payload: 'mented' }),
        ]),
      );
      assert.deepEqual(h.handler.kinds(), [control === OP.Ping ? 'ping' : 'pong']);
      assert.ok(h.waiting() > 0);
      h.handler.holdWhen = null;
      h.release();
      assert.deepEqual(h.handler.texts(), ['fragmented']);
      assert.equal(h.waiting(), 0);
      assertNoFailure(h);
    }
  });

  it('any chunking, holding after every event, gives the same events as one chunk', () => {
    const random = prng(77);
    const frames: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const r = random();
      if (r < 0.2) frames.push(clientFrame({ opcode: OP.Ping, payload: `p${i}` }));
      else if (r < 0.4) {
        frames.push(clientFrame({ opcode: OP.Binary, fin: false, payload: randomBytes(50, random) }));
        frames.push(clientFrame({ opcode: OP.Continuation, payload: randomBytes(2000, random) }));
      } else frames.push(clientFrame({ opcode: OP.Text, payload: `message ${i}` }));
    }
    const stream = Buffer.concat(frames);
    const whole = makeServer();
    whole.feed(Buffer.from(stream));
    // An adapter whose handler holds input after every event: one receive() per event at least.
    const held = makeServer();
    held.handler.holdInput = true;
    const queue = randomChunks(Buffer.from(stream), random, 300);
    let calls = 0;
    while (queue.length > 0) {
      const chunk = queue.shift()!;
      const used = held.protocol.receive(chunk);
      assert.ok(used > 0 || chunk.length === 0, 'every call makes progress');
      if (used < chunk.length) queue.unshift(chunk.subarray(used));
      calls++;
    }
    assert.ok(calls >= held.handler.kinds().length);
    assert.deepEqual(held.handler.describe(), whole.handler.describe());
    assert.deepEqual(held.handler.messages(), whole.handler.messages());
  });

  it('an asynchronous decode stops receive() after the compressed frame; onDecoded() says when to go on', () => {
    const codec = new FakeCodec('manual');
    const h = makeServer({ codec });
    let decoded = 0;
    h.handler.inputReady = () => decoded++;
    const compressed = clientFrame({ opcode: OP.Text, rsv1: true, payload: fakeEncode(Buffer.from('slow')) });
    const plain = clientFrame({ opcode: OP.Text, payload: 'behind' });
    assert.equal(h.protocol.receive(Buffer.concat([compressed, plain])), compressed.length);
    assert.equal(h.protocol.decodePending, true);
    assert.equal(h.protocol.receive(plain), 0, 'nothing is taken while the message decodes');
    codec.runNext();
    assert.equal(h.protocol.decodePending, false);
    assert.deepEqual(h.handler.texts(), ['slow']);
    assert.equal(decoded, 1);
    assert.equal(h.protocol.receive(plain), plain.length);
    assert.deepEqual(h.handler.texts(), ['slow', 'behind']);
  });

  it('a synchronous decode neither stops receive() nor calls onDecoded()', () => {
    const h = makeServer({ codec: new FakeCodec('sync') });
    let decoded = 0;
    h.handler.inputReady = () => decoded++;
    const chunk = Buffer.concat([
      clientFrame({ opcode: OP.Text, rsv1: true, payload: fakeEncode(Buffer.from('fast')) }),
      clientFrame({ opcode: OP.Text, payload: 'next' }),
    ]);
    assert.equal(h.protocol.receive(chunk), chunk.length);
    assert.deepEqual(h.handler.texts(), ['fast', 'next']);
    assert.equal(decoded, 0);
  });

  it('holding input over an asynchronously decoded message keeps what follows waiting', () => {
    const codec = new FakeCodec('manual');
    const h = makeServer({ codec });
    h.feed(
      Buffer.concat([
        clientFrame({ opcode: OP.Text, rsv1: true, payload: fakeEncode(Buffer.from('big')) }),
        clientFrame({ opcode: OP.Text, payload: 'small' }),
      ]),
    );
    h.handler.holdInput = true; // the application paused while the message decoded
    codec.runNext();
    assert.deepEqual(h.handler.texts(), ['big']);
    assert.ok(h.waiting() > 0, 'the small message waits');
    h.release();
    assert.deepEqual(h.handler.texts(), ['big', 'small']);
  });

  it('a failed asynchronous decode still calls onDecoded() (to read the peer\'s answer) and input is ignored after', () => {
    const codec = new FakeCodec('manual');
    codec.decodeError = () => new WebSocketError('bad data', 'WS_ERR_INFLATE_FAILED', 1007);
    const h = makeServer({ codec });
    let decoded = 0;
    h.handler.inputReady = () => decoded++;
    h.protocol.receive(clientFrame({ opcode: OP.Binary, rsv1: true, payload: 'x' }));
    codec.runNext();
    assert.equal(decoded, 1);
    const late = clientFrame({ opcode: OP.Text, payload: 'late' });
    assert.equal(h.protocol.receive(late), late.length, 'consumed and ignored');
    assertFailed(h, 'WS_ERR_INFLATE_FAILED', 1007);
  });

  it('input after a close frame is consumed and ignored', () => {
    const h = makeServer();
    const chunk = Buffer.concat([clientFrame({ opcode: OP.Close, payload: closePayload(1000) }), clientFrame({ opcode: OP.Text, payload: 'x' })]);
    assert.equal(h.protocol.receive(chunk), chunk.length);
    assert.deepEqual(h.handler.kinds(), ['close']);
  });

  it('§7.1.1: the server ends the transport once it has sent its reply to the peer\'s close frame', () => {
    const h = makeServer();
    h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(1000) }));
    assert.equal(h.handler.endCalls, 1);
    assert.equal(h.handler.writesBeforeEnd, h.handler.writes.length, 'after the close frame');
    assert.deepEqual(h.handler.frames().map((f) => f.opcode), [OP.Close]);
  });

  it('§7.1.1: the server that closed first ends the transport when the reply arrives, not before', () => {
    const h = makeServer();
    h.protocol.close(1001, Buffer.alloc(0));
    assert.equal(h.handler.endCalls, 0, 'waits for the peer\'s close frame');
    h.feed(clientFrame({ opcode: OP.Close, payload: closePayload(1001) }));
    assert.equal(h.handler.endCalls, 1);
  });

  it('§7.1.1: a client never ends the transport after a clean close exchange (the server does)', () => {
    const first = makeClient();
    first.feed(serverFrame({ opcode: OP.Close, payload: closePayload(1000) }));
    assert.deepEqual(first.handler.frames().map((f) => f.opcode), [OP.Close], 'the client replied');
    assert.equal(first.handler.endCalls, 0);
    const second = makeClient();
    second.protocol.close(1000, Buffer.alloc(0));
    second.feed(serverFrame({ opcode: OP.Close, payload: closePayload(1000) }));
    assert.equal(second.handler.endCalls, 0);
  });

  it('§7.1.7: the endpoint that fails the connection ends the transport after its close frame, in both roles', () => {
    for (const h of [makeServer(), makeClient()]) {
      h.feed(peerFrame(h, { opcode: OP.Ping, payload: Buffer.alloc(126) }));
      assert.equal(h.handler.endCalls, 1);
      assert.equal(h.handler.writesBeforeEnd, h.handler.writes.length);
      assert.equal(h.handler.frames().at(-1)!.opcode, OP.Close);
    }
  });

  it('§7.1.7: a compression failure ends the transport after the close frame', () => {
    const codec = new FakeCodec('sync', 'manual');
    codec.encodeError = () => new Error('no memory');
    const h = makeClient({ codec });
    h.protocol.send(Buffer.from('to compress'), false, true, true);
    codec.runAll();
    assert.equal(h.handler.endCalls, 1);
    assert.equal(h.handler.frames().at(-1)!.opcode, OP.Close);
  });

  it('a send tag comes with the last write of its frame, in send order, also behind an encode', () => {
    const codec = new FakeCodec('sync', 'manual');
    const h = makeServer({ codec });
    const tags = ['small', 'large', 'compressed', 'after'].map((name) => Object.assign(() => {}, { label: name }));
    h.protocol.send(Buffer.from('small'), false, true, false, tags[0]);
    h.protocol.send(Buffer.alloc(20_000, 1), true, true, false, tags[1]);
    h.protocol.send(Buffer.from('compress me'), false, true, true, tags[2]);
    h.protocol.send(Buffer.from('after'), false, true, false, tags[3]);
    h.protocol.ping(Buffer.from('untagged'));
    const labels = (): (string | null)[] => h.handler.writeTags.map((tag) => (tag === undefined ? null : (tag as unknown as { label: string }).label));
    // The large frame is two writes (header, then the payload as is): the tag is on the payload.
    assert.deepEqual(labels(), ['small', null, 'large', null]);
    codec.runAll();
    assert.deepEqual(labels(), ['small', null, 'large', null, 'compressed', 'after']);
  });
});

describe('state kept between reads only while something spans them (issue 13)', () => {
  /** The core's private state objects (null: nothing kept). */
  function kept(h: Harness): { rx: unknown; tx: unknown } {
    const core = h.protocol as unknown as { rx: unknown; tx: unknown };
    assert.ok('rx' in core && 'tx' in core, 'the core has no rx/tx state any more; update this test');
    return { rx: core.rx, tx: core.tx };
  }

  it('a frame header arriving a byte at a time between two whole frames, for every header form', () => {
    for (const length of [0, 5, 125, 126, 300, 70_000]) {
      for (const opcode of [OP.Binary, OP.Ping]) {
        if (opcode === OP.Ping && length > 125) continue;
        const h = makeServer();
        const middle = peerFrame(h, { opcode, payload: pattern(length) });
        const headerSize = middle.length - length;
        h.feed(peerFrame(h, { opcode: OP.Text, payload: 'before' }));
        assert.equal(kept(h).rx, null);
        for (let i = 0; i < headerSize; i++) {
          h.feed(middle.subarray(i, i + 1));
          // Once the header is complete, a payload still to come keeps the frame's state.
          const spans = i < headerSize - 1 || length > 0;
          assert.equal(kept(h).rx !== null, spans, `after header byte ${i} of ${headerSize}`);
        }
        // The payload and the next whole frame in one chunk.
        h.feed(Buffer.concat([middle.subarray(headerSize), peerFrame(h, { opcode: OP.Text, payload: 'after' })]));
        assert.equal(kept(h).rx, null, `nothing kept after a ${length}-byte frame completed`);
        const got = h.handler.events.filter((e) => e.type === 'message' || e.type === 'ping');
        assert.equal(got.length, 3);
        const data = (got[1] as { data: Buffer }).data;
        assert.deepEqual(data, pattern(length));
        assert.equal((got[0] as { data: Buffer }).data.toString(), 'before');
        assert.equal((got[2] as { data: Buffer }).data.toString(), 'after');
      }
    }
  });

  it('the state of a message spread over reads is dropped once it completes, also with control frames inside', () => {
    const h = makeServer();
    const whole = peerFrame(h, { opcode: OP.Binary, payload: pattern(1000) });
    h.feed(whole.subarray(0, 10));
    assert.notEqual(kept(h).rx, null);
    h.feed(whole.subarray(10));
    assert.equal(kept(h).rx, null);

    h.feed(peerFrame(h, { opcode: OP.Text, payload: 'ab', fin: false }));
    assert.notEqual(kept(h).rx, null, 'an open fragmented message is kept');
    h.feed(peerFrame(h, { opcode: OP.Ping, payload: 'p' }));
    assert.notEqual(kept(h).rx, null, 'a whole ping inside it keeps the message');
    const ping = peerFrame(h, { opcode: OP.Ping, payload: 'split ping' });
    h.feed(ping.subarray(0, 8));
    h.feed(ping.subarray(8));
    assert.notEqual(kept(h).rx, null, 'a split ping inside it keeps the message');
    h.feed(peerFrame(h, { opcode: OP.Continuation, payload: 'cd' }));
    assert.equal(kept(h).rx, null);
    const messages = h.handler.messages();
    assert.equal(messages.length, 2);
    assert.deepEqual(messages[0]!.data, pattern(1000));
    assert.equal(messages[1]!.data.toString(), 'abcd');
    assert.equal(h.handler.frames().filter((f) => f.opcode === OP.Pong).length, 2);

    // A split control frame alone is dropped too.
    h.feed(ping.subarray(0, 3));
    h.feed(ping.subarray(3));
    assert.equal(kept(h).rx, null);
  });

  it('send state exists only while a ping is coalesced or a message waits for its encode', () => {
    const codec = new FakeCodec('sync', 'manual');
    const h = makeServer({ codec });
    h.protocol.send(Buffer.from('plain'), false, true, false);
    assert.equal(kept(h).tx, null);
    h.protocol.send(Buffer.from('compress me'), false, true, true);
    h.protocol.send(Buffer.from('behind it'), false, true, false);
    assert.notEqual(kept(h).tx, null);
    assert.ok(h.protocol.queuedSendBytes > 0);
    codec.runAll();
    assert.equal(kept(h).tx, null);
    assert.equal(h.protocol.queuedSendBytes, 0);

    h.handler.backedUp = true;
    h.feed(peerFrame(h, { opcode: OP.Ping, payload: 'one' }));
    assert.notEqual(kept(h).tx, null);
    h.handler.backedUp = false;
    h.protocol.flushPendingPong();
    assert.equal(kept(h).tx, null);
    assert.deepEqual(
      h.handler.frames().filter((f) => f.opcode === OP.Pong).map((f) => f.payload.toString()),
      ['one'],
    );
  });
});
