// Fallback load client for bench/run.ts, used only when wsload (../shared/bench) cannot be built.
// It speaks the same command line as wsload (a subset) and prints the same JSON fields on its
// last line, so the harness treats both alike. It is written on the `ws` client and runs in one
// Node thread, so it is far slower than wsload: against any fast server it measures itself.
//
//   node bench/load-node.mjs echo --url ws://127.0.0.1:9000/ --conns 64 --size 32 --pipeline 16 \
//        --duration 5 --warmup 1 --server-pid PID [--raw]
//   node bench/load-node.mjs connect --url ws://127.0.0.1:9000/ --conns 5000 --hold 5
//   node bench/load-node.mjs recv --url ws://127.0.0.1:9000/ --conns 10000 --duration 5
//
// Echo latency is the time from send() to the matching echo (per-connection FIFO), including
// this client's own queueing. --raw: plain TCP, each --size bytes that come back are one message.
// Loopback only. Bounded: a watchdog ends the process after connect + warm-up + duration + hold + 13 s.
import { WebSocket } from 'ws';
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';

const opt = {
  mode: 'echo',
  url: '',
  conns: 1,
  size: 32,
  pipeline: 1,
  duration: 10,
  warmup: 0,
  concurrency: 100,
  hold: 0,
  connectTimeout: 30,
  raw: false,
  serverPid: 0,
  quiet: false,
};

function die(message) {
  process.stderr.write(`load-node: ${message}\n`);
  process.exit(2);
}

function parseSize(v) {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(v ?? '');
  if (!m) die(`bad size '${v}'`);
  const mult = m[2] === '' ? 1 : /k/i.test(m[2]) ? 1024 : 1024 * 1024;
  return Math.floor(Number(m[1]) * mult);
}

function parseArgs(argv) {
  let i = 0;
  if (argv[0] && !argv[0].startsWith('-')) {
    if (!['echo', 'connect', 'recv'].includes(argv[0])) die(`unknown mode ${argv[0]}`);
    opt.mode = argv[0];
    i = 1;
  }
  for (; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) die(`${a} needs a value`);
      return v;
    };
    const number = (lo, hi) => {
      const n = Number(next());
      if (!Number.isFinite(n) || n < lo || n > hi) die(`${a}: expected a number in [${lo}, ${hi}]`);
      return n;
    };
    switch (a) {
      case '--url': opt.url = next(); break;
      case '--conns': opt.conns = Math.floor(number(1, 1e6)); break;
      case '--size': opt.size = parseSize(next()); break;
      case '--pipeline': opt.pipeline = Math.floor(number(1, 65536)); break;
      case '--duration': opt.duration = number(0.001, 120); break;
      case '--warmup': opt.warmup = number(0, 60); break;
      case '--concurrency': opt.concurrency = Math.floor(number(1, 1e6)); break;
      case '--hold': opt.hold = number(0, 600); break;
      case '--connect-timeout': opt.connectTimeout = number(0.001, 600); break;
      case '--server-pid': opt.serverPid = Math.floor(number(1, 1e9)); break;
      case '--raw': opt.raw = true; break;
      case '--quiet': opt.quiet = true; break;
      case '--binary': break;
      default: die(`unsupported option ${a}`);
    }
  }
  if (!opt.url) die('--url is required');
  const u = new URL(opt.url);
  if (u.protocol !== 'ws:') die('only ws:// URLs');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) die(`refusing non-loopback host ${host}`);
  if (opt.raw && opt.mode === 'recv') die('--raw works with echo and connect');
  if (opt.size < 1) opt.size = 1;
}

// ---- /proc sampling ----------------------------------------------------------------------------

const HZ = 100; // USER_HZ on Linux

function sampleProc(pid) {
  if (!pid) return null;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(rest[11]) + Number(rest[12])) / HZ;
    return { rss, hwm, cpu };
  } catch {
    return null;
  }
}

