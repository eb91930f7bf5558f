// Server memory per connection with permessage-deflate: Upshift and ws, on the JSON corpus.
//
//   npx tsc -p . && node dist/bench/deflate-memory.js [--conns 1000] [--only upshift,ws] [--mmap-threshold 32768]
//
// For each server variant, a fresh server process (node --expose-gc, loopback only) is measured
// after a full GC at these points, while this process holds N ws clients (offering
// permessage-deflate; client_max_window_bits, as browsers do):
//   idle     N connections open, deflate negotiated, no message yet
//   rolling  four waves: a quarter of the clients each send one corpus message (echoed back), then
//            stay quiet for 6 s; then the next quarter. A server that frees the contexts of quiet
//            connections needs memory for one wave at a time.
//   active   all N clients exchange 8 corpus messages each (one after the other per client, all
//            clients at once): every connection's compression state in use
//   quiet    6 s later
// Figures are (point - base) / N, in KiB, for RSS; then, over the `active` phase, the ratio of the
// bytes the clients read (frames included) to the message bytes echoed, and the server process's
// CPU (user + system) per message echoed (one inflate and one deflate, or none below the threshold).
// The messages are bench/corpus/json-messages.jsonl (client i starts at message 7i).
// Variants: each library's defaults (threshold 1024 both; ws: 15-bit windows, zlib level 6,
// memLevel 8, contexts kept for the connection's life; Upshift: see the README), the same with the
// other library's windows, and no context takeover.
// glibc keeps freed zlib memory for reuse, so RSS does not fall back after `active`; with
// --mmap-threshold 32768 (MALLOC_MMAP_THRESHOLD_) most of it is returned and `quiet` shows what
// the server still holds.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import WsClient, { WebSocketServer as WsServer } from 'ws';
import { WebSocketServer, type PerMessageDeflateServerOptions } from '../src/index.js';
import { CORPUS_PATH } from './corpus/make-json-corpus.js';

type Variant = 'upshift-plain' | 'upshift' | 'upshift-15-own' | 'upshift-no-context' | 'ws-plain' | 'ws' | 'ws-13' | 'ws-no-context';
const VARIANTS: Variant[] = ['upshift-plain', 'upshift', 'upshift-15-own', 'upshift-no-context', 'ws-plain', 'ws', 'ws-13', 'ws-no-context'];

/** Upshift's options per variant (false: no compression). */
const UPSHIFT: Record<string, PerMessageDeflateServerOptions | false> = {
  'upshift-plain': false,
  upshift: {},
  // What Upshift did before (and ws does): 15-bit windows, contexts of the connection's own (freed
  // after 5 s of quiet here, 10 s by default then).
  'upshift-15-own': { serverMaxWindowBits: 15, clientMaxWindowBits: 15, memLevel: 8, contextIdleTimeout: 5000 },
  'upshift-no-context': { serverNoContextTakeover: true, clientNoContextTakeover: true },
};
/** ws's perMessageDeflate per variant. */
const WS: Record<string, object | boolean> = {
  'ws-plain': false,
  ws: true,
  // ws with Upshift's default windows and zlib level.
  'ws-13': { serverMaxWindowBits: 13, clientMaxWindowBits: 13, zlibDeflateOptions: { level: 1, memLevel: 8 } },
  'ws-no-context': { serverNoContextTakeover: true, clientNoContextTakeover: true },
};

interface Memory {
  rss: number;
  heap: number;
  external: number;
  /** Server process CPU so far, µs. */
  cpu: number;
}

// ------------------------------------------------------------------ server (child process)

async function runServer(variant: Variant): Promise<void> {
  let port: number;
  if (variant.startsWith('upshift')) {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: UPSHIFT[variant]!, pingInterval: 0, idleTimeout: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    port = (wss.address() as { port: number }).port;
  } else {
    const wss = new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: WS[variant]! });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));
    port = (wss.address() as { port: number }).port;
  }
  process.on('message', (message: string) => {
    if (message !== 'measure') return;
    const gc = (globalThis as { gc?: () => void }).gc!;
    for (let i = 0; i < 4; i++) gc();
    const usage = process.memoryUsage();
    const cpu = process.cpuUsage();
    process.send!({ rss: usage.rss, heap: usage.heapUsed, external: usage.external, cpu: cpu.user + cpu.system } satisfies Memory);
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ port });
}

// ------------------------------------------------------------------ driver

function request<T>(child: ChildProcess, message: string | null): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server process did not answer')), 30_000);
    child.once('message', (answer) => {
      clearTimeout(timer);
      resolve(answer as T);
    });
    if (message !== null) child.send(message);
  });
}

const corpus = readFileSync(CORPUS_PATH, 'utf8')
  .split('\n')
  .filter((line) => line.length > 0);

