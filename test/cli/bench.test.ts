// `upshift bench` as a process against `upshift serve --echo`: its JSON (counts that add up,
// percentiles in order, intervals), two worker threads, HTTP/2, the HTML report, and errors
// counted (and exit status 1) against an endpoint that does not echo.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResult } from '../../src/cli/bench.js';
import { TIMER_SLACK_MS } from '../helpers/events.js';
import { runCli, startServe, testOutput, type Served } from './support/cli.js';

describe('bench against serve', { timeout: 60_000 }, () => {
  let served: Served;
  before(async () => {
    served = await startServe(['--no-static', '-q', '--http2', '--echo', '/echo', '--broadcast', '/room']);
  });
  after(async () => {
    await served?.stop();
  });

  test('--json: two threads over HTTP/1.1, and HTTP/2 with an HTML report', async () => {
    const html = join(testOutput(), 'bench-report.html');
    const [plain, http2] = await Promise.all([
      runCli(['bench', `${served.wsBase}/echo`, '-c', '4', '-t', '2', '--in-flight', '2', '--size', '100', '-d', '1', '--json'], '', 30_000),
      runCli(['bench', `${served.wsBase}/echo`, '-c', '2', '--http2', '--text', '-d', '1', '--json', '--html', html], '', 30_000),
    ]);
    for (const [run, expect] of [
      [plain, { connections: 4, threads: 2, size: 100, in_flight: 2, http2: false, binary: true }],
      [http2, { connections: 2, threads: 1, size: 32, in_flight: 1, http2: true, binary: false }],
    ] as const) {
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim().split('\n').length, 1, 'one JSON line');
      const result = JSON.parse(run.stdout) as BenchResult;
      for (const [key, value] of Object.entries(expect)) assert.equal(result[key as keyof BenchResult], value, key);
      assert.ok(result.messages > 0, 'messages were echoed');
      assert.equal(result.errors, 0, JSON.stringify(result.error_detail));
      assert.ok(result.sent >= result.messages);
      assert.equal(result.open_at_end, expect.connections);
      assert.ok(result.duration_s > 0.5 && result.duration_s < 1 + TIMER_SLACK_MS / 1000, `window ${result.duration_s} s`);
      assert.ok(Math.abs(result.msgs_per_s - result.messages / result.duration_s) <= 1 + result.msgs_per_s * 0.01);
      assert.ok(Math.abs(result.mb_per_s - (result.messages * expect.size) / result.duration_s / 1e6) < 0.01);
      const l = result.latency_ms;
      assert.ok(0 < l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, JSON.stringify(l));
      assert.ok(result.intervals.length >= 3, `${result.intervals.length} intervals`);
      // An interval's rate is over its real span, which a busy machine stretches past 250 ms.
      const counted = result.intervals.reduce((sum, i, n) => sum + i.msgs_per_s * (i.t - (result.intervals[n - 1]?.t ?? 0)), 0);
      assert.ok(Math.abs(counted - result.messages) <= 2 + result.messages * 0.02, `intervals add up: ${counted} vs ${result.messages}`);
      assert.deepEqual(result.close_codes, { 1000: expect.connections });
    }
    const page = readFileSync(html, 'utf8');
    assert.match(page, /^<!doctype html>/);
    assert.equal((page.match(/<svg /g) ?? []).length, 2, 'a throughput chart and a latency chart');
    assert.match(page, /<polyline [^>]*points="[\d., ]+"/);
    assert.doesNotMatch(page, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'self-contained');
  });

  test('failures: a room does not echo to the sender (nothing comes back), a path without an endpoint refuses', async () => {
    const [run, refused] = await Promise.all([
      runCli(['bench', `${served.wsBase}/room`, '-c', '1', '-d', '0.5', '--json'], '', 30_000),
      runCli(['bench', `${served.wsBase}/nowhere`, '-c', '2', '-d', '0.5', '--json'], '', 30_000),
    ]);
    const result = JSON.parse(run.stdout) as BenchResult;
    assert.equal(run.code, 1, 'no echo is a failure');
    assert.equal(result.messages, 0);
    assert.equal(refused.code, 1);
    const failed = JSON.parse(refused.stdout) as BenchResult;
    assert.equal(failed.error_detail.handshake, 2);
    assert.match(failed.error_detail.samples[0] ?? '', /404/);
  });
});
