// Small output buffers (frame headers, small frames) are carved out of a shared slab, like Node's
// own Buffer pool but larger and ours alone: consecutive allocations for one connection are then
// adjacent in memory and the writer merges them into a single socket write (Link.write in
// connection/websocket-connection.ts).
//
// A slice keeps its whole slab alive. That is harmless for output written at once, but a slice
// waiting in a stalled transport's write queue would pin a slab per frame while other traffic
// moves the slab on: the adapter copies out (detachFromSlab) what it cannot write at once. The
// write that fills a transport's queue cannot be foreseen, so each stalled connection may still
// pin one slab: 32 KiB keeps that small (a new slab per ~1,000 small frames costs nothing).
const SLAB_SIZE = 32 * 1024;
/** Allocations larger than this get their own buffer. */
export const SLAB_MAX_ALLOCATION = 16 * 1024;

let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabOffset = 0;
/** Every slab still referenced; tells slab slices from other buffers. */
const slabs = new WeakSet<ArrayBufferLike>([slab.buffer]);

/** An uninitialised buffer of `size` bytes; the caller fills all of it. */
export function allocOutput(size: number): Buffer {
  if (size > SLAB_MAX_ALLOCATION) return Buffer.allocUnsafeSlow(size);
  const start = reserveOutput(size);
  return slab.subarray(start, start + size);
}

/**
 * Reserves `size` bytes (at most SLAB_MAX_ALLOCATION) of outputSlab() and returns their offset;
 * the caller fills all of them. For writers that hand on the range rather than a Buffer over it:
 * creating a view costs about as much as framing a small message.
 */
export function reserveOutput(size: number): number {
  if (slabOffset + size > SLAB_SIZE) {
    // The old slab lives on while writes still reference slices of it.
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabs.add(slab.buffer);
    slabOffset = 0;
  }
  const start = slabOffset;
  slabOffset += size;
  return start;
}

/** The slab that the last reserveOutput() call reserved from (its byteOffset is 0). */
export function outputSlab(): Buffer {
  return slab;
}

/**
 * `data` itself, or, when it is a slice of a slab, a copy in memory of its own (exactly its size,
 * never from a shared pool), so that holding it holds no more than its bytes.
 */
export function detachFromSlab(data: Buffer): Buffer {
  if (!slabs.has(data.buffer)) return data;
  const copy = Buffer.allocUnsafeSlow(data.length);
  data.copy(copy);
  return copy;
}
