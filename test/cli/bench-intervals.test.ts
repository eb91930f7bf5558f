// `upshift bench` merging the workers' interval reports: slots merge in order once complete,
// rates are over each interval's real span, and trailing slots that only some workers sent are
// merged at the end, so the intervals account for every counted message.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { IntervalMerger } from '../../src/cli/bench-intervals.js';
import type { IntervalReport } from '../../src/cli/bench-worker.js';
import { Histogram } from '../../src/cli/histogram.js';

function report(t: number, messages: number, latencyUs = 100): IntervalReport {
  const h = new Histogram();
  for (let i = 0; i < messages; i++) h.record(latencyUs);
  return { type: 'interval', t, messages, bytes: messages * 10, errors: 0, open: 1, histogram: h.toJSON() };
}

describe('bench interval merging', () => {
  test('a slot merges when every worker has sent it, in order, whichever worker is ahead', () => {
    const merger = new IntervalMerger(2);
    assert.deepEqual(merger.add(0, report(250, 100)), []);
    assert.deepEqual(merger.add(0, report(500, 100)), [], 'worker 1 has sent nothing yet');
    const both = merger.add(1, report(251, 50));
    assert.deepEqual(both.map((p) => p.t), [0.251]);
    assert.equal(both[0]!.msgs_per_s, Math.round(150 / 0.251));
    assert.equal(both[0]!.open, 2);
    assert.deepEqual(merger.add(1, report(502, 50)).map((p) => p.t), [0.502]);
    assert.deepEqual(merger.finish(), []);
  });

  test('a late timer stretches the interval: the rate is over the real span, not the nominal one', () => {
    const merger = new IntervalMerger(1);
    merger.add(0, report(250, 250));
    const [late] = merger.add(0, report(1250, 250));
    assert.equal(late!.msgs_per_s, 250, '250 messages over 1 s, not over 250 ms');
    assert.equal(late!.mb_per_s, 0.003);
  });

  test('a trailing slot that only one worker sent is merged by finish, so no message is left out', () => {
    const merger = new IntervalMerger(2);
    const points = [
      ...merger.add(0, report(250, 100)),
      ...merger.add(1, report(250, 100)),
      ...merger.add(0, report(500, 100)),
      ...merger.add(1, report(500, 100)),
      ...merger.add(0, report(500.4, 1)), // worker 0's finish timer ran after its reporter
    ];
    assert.equal(points.length, 2);
    const rest = merger.finish();
    assert.equal(rest.length, 1);
    assert.equal(rest[0]!.open, 1, 'only the worker that reported');
    const all = merger.points;
    assert.equal(all.length, 3);
    const counted = all.reduce((sum, p, i) => sum + p.msgs_per_s * (p.t - (all[i - 1]?.t ?? 0)), 0);
    assert.ok(Math.abs(counted - 401) <= 2, `${counted}`);
  });

  test('latency percentiles come from the merged histograms', () => {
    const merger = new IntervalMerger(2);
    merger.add(0, report(250, 99, 100));
    const [point] = merger.add(1, report(250, 1, 50_000));
    assert.ok(Math.abs(point!.p50_ms - 0.1) < 0.01, `${point!.p50_ms}`);
    assert.ok(Math.abs(point!.max_ms - 50) < 0.01, `${point!.max_ms}`);
  });
});