function sampleHost() {
  try {
    const v = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { busy: (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / HZ, softirq: v[6] / HZ };
  } catch {
    return { busy: 0, softirq: 0 };
  }
}

function selfCpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function percentile(sorted, q) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- connections -------------------------------------------------------------------------------

const counters = { msgsWin: 0, bytesWin: 0, msgsAll: 0, sent: 0, errHs: 0, errProto: 0, errClosed: 0, errMismatch: 0 };
let stopping = false;
let winStart = Infinity;
let winEnd = Infinity;
const rtts = [];
const MAX_SAMPLES = 5e6;
let payload;

class Conn {
  constructor() {
    this.open = false;
    this.queue = [];
    this.pending = 0; // raw: bytes of the current message still to come back
    this.ws = null;
    this.sock = null;
  }

  connect() {
    return new Promise((resolve) => {
      const t0 = performance.now();
      let settled = false;
      const done = (ok) => {
        if (settled) return;
        settled = true;
        if (ok) this.open = true;
        else counters.errHs++;
        resolve(ok ? performance.now() - t0 : null);
      };
      if (opt.raw) {
        const u = new URL(opt.url);
        const sock = net.connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80), noDelay: true });
        this.sock = sock;
        sock.once('connect', () => done(true));
        sock.on('error', () => done(false));
        sock.on('close', () => this.closed());
        sock.on('data', (chunk) => this.rawData(chunk));
      } else {
        const ws = new WebSocket(opt.url, { perMessageDeflate: false, maxPayload: 512 * 1024 * 1024 });
        this.ws = ws;
        ws.once('open', () => done(true));
        ws.on('error', () => done(false));
        ws.on('close', () => this.closed());
        ws.on('message', (data) => this.message(data.length));
      }
    });
  }

  closed() {
    if (this.open && !stopping) counters.errClosed++;
    this.open = false;
  }

  send() {
    if (stopping || performance.now() >= winEnd) return;
    this.queue.push(performance.now());
    counters.sent++;
    if (this.sock) this.sock.write(payload);
    else this.ws.send(payload, { binary: true });
  }

  prime() {
    for (let i = 0; i < opt.pipeline; i++) this.send();
  }

  rawData(chunk) {
    let n = chunk.length;
    while (n > 0) {
      if (this.pending === 0) this.pending = opt.size;
      const k = Math.min(n, this.pending);
      this.pending -= k;
      n -= k;
      if (this.pending === 0) this.message(opt.size);
    }
  }

  message(length) {
    const now = performance.now();
    counters.msgsAll++;
    if (opt.mode === 'recv') {
      if (now >= winStart && now < winEnd) {
        counters.msgsWin++;
        counters.bytesWin += length;
      }
      return;
    }
    if (opt.mode !== 'echo') return;
    const sent = this.queue.shift();
    if (sent === undefined || length !== opt.size) {
      counters.errMismatch++;
    } else if (now >= winStart && now < winEnd) {
      counters.msgsWin++;
      counters.bytesWin += length;
      if (rtts.length < MAX_SAMPLES) rtts.push((now - sent) * 1000);
    }
    this.send();
  }

  close() {
    if (this.sock) this.sock.end();
    else if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    else if (this.ws) this.ws.terminate();
  }
}

async function openAll(conns, boundMs, latencies) {
  const deadline = performance.now() + boundMs;
  let next = 0;
  let lastOpen = 0;
  const worker = async () => {
    while (next < conns.length && performance.now() < deadline) {
      const c = conns[next++];
      const ms = await c.connect();
      if (ms !== null) {
        latencies.push(ms * 1000);
        lastOpen = performance.now();
      }
    }
  };
  const first = performance.now();
  await Promise.race([
    Promise.all(Array.from({ length: Math.min(opt.concurrency, conns.length) }, worker)),
    sleep(boundMs),
  ]);
  return { first, lastOpen };
}

async function closeAll(conns) {
  stopping = true;
  for (const c of conns) c.close();
  const deadline = performance.now() + 3000;
  while (performance.now() < deadline && conns.some((c) => c.open)) await sleep(20);
}

// ---- main --------------------------------------------------------------------------------------

