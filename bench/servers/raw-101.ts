// Reference server for the handshakes workload: plain node:net plus one SHA-1, no HTTP parser
// and no WebSocket library. It reads until the blank line that ends the request head, finds
// Sec-WebSocket-Key, and writes a fixed 101 with the Sec-WebSocket-Accept computed for that key
// (RFC 6455 §4.2.2: wsload checks it, so the hash cannot be skipped). The socket then stays open;
// a close frame from the client is answered with an empty close frame and the server ends TCP
// first, as a WebSocket server does (RFC 6455 §7.1.1): otherwise the client closes first and its
// ports pile up in TIME_WAIT, which slows the client's next connections and no longer measures
// the server. Anything else is read and dropped. This is the floor of a handshake in one Node
// process: accept a TCP connection, read a few hundred bytes, hash 60, write one string.
//
// Compiled by `tsc -p .` to dist/bench/servers/raw-101.js:
//   PORT=9003 node dist/bench/servers/raw-101.js       (or: ... raw-101.js 9003 echo)
// Only MODE=echo exists (the harness gives it the handshakes workload only). Binds 127.0.0.1 only.
// Exits by itself after MAX_LIFETIME_S, or when its parent goes away.
//
// bench/handshake-cost.ts and bench/heap-per-connection.ts run `answer101` in their own process.
import { createServer, type Socket } from 'node:net';
import * as crypto from 'node:crypto';
import { pathToFileURL } from 'node:url';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /\r\nsec-websocket-key:[ \t]*([^\r\n]*?)[ \t]*\r\n/i;
const CLOSE = Buffer.from([0x88, 0x00]);

type HeadSocket = Socket & { head: string };

/** The connection listener of the floor server: one per accepted socket. */
export function answer101(socket: Socket): void {
  (socket as HeadSocket).head = '';
  socket.on('error', ignore);
  socket.on('data', onData);
}

/** The listener of a bare node:net server built around answer101 (noDelay, as Upshift's). */
export function createFloorServer(): ReturnType<typeof createServer> {
  return createServer({ noDelay: true }, answer101);
}

function onData(this: HeadSocket, chunk: Buffer): void {
  const head = this.head === '' ? chunk.toString('latin1') : this.head + chunk.toString('latin1');
  const end = head.indexOf('\r\n\r\n');
  if (end === -1) {
    this.head = head;
    return;
  }
  this.head = '';
  this.removeListener('data', onData);
  this.on('data', onFrames);
  const key = KEY.exec(head.slice(0, end + 2));
  if (key === null) {
    this.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  this.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' +
      crypto.hash('sha1', key[1] + GUID, 'base64') +
      '\r\n\r\n',
  );
}

// Only the first byte of a read is looked at: the client sends nothing but its close frame here.
function onFrames(this: Socket, chunk: Buffer): void {
  if ((chunk[0]! & 0x0f) !== 0x8) return;
  this.removeListener('data', onFrames);
  this.end(CLOSE);
}

function ignore(): void {}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? process.argv[2] ?? 9003);
  const mode = process.env.MODE ?? process.argv[3] ?? 'echo';
  const lifetimeS = Number(process.env.MAX_LIFETIME_S ?? 600);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad PORT ${port}`);
  if (mode !== 'echo') throw new Error(`raw-101 supports MODE=echo only, not ${mode}`);
  createFloorServer().listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
    console.log(`raw 101 server listening on 127.0.0.1:${port} (pid ${process.pid})`);
  });
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
  setTimeout(() => process.exit(0), lifetimeS * 1000).unref();
}
