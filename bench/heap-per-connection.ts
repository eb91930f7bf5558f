// What one idle connection costs on the JS heap, object by object (issue 13).
//
//   npx tsc -p . && node dist/bench/heap-per-connection.js [--server upshift|raw|net-101] [--conns 2000]
//                                                          [--lib path/to/dist/src/index.js] [--json out.json]
//                                                          [--warmup 4000]
//
// The server runs in this process (re-executed with --expose-gc); a child process (this file with
// --client) opens --conns connections to it over loopback, 100 handshakes at a time, and holds
// them. Heap snapshots are taken after a full GC before the connections (after a warm-up round
// that opened and closed --warmup of them, so that code, optimized code included, and shared
// pools exist already: a one-time cost, which after 100 still showed as ~100 bytes per
// connection of 2000) and once all are open and settled. The snapshot JSON is parsed here: objects are grouped by constructor (or
// by kind: strings, arrays, closures by function name), and the growth of each group divided by
// --conns is what each connection retains. Servers:
//   upshift   WebSocketServer with the benchmark's echo handler (bench/servers/upshift-echo.ts)
//   raw       node:net server holding plain TCP sockets (the client sends nothing): Node's floor
//   net-101   node:net server answering a fixed 101 (bench/servers/raw-101.mjs in-process)
// --lib loads another build of the library (e.g. the one before a change) for a before/after table.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { answer101 } from './servers/raw-101.js';
import { readFlags } from './flags.js';
import { openConnections, startUpshiftEcho } from './in-process.js';
import * as v8 from 'node:v8';

type ServerKind = 'upshift' | 'raw' | 'net-101';

interface Options {
  server: ServerKind;
  conns: number;
  lib: string | null;
  json: string | null;
  top: number;
  /** Keep the second snapshot here (for DevTools) instead of deleting it. */
  keep: string | null;
  /** Connections opened and closed before the first snapshot. */
  warmup: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { server: 'upshift', conns: 2000, lib: null, json: null, top: 30, keep: null, warmup: 4000 };
  readFlags(argv, (flag) => {
    if (flag.name === '--server') o.server = flag.oneOf(['upshift', 'raw', 'net-101'] as const);
    else if (flag.name === '--conns') o.conns = flag.count(100, 20000);
    else if (flag.name === '--lib') o.lib = path.resolve(flag.value());
    else if (flag.name === '--json') o.json = flag.value();
    else if (flag.name === '--keep') o.keep = path.resolve(flag.value());
    else if (flag.name === '--warmup') o.warmup = flag.count(1, 20000);
    else if (flag.name === '--top') o.top = flag.count(1, Infinity);
    else return false;
    return true;
  });
  return o;
}

// ------------------------------------------------------------------------- client (child)

/** Opens `count` connections (handshaking unless `tcpOnly`), 100 at a time; 'open' once all are. */
async function runClient(port: number, count: number, tcpOnly: boolean, hold: boolean): Promise<void> {
  const sockets = await openConnections(port, count, tcpOnly);
  if (!hold) {
    for (const socket of sockets) socket.destroy();
    return;
  }
  process.send!('open');
  // Held until the parent says so (or goes away).
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.once('disconnect', () => resolve());
  });
  for (const socket of sockets) socket.destroy();
}

// ------------------------------------------------------------------------- servers (here)

interface Started {
  port: number;
  connections: () => number;
  close: () => void;
}

async function startServer(o: Options): Promise<Started> {
  if (o.server === 'upshift') {
    const { port, connections, close } = await startUpshiftEcho(o.lib);
    return { port, connections, close };
  }
  let open = 0;
  const server =
    o.server === 'raw'
      ? net.createServer({ noDelay: true }, (socket) => {
          open++;
          socket.on('close', () => open--);
          // As bench/servers/raw-echo.mjs: every byte read is written back.
          socket.on('error', () => {});
          socket.on('data', (chunk) => {
            if (!socket.write(chunk)) {
              socket.pause();
              socket.once('drain', () => socket.resume());
            }
          });
        })
      : net.createServer({ noDelay: true }, (socket) => {
          // bench/servers/raw-101.ts, its connection listener in this process.
          open++;
          socket.on('close', () => open--);
          answer101(socket);
        });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  return { port: (server.address() as net.AddressInfo).port, connections: () => open, close: () => server.close() };
}

// ------------------------------------------------------------------------- snapshots

interface Group {
  count: number;
  size: number;
}

interface HeapSnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Kinds whose every node is its own name (string contents, numbers): grouped by kind only. */
const BY_KIND = new Set(['string', 'concatenated string', 'sliced string', 'number', 'bigint', 'symbol', 'regexp']);

function snapshotGroups(keep: string | null = null): { groups: Map<string, Group>; total: number } {
  const file = keep ?? path.join(os.tmpdir(), `upshift-heap-${process.pid}-${Date.now()}.heapsnapshot`);
  v8.writeHeapSnapshot(file);
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as HeapSnapshotJson;
  if (keep === null) fs.rmSync(file, { force: true });
  const fields = json.snapshot.meta.node_fields;
  const types = json.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, Group>();
  let total = 0;
  const nodes = json.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!;
    const size = nodes[i + sizeAt]!;
    total += size;
    const name = json.strings[nodes[i + nameAt]!]!;
    const key = BY_KIND.has(type) ? `(${type})` : type === 'object' ? name : `${name} (${type})`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { count: 1, size });
    else {
      g.count++;
      g.size += size;
    }
  }
  return { groups, total };
}

