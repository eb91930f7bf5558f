// One worker thread of `upshift bench`: opens its share of the connections, then drives echo
// round trips on them until told the window is over, and reports per interval.
//
// Round trips are timed from client-side send times, kept per connection in send order (an echo
// server answers in order on each connection): no clock travels in the payload, so one payload
// buffer serves every message. Closed loop: each connection keeps --in-flight messages out,
// sending the next when one comes back. With --rate: sends are scheduled at fixed times and the
// round trip is timed from the scheduled time, so a slow server is not hidden by a client that
// waited for it (no coordinated omission); --in-flight then caps what is outstanding.

import { parentPort, workerData } from 'node:worker_threads';
import { connect, type ClientOptions, type WebSocketConnection } from '../index.js';
import { Histogram } from './histogram.js';

export interface WorkerConfig {
  url: string;
  connections: number;
  size: number;
  inFlight: number;
  /** Messages per second for this worker; 0 for a closed loop. */
  rate: number;
  binary: boolean;
  /** How many handshakes may be in progress at once. */
  concurrency: number;
  intervalMs: number;
  client: ClientOptions;
}

export type ToWorker = { type: 'start'; durationMs: number; warmupMs: number } | { type: 'stop' };

export interface IntervalReport {
  type: 'interval';
  /** ms since the start of the measured window, at the end of this interval. */
  t: number;
  messages: number;
  bytes: number;
  errors: number;
  open: number;
  histogram: ReturnType<Histogram['toJSON']>;
}

export interface WorkerErrors {
  handshake: number;
  closed: number;
  mismatch: number;
  /** First message of each kind, for the report. */
  samples: string[];
}

export type FromWorker =
  | { type: 'connected'; open: number; failed: number; handshakeMs: ReturnType<Histogram['toJSON']> }
  | IntervalReport
  | { type: 'done'; messages: number; bytes: number; sent: number; open: number; errors: WorkerErrors; histogram: ReturnType<Histogram['toJSON']>; closeCodes: Record<string, number> };

interface Conn {
  ws: WebSocketConnection;
  /** Send (or scheduled) times of the messages in flight, oldest first. */
  times: number[];
  head: number;
  /** Scheduled sends waiting for room under --in-flight (rate mode). */
  backlog: number[];
  open: boolean;
}

const config = workerData as WorkerConfig;
const port = parentPort!;
const payload = Buffer.alloc(config.size);
// Lower-case letters: valid UTF-8 for --text, and compressible about as well as typical text.
for (let i = 0, x = 0x9e3779b9; i < payload.length; i++) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  payload[i] = 97 + ((x >>> 0) % 26);
}
const sendOptions = { binary: config.binary };

const errors: WorkerErrors = { handshake: 0, closed: 0, mismatch: 0, samples: [] };
const closeCodes: Record<string, number> = {};
const conns: Conn[] = [];
const windowHistogram = new Histogram();
const total = new Histogram();
let measuring = false;
let stopping = false;
let windowStart = 0;
let intervalMessages = 0;
let intervalBytes = 0;
let intervalErrors = 0;
let messages = 0;
let bytes = 0;
let sent = 0;

function sample(text: string): void {
  if (errors.samples.length < 5 && !errors.samples.includes(text)) errors.samples.push(text);
}

function sendOne(conn: Conn, at: number): void {
  conn.times.push(at);
  sent++;
  conn.ws.send(payload, sendOptions);
}

function onEcho(conn: Conn, data: Buffer, isBinary: boolean): void {
  const now = performance.now();
  if (conn.head >= conn.times.length) {
    errors.mismatch++;
    intervalErrors++;
    sample('a message that was not an echo of ours');
    return;
  }
  const at = conn.times[conn.head++]!;
  // Compact the queue now and then rather than shift() per message.
  if (conn.head > 1024) {
    conn.times = conn.times.slice(conn.head);
    conn.head = 0;
  }
  if (data.length !== config.size || isBinary !== config.binary) {
    errors.mismatch++;
    intervalErrors++;
    sample(`echo of ${data.length} B ${isBinary ? 'binary' : 'text'} for ${config.size} B ${config.binary ? 'binary' : 'text'}`);
  } else if (measuring) {
    const us = (now - at) * 1000;
    windowHistogram.record(us);
    total.record(us);
    messages++;
    bytes += data.length;
    intervalMessages++;
    intervalBytes += data.length;
  }
  if (stopping) return;
  const inFlight = conn.times.length - conn.head;
  if (config.rate === 0) {
    if (inFlight < config.inFlight) sendOne(conn, now);
  } else if (conn.backlog.length > 0 && inFlight < config.inFlight) {
    sendOne(conn, conn.backlog.shift()!);
  }
}

