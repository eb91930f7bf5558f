// Benchmark server: `ws` 8 (with bufferutil + utf-8-validate when installed), the baseline.
//
//   PORT=9001 MODE=echo node bench/servers/ws-echo.mjs       (or: node ws-echo.mjs 9001 echo)
//   PORT=9001 MODE=broadcast CONNS=10000 node bench/servers/ws-echo.mjs
//
// echo:      every message is sent back on its connection with the same type.
// broadcast: once CONNS clients are connected, send one 32-byte binary message to every client,
//            round after round, for BROADCAST_MS (or until a client leaves). ws has no broadcast
//            primitive, so this is the loop its README shows: client.send() per client, which
//            frames the message once per client. Backpressure: after each round the loop yields
//            (setImmediate); while any client has more than HIGH_WATER bytes queued in user space
//            it waits 1 ms at a time instead of sending.
// MESSAGE_FILE: broadcast/publish that file's text (a text message) instead of the 32 bytes.
// Binds 127.0.0.1 only. Exits by itself after MAX_LIFETIME_S, or when its parent goes away.
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? process.argv[2] ?? 9001);
const mode = process.env.MODE ?? process.argv[3] ?? 'echo';
const conns = Number(process.env.CONNS ?? 10000);
const broadcastMs = Number(process.env.BROADCAST_MS ?? 15000);
const lifetimeS = Number(process.env.MAX_LIFETIME_S ?? 600);
const HIGH_WATER = 8 * 1024;
const MESSAGE = process.env.MESSAGE_FILE ? readFileSync(process.env.MESSAGE_FILE, 'utf8') : Buffer.alloc(32, 'b');

if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad PORT ${port}`);
if (mode !== 'echo' && mode !== 'broadcast' && mode !== 'publish') throw new Error(`bad MODE ${mode}`);
// publish: ws has no topics; PER_TURN messages per turn, each a loop over the clients.
const perTurn = mode === 'publish' ? Number(process.env.PER_TURN ?? 1) : 1;

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  maxPayload: 64 * 1024 * 1024,
  // DEFLATE=1: the compressed workloads, with the same zlib settings as the other servers.
  perMessageDeflate: process.env.DEFLATE === '1' ? { threshold: 0, zlibDeflateOptions: { level: 1, memLevel: 8 } } : false,
});

let broadcasting = false;
let rounds = 0;

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  if (mode === 'echo') {
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary });
    });
  } else if (!broadcasting && wss.clients.size >= conns) {
    broadcasting = true;
    void broadcast();
  }
});

wss.on('listening', () => {
  console.log(`ws ${mode} server listening on 127.0.0.1:${port} (pid ${process.pid})`);
});

const immediate = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function maxBuffered() {
  let max = 0;
  for (const client of wss.clients) if (client.bufferedAmount > max) max = client.bufferedAmount;
  return max;
}

async function broadcast() {
  const end = Date.now() + broadcastMs;
  while (Date.now() < end && wss.clients.size >= conns) {
    let max = 0;
    for (let i = 0; i < perTurn; i++) {
      for (const client of wss.clients) {
        if (client.readyState !== 1) continue;
        client.send(MESSAGE, { binary: typeof MESSAGE !== 'string' });
        if (client.bufferedAmount > max) max = client.bufferedAmount;
      }
    }
    rounds++;
    await immediate();
    while (max > HIGH_WATER && Date.now() < end && wss.clients.size >= conns) {
      await sleep(1);
      max = maxBuffered();
    }
  }
}

// Safety nets: never outlive the harness.
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
