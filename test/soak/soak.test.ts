// Soak test (behind a flag): thousands of WebSocket connections to one Upshift server process,
// with mixed traffic (small, 1 MiB, permessage-deflate, fragmented, pings, slow readers), abrupt
// drops (during the handshake, mid-frame, without a close frame), close handshakes from both
// sides, and churn all the time. Once every client is gone the server's connections, handles,
// timers (and the shared ticker) and ArrayBuffers must be back at their baseline.
//
//   SOAK_SECONDS=120 node scripts/run-tests.mjs dist/test/soak/     (or: npm run soak)
//   optional: SOAK_CONNECTIONS (long-lived connections, default 4000), SOAK_WORKERS (churn
//   loops, default 48), SOAK_SEED.
// Plain `npm test` skips it. Loopback only; it stops by itself after SOAK_SECONDS plus wind-down.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { connect, type WebSocketConnection } from '../../src/index.js';
import { ChildPeer } from '../peers/support/peers.js';
import { within } from '../helpers/events.js';
import { prng } from '../protocol/support/frames.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 0);
const LONG_LIVED = Number(process.env.SOAK_CONNECTIONS ?? 4000);
const WORKERS = Number(process.env.SOAK_WORKERS ?? 48);
const random = prng(Number(process.env.SOAK_SEED ?? 0x50a4));

/** What may stay allocated in the server after the soak, beyond the warmed-up baseline. */
const ARRAY_BUFFER_TOLERANCE = 2 * 1024 * 1024;
const HEAP_TOLERANCE = 8 * 1024 * 1024;

const skip = SECONDS > 0 ? false : 'set SOAK_SECONDS to run the soak test (npm run soak)';

// ------------------------------------------------------------------------------------ payloads

const MIB = 1024 * 1024;
const NOISE = randomBytes(2 * MIB);
const PROSE = Buffer.from('The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. '.repeat(4096));

/** A slice of `source` of `size` bytes at a random offset (no copy). */
function sliceOf(source: Buffer, size: number): Buffer {
  const at = Math.floor(random() * (source.length - size));
  return source.subarray(at, at + size);
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const between = (low: number, high: number): number => low + Math.floor(random() * (high - low + 1));
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** When the soak's traffic stops (set when it starts); actions queued past it are skipped. */
let stopAt = Infinity;
const running = (): boolean => Date.now() < stopAt;

// ------------------------------------------------------------------------------------ a client

const counts = {
  opened: 0,
  open: 0,
  peakOpen: 0,
  handshakeDrops: 0,
  actions: {} as Record<string, number>,
  endings: {} as Record<string, number>,
};
const errors: string[] = [];

function count(table: Record<string, number>, key: string): void {
  table[key] = (table[key] ?? 0) + 1;
}

/** A client connection with its incoming messages queued, so no message is missed between waits. */
class Client {
  private readonly queue: Buffer[] = [];
  private wake: (() => void) | null = null;
  readonly closed: Promise<[code: number, reason: string]>;

  constructor(readonly ws: WebSocketConnection) {
    ws.on('message', (data) => {
      this.queue.push(data);
      this.wake?.();
    });
    ws.on('error', () => {}); // outcomes are checked through messages and close codes
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve([code, reason])));
  }

  /** The next `n` messages, in order. */
  async take(n: number, ms = 30_000): Promise<Buffer[]> {
    const deadline = Date.now() + ms;
    while (this.queue.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.queue.length} of ${n} messages after ${ms} ms (${this.state()})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.queue.splice(0, n);
  }

  /** What the connection looks like, for failure messages. */
  state(): string {
    const socket = this.ws.rawTransport as Socket;
    return (
      `extensions=${JSON.stringify(this.ws.extensions)} readyState=${this.ws.readyState} bufferedAmount=${this.ws.bufferedAmount} ` +
      `socket: paused=${socket.isPaused()} readableLength=${socket.readableLength} bytesRead=${socket.bytesRead} destroyed=${socket.destroyed}`
    );
  }

  /** Sends a message and checks its echo. Random bytes go uncompressed (the server still compresses them back). */
  async echo(payload: Buffer | string, binary: boolean): Promise<void> {
    this.ws.send(payload, { binary, compress: !binary });
    const [back] = await this.take(1);
    const expected = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (!back!.equals(expected)) throw new Error(`echo of ${expected.length} bytes came back as ${back!.length} different bytes`);
  }
}

