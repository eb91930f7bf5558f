// The CLI's pure parts (flag parsing, sizes and durations, byte ranges, the latency histogram,
// Prometheus text, the line splitter) and `upshift` as a process: help, version, usage errors
// (exit 2), and the package.json "bin" entry that `npx upshift` runs.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatHelp, parseArgs, parseSeconds, parseSize, UsageError, type CommandSpec } from '../../src/cli/args.js';
import { Histogram } from '../../src/cli/histogram.js';
import { parseRange } from '../../src/cli/static.js';
import { prometheusText } from '../../src/cli/dashboard.js';
import { LineSplitter } from '../../src/cli/exec.js';
import { REPO_ROOT } from '../peers/support/peers.js';
import { CLI_JS, runCli } from './support/cli.js';

const SPEC: CommandSpec = {
  name: 'demo',
  usage: 'upshift demo [x]',
  summary: 'A demo command.',
  positionals: [{ name: 'x', optional: true }],
  rest: true,
  flags: [
    { name: 'port', short: 'p', type: 'integer', help: 'Port', default: 8080 },
    { name: 'header', short: 'H', type: 'list', help: 'Header' },
    { name: 'max-payload', type: 'size', help: 'Size' },
    { name: 'duration', short: 'd', type: 'seconds', help: 'Time' },
    { name: 'insecure', short: 'k', type: 'boolean', help: 'Insecure' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'Quiet' },
    { name: 'mode', type: 'string', help: 'Mode', choices: ['a', 'b'] },
  ],
};

describe('argument parsing', () => {
  test('long, short, grouped and attached forms; defaults; lists; the rest after --', () => {
    const parsed = parseArgs(SPEC, ['dir', '--port=9', '-H', 'A: 1', '-HB: 2', '-kq', '--max-payload', '64k', '-d', '500ms', '--mode', 'b', '--', 'prog', '--port', '1']);
    assert.deepEqual(parsed.positionals, ['dir']);
    assert.deepEqual(parsed.rest, ['prog', '--port', '1']);
    assert.deepEqual(parsed.flags, { port: 9, header: ['A: 1', 'B: 2'], insecure: true, quiet: true, maxPayload: 65536, duration: 0.5, mode: 'b' });
    assert.equal(parseArgs(SPEC, []).flags.port, 8080);
  });

  test('mistakes are UsageErrors that say what is wrong', () => {
    const cases: [string[], RegExp][] = [
      [['--nope'], /unknown option --nope/],
      [['-z'], /unknown option -z/],
      [['--port'], /--port needs a value/],
      [['--port', 'x'], /--port needs a whole number, got "x"/],
      [['--max-payload', '12q'], /needs a size/],
      [['-d', 'soon'], /needs a duration/],
      [['--mode', 'c'], /--mode must be one of a, b/],
      [['--insecure=yes'], /--insecure takes no value/],
      [['a', 'b'], /unexpected argument "b"/],
    ];
    for (const [argv, message] of cases) assert.throws(() => parseArgs(SPEC, argv), (error: Error) => error instanceof UsageError && message.test(error.message), argv.join(' '));
    assert.throws(() => parseArgs({ ...SPEC, rest: false }, ['--', 'x']), /takes no program arguments/);
  });

  test('sizes and durations', () => {
    assert.equal(parseSize('512'), 512);
    assert.equal(parseSize('16m'), 16 * 1024 * 1024);
    assert.equal(parseSize('1.5KiB'), 1536);
    assert.equal(parseSize('-1'), null);
    assert.equal(parseSeconds('10'), 10);
    assert.equal(parseSeconds('2m'), 120);
    assert.equal(parseSeconds('250ms'), 0.25);
    assert.equal(parseSeconds('1h30'), null);
  });

  test('help lists every flag with its default', () => {
    const help = formatHelp(SPEC);
    assert.match(help, /^Usage: upshift demo \[x\]/);
    assert.match(help, /-p, --port VALUE +Port \[default: 8080\]/);
    assert.match(help, /--mode VALUE +Mode \(a\|b\)/);
    assert.match(help, /-H, --header VALUE +Header \(repeatable\)/);
    assert.match(help, /-h, --help +Show this help/);
  });
});

describe('byte ranges (RFC 9110 §14)', () => {
  test('one range, suffixes, open ends, clipping; several or invalid ranges are ignored', () => {
    assert.deepEqual(parseRange(undefined, 100), { kind: 'full' });
    assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'partial', start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-500', 100), { kind: 'partial', start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=50-500', 100), { kind: 'partial', start: 50, end: 99 });
    assert.deepEqual(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=-0', 100), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=9-1', 100), { kind: 'full' });
    assert.deepEqual(parseRange('bytes=0-1,4-5', 100), { kind: 'full' });
    assert.deepEqual(parseRange('items=0-1', 100), { kind: 'full' });
  });
});

