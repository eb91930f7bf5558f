// A latency histogram for `upshift bench`: log-linear buckets (32 per power of two, so about 3 %
// resolution) over eighths of a microsecond, cheap to record into and to merge (workers send theirs as
// sparse [index, count] pairs). Exact min, max and sum are kept beside the buckets.

/** Values below this (in recording units) have a bucket each. */
const LINEAR = 64;
/** Sub-buckets per power of two above LINEAR. */
const SUB = 32;
/** Values are recorded in units of 1/UNIT µs, so sub-microsecond round trips still resolve. */
const UNIT = 8;
/** The largest value kept apart: 2^31 units (about 268 s); longer ones share the last bucket. */
const MAX_UNITS = 2 ** 31 - 1;
const BUCKETS = LINEAR + (31 - Math.log2(LINEAR) + 1) * SUB;

function indexOf(us: number): number {
  const v = Math.min(MAX_UNITS, Math.max(0, Math.floor(us * UNIT)));
  if (v < LINEAR) return v;
  const exponent = 31 - Math.clz32(v); // v in [2^e, 2^(e+1))
  const shift = exponent - Math.log2(SUB); // v >>> shift is in [SUB, 2 SUB)
  return LINEAR + (exponent - Math.log2(LINEAR)) * SUB + ((v >>> shift) - SUB);
}

/** The middle of a bucket, in µs. */
function valueOf(index: number): number {
  if (index < LINEAR) return (index + 0.5) / UNIT;
  const exponent = Math.floor((index - LINEAR) / SUB) + Math.log2(LINEAR);
  const sub = ((index - LINEAR) % SUB) + SUB;
  return ((sub + 0.5) * 2 ** (exponent - Math.log2(SUB))) / UNIT;
}

export type SparseCounts = [index: number, count: number][];

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  /** Records one value in microseconds. */
  record(us: number): void {
    this.counts[indexOf(us)]!++;
    this.count++;
    this.sum += us;
    if (us < this.min) this.min = us;
    if (us > this.max) this.max = us;
  }

  /** The value at quantile q (0…1), in µs; the exact max for q = 1; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    if (q >= 1) return this.max;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(Math.max(valueOf(i), this.min), this.max);
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  toJSON(): { counts: SparseCounts; count: number; sum: number; min: number; max: number } {
    const counts: SparseCounts = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) counts.push([i, this.counts[i]!]);
    return { counts, count: this.count, sum: this.sum, min: this.min, max: this.max };
  }

  add(other: ReturnType<Histogram['toJSON']>): void {
    for (const [i, n] of other.counts) this.counts[i]! += n;
    this.count += other.count;
    this.sum += other.sum;
    if (other.count > 0) {
      this.min = Math.min(this.min, other.min);
      this.max = Math.max(this.max, other.max);
    }
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = 0;
  }
}
