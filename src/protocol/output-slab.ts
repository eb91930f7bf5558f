// Small output buffers (frame headers, small frames) are carved out of a shared slab, like Node's
// own Buffer pool but larger and ours alone: consecutive allocations for one connection are then
// adjacent in memory and the writer can merge them into a single socket write (see mergeAdjacent).
const SLAB_SIZE = 128 * 1024;
/** Allocations larger than this get their own buffer. */
export const SLAB_MAX_ALLOCATION = 16 * 1024;

let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabOffset = 0;

/** An uninitialised buffer of `size` bytes; the caller fills all of it. */
export function allocOutput(size: number): Buffer {
  if (size > SLAB_MAX_ALLOCATION) return Buffer.allocUnsafeSlow(size);
  if (slabOffset + size > SLAB_SIZE) {
    // The old slab lives on while writes still reference slices of it.
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabOffset = 0;
  }
  const out = slab.subarray(slabOffset, slabOffset + size);
  slabOffset += size;
  return out;
}

/**
 * If `b` starts exactly where `a` ends in the same memory, returns one buffer spanning both;
 * otherwise null.
 */
export function mergeAdjacent(a: Buffer, b: Buffer): Buffer | null {
  if (a.buffer !== b.buffer || a.byteOffset + a.length !== b.byteOffset) return null;
  return Buffer.from(a.buffer, a.byteOffset, a.length + b.length);
}
