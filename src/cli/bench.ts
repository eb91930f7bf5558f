// `upshift bench URL`: a load generator for echo endpoints. Connections are spread over worker
// threads (bench-worker.ts), so on a machine with cores to spare the client is not what limits
// the figure; the main thread only merges the workers' per-interval reports, draws the progress
// line and writes the results (a table, --json, --html).

import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { clientOptions } from './connect.js';
import { Histogram } from './histogram.js';
import type { FromWorker, WorkerConfig, WorkerErrors } from './bench-worker.js';
import { IntervalMerger, ms } from './bench-intervals.js';
import { benchHtml, type BenchInterval, type BenchResult } from './bench-report.js';

export type { BenchInterval, BenchResult };

export const BENCH_SPEC: CommandSpec = {
  name: 'bench',
  usage: 'upshift bench URL [options]',
  summary: 'Send messages to an echo endpoint at URL and measure throughput and round-trip latency.',
  positionals: [{ name: 'URL', optional: false }],
  flags: [
    { name: 'connections', short: 'c', type: 'integer', value: 'N', help: 'Connections', default: 16 },
    { name: 'size', type: 'size', value: 'BYTES', help: 'Message size (e.g. 32, 4k, 1m)', default: 32 },
    { name: 'in-flight', type: 'integer', value: 'N', help: 'Messages in flight per connection', default: 1 },
    { name: 'duration', short: 'd', type: 'seconds', value: 'SECONDS', help: 'Measured time', default: 10 },
    { name: 'warmup', type: 'seconds', value: 'SECONDS', help: 'Traffic before measuring (not counted)', default: 0 },
    { name: 'rate', type: 'integer', value: 'MSG/S', help: 'Open loop: this many messages per second in total (0: as fast as echoes return)', default: 0 },
    { name: 'threads', short: 't', type: 'integer', value: 'N', help: 'Worker threads (default: half the CPUs, at least 1)' },
    { name: 'text', type: 'boolean', help: 'Text messages (default: binary)' },
    { name: 'deflate', type: 'boolean', help: 'Offer permessage-deflate (RFC 7692)' },
    { name: 'http2', type: 'boolean', help: 'WebSockets over HTTP/2 (RFC 8441), one session per thread' },
    { name: 'header', short: 'H', type: 'list', value: "'NAME: VALUE'", help: 'Extra request header' },
    { name: 'subprotocol', short: 's', type: 'list', value: 'NAME', help: 'Offer this subprotocol' },
    { name: 'insecure', short: 'k', type: 'boolean', help: 'Accept any TLS certificate' },
    { name: 'ca', type: 'string', value: 'FILE', help: 'Trust this CA certificate (PEM)' },
    { name: 'concurrency', type: 'integer', value: 'N', help: 'Handshakes in progress at once, per thread', default: 50 },
    { name: 'json', type: 'boolean', help: 'Print the results as one JSON object instead of a table' },
    { name: 'html', type: 'string', value: 'FILE', help: 'Write a self-contained HTML report with charts' },
  ],
  details: `The payload is pseudo-random lower-case letters. Latency is the echo round trip, timed in the
client from each send (with --rate: from its scheduled time). Only echoes received inside the
measured window count. Exit status 1 if any error happened (a failed handshake, a connection the
server closed, an echo that does not match).

Examples:
  upshift bench ws://127.0.0.1:8080/echo -c 64 --in-flight 16 -d 10
  upshift bench ws://127.0.0.1:8080/echo --size 64k --deflate --json
  upshift bench wss://localhost:8443/echo -k --http2 --rate 5000 --html report.html`,
};

interface BenchFlags {
  connections: number;
  size: number;
  inFlight: number;
  duration: number;
  warmup: number;
  rate: number;
  threads?: number;
  text?: boolean;
  deflate?: boolean;
  http2?: boolean;
  header?: string[];
  subprotocol?: string[];
  insecure?: boolean;
  ca?: string;
  concurrency: number;
  json?: boolean;
  html?: string;
}

