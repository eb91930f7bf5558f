// Reference server: Bun's built-in WebSocket server (Bun.serve, uWebSockets underneath).
// Run with bun, not node:
//
//   PORT=9003 MODE=echo bun bench/servers/bun-echo.js     (or: bun bun-echo.js 9003 echo)
//   PORT=9003 MODE=broadcast CONNS=10000 bun bench/servers/bun-echo.js
//
// echo:      every message is sent back with the same type (Bun hands binary messages over as
//            Buffer and text as string; ws.send keeps the type).
// broadcast: every client subscribes to one topic; once CONNS are connected, server.publish()
//            sends one 32-byte binary message to the topic (framed once, written to each
//            subscriber), round after round, for BROADCAST_MS or until a client leaves. After each
//            round the loop yields (setImmediate); while any client has more than HIGH_WATER
//            bytes queued it waits 1 ms at a time. Clients are only tracked and subscribed in
//            broadcast mode, so echo and idle-memory runs pay for neither.
// MESSAGE_FILE: broadcast/publish that file's text (a text message) instead of the 32 bytes.
// Binds 127.0.0.1 only. Exits by itself after MAX_LIFETIME_S, or when its parent goes away.
/* global Bun */
import { readFileSync } from 'node:fs';

const port = Number(process.env.PORT ?? process.argv[2] ?? 9003);
const mode = process.env.MODE ?? process.argv[3] ?? 'echo';
const conns = Number(process.env.CONNS ?? 10000);
const broadcastMs = Number(process.env.BROADCAST_MS ?? 15000);
const lifetimeS = Number(process.env.MAX_LIFETIME_S ?? 600);
const HIGH_WATER = 8 * 1024;
const TOPIC = 'all';
const MESSAGE = process.env.MESSAGE_FILE ? readFileSync(process.env.MESSAGE_FILE, 'utf8') : Buffer.alloc(32, 'b');

if (typeof Bun === 'undefined') throw new Error('bun-echo.js must run under bun');
if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad PORT ${port}`);
if (mode !== 'echo' && mode !== 'broadcast' && mode !== 'publish') throw new Error(`bad MODE ${mode}`);
// publish: PER_TURN server.publish() calls per turn (broadcast is publish with 1).
const perTurn = mode === 'publish' ? Number(process.env.PER_TURN ?? 1) : 1;

const clients = new Set();
let broadcasting = false;
let rounds = 0;

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(req, srv) {
    if (srv.upgrade(req)) return undefined;
    return new Response('WebSocket only\n', { status: 426 });
  },
  websocket: {
    maxPayloadLength: 64 * 1024 * 1024,
    // DEFLATE=1: the compressed workloads (Bun picks its own zlib settings).
    perMessageDeflate: process.env.DEFLATE === '1',
    open(ws) {
      if (mode === 'echo') return;
      clients.add(ws);
      ws.subscribe(TOPIC);
      if (!broadcasting && clients.size >= conns) {
        broadcasting = true;
        void broadcast();
      }
    },
    message(ws, message) {
      if (mode === 'echo') ws.send(message);
    },
    close(ws) {
      clients.delete(ws);
    },
  },
});

console.log(`bun ${Bun.version} ${mode} server listening on 127.0.0.1:${server.port} (pid ${process.pid})`);

const immediate = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function maxBuffered() {
  let max = 0;
  for (const ws of clients) {
    const n = ws.getBufferedAmount();
    if (n > max) max = n;
  }
  return max;
}

async function broadcast() {
  const end = Date.now() + broadcastMs;
  while (Date.now() < end && clients.size >= conns) {
    // The third argument asks Bun to compress (for peers with permessage-deflate).
    for (let i = 0; i < perTurn; i++) server.publish(TOPIC, MESSAGE, process.env.DEFLATE === '1');
    rounds++;
    await immediate();
    while (maxBuffered() > HIGH_WATER && Date.now() < end && clients.size >= conns) await sleep(1);
  }
}

// The harness stops the server with SIGTERM; report how many broadcast rounds went out.
process.on('SIGTERM', () => process.exit(0));
process.on('exit', () => {
  if (broadcasting) console.log(`broadcast: ${rounds} rounds to ${conns} clients`);
});

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
setTimeout(() => process.exit(0), lifetimeS * 1000).unref();
