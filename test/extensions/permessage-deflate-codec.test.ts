// The permessage-deflate data path (RFC 7692 §7.2) of one codec, checked against node:zlib used
// directly as an independent peer: the tail, context takeover, window bits, BFINAL, corrupt data,
// decompression bombs, slicing of large messages, order, and the release of idle contexts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { PerMessageDeflateCodec, History } from '../../src/extensions/permessage-deflate/codec.js';
import { pendingJobs } from '../../src/extensions/permessage-deflate/zlib-pool.js';
import { EVENT_WAIT_MS, waitUntil, within } from '../helpers/events.js';
import { codec, decode, decodeError, encode, farRepeats, jsonText, NO_TAKEOVER, ReferenceDeflater, ReferenceInflater, TAIL, TAKEOVER, Z_SYNC_FLUSH } from './support/deflate.js';

describe('permessage-deflate compression (RFC 7692 §7.2.1)', () => {
  it('removes the 0x00 0x00 0xff 0xff tail; the peer decodes after putting it back', async () => {
    const c = codec();
    const peer = new ReferenceInflater();
    try {
      const message = jsonText(5000);
      const out = await encode(c, message);
      assert.ok(out.length < message.length / 3, `compressed to ${out.length} bytes`);
      assert.notDeepEqual(out.subarray(-4), TAIL);
      assert.deepEqual(await peer.inflate(out), message);
      // Without the tail removed, the peer's stream would carry an extra empty block per message:
      // a direct zlib flush ends with the tail, ours does not.
      const direct = zlib.deflateRawSync(message, { finishFlush: Z_SYNC_FLUSH, level: 1 });
      assert.deepEqual(direct.subarray(-4), TAIL);
      assert.equal(out.length, direct.length - 4);
    } finally {
      c.release();
      peer.close();
    }
  });

  it('sends an empty message as the single byte 0x00 (§7.2.3.6), and the stream goes on', async () => {
    const c = codec();
    const peer = new ReferenceInflater();
    try {
      assert.deepEqual(await peer.inflate(await encode(c, Buffer.from('before'))), Buffer.from('before'));
      const empty = await encode(c, Buffer.alloc(0));
      assert.deepEqual(empty, Buffer.from([0x00]));
      assert.equal((await peer.inflate(empty)).length, 0);
      assert.deepEqual(await peer.inflate(await encode(c, Buffer.from('after'))), Buffer.from('after'));
    } finally {
      c.release();
      peer.close();
    }
  });

  it('with context takeover, refers back into earlier messages', async () => {
    const c = codec();
    const peer = new ReferenceInflater();
    try {
      const message = randomBytes(2000); // incompressible alone, so only history can shrink it
      const first = await encode(c, message);
      const second = await encode(c, message);
      assert.ok(first.length > 1900, `first: ${first.length}`);
      assert.ok(second.length < 100, `second refers back: ${second.length}`);
      assert.deepEqual(await peer.inflate(first), message);
      assert.deepEqual(await peer.inflate(second), message);
    } finally {
      c.release();
      peer.close();
    }
  });

  it('without context takeover, every message stands alone (§7.1.1)', async () => {
    const c = codec({ sendNoContextTakeover: true });
    try {
      const message = randomBytes(2000);
      const first = await encode(c, message);
      const second = await encode(c, message);
      assert.equal(second.length, first.length, 'nothing carried over');
      // Each decodes with a fresh decompressor.
      assert.deepEqual(zlib.inflateRawSync(Buffer.concat([second, TAIL]), { finishFlush: Z_SYNC_FLUSH }), message);
      assert.equal(c.holdsContexts, false, 'a shared compressor was borrowed');
    } finally {
      c.release();
    }
  });

  // zlib's decompressor accepts any distance inside the output of one call, so the window is
  // checked across messages: each message repeats the previous one, 4 KiB back.
  for (const bits of [8, 9, 12]) {
    it(`honours server/client_max_window_bits=${bits}: a ${bits}-bit decompressor decodes everything`, async () => {
      const c = codec({ sendWindowBits: bits });
      const narrow = new ReferenceInflater(bits);
      try {
        const block = randomBytes(4096);
        const sizes: number[] = [];
        for (let i = 0; i < 4; i++) {
          const out = await encode(c, block);
          sizes.push(out.length);
          assert.deepEqual(await narrow.inflate(out), block);
        }
        assert.ok(sizes[3]! > 4000, `no reference 4 KiB back: ${sizes.join(', ')}`);
      } finally {
        c.release();
        narrow.close();
      }
    });
  }

  it('(the window test can fail: 15-bit output does not decode with a 9-bit window)', async () => {
    const c = codec({ sendWindowBits: 15 });
    const narrow = new ReferenceInflater(9);
    narrow['stream'].on('error', () => {});
    try {
      const block = randomBytes(4096);
      assert.deepEqual(await narrow.inflate(await encode(c, block)), block);
      const second = await encode(c, block);
      assert.ok(second.length < 100, 'refers 4 KiB back');
      await assert.rejects(narrow.inflate(second), /invalid distance too far back/);
    } finally {
      c.release();
      narrow.close();
    }
  });

  it('compresses a large message in slices, without blocking the event loop throughout', async () => {
    const c = codec();
    const peer = new ReferenceInflater();
    try {
      const message = jsonText(8 * 1024 * 1024);
      let sync = true;
      let immediates = 0;
      let stop = false;
      const spin = (): void => {
        immediates++;
        if (!stop) setImmediate(spin);
      };
      setImmediate(spin);
      const out = await new Promise<Buffer>((resolve, reject) => {
        c.encode(message, (error, data) => (error ? reject(error) : resolve(data!)));
        assert.equal(sync, true);
        sync = false;
      });
      stop = true;
      assert.ok(immediates >= 2, `the event loop turned ${immediates} times while compressing`);
      assert.deepEqual(await peer.inflate(out), message);
    } finally {
      c.release();
      peer.close();
    }
  });

  it('keeps the order of queued messages whatever their sizes', async () => {
    const c = codec();
    const peer = new ReferenceInflater();
    try {
      const messages = [jsonText(2_000_000, 1), jsonText(10, 2), Buffer.alloc(0), jsonText(300_000, 3), jsonText(5, 4)];
      const finished: number[] = [];
      const outputs = await Promise.all(
        messages.map((message, index) => encode(c, message).then((out) => (finished.push(index), out))),
      );
      // The empty message needs no zlib call and may finish first; the core orders frames by
      // send order anyway. Every other message finishes in order.
      assert.deepEqual(finished.filter((index) => index !== 2), [0, 1, 3, 4]);
      for (let i = 0; i < messages.length; i++) assert.deepEqual(await peer.inflate(outputs[i]!), messages[i]);
    } finally {
      c.release();
      peer.close();
    }
  });
});

