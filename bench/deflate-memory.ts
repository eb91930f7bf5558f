// Server memory per connection with permessage-deflate: Upshift and ws, with the same settings.
//
//   npx tsc -p . && node dist/bench/deflate-memory.js [--conns 1000] [--only upshift,ws] [--mmap-threshold 32768]
//
// For each server variant, a fresh server process (node --expose-gc, loopback only) is measured
// after a full GC at these points, while this process holds N ws clients (offering
// permessage-deflate; client_max_window_bits, as browsers do):
//   idle     N connections open, deflate negotiated, no message yet
//   rolling  four waves: a quarter of the clients each send one 4 KiB JSON message (echoed back
//            compressed), then stay quiet for 6 s; then the next quarter. A server that frees the
//            contexts of quiet connections needs memory for one wave at a time.
//   active   all N clients send one message at once: every connection's contexts in use
//   quiet    6 s later
// Figures are (point - base) / N, in KiB, for RSS. Same zlib settings everywhere: level 1,
// memLevel 8, 15-bit windows, threshold 0; Upshift's contextIdleTimeout is 5 s here (default 10 s).
// glibc keeps freed zlib memory for reuse, so RSS does not fall back after `active`; with
// --mmap-threshold 32768 (MALLOC_MMAP_THRESHOLD_) most of it is returned and `quiet` shows what
// the server still holds.
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
            contextIdleTimeout: 5000,
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
    const exchange = (group: WsClient[], offset: number): Promise<unknown> =>
      Promise.all(
        group.map(
          (client, i) =>
            new Promise<void>((resolve) => {
              client.once('message', () => resolve());
              client.send(jsonText(4096, offset + i));
            }),
        ),
      );
    const quarter = Math.ceil(conns / 4);
    for (let wave = 0; wave < 4; wave++) {
      await exchange(clients.slice(wave * quarter, (wave + 1) * quarter), wave * quarter);
      await new Promise((resolve) => setTimeout(resolve, 6000));
    }
    points.rolling = await request<Memory>(child, 'measure');
    const started = Date.now();
    await exchange(clients, conns);
    if (Date.now() - started > 4000) console.log(`  (${variant}: the messages took ${Date.now() - started} ms; some contexts may be released already)`);
    points.active = await request<Memory>(child, 'measure');
    await new Promise((resolve) => setTimeout(resolve, 6000));
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
  console.log(`server RSS per connection, ${conns} connections${note} (KiB)`);
  const columns = ['idle', 'rolling', 'active', 'quiet'];
  console.log('variant'.padEnd(20) + columns.map((p) => p.padStart(10)).join(''));
  for (const variant of variants) {
    const points = await measureVariant(variant, conns);
    const cell = (point: string): string => ((points[point]!.rss - points.base!.rss) / conns / 1024).toFixed(1).padStart(10);
    console.log(variant.padEnd(20) + columns.map(cell).join(''));
  }
}

await main();
