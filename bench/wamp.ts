// WAMP router benchmark: one router node in its own process, clients in this one.
//
//   node dist/bench/wamp.js [--duration 5] [--subscribers 100] [--callers 4] [--window 64]
//
// fan-out   one publisher, N subscribers of one topic, all with one serializer: events
//           delivered per second (all subscribers together) and publish → EVENT latency p50/p99.
//           The publisher keeps at most `window` publications ahead of the slowest subscriber.
// calls     C callers, one callee, each caller keeping `window` calls in flight: round trips
//           (CALL → INVOCATION → YIELD → RESULT) per second and their latency p50/p99.
// Each runs with `window` messages in flight (throughput) and with one (latency without
// queueing), with each serializer. The router process is pinned to core 0 and this one to core 1
// when taskset exists. The clients speak WAMP directly over `ws` (no client library in the way);
// latency uses one clock, this process's, since publisher and subscribers live here.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { option } from './option.js';

const require = createRequire(import.meta.url);
const msgpackr = require('msgpackr') as { pack(value: unknown): Buffer; unpack(data: Buffer): unknown };

// ---- The router process ----

async function serve(): Promise<void> {
  const { WebSocketServer } = await import('../src/index.js');
  const { WampRouter, selectWampProtocol } = await import('../src/wamp/index.js');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', protocols: selectWampProtocol });
  await once(wss, 'listening');
  new WampRouter({ realms: { bench: {} }, maxBufferedAmount: 64 * 1024 * 1024 }).attach(wss);
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  console.log(JSON.stringify({ port: address.port }));
}

// ---- A minimal WAMP client over ws ----

type Serializer = 'json' | 'msgpack';

class Client {
  readonly ws: WebSocket;
  readonly serializer: Serializer;
  onMessage: (message: unknown[]) => void = () => {};
  #request = 0;

  private constructor(ws: WebSocket, serializer: Serializer) {
    this.ws = ws;
    this.serializer = serializer;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.onMessage((isBinary ? msgpackr.unpack(data) : JSON.parse(data.toString())) as unknown[]);
    });
  }

  static async open(url: string, serializer: Serializer): Promise<Client> {
    const ws = new WebSocket(url, [`wamp.2.${serializer}`], { perMessageDeflate: false });
    await once(ws, 'open');
    const client = new Client(ws, serializer);
    const welcome = client.next();
    client.send([1, 'bench', { roles: { publisher: {}, subscriber: {}, caller: {}, callee: {} } }]);
    if ((await welcome)[0] !== 2) throw new Error('not welcomed');
    return client;
  }

  send(message: unknown[]): void {
    this.ws.send(this.serializer === 'json' ? JSON.stringify(message) : msgpackr.pack(message));
  }

  next(): Promise<unknown[]> {
    return new Promise((resolve) => (this.onMessage = resolve));
  }

  request(): number {
    return ++this.#request;
  }

  async subscribe(topic: string): Promise<void> {
    const done = this.next();
    this.send([32, this.request(), {}, topic]);
    if ((await done)[0] !== 33) throw new Error('not subscribed');
  }

  async register(procedure: string): Promise<void> {
    const done = this.next();
    this.send([64, this.request(), {}, procedure]);
    if ((await done)[0] !== 65) throw new Error('not registered');
  }

  close(): void {
    this.ws.terminate();
  }
}

// ---- Measurements ----

const now = (): number => performance.now();

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Latency samples in a bounded reservoir (every k-th sample once it is full). */
class Samples {
  readonly #values = new Float64Array(200_000);
  #count = 0;
  #seen = 0;

