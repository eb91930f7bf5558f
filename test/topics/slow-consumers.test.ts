// Slow consumers: a subscriber that stops reading holds at most maxPublishBuffer bytes of
// published messages; past it the message is dropped (counted) or the subscriber is closed (1013).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/connect.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { nextEvent, within } from '../helpers/events.js';
import { startServer, type StartedServer } from '../helpers/server.js';

const LIMIT = 64 * 1024;
const MESSAGE = Buffer.alloc(1024, 0x61);
/** Messages per event-loop turn: half the limit, so a peer that reads never reaches it. */
const PER_ROUND = 32;
/** Rounds of 32 KiB each: far more than loopback socket buffers hold (bounded all the same). */
const MAX_ROUNDS = 4000;

async function subscriber(server: StartedServer<unknown>, topic: string): Promise<{ server: WebSocketConnection; client: WebSocketConnection }> {
  const accepted = server.nextConnection();
  const client = await connect(server.url(), { handshakeTimeout: 2000 });
  const ws = await accepted;
  ws.subscribe(topic);
  return { server: ws, client };
}

/** Publishes PER_ROUND messages per event-loop turn until `done()`; returns the rounds it took. */
async function publishUntil(server: StartedServer<unknown>, topic: string, done: () => boolean, watch: () => void): Promise<number> {
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    for (let i = 0; i < PER_ROUND; i++) server.wss.publish(topic, MESSAGE);
    watch();
    if (done()) return round;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`no slow consumer found in ${MAX_ROUNDS} rounds`);
}

describe('slow consumers', { timeout: 60_000 }, () => {
  it("'drop' (the default): a peer that stops reading loses messages, counted; memory stays bounded; a reading peer loses none", async () => {
    const server = await startServer({ maxPublishBuffer: LIMIT });
    try {
      const slow = await subscriber(server, 'feed');
      const fast = await subscriber(server, 'feed');
      let fastGot = 0;
      fast.client.on('message', () => fastGot++);
      slow.client.pause(); // stops reading the socket: TCP pushes back, the server's buffer grows
      const drops: string[] = [];
      server.wss.on('drop', (ws, topic) => {
        if (ws === slow.server) drops.push(topic);
      });
      let maxBuffered = 0;
      const rounds = await publishUntil(
        server,
        'feed',
        () => slow.server.droppedMessages > 0,
        () => (maxBuffered = Math.max(maxBuffered, slow.server.bufferedAmount)),
      );
      // Keep publishing a while longer: the slow one keeps dropping, its buffer does not grow.
      for (let r = 0; r < 20; r++) {
        for (let i = 0; i < PER_ROUND; i++) server.wss.publish('feed', MESSAGE);
        maxBuffered = Math.max(maxBuffered, slow.server.bufferedAmount);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const published = (rounds + 20) * PER_ROUND;
      assert.ok(maxBuffered <= LIMIT + MESSAGE.length + 14, `buffered ${maxBuffered} bytes at most`);
      assert.ok(slow.server.droppedMessages >= 19 * PER_ROUND, `dropped ${slow.server.droppedMessages}`);
      assert.equal(drops.length, slow.server.droppedMessages);
      assert.equal(fast.server.droppedMessages, 0, 'the reading peer dropped nothing');
      assert.equal(server.wss.droppedMessages, slow.server.droppedMessages);
      assert.equal(slow.server.readyState, slow.server.OPEN, "'drop' keeps the connection");
      // The reading peer got every message the server did not drop for it.
      const sync = nextEvent(fast.client, 'message');
      fast.server.send('end');
      await within(
        (async () => {
          await sync;
          while (fastGot < published + 1 - fast.server.droppedMessages) await nextEvent(fast.client, 'message', 5000);
        })(),
        20_000,
        'the reading peer to get its messages',
      );
      assert.equal(fastGot, published + 1 - fast.server.droppedMessages);
      // Once the slow peer reads again, it gets what was buffered and new messages.
      slow.client.resume();
      const later = nextEvent<[Buffer]>(slow.client, 'message', 10_000);
      await later;
      slow.client.terminate();
      fast.client.terminate();
    } finally {
      await server.stop();
    }
  });

  it("'close': the slow peer is closed with 1013 and its subscriptions end", async () => {
    const server = await startServer({ maxPublishBuffer: LIMIT, slowConsumers: 'close', closeTimeout: 300 });
    try {
      const slow = await subscriber(server, 'feed');
      slow.client.pause();
      const closed = nextEvent<[number, string]>(slow.server, 'close', 5000);
      await publishUntil(server, 'feed', () => slow.server.readyState !== slow.server.OPEN, () => {});
      assert.equal(slow.server.droppedMessages, 1, 'the message that found it full');
      assert.equal(server.wss.droppedMessages, 1);
      // It never reads our close frame (1013): the close timeout drops it.
      await closed;
      assert.equal(server.wss.subscriberCount('feed'), 0);
      assert.equal(server.wss.clients.size, 0);
      // The peer sees the 1013 once it reads again (when the bytes made it before the drop).
      slow.client.terminate();
    } finally {
      await server.stop();
    }
  });
});