interface Outcome {
  points: Record<string, Memory>;
  /** Bytes read by the clients during `active` / message bytes echoed. */
  ratio: number;
  /** Server CPU per message echoed during `active`, µs. */
  cpuPerMessage: number;
}

async function measureVariant(variant: Variant, conns: number): Promise<Outcome> {
  const child = fork(fileURLToPath(import.meta.url), ['--server', variant], { execArgv: ['--expose-gc'], env: { ...process.env, ...childEnv } });
  const clients: WsClient[] = [];
  try {
    const { port } = await request<{ port: number }>(child, null);
    const points: Record<string, Memory> = {};
    points.base = await request<Memory>(child, 'measure');
    for (let opened = 0; opened < conns; opened += 100) {
      const batch: Promise<void>[] = [];
      for (let i = opened; i < Math.min(conns, opened + 100); i++) {
        const client = new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0 } });
        clients.push(client);
        batch.push(new Promise((resolve, reject) => client.once('open', () => resolve()).once('error', reject)));
      }
      await Promise.all(batch);
    }
    points.idle = await request<Memory>(child, 'measure');
    // Each client walks the corpus from its own place: message k of client i is 7i + k.
    const sent = new Array<number>(conns).fill(0);
    let echoed = 0;
    let messageBytes = 0;
    const exchange = (group: number[], count: number): Promise<unknown> =>
      Promise.all(
        group.map(async (i) => {
          const client = clients[i]!;
          for (let k = 0; k < count; k++) {
            const text = corpus[(i * 7 + sent[i]!++) % corpus.length]!;
            await new Promise<void>((resolve) => {
              client.once('message', () => resolve());
              client.send(text);
            });
            echoed++;
            messageBytes += Buffer.byteLength(text);
          }
        }),
      );
    const everyone = clients.map((_, i) => i);
    const quarter = Math.ceil(conns / 4);
    for (let wave = 0; wave < 4; wave++) {
      await exchange(everyone.slice(wave * quarter, (wave + 1) * quarter), 1);
      await new Promise((resolve) => setTimeout(resolve, 6000));
    }
    points.rolling = await request<Memory>(child, 'measure');
    const bytesRead = (): number => clients.reduce((sum, client) => sum + (client as unknown as { _socket: Socket })._socket.bytesRead, 0);
    const readBefore = bytesRead();
    echoed = 0;
    messageBytes = 0;
    const started = Date.now();
    await exchange(everyone, 8);
    const elapsed = Date.now() - started;
    if (elapsed > 4000) console.log(`  (${variant}: the messages took ${elapsed} ms; some contexts may be released already)`);
    const ratio = (bytesRead() - readBefore) / messageBytes;
    points.active = await request<Memory>(child, 'measure');
    const cpuPerMessage = (points.active.cpu - points.rolling.cpu) / echoed;
    await new Promise((resolve) => setTimeout(resolve, 6000));
    points.quiet = await request<Memory>(child, 'measure');
    return { points, ratio, cpuPerMessage };
  } finally {
    for (const client of clients) client.terminate();
    child.kill('SIGTERM');
  }
}

/** Extra environment for the server processes (see --mmap-threshold). */
const childEnv: Record<string, string> = {};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--server') return runServer(args[1] as Variant);
  // glibc keeps freed chunks below its mmap threshold (128 KiB) for reuse, so RSS does not fall
  // when zlib contexts (64 KiB blocks) are freed; with a lower threshold it shows live memory.
  if (args.includes('--mmap-threshold')) childEnv.MALLOC_MMAP_THRESHOLD_ = args[args.indexOf('--mmap-threshold') + 1]!;
  const conns = Number(args[args.indexOf('--conns') + 1] ?? 1000) || 1000;
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : null;
  const variants = VARIANTS.filter((v) => only === null || only.some((o) => v === o || v.startsWith(`${o}-`) || v === o));
  const note = childEnv.MALLOC_MMAP_THRESHOLD_ ? `, MALLOC_MMAP_THRESHOLD_=${childEnv.MALLOC_MMAP_THRESHOLD_}` : '';
  console.log(`server RSS per connection, ${conns} connections${note} (KiB); ratio and server CPU per message echoed during active`);
  const columns = ['idle', 'rolling', 'active', 'quiet'];
  console.log('variant'.padEnd(20) + columns.map((p) => p.padStart(10)).join('') + 'ratio'.padStart(8) + 'µs/msg'.padStart(8));
  for (const variant of variants) {
    const { points, ratio, cpuPerMessage } = await measureVariant(variant, conns);
    const cell = (point: string): string => ((points[point]!.rss - points.base!.rss) / conns / 1024).toFixed(1).padStart(10);
    console.log(variant.padEnd(20) + columns.map(cell).join('') + ratio.toFixed(3).padStart(8) + cpuPerMessage.toFixed(1).padStart(8));
  }
}

await main();
