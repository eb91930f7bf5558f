// permessage-deflate for messages sent to many peers (broadcast, publish): compressed once per
// compressor kind, standing alone, and valid in every peer's stream whatever each codec's context
// mode, because each codec's own history follows the message in order (RFC 7692 §7.1.1, §7.2.1).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { PerMessageDeflateCodec } from '../../src/extensions/permessage-deflate/codec.js';
import { compressShared, SHARED_SYNC_LIMIT } from '../../src/extensions/permessage-deflate/shared-compression.js';
import { pendingJobs, type ZlibContext } from '../../src/extensions/permessage-deflate/zlib-pool.js';
import { SharedEncoding, SharedMessage } from '../../src/protocol/shared-message.js';
import { within } from '../helpers/events.js';
import { codec, encode, jsonText, ReferenceInflater } from './support/deflate.js';

function encodeShared(c: PerMessageDeflateCodec, message: SharedMessage): Promise<Buffer> {
  return within(
    new Promise((resolve, reject) => c.encodeShared(message, (error, out) => (error ? reject(error) : resolve(out!)))),
    10_000,
    'a shared encode',
  );
}

/** The three ways a codec keeps (or does not keep) its compressor's history between messages. */
const MODES = [
  { name: 'context takeover, seeded shared compressor (contextIdleTimeout 0)', agreed: {}, settings: { contextIdleTimeout: 0 } },
  { name: 'context takeover, a compressor of its own (contextIdleTimeout 10 s)', agreed: {}, settings: { contextIdleTimeout: 10_000 } },
  { name: 'no context takeover', agreed: { sendNoContextTakeover: true }, settings: { contextIdleTimeout: 0 } },
] as const;

