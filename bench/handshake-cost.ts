// What one WebSocket opening handshake costs the server: JS heap bytes allocated (garbage
// included) by allocating function, and process CPU time (issue 13).
//
//   npx tsc -p . && node dist/bench/handshake-cost.js [--server upshift|net-101] [--lib path/to/dist/src/index.js]
//        [--conns 5000] [--batches 6] [--warmup 2000] [--interval 256] [--top 25] [--client wsload|node] [--json out.json]
//        [--callers NAME]
//
// The server runs in this process; a client in another process (wsload connect: $WSLOAD, else
// build/wsload as `npm run bench` builds it; or this file with --client-child when wsload is
// absent or --client node) opens --conns connections, 100 handshakes
// at a time, keeps them until the last one is open, then closes them all. A batch ends when the
// server has seen every connection of it close. After --warmup handshakes:
//   - CPU: process.cpuUsage() across each of --batches batches (handshakes and closes), divided by
//     --conns; the median is printed with every batch, and the GC pause time of each batch
//     (perf_hooks 'gc' entries). CPU depends on the machine's load: indicative only when shared.
//   - Allocation: one more batch under the inspector's sampling heap profiler
//     (HeapProfiler.startSampling, every --interval bytes on average, objects collected by minor
//     and major GCs included), so the figure is every byte allocated, not what survived. Samples
//     are grouped by the function that allocated them (the leaf frame), and by the nearest frame
//     in the library (which library code made Node allocate). Load does not change these bytes.
//     --callers NAME lists the call stacks leading to the leaf frames whose name contains NAME.
//     V8 names an inlined function's allocations after the function it was inlined into; run
//     with `node --no-turbo-inlining` to see each function's own (the bytes barely change).
// Servers:
//   upshift   WebSocketServer({ port: 0 }) with the benchmark's echo handler (bench/servers/upshift-echo.ts)
//   net-101   node:net answering a fixed 101 (bench/servers/raw-101.mjs, in this process): the floor
// --lib loads another build of the library (e.g. a copy of dist/ made before a change).
import { fork, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { Session } from 'node:inspector';
import * as net from 'node:net';
import * as path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { answer101 } from './servers/raw-101.js';
import { readFlags } from './flags.js';
import { openConnections, startUpshiftEcho } from './in-process.js';

type ServerKind = 'upshift' | 'net-101';

interface Options {
  server: ServerKind;
  lib: string | null;
  conns: number;
  batches: number;
  warmup: number;
  interval: number;
  top: number;
  client: 'wsload' | 'node';
  json: string | null;
  /** Leaf frames whose name contains this: list the call stacks that lead to them. */
  callers: string | null;
}

const WSLOAD = process.env.WSLOAD ?? fileURLToPath(new URL('../../build/wsload', import.meta.url));

function parseArgs(argv: string[]): Options {
  const o: Options = {
    server: 'upshift',
    lib: null,
    conns: 5000,
    batches: 6,
    warmup: 2000,
    interval: 256,
    top: 25,
    client: fs.existsSync(WSLOAD) ? 'wsload' : 'node',
    json: null,
    callers: null,
  };
  readFlags(argv, (flag) => {
    if (flag.name === '--server') o.server = flag.oneOf(['upshift', 'net-101'] as const);
    else if (flag.name === '--lib') o.lib = path.resolve(flag.value());
    else if (flag.name === '--conns') o.conns = flag.count(100, 15000);
    else if (flag.name === '--batches') o.batches = flag.count(1, 50);
    else if (flag.name === '--warmup') o.warmup = flag.count(0, 100000);
    else if (flag.name === '--interval') o.interval = flag.count(16, 1 << 20);
    else if (flag.name === '--top') o.top = flag.count(1, 1000);
    else if (flag.name === '--json') o.json = flag.value();
    else if (flag.name === '--callers') o.callers = flag.value();
    else if (flag.name === '--client') o.client = flag.oneOf(['wsload', 'node'] as const);
    else return false;
    return true;
  });
  return o;
}

// ------------------------------------------------------------------------- node client (child)

/** As `wsload connect`: `count` handshakes, 100 at a time, all held until the last, then closed. */
async function runClient(port: number, count: number): Promise<void> {
  for (const socket of await openConnections(port, count)) socket.destroy();
}

/** Runs one batch of `count` handshakes against `port` in another process; resolves when it exits. */
function drive(o: Options, port: number, count: number): Promise<void> {
  const child =
    o.client === 'wsload'
      ? spawn(WSLOAD, ['connect', '--url', `ws://127.0.0.1:${port}/`, '--conns', String(count), '--concurrency', '100', '--quiet'], {
          stdio: ['ignore', 'pipe', 'inherit'],
        })
      : fork(fileURLToPath(import.meta.url), ['--client-child', String(port), String(count)], { stdio: 'inherit' });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      // wsload reports failed handshakes in its result line.
      const failed = /"?fail(?:ed|ures)"?\s*[:=]\s*(\d+)/.exec(out);
      if (code !== 0) reject(new Error(`client exited with ${code}: ${out.slice(-500)}`));
      else if (failed !== null && Number(failed[1]) > 0) reject(new Error(`${failed[1]} handshakes failed: ${out.slice(-500)}`));
      else resolve();
    });
  });
}

