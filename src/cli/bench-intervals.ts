// `upshift bench`: merges the workers' per-interval reports into one series. Slot k holds every
// worker's k-th report; it is merged once all workers have sent theirs. Each worker ends with a
// report from its own finish timer, so one worker may send one report more than another: `finish`
// merges such incomplete trailing slots, so every counted message is in exactly one interval.

import { Histogram } from './histogram.js';
import type { IntervalReport } from './bench-worker.js';
import type { BenchInterval } from './bench-report.js';

/** Microseconds to milliseconds, kept to the microsecond. */
export const ms = (us: number): number => Math.round(us) / 1000;

export class IntervalMerger {
  readonly points: BenchInterval[] = [];
  readonly #threads: number;
  readonly #slots: IntervalReport[][] = [];
  /** How many reports each worker has sent. */
  readonly #sent: number[];
  #merged = 0;

  constructor(threads: number) {
    this.#threads = threads;
    this.#sent = new Array<number>(threads).fill(0);
  }

  /** Takes worker `worker`'s next report; returns the points this completes (in order). */
  add(worker: number, report: IntervalReport): BenchInterval[] {
    const k = this.#sent[worker]!++;
    (this.#slots[k] ??= []).push(report);
    const done: BenchInterval[] = [];
    // A slot is complete once every worker has sent it; workers send in order, so slots complete in order.
    while (this.#merged < this.#slots.length && this.#slots[this.#merged]!.length === this.#threads) done.push(this.#merge(this.#slots[this.#merged++]!));
    return done;
  }

  /** Merges what is left (slots that not every worker reported); call once all workers are done. */
  finish(): BenchInterval[] {
    const done: BenchInterval[] = [];
    while (this.#merged < this.#slots.length) done.push(this.#merge(this.#slots[this.#merged++]!));
    return done;
  }

  #merge(reports: IntervalReport[]): BenchInterval {
    const h = new Histogram();
    let messages = 0;
    let bytes = 0;
    let errors = 0;
    let open = 0;
    for (const r of reports) {
      h.add(r.histogram);
      messages += r.messages;
      bytes += r.bytes;
      errors += r.errors;
      open += r.open;
    }
    const seconds = Math.max(...reports.map((r) => r.t)) / 1000;
    const previous = this.points.length > 0 ? this.points[this.points.length - 1]!.t : 0;
    // Rates are over the interval's real span: a busy machine runs timers late.
    const span = Math.max(0.001, seconds - previous);
    const point: BenchInterval = {
      t: Math.round(seconds * 1000) / 1000,
      msgs_per_s: Math.round(messages / span),
      mb_per_s: Math.round((bytes / span / 1e6) * 1000) / 1000,
      p50_ms: ms(h.quantile(0.5)),
      p99_ms: ms(h.quantile(0.99)),
      max_ms: ms(h.max),
      errors,
      open,
    };
    this.points.push(point);
    return point;
  }
}