export async function runBench(args: ParsedArgs): Promise<number> {
  const flags = args.flags as unknown as BenchFlags;
  const url = args.positionals[0]!;
  if (flags.connections < 1) throw new UsageError('--connections must be at least 1', 'bench');
  if (flags.inFlight < 1) throw new UsageError('--in-flight must be at least 1', 'bench');
  if (flags.duration <= 0) throw new UsageError('--duration must be more than 0', 'bench');
  if (flags.concurrency < 1) throw new UsageError('--concurrency must be at least 1', 'bench');
  const threads = Math.max(1, Math.min(flags.connections, flags.threads ?? Math.floor(availableParallelism() / 2)));
  const client = clientOptions({ header: flags.header, subprotocol: flags.subprotocol, deflate: flags.deflate, http2: flags.http2, insecure: flags.insecure, ca: flags.ca, timeout: 10, pingInterval: 0, binaryAs: 'hex', maxPayload: Math.max(flags.size * 2, 1024 * 1024) });
  // Fail fast on a bad URL before starting threads.
  new URL(url);
  const durationMs = flags.duration * 1000;
  const intervalMs = durationMs <= 5000 ? 250 : 1000;
  const progress = process.stderr.isTTY === true && !flags.json;

  const workers: Worker[] = [];
  const intervals = new IntervalMerger(threads);
  const total = new Histogram();
  const handshakes = new Histogram();
  const errors: WorkerErrors = { handshake: 0, closed: 0, mismatch: 0, samples: [] };
  const closeCodes: Record<string, number> = {};
  let messages = 0;
  let bytes = 0;
  let sent = 0;
  let openAtEnd = 0;
  let connected = 0;
  let failed = 0;

  const line = (text: string): void => {
    if (progress) process.stderr.write(`\r\x1b[2K${text}`);
  };

  await new Promise<void>((resolve, reject) => {
    let ready = 0;
    let done = 0;
    const onSignal = (): void => {
      for (const worker of workers) worker.postMessage({ type: 'stop' });
    };
    process.once('SIGINT', onSignal);
    for (let i = 0; i < threads; i++) {
      const share = Math.floor(flags.connections / threads) + (i < flags.connections % threads ? 1 : 0);
      const config: WorkerConfig = {
        url,
        connections: share,
        size: flags.size,
        inFlight: flags.inFlight,
        rate: (flags.rate * share) / flags.connections,
        binary: !flags.text,
        concurrency: flags.concurrency,
        intervalMs,
        client,
      };
      const worker = new Worker(new URL('./bench-worker.js', import.meta.url), { workerData: config });
      workers.push(worker);
      worker.on('error', reject);
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'connected') {
          connected += message.open;
          failed += message.failed;
          handshakes.add(message.handshakeMs);
          line(`connecting: ${connected}/${flags.connections} open${failed ? `, ${failed} failed` : ''}`);
          if (++ready === threads) {
            if (connected === 0) {
              for (const w of workers) w.postMessage({ type: 'stop' });
            } else {
              for (const w of workers) w.postMessage({ type: 'start', durationMs, warmupMs: flags.warmup * 1000 });
            }
          }
        } else if (message.type === 'interval') {
          for (const point of intervals.add(i, message)) showProgress(point);
        } else {
          messages += message.messages;
          bytes += message.bytes;
          sent += message.sent;
          openAtEnd += message.open;
          total.add(message.histogram);
          errors.handshake += message.errors.handshake;
          errors.closed += message.errors.closed;
          errors.mismatch += message.errors.mismatch;
          for (const s of message.errors.samples) if (errors.samples.length < 5 && !errors.samples.includes(s)) errors.samples.push(s);
          for (const [code, n] of Object.entries(message.closeCodes)) closeCodes[code] = (closeCodes[code] ?? 0) + n;
          if (++done === threads) {
            process.removeListener('SIGINT', onSignal);
            resolve();
          }
        }
      });
    }
  });

  await Promise.all(workers.map((w) => w.terminate()));
  intervals.finish();
  if (progress) process.stderr.write('\r\x1b[2K');

  function showProgress(point: BenchInterval): void {
    line(
      `${point.t.toFixed(1).padStart(5)} s  ${point.msgs_per_s.toLocaleString('en-US').padStart(10)} msg/s  ${point.mb_per_s.toFixed(2).padStart(8)} MB/s  ` +
        `p50 ${point.p50_ms.toFixed(2)} ms  p99 ${point.p99_ms.toFixed(2)} ms  ${point.open} open  ${errors.handshake + point.errors} errors`,
    );
  }

  const merged = intervals.points;
  const windowSeconds = merged.length > 0 ? merged[merged.length - 1]!.t : flags.duration;
  const errorCount = errors.handshake + errors.closed + errors.mismatch;
  const result: BenchResult = {
    url,
    connections: flags.connections,
    threads,
    size: flags.size,
    binary: !flags.text,
    in_flight: flags.inFlight,
    rate: flags.rate,
    deflate: flags.deflate === true,
    http2: flags.http2 === true,
    duration_s: Math.round(windowSeconds * 1000) / 1000,
    messages,
    sent,
    msgs_per_s: windowSeconds > 0 ? Math.round(messages / windowSeconds) : 0,
    mb_per_s: windowSeconds > 0 ? Math.round((bytes / windowSeconds / 1e6) * 1000) / 1000 : 0,
    latency_ms: {
      p50: ms(total.quantile(0.5)),
      p90: ms(total.quantile(0.9)),
      p99: ms(total.quantile(0.99)),
      p999: ms(total.quantile(0.999)),
      max: ms(total.max),
      mean: ms(total.mean()),
    },
    handshake_ms: { p50: ms(handshakes.quantile(0.5)), p99: ms(handshakes.quantile(0.99)), max: ms(handshakes.max) },
    errors: errorCount,
    error_detail: errors,
    open_at_end: openAtEnd,
    close_codes: closeCodes,
    intervals: merged,
  };
  if (flags.json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(formatTable(result));
  if (flags.html !== undefined) writeFileSync(flags.html, benchHtml(result));
  return errorCount > 0 || messages === 0 ? 1 : 0;
}

