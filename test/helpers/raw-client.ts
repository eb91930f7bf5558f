// A raw TCP client for hostile or hand-made handshakes: writes arbitrary bytes, then reads an
// HTTP response or WebSocket frames back. Every read is bounded by a timeout.

import { connect as netConnect, type Socket } from 'node:net';
import { decodeFrame, type Frame } from './frames.js';
import { EVENT_WAIT_MS } from './events.js';

export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** RFC 6455 §1.3: the accept value for KEY. */
export const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

export interface RawResponse {
  status: number;
  statusLine: string;
  /** Lowercased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

const open = new Set<RawClient>();

/** Destroys every raw client still open (call from an after/afterEach hook). */
export function destroyRawClients(): void {
  for (const client of open) client.destroy();
}

export class RawClient {
  readonly socket: Socket;
  /** Received bytes not consumed by a read yet. */
  buffer: Buffer = Buffer.alloc(0);
  /** Total bytes received. */
  received = 0;
  ended = false;
  closed = false;
  endedAt = 0;
  error: Error | null = null;
  private waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    open.add(this);
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.endedAt = Date.now();
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      open.delete(this);
      this.wake();
    });
    // The peer may reset a connection the test keeps writing to; that is an outcome, not a crash.
    socket.on('error', (error) => {
      this.error = error;
      this.wake();
    });
  }

  static connect(port: number, host = '127.0.0.1', options: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host, allowHalfOpen: options.allowHalfOpen ?? true });
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new RawClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Connects and completes a valid opening handshake for `path`; the 101 is consumed. */
  static async open(port: number, path = '/', headers: Record<string, string> = {}): Promise<{ client: RawClient; response: RawResponse }> {
    const client = await RawClient.connect(port);
    client.write(upgradeRequest(path, headers));
    const response = await client.readResponse();
    if (response.status !== 101) {
      client.destroy();
      throw new Error(`Expected 101, got ${response.statusLine}: ${response.body}`);
    }
    return { client, response };
  }

  write(data: Buffer | string): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.writableEnded) return resolve();
      this.socket.write(data, () => resolve());
    });
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Waits until `take` returns a value (re-evaluated on every change), or throws after `ms`. */
  waitFor<T>(take: () => T | undefined, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        let value: T | undefined;
        try {
          value = take();
        } catch (error) {
          finish();
          reject(error);
          return;
        }
        if (value !== undefined) {
          finish();
          resolve(value);
        } else if (this.closed) {
          finish();
          reject(new Error(`Connection closed while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`Timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Reads one HTTP response: the body by Content-Length, or up to EOF without one. */
  readResponse(ms = EVENT_WAIT_MS): Promise<RawResponse> {
    return this.waitFor(
      () => {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end === -1) {
          if (this.ended) throw new Error(`EOF inside a response head: ${this.buffer.toString('latin1').slice(0, 200)}`);
          return undefined;
        }
        const lines = this.buffer.toString('latin1', 0, end).split('\r\n');
        const statusLine = lines[0]!;
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          const name = line.slice(0, colon).trim().toLowerCase();
          const value = line.slice(colon + 1).trim();
          headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
        }
        const status = Number(statusLine.split(' ')[1]);
        let bodyEnd: number;
        if (status === 101 || status === 204 || status === 304) bodyEnd = end + 4;
        else if (headers['content-length'] !== undefined) {
          bodyEnd = end + 4 + Number(headers['content-length']);
          if (this.buffer.length < bodyEnd) return undefined;
        } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
          const chunked = decodeChunked(this.buffer, end + 4);
          if (chunked === null) return undefined;
          this.buffer = this.buffer.subarray(chunked.end);
          return { status, statusLine, headers, body: chunked.body.toString('utf8') };
        } else {
          if (!this.ended) return undefined;
          bodyEnd = this.buffer.length;
        }
        const body = this.buffer.toString('utf8', end + 4, bodyEnd);
        this.buffer = this.buffer.subarray(bodyEnd);
        return { status, statusLine, headers, body };
      },
      ms,
      'an HTTP response',
    );
  }

  /** Reads the next WebSocket frame. */
  readFrame(ms = EVENT_WAIT_MS): Promise<Frame> {
    return this.waitFor(
      () => {
        const decoded = decodeFrame(this.buffer);
        if (decoded === null) {
          if (this.ended) throw new Error('EOF before a complete frame');
          return undefined;
        }
        this.buffer = this.buffer.subarray(decoded.size);
        return decoded.frame;
      },
      ms,
      'a WebSocket frame',
    );
  }

  /** Reads frames until one with `opcode` arrives; returns it and the frames skipped. */
  async readFrameOf(opcode: number, ms = EVENT_WAIT_MS): Promise<{ frame: Frame; skipped: Frame[] }> {
    const skipped: Frame[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const frame = await this.readFrame(Math.max(1, deadline - Date.now()));
      if (frame.opcode === opcode) return { frame, skipped };
      skipped.push(frame);
    }
  }

  /** Resolves when the peer has half-closed (FIN received). */
  waitForEnd(ms = EVENT_WAIT_MS): Promise<void> {
    return this.waitFor(() => (this.ended || this.closed ? true : undefined), ms, 'EOF').then(() => undefined);
  }

  /** Resolves when the socket is fully closed. */
  waitForClose(ms = EVENT_WAIT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return resolve();
      const timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for the socket to close`)), ms);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Decodes a chunked body starting at `start` (no trailers expected); null if incomplete. */
function decodeChunked(buffer: Buffer, start: number): { body: Buffer; end: number } | null {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at);
    if (lineEnd === -1) return null;
    const size = parseInt(buffer.toString('latin1', at, lineEnd), 16);
    if (Number.isNaN(size)) throw new Error('Malformed chunk size');
    if (size === 0) {
      if (buffer.length < lineEnd + 4) return null;
      return { body: Buffer.concat(parts), end: lineEnd + 4 };
    }
    if (buffer.length < lineEnd + 2 + size + 2) return null;
    parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/** A complete HTTP/1.1 upgrade request; `headers` override or add (a value of '' removes one). */
export function upgradeRequest(path = '/', headers: Record<string, string> = {}, method = 'GET', version = '1.1'): string {
  const all: Record<string, string> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
  };
  for (const [name, value] of Object.entries(headers)) {
    const existing = Object.keys(all).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
    if (existing !== undefined) delete all[existing];
    if (value !== '') all[name] = value;
  }
  let out = `${method} ${path} HTTP/${version}\r\n`;
  for (const [name, value] of Object.entries(all)) out += `${name}: ${value}\r\n`;
  return out + '\r\n';
}

/** A plain (non-upgrade) GET request that asks the server to close afterwards. */
export function plainRequest(path = '/'): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
}

/** Sends one request on a fresh connection and reads the response. */
export async function rawRequest(port: number, request: string | Buffer, ms = EVENT_WAIT_MS): Promise<RawResponse> {
  const client = await RawClient.connect(port);
  try {
    await client.write(request);
    return await client.readResponse(ms);
  } finally {
    client.destroy();
  }
}
