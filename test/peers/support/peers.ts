// Helpers for the real-peer tests: free loopback ports and whether one accepts connections,
// bounded waits, child processes that are always killed by PID, the demo server as a real process,
// and payloads of exact byte sizes.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once, type EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { connect as netConnect, createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from '../../../src/index.js';
import type { WebSocketConnection, WebSocketServerOptions } from '../../../src/index.js';
import { nextEvent as nextEventWithin, within as withTimeout } from '../../helpers/events.js';

/** The repository root (this file runs from dist/test/peers/support/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** Python scripts and other non-TypeScript support files stay in the source tree. */
export const SUPPORT_DIR = `${REPO_ROOT}test/peers/support/`;
export const DEMO_SERVER_JS = `${REPO_ROOT}dist/src/demo/server.js`;

/** Sizes at the frame-length boundaries of RFC 6455 §5.2 (7-bit, 16-bit, 64-bit lengths). */
/**
 * Flags for headless Chromium on this closed network: no sandbox as root, no GPU, no QUIC, and no
 * background traffic (whose connections would be refused by the machine, many at a time).
 */
export const CHROMIUM_ARGS: string[] = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const BOUNDARY_SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024] as const;

/**
 * Where the kernel's ephemeral port range starts (/proc/sys/net/ipv4/ip_local_port_range): it
 * takes the local port of every outgoing connection and of every listen(0) from there up.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low)) return low;
  } catch {
    // not Linux
  }
  return 49152; // IANA's range
}

/** Binds `port` on `host` and releases it; false when it is taken. */
async function bindable(port: number, host: string): Promise<boolean> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
  if (bound) {
    server.close();
    await once(server, 'close');
  }
  return bound;
}

/**
 * A free loopback port for a process that binds it itself (nginx, redis-server, nats-server, the
 * demo). Chosen at random below the ephemeral range and checked by binding it: a port from inside
 * that range, once released, could be handed to an outgoing connection of a test running alongside
 * (as its local port) before the child binds it, and the child would then fail to start. Two
 * callers may still draw the same port, so the starters retry on "address in use".
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = ephemeralLow();
  const floor = Math.max(10_000, low - 20_000);
  for (let attempt = 0; attempt < 50 && low - floor > 100; attempt++) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    if (await bindable(port, host)) return port;
  }
  // No room below the range: ask the kernel for one inside it.
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` now. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// Bounded waits are the shared helpers' (test/helpers/events.ts); peers' tests wait longer by default.
export { withTimeout };

/** The arguments of the next `event`, bounded in time (5 s: real peers start slowly). */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 5000): Promise<T> {
  return nextEventWithin<T>(emitter, event, ms);
}

/** A text of exactly `bytes` bytes of UTF-8 mixing 1-, 2-, 3- and 4-byte characters. */
export function textOfBytes(bytes: number): string {
  const pattern = 'aé€😀'; // 1 + 2 + 3 + 4 = 10 bytes
  const text = pattern.repeat(Math.floor(bytes / 10)) + 'z'.repeat(bytes % 10);
  if (Buffer.byteLength(text) !== bytes) throw new Error('textOfBytes miscounted');
  return text;
}

export function binaryOfBytes(bytes: number): Buffer {
  return randomBytes(bytes);
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** An Upshift echo server on a free loopback port; resolves once it is listening. */
export async function startUpshiftEcho(
  options: Omit<WebSocketServerOptions, 'port' | 'host' | 'server' | 'noServer'> = {},
): Promise<{ server: WebSocketServer; port: number; url: string }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  server.on('connection', (ws: WebSocketConnection) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await nextEvent(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { server, port: address.port, url: `ws://127.0.0.1:${address.port}` };
}

/**
 * A child process with its stdout read as lines. Every wait is bounded; stop() kills it by PID
 * (SIGTERM, then SIGKILL) and is safe to call in `finally` whatever state it is in.
 */
export class ChildPeer {
  readonly child: ChildProcess;
  readonly stderr: string[] = [];
  private readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  private hasExited = false;

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => {
      // 'close' comes after 'exit' once stdout and stderr are drained: no line is lost.
      this.child.once('close', (code, signal) => {
        this.hasExited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        this.wake();
        resolve({ code, signal });
      });
    });
    // A spawn failure (ENOENT) shows up as 'error' without 'exit'.
    this.child.once('error', (error) => {
      this.stderr.push(String(error));
      this.hasExited = true;
      this.wake();
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.wake();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
    this.child.stdin!.on('error', () => {}); // EPIPE once the child is gone
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** The next stdout line (in order), or rejects after `ms` or when the process has exited. */
  async nextLine(ms = 10_000, what = 'a line from the child'): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.hasExited) throw new Error(`Child exited (${this.exitCode ?? this.exitSignal}) before ${what}; stderr:\n${this.stderr.join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${ms} ms waiting for ${what}; stderr:\n${this.stderr.join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Skips lines until one matches. */
  async waitForLine(pattern: RegExp, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = await this.nextLine(Math.max(1, deadline - Date.now()), `a line matching ${pattern}`);
      if (pattern.test(line)) return line;
    }
  }

  /** The next stdout line parsed as JSON. */
  async nextJson<T = Record<string, unknown>>(ms = 10_000, what = 'a JSON line'): Promise<T> {
    const line = await this.nextLine(ms, what);
    try {
      return JSON.parse(line) as T;
    } catch {
      throw new Error(`Expected JSON from the child, got: ${line}`);
    }
  }

  /** Writes one JSON line to the child's stdin. */
  sendJson(value: unknown): void {
    this.child.stdin!.write(JSON.stringify(value) + '\n');
  }

  /** Sends a request line and returns the child's one-line JSON answer. */
  async request<T = Record<string, unknown>>(value: { op: string } & Record<string, unknown>, ms = 10_000): Promise<T> {
    this.sendJson(value);
    return this.nextJson<T>(ms, `the answer to ${value.op}`);
  }

  /** Waits for the process to exit by itself. */
  waitForExit(ms = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return withTimeout(this.exited, ms, `process ${this.pid} to exit`);
  }

  /** Kills the process by PID if it still runs, and waits (bounded) for it to go. */
  async stop(): Promise<void> {
    this.child.stdin?.end();
    if (this.hasExited || this.child.pid === undefined) return;
    this.child.kill('SIGTERM');
    try {
      await withTimeout(this.exited, 3000, 'SIGTERM');
    } catch {
      this.child.kill('SIGKILL');
      await withTimeout(this.exited, 3000, 'SIGKILL').catch(() => {});
    }
  }
}

/** The `npm start` demo as a real process on a free port; resolves once it printed its line. */
export async function startDemoProcess(): Promise<{ demo: ChildPeer; port: number; base: string }> {
  if (!existsSync(DEMO_SERVER_JS)) throw new Error(`${DEMO_SERVER_JS} is missing: run npx tsc -p . first`);
  // The demo has no PORT=0; a port freed just before could in principle be taken again, so retry.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const demo = new ChildPeer(process.execPath, [DEMO_SERVER_JS], { HOST: '127.0.0.1', PORT: String(port) });
    try {
      const line = await demo.waitForLine(/listening on/, 10_000);
      if (!line.includes(`http://127.0.0.1:${port}/`)) throw new Error(`Unexpected listening line: ${line}`);
      return { demo, port, base: `http://127.0.0.1:${port}` };
    } catch (error) {
      lastError = error;
      await demo.stop();
    }
  }
  throw lastError;
}
