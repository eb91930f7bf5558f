// Linearity without a wall-clock budget: the same work on an input of size n and of size 8n,
// measured alternately several times; the cheapest run of each size is kept and their ratio
// compared. Linear work gives about 8 and quadratic work about 64, on any machine.
//
// What is measured is the process's CPU time, not elapsed time: a loaded machine preempts the
// longer runs more often, which inflated wall-clock ratios of linear code to 40-180 in trials,
// while CPU-time ratios stayed at 6-14. Sizes of a few KiB keep both inputs in the CPU caches and
// V8's young generation; from ~12k elements up, allocation and cache effects alone raise the
// ratio of linear code to 20-60. On a heavily loaded machine (load average 13 on 2 cores) one
// CPU-time ratio of linear work reached 26 once: see assertLinear's retries.

import assert from 'node:assert/strict';

export const FACTOR = 8;
/** Well above what linear work measures (at most 14 in trials), well below quadratic (64). */
export const MAX_RATIO = 24;
/** The smaller input size the linearity tests use (the larger one is FACTOR times it). */
export const LINEAR_N = 2048;
const ATTEMPTS = 3;

/** CPU milliseconds used by this process so far (all threads: GC helpers count as work). */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function measure(fn: () => void, reps: number): number {
  const t0 = cpuMs();
  for (let r = 0; r < reps; r++) fn();
  return cpuMs() - t0;
}

/**
 * The cheapest-of-`rounds` CPU time of `work` on `build(8n)` divided by that on `build(n)`. Each
 * measurement repeats the work enough times for the size-n one to last a few milliseconds.
 */
export function growthRatio<T>(n: number, build: (size: number) => T, work: (input: T) => void, rounds = 3): number {
  const small = build(n);
  const large = build(FACTOR * n);
  work(large); // warm up: compile before measuring
  let reps = 1;
  while (measure(() => work(small), reps) < 2 && reps < 1 << 20) reps *= 2;
  let smallMs = Infinity;
  let largeMs = Infinity;
  for (let round = 0; round < rounds; round++) {
    smallMs = Math.min(smallMs, measure(() => work(small), reps));
    largeMs = Math.min(largeMs, measure(() => work(large), reps));
  }
  return largeMs / smallMs;
}

/**
 * Fails when 8 times the input costs MAX_RATIO times the CPU time or more. Load on the machine
 * can only inflate a ratio (the larger run, being longer, loses more to cache refills after
 * preemption), so a ratio at or above the bound is measured again, up to ATTEMPTS times: linear
 * work passes on a calmer attempt, quadratic work measures about 64 every time.
 */
export function assertLinear<T>(what: string, n: number, build: (size: number) => T, work: (input: T) => void): void {
  let ratio = Infinity;
  for (let attempt = 0; attempt < ATTEMPTS && ratio >= MAX_RATIO; attempt++) ratio = Math.min(ratio, growthRatio(n, build, work));
  assert.ok(ratio < MAX_RATIO, `${what}: ${FACTOR}× the input took ${ratio.toFixed(1)}× the CPU time (linear ≈ ${FACTOR}, quadratic ≈ ${FACTOR * FACTOR}; best of ${ATTEMPTS} attempts)`);
}
