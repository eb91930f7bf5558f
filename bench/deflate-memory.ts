// Server memory per connection with permessage-deflate: Upshift and ws, with the same settings.
//
//   npx tsc -p . && node dist/bench/deflate-memory.js [--conns 1000] [--only upshift,ws] [--mmap-threshold 65536]
//
// For each server variant, a fresh server process (node --expose-gc, loopback only) is measured
// after a full GC at four points, while this process holds N ws clients (offering
// permessage-deflate; client_max_window_bits, as browsers do):
//   base    no connection yet
//   idle    N connections open, deflate negotiated, no message yet
//   active  each client sent one 4 KiB JSON message and got it back compressed: the contexts of
//           a connection that is exchanging messages
//   quiet   3 s later (Upshift's contextIdleTimeout is set to 2 s here; default 10 s)
// Figures are (point - base) / N for RSS and for V8's heap + external memory (zlib reports its
// allocations there). Same zlib settings everywhere: level 1, memLevel 8, windows 15, threshold 0.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WsClient, { WebSocketServer as WsServer } from 'ws';
import { WebSocketServer } from '../src/index.js';

type Variant = 'upshift-plain' | 'upshift' | 'upshift-no-context' | 'ws-plain' | 'ws' | 'ws-no-context';
const VARIANTS: Variant[] = ['upshift-plain', 'upshift', 'upshift-no-context', 'ws-plain', 'ws', 'ws-no-context'];

interface Memory {
  rss: number;
  heap: number;
  external: number;
}

// ------------------------------------------------------------------ server (child process)

async function runServer(variant: Variant): Promise<void> {
  const echo = (send: (data: unknown, binary: boolean) => void) => (data: unknown, isBinary: boolean) => send(data, isBinary);
  let port: number;
  if (variant.startsWith('upshift')) {
    const perMessageDeflate =
      variant === 'upshift-plain'
        ? false
        : {
            level: 1,
            memLevel: 8,
            threshold: 0,
            contextIdleTimeout: 2000,
            ...(variant === 'upshift-no-context' ? { serverNoContextTakeover: true, clientNoContextTakeover: true } : {}),
          };
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate, pingInterval: 0, idleTimeout: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws) => ws.on('message', echo((data, binary) => ws.send(data as Buffer, { binary }))));
    port = (wss.address() as { port: number }).port;
  } else {
    const perMessageDeflate =
      variant === 'ws-plain'
        ? false
        : {
            threshold: 0,
            zlibDeflateOptions: { level: 1, memLevel: 8 },
            ...(variant === 'ws-no-context' ? { serverNoContextTakeover: true, clientNoContextTakeover: true } : {}),
          };
    const wss = new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws) => ws.on('message', echo((data, binary) => ws.send(data as Buffer, { binary }))));
    port = (wss.address() as { port: number }).port;
  }
  process.on('message', (message: string) => {
    if (message !== 'measure') return;
    const gc = (globalThis as { gc?: () => void }).gc!;
    for (let i = 0; i < 4; i++) gc();
    const usage = process.memoryUsage();
    process.send!({ rss: usage.rss, heap: usage.heapUsed, external: usage.external } satisfies Memory);
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

function jsonText(bytes: number, seed: number): string {
  let text = '';
  for (let i = seed; text.length < bytes; i++) text += JSON.stringify({ id: i, user: `user${i % 31}`, n: (i * 7919) % 1000 }) + '\n';
  return text.slice(0, bytes);
}

async function measureVariant(variant: Variant, conns: number): Promise<Record<string, Memory>> {
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
    await Promise.all(
      clients.map(
        (client, i) =>
          new Promise<void>((resolve) => {
            client.once('message', () => resolve());
            client.send(jsonText(4096, i));
          }),
      ),
    );
    points.active = await request<Memory>(child, 'measure');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    points.quiet = await request<Memory>(child, 'measure');
    return points;
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
  console.log(`server memory per connection, ${conns} connections${note} (KiB; RSS | heap+external)`);
  console.log('variant'.padEnd(20) + ['idle', 'active', 'quiet'].map((p) => p.padStart(20)).join(''));
  for (const variant of variants) {
    const points = await measureVariant(variant, conns);
    const cell = (point: string): string => {
      const m = points[point]!;
      const b = points.base!;
      const rss = (m.rss - b.rss) / conns / 1024;
      const v8 = (m.heap + m.external - b.heap - b.external) / conns / 1024;
      return `${rss.toFixed(1)} | ${v8.toFixed(1)}`.padStart(20);
    };
    console.log(variant.padEnd(20) + cell('idle') + cell('active') + cell('quiet'));
  }
}

await main();
