// RFC 6455 §5.3 client-to-server masking: octet i of the payload is XORed with
// octet (i mod 4) of the 4-byte masking key. The same operation unmasks.
//
// Small pieces use a byte loop (unrolled by 4). Larger ones XOR the 4-byte
// aligned middle as 32-bit words through an Int32Array view (its byteOffset
// must be a multiple of 4). The mask word is assembled from the key bytes in memory order via a
// shared Uint8Array/Int32Array pair, so it is correct on either endianness.

/** Below this many bytes the byte loop wins (creating a typed-array view costs ~100 ns). */
const WORD_MIN = 192;

const scratch8 = new Uint8Array(4);
const scratch32 = new Int32Array(scratch8.buffer);

/** The mask as a native-order word whose first byte in memory is mask[phase]. */
function maskWord(mask: Uint8Array, phase: number): number {
  scratch8[0] = mask[phase];
  scratch8[1] = mask[(phase + 1) & 3];
  scratch8[2] = mask[(phase + 2) & 3];
  scratch8[3] = mask[(phase + 3) & 3];
  return scratch32[0];
}

function checkRange(bytes: Uint8Array, start: number, end: number): void {
  if (!(start >= 0 && start <= end && end <= bytes.length)) {
    throw new RangeError(`invalid range [${start}, ${end}) for length ${bytes.length}`);
  }
}

/** Byte loop, unrolled by 4 with the key rotated to `phase`. */
function xorBytes(bytes: Uint8Array, i: number, end: number, mask: Uint8Array, phase: number): void {
  const m0 = mask[phase];
  const m1 = mask[(phase + 1) & 3];
  const m2 = mask[(phase + 2) & 3];
  const m3 = mask[(phase + 3) & 3];
  for (const end4 = end - 3; i < end4; i += 4) {
    bytes[i] ^= m0;
    bytes[i + 1] ^= m1;
    bytes[i + 2] ^= m2;
    bytes[i + 3] ^= m3;
  }
  if (i < end) {
    bytes[i] ^= m0;
    if (++i < end) {
      bytes[i] ^= m1;
      if (++i < end) bytes[i] ^= m2;
    }
  }
}

/** Copying byte loop: target[t + k] = source[s + k] ^ key, k in [0, n), key phase `phase`. */
function copyXorBytes(source: Uint8Array, s: number, target: Uint8Array, t: number, n: number, mask: Uint8Array, phase: number): void {
  const m0 = mask[phase];
  const m1 = mask[(phase + 1) & 3];
  const m2 = mask[(phase + 2) & 3];
  const m3 = mask[(phase + 3) & 3];
  let k = 0;
  for (const n4 = n - 3; k < n4; k += 4) {
    target[t + k] = source[s + k] ^ m0;
    target[t + k + 1] = source[s + k + 1] ^ m1;
    target[t + k + 2] = source[s + k + 2] ^ m2;
    target[t + k + 3] = source[s + k + 3] ^ m3;
  }
  if (k < n) {
    target[t + k] = source[s + k] ^ m0;
    if (++k < n) {
      target[t + k] = source[s + k] ^ m1;
      if (++k < n) target[t + k] = source[s + k] ^ m2;
    }
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
    w[k] ^= m;
    w[k + 1] ^= m;
    w[k + 2] ^= m;
    w[k + 3] ^= m;
  }
  for (; k < words; k++) w[k] ^= m;
  // Tail; the phase is unchanged after whole words.
  xorBytes(bytes, i + (words << 2), end, mask, phase);
  return after;
}

/**
 * Writes source[sourceStart, sourceEnd) XOR mask into target at targetOffset,
 * mask phase starting at 0 (client frames: mask while copying; the source is
 * not modified). Overlapping source and target are handled.
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
  const sAddr = source.byteOffset + sourceStart;
  const tAddr = target.byteOffset + targetOffset;
  // Pooled Node Buffers often share an ArrayBuffer; only true overlap matters.
  if (source.buffer !== target.buffer || sAddr >= tAddr + n || tAddr >= sAddr + n) {
    if (n < WORD_MIN) {
      copyXorBytes(source, sourceStart, target, targetOffset, n, mask, 0);
      return;
    }
    if (((sAddr - tAddr) & 3) === 0) {
      copyXorWords(source, sourceStart, target, targetOffset, n, mask);
      return;
    }
  }
  // Overlapping or not co-aligned: memcpy (TypedArray#set copes with
  // overlap), then XOR in place on aligned words.
  target.set(source.subarray(sourceStart, sourceEnd), targetOffset);
  unmask(target, targetOffset, targetOffset + n, mask, 0);
}

/** maskInto for non-overlapping ranges whose addresses agree mod 4. */
function copyXorWords(source: Uint8Array, sourceStart: number, target: Uint8Array, targetOffset: number, n: number, mask: Uint8Array): void {
  const sAddr = source.byteOffset + sourceStart;
  const tAddr = target.byteOffset + targetOffset;
  const head = (4 - (sAddr & 3)) & 3;
  copyXorBytes(source, sourceStart, target, targetOffset, head, mask, 0);
  const words = (n - head) >>> 2;
  const m = maskWord(mask, head);
  const sw = new Int32Array(source.buffer, sAddr + head, words);
  const tw = new Int32Array(target.buffer, tAddr + head, words);
  let k = 0;
  for (const w4 = words - 3; k < w4; k += 4) {
    tw[k] = sw[k] ^ m;
    tw[k + 1] = sw[k + 1] ^ m;
    tw[k + 2] = sw[k + 2] ^ m;
    tw[k + 3] = sw[k + 3] ^ m;
  }
  for (; k < words; k++) tw[k] = sw[k] ^ m;
  const done = head + (words << 2);
  copyXorBytes(source, sourceStart + done, target, targetOffset + done, n - done, mask, head);
}
