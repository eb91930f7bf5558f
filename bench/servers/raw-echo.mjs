// Reference server: plain node:net, no WebSocket at all. Every byte read is written back
// unchanged (wsload --raw parses its own masked frames as they come back). This is the I/O
// ceiling of a single Node process for the same traffic: what is left once framing, masking,
// UTF-8 checks and the event API cost nothing.
//
//   PORT=9002 node bench/servers/raw-echo.mjs       (or: node raw-echo.mjs 9002 echo)
//
// Only MODE=echo exists: wsload cannot receive a raw broadcast (recv needs WebSocket frames).
// Binds 127.0.0.1 only. Exits by itself after MAX_LIFETIME_S, or when its parent goes away.
import { createServer } from 'node:net';

const port = Number(process.env.PORT ?? process.argv[2] ?? 9002);
const mode = process.env.MODE ?? process.argv[3] ?? 'echo';
const lifetimeS = Number(process.env.MAX_LIFETIME_S ?? 600);

if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad PORT ${port}`);
if (mode !== 'echo') throw new Error(`raw-echo supports MODE=echo only, not ${mode}`);

const server = createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    if (!socket.write(chunk)) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
});

server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
  console.log(`raw echo server listening on 127.0.0.1:${port} (pid ${process.pid})`);
});

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
setTimeout(() => process.exit(0), lifetimeS * 1000).unref();
