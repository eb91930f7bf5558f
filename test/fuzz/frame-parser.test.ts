// Property-based fuzzing of the sans-I/O protocol core's frame parser (RFC 6455 §5): any byte
// string in any chunking never throws, never buffers more than the limits, and produces the same
// events whatever the chunking; frame sequences generated from a model (fragmentation, control
// frames interleaved, masking in both roles, an RSV1 codec) round-trip exactly, both through the
// test-side frame builder and through the core's own sender.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeProtocol, type ProtocolEvent } from '../protocol/support/fake-handler.js';
import { FakeCodec, type Timing } from '../protocol/support/fake-codec.js';
import { OP, closePayload, frame, parseFrames, type FrameSpec } from '../protocol/support/frames.js';
import { useNativeMasking } from '../../src/protocol/mask.js';
import { byteChunks, check, chunksAt, cutPoints, fc } from './support/fuzz.js';

// ------------------------------------------------------------------ adapter (the core's API)
// Everything this file knows about WebSocketProtocol is in this section: runCore() feeds bytes
// in, sendWithCore() has it write frames.

type Role = 'server' | 'client';

interface CoreSetup {
  role: Role;
  maxPayload: number;
  maxFragments: number;
  /** An RSV1 codec (the fake one), decoding synchronously or only when the test says so. */
  codec: 'none' | Timing;
}

interface CoreRun {
  /** Handler events in order (writes included as their lengths). */
  events: string[];
  /** The frames written, unmasked. */
  output: string[];
  /** The most the parser held between two chunks: header bytes, control payload, message bytes. */
  peak: { header: number; control: number; message: number };
}

/**
 * Feeds `chunks` to a fresh core in order. With a 'manual' codec, `decodeAfter[i]` runs the
 * pending decodes after chunk i; whatever is still pending runs at the end.
 */
function runCore(setup: CoreSetup, chunks: readonly Buffer[], decodeAfter: readonly boolean[] = []): CoreRun {
  const codec = setup.codec === 'none' ? null : new FakeCodec(setup.codec);
  const { protocol, handler, feed } = makeProtocol(setup.role, {
    maxPayload: setup.maxPayload,
    maxFragments: setup.maxFragments,
    codec,
  });
  // Private parser state, read only to check what it buffers (rx: null while nothing spans reads).
  const core = protocol as unknown as {
    rx: {
      headerLength: number;
      control: Buffer | null;
      pieces: { length: number } | null;
      body: Buffer | null;
    } | null;
  };
  // If the core's internals change, fail here rather than check nothing.
  assert.ok('rx' in protocol, "runCore(): WebSocketProtocol has no 'rx' any more; update the adapter");
  const peak = { header: 0, control: 0, message: 0 };
  const observe = (): void => {
    const state = core.rx;
    if (state === null) return;
    peak.header = Math.max(peak.header, state.headerLength);
    peak.control = Math.max(peak.control, state.control?.length ?? 0);
    peak.message = Math.max(peak.message, state.pieces?.length ?? 0, state.body?.length ?? 0);
  };
  const runDecodes = (): void => {
    while (codec !== null && codec.pending > 0) {
      codec.runNext();
      observe();
    }
  };
  chunks.forEach((chunk, i) => {
    feed(chunk);
    observe();
    if (decodeAfter[i]) runDecodes();
  });
  runDecodes();
  return { events: handler.events.map(describeEvent), output: handler.frames().map(describeFrame), peak };
}

/** What a test asks the sending side of the core to do. */
type SendOp =
  | { kind: 'send'; data: Buffer; isBinary: boolean; fin: boolean; compress: boolean }
  | { kind: 'ping'; data: Buffer }
  | { kind: 'pong'; data: Buffer }
  | { kind: 'close'; code: number; reason: Buffer };

/** Runs `ops` on a fresh core (with the fake RSV1 codec when `codec`); returns the bytes it wrote. */
function sendWithCore(role: Role, codec: boolean, ops: readonly SendOp[]): Buffer {
  const { protocol, handler } = makeProtocol(role, { codec: codec ? new FakeCodec('sync') : null });
  for (const op of ops) {
    if (op.kind === 'send') protocol.send(op.data, op.isBinary, op.fin, op.compress);
    else if (op.kind === 'ping') protocol.ping(op.data);
    else if (op.kind === 'pong') protocol.pong(op.data);
    else protocol.close(op.code, op.reason);
  }
  return handler.output();
}

