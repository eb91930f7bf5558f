// Upshift benchmark harness (issue 5).
//
//   npm run bench                               # tsc, then every workload, 3 runs each
//   node dist/bench/run.js --quick --servers ws,raw
//   node dist/bench/run.js --only small,latency --runs 5 --duration 10 --json out.json
//
// Each run starts one server process fresh (pinned to core 0 when taskset is available), waits
// for its port, runs one load process (wsload, pinned to core 1) against it, and stops the server
// by PID afterwards (SIGTERM, then SIGKILL), on error too. Runs are interleaved: for each workload,
// run 1 of every server, then run 2 of every server, and so on, so that slow drift of the machine
// spreads over all servers alike. The summary prints medians, the Upshift / ws ratio and the
// per-run spread. See BENCHMARKS.md for the method and what limits each figure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORPUS_PATH } from './corpus/make-json-corpus.js';

// ---- options ----------------------------------------------------------------------------------

type ServerName = 'upshift' | 'base' | 'ws' | 'raw' | 'bun' | 'net-101';
const SERVER_NAMES: readonly ServerName[] = ['upshift', 'base', 'ws', 'raw', 'bun', 'net-101'];
/** The handshake floor (bench/servers/raw-101.ts): it takes part in the handshakes workload only. */
const NET_101: ServerName = 'net-101';

interface Options {
  runs: number;
  only: string[] | null;
  servers: ServerName[];
  serversExplicit: boolean;
  duration: number;
  warmup: number;
  /** Unmeasured handshakes before the handshakes window (0: none). */
  warmHandshakes: number;
  quick: boolean;
  json: string | null;
  client: 'auto' | 'wsload' | 'node';
  pin: boolean;
  /** Another checkout of Upshift, built (tsc): its echo server runs as 'base' (before/after in one run). */
  baseline: string | null;
}

const USAGE = `usage: node dist/bench/run.js [options]
  --runs N              runs per workload and server (default 3); the summary shows medians
  --only a,b            workloads: ${'small,medium,deflate-small,deflate-medium,large,handshakes,idle-memory,broadcast,publish-fanout,publish-stream,publish-deflate,publish-deflate-large,latency,pubsub-scale'}
  --servers a,b         servers: upshift,ws,raw,bun,net-101 (default: all that are available;
                        net-101 runs in handshakes only)
  --duration S          measured seconds per run (default 5); idle-memory holds S seconds
  --warmup S            unmeasured seconds before each echo/recv window (default 1)
  --warm-handshakes N   unmeasured handshakes before the handshakes window (default 2000;
                        0: none, a fresh process is measured)
  --quick               smoke test: 1 run, 2 s, 0.5 s warm-up (unless given explicitly)
  --json FILE           also write every run and the summary as JSON
  --client auto|wsload|node   load generator (default auto: wsload, else the Node fallback)
  --no-pin              do not pin server and client to cores 0 and 1 with taskset
  --baseline DIR        also run DIR/dist/bench/servers/upshift-echo.js (another checkout, built) as
                        server 'base': a before/after comparison in the same run
  --help`;

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

function parseNumber(flag: string, value: string | undefined, lo: number, hi: number): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(n) || n < lo || n > hi) {
    fail(`${flag} wants a number in [${lo}, ${hi}], got '${value ?? ''}'`);
  }
  return n;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    runs: 3,
    only: null,
    servers: [...SERVER_NAMES],
    serversExplicit: false,
    duration: 5,
    warmup: 1,
    warmHandshakes: DEFAULT_WARM_HANDSHAKES,
    quick: false,
    json: null,
    client: 'auto',
    pin: true,
    baseline: null,
  };
  let runs: number | null = null;
  let duration: number | null = null;
  let warmup: number | null = null;
  let warmHandshakes: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
      case '--runs':
        runs = Math.floor(parseNumber(flag, value(), 1, 100));
        break;
      case '--duration':
        duration = parseNumber(flag, value(), 0.5, 120);
        break;
      case '--warmup':
        warmup = parseNumber(flag, value(), 0, 60);
        break;
      case '--warm-handshakes':
        warmHandshakes = Math.floor(parseNumber(flag, value(), 0, 100_000));
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--only':
        o.only = value().split(',').map((s) => s.trim()).filter(Boolean);
        break;
      case '--servers': {
        const list = value().split(',').map((s) => s.trim()).filter(Boolean);
        for (const s of list) if (!SERVER_NAMES.includes(s as ServerName)) fail(`unknown server '${s}' (${SERVER_NAMES.join(', ')})`);
        o.servers = SERVER_NAMES.filter((s) => list.includes(s));
        o.serversExplicit = true;
        break;
      }
      case '--json':
        o.json = value();
        break;
      case '--client': {
        const c = value();
        if (c !== 'auto' && c !== 'wsload' && c !== 'node') fail(`--client wants auto, wsload or node`);
        o.client = c;
        break;
      }
      case '--no-pin':
        o.pin = false;
        break;
      case '--baseline':
        o.baseline = path.resolve(value());
        break;
      default:
        fail(`unknown option '${a}' (try --help)`);
    }
  }
  o.runs = runs ?? (o.quick ? 1 : 3);
  o.duration = duration ?? (o.quick ? 2 : 5);
  o.warmup = warmup ?? (o.quick ? 0.5 : 1);
  o.warmHandshakes = warmHandshakes ?? DEFAULT_WARM_HANDSHAKES;
  if (o.only) {
    for (const w of o.only) if (w !== PUBSUB_SCALE && !WORKLOADS.some((d) => d.name === w)) fail(`unknown workload '${w}' (${WORKLOADS.map((d) => d.name).join(', ')})`);
  }
  return o;
}

// ---- load results -----------------------------------------------------------------------------

/** The JSON object wsload prints on its last line (the Node fallback prints the same fields). */
type LoadResult = Record<string, unknown>;

