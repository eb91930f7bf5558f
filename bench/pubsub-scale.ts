// Topics across processes: end-to-end latency publisher → subscriber through Redis and NATS.
//
//   node dist/bench/pubsub-scale.js [--rate 10000] [--duration 5] [--subscribers 1]
//
// Starts redis-server and nats-server (when installed) on free loopback ports, and per broker two
// server processes (A and B), each a WebSocketServer whose topics go through that broker. In
// this process a publisher client connected to A sends `rate` messages/s (paced, a few per
// event-loop turn); A publishes each with wss.publish(); `subscribers` clients connected to B
// receive it through the broker. Each message carries its send time (performance.now(), one
// clock: every client lives here). Reported: delivered messages, p50/p99/max latency, and the
// same with everything on A ("local", no broker) so the broker's added latency shows. Every
// child is stopped by PID at the end.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect as netConnect } from 'node:net';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { option } from './option.js';

// ---- a server process ----

async function serve(kind: string, url: string): Promise<void> {
  const { WebSocketServer, redisAdapter, natsAdapter } = await import('../src/index.js');
  const adapter = kind === 'redis' ? await redisAdapter({ url }) : await natsAdapter({ servers: url });
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', pubsub: { adapter } });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString().startsWith('sub ')) {
        ws.subscribe(data.toString().slice(4));
        void wss.pubsub.ready().then(() => ws.send('subscribed'));
      } else {
        wss.publish('bench/latency', data, { binary: true });
      }
    });
  });
  wss.on('listening', () => {
    const address = wss.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    console.log(JSON.stringify({ port: address.port }));
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

// ---- the driver ----

const BROKERS = {
  redis: '/usr/bin/redis-server',
  nats: '/usr/sbin/nats-server',
} as const;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = netConnect({ host: '127.0.0.1', port });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`broker did not start on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const children: ChildProcess[] = [];
function stopChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

async function startBroker(kind: keyof typeof BROKERS): Promise<{ url: string; dir: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `upshift-bench-${kind}-`));
  const args =
    kind === 'redis'
      ? ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
      : ['-a', '127.0.0.1', '-p', String(port)];
  const child = spawn(BROKERS[kind], args, { cwd: dir, stdio: 'ignore' });
  children.push(child);
  await waitPort(port, child);
  return { url: kind === 'redis' ? `redis://127.0.0.1:${port}` : `127.0.0.1:${port}`, dir };
}

async function startNode(kind: string, url: string): Promise<number> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', kind, url], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  children.push(child);
  for await (const line of createInterface({ input: child.stdout! })) return (JSON.parse(line) as { port: number }).port;
  throw new Error('the server process exited');
}

interface Result {
  sent: number;
  delivered: number;
  expected: number;
  p50: number;
  p99: number;
  max: number;
}

async function measure(publishPort: number, subscribePort: number, rate: number, seconds: number, subscribers: number): Promise<Result> {
  const { connect } = await import('../src/index.js');
  const latencies: number[] = [];
  const subs = [];
  // Messages of an earlier measurement still in the broker are not this one's.
  const since = performance.now();
  for (let i = 0; i < subscribers; i++) {
    const ws = await connect(`ws://127.0.0.1:${subscribePort}/`);
    const ready = new Promise<void>((resolve) => {
      const onReply = (data: Buffer, isBinary: boolean): void => {
        if (isBinary) return;
        ws.off('message', onReply);
        resolve();
      };
      ws.on('message', onReply);
    });
    ws.send('sub bench/latency');
    await ready;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      const sentAt = data.readDoubleLE(0);
      if (sentAt >= since) latencies.push(performance.now() - sentAt);
    });
    subs.push(ws);
  }
  const publisher = await connect(`ws://127.0.0.1:${publishPort}/`);
  const start = performance.now();
  const total = Math.round(rate * seconds);
  let sent = 0;
  // Paced: every millisecond (a timer, not a busy loop that would take a core from the servers)
  // sends what is due by now, about 10 messages at 10,000/s.
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    while (sent < due) {
      const message = Buffer.alloc(32);
      message.writeDoubleLE(performance.now(), 0);
      publisher.send(message);
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  // Wait for stragglers, bounded: 5 s after the last message or until all arrived.
  const expected = total * subscribers;
  const deadline = performance.now() + 5000;
  while (latencies.length < expected && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  publisher.terminate();
  for (const ws of subs) ws.terminate();
  const sorted = latencies.slice().sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { sent, delivered: latencies.length, expected, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN };
}

async function main(): Promise<void> {
  const rate = option('rate', 10_000);
  const seconds = option('duration', 5);
  const subscribers = option('subscribers', 1);
  console.log(`pub/sub across processes: ${rate} msg/s for ${seconds} s, 32 B, ${subscribers} subscribers (latency in ms, one clock)`);
  const dirs: string[] = [];
  try {
    for (const kind of ['redis', 'nats'] as const) {
      if (!existsSync(BROKERS[kind])) {
        console.log(`  ${kind}: skipped (${BROKERS[kind]} is not installed: apt-get install ${kind}-server)`);
        continue;
      }
      const broker = await startBroker(kind);
      dirs.push(broker.dir);
      const a = await startNode(kind, broker.url);
      const b = await startNode(kind, broker.url);
      const show = (label: string, r: Result): void =>
        console.log(
          `  ${label.padEnd(22)} delivered ${r.delivered}/${r.expected}  p50 ${r.p50.toFixed(3)}  p99 ${r.p99.toFixed(3)}  max ${r.max.toFixed(3)}`,
        );
      // Warm-up, not shown: JIT, the broker connections' first messages.
      await measure(a, b, rate, 0.5, subscribers);
      show(`${kind}, across (A→B)`, await measure(a, b, rate, seconds, subscribers));
      show(`${kind}, local (A→A)`, await measure(a, a, rate, seconds, subscribers));
    }
  } finally {
    stopChildren();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') {
  await serve(process.argv[3]!, process.argv[4]!);
} else {
  await main();
  process.exit(0);
}