// ------------------------------------------------------------------------- servers (here)

interface Started {
  port: number;
  /** Connections the server has accepted and not yet seen close. */
  open: () => number;
  close: () => void;
  /** Files whose frames count as the library's (for the nearest-library-frame grouping). */
  libDir: string | null;
}

async function startServer(o: Options): Promise<Started> {
  if (o.server === 'upshift') {
    const upshift = await startUpshiftEcho(o.lib);
    return { port: upshift.port, open: upshift.connections, close: upshift.close, libDir: pathToFileURL(path.dirname(upshift.lib)).href };
  }
  // bench/servers/raw-101.ts, its connection listener in this process.
  let open = 0;
  const closed = (): void => {
    open--;
  };
  const server = net.createServer({ noDelay: true }, (socket) => {
    open++;
    socket.on('close', closed);
    answer101(socket);
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  return { port: (server.address() as net.AddressInfo).port, open: () => open, close: () => server.close(), libDir: null };
}

// ------------------------------------------------------------------------- measuring

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One batch: `count` handshakes, then every connection closed on both sides. */
async function batch(o: Options, server: Started, count: number): Promise<void> {
  if (count === 0) return;
  await drive(o, server.port, count);
  const deadline = Date.now() + 30000;
  while (server.open() > 0 && Date.now() < deadline) await settle(5);
  if (server.open() > 0) throw new Error(`${server.open()} connections still open 30 s after the client ended`);
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T))),
  );
}

function frameName(frame: ProfileNode['callFrame']): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return name;
  const file = frame.url.startsWith('file://') ? path.basename(fileURLToPath(frame.url)) : frame.url;
  return `${name} ${file}:${frame.lineNumber + 1}`;
}

