// A raw TCP server for client tests: it reads the HTTP request head and answers whatever the
// test wants (a bad 101, a redirect, nothing at all).

import { once } from 'node:events';
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { EVENT_WAIT_MS, within } from './events.js';
import { HOST } from './server.js';

export interface RawRequest {
  method: string;
  path: string;
  /** Lowercased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
}

export interface RawServer {
  server: Server;
  port: number;
  sockets: Set<Socket>;
  stop(): Promise<void>;
}

/** Listens on loopback; `onRequest` runs once per connection with the parsed request head. */
export async function startRawServer(onRequest: (request: RawRequest, socket: Socket) => void): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const lines = buffered.toString('latin1', 0, end).split('\r\n');
      const [method = '', path = ''] = lines[0]!.split(' ');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      onRequest({ method, path, headers }, socket);
    };
    socket.on('data', onData);
  });
  server.listen(0, HOST);
  await within(once(server, 'listening'), EVENT_WAIT_MS, "the raw server's 'listening'");
  return {
    server,
    port: (server.address() as AddressInfo).port,
    sockets,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      const closed = once(server, 'close');
      server.close();
      await within(closed, EVENT_WAIT_MS, 'the raw server to close');
    },
  };
}

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2), computed here independently of src/. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** A 101 response for `request`, with extra header lines. */
export function switchingProtocols(request: RawRequest, extra: Record<string, string> = {}): string {
  let out =
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptFor(request.headers['sec-websocket-key'] ?? '')}\r\n`;
  for (const [name, value] of Object.entries(extra)) out += `${name}: ${value}\r\n`;
  return out + '\r\n';
}
