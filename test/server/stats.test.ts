// wss.stats(): exact counts after a known sequence of handshakes, refusals and traffic.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createTopicHub, type WebSocketConnection } from '../../src/index.js';
import { destroyRawClients, rawRequest, upgradeRequest } from '../helpers/raw-client.js';
import { collectEvents, deferred, EVENT_WAIT_MS, nextEvent, within } from '../helpers/events.js';
import { startServer } from '../helpers/server.js';

describe('wss.stats()', { timeout: 20_000 }, () => {
  afterEach(() => destroyRawClients());

  it('a fresh server: all zero', async () => {
    const server = await startServer();
    try {
      const stats = server.wss.stats();
      assert.ok(stats.uptimeMs >= 0);
      assert.ok(Math.abs(stats.time - Date.now()) < 60_000);
      assert.deepEqual(stats.connections, { open: 0, byTransport: { 'http/1.1': 0, h2: 0, h2c: 0 } });
      assert.deepEqual(stats.handshakes, {
        accepted: 0,
        acceptedByTransport: { 'http/1.1': 0, h2: 0, h2c: 0 },
        refused: 0,
        refusedByStatus: {},
        refusedByStage: { request: 0, policy: 0, verify: 0, response: 0, listener: 0 },
        pending: 0,
        recent: [],
      });
      assert.deepEqual(stats.messages, { in: 0, out: 0 });
      assert.deepEqual(stats.bytes, { in: 0, out: 0 });
      assert.deepEqual(stats.topics, { dropped: 0, subscribers: {} });
    } finally {
      await server.stop();
    }
  });

  it('counts connections, refusals, messages, bytes, broadcasts, publishes and drops exactly', async () => {
    const hub = createTopicHub();
    // maxPublishBuffer 8: a publish longer than that is dropped for every subscriber.
    const server = await startServer({ path: '/ws', origins: ['http://good.example'], pubsub: hub, maxPublishBuffer: 8 });
    const wss = server.wss;
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    const clients: WebSocketConnection[] = [];
    try {
      // Two accepted, three refused.
      const first = server.nextConnection();
      clients.push(await connect(server.url('/ws'), { origin: 'http://good.example' }));
      const a = await first;
      const second = server.nextConnection();
      clients.push(await connect(server.url('/ws'), { origin: 'http://good.example' }));
      const b = await second;
      assert.equal((await rawRequest(server.port, upgradeRequest('/ws', { 'Sec-WebSocket-Version': '8' }))).status, 426);
      assert.equal((await rawRequest(server.port, upgradeRequest('/ws?x', { 'Sec-WebSocket-Version': '7' }))).status, 426);
      assert.equal((await rawRequest(server.port, upgradeRequest('/ws', { Origin: 'http://evil.example' }))).status, 403);

      // Three echoes of 5 bytes: 3 in, 3 out, 15 bytes each way.
      const echoes = collectEvents(clients[0]!, 'message', 3);
      for (let i = 0; i < 3; i++) clients[0]!.send('hello');
      await echoes;
      // A broadcast of 2 bytes to both: 2 out, 4 bytes.
      const broadcast = Promise.all(clients.map((ws) => nextEvent(ws, 'message')));
      wss.broadcast('hi');
      await broadcast;
      // Publishes: one of 3 bytes to its one subscriber, one of 20 bytes dropped (slow consumer).
      a.subscribe('news');
      const published = nextEvent(clients[0]!, 'message');
      assert.equal(wss.publish('news', 'new'), 1);
      await published;
      assert.equal(wss.publish('news', 'x'.repeat(20)), 0);

      const stats = wss.stats({ topics: ['news', 'sport'] });
      assert.deepEqual(stats.connections, { open: 2, byTransport: { 'http/1.1': 2, h2: 0, h2c: 0 } });
      assert.equal(stats.handshakes.accepted, 2);
      assert.deepEqual(stats.handshakes.acceptedByTransport, { 'http/1.1': 2, h2: 0, h2c: 0 });
      assert.equal(stats.handshakes.refused, 3);
      assert.deepEqual(stats.handshakes.refusedByStatus, { 403: 1, 426: 2 });
      assert.deepEqual(stats.handshakes.refusedByStage, { request: 2, policy: 1, verify: 0, response: 0, listener: 0 });
      // Newest first.
      assert.deepEqual(
        stats.handshakes.recent.map((r) => [r.status, r.stage, r.path, r.remoteAddress, r.transport]),
        [
          [403, 'policy', '/ws', '127.0.0.1', 'http/1.1'],
          [426, 'request', '/ws', '127.0.0.1', 'http/1.1'],
          [426, 'request', '/ws', '127.0.0.1', 'http/1.1'],
        ],
      );
      assert.match(stats.handshakes.recent[1]!.reason, /version/);
      assert.deepEqual(stats.messages, { in: 3, out: 3 + 2 + 1 });
      assert.deepEqual(stats.bytes, { in: 15, out: 15 + 4 + 3 });
      assert.deepEqual(stats.topics, { dropped: 1, subscribers: { news: 1, sport: 0 } });
      assert.equal(wss.droppedMessages, 1);

      // A snapshot is a copy: later traffic does not change it.
      const closed = nextEvent(b, 'close');
      clients[1]!.close(1000);
      await closed;
      assert.equal(stats.connections.open, 2);
      const after = wss.stats();
      assert.equal(after.connections.open, 1);
      assert.equal(after.connections.byTransport['http/1.1'], 1);
      assert.equal(after.handshakes.accepted, 2);
      assert.deepEqual(after.topics.subscribers, {});
    } finally {
      for (const ws of clients) ws.terminate();
      await server.stop();
      await hub.close();
    }
  });

  it('lists the last 20 refusals, newest first, and counts them all', async () => {
    const server = await startServer();
    try {
      for (let i = 0; i < 25; i++) {
        assert.equal((await rawRequest(server.port, upgradeRequest(`/r${i}`, { 'Sec-WebSocket-Version': '8' }))).status, 426);
      }
      const stats = server.wss.stats();
      assert.equal(stats.handshakes.refused, 25);
      assert.deepEqual(stats.handshakes.refusedByStatus, { 426: 25 });
      assert.equal(stats.handshakes.recent.length, 20);
      assert.deepEqual(
        stats.handshakes.recent.map((r) => r.path),
        Array.from({ length: 20 }, (_, i) => `/r${24 - i}`),
      );
    } finally {
      await server.stop();
    }
  });

  it('counts a handshake waiting for verify as pending, and a verify refusal by stage', async () => {
    const gate = deferred<boolean>();
    const called = deferred();
    const server = await startServer({
      verify: () => {
        called.resolve();
        return gate.promise;
      },
    });
    try {
      const answer = rawRequest(server.port, upgradeRequest('/'));
      await within(called.promise, EVENT_WAIT_MS, 'the verify hook');
      assert.equal(server.wss.stats().handshakes.pending, 1);
      gate.resolve(false);
      assert.equal((await answer).status, 403);
      const stats = server.wss.stats();
      assert.equal(stats.handshakes.pending, 0);
      assert.deepEqual(stats.handshakes.refusedByStage, { request: 0, policy: 0, verify: 1, response: 0, listener: 0 });
    } finally {
      await server.stop();
    }
  });
});
