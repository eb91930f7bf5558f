// RFC 6455 §5.3 client-to-server masking: octet i of the payload is XORed with
// octet (i mod 4) of the 4-byte masking key. The same operation unmasks.
//
// Small pieces use a byte loop (unrolled by 4). Larger ones XOR the 4-byte
// aligned middle as 32-bit words through an Int32Array view (its byteOffset
// must be a multiple of 4). The mask word is assembled from the key bytes in
// memory order via a Uint8Array/Int32Array pair, so either endianness works.

import { createRequire } from 'node:module';

// Optional native acceleration: when the `bufferutil` add-on is installed (an optional peer
// dependency, the one `ws` uses), large pieces are unmasked by it — about 3× faster than the
// word loop below — and copied while unmasked in one pass. Without it everything runs in
// JavaScript, with the same results.
type NativeUnmask = (buffer: Uint8Array, mask: Uint8Array) => void;
/** output[offset + i] = source[i] ^ mask[i & 3] for i in [0, length). */
type NativeMask = (source: Uint8Array, mask: Uint8Array, output: Uint8Array, offset: number, length: number) => void;
type Native = { unmask: NativeUnmask; mask: NativeMask };
const NATIVE_MIN = 1024;
const loaded: Native | null = loadNative();
let native: Native | null = loaded;
const nativeMask = new Uint8Array(4);

function loadNative(): Native | null {
  if (process.env.UPSHIFT_NO_NATIVE === '1') return null;
  try {
    const addon = createRequire(import.meta.url)('bufferutil') as { unmask?: unknown; mask?: unknown };
    // Its JavaScript fallback is no faster than ours: only take the compiled add-on.
    if (isNative(addon.unmask) && isNative(addon.mask)) {
      return { unmask: addon.unmask as NativeUnmask, mask: addon.mask as NativeMask };
    }
  } catch {
    // Not installed: the JavaScript path serves.
  }
  return null;
}

function isNative(f: unknown): boolean {
  return typeof f === 'function' && /\[native code\]/.test(Function.prototype.toString.call(f));
}

/** Whether the native unmask add-on was loaded (for diagnostics and benchmarks). */
export const nativeMasking = loaded !== null;

/**
 * Internal, for the tests, which run every case over both paths: false makes everything run in
 * JavaScript even with the add-on loaded, true takes the add-on again if it was loaded. Returns
 * whether the add-on is now in use.
 */
export function useNativeMasking(on: boolean): boolean {
  native = on ? loaded : null;
  return native !== null;
}

/** The key rotated to start at `phase`, in nativeMask (what the add-on takes). */
function rotatedMask(mask: Uint8Array, phase: number): Uint8Array {
  nativeMask[0] = mask[phase]!;
  nativeMask[1] = mask[(phase + 1) & 3]!;
  nativeMask[2] = mask[(phase + 2) & 3]!;
  nativeMask[3] = mask[(phase + 3) & 3]!;
  return nativeMask;
}

/** Below this many bytes the byte loop wins (creating a typed-array view costs ~100 ns). Must be >= 4. */
const WORD_MIN = 192;

// Indexing below stays in bounds: every range is checked by checkRange() first, and the key has
// 4 bytes (read at index & 3), hence the `!` on typed-array reads.

const scratch8 = new Uint8Array(4);
const scratch32 = new Int32Array(scratch8.buffer);

/** The mask as a native-order word whose first byte in memory is mask[phase]. */
function maskWord(mask: Uint8Array, phase: number): number {
  scratch8[0] = mask[phase]!;
  scratch8[1] = mask[(phase + 1) & 3]!;
  scratch8[2] = mask[(phase + 2) & 3]!;
  scratch8[3] = mask[(phase + 3) & 3]!;
  return scratch32[0]!;
}

function checkRange(bytes: Uint8Array, start: number, end: number): void {
  if (!(start >= 0 && start <= end && end <= bytes.length)) {
    throw new RangeError(`invalid range [${start}, ${end}) for length ${bytes.length}`);
  }
}

/** Byte loop, unrolled by 4 with the key rotated to `phase`. */
function xorBytes(bytes: Uint8Array, i: number, end: number, mask: Uint8Array, phase: number): void {
  const m0 = mask[phase]!;
  const m1 = mask[(phase + 1) & 3]!;
  const m2 = mask[(phase + 2) & 3]!;
  const m3 = mask[(phase + 3) & 3]!;
  for (const end4 = end - 3; i < end4; i += 4) {
    bytes[i] = bytes[i]! ^ m0;
    bytes[i + 1] = bytes[i + 1]! ^ m1;
    bytes[i + 2] = bytes[i + 2]! ^ m2;
    bytes[i + 3] = bytes[i + 3]! ^ m3;
  }
  if (i < end) {
    bytes[i] = bytes[i]! ^ m0;
    if (++i < end) {
      bytes[i] = bytes[i]! ^ m1;
      if (++i < end) bytes[i] = bytes[i]! ^ m2;
    }
  }
}

/** Copying byte loop: target[t + k] = source[s + k] ^ mask[k & 3] for k in [0, n), ascending. */
function copyXorForward(source: Uint8Array, s: number, target: Uint8Array, t: number, n: number, mask: Uint8Array): void {
  const m0 = mask[0]!;
  const m1 = mask[1]!;
  const m2 = mask[2]!;
  const m3 = mask[3]!;
  const end = s + n;
  for (const end4 = end - 3; s < end4; s += 4, t += 4) {
    target[t] = source[s]! ^ m0;
    target[t + 1] = source[s + 1]! ^ m1;
    target[t + 2] = source[s + 2]! ^ m2;
    target[t + 3] = source[s + 3]! ^ m3;
  }
  for (let k = 0; s < end; s++, t++, k++) target[t] = source[s]! ^ mask[k]!;
}