async function open(url: string, deflate = random() < 0.3): Promise<Client> {
  const ws = await within(connect(url, deflate ? { perMessageDeflate: true } : {}), 30_000, 'a handshake');
  counts.opened++;
  counts.peakOpen = Math.max(counts.peakOpen, ++counts.open);
  void new Promise((resolve) => ws.once('close', resolve)).then(() => counts.open--);
  return new Client(ws);
}

/**
 * Bounds the work in flight, so that the load adapts to the machine: a slower (or busier) machine
 * does fewer actions per second rather than piling up work until the waits time out.
 */
class Slots {
  private waiters: (() => void)[] = [];
  constructor(private free: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiters.shift();
      if (next !== undefined) next();
      else this.free++;
    }
  }
}
/** Slots for actions, and fewer for large messages and compression (CPU on both sides). */
interface Budget {
  actions: Slots;
  heavy: Slots;
}
/** Long-lived connections and churn have their own budgets, so that neither starves the other. */
const LONG_LIVED_BUDGET: Budget = { actions: new Slots(96), heavy: new Slots(6) };
const CHURN_BUDGET: Budget = { actions: new Slots(64), heavy: new Slots(4) };

type Action = (client: Client) => Promise<void>;

const ACTIONS: [weight: number, name: string, action: Action, heavy?: 'heavy'][] = [
  [30, 'small text', (c) => c.echo(PROSE.toString('latin1', 0, between(1, 200)), false)],
  [20, 'small binary', (c) => c.echo(sliceOf(NOISE, between(0, 2048)), true)],
  [8, 'medium binary', (c) => c.echo(sliceOf(NOISE, between(16 * 1024, 128 * 1024)), true), 'heavy'],
  [1, '1 MiB binary', (c) => c.echo(sliceOf(NOISE, MIB), true), 'heavy'],
  // Compressed when the connection negotiated permessage-deflate (30% of them).
  [8, 'compressible text', (c) => c.echo(PROSE.toString('latin1', 0, between(4 * 1024, 256 * 1024)), false), 'heavy'],
  [5, 'fragmented', async (c) => {
    // One message in several frames (RFC 6455 §5.4); the echo comes back whole.
    const whole = sliceOf(NOISE, between(1, 64 * 1024));
    const cuts = [0, ...Array.from({ length: between(1, 4) }, () => between(0, whole.length)).sort((a, b) => a - b), whole.length];
    for (let i = 1; i < cuts.length; i++) c.ws.send(whole.subarray(cuts[i - 1], cuts[i]), { binary: true, fin: i === cuts.length - 1 });
    const [back] = await c.take(1);
    if (!back!.equals(whole)) throw new Error(`fragmented message of ${whole.length} bytes came back different`);
  }],
  [10, 'ping', async (c) => {
    const payload = sliceOf(NOISE, between(0, 125));
    const pong = within(new Promise<Buffer>((resolve) => c.ws.once('pong', resolve)), 30_000, 'a pong');
    c.ws.ping(payload);
    if (!(await pong).equals(payload)) throw new Error('pong payload differs');
  }],
  [6, 'slow reader', async (c) => {
    // Stop reading, have the server send a burst, read it all a while later.
    const n = between(4, 64);
    const size = between(256, 4096);
    c.ws.pause();
    c.ws.send(`burst:${n}:${size}`);
    await pause(between(100, 1500));
    c.ws.resume();
    const burst = await c.take(n);
    burst.forEach((m, i) => {
      if (m.length !== size || m[0] !== (i & 0xff)) throw new Error(`burst message ${i} is wrong`);
    });
  }],
];
const ACTION_WEIGHT = ACTIONS.reduce((sum, [w]) => sum + w, 0);

async function act(client: Client, budget: Budget): Promise<void> {
  let roll = random() * ACTION_WEIGHT;
  const [, name, action, heavy] = ACTIONS.find(([w]) => (roll -= w) < 0) ?? ACTIONS[0]!;
  try {
    await budget.actions.run(() => {
      if (client.ws.readyState !== 1 || !running()) return Promise.resolve();
      count(counts.actions, name);
      return heavy === undefined ? action(client) : budget.heavy.run(() => action(client));
    });
  } catch (error) {
    errors.push(`${name}: ${(error as Error).message}`);
    client.ws.terminate();
  }
}