function writeGroups(file: string, snapshot: { groups: Map<string, Group>; total: number }): void {
  fs.writeFileSync(file, JSON.stringify({ total: snapshot.total, groups: [...snapshot.groups] }));
}

function readGroups(file: string): { groups: Map<string, Group>; total: number } {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { total: number; groups: [string, Group][] };
  fs.rmSync(file, { force: true });
  return { groups: new Map(json.groups), total: json.total };
}

function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc!;
  for (let i = 0; i < 4; i++) gc();
}

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Row {
  group: string;
  perConn: number;
  bytesPerConn: number;
}

async function measure(o: Options): Promise<void> {
  const server = await startServer(o);
  const script = fileURLToPath(import.meta.url);
  const tcpOnly = o.server === 'raw';
  const client = (count: number, hold: boolean) =>
    fork(script, ['--client', String(server.port), String(count), tcpOnly ? 'tcp' : 'ws', hold ? 'hold' : 'close'], { stdio: 'inherit' });

  // Warm-up: connections opened and closed; code, pools and shared tables exist afterwards.
  const warm = client(o.warmup, false);
  await new Promise<void>((resolve) => warm.once('exit', () => resolve()));
  while (server.connections() > 0) await settle(20);
  await settle(300);
  fullGc();
  const heap0 = v8.getHeapStatistics();
  const mem0 = process.memoryUsage();
  // The first snapshot's groups wait in a file: kept in this heap, they would be counted in the
  // second snapshot as if the connections had made them.
  const beforeFile = path.join(os.tmpdir(), `upshift-heap-before-${process.pid}.json`);
  writeGroups(beforeFile, snapshotGroups());

  const holder = client(o.conns, true);
  await new Promise<void>((resolve, reject) => {
    holder.once('message', () => resolve());
    holder.once('exit', (code) => reject(new Error(`client exited (${code}) before opening ${o.conns} connections`)));
  });
  const deadline = Date.now() + 20000;
  while (server.connections() < o.conns && Date.now() < deadline) await settle(20);
  if (server.connections() < o.conns) throw new Error(`only ${server.connections()} of ${o.conns} connections reached the server`);
  await settle(500);
  fullGc();
  const heap1 = v8.getHeapStatistics();
  const mem1 = process.memoryUsage();
  const after = snapshotGroups(o.keep);
  const before = readGroups(beforeFile);
  holder.send('done');
  await new Promise<void>((resolve) => holder.once('exit', () => resolve()));
  server.close();

  const n = o.conns;
  const rows: Row[] = [];
  for (const [group, a] of after.groups) {
    const b = before.groups.get(group) ?? { count: 0, size: 0 };
    const row = { group, perConn: (a.count - b.count) / n, bytesPerConn: (a.size - b.size) / n };
    if (Math.abs(row.bytesPerConn) >= 4) rows.push(row);
  }
  rows.sort((x, y) => y.bytesPerConn - x.bytesPerConn);
  const heapPerConn = (after.total - before.total) / n;
  const listed = rows.slice(0, o.top);
  const header = `${o.server}${o.lib ? ` (${o.lib})` : ''}: ${n} idle connections, node ${process.version}`;
  console.log(header);
  console.log(`  heap (snapshot self sizes): ${heapPerConn.toFixed(0)} B/conn`);
  console.log(`  used_heap_size:             ${((heap1.used_heap_size - heap0.used_heap_size) / n).toFixed(0)} B/conn`);
  console.log(`  total_heap_size (committed): ${((heap1.total_heap_size - heap0.total_heap_size) / n).toFixed(0)} B/conn`);
  console.log(`  external (Buffers etc.):    ${((mem1.external - mem0.external) / n).toFixed(0)} B/conn`);
  console.log(`  rss:                        ${((mem1.rss - mem0.rss) / n).toFixed(0)} B/conn (noisy)`);
  console.log('');
  console.log('  objects/conn  bytes/conn  group (constructor, or name (kind))');
  for (const r of listed) console.log(`  ${r.perConn.toFixed(2).padStart(12)}  ${r.bytesPerConn.toFixed(0).padStart(10)}  ${r.group}`);
  const rest = rows.slice(o.top).reduce((sum, r) => sum + r.bytesPerConn, 0);
  if (rows.length > o.top) console.log(`  ${''.padStart(12)}  ${rest.toFixed(0).padStart(10)}  (${rows.length - o.top} more groups)`);
  if (o.json) {
    const out = {
      server: o.server,
      lib: o.lib,
      conns: n,
      node: process.version,
      heapPerConn,
      usedHeapPerConn: (heap1.used_heap_size - heap0.used_heap_size) / n,
      committedHeapPerConn: (heap1.total_heap_size - heap0.total_heap_size) / n,
      externalPerConn: (mem1.external - mem0.external) / n,
      rows,
    };
    fs.writeFileSync(o.json, `${JSON.stringify(out, null, 2)}\n`);
  }
}

// ------------------------------------------------------------------------- entry

const argv = process.argv.slice(2);
if (argv[0] === '--client') {
  await runClient(Number(argv[1]), Number(argv[2]), argv[3] === 'tcp', argv[4] === 'hold');
  process.exit(0);
} else if ((globalThis as { gc?: unknown }).gc === undefined) {
  // A full GC before each snapshot needs --expose-gc: run again with it.
  const child = fork(fileURLToPath(import.meta.url), argv, { execArgv: ['--expose-gc'], stdio: 'inherit' });
  child.once('exit', (code) => process.exit(code ?? 1));
} else {
  await measure(parseArgs(argv));
  process.exit(0);
}
