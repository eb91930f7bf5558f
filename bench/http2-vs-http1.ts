// N WebSockets over one HTTP/2 session (RFC 8441) against N WebSockets over N HTTP/1.1
// connections: echo throughput (messages per second) and the server's memory per WebSocket.
//
//   npx tsc -p . && node dist/bench/http2-vs-http1.js                       # N=100, 5 s per run
//   node dist/bench/http2-vs-http1.js --connections 1000 --duration 3 --size 1024 --window 4
//   node dist/bench/http2-vs-http1.js --quick                               # 1 s windows, smoke test
//
// The server runs in its own process (pinned to core 0 when taskset exists, run with
// --expose-gc): one cleartext HTTP/2 server (prior knowledge) and one HTTP/1.1 server, each with
// an Upshift echo endpoint. This process is the client (pinned to core 1): Upshift's connect(),
// with { http2: true } for the HTTP/2 side, so both sides use the same WebSocket code and only
// the transport differs. For each transport, in turn:
//   1. memory: the server's heap/RSS after GC, before and after opening N idle WebSockets;
//   2. throughput: every WebSocket keeps `window` messages of `size` bytes in flight, for
//      `duration` seconds after a warm-up; echoed messages are counted.
// Figures are medians over --runs runs (transports interleaved); the server is restarted for
// every run so one transport's garbage does not land on the other.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect } from '../src/client/connect.js';
import { WebSocketServer } from '../src/server/websocket-server.js';
import type { WebSocketConnection } from '../src/connection/websocket-connection.js';

interface Options {
  connections: number;
  duration: number;
  warmup: number;
  size: number;
  window: number;
  runs: number;
  pin: boolean;
}

const USAGE = `usage: node dist/bench/http2-vs-http1.js [options]
  --connections N   WebSockets per transport (default 100)
  --duration S      measured seconds of echo traffic per run (default 5)
  --warmup S        unmeasured seconds before that (default 1)
  --size B          message size in bytes (default 64)
  --window W        messages in flight per WebSocket (default 4)
  --runs R          runs per transport; medians are printed (default 3)
  --quick           1 run, 1 s, 0.25 s warm-up: checks that it works, not for figures
  --no-pin          do not pin server and client to cores 0 and 1`;

