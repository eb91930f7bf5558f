// Micro-benchmark for src/protocol/mask.ts and src/protocol/utf8.ts (not a test).
// Usage: npx tsc -p . && node dist/bench/micro/mask-utf8.js
// Prints throughput in MB/s (1 MB = 1e6 bytes) per operation and size.

import { maskInto, unmask } from '../../src/protocol/mask.js';
import { Utf8Validator, isValidUtf8 } from '../../src/protocol/utf8.js';

const SIZES: ReadonlyArray<[string, number]> = [
  ['32 B', 32],
  ['16 KiB', 16 * 1024],
  ['1 MiB', 1024 * 1024],
];
const MIN_NS = 200_000_000n; // each round runs for at least 0.2 s
const ROUNDS = 3; // report the best round (least disturbed by other load)

let sink = 0;

/** Calls fn repeatedly (in batches) for at least MIN_NS per round; returns the best MB/s. */
function measure(bytesPerCall: number, fn: () => number): number {
  const batch = Math.max(1, Math.floor((1 << 22) / bytesPerCall));
  for (let k = 0; k < batch; k++) sink ^= fn(); // warm-up
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let calls = 0;
    const t0 = process.hrtime.bigint();
    let dt = 0n;
    do {
      for (let k = 0; k < batch; k++) sink ^= fn();
      calls += batch;
      dt = process.hrtime.bigint() - t0;
    } while (dt < MIN_NS);
    best = Math.max(best, (calls * bytesPerCall * 1e3) / Number(dt));
  }
  return best;
}

/** Mixed text: mostly ASCII with 2-, 3- and 4-byte characters, cut to `size` bytes. */
function text(size: number): Uint8Array {
  const unit = 'Hello, wörld — κόσμε 日本語 😀 plain ascii filler text. ';
  const out = Uint8Array.from(Buffer.from(unit.repeat(Math.ceil(size / unit.length))).subarray(0, size));
  // Pad a character cut off at the end with 'a' so the buffer stays valid.
  let j = size;
  while (j > 0 && (out[j - 1]! & 0xc0) === 0x80) j--;
  if (j > 0 && out[j - 1]! >= 0xc0) out.fill(0x61, j - 1);
  return out;
}

function row(name: string, size: string, mbs: number): void {
  console.log(`${name.padEnd(34)} ${size.padStart(7)} ${mbs.toFixed(0).padStart(9)} MB/s`);
}

const mask = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
const validator = new Utf8Validator();

console.log(`node ${process.version} ${process.arch}`);
for (const [label, size] of SIZES) {
  // Offset 1 into a larger buffer: exercises the unaligned head and tail.
  const big = new Uint8Array(size + 8);
  const data = big.subarray(1, size + 1);
  const frame = new Uint8Array(size + 14);
  row('unmask (in place, offset 1)', label, measure(size, () => unmask(data, 0, size, mask, 1)));
  // Client frame: payload after a 2-byte header and the 4-byte key.
  row('maskInto (frame offset 6)', label, measure(size, () => (maskInto(data, 0, size, frame, 6, mask), 0)));

  const utf = text(size);
  if (!isValidUtf8(utf)) throw new Error('bench input is not valid UTF-8');
  const ascii = new Uint8Array(size).fill(0x61);
  row('isValidUtf8 (mixed text)', label, measure(size, () => (isValidUtf8(utf) ? 1 : 0)));
  row('isValidUtf8 (ascii)', label, measure(size, () => (isValidUtf8(ascii) ? 1 : 0)));
  row('Utf8Validator.write (mixed text)', label, measure(size, () => (validator.write(utf, 0, size) ? 1 : 0)));
}
if (sink === 0x7fffffff) console.log(''); // keep results observable