// ------------------------------------------------------------------------------------ helpers

function describeEvent(event: ProtocolEvent): string {
  switch (event.type) {
    case 'message':
      return `message ${event.isBinary ? 'binary' : 'text'} ${event.data.toString('hex')}`;
    case 'ping':
    case 'pong':
      return `${event.type} ${event.data.toString('hex')}`;
    case 'close':
      return `close ${event.code} ${JSON.stringify(event.reason)}`;
    case 'error':
      return `error ${event.error.code} ${event.error.closeCode}`;
    case 'write':
      return `write ${event.length}`;
  }
}

function describeFrame(f: { opcode: number; fin: boolean; rsv1: boolean; payload: Buffer }): string {
  return `${f.opcode}${f.fin ? '' : ' more'}${f.rsv1 ? ' rsv1' : ''} ${f.payload.toString('hex')}`;
}

/** Feeds a fresh copy of `input` (the parser unmasks in place) cut into `chunks(copy)`. */
function runOn(setup: CoreSetup, input: Uint8Array, chunking: (data: Buffer) => Buffer[], decodeAfter?: boolean[]): CoreRun {
  return runCore(setup, chunking(Buffer.from(input)), decodeAfter);
}

const whole = (data: Buffer): Buffer[] => [data];

function assertWithinLimits(setup: CoreSetup, run: CoreRun): void {
  // §5.2: a header is at most 14 bytes; §5.5: control payloads at most 125 bytes.
  assert.ok(run.peak.header <= 14, `header buffer ${run.peak.header}`);
  assert.ok(run.peak.control <= 125, `control buffer ${run.peak.control}`);
  assert.ok(run.peak.message <= setup.maxPayload, `message buffer ${run.peak.message} > ${setup.maxPayload}`);
}

// ---------------------------------------------------------------------------------- arbitraries

const role = fc.constantFrom<Role>('server', 'client');
const maskKey = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((k) => Buffer.from(k));

/** Payload bytes: random, valid UTF-8 text (any plane), near the 125/126 boundaries, or close bodies. */
/**
 * UTF-8 at the edges of RFC 3629 §4: the first and last valid second bytes after E0, ED, F0, F4,
 * overlong and out-of-range leads, stray continuations, truncated sequences, with ASCII runs so
 * that texts are long enough for the validator's bulk path as well as its byte-wise one.
 */
const edgyUtf8 = fc
  .array(
    fc.constantFrom(
      'e0a080', 'e09f80', 'ed9fbf', 'eda080', 'f0908080', 'f08fbfbf', 'f48fbfbf', 'f4908080',
      'c280', 'c1bf', 'c0af', 'f5808080', '80', 'bf', 'e0a0', 'f09080', 'efbfbf', 'dfbf',
      '61', '6161616161616161', '61616161616161616161616161616161',
    ),
    { maxLength: 24 },
  )
  .map((parts) => Buffer.from(parts.join(''), 'hex'));

const payloadBytes = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 140 }).map((b) => Buffer.from(b)) },
  { weight: 3, arbitrary: edgyUtf8 },
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map((s) => Buffer.from(s, 'utf8')) },
  { weight: 3, arbitrary: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(125, 126) }, { weight: 1, arbitrary: fc.integer({ min: 120, max: 300 }) }).map((n) => Buffer.alloc(n, 0x61)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.constantFrom(1000, 1005, 1015, 2999, 3000, 4999)), fc.string({ maxLength: 10 }))
      .map(([code, reason]) => closePayload(code, reason)),
  },
);

