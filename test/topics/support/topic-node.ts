// One server process of a scale-out test: a WebSocketServer on 127.0.0.1, port 0, whose topics go
// through Redis or NATS. Usage: node topic-node.js <redis|nats> <url>
//
// Clients send "sub <filter>" and get "subscribed". The parent drives the process with JSON
// lines on stdin ({ op: 'publish' | 'ready' | 'close' }) and reads JSON lines on stdout: the
// answers ({ op }); { op: 'await', event: 'down' | 'up' } answers once the hub saw that event.

import { createInterface } from 'node:readline';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '../../../src/server/websocket-server.js';
import { natsAdapter } from '../../../src/pubsub/nats.js';
import { redisAdapter } from '../../../src/pubsub/redis.js';

const [kind, url] = process.argv.slice(2) as [string, string];
const reconnect = { initialDelay: 50, maxDelay: 250 };
const adapter = kind === 'redis' ? await redisAdapter({ url, reconnect }) : await natsAdapter({ servers: url, reconnect });
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', pubsub: { adapter } });
const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');

wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('sub ')) {
      ws.subscribe(text.slice(4));
      ws.send('subscribed');
    }
  });
});
// The broker events seen, for { op: 'await', event } (answered once one has happened).
const seen: { down: object[]; up: object[] } = { down: [], up: [] };
const waiting: (() => void)[] = [];
const record = (event: 'down' | 'up', value: object): void => {
  seen[event].push(value);
  for (const wake of waiting.splice(0)) wake();
};
wss.pubsub.on('broker-down', ({ error }) => record('down', { error: error.message }));
wss.pubsub.on('broker-up', ({ reconnect: again, downtimeMs, attempts }) => {
  if (again) record('up', { downtimeMs, attempts });
});

wss.on('listening', async () => {
  await wss.pubsub.ready();
  print({ op: 'listening', port: (wss.address() as AddressInfo).port });
});

/** Publishes `count` messages "tag:i", `perTurn` of them per event-loop turn. */
async function publish(topic: string, tag: string, count: number, perTurn: number): Promise<number> {
  let local = 0;
  for (let i = 0; i < count; i++) {
    local += wss.publish(topic, i % 2 === 0 ? `${tag}:${i}` : Buffer.from(`${tag}:${i}`));
    if (i % perTurn === perTurn - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  return local;
}

for await (const line of createInterface({ input: process.stdin })) {
  const request = JSON.parse(line) as { op: string; topic: string; tag: string; count: number; perTurn?: number };
  if (request.op === 'publish') {
    print({ op: 'published', local: await publish(request.topic, request.tag, request.count, request.perTurn ?? 10) });
  } else if (request.op === 'await') {
    const event = (request as unknown as { event: 'down' | 'up' }).event;
    while (seen[event].length === 0) await new Promise<void>((resolve) => waiting.push(resolve));
    print({ op: 'await', ...seen[event][0] });
  } else if (request.op === 'ready') {
    await wss.pubsub.ready();
    print({ op: 'ready', stats: wss.pubsub.stats });
  } else if (request.op === 'close') {
    await wss.close({ timeout: 500 });
    print({ op: 'closed' });
    break;
  }
}