function parseArgs(argv: string[]): Options {
  const o: Options = { connections: 100, duration: 5, warmup: 1, size: 64, window: 4, runs: 3, pin: true };
  const number = (flag: string, value: string | undefined, lo: number, hi: number): number => {
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n < lo || n > hi) {
      console.error(`${flag} wants a number in [${lo}, ${hi}]\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--connections') o.connections = number(flag, argv[++i], 1, 100_000);
    else if (flag === '--duration') o.duration = number(flag, argv[++i], 0.1, 600);
    else if (flag === '--warmup') o.warmup = number(flag, argv[++i], 0, 60);
    else if (flag === '--size') o.size = number(flag, argv[++i], 1, 16 * 1024 * 1024);
    else if (flag === '--window') o.window = number(flag, argv[++i], 1, 1024);
    else if (flag === '--runs') o.runs = number(flag, argv[++i], 1, 100);
    else if (flag === '--quick') Object.assign(o, { duration: 1, warmup: 0.25, runs: 1 });
    else if (flag === '--no-pin') o.pin = false;
    else if (flag === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`unknown option ${flag}\n${USAGE}`);
      process.exit(2);
    }
  }
  return o;
}

// ---------------------------------------------------------------- server process

interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
  clients: number;
}

function serve(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  const h1 = createHttpServer();
  const h2 = createHttp2Server();
  const endpoints = [new WebSocketServer({ server: h1, path: '/echo' }), new WebSocketServer({ server: h2, path: '/echo' })];
  for (const wss of endpoints) {
    wss.on('connection', (ws: WebSocketConnection) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  }
  let listening = 0;
  const ready = (): void => {
    if (++listening < 2) return;
    const port1 = (h1.address() as AddressInfo).port;
    const port2 = (h2.address() as AddressInfo).port;
    console.log(JSON.stringify({ ready: true, http1: port1, http2: port2 }));
  };
  h1.listen(0, '127.0.0.1', ready);
  h2.listen(0, '127.0.0.1', ready);
  // One command per line on stdin: "memory" answers a MemorySample after two GCs.
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() !== 'memory') return;
    gc?.();
    gc?.();
    const usage = process.memoryUsage();
    const sample: MemorySample = {
      rss: usage.rss,
      heapUsed: usage.heapUsed,
      external: usage.external,
      clients: endpoints[0]!.clients.size + endpoints[1]!.clients.size,
    };
    console.log(JSON.stringify(sample));
  });
  process.stdin.on('end', () => process.exit(0));
}

// ---------------------------------------------------------------- client (this process)

class ServerProcess {
  private readonly lines: string[] = [];
  private waiting: (() => void) | null = null;
  readonly child: ChildProcess;

  constructor(pin: boolean) {
    const script = fileURLToPath(import.meta.url);
    const args = ['--expose-gc', script, '--serve'];
    const taskset = pin && spawnSync('taskset', ['--version']).status === 0;
    this.child = taskset
      ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.waiting?.();
    });
  }

  async next<T>(ms = 10_000): Promise<T> {
    const deadline = Date.now() + ms;
    while (this.lines.length === 0) {
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error('the server process did not answer');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiting = null;
    }
    return JSON.parse(this.lines.shift()!) as T;
  }

  memory(): Promise<MemorySample> {
    this.child.stdin!.write('memory\n');
    return this.next<MemorySample>();
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    if (this.child.exitCode !== null || this.child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}

interface RunResult {
  transport: 'http1' | 'http2';
  messagesPerSecond: number;
  heapPerSocket: number;
  rssPerSocket: number;
  connectMs: number;
}

/** Keeps `window` messages in flight on every socket; counts echoes between start and stop. */
async function echoLoad(sockets: WebSocketConnection[], options: Options): Promise<number> {
  const payload = Buffer.alloc(options.size, 0x61);
  let counting = false;
  let running = true;
  let count = 0;
  for (const ws of sockets) {
    ws.on('message', () => {
      if (counting) count++;
      if (running) ws.send(payload, { binary: true });
    });
    for (let i = 0; i < options.window; i++) ws.send(payload, { binary: true });
  }
  await new Promise((resolve) => setTimeout(resolve, options.warmup * 1000));
  counting = true;
  const started = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, options.duration * 1000));
  counting = false;
  running = false;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return count / seconds;
}

async function oneRun(transport: 'http1' | 'http2', options: Options): Promise<RunResult> {
  const server = new ServerProcess(options.pin);
  try {
    const ports = await server.next<{ http1: number; http2: number }>();
    const before = await server.memory();
    const url = `ws://127.0.0.1:${transport === 'http1' ? ports.http1 : ports.http2}/echo`;
    const started = Date.now();
    const sockets: WebSocketConnection[] = [];
    // Open in batches so a large N does not flood the accept queue.
    for (let i = 0; i < options.connections; i += 100) {
      const batch = Math.min(100, options.connections - i);
      sockets.push(...(await Promise.all(Array.from({ length: batch }, () => connect(url, transport === 'http2' ? { http2: true } : {})))));
    }
    const connectMs = Date.now() - started;
    const after = await server.memory();
    if (after.clients !== options.connections) throw new Error(`server has ${after.clients} clients, expected ${options.connections}`);
    const messagesPerSecond = await echoLoad(sockets, options);
    const closed = sockets.map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())));
    for (const ws of sockets) ws.close(1000);
    await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 5000))]);
    for (const ws of sockets) ws.terminate();
    return {
      transport,
      messagesPerSecond,
      heapPerSocket: (after.heapUsed + after.external - before.heapUsed - before.external) / options.connections,
      rssPerSocket: (after.rss - before.rss) / options.connections,
      connectMs,
    };
  } finally {
    await server.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options.pin && spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' }).status !== 0) {
    console.log('# taskset unavailable: not pinned');
  }
  console.log(
    `# ${options.connections} WebSockets per transport, ${options.size}-byte binary messages, window ${options.window}, ` +
      `${options.warmup} s warm-up + ${options.duration} s, ${options.runs} run(s), Node ${process.version}`,
  );
  const results: RunResult[] = [];
  for (let run = 0; run < options.runs; run++) {
    for (const transport of ['http1', 'http2'] as const) {
      const result = await oneRun(transport, options);
      results.push(result);
      console.log(
        `run ${run + 1} ${transport}: ${Math.round(result.messagesPerSecond).toLocaleString('en-US')} msg/s, ` +
          `heap+external ${(result.heapPerSocket / 1024).toFixed(1)} KiB/socket, RSS ${(result.rssPerSocket / 1024).toFixed(1)} KiB/socket, ` +
          `connect ${result.connectMs} ms`,
      );
    }
  }
  const row = (transport: 'http1' | 'http2'): string[] => {
    const mine = results.filter((result) => result.transport === transport);
    return [
      transport === 'http1' ? `HTTP/1.1 (${options.connections} TCP connections)` : 'HTTP/2 (1 session, RFC 8441)',
      Math.round(median(mine.map((r) => r.messagesPerSecond))).toLocaleString('en-US'),
      (median(mine.map((r) => r.heapPerSocket)) / 1024).toFixed(1),
      (median(mine.map((r) => r.rssPerSocket)) / 1024).toFixed(1),
      String(Math.round(median(mine.map((r) => r.connectMs)))),
    ];
  };
  console.log('\n| transport | echoed msg/s | server heap+external per WebSocket (KiB) | server RSS per WebSocket (KiB) | time to open all (ms) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const transport of ['http1', 'http2'] as const) console.log(`| ${row(transport).join(' | ')} |`);
  const h1 = median(results.filter((r) => r.transport === 'http1').map((r) => r.messagesPerSecond));
  const h2 = median(results.filter((r) => r.transport === 'http2').map((r) => r.messagesPerSecond));
  console.log(`\nHTTP/2 / HTTP/1.1 throughput: ${(h2 / h1).toFixed(2)}x`);
}

if (process.argv.includes('--serve')) serve();
else
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