function field(r: LoadResult, key: string): number | null {
  const v = r[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function perMsg(r: LoadResult, scale: number): number | null {
  const cpu = field(r, 'server_cpu_s');
  const n = field(r, 'msgs') ?? field(r, 'handshakes');
  return cpu === null || !n ? null : (cpu * scale) / n;
}

const kbToMb = (v: number | null): number | null => (v === null ? null : v / 1024);

// ---- workloads --------------------------------------------------------------------------------

const messageFiles = new Map<number, string>();

/**
 * A publish-deflate message: lines of the JSON corpus as one JSON array of at most `bytes` bytes
 * (whole lines, wrapping around the corpus for large ones), written once per run to a temporary
 * file the servers read (MESSAGE_FILE).
 */
function publishMessageFile(bytes: number): string {
  const known = messageFiles.get(bytes);
  if (known !== undefined) return known;
  const lines = fs.readFileSync(CORPUS_PATH, 'utf8').split('\n').filter((line) => line !== '');
  let text = '[';
  let size = 1;
  for (let i = 0, misses = 0; misses < lines.length; i++) {
    const line = lines[i % lines.length]!;
    const length = Buffer.byteLength(line);
    // Lines that would overflow are skipped: the corpus mixes 100 B chat lines with 10 KB responses.
    if (size + length + 2 > bytes) {
      misses++;
      continue;
    }
    misses = 0;
    text += (size > 1 ? ',' : '') + line;
    size += length + (size > 1 ? 1 : 0);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upshift-bench-'));
  const file = path.join(dir, 'publish-message.json');
  fs.writeFileSync(file, text + ']');
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  messageFiles.set(bytes, file);
  return file;
}

interface MetricDef {
  label: string;
  better: 'higher' | 'lower';
  get: (r: LoadResult) => number | null;
  /** shown in the per-run table */
  primary?: boolean;
}

interface WorkloadDef {
  name: string;
  summary: string;
  serverMode: 'echo' | 'broadcast' | 'publish';
  conns: number;
  rawSupported: boolean;
  /** net-101 (a bare node:net server answering a fixed 101) runs here: the handshake floor. */
  net101?: boolean;
  /** wsload mode and flags, without --url, --raw and --server-pid */
  load: (o: Options) => string[];
  /**
   * An unmeasured batch before the measured one, for workloads that have no --warmup of their own
   * (connect): the server's code is compiled and its heap grown before the window opens, as the
   * echo workloads' warm-up seconds do. null: none (--warmup 0).
   */
  warmLoad?: (o: Options) => string[] | null;
  /** Server environment beyond PORT/MODE/CONNS (e.g. DEFLATE=1 for the compressed workloads). */
  serverEnv?: Record<string, string>;
  /** false: the client's CPU during the run does not bound the figure (no c flag) */
  clientBound?: boolean;
  /** wsload's own time bound for these flags (its watchdog), in seconds */
  bound: (o: Options) => number;
  metrics: MetricDef[];
}

// The 16 KiB workload uses pipeline 2: with pipeline 1 each connection waits a full round trip
// between messages, and 16 connections leave the server idle part of the time (see BENCHMARKS.md).
const MEDIUM_PIPELINE = 2;
const LARGE_PIPELINE = 2;
const CONNECT_CONCURRENCY = 100;

/** Handshakes made and closed before the measured handshakes (see the handshakes workload). */
const DEFAULT_WARM_HANDSHAKES = 2000;

const echoTiming = (o: Options): string[] => ['--duration', String(o.duration), '--warmup', String(o.warmup), '--connect-timeout', '30'];
const echoBound = (o: Options): number => 30 + o.warmup + o.duration + 13;

const cpuRows = (scale: 'us' | 'ms'): MetricDef[] => [
  { label: 'server CPU s', better: 'lower', get: (r) => field(r, 'server_cpu_s') },
  {
    label: scale === 'us' ? 'server CPU us/msg' : 'server CPU ms/msg',
    better: 'lower',
    get: (r) => perMsg(r, scale === 'us' ? 1e6 : 1e3),
  },
  { label: 'server RSS MB (end)', better: 'lower', get: (r) => kbToMb(field(r, 'rss_end_kb')) },
];

const WORKLOADS: WorkloadDef[] = [
  {
    name: 'small',
    summary: 'echo, 64 conns, 32 B binary, pipeline 16',
    serverMode: 'echo',
    conns: 64,
    rawSupported: true,
    load: (o) => ['echo', '--conns', '64', '--size', '32', '--pipeline', '16', ...echoTiming(o)],
    bound: echoBound,
    metrics: [{ label: 'msg/s', better: 'higher', get: (r) => field(r, 'msgs_per_s'), primary: true }, ...cpuRows('us')],
  },
  {
    name: 'medium',
    summary: `echo, 16 conns, 16 KiB binary, pipeline ${MEDIUM_PIPELINE}`,
    serverMode: 'echo',
    conns: 16,
    rawSupported: true,
    load: (o) => ['echo', '--conns', '16', '--size', '16k', '--pipeline', String(MEDIUM_PIPELINE), ...echoTiming(o)],
    bound: echoBound,
    metrics: [
      { label: 'MB/s (one way)', better: 'higher', get: (r) => field(r, 'mb_per_s'), primary: true },
      { label: 'msg/s', better: 'higher', get: (r) => field(r, 'msgs_per_s') },
      ...cpuRows('us'),
    ],
  },
  // Compressed echo (permessage-deflate, RFC 7692): wsload offers no context takeover both ways
  // and compresses at level 1; every server runs with DEFLATE=1, i.e. level 1, memLevel 8,
  // threshold 0, so ws and Upshift do the same zlib work. Text-like random printable payloads.
  {
    name: 'deflate-small',
    summary: 'permessage-deflate echo, 64 conns, 256 B text, pipeline 16',
    serverMode: 'echo',
    conns: 64,
    rawSupported: false,
    serverEnv: { DEFLATE: '1' },
    load: (o) => ['echo', '--deflate', '--text', '--random-fill', '--conns', '64', '--size', '256', '--pipeline', '16', ...echoTiming(o)],
    bound: echoBound,
    metrics: [{ label: 'msg/s', better: 'higher', get: (r) => field(r, 'msgs_per_s'), primary: true }, ...cpuRows('us')],
  },
  {
    name: 'deflate-medium',
    summary: 'permessage-deflate echo, 16 conns, 16 KiB text, pipeline 2',
    serverMode: 'echo',
    conns: 16,
    rawSupported: false,
    serverEnv: { DEFLATE: '1' },
    load: (o) => ['echo', '--deflate', '--text', '--random-fill', '--conns', '16', '--size', '16k', '--pipeline', '2', ...echoTiming(o)],
    bound: echoBound,
    metrics: [
      { label: 'MB/s (one way)', better: 'higher', get: (r) => field(r, 'mb_per_s'), primary: true },
      { label: 'msg/s', better: 'higher', get: (r) => field(r, 'msgs_per_s') },
      ...cpuRows('us'),
    ],
  },
  {
    name: 'large',
    summary: `echo, 4 conns, 1 MiB binary, pipeline ${LARGE_PIPELINE}`,
    serverMode: 'echo',
    conns: 4,
    rawSupported: true,
    load: (o) => ['echo', '--conns', '4', '--size', '1m', '--pipeline', String(LARGE_PIPELINE), ...echoTiming(o)],
    bound: echoBound,
    metrics: [
      { label: 'MB/s (one way)', better: 'higher', get: (r) => field(r, 'mb_per_s'), primary: true },
      ...cpuRows('ms'),
      { label: 'server peak RSS MB', better: 'lower', get: (r) => kbToMb(field(r, 'hwm_end_kb')) },
    ],
  },
  {
    name: 'handshakes',
    summary: `connect, 5,000 conns, ${CONNECT_CONCURRENCY} handshakes in flight`,
    serverMode: 'echo',
    conns: 5000,
    // wsload --raw counts a TCP connection as open when the kernel has completed it, before the
    // server accept()s it, so --concurrency does not throttle and the figure is neither a server's
    // rate nor comparable (see BENCHMARKS.md).
    rawSupported: false,
    net101: true,
    load: () => ['connect', '--conns', '5000', '--concurrency', String(CONNECT_CONCURRENCY), '--duration', '60'],
    // Unmeasured handshakes, closed again, before the 5,000 that are measured: a fresh process is
    // otherwise measured while V8 compiles its code. Batches of 5,000 one after the other in one
    // process (2026-12-02, quiet machine): Upshift 150, 106, then 62-80 µs of CPU per handshake
    // from the third batch on; the bare node:net server (net-101) 100-108, then 58-108. So 2,000
    // does not reach Upshift's steady state, but more does not measure the server either: every
    // handshake leaves a loopback 4-tuple in TIME_WAIT for 60 s, and past ~25,000 in a minute
    // (10,000 + 5,000 per server and run) wsload's connect() hunts for free ports and becomes the
    // limit (96% client CPU, flag c). --warm-handshakes changes it for one run.
    warmLoad: (o) => (o.warmHandshakes > 0 ? ['connect', '--conns', String(o.warmHandshakes), '--concurrency', String(CONNECT_CONCURRENCY), '--duration', '60'] : null),
    bound: () => 60 + 13,
    metrics: [
      { label: 'handshakes/s', better: 'higher', get: (r) => field(r, 'handshakes_per_s'), primary: true },
      { label: 'handshake p99 us', better: 'lower', get: (r) => field(r, 'p99_us') },
      { label: 'server CPU s', better: 'lower', get: (r) => field(r, 'server_cpu_s') },
      { label: 'server CPU us/handshake', better: 'lower', get: (r) => perMsg(r, 1e6) },
    ],
  },
  {
    name: 'idle-memory',
    summary: '10,000 idle conns held open; server RSS growth per conn',
    serverMode: 'echo',
    conns: 10000,
    rawSupported: true,
    clientBound: false, // wsload's CPU while connecting does not limit RSS per connection
    load: (o) => ['connect', '--conns', '10000', '--concurrency', String(CONNECT_CONCURRENCY), '--duration', '60', '--hold', String(o.duration)],
    bound: (o) => 60 + o.duration + 13,
    metrics: [
      { label: 'KB/conn', better: 'lower', get: (r) => field(r, 'rss_per_conn_kb'), primary: true },
      { label: 'server RSS MB (end)', better: 'lower', get: (r) => kbToMb(field(r, 'rss_end_kb')) },
    ],
  },
  {
    name: 'broadcast',
    summary: '10,000 conns receive; server broadcasts 32 B to all, round after round',
    serverMode: 'broadcast',
    conns: 10000,
    rawSupported: false,
    load: (o) => ['recv', '--conns', '10000', '--concurrency', String(CONNECT_CONCURRENCY), '--duration', String(o.duration), '--warmup', String(o.warmup), '--connect-timeout', '60'],
    bound: (o) => 60 + o.warmup + o.duration + 13,
    metrics: [
      { label: 'delivered msg/s', better: 'higher', get: (r) => field(r, 'msgs_per_s'), primary: true },
      { label: 'server CPU s', better: 'lower', get: (r) => field(r, 'server_cpu_s') },
      { label: 'server CPU us/msg', better: 'lower', get: (r) => perMsg(r, 1e6) },
      { label: 'server RSS MB (end)', better: 'lower', get: (r) => kbToMb(field(r, 'rss_end_kb')) },
    ],
  },
  // Topics (issue 10): Upshift's wss.publish(), Bun's server.publish(), ws looping over its
  // clients for every message (it has no topics). Delivered messages are counted by wsload.
  {
    name: 'publish-fanout',
    summary: 'topics: 10,000 subscribers; one 32 B publish per event-loop turn',
    serverMode: 'publish',
    conns: 10000,
    rawSupported: false,
    serverEnv: { PER_TURN: '1' },
    load: (o) => ['recv', '--conns', '10000', '--concurrency', String(CONNECT_CONCURRENCY), '--duration', String(o.duration), '--warmup', String(o.warmup), '--connect-timeout', '60'],
    bound: (o) => 60 + o.warmup + o.duration + 13,
    metrics: [
      { label: 'delivered msg/s', better: 'higher', get: (r) => field(r, 'msgs_per_s'), primary: true },
      { label: 'server CPU us/msg', better: 'lower', get: (r) => perMsg(r, 1e6) },
      { label: 'server RSS MB (end)', better: 'lower', get: (r) => kbToMb(field(r, 'rss_end_kb')) },
    ],
  },
  {
    name: 'publish-stream',
    summary: 'topics: 1,000 subscribers; 16 publishes of 32 B per event-loop turn',
    serverMode: 'publish',
    conns: 1000,
    rawSupported: false,
    serverEnv: { PER_TURN: '16' },
    load: (o) => ['recv', '--conns', '1000', '--concurrency', String(CONNECT_CONCURRENCY), '--duration', String(o.duration), '--warmup', String(o.warmup), '--connect-timeout', '60'],
    bound: (o) => 60 + o.warmup + o.duration + 13,
    metrics: [
      { label: 'delivered msg/s', better: 'higher', get: (r) => field(r, 'msgs_per_s'), primary: true },
      { label: 'server CPU us/msg', better: 'lower', get: (r) => perMsg(r, 1e6) },
      { label: 'server RSS MB (end)', better: 'lower', get: (r) => kbToMb(field(r, 'rss_end_kb')) },
    ],
  },
  // Publishing to peers with permessage-deflate (no context takeover both ways, as wsload offers):
  // Upshift compresses each message once for all subscribers, ws once per client (its send loop),
  // Bun as its publish(…, compress) does. The message is ~4 KB of the JSON corpus, as text.
  {
    name: 'publish-deflate',
    summary: 'topics + permessage-deflate: 1,000 subscribers; one ~4 KB JSON publish per event-loop turn',
    serverMode: 'publish',
    conns: 1000,
    rawSupported: false,
    get serverEnv() {
      return { PER_TURN: '1', DEFLATE: '1', MESSAGE_FILE: publishMessageFile(4096) };
    },
    load: (o) => ['recv', '--deflate', '--conns', '1000', '--concurrency', String(CONNECT_CONCURRENCY), '--duration', String(o.duration), '--warmup', String(o.warmup), '--connect-timeout', '60'],
    bound: (o) => 60 + o.warmup + o.duration + 13,
    metrics: [
      { label: 'delivered msg/s', better: 'higher', get: (r) => field(r, 'msgs_per_s'), primary: true },
      { label: 'server CPU us/msg', better: 'lower', get: (r) => perMsg(r, 1e6) },
      { label: 'server RSS MB (end)', better: 'lower', get: (r) => kbToMb(field(r, 'rss_end_kb')) },
    ],
  },
  // The same with a ~512 KiB message to 100 subscribers: compressed in slices (over 256 KiB), once
  // for all of them by Upshift; wsload's one thread inflating ~390 MB/s limits what it can count.
  {
    name: 'publish-deflate-large',
    summary: 'topics + permessage-deflate: 100 subscribers; one ~512 KiB JSON publish per event-loop turn',
    serverMode: 'publish',
    conns: 100,
    rawSupported: false,
    get serverEnv() {
      return { PER_TURN: '1', DEFLATE: '1', MESSAGE_FILE: publishMessageFile(512 * 1024) };
    },
    load: (o) => ['recv', '--deflate', '--conns', '100', '--duration', String(o.duration), '--warmup', String(o.warmup), '--connect-timeout', '60'],
    bound: (o) => 60 + o.warmup + o.duration + 13,
    metrics: [
      { label: 'delivered msg/s', better: 'higher', get: (r) => field(r, 'msgs_per_s'), primary: true },
      { label: 'server CPU ms/msg', better: 'lower', get: (r) => perMsg(r, 1e3) },
      { label: 'server RSS MB (end)', better: 'lower', get: (r) => kbToMb(field(r, 'rss_end_kb')) },
    ],
  },
  {
    name: 'latency',
    summary: 'echo, 16 conns, 32 B binary, pipeline 1 (closed loop)',
    serverMode: 'echo',
    conns: 16,
    rawSupported: true,
    load: (o) => ['echo', '--conns', '16', '--size', '32', '--pipeline', '1', ...echoTiming(o)],
    bound: echoBound,
    metrics: [
      { label: 'p50 us', better: 'lower', get: (r) => field(r, 'p50_us'), primary: true },
      { label: 'p99 us', better: 'lower', get: (r) => field(r, 'p99_us'), primary: true },
      { label: 'p99.9 us', better: 'lower', get: (r) => field(r, 'p999_us') },
      { label: 'msg/s', better: 'higher', get: (r) => field(r, 'msgs_per_s') },
    ],
  },
];

/**
 * Not a wsload workload: bench/pubsub-scale.ts (2 server processes through Redis and NATS, end-to-
 * end latency at 10,000 msg/s), run once after the others.
 */
const PUBSUB_SCALE = 'pubsub-scale';

// ---- environment ------------------------------------------------------------------------------

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench', 'servers'))) return dir;
    dir = path.dirname(dir);
  }
  return fail('cannot find the repository root (a directory with package.json and bench/servers)');
}

const ROOT = findRoot();
const requireFromRoot = createRequire(path.join(ROOT, 'package.json'));

function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

function versionOf(file: string): string | null {
  const r = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 15000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Where the bench looks for Bun (optional: its column is skipped without it; see BENCHMARKS.md). */
const BUN_PLACES = '$BUN, bun on PATH, ~/.bun/bin/bun';

function findBun(): { path: string; version: string } | null {
  const candidates = [process.env.BUN ?? '', which('bun') ?? '', path.join(os.homedir(), '.bun', 'bin', 'bun')];
  for (const c of candidates) {
    if (!c || !fs.existsSync(c)) continue;
    const v = versionOf(c);
    // Only a binary that answers --version with a version number is taken.
    if (v && /^\d+\.\d+/.test(v)) return { path: c, version: v };
  }
  return null;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function packageVersion(name: string): string | null {
  try {
    const pkg = JSON.parse(fs.readFileSync(requireFromRoot.resolve(`${name}/package.json`), 'utf8')) as { version?: string };
    return pkg.version ?? null;
  } catch {
    return null;
  }
}

/** Is the native (prebuilt or compiled) addon of bufferutil / utf-8-validate what ws will load? */
function nativeAddon(name: string): boolean {
  try {
    const gyp = requireFromRoot('node-gyp-build') as { path: (dir: string) => string };
    gyp.path(path.dirname(requireFromRoot.resolve(name)));
    return true;
  } catch {
    return false;
  }
}

const SHELL = which('bash');
const TASKSET = which('taskset');
// Raise the open-file limit for a child (10,000 connections need 10,000 descriptors in the server
// and in the client). Raising the hard limit needs CAP_SYS_RESOURCE, which a container's root
// often lacks; then the soft limit goes up to the hard one. Node raises its own soft limit to the
// hard one at startup anyway; wsload raises its own to conns + 64.
const ULIMIT = 'ulimit -n 65536 2>/dev/null || ulimit -Sn "$(ulimit -Hn)" 2>/dev/null';

function launch(argv: string[], core: number | null): { file: string; args: string[] } {
  const pinned = core !== null && TASKSET ? [TASKSET, '-c', String(core), ...argv] : argv;
  // bash -c '...; exec "$@"' and taskset both exec, so the child's PID is the runtime's own.
  if (SHELL) return { file: SHELL, args: ['-c', `${ULIMIT}; exec "$@"`, 'bench-launch', ...pinned] };
  return { file: pinned[0]!, args: pinned.slice(1) };
}

function childFdLimit(): number | null {
  if (!SHELL) return null;
  const r = spawnSync(SHELL, ['-c', `${ULIMIT}; ulimit -n`], { encoding: 'utf8', timeout: 5000 });
  const n = Number(r.stdout.trim());
  return r.status === 0 && Number.isFinite(n) ? n : r.stdout.trim() === 'unlimited' ? Infinity : null;
}

/** Soft open-file limit of a running process, from /proc/PID/limits. */
function processFdLimit(pid: number): number | null {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
    if (!m) return null;
    return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return null;
  }
}

interface CpuTimes {
  busy: number;
  total: number;
}

function readCpuTimes(): CpuTimes | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Fraction of the whole machine that was busy over the next `ms` milliseconds. */
async function machineBusy(ms: number): Promise<number | null> {
  const a = readCpuTimes();
  await sleep(ms);
  const b = readCpuTimes();
  if (!a || !b || b.total === a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- load client ------------------------------------------------------------------------------

interface Client {
  kind: 'wsload' | 'node';
  file: string;
  argv0: string[];
  note: string;
}

function buildWsload(): { path: string } | { error: string } {
  const override = process.env.WSLOAD;
  if (override) {
    return fs.existsSync(override) ? { path: override } : { error: `WSLOAD=${override} does not exist` };
  }
  const src = path.resolve(ROOT, '..', 'shared', 'bench');
  const out = path.join(ROOT, 'build');
  if (!fs.existsSync(path.join(src, 'wsload.c'))) return { error: `${src}/wsload.c not found` };
  const make = which('make');
  if (!make) return { error: 'make not found' };
  const r = spawnSync(make, ['-s', '-C', src, `O=${out}`], { encoding: 'utf8', timeout: 120000 });
  const bin = path.join(out, 'wsload');
  if (r.status !== 0 || !fs.existsSync(bin)) return { error: `make failed: ${(r.stderr || r.stdout || String(r.error ?? '')).trim().slice(-500)}` };
  const t = spawnSync(bin, ['selftest'], { encoding: 'utf8', timeout: 10000 });
  if (t.status !== 0) return { error: `wsload selftest failed: ${t.stdout}${t.stderr}` };
  return { path: bin };
}

function pickClient(o: Options): Client {
  if (o.client !== 'node') {
    const built = buildWsload();
    if ('path' in built) return { kind: 'wsload', file: built.path, argv0: [built.path], note: built.path };
    if (o.client === 'wsload') fail(`cannot build wsload: ${built.error}`);
    console.log(`WARNING: cannot build wsload (${built.error}).`);
  }
  const script = path.join(ROOT, 'bench', 'load-node.mjs');
  console.log('WARNING: using the Node fallback load client (bench/load-node.mjs, the `ws` client).');
  console.log('WARNING: it is much slower than wsload; servers faster than it are not measured, only the client.');
  return { kind: 'node', file: script, argv0: [process.execPath, script], note: `${script} (fallback)` };
}

// ---- servers ----------------------------------------------------------------------------------

interface ServerSpec {
  name: ServerName;
  argv: string[];
  label: string;
}

function serverSpecs(o: Options, bun: { path: string } | null): ServerSpec[] {
  const specs: ServerSpec[] = [];
  for (const name of o.servers) {
    if (name === 'upshift') {
      const entry = path.join(ROOT, 'dist', 'bench', 'servers', 'upshift-echo.js');
      const lib = path.join(ROOT, 'dist', 'src', 'index.js');
      if (!fs.existsSync(entry) || !fs.existsSync(lib)) {
        console.log(`WARNING: skipping upshift: ${fs.existsSync(entry) ? lib : entry} not found (does src/index.ts exist and compile?)`);
        continue;
      }
      specs.push({ name, argv: [process.execPath, entry], label: `node ${path.relative(ROOT, entry)}` });
    } else if (name === 'ws') {
      const entry = path.join(ROOT, 'bench', 'servers', 'ws-echo.mjs');
      specs.push({ name, argv: [process.execPath, entry], label: `node ${path.relative(ROOT, entry)}` });
    } else if (name === 'raw') {
      const entry = path.join(ROOT, 'bench', 'servers', 'raw-echo.mjs');
      specs.push({ name, argv: [process.execPath, entry], label: `node ${path.relative(ROOT, entry)}` });
    } else if (name === 'base') {
      if (o.baseline === null) {
        if (o.serversExplicit) console.log('WARNING: skipping base: give --baseline DIR');
        continue;
      }
      const entry = path.join(o.baseline, 'dist', 'bench', 'servers', 'upshift-echo.js');
      if (!fs.existsSync(entry)) fail(`--baseline: ${entry} not found (run tsc -p . in ${o.baseline})`);
      specs.push({ name, argv: [process.execPath, entry], label: `node ${entry}` });
    } else if (name === NET_101) {
      const entry = path.join(ROOT, 'dist', 'bench', 'servers', 'raw-101.js');
      specs.push({ name, argv: [process.execPath, entry], label: `node ${path.relative(ROOT, entry)}` });
    } else if (name === 'bun') {
      if (!bun) {
        const note = `no working bun binary (${BUN_PLACES}); see "What it needs" in BENCHMARKS.md to install Bun`;
        console.log(o.serversExplicit ? `WARNING: skipping bun: ${note}` : `note: the bun column is skipped: ${note}`);
        continue;
      }
      const entry = path.join(ROOT, 'bench', 'servers', 'bun-echo.js');
      specs.push({ name, argv: [bun.path, entry], label: `bun ${path.relative(ROOT, entry)}` });
    }
  }
  return specs;
}

const live = new Set<ChildProcess>();
let interrupted = false;

function killAllNow(): void {
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}: stopping children`);
    interrupted = true;
    killAllNow();
    // Reap them (their 'close' events) before leaving, so that no zombie outlives the harness.
    const deadline = Date.now() + 1000;
    const poll = (): void => {
      if (live.size === 0 || Date.now() > deadline) process.exit(130);
      else setTimeout(poll, 20);
    };
    poll();
  });
}

interface Spawned {
  child: ChildProcess;
  pid: number;
  output: () => string;
  exited: Promise<void>;
}

function start(argv: string[], core: number | null, env: Record<string, string>, keepOutput: number): Spawned {
  const { file, args } = launch(argv, core);
  const child = spawn(file, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`cannot start ${argv.join(' ')}`);
  live.add(child);
  let out = '';
  const keep = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > keepOutput) out = out.slice(out.length - keepOutput);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => {
      live.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      out += `\nspawn error: ${err.message}`;
      live.delete(child);
      resolve();
    });
  });
  return { child, pid: child.pid, output: () => out, exited };
}

function running(s: Spawned): boolean {
  return s.child.exitCode === null && s.child.signalCode === null;
}

async function waitExit(s: Spawned, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = await Promise.race([s.exited.then(() => true), timeout]);
  clearTimeout(timer);
  return done;
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`. Only ever this PID. */
async function stop(s: Spawned, graceMs = 3000): Promise<void> {
  if (!running(s)) {
    await waitExit(s, 1000);
    return;
  }
  try {
    process.kill(s.pid, 'SIGTERM');
  } catch {
    // gone already
  }
  if (await waitExit(s, graceMs)) return;
  try {
    process.kill(s.pid, 'SIGKILL');
  } catch {
    // gone already
  }
  await waitExit(s, 2000);
}

let nextPort = 21000;

/** A free port on 127.0.0.1 below the ephemeral range, different for every run. */
async function pickPort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = nextPort;
    nextPort = nextPort >= 31999 ? 21000 : nextPort + 1;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port found in 21000-31999');
}

async function waitForPort(port: number, s: Spawned, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!running(s)) throw new Error(`server exited before listening:\n${s.output().trim()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ port, host: '127.0.0.1' });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`server did not listen on 127.0.0.1:${port} within ${ms} ms:\n${s.output().trim()}`);
}

function exeName(pid: number): string | null {
  try {
    return path.basename(fs.readlinkSync(`/proc/${pid}/exe`));
  } catch {
    return null;
  }
}

/** Whether a server runs a workload: raw only where wsload --raw can drive it, net-101 only in handshakes. */
function takesPart(server: ServerName, w: WorkloadDef): boolean {
  if (server === 'raw') return w.rawSupported;
  if (server === NET_101) return w.net101 === true;
  return true;
}

// ---- one run ----------------------------------------------------------------------------------

interface RunRecord {
  workload: string;
  server: ServerName;
  run: number;
  port: number | null;
  ok: boolean;
  error?: string;
  flags: string[];
  notes: string[];
  result?: LoadResult;
  /** the last few KB the server printed */
  serverLog?: string;
}

async function runOnce(o: Options, w: WorkloadDef, spec: ServerSpec, run: number, client: Client, pin: boolean): Promise<RunRecord> {
  const rec: RunRecord = { workload: w.name, server: spec.name, run, port: null, ok: false, flags: [], notes: [] };
  const bound = w.bound(o);
  let server: Spawned | null = null;
  let load: Spawned | null = null;
  try {
    const port = await pickPort();
    rec.port = port;
    server = start(
      spec.argv,
      pin ? 0 : null,
      {
        PORT: String(port),
        MODE: w.serverMode,
        CONNS: String(w.conns),
        BROADCAST_MS: String(Math.round((o.warmup + o.duration + 10) * 1000)),
        MAX_LIFETIME_S: String(Math.ceil(bound + 60)),
        ...w.serverEnv,
      },
      8192,
    );
    await waitForPort(port, server, 20000);
    const exe = exeName(server.pid);
    if (exe && !/^(node|bun)/.test(exe)) rec.notes.push(`server pid ${server.pid} is ${exe}, not the runtime: CPU/RSS are wrong`);
    const fdLimit = processFdLimit(server.pid);
    if (fdLimit !== null && fdLimit < w.conns + 64) rec.notes.push(`server open-file limit ${fdLimit} < ${w.conns + 64}`);

    const warm = w.warmLoad?.(o) ?? null;
    if (warm !== null) await warmUp(warm, client, port, server, spec, pin);
    const args = [...client.argv0, ...w.load(o), '--url', `ws://127.0.0.1:${port}/`, '--server-pid', String(server.pid), '--quiet'];
    if (spec.name === 'raw') args.push('--raw');
    load = start(args, pin ? 1 : null, {}, 65536);
    const finished = await waitExit(load, (bound + 15) * 1000);
    if (!finished) {
      await stop(load, 1000);
      throw new Error(`load client exceeded ${bound + 15} s and was stopped`);
    }
    const out = load.output();
    const lines = out.trim().split('\n');
    const last = [...lines].reverse().find((l) => l.startsWith('{'));
    if (!last) throw new Error(`no JSON from the load client (exit ${load.child.exitCode ?? load.child.signalCode}):\n${out.trim().slice(-1500)}`);
    const result = JSON.parse(last) as LoadResult;
    rec.result = result;
    rec.ok = true;
    for (const l of lines) if (/warning/i.test(l)) rec.notes.push(l.trim());
    assess(w, rec, result);
  } catch (err) {
    rec.ok = false;
    rec.error = err instanceof Error ? err.message : String(err);
    rec.flags.push('x');
  } finally {
    if (load) await stop(load, 1000);
    if (server) {
      await stop(server);
      rec.serverLog = server.output();
      for (const l of rec.serverLog.split('\n')) if (/^broadcast/.test(l)) rec.notes.push(`server: ${l.trim()}`);
    }
  }
  return rec;
}

/**
 * Runs an unmeasured load batch, then waits until the server has gone quiet (its CPU time still
 * for 200 ms, at most 10 s): the batch's connections close when the client exits, and that work
 * must not fall into the measured window.
 */
async function warmUp(argv: string[], client: Client, port: number, server: Spawned, spec: ServerSpec, pin: boolean): Promise<void> {
  const args = [...client.argv0, ...argv, '--url', `ws://127.0.0.1:${port}/`, '--quiet'];
  if (spec.name === 'raw') args.push('--raw');
  const load = start(args, pin ? 1 : null, {}, 4096);
  try {
    if (!(await waitExit(load, 75_000))) throw new Error('the warm-up load exceeded 75 s');
    if (load.child.exitCode !== 0) throw new Error(`the warm-up load failed (exit ${load.child.exitCode ?? load.child.signalCode}): ${load.output().trim().slice(-500)}`);
  } finally {
    await stop(load, 1000);
  }
  let last = processCpuTicks(server.pid);
  for (let waited = 0; waited < 10_000; waited += 200) {
    await sleep(200);
    const now = processCpuTicks(server.pid);
    if (now === last) return;
    last = now;
  }
}

/** utime + stime of a process in clock ticks (/proc/PID/stat), or -1 if it cannot be read. */
function processCpuTicks(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return -1;
  }
}

/** Flags: c = client-bound, o = other load on the machine, e = errors or missing connections. */
function assess(w: WorkloadDef, rec: RunRecord, r: LoadResult): void {
  const clientPct = field(r, 'client_cpu_pct');
  if (w.clientBound !== false && clientPct !== null && clientPct >= 90) {
    rec.flags.push('c');
    rec.notes.push(`client CPU ${clientPct.toFixed(0)}%: the load generator, not the server, may be the limit`);
  }
  const window = field(r, 'duration_s') ?? field(r, 'handshake_s') ?? 0;
  const other = field(r, 'other_cpu_s');
  if (other !== null && other > Math.max(0.1 * window, 0.3)) {
    rec.flags.push('o');
    rec.notes.push(`other_cpu_s ${other.toFixed(2)} in a ${window.toFixed(2)} s window: something else was running`);
  }
  const errors = field(r, 'errors') ?? 0;
  const failures = field(r, 'failures') ?? 0;
  const problems: string[] = [];
  if (errors > 0) {
    const parts = ['err_handshake', 'err_protocol', 'err_closed', 'err_mismatch'].map((k) => `${k.slice(4)} ${field(r, k) ?? 0}`);
    problems.push(`${errors} errors (${parts.join(', ')})`);
  }
  if (failures > 0) problems.push(`${failures} handshakes failed`);
  if (r.mode === 'connect') {
    const open = field(r, 'open_at_end');
    if (open !== null && open < w.conns) problems.push(`only ${open} of ${w.conns} connections open at the end`);
  } else if ((field(r, 'msgs') ?? 0) === 0) {
    problems.push('no messages in the window');
  }
  if (problems.length) {
    rec.flags.push('e');
    rec.notes.push(...problems);
  }
}

// ---- summary ----------------------------------------------------------------------------------

function median(values: number[]): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmt(v: number | null): string {
  if (v === null) return '-';
  const a = Math.abs(v);
  if (a >= 10000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

interface Cell {
  median: number | null;
  values: (number | null)[];
  spreadPct: number | null;
  flags: string;
}

interface SummaryRow {
  workload: string;
  metric: string;
  better: 'higher' | 'lower';
  primary: boolean;
  cells: Partial<Record<ServerName, Cell>>;
  ratio: number | null;
}

function summarize(records: RunRecord[], workloads: WorkloadDef[], servers: ServerName[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const w of workloads) {
    for (const m of w.metrics) {
      const row: SummaryRow = { workload: w.name, metric: m.label, better: m.better, primary: !!m.primary, cells: {}, ratio: null };
      for (const s of servers) {
        const recs = records.filter((r) => r.workload === w.name && r.server === s);
        if (!recs.length) continue;
        const values = recs.map((r) => (r.ok && r.result ? m.get(r.result) : null));
        const good = values.filter((v): v is number => v !== null);
        const med = median(good);
        const spread = med && good.length > 1 ? ((Math.max(...good) - Math.min(...good)) / Math.abs(med)) * 100 : null;
        const flags = [...new Set(recs.flatMap((r) => r.flags))].sort().join('');
        row.cells[s] = { median: med, values, spreadPct: spread, flags };
      }
      const up = row.cells.upshift?.median ?? null;
      const ws = row.cells.ws?.median ?? null;
      row.ratio = up !== null && ws ? up / ws : null;
      rows.push(row);
    }
  }
  return rows;
}

function table(header: string[], rows: string[][], rightAlign: (col: number) => boolean): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (rightAlign(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function cellText(c: Cell | undefined): string {
  if (!c) return '';
  return `${fmt(c.median)}${c.flags ? ` ${c.flags}` : ''}`;
}

function spreadText(c: Cell | undefined): string {
  return c && c.spreadPct !== null ? `${c.spreadPct.toFixed(0)}%` : '';
}

function printSummary(rows: SummaryRow[], servers: ServerName[], runs: number): void {
  const has = (s: ServerName): boolean => servers.includes(s);
  const header = ['workload', 'metric', 'better', 'upshift', 'spread', 'ws', 'spread', 'up/ws', 'raw', 'bun', 'net-101'];
  if (has('base')) header.push('base', 'spread');
  const body = rows.map((r) => [
    r.workload,
    r.metric,
    r.better,
    has('upshift') ? cellText(r.cells.upshift) : 'n/a',
    spreadText(r.cells.upshift),
    has('ws') ? cellText(r.cells.ws) : 'n/a',
    spreadText(r.cells.ws),
    r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`,
    has('raw') ? cellText(r.cells.raw) || '-' : 'n/a',
    has('bun') ? cellText(r.cells.bun) || '-' : 'n/a',
    has(NET_101) ? cellText(r.cells[NET_101]) || '-' : 'n/a',
    ...(has('base') ? [cellText(r.cells.base), spreadText(r.cells.base)] : []),
  ]);
  console.log(`\nMedians of ${runs} run(s) per cell; up/ws = Upshift median / ws median (whether >1 is good depends on "better").`);
  console.log('spread = (max - min) / median over the runs. raw: node:net echo, no WebSocket; bun: Bun.serve (uWebSockets);');
  console.log('net-101: node:net answering every request head with a 101 (SHA-1 of the key, nothing else), handshakes only.');
  if (has('base')) console.log('base: the Upshift build given with --baseline (before/after in the same run).');
  console.log('Flags on a cell (any run): c = load client near 100% CPU (lower bound only), o = other CPU load during the');
  console.log('window (figure suspect), e = errors or missing connections, x = a run failed.\n');
  console.log(table(header, body, (i) => i >= 3));

  printFloors(rows);

  const perRun: string[][] = [];
  for (const r of rows.filter((x) => x.primary)) {
    for (const s of servers) {
      const c = r.cells[s];
      if (!c) continue;
      perRun.push([r.workload, r.metric, s, ...Array.from({ length: runs }, (_, i) => fmt(c.values[i] ?? null)), spreadText(c)]);
    }
  }
  if (perRun.length) {
    console.log('\nPer-run values (main metrics)\n');
    const runCols = Array.from({ length: runs }, (_, i) => `run ${i + 1}`);
    console.log(table(['workload', 'metric', 'server', ...runCols, 'spread'], perRun, (i) => i >= 3));
  }
}

/** Issue 13 targets: Upshift against Node's own floor, measured in the same run. */
const HANDSHAKE_TARGET = 0.9;
const IDLE_TARGET_KB = 0.5;

function printFloors(rows: SummaryRow[]): void {
  const lines: string[] = [];
  const hs = rows.find((r) => r.workload === 'handshakes' && r.metric === 'handshakes/s');
  const cpu = rows.find((r) => r.workload === 'handshakes' && r.metric === 'server CPU us/handshake');
  const idle = rows.find((r) => r.workload === 'idle-memory' && r.metric === 'KB/conn');
  for (const server of ['upshift', 'base'] as const) {
    const up = hs?.cells[server]?.median ?? null;
    const floor = hs?.cells[NET_101]?.median ?? null;
    if (up !== null && floor) {
      const ratio = up / floor;
      lines.push(`handshakes/s: ${server} / net-101 = ${ratio.toFixed(2)}x (target >= ${HANDSHAKE_TARGET}x: ${ratio >= HANDSHAKE_TARGET ? 'met' : 'not met'})`);
      const upCpu = cpu?.cells[server]?.median ?? null;
      const floorCpu = cpu?.cells[NET_101]?.median ?? null;
      if (upCpu !== null && floorCpu !== null) lines.push(`  server CPU per handshake: ${server} ${fmt(upCpu)} us, net-101 ${fmt(floorCpu)} us (+${fmt(upCpu - floorCpu)} us)`);
    }
    const upKb = idle?.cells[server]?.median ?? null;
    const rawKb = idle?.cells.raw?.median ?? null;
    if (upKb !== null && rawKb !== null) {
      const extra = upKb - rawKb;
      lines.push(`idle-memory: ${server} - raw = ${extra.toFixed(2)} KB/conn (target <= ${IDLE_TARGET_KB} KB: ${extra <= IDLE_TARGET_KB ? 'met' : 'not met'})`);
    }
  }
  if (lines.length) console.log(`\nAgainst Node's own floor (same run, medians)\n\n${lines.join('\n')}`);
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const workloads = o.only ? WORKLOADS.filter((w) => o.only!.includes(w.name)) : WORKLOADS;
  const nproc = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const pin = o.pin && !!TASKSET && nproc >= 2;
  const bun = o.servers.includes('bun') ? findBun() : null;
  const client = pickClient(o);
  const specs = serverSpecs(o, bun);
  if (!specs.length) fail('no server to run');
  const servers = specs.map((s) => s.name);
  const fdLimit = childFdLimit();

  const machine = {
    nproc,
    cpu: cpuModel(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    ws: packageVersion('ws'),
    bufferutil: packageVersion('bufferutil') ? `${packageVersion('bufferutil')}${nativeAddon('bufferutil') ? ' (native)' : ' (JS fallback)'}` : null,
    utf8validate: packageVersion('utf-8-validate') ? `${packageVersion('utf-8-validate')}${nativeAddon('utf-8-validate') ? ' (native)' : ' (JS fallback)'}` : null,
    bun: bun ? `${bun.version} (${path.relative(ROOT, bun.path) || bun.path})` : null,
    pinning: pin ? 'server on core 0, load client on core 1 (taskset)' : 'none',
    child_fd_limit: fdLimit,
  };
  console.log('Upshift benchmark');
  console.log(`  machine: ${machine.nproc} CPUs, ${machine.cpu}, ${machine.kernel}`);
  console.log(`  node ${machine.node}; ws ${machine.ws}; bufferutil ${machine.bufferutil ?? 'not installed'}; utf-8-validate ${machine.utf8validate ?? 'not installed'}; bun ${machine.bun ?? 'not found'}`);
  console.log(`  client: ${client.kind === 'wsload' ? 'wsload' : 'Node fallback'} ${client.note}`);
  console.log(`  pinning: ${machine.pinning}${o.pin && !pin ? ` (wanted, but ${TASKSET ? `only ${nproc} CPU` : 'taskset not found'})` : ''}`);
  console.log(`  open-file limit for children: ${fdLimit ?? 'unknown'}`);
  console.log(`  servers: ${servers.join(', ')}; workloads: ${workloads.map((w) => w.name).join(', ')}`);
  console.log(`  ${o.runs} run(s), ${o.duration} s measured${o.quick ? ' (quick)' : ''}, ${o.warmup} s warm-up, ${o.warmHandshakes} unmeasured handshakes before the handshakes window`);
  if (fdLimit !== null && fdLimit < 10064 && workloads.some((w) => w.conns >= 10000)) {
    console.log(`WARNING: open-file limit ${fdLimit} is below 10,064: the 10,000-connection workloads will fail`);
  }
  if (!pin) console.log('WARNING: server and client are not pinned to separate cores; they compete for CPU');

  const busy = await machineBusy(1000);
  if (busy !== null) {
    const cores = busy * nproc;
    console.log(`  machine busy before start: ${(busy * 100).toFixed(0)}% (${cores.toFixed(2)} of ${nproc} CPUs)`);
    if (cores > 0.15) console.log('WARNING: the machine is not idle; figures will be noisy (see the o flag)');
  }

  let estimate = 0;
  for (const w of workloads) {
    const n = specs.filter((s) => takesPart(s.name, w)).length;
    const perRun = w.serverMode !== 'echo' || w.load(o)[0] === 'echo' ? o.warmup + o.duration + 2 : w.name === 'idle-memory' ? o.duration + 5 : 3;
    estimate += n * o.runs * perRun;
  }
  console.log(`  estimated time: ~${Math.ceil(estimate / 60)} min\n`);

  const records: RunRecord[] = [];
  for (const w of workloads) {
    console.log(`[${w.name}] ${w.summary}`);
    for (let run = 1; run <= o.runs; run++) {
      for (const spec of specs) {
        if (!takesPart(spec.name, w)) continue;
        const rec = await runOnce(o, w, spec, run, client, pin);
        if (interrupted) return new Promise<void>(() => {}); // the signal handler exits
        records.push(rec);
        const head = `  ${spec.name.padEnd(7)} run ${run}/${o.runs}:`;
        if (!rec.ok || !rec.result) {
          console.log(`${head} FAILED: ${rec.error ?? 'unknown error'}`);
        } else {
          const r = rec.result;
          const main = w.metrics
            .filter((m) => m.primary)
            .map((m) => `${fmt(m.get(r))} ${m.label}`)
            .join(', ');
          const cpu = field(r, 'server_cpu_pct');
          const ccpu = field(r, 'client_cpu_pct');
          console.log(
            `${head} ${main}; server CPU ${fmt(field(r, 'server_cpu_s'))} s${cpu !== null ? ` (${cpu.toFixed(0)}%)` : ''}, RSS ${fmt(kbToMb(field(r, 'rss_end_kb')))} MB; client CPU ${ccpu !== null ? ccpu.toFixed(0) : '?'}%${rec.flags.length ? ` [${rec.flags.join('')}]` : ''}`,
          );
        }
        for (const n of rec.notes) console.log(`      ${n}`);
        await sleep(300);
      }
    }
  }

  const rows = summarize(records, workloads, servers);
  printSummary(rows, servers, o.runs);
  if (client.kind === 'node') console.log('\nWARNING: load from the Node fallback client, not wsload: the client was probably the limit.');
  const failed = records.filter((r) => !r.ok).length;
  if (failed) console.log(`\n${failed} run(s) failed; see above.`);
  if (o.only === null || o.only.includes(PUBSUB_SCALE)) {
    console.log('');
    const scale = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'pubsub-scale.js'), '--duration', String(o.duration)], {
      stdio: 'inherit',
      timeout: (4 * (o.duration + 10) + 60) * 1000,
    });
    if (scale.status !== 0) console.log(`${PUBSUB_SCALE} failed (${scale.error?.message ?? scale.signal ?? scale.status})`);
  }

  if (o.json) {
    const out = {
      date: new Date().toISOString(),
      machine,
      options: { runs: o.runs, duration: o.duration, warmup: o.warmup, warmHandshakes: o.warmHandshakes, quick: o.quick, servers, workloads: workloads.map((w) => w.name) },
      client: { kind: client.kind, path: client.note },
      workloads: workloads.map((w) => ({ name: w.name, summary: w.summary, load: w.load(o), server_mode: w.serverMode })),
      summary: rows,
      runs: records,
    };
    fs.writeFileSync(o.json, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\nwrote ${o.json}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  killAllNow();
  process.exit(1);
});