/** One frame as a peer might send it, valid or not: any opcode, RSV bits, mask bit, length form. */
const anyFrame = (receiver: Role): fc.Arbitrary<Buffer> =>
  fc.record({
    opcode: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(0, 1, 2, 8, 9, 10) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
    fin: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    rsv: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) }),
    masked: fc.oneof({ weight: 12, arbitrary: fc.constant<boolean | null>(null) }, { weight: 1, arbitrary: fc.boolean() }),
    mask: maskKey,
    payload: payloadBytes,
    lengthForm: fc.constantFrom<7 | 16 | 64 | undefined>(undefined, undefined, undefined, 16, 64),
    declaredLength: fc.oneof(
      { weight: 10, arbitrary: fc.constant<number | undefined>(undefined) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 70000 }) },
    ),
    rawLength64: fc.oneof(
      { weight: 20, arbitrary: fc.constant<Buffer | undefined>(undefined) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b)) },
    ),
  }).map((f) => {
    const declared = f.declaredLength ?? f.payload.length;
    const form = f.lengthForm === 7 || (f.lengthForm === 16 && declared > 0xffff) ? undefined : f.lengthForm;
    // null: masked as the role's peer must (§5.1); true/false: forced either way.
    const masked = f.masked ?? receiver === 'server';
    const spec: FrameSpec = {
      opcode: f.opcode,
      payload: f.payload,
      fin: f.fin,
      rsv1: (f.rsv & 4) !== 0,
      rsv2: (f.rsv & 2) !== 0,
      rsv3: (f.rsv & 1) !== 0,
      mask: masked ? f.mask : null,
      declaredLength: declared,
    };
    if (form !== undefined) spec.lengthForm = form;
    if (f.rawLength64 !== undefined) spec.rawLength64 = f.rawLength64;
    return frame(spec);
  });

/** Damage to a byte stream: none, truncation, a flipped bit, or inserted random bytes. */
const mutation = fc.oneof(
  { weight: 4, arbitrary: fc.constant((data: Buffer): Buffer => data) },
  { weight: 1, arbitrary: fc.nat().map((n) => (data: Buffer): Buffer => data.subarray(0, n % (data.length + 1))) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([n, bit]) => (data: Buffer): Buffer => {
      if (data.length === 0) return data;
      const out = Buffer.from(data);
      out[n % out.length]! ^= 1 << bit;
      return out;
    }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([n, bytes]) => (data: Buffer): Buffer => {
      const at = n % (data.length + 1);
      return Buffer.concat([data.subarray(0, at), bytes, data.subarray(at)]);
    }),
  },
);

// ------------------------------------------------------------------------- model round trips

/** A control frame interleaved in the stream. */
type Control = { kind: 'ping' | 'pong'; data: Buffer };
/** One message: its payload cut into fragments, with control frames before each fragment. */
interface ModelMessage {
  isBinary: boolean;
  payload: Buffer;
  cuts: number[];
  controls: Control[][];
  compress: boolean;
}
interface Model {
  messages: ModelMessage[];
  close: { code: number; reason: string } | null;
  trailingControls: Control[];
}

const control = fc.record({
  kind: fc.constantFrom<'ping' | 'pong'>('ping', 'pong'),
  data: fc.uint8Array({ maxLength: 125 }).map((b) => Buffer.from(b)),
});

const reasonText = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => {
  // §5.5: the whole close payload fits 125 bytes, so the reason fits 123; cut at a character.
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > 123) break;
    out += ch;
  }
  return out;
});

