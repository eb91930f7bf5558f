// For the tools that look inside a server's process (bench/handshake-cost.ts,
// bench/heap-per-connection.ts): the benchmark's Upshift echo server started in the calling process
// (`lib` loads another build of the library, for a before/after), and a plain Node client for
// their child process that opens connections as `wsload connect` does.
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface InProcessUpshift {
  port: number;
  /** Open connections (the server's clients). */
  connections: () => number;
  close: () => void;
  /** The file loaded as the library's index. */
  lib: string;
}

export async function startUpshiftEcho(lib?: string | null): Promise<InProcessUpshift> {
  const index = lib ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'index.js');
  const { WebSocketServer } = (await import(pathToFileURL(index).href)) as typeof import('../src/index.js');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  // The echo handler of bench/servers/upshift-echo.ts: its listeners count too.
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      ws.send(data, { binary: isBinary });
    });
  });
  return {
    port: (wss.address() as net.AddressInfo).port,
    connections: () => wss.clients.size,
    close: () => void wss.close({ timeout: 100 }),
    lib: index,
  };
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const REQUEST = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/**
 * Opens `count` connections to 127.0.0.1:`port`, 100 at a time, each with a WebSocket handshake
 * (a 101 expected) or, with `tcpOnly`, a bare TCP connection; resolves with them once all are open.
 */
export function openConnections(port: number, count: number, tcpOnly = false): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  let next = 0;
  let opened = 0;
  return new Promise<net.Socket[]>((resolve, reject) => {
    const one = (): void => {
      if (next >= count) return;
      next++;
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      sockets.push(socket);
      socket.on('error', reject);
      const done = (): void => {
        if (++opened === count) resolve(sockets);
        else one();
      };
      if (tcpOnly) {
        socket.once('connect', done);
        return;
      }
      socket.write(REQUEST);
      let seen = '';
      const onData = (chunk: Buffer): void => {
        seen += chunk.toString('latin1');
        if (!seen.includes('\r\n\r\n')) return;
        socket.removeListener('data', onData);
        if (!seen.startsWith('HTTP/1.1 101')) reject(new Error(`handshake refused: ${seen.split('\r\n')[0]}`));
        else done();
      };
      socket.on('data', onData);
    };
    if (count === 0) resolve(sockets);
    for (let i = 0; i < Math.min(100, count); i++) one();
  });
}