describe('permessage-deflate decompression (RFC 7692 §7.2.2)', () => {
  it("decodes a peer's messages with context takeover, in sequence", async () => {
    const c = codec();
    const peer = new ReferenceDeflater();
    try {
      for (let i = 0; i < 20; i++) {
        const message = i % 5 === 0 ? randomBytes(100 + i) : jsonText(100 + i * 300, i);
        assert.deepEqual(await decode(c, await peer.deflate(message)), message);
      }
    } finally {
      c.release();
      peer.close();
    }
  });

  it("decodes a peer's messages without context takeover with a shared decompressor", async () => {
    const c = codec({ receiveNoContextTakeover: true });
    try {
      for (let i = 0; i < 5; i++) {
        const message = jsonText(1000 + i, i);
        const payload = zlib.deflateRawSync(message, { finishFlush: Z_SYNC_FLUSH }).subarray(0, -4);
        assert.deepEqual(await decode(c, payload), message);
      }
      assert.equal(c.holdsContexts, false);
    } finally {
      c.release();
    }
  });

  it('decodes a peer using a small window', async () => {
    const c = codec({ receiveWindowBits: 9 });
    const peer = new ReferenceDeflater(9);
    try {
      for (let i = 0; i < 5; i++) {
        const message = farRepeats(300, 4);
        assert.deepEqual(await decode(c, await peer.deflate(message)), message);
      }
    } finally {
      c.release();
      peer.close();
    }
  });

  it('accepts a message ending with a BFINAL block (§7.2.3.3), then a new stream', async () => {
    const c = codec();
    try {
      const first = zlib.deflateRawSync(Buffer.from('final block one'));
      assert.deepEqual(await decode(c, first), Buffer.from('final block one'));
      const second = zlib.deflateRawSync(Buffer.from('a second stream'));
      assert.deepEqual(await decode(c, second), Buffer.from('a second stream'));
    } finally {
      c.release();
    }
  });

  it('fails with 1007 on data after the end of the DEFLATE stream', async () => {
    const c = codec();
    try {
      const payload = Buffer.concat([zlib.deflateRawSync(Buffer.from('done')), Buffer.from([0x4b, 0x04, 0x00])]);
      const error = await decodeError(c, payload);
      assert.equal(error.closeCode, 1007);
      assert.equal(error.code, 'WS_ERR_INFLATE_FAILED');
    } finally {
      c.release();
    }
  });

  it('fails with 1007 on data that does not inflate (RFC 7692 §8, as ws and Autobahn expect)', async () => {
    for (const agreed of [TAKEOVER, NO_TAKEOVER]) {
      const c = codec(agreed);
      try {
        const error = await decodeError(c, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]));
        assert.equal(error.closeCode, 1007);
        assert.equal(error.code, 'WS_ERR_INFLATE_FAILED');
        assert.match(error.message, /^Invalid compressed data: invalid block type/);
      } finally {
        c.release();
      }
    }
  });

  it('stops a decompression bomb at maxSize with 1009, without allocating the output', async () => {
    // 10 MB of zeros compress to about 10 KB.
    const bomb = zlib.deflateRawSync(Buffer.alloc(10 * 1024 * 1024), { finishFlush: Z_SYNC_FLUSH }).subarray(0, -4);
    assert.ok(bomb.length < 20_000, `bomb is ${bomb.length} bytes`);
    for (const agreed of [TAKEOVER, NO_TAKEOVER]) {
      const c = codec(agreed);
      try {
        const before = process.memoryUsage().arrayBuffers;
        const error = await decodeError(c, bomb, 1024 * 1024);
        const grown = process.memoryUsage().arrayBuffers - before;
        assert.equal(error.closeCode, 1009);
        assert.equal(error.code, 'WS_ERR_MESSAGE_TOO_BIG');
        // At most maxSize + 1 bytes of output exist (plus one 64 KiB scratch buffer): far from 10 MB.
        assert.ok(grown < 3 * 1024 * 1024, `ArrayBuffer memory grew by ${grown} bytes`);
        assert.equal(pendingJobs(), 0, 'no work left running');
      } finally {
        c.release();
      }
    }
  });

  it('accepts a message of exactly maxSize bytes and refuses one byte more', async () => {
    const message = jsonText(100_000);
    const payload = zlib.deflateRawSync(message, { finishFlush: Z_SYNC_FLUSH }).subarray(0, -4);
    const exact = codec({ receiveNoContextTakeover: true });
    const over = codec({ receiveNoContextTakeover: true });
    try {
      assert.deepEqual(await decode(exact, payload, message.length), message);
      assert.equal((await decodeError(over, payload, message.length - 1)).closeCode, 1009);
    } finally {
      exact.release();
      over.release();
    }
  });

  it('decompresses a large message in slices, calling back later', async () => {
    const c = codec();
    const peer = new ReferenceDeflater();
    try {
      const message = jsonText(4 * 1024 * 1024);
      const payload = await peer.deflate(message);
      let sync = true;
      const out = await new Promise<Buffer>((resolve, reject) => {
        c.decode(payload, 64 * 1024 * 1024, (error, data) => (error ? reject(error) : resolve(data!)));
        sync = false;
      });
      assert.equal(sync, false, 'the callback came on a later turn');
      assert.deepEqual(out, message);
    } finally {
      c.release();
      peer.close();
    }
  });

  it('takes an empty compressed payload as an empty message and keeps the stream intact', async () => {
    const c = codec();
    const peer = new ReferenceDeflater();
    try {
      assert.deepEqual(await decode(c, await peer.deflate(Buffer.from('one'))), Buffer.from('one'));
      assert.equal((await decode(c, Buffer.alloc(0))).length, 0);
      assert.deepEqual(await decode(c, await peer.deflate(Buffer.from('two'))), Buffer.from('two'));
    } finally {
      c.release();
      peer.close();
    }
  });
});