const modelMessage = fc
  .record({
    isBinary: fc.boolean(),
    binary: fc.uint8Array({ maxLength: 400 }),
    text: fc.string({ unit: fc.oneof(fc.constant('a'), fc.constantFrom('é', '€', '\u{1f600}', '\u{10ffff}'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 120 }),
    cuts: fc.array(fc.nat(), { maxLength: 5 }),
    controls: fc.array(fc.array(control, { maxLength: 2 }), { maxLength: 6 }),
    compress: fc.boolean(),
  })
  .map(({ isBinary, binary, text, cuts, controls, compress }): ModelMessage => {
    const payload = isBinary ? Buffer.from(binary) : Buffer.from(text, 'utf8');
    // Fragments may split a UTF-8 sequence (§5.6: text is validated over the whole message).
    const points = [...new Set(cuts.map((c) => c % (payload.length + 1)))].sort((a, b) => a - b);
    return { isBinary, payload, cuts: points, controls, compress };
  });

const closeCode = fc.oneof(
  fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014),
  fc.integer({ min: 3000, max: 4999 }),
);

const model: fc.Arbitrary<Model> = fc.record({
  messages: fc.array(modelMessage, { maxLength: 6 }),
  close: fc.option(fc.record({ code: closeCode, reason: reasonText }), { nil: null }),
  trailingControls: fc.array(control, { maxLength: 2 }),
});

function fragmentsOf(message: ModelMessage): Buffer[] {
  const out: Buffer[] = [];
  let last = 0;
  for (const cut of message.cuts) {
    out.push(message.payload.subarray(last, cut));
    last = cut;
  }
  out.push(message.payload.subarray(last));
  return out;
}

/** Whether this message goes out compressed (RFC 7692: whole messages only, here). */
function compressed(message: ModelMessage, codec: boolean): boolean {
  return codec && message.compress && message.cuts.length === 0;
}

/** The events the receiving core must report for the model, in order. */
function expectedEvents(m: Model): string[] {
  const out: string[] = [];
  const controlEvent = (c: Control): string => `${c.kind} ${c.data.toString('hex')}`;
  for (const message of m.messages) {
    for (const c of message.controls.flat()) out.push(controlEvent(c));
    out.push(`message ${message.isBinary ? 'binary' : 'text'} ${message.payload.toString('hex')}`);
  }
  for (const c of m.trailingControls) out.push(controlEvent(c));
  if (m.close !== null) out.push(`close ${m.close.code} ${JSON.stringify(m.close.reason)}`);
  return out;
}

/** What the receiving core must write back: a pong per ping (§5.5.2), the echoed close (§5.5.1). */
function expectedReplies(m: Model): string[] {
  const pings = [...m.messages.flatMap((msg) => msg.controls.flat()), ...m.trailingControls].filter((c) => c.kind === 'ping');
  const out = pings.map((c) => `10 ${c.data.toString('hex')}`);
  if (m.close !== null) out.push(`8 ${closePayload(m.close.code).toString('hex')}`);
  return out;
}

/**
 * The model as the test-side builder frames it (independent of the core's frame writer).
 * Controls attached past the last fragment go before the last one.
 */
function buildStream(m: Model, peerRole: Role, masks: Buffer[], codec: boolean): Buffer {
  const frames: Buffer[] = [];
  let k = 0;
  const mask = (): Buffer | null => (peerRole === 'client' ? masks[k++ % masks.length]! : null);
  const controlFrame = (c: Control): Buffer => frame({ opcode: c.kind === 'ping' ? OP.Ping : OP.Pong, payload: c.data, mask: mask() });
  for (const message of m.messages) {
    const fragments = fragmentsOf(message);
    const encode = compressed(message, codec);
    fragments.forEach((piece, i) => {
      const before = i === fragments.length - 1 ? message.controls.slice(i).flat() : message.controls[i] ?? [];
      for (const c of before) frames.push(controlFrame(c));
      frames.push(
        frame({
          opcode: i > 0 ? OP.Continuation : message.isBinary ? OP.Binary : OP.Text,
          fin: i === fragments.length - 1,
          rsv1: encode,
          payload: encode ? encodeFake(piece) : piece,
          mask: mask(),
        }),
      );
    });
  }
  for (const c of m.trailingControls) frames.push(controlFrame(c));
  if (m.close !== null) frames.push(frame({ opcode: OP.Close, payload: closePayload(m.close.code, m.close.reason), mask: mask() }));
  return Buffer.concat(frames);
}

function encodeFake(data: Buffer): Buffer {
  const codec = new FakeCodec('sync');
  let out: Buffer | undefined;
  codec.encode(data, (_, encoded) => (out = encoded));
  return out!;
}

/** The model as the core itself sends it (the peer role's send/ping/pong/close). */
function sendStream(m: Model, peerRole: Role, codec: boolean): Buffer {
  const ops: SendOp[] = [];
  const controlOp = (c: Control): SendOp => (c.kind === 'ping' ? { kind: 'ping', data: c.data } : { kind: 'pong', data: c.data });
  for (const message of m.messages) {
    const fragments = fragmentsOf(message);
    fragments.forEach((piece, i) => {
      const before = i === fragments.length - 1 ? message.controls.slice(i).flat() : message.controls[i] ?? [];
      for (const c of before) ops.push(controlOp(c));
      ops.push({ kind: 'send', data: piece, isBinary: message.isBinary, fin: i === fragments.length - 1, compress: compressed(message, codec) });
    });
  }
  for (const c of m.trailingControls) ops.push(controlOp(c));
  if (m.close !== null) ops.push({ kind: 'close', code: m.close.code, reason: Buffer.from(m.close.reason) });
  return sendWithCore(peerRole, codec, ops);
}

const roundTrip = fc.record({
  model,
  receiver: role,
  masks: fc.array(maskKey, { minLength: 1, maxLength: 4 }),
  codec: fc.boolean(),
  cuts: cutPoints,
});

function assertRoundTrip(receiver: Role, codec: boolean, stream: Buffer, cuts: number[], m: Model): void {
  const run = runOn({ role: receiver, maxPayload: 1024, maxFragments: 16, codec: codec ? 'sync' : 'none' }, stream, (data) => chunksAt(data, cuts));
  assert.deepEqual(
    run.events.filter((e) => !e.startsWith('write ')),
    expectedEvents(m),
  );
  assert.deepEqual(run.output, expectedReplies(m));
}

/** Input for a receiving core: valid streams from the model or frame-shaped ones, possibly damaged, or raw bytes. */
const anyInput = (s: CoreSetup): fc.Arbitrary<Buffer> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .tuple(model, fc.array(maskKey, { minLength: 1, maxLength: 4 }), fc.array(mutation, { maxLength: 2 }))
        .map(([m, masks, mutations]) =>
          mutations.reduce((data, mutate) => mutate(data), buildStream(m, s.role === 'server' ? 'client' : 'server', masks, s.codec !== 'none')),
        ),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.array(anyFrame(s.role), { maxLength: 8 }), mutation).map(([frames, mutate]) => mutate(Buffer.concat(frames))),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
  );