describe('latency histogram', () => {
  test('quantiles within the bucket resolution (about 3 %), exact max, merge', () => {
    const h = new Histogram();
    for (let i = 1; i <= 10_000; i++) h.record(i); // 1 µs … 10 ms, uniform
    for (const [q, expected] of [[0.5, 5000], [0.9, 9000], [0.99, 9900]] as const) {
      const got = h.quantile(q);
      assert.ok(Math.abs(got - expected) / expected < 0.035, `q${q}: ${got} vs ${expected}`);
    }
    assert.equal(h.quantile(1), 10_000);
    assert.equal(h.min, 1);
    assert.ok(Math.abs(h.mean() - 5000.5) < 1e-6);
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 1; i <= 10_000; i++) (i % 2 ? a : b).record(i);
    a.add(JSON.parse(JSON.stringify(b.toJSON())));
    assert.deepEqual([a.count, a.quantile(0.5), a.max], [h.count, h.quantile(0.5), h.max]);
    const tiny = new Histogram();
    tiny.record(0.3);
    assert.ok(Math.abs(tiny.quantile(0.5) - 0.3) < 0.1);
    const huge = new Histogram();
    huge.record(1e12);
    assert.equal(huge.quantile(0.5), 1e12, 'clamped to the exact max');
  });
});

describe('Prometheus text and the line splitter', () => {
  test('counters per endpoint, refusals by status and stage, connections by transport, topic names escaped', () => {
    const text = prometheusText({
      time: 0,
      uptime: 1500,
      connections: { open: 2, accepted: 5, byTransport: { 'http/1.1': 1, h2: 1, h2c: 0 } },
      handshakes: {
        accepted: 5,
        refused: 1,
        refusedByStatus: { 503: 1 },
        refusedByStage: { request: 0, policy: 0, verify: 1, response: 0, listener: 0 },
      },
      messages: { in: 0, out: 3 },
      bytes: { in: 0, out: 30 },
      endpoints: [{ kind: 'echo', path: '/e', open: 2, accepted: 5, messagesIn: 0, messagesOut: 3, bytesIn: 0, bytesOut: 30 }],
      topics: [{ topic: 'a"b\\c\nd', published: 1, delivered: 2, subscribers: 1 }],
      refusals: [{ time: 0, status: 503, reason: 'full', path: '/e', remote: '::1', stage: 'verify', transport: 'h2' }],
    });
    assert.match(text, /^upshift_uptime_seconds 1.5$/m);
    assert.match(text, /^upshift_messages_sent_total\{kind="echo",path="\/e"\} 3$/m);
    assert.match(text, /^upshift_payload_bytes_sent_total\{kind="echo",path="\/e"\} 30$/m);
    assert.match(text, /^upshift_handshakes_refused_total\{status="503"\} 1$/m);
    assert.match(text, /^upshift_handshakes_refused_by_stage_total\{stage="verify"\} 1$/m);
    assert.match(text, /^upshift_transport_connections_open\{transport="h2"\} 1$/m);
    assert.match(text, /^upshift_topic_delivered_total\{topic="a\\"b\\\\c\\nd"\} 2$/m);
    assert.ok(text.endsWith('\n'));
  });

  test('lines split across chunks, CRLF, and the unterminated rest', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter();
    for (const chunk of ['one\ntw', 'o\r\n', '\nthr', 'ee']) splitter.push(Buffer.from(chunk), (line) => lines.push(line.toString()));
    assert.deepEqual(lines, ['one', 'two', '']);
    assert.equal(splitter.flush()?.toString(), 'three');
    assert.equal(splitter.flush(), null);
  });
});

describe('upshift as a process', () => {
  test('help, version, per-command help; unknown flags and commands exit 2', async () => {
    const [help, version, serveHelp, unknownFlag, unknownCommand, none] = await Promise.all([
      runCli(['--help']),
      runCli(['--version']),
      runCli(['serve', '--help']),
      runCli(['bench', 'ws://x', '--frobnicate']),
      runCli(['frobnicate']),
      runCli([]),
    ]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Commands:\n {2}serve .*\n {2}connect .*\n {2}bench /);
    const pkg = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, 'utf8')) as { version: string; bin: Record<string, string>; files: string[] };
    assert.deepEqual([version.code, version.stdout], [0, `${pkg.version}\n`]);
    assert.equal(serveHelp.code, 0);
    for (const flag of ['--echo', '--broadcast', '--topics', '--exec', '--tls', '--http2', '--h2c', '--deflate', '--max-payload', '--max-connections', '--pubsub', '--dashboard', '--metrics']) {
      assert.ok(serveHelp.stdout.includes(flag), `serve --help mentions ${flag}`);
    }
    assert.deepEqual([unknownFlag.code, unknownFlag.stderr], [2, 'upshift bench: unknown option --frobnicate\nSee: upshift bench --help\n']);
    assert.equal(unknownCommand.code, 2);
    assert.match(unknownCommand.stderr, /unknown command "frobnicate"/);
    assert.equal(none.code, 2, 'no command is a usage error, with the help');
    assert.match(none.stdout, /^Usage: upshift <command>/);
    // `npx upshift` runs the "bin" entry: this file, with a shebang, in the published files.
    assert.equal(`${REPO_ROOT}${pkg.bin.upshift!.replace(/^\.\//, '')}`, CLI_JS);
    assert.ok(pkg.files.some((entry) => pkg.bin.upshift!.replace(/^\.\//, '').startsWith(entry)));
    assert.ok(readFileSync(CLI_JS, 'utf8').startsWith('#!/usr/bin/env node\n'));
  });
});