/** Same as copyXorForward, descending (safe when the target overlaps the source from above). */
function copyXorBackward(source: Uint8Array, s: number, target: Uint8Array, t: number, n: number, mask: Uint8Array): void {
  let k = n;
  for (; (k & 3) !== 0; ) {
    k--;
    target[t + k] = source[s + k]! ^ mask[k & 3]!;
  }
  const m0 = mask[0]!;
  const m1 = mask[1]!;
  const m2 = mask[2]!;
  const m3 = mask[3]!;
  while (k > 0) {
    k -= 4;
    target[t + k + 3] = source[s + k + 3]! ^ m3;
    target[t + k + 2] = source[s + k + 2]! ^ m2;
    target[t + k + 1] = source[s + k + 1]! ^ m1;
    target[t + k] = source[s + k]! ^ m0;
  }
}

/**
 * XORs bytes[start, end) in place with the 4-byte mask, starting at mask phase
 * `phase` (0..3, the payload offset mod 4 where this piece begins). Returns the
 * phase after the piece.
 */
export function unmask(bytes: Uint8Array, start: number, end: number, mask: Uint8Array, phase: number): number {
  checkRange(bytes, start, end);
  phase &= 3;
  const after = (phase + end - start) & 3;
  if (end - start < WORD_MIN) {
    xorBytes(bytes, start, end, mask, phase);
    return after;
  }
  if (native !== null && end - start >= NATIVE_MIN) {
    native.unmask(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end), rotatedMask(mask, phase));
    return after;
  }
  // Head: bytes until the absolute address is 4-byte aligned.
  const head = (4 - ((bytes.byteOffset + start) & 3)) & 3;
  xorBytes(bytes, start, start + head, mask, phase);
  phase = (phase + head) & 3;
  const i = start + head;
  const words = (end - i) >>> 2;
  const m = maskWord(mask, phase);
  const w = new Int32Array(bytes.buffer, bytes.byteOffset + i, words);
  let k = 0;
  for (const w4 = words - 3; k < w4; k += 4) {
    w[k] = w[k]! ^ m;
    w[k + 1] = w[k + 1]! ^ m;
    w[k + 2] = w[k + 2]! ^ m;
    w[k + 3] = w[k + 3]! ^ m;
  }
  for (; k < words; k++) w[k] = w[k]! ^ m;
  // Tail; the phase is unchanged after whole words.
  xorBytes(bytes, i + (words << 2), end, mask, phase);
  return after;
}

/**
 * Writes source[sourceStart, sourceEnd) XOR mask into target at targetOffset,
 * mask phase starting at 0 (client frames: mask while copying; the source is
 * not modified). Overlapping source and target ranges are handled.
 */
export function maskInto(
  source: Uint8Array,
  sourceStart: number,
  sourceEnd: number,
  target: Uint8Array,
  targetOffset: number,
  mask: Uint8Array,
): void {
  checkRange(source, sourceStart, sourceEnd);
  const n = sourceEnd - sourceStart;
  checkRange(target, targetOffset, targetOffset + n);
  if (n < WORD_MIN) {
    // If both share an ArrayBuffer, copying away from the overlap is safe; for
    // distinct buffers either direction is. (Avoids the slow .buffer getter.)
    if (target.byteOffset + targetOffset <= source.byteOffset + sourceStart) {
      copyXorForward(source, sourceStart, target, targetOffset, n, mask);
    } else {
      copyXorBackward(source, sourceStart, target, targetOffset, n, mask);
    }
    return;
  }
  // memcpy (TypedArray#set also copes with overlap), then XOR in place on
  // aligned words: measured faster than XORing word by word while copying.
  target.set(source.subarray(sourceStart, sourceEnd), targetOffset);
  unmask(target, targetOffset, targetOffset + n, mask, 0);
}

/**
 * Writes source[start, end) XOR mask into target at targetOffset, the mask starting at phase
 * `phase` (0..3), and returns the phase after the piece: a received payload is unmasked while it
 * is copied into its message, one pass over the bytes. The source is not modified; source and
 * target must not overlap.
 */
export function unmaskInto(
  source: Uint8Array,
  start: number,
  end: number,
  target: Uint8Array,
  targetOffset: number,
  mask: Uint8Array,
  phase: number,
): number {
  checkRange(source, start, end);
  const n = end - start;
  checkRange(target, targetOffset, targetOffset + n);
  phase &= 3;
  if (n < WORD_MIN) {
    for (let k = 0; k < n; k++) target[targetOffset + k] = source[start + k]! ^ mask[(phase + k) & 3]!;
    return (phase + n) & 3;
  }
  if (native !== null && n >= NATIVE_MIN) {
    native.mask(source.subarray(start, end), rotatedMask(mask, phase), target, targetOffset, n);
    return (phase + n) & 3;
  }
  // Without the add-on: memcpy, then XOR in place while the bytes are still in cache (the word
  // loop needs aligned words, which a copy at an arbitrary offset would not give both sides).
  target.set(n === source.length ? source : source.subarray(start, end), targetOffset);
  return unmask(target, targetOffset, targetOffset + n, mask, phase);
}