function bytesText(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function formatTable(r: BenchResult): string {
  const mode = r.rate > 0 ? `${r.rate.toLocaleString('en-US')} msg/s scheduled, at most ${r.in_flight} in flight each` : `${r.in_flight} in flight each`;
  const extras = [r.http2 ? 'HTTP/2' : null, r.deflate ? 'permessage-deflate' : null].filter(Boolean).join(', ');
  const l = r.latency_ms;
  const rows = [
    `upshift bench ${r.url}`,
    `  ${r.connections} connections (${r.threads} thread${r.threads === 1 ? '' : 's'}), ${bytesText(r.size)} ${r.binary ? 'binary' : 'text'}, ${mode}, ${r.duration_s} s${extras ? `, ${extras}` : ''}`,
    '',
    `  messages   ${r.messages.toLocaleString('en-US').padStart(12)} echoed   ${r.msgs_per_s.toLocaleString('en-US').padStart(10)} msg/s`,
    `  payload    ${bytesText(r.messages * r.size).padStart(12)}          ${r.mb_per_s.toFixed(2).padStart(10)} MB/s each way`,
    `  latency    p50 ${l.p50.toFixed(3)} ms   p90 ${l.p90.toFixed(3)} ms   p99 ${l.p99.toFixed(3)} ms   max ${l.max.toFixed(3)} ms`,
    `  handshake  p50 ${r.handshake_ms.p50.toFixed(3)} ms   p99 ${r.handshake_ms.p99.toFixed(3)} ms`,
    `  errors     ${r.errors}${r.errors > 0 ? ` (handshake ${r.error_detail.handshake}, closed ${r.error_detail.closed}, mismatch ${r.error_detail.mismatch}): ${r.error_detail.samples.join('; ')}` : ''}`,
    '',
  ];
  return rows.join('\n');
}