async function main() {
  parseArgs(process.argv.slice(2));
  const bound = (opt.mode === 'connect' ? opt.duration + opt.hold : opt.connectTimeout + opt.warmup + opt.duration) + 13;
  setTimeout(() => {
    process.stderr.write('load-node: watchdog: run exceeded its time bound\n');
    process.exit(3);
  }, bound * 1000);

  payload = Buffer.alloc(opt.size);
  for (let i = 0; i < opt.size; i++) payload[i] = 97 + (i % 26);
  const conns = Array.from({ length: opt.conns }, () => new Conn());
  const sStart = sampleProc(opt.serverPid);
  if (opt.serverPid && !sStart) die(`cannot read /proc/${opt.serverPid}`);
  const cStart = selfCpu();
  const hStart = sampleHost();
  const latencies = [];
  const phaseMs = (opt.mode === 'connect' ? opt.duration : opt.connectTimeout) * 1000;
  const { first, lastOpen } = await openAll(conns, phaseMs, latencies);
  const openCount = () => conns.filter((c) => c.open).length;
  const common = () => ({
    errors: counters.errHs + counters.errProto + counters.errClosed + counters.errMismatch,
    err_handshake: counters.errHs,
    err_protocol: counters.errProto,
    err_closed: counters.errClosed,
    err_mismatch: counters.errMismatch,
    threads: 1,
    client: 'load-node.mjs',
  });
  let out;

  if (opt.mode === 'connect') {
    const cConn = selfCpu();
    const sConn = sampleProc(opt.serverPid);
    const hConn = sampleHost();
    const ok = latencies.length;
    const elapsed = ok && lastOpen > first ? (lastOpen - first) / 1000 : (performance.now() - first) / 1000;
    if (ok === opt.conns && opt.hold > 0) await sleep(opt.hold * 1000);
    const sEnd = sampleProc(opt.serverPid);
    const open = openCount();
    latencies.sort((a, b) => a - b);
    const srvCpu = sStart && sConn ? sConn.cpu - sStart.cpu : null;
    const clientCpu = cConn - cStart;
    out = {
      mode: 'connect', conns: opt.conns, handshakes: ok, failures: opt.conns - ok, handshake_s: elapsed,
      handshakes_per_s: elapsed > 0 ? ok / elapsed : 0,
      p50_us: percentile(latencies, 0.5), p99_us: percentile(latencies, 0.99), p999_us: percentile(latencies, 0.999),
      concurrency: opt.concurrency, raw: opt.raw, hold_s: opt.hold, open_at_end: open,
      rss_per_conn_kb: sStart && sEnd && ok ? (sEnd.rss - sStart.rss) / ok : null,
      ...common(),
      client_cpu_s: clientCpu, client_cpu_pct: elapsed > 0 ? (100 * clientCpu) / elapsed : 0,
      server_pid: opt.serverPid, rss_start_kb: sStart?.rss ?? null, rss_end_kb: sEnd?.rss ?? null, hwm_end_kb: sEnd?.hwm ?? null,
      server_cpu_s: srvCpu, server_cpu_pct: srvCpu !== null && elapsed > 0 ? (100 * srvCpu) / elapsed : null,
      host_busy_s: hConn.busy - hStart.busy, host_softirq_s: hConn.softirq - hStart.softirq,
      other_cpu_s: srvCpu !== null ? hConn.busy - hStart.busy - clientCpu - srvCpu : null,
    };
  } else {
    const go = performance.now();
    winStart = go + opt.warmup * 1000;
    winEnd = winStart + opt.duration * 1000;
    if (opt.mode === 'echo') for (const c of conns) if (c.open) c.prime();
    await sleep(Math.max(0, winStart - performance.now()));
    const sA = sampleProc(opt.serverPid);
    const cA = selfCpu();
    const hA = sampleHost();
    await sleep(Math.max(0, winEnd - performance.now()));
    const sB = sampleProc(opt.serverPid);
    const cB = selfCpu();
    const hB = sampleHost();
    const open = openCount();
    const elapsed = opt.duration;
    await closeAll(conns);
    rtts.sort((a, b) => a - b);
    const echo = opt.mode === 'echo' && rtts.length > 0;
    const srvCpu = sA && sB ? sB.cpu - sA.cpu : null;
    const clientCpu = cB - cA;
    out = {
      mode: opt.mode, conns: opt.conns, size: opt.size, pipeline: opt.pipeline, binary: true, deflate: false, raw: opt.raw,
      duration_s: elapsed, msgs: counters.msgsWin, msgs_per_s: counters.msgsWin / elapsed, mb_per_s: counters.bytesWin / elapsed / 1e6,
      p50_us: echo ? percentile(rtts, 0.5) : null, p99_us: echo ? percentile(rtts, 0.99) : null,
      p999_us: echo ? percentile(rtts, 0.999) : null, max_us: echo ? rtts[rtts.length - 1] : null,
      open_at_end: open, msgs_total: counters.msgsAll, msgs_sent: counters.sent,
      ...common(),
      client_cpu_s: clientCpu, client_cpu_pct: (100 * clientCpu) / elapsed,
      server_pid: opt.serverPid, rss_start_kb: sStart?.rss ?? null, rss_end_kb: sB?.rss ?? null, hwm_end_kb: sB?.hwm ?? null,
      server_cpu_s: srvCpu, server_cpu_pct: srvCpu !== null ? (100 * srvCpu) / elapsed : null,
      host_busy_s: hB.busy - hA.busy, host_softirq_s: hB.softirq - hA.softirq,
      other_cpu_s: srvCpu !== null ? hB.busy - hA.busy - clientCpu - srvCpu : null,
    };
  }
  if (opt.mode === 'connect') await closeAll(conns);
  if (!opt.quiet) console.log(`load-node ${opt.mode} ${opt.url}: done (${os.cpus().length} CPUs)`);
  console.log(JSON.stringify(out));
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`load-node: ${err?.stack ?? err}\n`);
  process.exit(1);
});
