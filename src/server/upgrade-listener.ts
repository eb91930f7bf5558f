// The listening socket of a server Upshift creates itself. WebSocket opening handshakes — the
// common case on such a server — are parsed here directly (src/protocol/http1-request-head.ts)
// and emitted as the HTTP server's 'upgrade' event, skipping Node's per-connection HTTP machinery
// (parser, IncomingMessage, ServerResponse): less CPU per handshake and less memory left behind
// per connection. Every other connection is handed, bytes and all, to the real node:http server.

import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { IncomingHttpHeaders, Server as HttpServer } from 'node:http';
import { INCOMPLETE, NOT_MINE, parseUpgradeRequestHead } from '../protocol/http1-request-head.js';
import { unwatch, watch } from '../util/ticker.js';

/** Node's default limit for a request head (`--max-http-header-size`). */
const MAX_HEAD = 16 * 1024;
/** A client that has not sent a complete head by then is dropped (Node's headersTimeout is 60 s). */
const HEAD_TIMEOUT_MS = 30_000;

/** The request object of a fast-path handshake: the fields of IncomingMessage a handshake uses. */
export class UpgradeRequest {
  readonly method = 'GET';
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  constructor(
    readonly url: string,
    readonly headers: IncomingHttpHeaders,
    readonly rawHeaders: string[],
    readonly socket: Socket,
  ) {}
  /** Alias of `socket`, as on IncomingMessage. */
  get connection(): Socket {
    return this.socket;
  }
}

/** What a connection carries while its request head is being read; dropped afterwards. */
interface Sniffing {
  http: HttpServer;
  pending: Map<Socket, number>;
  head: { buffer: Buffer; length: number } | null;
}

const kSniffing = Symbol('upshift.sniffing');
type SniffedSocket = Socket & { [kSniffing]?: Sniffing | undefined };

/** A listening socket plus the connections whose request head has not been read yet. */
export interface UpgradeListener extends NetServer {
  /** Drops every connection still sending its request head (used at the end of a shutdown). */
  dropIncomplete(): void;
}

export function createUpgradeListener(http: HttpServer): UpgradeListener {
  // Connections still sending their head, with their deadlines. Checked by the shared ticker
  // rather than socket.setTimeout(), whose Timeout object would stay on every socket for good.
  const pending = new Map<Socket, number>();
  const headTimeouts = {
    tick(now: number): void {
      for (const [socket, deadline] of pending) if (now >= deadline) socket.destroy();
      if (pending.size === 0) unwatch(headTimeouts);
    },
  };
  const server = createNetServer({ noDelay: true }, (socket: SniffedSocket) => {
    if (pending.size === 0) watch(headTimeouts);
    pending.set(socket, Date.now() + HEAD_TIMEOUT_MS);
    socket[kSniffing] = { http, pending, head: null };
    socket.on('data', onHeadData);
    socket.on('error', onHeadError);
    socket.on('close', onHeadClose);
  }) as UpgradeListener;
  server.dropIncomplete = () => {
    for (const socket of pending.keys()) socket.destroy();
  };
  server.on('close', () => unwatch(headTimeouts));
  return server;
}

function onHeadData(this: SniffedSocket, chunk: Buffer): void {
  const socket = this;
  const sniffing = socket[kSniffing]!;
  let data = chunk;
  const held = sniffing.head;
  if (held !== null) {
    // A head in pieces: append into one buffer of the maximum head size, so even a head sent a
    // byte per segment costs linear time. Beyond the maximum, Node's parser answers 431.
    const room = held.buffer.length - held.length;
    if (chunk.length <= room) {
      chunk.copy(held.buffer, held.length);
      held.length += chunk.length;
      data = held.buffer.subarray(0, held.length);
    } else {
      data = Buffer.concat([held.buffer.subarray(0, held.length), chunk]);
    }
  }
  const head = parseUpgradeRequestHead(data, MAX_HEAD);
  if (head === INCOMPLETE) {
    if (held === null) {
      const buffer = Buffer.allocUnsafe(MAX_HEAD);
      chunk.copy(buffer);
      sniffing.head = { buffer, length: chunk.length };
    }
    return;
  }
  stopSniffing(socket, sniffing);
  const http = sniffing.http;
  if (head === NOT_MINE) {
    // Node's parser takes it from the first byte: it answers, serves, or rejects (400, 431, …).
    socket.pause();
    socket.unshift(data);
    http.emit('connection', socket);
    socket.resume();
    return;
  }
  const req = new UpgradeRequest(head.url, head.headers as IncomingHttpHeaders, head.rawHeaders, socket);
  http.emit('upgrade', req, socket, data.subarray(head.length));
}

function stopSniffing(socket: SniffedSocket, sniffing: Sniffing): void {
  socket.removeListener('data', onHeadData);
  socket.removeListener('error', onHeadError);
  socket.removeListener('close', onHeadClose);
  sniffing.pending.delete(socket);
  socket[kSniffing] = undefined;
}

function onHeadClose(this: SniffedSocket): void {
  this[kSniffing]?.pending.delete(this);
}

function onHeadError(this: Socket): void {
  this.destroy();
}
