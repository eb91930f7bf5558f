// Starting and stopping servers on loopback, port 0, for tests.

import { once } from 'node:events';
import { createServer, type RequestListener, type Server as HttpServer, type ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/server/websocket-server.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { EVENT_WAIT_MS, within } from './events.js';

export const HOST = '127.0.0.1';

export interface StartedServer<Data> {
  wss: WebSocketServer<Data>;
  port: number;
  /** ws://127.0.0.1:port + path */
  url(path?: string): string;
  /** The next accepted connection. */
  nextConnection(ms?: number): Promise<WebSocketConnection<Data>>;
  stop(): Promise<void>;
}

/** A standalone WebSocketServer (its own HTTP server) listening on an ephemeral loopback port. */
export async function startServer<Data = unknown>(options: Omit<WebSocketServerOptions<Data>, 'port' | 'host' | 'server' | 'noServer'> = {}): Promise<StartedServer<Data>> {
  const wss = new WebSocketServer<Data>({ ...options, port: 0, host: HOST });
  await within(once(wss, 'listening'), EVENT_WAIT_MS, "the server's 'listening'");
  const port = (wss.address() as AddressInfo).port;
  return {
    wss,
    port,
    url: (path = '/') => `ws://${HOST}:${port}${path}`,
    nextConnection: (ms = EVENT_WAIT_MS) =>
      within(new Promise<WebSocketConnection<Data>>((resolve) => wss.once('connection', (ws) => resolve(ws))), ms, 'a connection'),
    stop: () => stopServer(wss),
  };
}

/** Closes a WebSocketServer quickly (short close timeout) and bounded in time. */
export async function stopServer(wss: WebSocketServer<any>): Promise<void> {
  await within(wss.close({ timeout: 200 }), EVENT_WAIT_MS, 'the WebSocket server to close');
}

/** A plain node:http server on an ephemeral loopback port. */
export async function startHttpServer(handler?: RequestListener, options: ServerOptions = {}): Promise<{ server: HttpServer; port: number; stop(): Promise<void> }> {
  const server = handler === undefined ? createServer(options) : createServer(options, handler);
  server.listen(0, HOST);
  await within(once(server, 'listening'), EVENT_WAIT_MS, "the HTTP server's 'listening'");
  const port = (server.address() as AddressInfo).port;
  return { server, port, stop: () => closeHttpServer(server) };
}

export async function closeHttpServer(server: HttpServer): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await within(closed, EVENT_WAIT_MS, 'the HTTP server to close');
}
