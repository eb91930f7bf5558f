// `serve --exec PATH -- program args…`: one process per WebSocket connection, as websocketd does.
// Each line the program writes to stdout is a text message; each message received is written to
// its stdin followed by a newline. With --exec-binary, stdout chunks are binary messages and
// messages are written to stdin as they are. The request is described in CGI-style environment
// variables (RFC 3875 §4.1: REMOTE_ADDR, QUERY_STRING, REQUEST_METHOD…, and HTTP_* for headers).
//
// Lifetimes: the program exiting closes the WebSocket (1000 if it exited with status 0, else
// 1011); the WebSocket closing ends the program: stdin is closed and its process group gets
// SIGTERM, then SIGKILL if it is still there after the grace period.

import { spawn, type ChildProcess } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import type { WebSocketConnection } from '../index.js';
import type { Endpoint, EndpointContext } from './endpoints.js';

export interface ExecOptions {
  program: string;
  args: readonly string[];
  /** Raw bytes both ways instead of lines. */
  binary: boolean;
  /** How long a program may take to exit after SIGTERM before SIGKILL, ms. */
  killTimeout: number;
  /** Whether the server speaks TLS (HTTPS=on). */
  tls: boolean;
  /** SERVER_SOFTWARE. */
  software: string;
}

/** Lines longer than this are sent in pieces rather than buffered without end. */
const MAX_LINE = 1024 * 1024;
const NEWLINE = 0x0a;
/** After the program exits, how long to wait for the end of its output (a background child may hold stdout). */
const OUTPUT_GRACE_MS = 500;

/** CGI-style variables describing the request (RFC 3875 §4.1), plus HTTP_* for each header. */
export function requestEnvironment(req: IncomingMessage, ws: WebSocketConnection, endpointPath: string, options: Pick<ExecOptions, 'tls' | 'software'>): Record<string, string> {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const socket = req.socket as { remoteAddress?: string; remotePort?: number; localPort?: number } | undefined;
  const hostHeader = req.headers.host ?? (req.headers as Record<string, string | undefined>)[':authority'] ?? '';
  const env: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: options.software,
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_NAME: hostHeader.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''),
    SERVER_PORT: String(socket?.localPort ?? ''),
    REQUEST_METHOD: req.method ?? 'GET',
    REQUEST_URI: url,
    SCRIPT_NAME: endpointPath,
    PATH_INFO: '',
    QUERY_STRING: query === -1 ? '' : url.slice(query + 1),
    REMOTE_ADDR: socket?.remoteAddress ?? '',
    REMOTE_HOST: socket?.remoteAddress ?? '',
    REMOTE_PORT: String(socket?.remotePort ?? ''),
    WEBSOCKET_PROTOCOL: ws.protocol,
  };
  if (options.tls) env.HTTPS = 'on';
  for (const [name, value] of Object.entries(req.headers)) {
    // Pseudo-headers are HTTP/2's request line; Proxy would become HTTP_PROXY, which many
    // programs take as their proxy setting (httpoxy, CVE-2016-5385).
    if (name.startsWith(':') || name === 'proxy' || value === undefined) continue;
    env[`HTTP_${name.toUpperCase().replace(/-/g, '_')}`] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return env;
}

/** Splits a byte stream into lines (without "\n" or "\r\n"); `flush` returns the unterminated rest. */
export class LineSplitter {
  #pending: Buffer[] = [];
  #pendingLength = 0;