describe('permessage-deflate memory: contexts released when idle', () => {
  async function waitUntilReleased(c: PerMessageDeflateCodec): Promise<void> {
    // The idle check runs on the shared 250 ms ticker: poll, bounded.
    await waitUntil(() => !c.holdsContexts, EVENT_WAIT_MS, 'the contexts to be released', 20);
  }

  it('frees both contexts after contextIdleTimeout, keeping only the history the peer may refer to', async () => {
    const c = codec({}, { contextIdleTimeout: 100 });
    const peerOut = new ReferenceDeflater();
    const peerIn = new ReferenceInflater();
    try {
      const shared = randomBytes(3000);
      assert.deepEqual(await decode(c, await peerOut.deflate(shared)), shared);
      assert.deepEqual(await peerIn.inflate(await encode(c, shared)), shared);
      assert.equal(c.holdsContexts, true);
      await waitUntilReleased(c);
      assert.equal(c.retainedBytes, 3000, 'exactly the bytes received so far');
      // The peer refers back to the first message: the new decompressor has it as its dictionary.
      const again = await peerOut.deflate(shared);
      assert.ok(again.length < 100, 'the peer used its history');
      assert.deepEqual(await decode(c, again), shared);
      // Our compressor started afresh: still valid for the peer.
      assert.deepEqual(await peerIn.inflate(await encode(c, shared)), shared);
    } finally {
      c.release();
      peerOut.close();
      peerIn.close();
    }
  });

  it('with contextIdleTimeout 0, holds no context between messages and still follows the peer', async () => {
    const c = codec({}, { contextIdleTimeout: 0 });
    const peerOut = new ReferenceDeflater();
    try {
      for (let i = 0; i < 5; i++) {
        const message = jsonText(5000, i % 2);
        assert.deepEqual(await decode(c, await peerOut.deflate(message)), message);
        assert.equal(c.holdsContexts, false);
      }
      assert.ok(c.retainedBytes <= 32 * 1024);
    } finally {
      c.release();
      peerOut.close();
    }
  });

  it('keeps at most 2^window bytes of history', async () => {
    const c = codec({ receiveWindowBits: 10 }, { contextIdleTimeout: 0 });
    const peerOut = new ReferenceDeflater(10);
    try {
      for (let i = 0; i < 3; i++) {
        const message = jsonText(5000, i);
        assert.deepEqual(await decode(c, await peerOut.deflate(message)), message);
      }
      assert.equal(c.retainedBytes, 1024);
    } finally {
      c.release();
      peerOut.close();
    }
  });

  it("a pooled decompressor holds nothing of its previous connection's messages", async () => {
    // Connection A: its decompressor comes from the pool and goes back after one message.
    const a = codec({}, { contextIdleTimeout: 0 });
    const b = codec({}, { contextIdleTimeout: 0 });
    const peerOfA = new ReferenceDeflater();
    try {
      const secret = randomBytes(2000);
      assert.deepEqual(await decode(a, await peerOfA.deflate(secret)), secret);
      const refersBack = await peerOfA.deflate(secret);
      assert.ok(refersBack.length < 100);
      // B gets a pooled context; a message referring to A's history must not decode to A's data.
      const error = await decodeError(b, refersBack);
      assert.equal(error.closeCode, 1007);
      assert.match(error.message, /invalid distance too far back/);
      // A itself still follows its peer (its history seeds a context of its own).
      assert.deepEqual(await decode(a, refersBack), secret);
    } finally {
      a.release();
      b.release();
      peerOfA.close();
    }
  });

  it('with contextIdleTimeout 0, compresses with context takeover through a shared compressor seeded with what it sent', async () => {
    const c = codec({}, { contextIdleTimeout: 0 });
    const peer = new ReferenceInflater();
    try {
      const repeated = jsonText(3000, 5);
      const first = await encode(c, repeated);
      assert.deepEqual(await peer.inflate(first), repeated);
      assert.equal(c.holdsContexts, false, 'no compressor of its own');
      assert.equal(c.retainedSendBytes, 3000);
      // The same message again refers back to the first: a few bytes, as with a context of its own.
      const second = await encode(c, repeated);
      assert.ok(second.length < 100, `the repeat compressed to ${second.length} bytes`);
      assert.deepEqual(await peer.inflate(second), repeated);
      for (let i = 0; i < 20; i++) {
        const message = jsonText(700 + i * 300, i % 3);
        assert.deepEqual(await peer.inflate(await encode(c, message)), message);
      }
      assert.equal(c.retainedSendBytes, 32 * 1024, 'at most 2^window bytes');
      assert.equal(c.holdsContexts, false);
    } finally {
      c.release();
      peer.close();
    }
  });

  it('a seeded compressor never refers further back than the negotiated window', async () => {
    for (const bits of [9, 10, 13]) {
      const c = codec({ sendWindowBits: bits }, { contextIdleTimeout: 0 });
      const peer = new ReferenceInflater(bits);
      try {
        // Repeats at every distance: only what the window allows may be used.
        for (let i = 0; i < 30; i++) {
          const message = i % 2 === 0 ? farRepeats(100 + i * 37, 3) : jsonText(200 + i * 150, i % 4);
          assert.deepEqual(await peer.inflate(await encode(c, message)), message, `${bits} bits, message ${i}`);
        }
        assert.equal(c.retainedSendBytes, 1 << bits);
      } finally {
        c.release();
        peer.close();
      }
    }
  });

  it("a pooled context holds nothing of the connection that seeded it last, either way", async () => {
    const a = codec({}, { contextIdleTimeout: 0 });
    const b = codec({}, { contextIdleTimeout: 0 });
    const peerOfA = new ReferenceDeflater();
    try {
      const secret = randomBytes(2000);
      // A's compressor and decompressor are seeded with the secret on their second message.
      await encode(a, secret);
      await encode(a, secret);
      assert.deepEqual(await decode(a, await peerOfA.deflate(secret)), secret);
      const refersBack = await peerOfA.deflate(secret);
      assert.deepEqual(await decode(a, refersBack), secret);
      // B borrows the same pooled contexts: its compressor must not refer to A's data, and its
      // decompressor must not resolve a reference into A's history.
      const fromB = await encode(b, secret);
      assert.ok(fromB.length > 2000, `B compressed the random secret to ${fromB.length} bytes`);
      const fresh = new ReferenceInflater();
      assert.deepEqual(await fresh.inflate(fromB), secret);
      fresh.close();
      const error = await decodeError(b, refersBack);
      assert.equal(error.closeCode, 1007);
    } finally {
      a.release();
      b.release();
      peerOfA.close();
    }
  });

  it('with contextIdleTimeout 0, a decompression bomb still stops at maxSize with 1009', async () => {
    const c = codec({}, { contextIdleTimeout: 0 });
    const peer = new ReferenceDeflater();
    try {
      // A first message gives the connection a history, so the bomb goes through a seeded context.
      const message = jsonText(2000);
      assert.deepEqual(await decode(c, await peer.deflate(message)), message);
      const bomb = await peer.deflate(Buffer.alloc(10 * 1024 * 1024));
      const error = await decodeError(c, bomb, 1024 * 1024);
      assert.equal(error.closeCode, 1009);
      assert.equal(error.code, 'WS_ERR_MESSAGE_TOO_BIG');
      assert.equal(pendingJobs(), 0);
    } finally {
      c.release();
      peer.close();
    }
  });

  it('holds nothing at all without context takeover', async () => {
    const c = codec(NO_TAKEOVER);
    try {
      const message = jsonText(5000);
      const out = await encode(c, message);
      assert.deepEqual(await decode(c, out), message);
      assert.equal(c.holdsContexts, false);
      assert.equal(c.retainedBytes, 0);
    } finally {
      c.release();
    }
  });

  it('release() during a large decode calls back with an error and leaves no work behind', async () => {
    const c = codec();
    const payload = zlib.deflateRawSync(jsonText(8 * 1024 * 1024), { finishFlush: Z_SYNC_FLUSH }).subarray(0, -4);
    const result = new Promise<Error | null>((resolve) => c.decode(payload, 64 * 1024 * 1024, (error) => resolve(error)));
    c.release();
    const error = await within(result, 5000, 'the decode callback');
    assert.ok(error instanceof Error);
    assert.equal(pendingJobs(), 0);
    // After release, new work is refused at once.
    const refused = await new Promise<Error | null>((resolve) => c.encode(Buffer.from('x'), (e) => resolve(e)));
    assert.ok(refused instanceof Error);
  });
});