const setup = fc.record({
  role,
  maxPayload: fc.oneof({ weight: 1, arbitrary: fc.constant(64 * 1024 * 1024) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 300 }) }),
  maxFragments: fc.oneof({ weight: 2, arbitrary: fc.constant(1_000_000) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
  codec: fc.constantFrom<CoreSetup['codec']>('none', 'none', 'sync', 'manual'),
});

/** A core setup and an input for it (shown as bytes in a counterexample). */
const fuzzCase = setup.chain((s) => fc.tuple(fc.constant(s), anyInput(s)));

// --------------------------------------------------------------------------- any bytes, any cut

describe('frame parser fuzz: any bytes, any chunking', () => {
  it('never throws, stays within the limits, and gives the same events and output for every chunking', () => {
    check(
      fc.property(fuzzCase, cutPoints, fc.array(fc.boolean(), { maxLength: 14 }), ([s, input], cuts, decodeAfter) => {
        const reference = runOn(s, input, whole);
        assertWithinLimits(s, reference);
        const cut = runOn(s, input, (data) => chunksAt(data, cuts), decodeAfter);
        assertWithinLimits(s, cut);
        assert.deepEqual(cut.events, reference.events);
        assert.deepEqual(cut.output, reference.output);
        const bytes = runOn(s, input, byteChunks, decodeAfter);
        assertWithinLimits(s, bytes);
        assert.deepEqual(bytes.events, reference.events);
        assert.deepEqual(bytes.output, reference.output);
      }),
      200,
    );
  });

  it('answers every violation with exactly one error and one close frame, and nothing after it', () => {
    check(
      fc.property(fuzzCase, ([s, input]) => {
        const run = runOn(s, input, whole);
        const errorAt = run.events.findIndex((e) => e.startsWith('error '));
        const closeAt = run.events.findIndex((e) => e.startsWith('close '));
        if (errorAt === -1) return;
        assert.equal(closeAt, -1, 'a peer close frame ends parsing, so no error can follow it');
        // §7.1.7: fail the connection: the close frame went out before the error was reported,
        // and no event follows.
        assert.equal(run.events.length - 1, errorAt, `events after the error: ${run.events.slice(errorAt).join(' | ')}`);
        assert.match(run.events[errorAt - 1]!, /^write /);
        const closes = run.output.filter((f) => f.startsWith('8 '));
        assert.equal(closes.length, 1);
        const closeCode = Number(run.events[errorAt]!.split(' ')[2]);
        assert.equal(Buffer.from(closes[0]!.slice(2), 'hex').readUInt16BE(0), closeCode);
      }),
      200,
    );
  });
});

/** An independent UTF-8 validator (WHATWG's decoder, which follows RFC 3629 §3–§4). */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
function isUtf8Reference(data: Buffer): boolean {
  try {
    strictUtf8.decode(data);
    return true;
  } catch {
    return false;
  }
}