type Ending = (client: Client) => Promise<void>;

const ENDINGS: [weight: number, name: string, ending: Ending][] = [
  [6, 'close handshake', async (c) => {
    const code = pick([1000, 1001, 3000, 4000, 4999]);
    c.ws.close(code, 'bye');
    const [got] = await within(c.closed, 30_000, 'the closing handshake');
    if (got !== code) throw new Error(`closed with ${got}, expected the echo of ${code}`);
  }],
  [3, 'server closes', async (c) => {
    c.ws.send('close-me:4001');
    const [got, reason] = await within(c.closed, 30_000, 'the server to close');
    if (got !== 4001 || reason !== 'as asked') throw new Error(`closed with ${got} ${reason}`);
  }],
  [3, 'terminate', async (c) => c.ws.terminate()],
  [1, 'drop mid-frame', async (c) => {
    // A masked binary frame header announcing 4 KiB, then two payload bytes, then gone.
    (c.ws.rawTransport as Socket).end(Buffer.from([0x82, 0xfe, 0x10, 0x00, 1, 2, 3, 4, 5, 6]));
    (c.ws.rawTransport as Socket).destroy();
  }],
  [1, 'drop while paused with a burst pending', async (c) => {
    c.ws.pause();
    c.ws.send('burst:200:8192');
    await pause(between(50, 300));
    c.ws.terminate();
  }],
];
const ENDING_WEIGHT = ENDINGS.reduce((sum, [w]) => sum + w, 0);

async function end(client: Client): Promise<void> {
  let roll = random() * ENDING_WEIGHT;
  const [, name, ending] = ENDINGS.find(([w]) => (roll -= w) < 0) ?? ENDINGS[0]!;
  count(counts.endings, name);
  try {
    await ending(client);
  } catch (error) {
    errors.push(`${name}: ${(error as Error).message}`);
    client.ws.terminate();
  }
}

/** A TCP connection that sends part of a request head and goes away (the upgrade listener's pending set). */
async function handshakeDrop(port: number): Promise<void> {
  const socket = tcpConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  await within(new Promise((resolve) => socket.once('connect', resolve)), 10_000, 'a TCP connection');
  socket.write('GET /soak HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webso');
  await pause(between(0, 200));
  socket.destroy();
  counts.handshakeDrops++;
}

// ------------------------------------------------------------------------------------- the run