  push(chunk: Buffer, line: (text: Buffer) => void): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline === -1) break;
      let piece = chunk.subarray(start, newline);
      if (this.#pendingLength > 0) {
        piece = Buffer.concat([...this.#pending, piece]);
        this.#pending = [];
        this.#pendingLength = 0;
      }
      line(piece.length > 0 && piece[piece.length - 1] === 0x0d ? piece.subarray(0, -1) : piece);
      start = newline + 1;
    }
    if (start < chunk.length) {
      this.#pending.push(chunk.subarray(start));
      this.#pendingLength += chunk.length - start;
      if (this.#pendingLength >= MAX_LINE) line(this.flush()!);
    }
  }

  flush(): Buffer | null {
    if (this.#pendingLength === 0) return null;
    const rest = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingLength = 0;
    return rest;
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

export function execEndpoint(path: string, options: ExecOptions, context: EndpointContext): Endpoint {
  const running = new Set<ChildProcess>();
  const exited = new WeakMap<ChildProcess, Promise<void>>();

  /** Ends a program's process group: SIGTERM now, SIGKILL after the grace period. */
  const stop = (child: ChildProcess): Promise<void> => {
    child.stdin?.destroy();
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), options.killTimeout);
    return exited.get(child)!.then(() => clearTimeout(timer));
  };

  return {
    kind: 'exec',
    path,
    accept(ws, req) {
      const child = spawn(options.program, options.args, {
        env: { ...process.env, ...requestEnvironment(req, ws, path, options) },
        // Its own process group, so that closing the WebSocket ends whatever it started too.
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      running.add(child);
      const tag = `exec ${path} [${child.pid ?? '-'}]`;
      let wsClosed = false;
      let exitStatus: { code: number | null; signal: NodeJS.Signals | null } | null = null;
      let outputDone = false;
      let finished = false;
      // The WebSocket is closed once the program has exited and its output has been sent.
      const finish = (): void => {
        if (finished || exitStatus === null || !outputDone) return;
        finished = true;
        if (wsClosed) return;
        const { code, signal } = exitStatus;
        // RFC 6455 §7.4.1: 1000 normal closure; 1011 the server met a condition it cannot handle.
        if (code === 0) ws.close(1000, 'program exited');
        else ws.close(1011, signal !== null ? `program killed by ${signal}` : `program exited with status ${code}`);
      };
      exited.set(
        child,
        new Promise<void>((resolve) => {
          child.once('exit', (code, signal) => {
            running.delete(child);
            exitStatus = { code, signal };
            resolve();
            // A background process may keep stdout open: do not wait for it for long.
            setTimeout(() => {
              if (!outputDone) flushRest();
              finish();
            }, OUTPUT_GRACE_MS).unref();
            finish();
          });
          child.once('error', (error) => {
            running.delete(child);
            context.log(`${tag}: cannot start ${options.program}: ${error.message}`);
            exitStatus ??= { code: 127, signal: null };
            outputDone = true;
            resolve();
            finish();
          });
        }),
      );

      const send = (data: Buffer | string, binary: boolean): void => {
        if (wsClosed || ws.readyState !== 1) return;
        // Backpressure: stop reading the program while the peer does not keep up.
        if (!ws.send(data, { binary }) && !child.stdout!.isPaused()) {
          child.stdout!.pause();
          ws.once('drain', () => child.stdout!.resume());
        }
      };
      const lines = new LineSplitter();
      // Text messages must be valid UTF-8 (RFC 6455 §8.1): a program's bytes are decoded, with
      // U+FFFD for what is not.
      const sendLine = (line: Buffer): void => send(line.toString('utf8'), false);
      const flushRest = (): void => {
        outputDone = true;
        if (!options.binary) {
          const rest = lines.flush();
          if (rest !== null) sendLine(rest);
        }
      };
      child.stdout!.on('data', (chunk: Buffer) => {
        if (options.binary) send(chunk, true);
        else lines.push(chunk, sendLine);
      });
      child.stdout!.once('end', () => {
        flushRest();
        finish();
      });
      const errors = new LineSplitter();
      child.stderr!.on('data', (chunk: Buffer) => errors.push(chunk, (line) => context.log(`${tag}: ${line.toString('utf8')}`)));
      child.stdin!.on('error', () => {}); // EPIPE: the program stopped reading; its exit closes the WebSocket.

      ws.on('message', (data) => {
        const stdin = child.stdin!;
        if (stdin.destroyed || !stdin.writable) return;
        const ok = options.binary ? stdin.write(data) : stdin.write(Buffer.concat([data, Buffer.from('\n')]));
        // Backpressure the other way: stop reading the peer while the program does not keep up.
        if (!ok) {
          ws.pause();
          stdin.once('drain', () => ws.resume());
        }
      });
      ws.once('close', () => {
        wsClosed = true;
        if (running.has(child)) void stop(child);
        // Whatever the program left running in its group goes too.
        else killGroup(child, 'SIGTERM');
      });
      context.log(`${tag}: started for ${req.socket?.remoteAddress ?? '?'} ${req.url ?? ''}`);
    },
    async close() {
      await Promise.all([...running].map(stop));
    },
  };
}
