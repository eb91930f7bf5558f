// Shared settings for the property-based fuzz tests (fast-check).
//
// `npm test` runs every property for a small, fixed number of cases with a fixed seed, so the
// default run is fast and reproducible. A longer run explores new inputs:
//   FUZZ_RUNS=100000 node scripts/run-tests.mjs fuzz      (random seed, printed on failure)
//   FUZZ_SEED=123 FUZZ_RUNS=5000 node scripts/run-tests.mjs fuzz   (replays one seed)
// fast-check prints the seed, the path and the shrunk counterexample of any failure; each one
// becomes a named regression case next to the property that found it.

import fc from 'fast-check';

// An explicit maxLength is the size to explore up to (fast-check 4 otherwise stays near 10
// elements whatever maxLength says).
fc.configureGlobal({ ...fc.readConfigureGlobal(), defaultSizeToMaxWhenMaxSpecified: true });

const requestedRuns = Number(process.env.FUZZ_RUNS);
const requestedSeed = process.env.FUZZ_SEED;

/** True when FUZZ_RUNS asks for a long run. */
export const LONG_RUN = Number.isInteger(requestedRuns) && requestedRuns > 0;

/** The fixed seed of the default run. */
const DEFAULT_SEED = 0x6455;

/**
 * fast-check parameters for one property: `quickRuns` cases in the default run, FUZZ_RUNS cases
 * in a long one (scaled by `weight` for properties whose cases cost more).
 */
export function fuzzParameters<T>(quickRuns: number, weight = 1): fc.Parameters<T> {
  const numRuns = LONG_RUN ? Math.max(1, Math.round(requestedRuns * weight)) : quickRuns;
  const seed = requestedSeed !== undefined ? Number(requestedSeed) : LONG_RUN ? undefined : DEFAULT_SEED;
  // The failing assertion's message goes into the report, not only the counterexample.
  const base = { numRuns, includeErrorInReport: true };
  return seed === undefined ? base : { ...base, seed };
}

/** Runs one property, failing the test with fast-check's report (seed, path, shrunk input). */
export function check<Ts extends [unknown, ...unknown[]]>(
  property: fc.IProperty<Ts>,
  quickRuns: number,
  weight = 1,
): void {
  fc.assert(property, fuzzParameters<Ts>(quickRuns, weight));
}

/** check() for an asynchronous property. */
export async function checkAsync<Ts extends [unknown, ...unknown[]]>(
  property: fc.IAsyncProperty<Ts>,
  quickRuns: number,
  weight = 1,
): Promise<void> {
  await fc.assert(property, fuzzParameters<Ts>(quickRuns, weight));
}

/** Cut points for splitting a buffer of any length into chunks: any chunking is reachable. */
export const cutPoints = fc.array(fc.nat(), { maxLength: 12 });

/** Splits `data` at `cuts` (taken modulo its length + 1), as subarrays; empty chunks included. */
export function chunksAt(data: Buffer, cuts: readonly number[]): Buffer[] {
  const points = cuts.map((c) => c % (data.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const point of points) {
    out.push(data.subarray(last, point));
    last = point;
  }
  out.push(data.subarray(last));
  return out;
}

/** One chunk per byte. */
export function byteChunks(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i++) out.push(data.subarray(i, i + 1));
  return out;
}

/** RFC 9110 §5.6.2 tchar, as a fast-check character. */
export const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const tchar = fc.constantFrom(...TCHARS);
/** A non-empty RFC 9110 token. */
export const token = fc.string({ unit: tchar, minLength: 1, maxLength: 12 });
/** Optional whitespace (RFC 9110 §5.6.3): SP / HTAB. */
export const ows = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 });

/** Strings biased towards the characters HTTP field syntax cares about, plus a little of anything. */
export function headerishString(maxLength: number): fc.Arbitrary<string> {
  return fc.string({
    unit: fc.oneof(
      { weight: 6, arbitrary: tchar },
      { weight: 4, arbitrary: fc.constantFrom(' ', '\t', ',', ';', '=', '"', '\\', '/', ':') },
      { weight: 1, arbitrary: fc.constantFrom('\r', '\n', '\0', '\x7f', '\x80', '\xff', '(', ')', '@', '{', 'é', '\u{1f600}') },
    ),
    maxLength,
  });
}

export { fc };