describe('soak: connections, traffic and churn against one server process', { skip, timeout: (SECONDS + 180) * 1000 }, () => {
  it('returns the server to its baseline once every client is gone', async () => {
    const server = new ChildPeer(process.execPath, ['--expose-gc', 'dist/test/soak/support/soak-server.js']);
    try {
      const { port } = await server.nextJson<{ port: number }>(10_000, 'the soak server to listen');
      const url = `ws://127.0.0.1:${port}/soak`;
      const settled = (): Promise<Snapshot> => server.request<Snapshot>({ op: 'settled' }, 60_000);

      // Warm-up: every action and every ending, with and without compression, so that lazily
      // made pools and slabs exist before the baseline is taken.
      for (let i = 0; i < 2 * Math.max(ACTIONS.length, ENDINGS.length); i++) {
        const client = await open(url, i % 2 === 0);
        await ACTIONS[i % ACTIONS.length]![2](client);
        await ENDINGS[i % ENDINGS.length]![2](client);
        await within(client.closed, 30_000, 'a warm-up connection to close');
      }
      await handshakeDrop(port);
      const baseline = await settled();
      assert.equal(errors.length, 0, `warm-up errors: ${errors.join('; ')}`);
      console.log(`# soak baseline: ${summary(baseline)}`);

      const started = Date.now();
      stopAt = started + SECONDS * 1000;

      // Progress, every 10 s (one request at a time: answers are read in order).
      let inFlight: Promise<unknown> = Promise.resolve();
      const progress = setInterval(() => {
        inFlight = server.request<Snapshot>({ op: 'snapshot' }).then(
          (s) => console.log(`# soak ${Math.round((Date.now() - started) / 1000)} s: client open=${counts.open} opened=${counts.opened}; server ${summary(s)}`),
          () => {},
        );
      }, 10_000);

      // Churn: connect, act a few times, end one way or another, again and again.
      const churn = Array.from({ length: WORKERS }, async () => {
        while (running()) {
          let client: Client;
          try {
            client = await open(url);
          } catch (error) {
            errors.push(`open: ${(error as Error).message}`);
            continue;
          }
          for (let k = between(0, 4); k > 0 && client.ws.readyState === 1; k--) await act(client, CHURN_BUDGET);
          if (client.ws.readyState === 1) await end(client);
          if (random() < 0.2) await handshakeDrop(port).catch((error: Error) => void errors.push(`handshake drop: ${error.message}`));
        }
      });

      // Long-lived connections, opened in batches while the churn runs, each acting now and then
      // until the deadline, then ending one way or another.
      const longLived: Promise<void>[] = [];
      for (let i = 0; i < LONG_LIVED && running(); i += 100) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(100, LONG_LIVED - i) }, () => open(url).catch((error: Error) => void errors.push(`open: ${error.message}`))),
        );
        for (const client of batch) {
          if (client === undefined) continue;
          longLived.push(
            (async () => {
              while (running()) {
                await pause(between(500, 5000));
                if (client.ws.readyState !== 1) return;
                await act(client, LONG_LIVED_BUDGET);
              }
              if (client.ws.readyState === 1) await end(client);
            })(),
          );
        }
      }

      try {
        await Promise.all([...longLived, ...churn]);
      } finally {
        clearInterval(progress);
        await inFlight;
      }

      const after = await settled();
      console.log(`# soak after:    ${summary(after)}`);
      console.log(`# soak clients: ${JSON.stringify(counts)}`);

      assert.equal(errors.length, 0, `${errors.length} client-side errors, the first: ${errors.slice(0, 20).join('; ')}`);
      assert.ok(counts.peakOpen >= Math.min(LONG_LIVED, 1000), `only ${counts.peakOpen} connections open at once`);
      assert.equal(after.clients, 0, 'connections left on the server');
      assert.equal(after.resources['TCPSocketWrap'] ?? 0, baseline.resources['TCPSocketWrap'] ?? 0, 'TCP sockets left');
      for (const [type, n] of Object.entries(after.resources)) {
        assert.ok(n <= (baseline.resources[type] ?? 0), `${type}: ${n} active now, ${baseline.resources[type] ?? 0} at the baseline`);
      }
      assert.ok(after.timers <= baseline.timers, `${after.timers} live timers, ${baseline.timers} at the baseline`);
      assert.equal(after.tickerStopped, true, 'the shared ticker still runs: something is still watched');
      assert.ok(
        after.arrayBuffers <= baseline.arrayBuffers + ARRAY_BUFFER_TOLERANCE,
        `ArrayBuffers ${mib(after.arrayBuffers)} after, ${mib(baseline.arrayBuffers)} at the baseline`,
      );
      assert.ok(after.heapUsed <= baseline.heapUsed + HEAP_TOLERANCE, `heap ${mib(after.heapUsed)} after, ${mib(baseline.heapUsed)} at the baseline`);
    } finally {
      await server.stop();
    }
  });
});

interface Snapshot {
  clients: number;
  resources: Record<string, number>;
  timers: number;
  tickerStopped?: boolean;
  arrayBuffers: number;
  external: number;
  heapUsed: number;
  rss: number;
  accepted: number;
  messages: number;
  errors: number;
  peakClients: number;
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(2)} MiB`;
}

function summary(s: Snapshot): string {
  return (
    `clients=${s.clients} peak=${s.peakClients} accepted=${s.accepted} messages=${s.messages} timers=${s.timers}` +
    `${s.tickerStopped === undefined ? '' : ` tickerStopped=${s.tickerStopped}`} handles=${JSON.stringify(s.resources)}` +
    ` arrayBuffers=${mib(s.arrayBuffers)} external=${mib(s.external)} heap=${mib(s.heapUsed)} rss=${mib(s.rss)}`
  );
}
