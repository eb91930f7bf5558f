// The output slab: small output buffers are carved one after another from shared memory (so the
// writer can merge a connection's frames into one write), and copied out when they must wait.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SLAB_MAX_ALLOCATION, allocOutput, detachFromSlab, outputSlab, reserveOutput } from '../../src/protocol/output-slab.js';

describe('allocOutput', () => {
  it('carves consecutive allocations from one slab, adjacent, then starts a new slab at 0', () => {
    let previous = allocOutput(100);
    let switches = 0;
    let adjacent = 0;
    for (let i = 0; i < 200; i++) {
      const next = allocOutput(1000);
      assert.equal(next.length, 1000);
      if (next.buffer === previous.buffer) {
        assert.equal(next.byteOffset, previous.byteOffset + previous.length, 'right after the previous one');
        adjacent++;
      } else {
        assert.equal(next.byteOffset, 0, 'a new slab starts at its beginning');
        switches++;
      }
      previous = next;
    }
    // 200 KB in 1 KB pieces: several slabs, each holding many pieces.
    assert.ok(switches >= 2, `${switches} new slabs`);
    assert.ok(adjacent > switches * 10, `${adjacent} adjacent`);
  });

  it('gives larger allocations memory of their own, exactly their size', () => {
    const small = allocOutput(SLAB_MAX_ALLOCATION);
    assert.ok(small.buffer.byteLength > small.length, 'at the limit: still from a slab');
    const big = allocOutput(SLAB_MAX_ALLOCATION + 1);
    assert.equal(big.length, SLAB_MAX_ALLOCATION + 1);
    assert.equal(big.byteOffset, 0);
    assert.equal(big.buffer.byteLength, SLAB_MAX_ALLOCATION + 1);
  });
});

describe('reserveOutput', () => {
  it('hands out ranges of outputSlab() one after another, shared with allocOutput', () => {
    const a = allocOutput(10);
    const start = reserveOutput(20);
    const slab = outputSlab();
    if (slab.buffer === a.buffer) assert.equal(start, a.byteOffset + 10, 'right after the allocation');
    assert.equal(slab.byteOffset, 0);
    const b = allocOutput(5);
    assert.equal(b.buffer, slab.buffer);
    assert.equal(b.byteOffset, start + 20, 'the next allocation comes after the range');
  });

  it('starts a new slab, at 0, when the range does not fit', () => {
    let slab = outputSlab();
    let start = reserveOutput(SLAB_MAX_ALLOCATION);
    for (let i = 0; i < 4 && outputSlab() === slab; i++) start = reserveOutput(SLAB_MAX_ALLOCATION);
    assert.notEqual(outputSlab(), slab);
    assert.equal(start, 0);
    // Ranges of the new slab count as slab memory: a slice of it is detached when it must wait.
    slab = outputSlab();
    assert.notEqual(detachFromSlab(slab.subarray(0, 8)).buffer, slab.buffer);
  });
});

describe('detachFromSlab', () => {
  it('copies a slab slice into memory of its own, exactly its size', () => {
    const slice = allocOutput(40);
    slice.fill(7);
    const detached = detachFromSlab(slice);
    assert.notEqual(detached.buffer, slice.buffer);
    assert.equal(detached.buffer.byteLength, 40);
    assert.deepEqual(detached, slice);
    // Later use of the slab does not change the copy.
    slice.fill(1);
    assert.deepEqual(detached, Buffer.alloc(40, 7));
  });

  it('returns any other buffer as is: a payload is never copied', () => {
    for (const data of [Buffer.alloc(10), Buffer.from('pooled'), allocOutput(SLAB_MAX_ALLOCATION + 1), Buffer.alloc(0)]) {
      assert.equal(detachFromSlab(data), data);
    }
  });
});
