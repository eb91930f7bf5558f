// WebSocket endpoints on a server's upgrade router (src/upgrade/router.ts): each endpoint is the
// `websocket` handler for its path, so several endpoints (and other upgrade protocols, such as
// h2c) share a port. An upgrade to a path without an endpoint is served as a plain request (RFC
// 9110 §7.8); plain HTTP/1.1 requests to a WebSocket-only path get 426 (RFC 9110 §15.5.22); every
// other plain request reaches the application's own handlers untouched. On an HTTP/2 server the
// same endpoints take RFC 8441 extended CONNECT streams.

import type { IncomingMessage } from 'node:http';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { upgradeRouterFor, type UpgradeCapableServer, type UpgradeHandler, type UpgradeRouter } from '../upgrade/router.js';

export interface UpgradeEndpoint {
  /** Exact path (without query), or undefined to take every path no other endpoint claims. */
  readonly path: string | undefined;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** RFC 8441: a WebSocket over an HTTP/2 stream. */
  handleStream?(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
}

const WEBSOCKET = 'websocket';
const dispatchers = new WeakMap<UpgradeRouter, UpgradeDispatcher>();

export function dispatcherFor(server: UpgradeCapableServer): UpgradeDispatcher {
  const router = upgradeRouterFor(server);
  let dispatcher = dispatchers.get(router);
  if (dispatcher === undefined) {
    dispatcher = new UpgradeDispatcher(router);
    dispatchers.set(router, dispatcher);
  }
  return dispatcher;
}

export class UpgradeDispatcher {
  private readonly handlers = new Map<UpgradeEndpoint, UpgradeHandler>();

  constructor(readonly router: UpgradeRouter) {}

  /** Set when the HTTP server was created by Upshift itself: it has no other routes. */
  get ownsServer(): boolean {
    return this.router.ownsServer;
  }

  set ownsServer(value: boolean) {
    this.router.ownsServer = value;
  }

  add(endpoint: UpgradeEndpoint): void {
    // The endpoint's own handleUpgrade takes a callback as its fourth argument; the router's
    // extra argument (the offer) must not land there.
    const handler: UpgradeHandler = {
      handleUpgrade: (req, socket, head) => endpoint.handleUpgrade(req, socket, head),
    };
    if (endpoint.handleStream !== undefined) {
      handler.handleStream = (stream, headers) => endpoint.handleStream!(stream, headers);
    }
    const options = endpoint.path === undefined ? { required: true } : { path: endpoint.path, required: true };
    this.router.register(WEBSOCKET, handler, options);
    this.handlers.set(endpoint, handler);
  }

  remove(endpoint: UpgradeEndpoint): void {
    const handler = this.handlers.get(endpoint);
    if (handler === undefined) return;
    this.handlers.delete(endpoint);
    this.router.unregister(WEBSOCKET, handler);
  }
}

