// The node:cluster recipe: one primary forks WORKERS processes that share one port (the primary
// accepts connections and hands them round-robin to the workers), each a WebSocketServer whose
// topics go through one Redis or NATS: a message published in any worker reaches the subscribers
// of every worker. Here, a chat room: every connection joins `chat/lobby`, and what one sends goes
// to everyone else, on whichever worker they are.
//
//   BROKER=redis://127.0.0.1:6379 PORT=8080 WORKERS=4 node dist/examples/cluster.js
//   BROKER=nats://127.0.0.1:4222  ...
//
// Prints "listening on ws://HOST:PORT/ with N workers" once every worker is subscribed at the
// broker. SIGTERM (or SIGINT) on the primary closes the workers' connections with 1001 and exits.

import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { natsAdapter, redisAdapter, WebSocketServer } from '../src/index.js';

const PORT = Number(process.env.PORT ?? 8080);
const HOST = process.env.HOST ?? '127.0.0.1';
const WORKERS = Number(process.env.WORKERS ?? availableParallelism());
const BROKER = process.env.BROKER ?? 'redis://127.0.0.1:6379';
const ROOM = 'chat/lobby';

if (cluster.isPrimary) {
  let ready = 0;
  let stopping = false;
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on('message', (_worker, message: unknown) => {
    if (message === 'ready' && ++ready === WORKERS) console.log(`listening on ws://${HOST}:${PORT}/ with ${WORKERS} workers`);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    // A worker that died is replaced; its clients reconnect to the others meanwhile.
    console.error(`worker ${worker.id} exited (${signal ?? code}); forking another`);
    cluster.fork();
  });
  const stop = (): void => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} else {
  const adapter = BROKER.startsWith('nats://') ? await natsAdapter({ servers: BROKER.slice('nats://'.length) }) : await redisAdapter({ url: BROKER });
  const wss = new WebSocketServer({ port: PORT, host: HOST, pubsub: { adapter } });
  const id = cluster.worker!.id;
  wss.pubsub.on('broker-down', ({ error }) => console.error(`worker ${id}: broker unreachable (${error.message}); serving local clients`));
  wss.pubsub.on('broker-up', ({ reconnect, downtimeMs }) => {
    if (reconnect) console.error(`worker ${id}: broker back after ${downtimeMs} ms`);
  });
  wss.on('connection', (ws) => {
    ws.subscribe(ROOM);
    // Tell the client which worker it reached once this worker receives the room from the
    // broker (only the first subscriber waits for anything).
    void wss.pubsub.ready().then(() => ws.send(`worker ${id}`), () => ws.close(1011));
    ws.on('message', (data, isBinary) => wss.publish(ROOM, data, { binary: isBinary, except: ws }));
  });
  wss.on('listening', () => process.send!('ready'));
  const shutdown = (): void => {
    void wss.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  // The primary went away without a word (killed): do not stay behind.
  process.once('disconnect', shutdown);
}
