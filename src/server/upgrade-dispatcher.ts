// One dispatcher per node:http(s) server routes every upgrade request to the endpoint registered
// for its path, so several WebSocket endpoints (and, later, other upgrade protocols) share a port
// without stepping on each other. Plain requests to a WebSocket-only path get 426 (RFC 9110
// §15.5.22); every other plain request reaches the application's own handlers untouched.

import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { buildErrorResponse } from '../protocol/handshake.js';
import { hasToken } from '../protocol/http-tokens.js';

export interface UpgradeEndpoint {
  /** Exact path (without query), or undefined to take every path no other endpoint claims. */
  readonly path: string | undefined;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

const dispatchers = new WeakMap<HttpServer, UpgradeDispatcher>();

export function dispatcherFor(server: HttpServer): UpgradeDispatcher {
  let dispatcher = dispatchers.get(server);
  if (dispatcher === undefined) {
    dispatcher = new UpgradeDispatcher(server);
    dispatchers.set(server, dispatcher);
  }
  return dispatcher;
}

export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

export class UpgradeDispatcher {
  private readonly endpoints = new Map<string, UpgradeEndpoint>();
  private fallback: UpgradeEndpoint | null = null;

  constructor(private readonly server: HttpServer) {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.dispatch(req, socket, head));
    // Intercept plain requests to WebSocket-only paths before the application's handlers see them.
    const emit = server.emit;
    const dispatcher = this;
    server.emit = function (this: HttpServer, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'request' && dispatcher.answerPlainRequest(args[0] as IncomingMessage, args[1] as ServerResponse)) {
        return true;
      }
      return (emit as (...a: unknown[]) => boolean).apply(this, [event, ...args]);
    } as typeof server.emit;
  }

  add(endpoint: UpgradeEndpoint): void {
    if (endpoint.path === undefined) {
      if (this.fallback !== null) throw new Error('Another endpoint already takes every path on this server');
      this.fallback = endpoint;
      return;
    }
    if (this.endpoints.has(endpoint.path)) throw new Error(`An endpoint is already registered for ${endpoint.path}`);
    this.endpoints.set(endpoint.path, endpoint);
  }

  remove(endpoint: UpgradeEndpoint): void {
    if (this.fallback === endpoint) this.fallback = null;
    else if (endpoint.path !== undefined && this.endpoints.get(endpoint.path) === endpoint) {
      this.endpoints.delete(endpoint.path);
    }
  }

  find(url: string | undefined): UpgradeEndpoint | null {
    return this.endpoints.get(pathOf(url)) ?? this.fallback;
  }

  private dispatch(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Until a handler takes over, a socket error must not crash the process.
    socket.on('error', destroySocket);
    const endpoint = this.find(req.url);
    if (endpoint === null) {
      refuse(socket, 404, `No WebSocket endpoint at ${pathOf(req.url)}`);
      return;
    }
    endpoint.handleUpgrade(req, socket, head);
  }

  /** Answers 426 to a plain request for a WebSocket endpoint; false if the request is not ours. */
  private answerPlainRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const endpoint = this.endpoints.get(pathOf(req.url)) ?? (this.ownsServer ? this.fallback : null);
    if (endpoint === null) {
      if (!this.ownsServer) return false;
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
      return true;
    }
    // An Upgrade header naming another protocol (e.g. h2c) without a handler: answer normally.
    res.writeHead(426, {
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Content-Type': 'text/plain; charset=utf-8',
    });
    res.end('This endpoint only speaks WebSocket: send an Upgrade: websocket request.\n');
    return true;
  }

  /** Set when the HTTP server was created by Upshift itself: it has no other routes. */
  ownsServer = false;
}

function destroySocket(this: Duplex): void {
  this.destroy();
}

/** Writes a complete HTTP error response on a raw upgrade socket and closes it. */
export function refuse(socket: Duplex, status: number, reason: string, headers?: Record<string, string | string[]>): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let response: string;
  try {
    response = buildErrorResponse(status, reason, headers);
  } catch {
    // An invalid status or header from the application's verify hook.
    response = buildErrorResponse(500, 'Invalid handshake rejection');
  }
  socket.once('finish', destroySocket);
  socket.end(response);
}

export function wantsWebSocket(req: IncomingMessage): boolean {
  return hasToken(req.headers.upgrade, 'websocket');
}
