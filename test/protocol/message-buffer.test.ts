// MessageBuffer: collects the pieces of a message; small pieces coalesce, large ones stay zero-copy.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageBuffer } from '../../src/protocol/message-buffer.js';
import { pattern, prng, randomBytes } from './support/frames.js';

/** The buffers the collector holds (sealed parts; the open tail is not counted). */
function heldParts(buffer: MessageBuffer): Buffer[] {
  const parts = (buffer as unknown as { parts: unknown }).parts;
  assert.ok(Array.isArray(parts), 'MessageBuffer keeps its pieces in `parts`');
  return parts as Buffer[];
}

describe('MessageBuffer', () => {
  it('take() on an empty collector returns an empty buffer', () => {
    const buffer = new MessageBuffer();
    assert.equal(buffer.length, 0);
    assert.deepEqual(buffer.take(), Buffer.alloc(0));
  });

  it('empty appends are ignored', () => {
    const buffer = new MessageBuffer();
    buffer.append(Buffer.from('abc'), 1, 1);
    assert.equal(buffer.length, 0);
    assert.equal(heldParts(buffer).length, 0);
  });

  it('appends exactly the [start, end) range of the source', () => {
    const buffer = new MessageBuffer();
    const source = Buffer.from('0123456789');
    buffer.append(source, 2, 5);
    buffer.append(source, 9, 10);
    buffer.append(source, 0, 1);
    assert.equal(buffer.length, 5);
    assert.deepEqual(buffer.take(), Buffer.from('23490'));
  });

  it('many 1-byte pieces coalesce into a few parts and take() returns their concatenation', () => {
    const buffer = new MessageBuffer();
    const source = randomBytes(1024 * 1024, prng(1));
    for (let i = 0; i < source.length; i++) buffer.append(source, i, i + 1);
    assert.equal(buffer.length, source.length);
    // 1 MiB of single bytes: a few hundred parts at most, not a million.
    assert.ok(heldParts(buffer).length <= 300, `${heldParts(buffer).length} parts`);
    const out = buffer.take();
    assert.ok(out.equals(source));
    assert.equal(buffer.length, 0);
  });

  it('pieces just under the small-piece size coalesce too', () => {
    const buffer = new MessageBuffer();
    const source = pattern(1023 * 100);
    for (let p = 0; p < source.length; p += 1023) buffer.append(source, p, p + 1023);
    assert.ok(heldParts(buffer).length <= 40, `${heldParts(buffer).length} parts`);
    assert.ok(buffer.take().equals(source));
  });

  it('small pieces are copied: changing the source afterwards does not change the message', () => {
    const buffer = new MessageBuffer();
    const source = Buffer.from('small piece');
    buffer.append(source, 0, source.length);
    source.fill(0);
    assert.deepEqual(buffer.take(), Buffer.from('small piece'));
  });

  it('a single large piece is returned zero-copy, as a view of the source', () => {
    const buffer = new MessageBuffer();
    const source = pattern(10_000);
    buffer.append(source, 100, 9_000);
    const out = buffer.take();
    assert.deepEqual(out, source.subarray(100, 9_000));
    assert.equal(out.buffer, source.buffer);
    assert.equal(out.byteOffset, source.byteOffset + 100);
  });

  it('mixed small and large pieces keep their order (random, against plain concatenation)', () => {
    const random = prng(7);
    for (let run = 0; run < 200; run++) {
      const buffer = new MessageBuffer();
      const expected: Buffer[] = [];
      const pieces = 1 + Math.floor(random() * 40);
      for (let i = 0; i < pieces; i++) {
        const r = random();
        const size = r < 0.4 ? Math.floor(random() * 10) : r < 0.8 ? Math.floor(random() * 1100) : 1024 + Math.floor(random() * 5000);
        const source = randomBytes(size + 8, random);
        const start = Math.floor(random() * 8);
        buffer.append(source, start, start + size);
        expected.push(Buffer.from(source.subarray(start, start + size)));
      }
      const total = expected.reduce((n, b) => n + b.length, 0);
      assert.equal(buffer.length, total);
      assert.ok(buffer.take().equals(Buffer.concat(expected)), `run ${run}`);
    }
  });

  it('can be reused after take() and after clear()', () => {
    const buffer = new MessageBuffer();
    buffer.append(Buffer.from('first'), 0, 5);
    assert.deepEqual(buffer.take(), Buffer.from('first'));
    buffer.append(Buffer.from('second'), 0, 6);
    buffer.append(pattern(2000), 0, 2000);
    buffer.clear();
    assert.equal(buffer.length, 0);
    assert.equal(heldParts(buffer).length, 0);
    assert.deepEqual(buffer.take(), Buffer.alloc(0));
    buffer.append(Buffer.from('third'), 0, 5);
    assert.deepEqual(buffer.take(), Buffer.from('third'));
  });

  it('a message taken earlier is not overwritten by later appends', () => {
    const buffer = new MessageBuffer();
    buffer.append(Buffer.from('abc'), 0, 3);
    const first = buffer.take();
    for (let i = 0; i < 5000; i++) buffer.append(Buffer.from('z'), 0, 1);
    buffer.take();
    assert.deepEqual(first, Buffer.from('abc'));
  });
});
