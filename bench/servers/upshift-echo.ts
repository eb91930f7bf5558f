// Benchmark server: Upshift. Compiled by `tsc -p .` to dist/bench/servers/upshift-echo.js,
// which imports the compiled library from dist/src/.
//
//   PORT=9000 MODE=echo node dist/bench/servers/upshift-echo.js    (or: ... upshift-echo.js 9000 echo)
//   PORT=9000 MODE=broadcast CONNS=10000 node dist/bench/servers/upshift-echo.js
//
// echo:      every message is sent back on its connection with the same type.
// broadcast: once CONNS clients are connected, send one 32-byte binary message to every client,
//            round after round, for BROADCAST_MS (or until a client leaves), with
//            wss.broadcast() (frames once, writes to every client) when the server has it, else a
//            send() loop like the ws server's. Backpressure as in the ws server: yield after each
//            round (setImmediate); while any client has more than HIGH_WATER bytes queued, wait
//            1 ms at a time.
// publish:   the same with topics: every client subscribes to one topic; once CONNS are connected,
//            PER_TURN wss.publish() calls per event-loop turn (framed once per message).
// MESSAGE_FILE: broadcast/publish that file's text (a text message) instead of the 32 bytes.
// Binds 127.0.0.1 only. Exits by itself after MAX_LIFETIME_S, or when its parent goes away.
import { readFileSync } from 'node:fs';
import { WebSocketServer } from '../../src/index.js';

const port = Number(process.env.PORT ?? process.argv[2] ?? 9000);
const mode = process.env.MODE ?? process.argv[3] ?? 'echo';
const conns = Number(process.env.CONNS ?? 10000);
const broadcastMs = Number(process.env.BROADCAST_MS ?? 15000);
const lifetimeS = Number(process.env.MAX_LIFETIME_S ?? 600);
const HIGH_WATER = 8 * 1024;
const MESSAGE: Buffer | string = process.env.MESSAGE_FILE ? readFileSync(process.env.MESSAGE_FILE, 'utf8') : Buffer.alloc(32, 'b');

if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad PORT ${port}`);
if (mode !== 'echo' && mode !== 'broadcast' && mode !== 'publish') throw new Error(`bad MODE ${mode}`);
const perTurn = Number(process.env.PER_TURN ?? 1);
const TOPIC = 'bench/topic';

// DEFLATE=1: the compressed workloads, with the same zlib settings as the other servers.
const deflate = process.env.DEFLATE === '1' ? { threshold: 0, level: 1, memLevel: 8 } : undefined;
const wss = new WebSocketServer({ port, host: '127.0.0.1', maxPayload: 64 * 1024 * 1024, ...(deflate ? { perMessageDeflate: deflate } : {}) });

let broadcasting = false;
let rounds = 0;

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  if (mode === 'echo') {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      ws.send(data, { binary: isBinary });
    });
    return;
  }
  if (mode === 'publish') ws.subscribe(TOPIC);
  if (!broadcasting && wss.clients.size >= conns) {
    broadcasting = true;
    void broadcast();
  }
});

wss.on('listening', () => {
  console.log(`upshift ${mode} server listening on 127.0.0.1:${port} (pid ${process.pid})`);
});

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function maxBuffered(): number {
  let max = 0;
  for (const client of wss.clients) if (client.bufferedAmount > max) max = client.bufferedAmount;
  return max;
}

async function broadcast(): Promise<void> {
  const end = Date.now() + broadcastMs;
  const native = typeof wss.broadcast === 'function';
  console.log(`broadcast with ${mode === 'publish' ? `wss.publish() x ${perTurn} per turn` : native ? 'wss.broadcast()' : 'a send() loop'}`);
  while (Date.now() < end && wss.clients.size >= conns) {
    if (mode === 'publish') {
      for (let i = 0; i < perTurn; i++) wss.publish(TOPIC, MESSAGE);
    } else if (native) {
      wss.broadcast(MESSAGE);
    } else {
      for (const client of wss.clients) client.send(MESSAGE);
    }
    rounds++;
    await immediate();
    while (maxBuffered() > HIGH_WATER && Date.now() < end && wss.clients.size >= conns) await sleep(1);
  }
}

// The harness stops the server with SIGTERM; report how many broadcast rounds went out.
process.on('SIGTERM', () => process.exit(0));
process.on('exit', () => {
  if (broadcasting) console.log(`broadcast: ${rounds} rounds to ${conns} clients${mode === 'publish' ? `, ${perTurn} messages each, ${wss.droppedMessages} dropped` : ''}`);
});

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
setTimeout(() => process.exit(0), lifetimeS * 1000).unref();