describe('decompressor history ring', () => {
  it('always holds the last max bytes, whatever the sizes appended', () => {
    const max = 1000;
    const history = new History(max);
    let all = Buffer.alloc(0);
    const sizes = [1, 10, 300, 999, 1000, 1500, 7, 250, 640, 0, 3, 999, 2, 500, 501];
    for (const size of sizes) {
      const data = randomBytes(size);
      history.append(data);
      all = Buffer.concat([all, data]);
      const expected = all.subarray(Math.max(0, all.length - max));
      assert.equal(history.size, expected.length);
      const compact = history.compact() ?? Buffer.alloc(0);
      assert.deepEqual(compact, expected, `after appending ${size}`);
      assert.equal(history.capacity, expected.length, 'compact() leaves an exact-size buffer');
    }
  });

  it('gives the last max bytes in one piece without reallocating the ring, wrapped or not', () => {
    const max = 1000;
    const history = new History(max);
    let all = Buffer.alloc(0);
    let capacity = 0;
    for (const size of [0, 1, 10, 300, 999, 1000, 1500, 7, 250, 640, 3, 999, 2, 500, 501]) {
      const data = randomBytes(size);
      history.append(data);
      all = Buffer.concat([all, data]);
      const expected = all.subarray(Math.max(0, all.length - max));
      assert.deepEqual(history.contiguous() ?? Buffer.alloc(0), expected, `after appending ${size}`);
      assert.ok(history.capacity >= capacity, 'the ring is never shrunk by contiguous()');
      capacity = history.capacity;
    }
    assert.equal(capacity, max);
  });
});
