// The WebSocket endpoints `upshift serve` can mount, one kind per flag. Each kind is a factory in
// ENDPOINT_KINDS; adding one (the WAMP router, when it exists) is one entry there and one flag in
// serve's table (SERVE_ENDPOINT_FLAGS).

import type { IncomingMessage } from 'node:http';
import type { WebSocketConnection, WebSocketServer } from '../index.js';
import type { CliMetrics } from './metrics.js';

export interface EndpointContext {
  readonly metrics: CliMetrics;
  /** One line to the server's log (stderr), unless --quiet. */
  log(line: string): void;
}

export interface Endpoint {
  readonly kind: string;
  readonly path: string;
  /** Subprotocols this endpoint selects from (a WAMP router would list wamp.2.json here). */
  readonly protocols?: readonly string[];
  /** A connection accepted on `wss` (one of the endpoint's servers: HTTP/1.1, HTTP/2…). */
  accept(ws: WebSocketConnection, req: IncomingMessage, wss: WebSocketServer): void;
  /** Shutdown: release what the endpoint holds (processes, broker links). */
  close(): Promise<void>;
}

export interface EndpointSpec {
  kind: string;
  path: string;
}

/** Every message comes back as it was: text as text, binary as binary. */
export function echoEndpoint(path: string): Endpoint {
  return {
    kind: 'echo',
    path,
    accept(ws) {
      ws.on('message', (data, isBinary) => {
        ws.send(data, { binary: isBinary });
      });
    },
    close: async () => {},
  };
}

/**
 * A room: every message a member sends goes to every other member. The frame is built once per
 * server (WebSocketServer.broadcast) and its bytes written to each member.
 */
export function broadcastEndpoint(path: string): Endpoint {
  const servers = new Set<WebSocketServer>();
  const members = new Map<WebSocketServer, Set<WebSocketConnection>>();
  return {
    kind: 'broadcast',
    path,
    accept(ws, _req, wss) {
      servers.add(wss);
      let room = members.get(wss);
      if (room === undefined) members.set(wss, (room = new Set()));
      room.add(ws);
      ws.once('close', () => room!.delete(ws));
      ws.on('message', (data, isBinary) => {
        for (const server of servers) {
          const set = members.get(server)!;
          if (set.size - (set.has(ws) ? 1 : 0) === 0) continue;
          server.broadcast(data, { binary: isBinary, filter: (peer) => peer !== ws && set.has(peer) });
        }
      });
    },
    close: async () => {},
  };
}