async function open(): Promise<void> {
  const handshakes = new Histogram();
  let next = 0;
  let failed = 0;
  const one = async (): Promise<void> => {
    while (next < config.connections) {
      next++;
      const started = performance.now();
      try {
        const ws = await connect(config.url, config.client);
        handshakes.record((performance.now() - started) * 1000);
        const conn: Conn = { ws, times: [], head: 0, backlog: [], open: true };
        ws.on('message', (data, isBinary) => onEcho(conn, data, isBinary));
        ws.on('error', (error) => sample(error.message));
        ws.once('close', (code) => {
          conn.open = false;
          closeCodes[code] = (closeCodes[code] ?? 0) + 1;
          if (!stopping) {
            errors.closed++;
            intervalErrors++;
            sample(`connection closed by the server: ${code}`);
          }
        });
        conns.push(conn);
      } catch (error) {
        failed++;
        errors.handshake++;
        sample((error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(config.concurrency, config.connections) }, one));
  port.postMessage({ type: 'connected', open: conns.length, failed, handshakeMs: handshakes.toJSON() } satisfies FromWorker);
}

function openCount(): number {
  let n = 0;
  for (const conn of conns) if (conn.open) n++;
  return n;
}

function report(): void {
  const message: IntervalReport = {
    type: 'interval',
    t: performance.now() - windowStart,
    messages: intervalMessages,
    bytes: intervalBytes,
    errors: intervalErrors,
    open: openCount(),
    histogram: windowHistogram.toJSON(),
  };
  intervalMessages = 0;
  intervalBytes = 0;
  intervalErrors = 0;
  windowHistogram.reset();
  port.postMessage(message satisfies FromWorker);
}

let scheduler: NodeJS.Timeout | null = null;
let reporter: NodeJS.Timeout | null = null;
let finishTimer: NodeJS.Timeout | null = null;

function start(durationMs: number, warmupMs: number): void {
  const begin = performance.now();
  windowStart = begin + warmupMs;
  if (warmupMs === 0) measuring = true;
  else
    setTimeout(() => {
      measuring = true;
      reporter = setInterval(report, config.intervalMs);
    }, warmupMs);
  if (warmupMs === 0) reporter = setInterval(report, config.intervalMs);
  if (config.rate === 0) {
    for (const conn of conns) for (let i = 0; i < config.inFlight; i++) if (conn.open) sendOne(conn, performance.now());
  } else {
    // Open loop: every 2 ms, schedule what is due, round robin over the connections.
    let scheduled = 0;
    let turn = 0;
    const period = 1000 / config.rate;
    scheduler = setInterval(() => {
      const now = performance.now();
      const due = Math.floor((now - begin) / period) + 1;
      for (; scheduled < due && conns.length > 0; scheduled++) {
        const at = begin + scheduled * period;
        const conn = conns[turn++ % conns.length]!;
        if (!conn.open) continue;
        if (conn.times.length - conn.head < config.inFlight && conn.backlog.length === 0) sendOne(conn, at);
        else conn.backlog.push(at);
      }
    }, 2);
  }
  finishTimer = setTimeout(finish, warmupMs + durationMs);
}

function finish(): void {
  if (stopping) return;
  if (finishTimer !== null) clearTimeout(finishTimer);
  if (scheduler !== null) clearInterval(scheduler);
  if (reporter !== null) clearInterval(reporter);
  if (measuring) report();
  measuring = false;
  stopping = true;
  const openAtEnd = openCount();
  // Close every connection (1000) and wait, bounded, for the closing handshakes.
  const closing = conns.filter((c) => c.open).map((c) => new Promise<void>((resolve) => {
    c.ws.once('close', () => resolve());
    c.ws.close(1000);
  }));
  const bound = new Promise<void>((resolve) => setTimeout(resolve, 3000).unref());
  void Promise.race([Promise.all(closing), bound]).then(() => {
    for (const c of conns) if (c.open) c.ws.terminate();
    port.postMessage({ type: 'done', messages, bytes, sent, open: openAtEnd, errors, histogram: total.toJSON(), closeCodes } satisfies FromWorker);
  });
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'start') start(message.durationMs, message.warmupMs);
  else finish();
});
void open();
