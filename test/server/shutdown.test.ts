// Graceful shutdown: server.close() closes every connection with 1001, waits for the closing
// handshakes (bounded), refuses new upgrades with 503, and loses nothing already accepted.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import { connect, HandshakeError } from '../../src/client/connect.js';
import { WebSocketServer, type CloseOptions } from '../../src/server/websocket-server.js';
import type { WebSocketConnection } from '../../src/connection/websocket-connection.js';
import { deferred, EVENT_WAIT_MS, nextEvent, TIMER_SLACK_MS, within } from '../helpers/events.js';
import { OP, parseClosePayload } from '../helpers/frames.js';
import { destroyRawClients, plainRequest, RawClient, rawRequest, upgradeRequest } from '../helpers/raw-client.js';
import { HOST, startHttpServer, startServer } from '../helpers/server.js';

afterEach(destroyRawClients);

describe('graceful shutdown', { timeout: 15_000 }, () => {
  it('closes every connection with 1001 and resolves once their closing handshakes are done', async () => {
    const server = await startServer();
    const clients: WebSocketConnection[] = [];
    for (let i = 0; i < 3; i++) clients.push(await connect(server.url()));
    const closes = clients.map((ws) => nextEvent<[number, string]>(ws, 'close'));
    let serverSidesClosed = 0;
    for (const ws of server.wss.clients) ws.once('close', () => serverSidesClosed++);
    let emittedClose = false;
    server.wss.once('close', () => (emittedClose = true));
    await within(server.wss.close(), EVENT_WAIT_MS, 'server.close()');
    assert.equal(serverSidesClosed, 3, 'resolved only after every connection closed');
    for (const close of closes) assert.deepEqual(await close, [1001, 'Server shutting down']);
    assert.equal(server.wss.clients.size, 0);
    assert.equal(emittedClose, true);
    // The server it created is closed too.
    const refused = netConnect({ port: server.port, host: HOST });
    const [error] = (await within(once(refused, 'error'), EVENT_WAIT_MS, 'ECONNREFUSED')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
    // close() again returns the same settled promise.
    await server.wss.close();
  });

  it('custom code and reason', async () => {
    const server = await startServer();
    const ws = await connect(server.url());
    const closed = nextEvent<[number, string]>(ws, 'close');
    await within(server.wss.close({ code: 1012, reason: 'restarting' }), EVENT_WAIT_MS, 'server.close()');
    assert.deepEqual(await closed, [1012, 'restarting']);
  });

  it("close(callback), as ws: calls back once closed, and returns nothing", async () => {
    const server = await startServer();
    const ws = await connect(server.url());
    const clientClosed = nextEvent<[number, string]>(ws, 'close');
    const events: string[] = [];
    server.wss.once('close', () => events.push('close event'));
    const calledBack = deferred<unknown[]>();
    const returned = server.wss.close((...args: unknown[]) => {
      events.push('callback');
      calledBack.resolve(args);
    });
    assert.equal(returned, undefined);
    assert.deepEqual(await within(calledBack.promise, EVENT_WAIT_MS, 'the close callback'), [], 'no error');
    assert.deepEqual(events, ['close event', 'callback']);
    assert.equal(server.wss.clients.size, 0);
    assert.deepEqual(await clientClosed, [1001, 'Server shutting down']);
    // Once closed, close(callback) still calls back; the promise form settles too.
    const again = deferred<void>();
    server.wss.close(() => again.resolve());
    await within(again.promise, EVENT_WAIT_MS, 'the second close callback');
    await within(server.wss.close(), EVENT_WAIT_MS, 'close() after close');
  });

  it('close(options, callback) closes with the code and reason given', async () => {
    const server = await startServer();
    const ws = await connect(server.url());
    const closed = nextEvent<[number, string]>(ws, 'close');
    const calledBack = deferred<void>();
    server.wss.close({ code: 4000, reason: 'bye' }, () => calledBack.resolve());
    await within(calledBack.promise, EVENT_WAIT_MS, 'the close callback');
    assert.deepEqual(await closed, [4000, 'bye']);
  });

  it('close() with a callback that is not a function, or options that are not an object, throws and closes nothing', async () => {
    const server = await startServer();
    try {
      assert.throws(() => server.wss.close({}, 'done' as unknown as () => void), TypeError);
      assert.throws(() => server.wss.close('now' as unknown as CloseOptions), TypeError);
      const ws = await connect(server.url());
      ws.terminate();
    } finally {
      await server.stop();
    }
  });

  it('answers 503 to upgrades that arrive while shutting down (attached server)', async () => {
    const http = await startHttpServer((_req, res) => res.end('app'));
    const wss = new WebSocketServer({ server: http.server, path: '/ws' });
    try {
      // A peer that never answers the close frame keeps the shutdown going for `timeout`.
      const accepted = nextEvent<[WebSocketConnection]>(wss, 'connection');
      const { client: stubborn } = await RawClient.open(http.port, '/ws');
      await accepted;
      const closing = wss.close({ timeout: 600 });
      const frame = await stubborn.readFrame();
      assert.equal(frame.opcode, OP.CLOSE);
      assert.equal(parseClosePayload(frame.payload).code, 1001);
      const response = await rawRequest(http.port, upgradeRequest('/ws'));
      assert.equal(response.status, 503, `got ${response.statusLine}: ${response.body}`);
      await assert.rejects(connect(`ws://${HOST}:${http.port}/ws`), (error: unknown) => {
        assert.ok(error instanceof HandshakeError);
        assert.equal(error.statusCode, 503);
        return true;
      });
      const started = Date.now();
      await within(closing, 600 + TIMER_SLACK_MS, 'server.close()');
      assert.ok(Date.now() - started < 600 + TIMER_SLACK_MS);
      await stubborn.waitForEnd();
      // The application's HTTP server keeps running.
      assert.equal((await rawRequest(http.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).body, 'app');
    } finally {
      await http.stop();
    }
  });

  it('a handshake still in verify when shutdown starts is refused with 503', async () => {
    const gate = deferred<boolean>();
    const inVerify = deferred<void>();
    const wss = new WebSocketServer({
      noServer: true,
      verify: () => {
        inVerify.resolve();
        return gate.promise;
      },
    });
    const http = await startHttpServer();
    http.server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head));
    try {
      const client = await RawClient.connect(http.port);
      await client.write(upgradeRequest('/'));
      await within(inVerify.promise, EVENT_WAIT_MS, 'verify');
      const closing = wss.close();
      gate.resolve(true);
      assert.equal((await client.readResponse()).status, 503);
      await within(closing, EVENT_WAIT_MS, 'server.close()');
      assert.equal((await rawRequest(http.port, upgradeRequest('/'))).status, 503, 'handleUpgrade after close()');
    } finally {
      await http.stop();
    }
  });

  it('close() waits for handshakes in verify: until they settle, new upgrades get 503 (attached server)', async () => {
    const gate = deferred<boolean>();
    const inVerify = deferred<void>();
    const http = await startHttpServer((_req, res) => res.end('app'));
    const wss = new WebSocketServer({
      server: http.server,
      verify: () => {
        inVerify.resolve();
        return gate.promise;
      },
    });
    try {
      const client = await RawClient.connect(http.port);
      await client.write(upgradeRequest('/'));
      await within(inVerify.promise, EVENT_WAIT_MS, 'verify');
      let closed = false;
      const closing = wss.close({ timeout: 5000 }).then(() => (closed = true));
      const late = await rawRequest(http.port, upgradeRequest('/'));
      assert.equal(late.status, 503, `got ${late.statusLine}: ${late.body}`);
      assert.equal(closed, false, 'close() has not resolved while a verify is pending');
      gate.resolve(true);
      assert.equal((await client.readResponse()).status, 503);
      await within(closing, EVENT_WAIT_MS, 'server.close()');
    } finally {
      await http.stop();
    }
  });

  it('messages sent before close() all reach the client before the close frame', async () => {
    const server = await startServer();
    const accepted = server.nextConnection();
    const client = await connect(server.url());
    const ws = await accepted;
    const count = 200;
    const received: number[] = [];
    client.on('message', (data) => received.push(data.readUInt32BE(0)));
    const closed = nextEvent<[number, string]>(client, 'close', 5000);
    const payload = Buffer.alloc(16 * 1024);
    for (let i = 0; i < count; i++) {
      const message = Buffer.from(payload);
      message.writeUInt32BE(i, 0);
      ws.send(message);
    }
    await within(server.wss.close(), 5000, 'server.close()');
    assert.deepEqual(await closed, [1001, 'Server shutting down']);
    assert.equal(received.length, count);
    assert.deepEqual(received, Array.from({ length: count }, (_, i) => i));
  });

  it('drops connections that do not finish the closing handshake within the timeout', async () => {
    const server = await startServer();
    const { client } = await RawClient.open(server.port);
    const started = Date.now();
    await within(server.wss.close({ timeout: 300 }), 300 + TIMER_SLACK_MS, 'server.close()');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 300 + TIMER_SLACK_MS, `resolved after ${elapsed} ms`);
    await client.waitForEnd();
  });

  it('an HTTP request that never finishes (slowloris) does not hold close() past the timeout', async () => {
    const server = await startServer();
    const slow = await RawClient.connect(server.port);
    await slow.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '); // never completed
    // Connections are accepted in order: once a later one is answered (426: this server only
    // speaks WebSocket), the slow one is in.
    assert.equal((await rawRequest(server.port, plainRequest('/'))).status, 426);
    const started = Date.now();
    await within(server.wss.close({ timeout: 300 }), 300 + TIMER_SLACK_MS, 'server.close()');
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 300 + TIMER_SLACK_MS, `resolved after ${elapsed} ms`);
    await slow.waitForEnd();
  });

  it('a verify hook that never settles does not hold close() past the timeout', async () => {
    const inVerify = deferred<void>();
    const server = await startServer({
      verify: () => {
        inVerify.resolve();
        return new Promise<boolean>(() => {}); // a hung authentication backend
      },
    });
    const client = await RawClient.connect(server.port);
    await client.write(upgradeRequest('/'));
    await within(inVerify.promise, EVENT_WAIT_MS, 'verify');
    const started = Date.now();
    await within(server.wss.close({ timeout: 300 }), 300 + TIMER_SLACK_MS, 'server.close()');
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 300 + TIMER_SLACK_MS, `resolved after ${elapsed} ms`);
    await client.waitForEnd();
    assert.equal(client.buffer.length, 0, 'no response was ever sent');
  });
});