/** Sampled bytes by leaf frame, and by the nearest frame (leaf first) in `libDir`. */
function groupProfile(
  head: ProfileNode,
  libDir: string | null,
  callers: string | null,
): { total: number; byLeaf: Map<string, number>; byLib: Map<string, number>; byStack: Map<string, number> } {
  const byLeaf = new Map<string, number>();
  const byLib = new Map<string, number>();
  const byStack = new Map<string, number>();
  const stack: string[] = [];
  let total = 0;
  const add = (map: Map<string, number>, key: string, bytes: number): void => void map.set(key, (map.get(key) ?? 0) + bytes);
  const walk = (node: ProfileNode, lib: string | null, parent: string): void => {
    const name = frameName(node.callFrame);
    const here = libDir !== null && node.callFrame.url.startsWith(libDir) ? name : lib;
    stack.push(name);
    if (node.selfSize > 0) {
      total += node.selfSize;
      if (callers !== null && name.includes(callers)) add(byStack, stack.slice(-8).reverse().join('\n      ← '), node.selfSize);
      // A builtin (Map, Array.prototype.push, …) says little alone: name its caller too.
      add(byLeaf, node.callFrame.url === '' && parent !== '' ? `${name} ← ${parent}` : name, node.selfSize);
      add(byLib, here ?? '(no library frame)', node.selfSize);
    }
    for (const child of node.children) walk(child, here, name);
    stack.pop();
  };
  walk(head, null, '');
  return { total, byLeaf, byLib, byStack };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function table(map: Map<string, number>, n: number, top: number): { name: string; bytes: number }[] {
  return [...map]
    .map(([name, bytes]) => ({ name, bytes: bytes / n }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, top);
}

async function measure(o: Options): Promise<void> {
  const server = await startServer(o);
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  observer.observe({ entryTypes: ['gc'] });

  for (let done = 0; done < o.warmup; done += o.conns) await batch(o, server, Math.min(o.conns, o.warmup - done));

  const cpu: number[] = [];
  const gc: number[] = [];
  for (let i = 0; i < o.batches; i++) {
    gcMs = 0;
    const start = process.cpuUsage();
    await batch(o, server, o.conns);
    const used = process.cpuUsage(start);
    // The 'gc' entries of the batch's last collections arrive on a later tick.
    await settle(20);
    cpu.push((used.user + used.system) / o.conns);
    gc.push(gcMs);
  }

  const session = new Session();
  session.connect();
  await post(session, 'HeapProfiler.enable');
  await post(session, 'HeapProfiler.startSampling', {
    samplingInterval: o.interval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await batch(o, server, o.conns);
  const { profile } = await post<{ profile: { head: ProfileNode } }>(session, 'HeapProfiler.stopSampling');
  session.disconnect();
  observer.disconnect();
  server.close();

  const n = o.conns;
  const grouped = groupProfile(profile.head, server.libDir, o.callers);
  const byLeaf = table(grouped.byLeaf, n, o.top);
  const byLib = table(grouped.byLib, n, o.top);
  console.log(`${o.server}${o.lib ? ` (${o.lib})` : ''}: batches of ${n} handshakes + closes (client ${o.client}), after ${o.warmup}; node ${process.version}`);
  console.log(`  CPU per handshake: median ${median(cpu).toFixed(1)} µs; batches ${cpu.map((c) => c.toFixed(1)).join(' ')}`);
  console.log(`  GC pauses per batch: median ${median(gc).toFixed(1)} ms; batches ${gc.map((g) => g.toFixed(1)).join(' ')}`);
  console.log(`  JS heap allocated per handshake (sampled every ${o.interval} B, collected objects included): ${(grouped.total / n).toFixed(0)} B`);
  console.log('');
  console.log('  bytes/handshake  allocating function (leaf frame)');
  for (const row of byLeaf) console.log(`  ${row.bytes.toFixed(0).padStart(15)}  ${row.name}`);
  if (server.libDir !== null) {
    console.log('');
    console.log('  bytes/handshake  nearest library frame');
    for (const row of byLib) console.log(`  ${row.bytes.toFixed(0).padStart(15)}  ${row.name}`);
  }
  if (o.callers !== null) {
    console.log('');
    console.log(`  bytes/handshake  stacks to leaf frames matching ${JSON.stringify(o.callers)} (innermost first)`);
    for (const row of table(grouped.byStack, n, o.top)) console.log(`  ${row.bytes.toFixed(0).padStart(15)}  ${row.name}`);
  }
  if (o.json !== null) {
    const out = { server: o.server, lib: o.lib, conns: n, node: process.version, cpuPerHandshakeUs: cpu, gcMsPerBatch: gc, bytesPerHandshake: grouped.total / n, byLeaf, byLib };
    fs.writeFileSync(o.json, `${JSON.stringify(out, null, 2)}\n`);
  }
}

// ------------------------------------------------------------------------- entry

const argv = process.argv.slice(2);
if (argv[0] === '--client-child') {
  await runClient(Number(argv[1]), Number(argv[2]));
  process.exit(0);
} else {
  await measure(parseArgs(argv));
  process.exit(0);
}
