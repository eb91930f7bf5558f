// The server side of the soak test, run as its own process (node --expose-gc): an Upshift
// WebSocketServer on a loopback port with permessage-deflate and heartbeats, answering a few
// commands in messages, and reporting on stdin/stdout (one JSON line each way) what it holds:
// connections, active handles, live timers, whether the shared ticker runs, memory.
//
// Messages from clients:  "burst:<count>:<size>"  sends <count> binary messages of <size> bytes
//                         "close-me:<code>"       the server starts the closing handshake
//                         anything else           echoed back as it came
import { createHook } from 'node:async_hooks';
import { createInterface } from 'node:readline';
import { WebSocketServer } from '../../../src/index.js';
import { clock } from '../../../src/util/ticker.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

// Every live Timeout object, ref'd or not (the shared ticker's interval is unref'd, so
// process.getActiveResourcesInfo() would not show it).
const liveTimers = new Set<number>();
createHook({
  init(id, type) {
    if (type === 'Timeout') liveTimers.add(id);
  },
  destroy(id) {
    liveTimers.delete(id);
  },
}).enable();

const wss = new WebSocketServer({
  port: 0,
  host: '127.0.0.1',
  perMessageDeflate: true,
  maxPayload: 4 * 1024 * 1024,
  pingInterval: 2000,
  idleTimeout: 60_000,
});

const totals = { accepted: 0, messages: 0, errors: 0, peakClients: 0 };

wss.on('connection', (ws) => {
  totals.accepted++;
  totals.peakClients = Math.max(totals.peakClients, wss.clients.size);
  ws.on('error', () => totals.errors++);
  ws.on('message', (data, isBinary) => {
    totals.messages++;
    if (!isBinary && data.length < 64) {
      const text = data.toString();
      if (text.startsWith('burst:')) {
        const [, count, size] = text.split(':').map(Number);
        for (let i = 0; i < count!; i++) ws.send(Buffer.alloc(size!, i & 0xff), { binary: true });
        return;
      }
      if (text.startsWith('close-me:')) {
        ws.close(Number(text.slice(9)), 'as asked');
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
});

function counts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) out[type] = (out[type] ?? 0) + 1;
  return out;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function snapshot(): Record<string, unknown> {
  const memory = process.memoryUsage();
  return {
    clients: wss.clients.size,
    resources: counts(),
    timers: liveTimers.size,
    arrayBuffers: memory.arrayBuffers,
    external: memory.external,
    heapUsed: memory.heapUsed,
    rss: memory.rss,
    ...totals,
  };
}

/**
 * Waits (bounded) until no client and no TCP socket is left, lets the shared ticker see that
 * nothing is watched any more, collects garbage, and then takes the snapshot.
 */
async function settled(): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  while ((wss.clients.size > 0 || (counts()['TCPSocketWrap'] ?? 0) > 0) && Date.now() < deadline) await pause(50);
  // The ticker stops at its next tick once nothing is watched (250 ms); then its coarse clock
  // stands still. Deliberately let two more periods pass and see that it did not move.
  await pause(600);
  const before = clock.now;
  await pause(600);
  const tickerStopped = clock.now === before;
  for (let i = 0; i < 4; i++) {
    gc!();
    await turn();
  }
  await pause(100); // destroy hooks of collected timers run on a later turn
  return { ...snapshot(), tickerStopped };
}

wss.on('listening', () => {
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  process.stdout.write(JSON.stringify({ port: address.port }) + '\n');
});

createInterface({ input: process.stdin }).on('line', (line) => {
  const { op } = JSON.parse(line) as { op: string };
  const answer = (value: unknown): boolean => process.stdout.write(JSON.stringify(value) + '\n');
  if (op === 'snapshot') answer(snapshot());
  else if (op === 'settled') void settled().then(answer);
  else if (op === 'stop') void wss.close({ timeout: 500 }).then(() => process.exit(0));
});
process.stdin.on('end', () => process.exit(0));