describe('permessage-deflate: messages for many peers, compressed once', () => {
  for (const mode of MODES) {
    it(`${mode.name}: a shared message between the codec's own ones decodes in the peer's one stream`, async () => {
      const c = codec(mode.agreed, mode.settings);
      const peer = new ReferenceInflater();
      try {
        // Random blocks repeated across messages: a codec whose history went out of line with the
        // peer's window would refer back to the wrong bytes, and the peer would decode garbage.
        const block = randomBytes(3000);
        const own1 = Buffer.concat([block, jsonText(2000, 1)]);
        const shared = new SharedMessage(Buffer.concat([jsonText(1500, 2), block, block]), true, true);
        const own2 = Buffer.concat([block, jsonText(500, 3)]);
        const outputs = [await encode(c, own1), await encodeShared(c, shared)];
        assert.equal(c.retainedSendBytes, 0, 'no history kept after a shared message');
        outputs.push(await encode(c, own2));
        assert.deepEqual(await peer.inflate(outputs[0]!), own1);
        assert.deepEqual(await peer.inflate(outputs[1]!), shared.payload);
        assert.deepEqual(await peer.inflate(outputs[2]!), own2);
        // After a shared message the codec starts afresh: the random block, in both earlier
        // messages, is not referred back to, and a seeded codec holds no history.
        assert.ok(outputs[2]!.length > 3000, `own2 stands alone: ${outputs[2]!.length} bytes`);
      } finally {
        c.release();
        peer.close();
      }
    });
  }

  it('compresses once per compressor kind: peers of one kind get the same bytes, another window its own', async () => {
    const a = codec({}, { contextIdleTimeout: 0 });
    const b = codec({ sendNoContextTakeover: true }, { contextIdleTimeout: 10_000 });
    const small = codec({ sendWindowBits: 9 }, { contextIdleTimeout: 0 });
    const peers = [new ReferenceInflater(), new ReferenceInflater(), new ReferenceInflater(9)];
    try {
      const message = new SharedMessage(jsonText(20_000), false, true);
      const [outA, outB, outSmall] = [await encodeShared(a, message), await encodeShared(b, message), await encodeShared(small, message)];
      assert.equal(outA, outB, 'one buffer for both 15-bit peers (context modes do not matter)');
      assert.notEqual(outSmall, outA);
      assert.equal(message.encodings!.size, 2, 'one encoding per window');
      assert.ok(outA.length < message.payload.length / 3, `compressed: ${outA.length} of ${message.payload.length}`);
      for (const [i, out] of [outA, outB, outSmall].entries()) assert.deepEqual(await peers[i]!.inflate(out), message.payload);
      // One frame per encoding, for every peer that sends it: FIN + RSV1 + text, then the length.
      const frame = message.compressedFrame(outA);
      assert.equal(message.compressedFrame(outA), frame);
      assert.notEqual(message.compressedFrame(outSmall), frame);
      assert.equal(frame[0], 0x80 | 0x40 | 0x1);
      assert.equal(frame.readUInt16BE(2), outA.length);
    } finally {
      for (const c of [a, b, small]) c.release();
      for (const peer of peers) peer.close();
    }
  });

  it('keeps its place in the order behind a large message still being compressed in slices', async () => {
    const c = codec({}, { contextIdleTimeout: 0 });
    const peer = new ReferenceInflater();
    try {
      const large = jsonText(3_000_000, 5);
      const shared = new SharedMessage(jsonText(5000, 6), false, true);
      const finished: string[] = [];
      const outputs = await Promise.all([
        encode(c, large).then((out) => (finished.push('large'), out)),
        encodeShared(c, shared).then((out) => (finished.push('shared'), out)),
        encode(c, large.subarray(0, 100_000)).then((out) => (finished.push('after'), out)),
      ]);
      assert.deepEqual(finished, ['large', 'shared', 'after']);
      assert.deepEqual(await peer.inflate(outputs[0]), large);
      assert.deepEqual(await peer.inflate(outputs[1]), shared.payload);
      assert.deepEqual(await peer.inflate(outputs[2]), large.subarray(0, 100_000));
    } finally {
      c.release();
      peer.close();
    }
  });

  it('encodeSharedNow: at once when nothing is queued (the history dropped), null while a message is being compressed', async () => {
    const c = codec({}, { contextIdleTimeout: 0 });
    const peer = new ReferenceInflater();
    try {
      const block = randomBytes(3000);
      assert.deepEqual(await peer.inflate(await encode(c, block)), block);
      assert.ok(c.retainedSendBytes > 0, 'a seeded codec keeps what it sent');
      const shared = new SharedMessage(Buffer.concat([block, jsonText(2000, 9)]), true, true);
      const first = c.encodeSharedNow(shared);
      assert.ok(first !== null, 'idle: encoded at once');
      assert.equal(c.retainedSendBytes, 0, 'and its history is dropped');
      assert.deepEqual(await peer.inflate(first), shared.payload);
      const own = await encode(c, Buffer.concat([block, block]));
      assert.ok(own.length > 2900 && own.length < 3500, `stands alone, the second block refers to the first: ${own.length}`);
      assert.deepEqual(await peer.inflate(own), Buffer.concat([block, block]));
      const large = encode(c, jsonText(3_000_000, 10));
      assert.equal(c.encodeSharedNow(shared), null, 'a large message is still being compressed: wait your turn');
      assert.deepEqual(await peer.inflate(await large), jsonText(3_000_000, 10));
      assert.deepEqual(c.encodeSharedNow(new SharedMessage(Buffer.alloc(0), true, true)), Buffer.from([0x00]));
    } finally {
      c.release();
      peer.close();
    }
    assert.equal(c.encodeSharedNow(new SharedMessage(jsonText(5000), true, true)), null, 'released');
  });

  it('shares what its threshold says is worth compressing, whatever the size', () => {
    const c = codec({}, { threshold: 1024 });
    try {
      assert.equal(c.sharesEncoding(1023), false);
      assert.equal(c.sharesEncoding(1024), true);
      assert.equal(c.sharesEncoding(64 * 1024 * 1024), true);
    } finally {
      c.release();
    }
  });

  it('a message over SHARED_SYNC_LIMIT is compressed once in slices; every codec of the kind waits for it, in its own order', async () => {
    const modes = MODES.map((mode) => codec(mode.agreed, mode.settings));
    const peers = modes.map(() => new ReferenceInflater());
    try {
      const large = new SharedMessage(jsonText(SHARED_SYNC_LIMIT * 4, 13), false, true);
      const before = jsonText(5000, 14);
      const after = jsonText(3000, 15);
      // Codec 0 has a message of its own before the shared one; all have one after it.
      const outputs = [encode(modes[0]!, before)];
      const shared = modes.map((c) => encodeShared(c, large));
      assert.equal(large.encodings!.size, 1, 'one encoding, started by the first codec');
      const encoding = [...large.encodings!.values()][0]!;
      assert.equal(encoding.settled, false, 'still being compressed after the calls return');
      assert.ok(pendingJobs() > 0);
      for (const c of modes) assert.equal(c.encodeSharedNow(new SharedMessage(after, false, true)), null, 'nothing jumps the queue');
      const afterwards = modes.map((c) => encode(c, after));
      const sharedOut = await Promise.all(shared);
      assert.ok(sharedOut.every((out) => out === sharedOut[0]), 'the same bytes for every codec of the kind');
      assert.ok(sharedOut[0]!.length < large.payload.length / 3);
      assert.deepEqual(await peers[0]!.inflate(await outputs[0]!), before);
      for (const [i, peer] of peers.entries()) {
        assert.deepEqual(await peer.inflate(sharedOut[i]!), large.payload, `codec ${i}: the shared message`);
        assert.deepEqual(await peer.inflate(await afterwards[i]!), after, `codec ${i}: its next own message`);
      }
    } finally {
      for (const c of modes) c.release();
      for (const peer of peers) peer.close();
    }
  });

  it('a codec released while a large shared message is being compressed calls back with an error once it is made', async () => {
    const c = codec({}, { contextIdleTimeout: 0 });
    const other = codec({}, { contextIdleTimeout: 0 });
    const peer = new ReferenceInflater();
    try {
      const large = new SharedMessage(jsonText(SHARED_SYNC_LIMIT * 2, 16), true, true);
      const released = encodeShared(c, large);
      const kept = encodeShared(other, large);
      c.release();
      const [outcome] = await Promise.allSettled([released]);
      assert.match(String(outcome.status === 'rejected' ? outcome.reason : 'fulfilled'), /closed/i);
      assert.deepEqual(await peer.inflate(await kept), large.payload, 'the other codec still gets it');
    } finally {
      other.release();
      peer.close();
    }
  });

  it('a compression that fails settles its encoding with the error, and wakes who waits for it', async () => {
    for (const size of [5000, SHARED_SYNC_LIMIT * 2]) {
      const encoding = new SharedEncoding();
      let woken = 0;
      encoding.whenSettled(() => woken++);
      // A stand-in context that fails as a corrupt zlib stream does (a real closed handle aborts).
      let closed = 0;
      const broken = (): ZlibContext =>
        ({
          poolKey: null,
          inputLeft: 0,
          usable: true,
          call: () => {
            throw new Error('zlib failed');
          },
          close: () => void closed++,
        }) as unknown as ZlibContext;
      compressShared(`test/broken/${size}`, broken, jsonText(size), encoding);
      await new Promise<void>((resolve) => encoding.whenSettled(resolve));
      assert.equal(encoding.data, null);
      assert.match(String(encoding.error), /zlib failed/);
      assert.equal(woken, 1);
      assert.equal(closed, 1, 'the failed context is closed, not pooled');
    }
  });

  it("a codec given a failed encoding calls back with its error, in order (the core then closes with 1011)", async () => {
    const c = codec({}, { contextIdleTimeout: 0 });
    try {
      const probe = new SharedMessage(jsonText(5000), false, true);
      await encodeShared(c, probe);
      const [key] = [...probe.encodings!.keys()];
      const failed = new SharedEncoding();
      failed.settle(null, new Error('compression failed'));
      const message = new SharedMessage(jsonText(5000, 1), false, true);
      message.encodings = new Map([[key!, failed]]);
      assert.equal(c.encodeSharedNow(message), null, 'not at once: the error goes through the queue');
      await assert.rejects(encodeShared(c, message), /compression failed/);
      assert.ok((await encode(c, jsonText(2000, 2))).length > 0, 'the codec goes on');
    } finally {
      c.release();
    }
  });

  it('an empty message is the single byte 0x00; a released codec calls back with an error', async () => {
    const c = codec();
    assert.deepEqual(await encodeShared(c, new SharedMessage(Buffer.alloc(0), true, true)), Buffer.from([0x00]));
    c.release();
    await assert.rejects(encodeShared(c, new SharedMessage(jsonText(5000), true, true)), /closed/i);
  });

  it('a shared message queued behind a large one fails with the rest when the codec is released', async () => {
    const c = codec({}, { contextIdleTimeout: 0 });
    const large = encode(c, jsonText(3_000_000, 7));
    const shared = encodeShared(c, new SharedMessage(jsonText(5000, 8), false, true));
    c.release();
    const [a, b] = await Promise.allSettled([large, shared]);
    for (const outcome of [a, b]) assert.match(String(outcome.status === 'rejected' ? outcome.reason : 'fulfilled'), /closed/i);
  });
});