describe('frame parser fuzz: UTF-8', () => {
  it('takes a text message exactly when it is UTF-8 (§8.1), in any fragmentation and chunking', () => {
    check(
      fc.property(role, edgyUtf8, fc.array(fc.nat(), { maxLength: 4 }), cutPoints, fc.boolean(), (receiver, text, fragmentCuts, cuts, compress) => {
        const m: Model = {
          messages: [{ isBinary: false, payload: text, cuts: [...new Set(fragmentCuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b), controls: [], compress }],
          close: null,
          trailingControls: [],
        };
        const peer: Role = receiver === 'server' ? 'client' : 'server';
        const stream = buildStream(m, peer, [Buffer.from([1, 2, 3, 4])], compress);
        const setup: CoreSetup = { role: receiver, maxPayload: 1 << 20, maxFragments: 16, codec: compress ? 'sync' : 'none' };
        const expected = isUtf8Reference(text) ? [`message text ${text.toString('hex')}`] : ['error WS_ERR_INVALID_UTF8 1007'];
        for (const chunking of [whole, byteChunks, (data: Buffer) => chunksAt(data, cuts)]) {
          const events = runOn(setup, stream, chunking).events.filter((e) => !e.startsWith('write '));
          assert.deepEqual(events, expected);
        }
      }),
      300,
    );
  });
});

describe('frame parser fuzz: model round trips', () => {
  it('frames built by the test-side builder, any chunking, both roles: every message and control frame arrives exactly', () => {
    check(
      fc.property(roundTrip, ({ model: m, receiver, masks, codec, cuts }) => {
        const peer: Role = receiver === 'server' ? 'client' : 'server';
        assertRoundTrip(receiver, codec, buildStream(m, peer, masks, codec), cuts, m);
      }),
      200,
    );
  });

  it("frames written by the core's own sender, any chunking, both roles: every message and control frame arrives exactly", () => {
    check(
      fc.property(roundTrip, ({ model: m, receiver, codec, cuts }) => {
        const peer: Role = receiver === 'server' ? 'client' : 'server';
        const stream = sendStream(m, peer, codec);
        // §5.1/§5.3: a client masks every frame, a server none.
        for (const f of parseFrames(stream)) assert.equal(f.masked, peer === 'client');
        assertRoundTrip(receiver, codec, stream, cuts, m);
      }),
      200,
    );
  });
});

describe('frame parser fuzz: messages spread over chunks', () => {
  after(() => useNativeMasking(true));

  // Payloads past the sizes where masking changes method (192: word loop, 1024: the add-on), in
  // fragments and chunks cut anywhere, so pieces start and end at every mask phase.
  const spread = fc.record({
    receiver: role,
    native: fc.boolean(),
    isBinary: fc.boolean(),
    size: fc.integer({ min: 0, max: 6000 }),
    seed: fc.nat(),
    fragmentCuts: fc.array(fc.nat(), { maxLength: 4 }),
    cuts: cutPoints,
    mask: maskKey,
  });

  it('an uncompressed message of up to 6000 bytes, any fragmentation and chunking, both masking paths, arrives exactly', () => {
    check(
      fc.property(spread, ({ receiver, native, isBinary, size, seed, fragmentCuts, cuts, mask }) => {
        useNativeMasking(native);
        // Text: multi-byte characters, so UTF-8 sequences straddle fragments and chunks.
        const unit = Buffer.from(isBinary ? [seed & 0xff, 0x80, 0xff, 0x00, 0x7f] : [0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
        const payload = Buffer.alloc(size - (size % unit.length), unit);
        const points = [...new Set(fragmentCuts.map((c) => c % (payload.length + 1)))].sort((a, b) => a - b);
        const bounds = [0, ...points, payload.length];
        const frames: Buffer[] = [];
        for (let k = 0; k + 1 < bounds.length; k++) {
          frames.push(
            frame({
              opcode: k === 0 ? (isBinary ? OP.Binary : OP.Text) : OP.Continuation,
              fin: k + 2 === bounds.length,
              payload: payload.subarray(bounds[k], bounds[k + 1]),
              mask: receiver === 'server' ? mask : null,
            }),
          );
        }
        const setup: CoreSetup = { role: receiver, maxPayload: 1 << 20, maxFragments: 16, codec: 'none' };
        const run = runOn(setup, Buffer.concat(frames), (data) => chunksAt(data, cuts));
        assertWithinLimits(setup, run);
        assert.deepEqual(
          run.events.filter((e) => !e.startsWith('write ')),
          [`message ${isBinary ? 'binary' : 'text'} ${payload.toString('hex')}`],
        );
      }),
      200,
    );
  });
});