  add(value: number): void {
    this.#seen++;
    if (this.#count < this.#values.length) this.#values[this.#count++] = value;
    else {
      const slot = Math.floor(Math.random() * this.#seen);
      if (slot < this.#values.length) this.#values[slot] = value;
    }
  }

  summary(): { p50: number; p99: number } {
    const sorted = this.#values.slice(0, this.#count).sort();
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  }
}

async function fanOut(url: string, serializer: Serializer, subscribers: number, seconds: number, window: number): Promise<Record<string, number>> {
  const subs: Client[] = [];
  const received = new Int32Array(subscribers);
  const latency = new Samples();
  let measuring = false;
  let delivered = 0;
  let wake: (() => void) | null = null;
  for (let i = 0; i < subscribers; i++) {
    const client = await Client.open(url, serializer);
    await client.subscribe('com.bench.fan');
    client.onMessage = (message) => {
      if (message[0] !== 36) return;
      received[i]!++;
      const sent = (message[4] as number[])[0]!;
      if (measuring) {
        delivered++;
        latency.add(now() - sent);
      }
      if (wake !== null) {
        const w = wake;
        wake = null;
        w();
      }
    };
    subs.push(client);
  }
  const publisher = await Client.open(url, serializer);
  const slowest = (): number => {
    let min = Infinity;
    for (let i = 0; i < subscribers; i++) min = Math.min(min, received[i]!);
    return min;
  };
  let published = 0;
  const run = async (until: number): Promise<void> => {
    while (now() < until) {
      while (published - slowest() < window) {
        publisher.send([16, publisher.request(), {}, 'com.bench.fan', [now(), 'x'.repeat(32)]]);
        published++;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  await run(now() + 1000); // warm-up
  measuring = true;
  const start = now();
  await run(start + seconds * 1000);
  const elapsed = (now() - start) / 1000;
  measuring = false;
  for (const client of [...subs, publisher]) client.close();
  const { p50, p99 } = latency.summary();
  return { subscribers, eventsPerSecond: Math.round(delivered / elapsed), publicationsPerSecond: Math.round(delivered / subscribers / elapsed), p50Ms: round(p50), p99Ms: round(p99) };
}

async function calls(url: string, serializer: Serializer, callers: number, seconds: number, window: number): Promise<Record<string, number>> {
  const callee = await Client.open(url, serializer);
  await callee.register('com.bench.echo');
  callee.onMessage = (message) => {
    if (message[0] === 68) callee.send([70, message[1], {}, message[4]]);
  };
  const latency = new Samples();
  let measuring = false;
  let completed = 0;
  let stopAt = 0;
  const clients: Client[] = [];
  const starters: (() => void)[] = [];
  const finished: Promise<void>[] = [];
  for (let c = 0; c < callers; c++) {
    const caller = await Client.open(url, serializer);
    clients.push(caller);
    const sentAt = new Map<number, number>();
    let inFlight = 0;
    let done!: () => void;
    finished.push(new Promise((resolve) => (done = resolve)));
    const fire = (): void => {
      const request = caller.request();
      sentAt.set(request, now());
      inFlight++;
      caller.send([48, request, {}, 'com.bench.echo', [request]]);
    };
    caller.onMessage = (message) => {
      if (message[0] !== 50) return;
      const started = sentAt.get(message[1] as number)!;
      sentAt.delete(message[1] as number);
      inFlight--;
      if (measuring) {
        completed++;
        latency.add(now() - started);
      }
      if (now() < stopAt) fire();
      else if (inFlight === 0) done();
    };
    starters.push(fire); // started below, once every caller is connected
  }
  const start = now();
  stopAt = start + 1000 + seconds * 1000;
  for (const fire of starters) for (let i = 0; i < window; i++) fire();
  await new Promise((resolve) => setTimeout(resolve, 1000)); // warm-up
  measuring = true;
  const measureStart = now();
  await Promise.all(finished);
  const elapsed = (Math.min(now(), stopAt) - measureStart) / 1000;
  for (const client of [...clients, callee]) client.close();
  const { p50, p99 } = latency.summary();
  return { callers, inFlight: callers * window, callsPerSecond: Math.round(completed / elapsed), p50Ms: round(p50), p99Ms: round(p99) };
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

async function main(): Promise<void> {
  if (process.argv.includes('--server')) return serve();
  const seconds = option('duration', 5);
  const subscribers = option('subscribers', 100);
  const callers = option('callers', 4);
  const window = option('window', 64);
  const taskset = spawnSync('taskset', ['--version']).status === 0;
  const self = fileURLToPath(import.meta.url);
  if (taskset) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  const server: ChildProcess = taskset
    ? spawn('taskset', ['-c', '0', process.execPath, self, '--server'], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, [self, '--server'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(server.stdout!, 'data')) as [Buffer];
    const { port } = JSON.parse(line.toString()) as { port: number };
    const url = `ws://127.0.0.1:${port}`;
    console.log(`WAMP router benchmark: node ${process.version}, ${seconds} s per figure, ${taskset ? 'router on core 0, clients on core 1' : 'no taskset: not pinned'}`);
    // Throughput with `window` messages in flight, then latency with one at a time (no queueing).
    for (const serializer of ['json', 'msgpack'] as const) {
      console.log(`fan-out ${serializer} window ${window}: ${JSON.stringify(await fanOut(url, serializer, subscribers, seconds, window))}`);
      console.log(`fan-out ${serializer} window 1:  ${JSON.stringify(await fanOut(url, serializer, subscribers, seconds, 1))}`);
      console.log(`calls   ${serializer} window ${window}: ${JSON.stringify(await calls(url, serializer, callers, seconds, window))}`);
      console.log(`calls   ${serializer} window 1:  ${JSON.stringify(await calls(url, serializer, 1, seconds, 1))}`);
    }
  } finally {
    server.kill('SIGKILL');
  }
}

await main();
