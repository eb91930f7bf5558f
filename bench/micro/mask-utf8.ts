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
const MIN_NS = 300_000_000n; // run each case for at least 0.3 s

let sink = 0;

/** Calls fn repeatedly (batches of `batch`) for at least MIN_NS; returns MB/s. */
function measure(bytesPerCall: number, fn: () => number): number {
  const batch = Math.max(1, Math.floor((1 << 22) / bytesPerCall));
  for (let k = 0; k < batch; k++) sink ^= fn(); // warm-up
  let calls = 0;
  const t0 = process.hrtime.bigint();
  let dt = 0n;
  do {
    for (let k = 0; k < batch; k++) sink ^= fn();
    calls += batch;
    dt = process.hrtime.bigint() - t0;
  } while (dt < MIN_NS);
  return (calls * bytesPerCall * 1e3) / Number(dt);
}

/** Mixed text: mostly ASCII with 2-, 3- and 4-byte characters sprinkled in. */
function text(size: number): Uint8Array {
  const unit = Buffer.from('Hello, wörld — κόσμε 日本語 😀 plain ascii filler text. ');
  const out = new Uint8Array(size);
  let n = 0;
  while (n + unit.length <= size) {
    out.set(unit, n);
    n += unit.length;
  }
  out.fill(0x61, n); // pad with 'a' so the buffer stays valid
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
  const target = new Uint8Array(size + 8);
  row('unmask (in place, offset 1)', label, measure(size, () => unmask(data, 0, size, mask, 1)));
  row('maskInto (co-aligned)', label, measure(size, () => (maskInto(data, 0, size, big, 1, mask), 0)));
  row('maskInto (misaligned target)', label, measure(size, () => (maskInto(data, 0, size, target, 2, mask), 0)));

  const utf = text(size);
  const ascii = new Uint8Array(size).fill(0x61);
  row('isValidUtf8 (mixed text)', label, measure(size, () => (isValidUtf8(utf) ? 1 : 0)));
  row('isValidUtf8 (ascii)', label, measure(size, () => (isValidUtf8(ascii) ? 1 : 0)));
  row('Utf8Validator.write (mixed text)', label, measure(size, () => (validator.write(utf, 0, size) ? 1 : 0)));
}
if (sink === 0x7fffffff) console.log(''); // keep results observable
