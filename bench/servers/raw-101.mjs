// Reference server for the handshakes workload: plain node:net plus one SHA-1, no HTTP parser
// and no WebSocket library. It reads until the blank line that ends the request head, finds
// Sec-WebSocket-Key, and writes a fixed 101 with the Sec-WebSocket-Accept computed for that key
// (RFC 6455 §4.2.2: wsload checks it, so the hash cannot be skipped). The socket then stays open
// and whatever arrives is read and dropped. This is the floor of a handshake in one Node process:
// accept a TCP connection, read a few hundred bytes, hash 60, write one string.
//
//   PORT=9003 node bench/servers/raw-101.mjs       (or: node raw-101.mjs 9003 echo)
//
// Only MODE=echo exists (the harness gives it the handshakes workload only). Binds 127.0.0.1 only.
// Exits by itself after MAX_LIFETIME_S, or when its parent goes away.
import { createServer } from 'node:net';
import * as crypto from 'node:crypto';

const port = Number(process.env.PORT ?? process.argv[2] ?? 9003);
const mode = process.env.MODE ?? process.argv[3] ?? 'echo';
const lifetimeS = Number(process.env.MAX_LIFETIME_S ?? 600);

if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad PORT ${port}`);
if (mode !== 'echo') throw new Error(`raw-101 supports MODE=echo only, not ${mode}`);

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /\r\nsec-websocket-key:[ \t]*([^\r\n]*?)[ \t]*\r\n/i;
// crypto.hash (one call, no Hash object) where the runtime has it; createHash otherwise.
const sha1 =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha1', text, 'base64')
    : (text) => crypto.createHash('sha1').update(text).digest('base64');

function onData(chunk) {
  const head = this.head === '' ? chunk.toString('latin1') : this.head + chunk.toString('latin1');
  const end = head.indexOf('\r\n\r\n');
  if (end === -1) {
    this.head = head;
    return;
  }
  this.head = '';
  this.removeListener('data', onData);
  this.on('data', discard);
  const key = KEY.exec(head.slice(0, end + 2));
  if (key === null) {
    this.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  this.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' +
      sha1(key[1] + GUID) +
      '\r\n\r\n',
  );
}

function discard() {}
function ignore() {}

const server = createServer({ noDelay: true }, (socket) => {
  socket.head = '';
  socket.on('error', ignore);
  socket.on('data', onData);
});

server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
  console.log(`raw 101 server listening on 127.0.0.1:${port} (pid ${process.pid}; sha1 via ${typeof crypto.hash === 'function' ? 'crypto.hash' : 'createHash'})`);
});

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
setTimeout(() => process.exit(0), lifetimeS * 1000).unref();
